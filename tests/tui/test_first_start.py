"""Issue 13's instant first screen, for a returning user of the real program: the first frame
shows what the history kept, drawn before the config's full loader (pydantic) and the monitor
are imported; then the monitor's screen takes over, the stored answer still marked as from
history until the live one comes. A config only the full loader refuses ends the app with its
one-line error, the terminal restored."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import FakeClock, wait_until
from pty_session import PtyProcess, child_env
from pty_session import wait_until as wait_for_output

from cuadra_top.config import OrgConfig, Settings
from cuadra_top.simulator import Fault
from cuadra_top.state.history import default_history_path
from cuadra_top.state.trends import Trends
from cuadra_top.tui.app import CuadraTopApp, FirstStart, StartFailed
from cuadra_top.tui.factory import TuiOptions, watched
from cuadra_top.tui.first_start import GlanceScreen, glance

from test_cached_first_screen import remember, screen_text

HEAVY = ("pydantic", "httpx", "cuadra_top.config", "cuadra_top.api.models", "cuadra_top.state.monitor",
         "cuadra_top.tui.screen", "cuadra_top.heap", "ctypes")
"""What the first frame must not wait for: the full loader, the HTTP stack, the monitor, the
heap's upkeep (ctypes, a minute later)."""


def config_file(tmp_path: Path, sim, names: list[str], extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(extra + "".join(f'[[org]]\nname = "{n}"\napi_url = "{sim.base_url}"\ntoken = "{n}-token"\n'
                                    for n in names))
    path.chmod(0o600)
    return path


def watching(sim, name: str):
    """What a first start's ``finish`` builds for the simulator's org ``name``, as the command
    line does: the monitor of a one-org config, its history opened later, the stored answer read."""
    settings = Settings(refresh_interval=30, org=[OrgConfig(name=name, api_url=sim.base_url, token=f"{name}-token")])
    parts = watched(TuiOptions(settings, environ={}, persist_theme=False, deliver=False, trends=Trends(
        None, lambda: datetime.now(timezone.utc), open_later=default_history_path())))
    parts.monitor.load_cached_now()
    return parts


def test_the_first_frame_comes_before_the_full_loader_and_the_monitor(start_sim, make_org, isolated_env,
                                                                      tmp_path):
    """In a fresh interpreter, the command line's way in: the first frame's app is built and
    drawn (headless here) before any of HEAVY is imported; ``finish`` is where they come in."""
    sim = start_sim([make_org("acme")], clock=FakeClock(time.time()))
    remember(sim, "acme", 9_700, datetime.now(timezone.utc) - timedelta(hours=3))
    config = config_file(tmp_path, sim, ["acme"])
    script = textwrap.dedent(f"""
        import asyncio, sys
        import cuadra_top.cli as cli
        from cuadra_top.tui.app import CuadraTopApp, StartFailed

        cli.interactive_terminal = lambda: True  # a terminal, as far as the command line can tell
        heavy_at_first_frame, shown = [], []

        def run(app, **kw):
            def finish():
                heavy_at_first_frame.extend(m for m in {HEAVY!r} if m in sys.modules)
                shown.append(" ".join(str(s.render()) for s in app.screen.query("Static")))
                raise StartFailed("stopped here", 2)

            app.first.finish = finish

            async def main():
                async with app.run_test(size=(80, 24)) as pilot:
                    await pilot.pause(0.2)

            asyncio.run(main())

        CuadraTopApp.run = run
        code = cli.main(["--config", {str(config)!r}])
        print("code:", code)
        print("heavy:", heavy_at_first_frame)
        print("shown:", shown)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "code: 2" in done.stdout and "cuadra-top: stopped here" in done.stderr, (done.stdout, done.stderr)
    assert "heavy: []" in done.stdout, done.stdout
    assert "used 9,700" in done.stdout and "from history" in done.stdout, done.stdout


async def test_the_monitor_screen_replaces_the_glance_and_the_live_answer_the_stored_one(
        start_sim, make_org, isolated_env, tmp_path):
    sim = start_sim([make_org("acme", credits_used_at_start=1_000)], clock=FakeClock(time.time()))
    remember(sim, "acme", 9_700, datetime.now(timezone.utc) - timedelta(hours=3))
    sim.set_fault("acme", Fault(hang=True))
    config = config_file(tmp_path, sim, ["acme"])
    seen = glance(str(config), None, {})
    assert seen is not None
    finished: list[float] = []

    def finish():
        finished.append(time.monotonic())
        return watching(sim, "acme")

    app = CuadraTopApp(None, first=FirstStart(GlanceScreen(seen, datetime.now(timezone.utc)), finish))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(lambda: app.main_screen is not None and app.screen is app.main_screen)
        assert len(finished) == 1
        await pilot.pause(0.1)
        header = app.main_screen.header_line
        assert "from history · 3 h ago" in header, header
        assert "used 9,700" in screen_text(app)
        assert app.monitor.state_of("acme").fetched is None  # shown, never as fresh

        sim.set_fault("acme", None)
        app.monitor.refresh(["acme"])
        await wait_until(lambda: app.monitor.state_of("acme").fetched is not None, timeout=40)
        await pilot.pause(0.2)
        assert "from history" not in app.main_screen.header_line
        assert "used 1,000" in screen_text(app)
        await pilot.press("q")
    assert app.return_code in (0, None)


@pytest.fixture
def returning(start_sim, make_org, tmp_path, monkeypatch):
    """A returning user: the simulator's org "acme" (hanging: no live answer), its answer of
    9,700 credits stored three hours ago in the history under ``tmp_path`` (as the child sees it)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    sim = start_sim([make_org("acme")], clock=FakeClock(time.time()))
    remember(sim, "acme", 9_700, datetime.now(timezone.utc) - timedelta(hours=3))
    sim.set_fault("acme", Fault(hang=True))
    return sim


def test_the_program_draws_the_stored_answer_first_then_its_monitor(returning, tmp_path):
    config = config_file(tmp_path, returning, ["acme"])
    child = PtyProcess([sys.executable, "-m", "cuadra_top", "--config", str(config)], child_env(tmp_path))
    try:
        wait_for_output(lambda: b"from history" in child.output and b"used 9,700" in child.output, 20,
                        "the stored answer")
        wait_for_output(lambda: b"Credits" in child.output and b"Plan" in child.output, 20, "the monitor's screen")
        child.send(b"q")
        assert child.wait_exit(10) == 0
    finally:
        child.stop()


def test_a_config_only_the_full_loader_refuses_ends_with_its_one_line_error(returning, tmp_path):
    """The quick reading takes the file (it does not know ``refresh_intervall``); the full
    loader refuses it: the app ends, the terminal is restored, and the error is one line,
    as when the TUI has not started, with the same exit code."""
    config = config_file(tmp_path, returning, ["acme"], extra="refresh_intervall = 60\n")
    child = PtyProcess([sys.executable, "-m", "cuadra_top", "--config", str(config)], child_env(tmp_path))
    try:
        assert child.wait_exit(20) == 2
    finally:
        child.stop()
    output = bytes(child.output)
    assert b"from history" in output  # the first frame came first
    tail = output[output.rfind(b"\x1b[?1049l"):]
    assert tail, "the alternate screen was never left"
    lines = [line for line in tail.decode(errors="replace").splitlines() if "cuadra-top:" in line]
    assert len(lines) == 1 and "refresh_intervall" in lines[0], tail
    assert b"Traceback" not in output


def test_the_loaders_warnings_are_said_after_the_app(returning, tmp_path):
    """A config that holds a token and is readable by others: the warning that the full path
    prints before the TUI is printed after it (and shown as a toast meanwhile)."""
    config = config_file(tmp_path, returning, ["acme"])
    config.chmod(0o644)
    child = PtyProcess([sys.executable, "-m", "cuadra_top", "--config", str(config)], child_env(tmp_path))
    try:
        wait_for_output(lambda: b"Credits" in child.output and b"Plan" in child.output, 20, "the monitor's screen")
        child.send(b"q")
        assert child.wait_exit(10) == 0
    finally:
        child.stop()
    output = bytes(child.output)
    tail = output[output.rfind(b"\x1b[?1049l"):].decode(errors="replace")
    assert "readable by others" in tail, tail


@pytest.mark.parametrize(("body", "expected"), [
    ({"credits": {"used": 41_900, "limit": 50_000}, "storage": {"used": 20 << 30, "limit": 50 << 30}},
     ["used 41,900   limit 50,000   83.8%", "used 20.0 GiB   limit 50.0 GiB   40.0%"]),
    ({"credits": {"used": 10**400, "limit": 1}, "storage": {"used": 2**70, "limit": 0}},
     [f"used {10**400:,}"[:40], ">9999%", "limit unlimited"]),
    ({"credits": {"used": -5, "limit": "50000"}, "storage": []}, ["Credits  used —   limit —",
                                                                  "Storage  used —   limit —"]),
    ({"credits": {"used": True, "limit": 7.0}, "storage": {"used": float("nan"), "limit": 1.5}},
     ["used —   limit 7", "used —   limit —"]),
    ({"credits": "x", "storage": None}, ["Credits  used —   limit —"]),
    ({"credits": {"used": 5, "limit": None}, "storage": {"used": 5}}, ["Credits  used 5   limit unlimited",
                                                                      "Storage  used 5 B   limit unlimited"]),
])
def test_the_glance_shows_only_the_numbers_it_can_read(body, expected):
    """The stored JSON is read without the models: what is not a whole, non-negative number
    shows as '—', a count past a float's range as far over, and nothing ends the app."""
    from cuadra_top.tui.first_start import Glance, org_lines

    at = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    text = org_lines(Glance(["acme"], {"acme": (at, body)}), "acme", at + timedelta(hours=3)).plain
    for part in expected:
        assert part in text, text
    assert "from history · 3 h ago" in text


async def test_many_orgs_get_a_line_each_cut_to_the_terminal(tmp_path):
    """The glance of several orgs in 60 columns: a line each (never wrapped), the name's
    control characters neutralised, 'no stored answer yet' where the history has none."""
    at = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    body = {"credits": {"used": 41_900, "limit": 50_000}, "storage": {"used": 1, "limit": 2}}
    names = ["acme", "globex-enterprise-with-a-rather-long-name-indeed-and-then-some-more", "evil\x1b]0;PWNED\x07"]
    from cuadra_top.tui.first_start import Glance

    seen = Glance(names, {"acme": (at, body), names[1]: (at, body)})

    def finish():
        raise StartFailed("not here", 2)

    app = CuadraTopApp(None, first=FirstStart(GlanceScreen(seen, at + timedelta(hours=3)), finish))
    async with app.run_test(size=(60, 24)):
        text = screen_text(app)
    lines = text.splitlines()
    assert "3 organizations · from history" in lines[0]
    acme = next(line for line in lines if "acme" in line)
    assert "credits 41,900 / 50,0" in acme, acme
    assert "\x1b" not in text and "\x07" not in text
    assert any("evil" in line and "no stored answer yet" in line for line in lines), text
    assert not any(line.strip().startswith(("83.8%", "3 h ago")) for line in lines), text  # nothing wrapped
    assert app.return_code == 2


async def test_the_first_live_answer_is_shown_on_the_first_screen_before_the_monitor_screen(
        start_sim, make_org, isolated_env, tmp_path):
    """An API that answers at once: its numbers are drawn on the first screen (marked live) as
    soon as they are in, not after the monitor's screen is built; then that screen takes over."""
    sim = start_sim([make_org("acme", credits_used_at_start=1_000)], clock=FakeClock(time.time()))
    remember(sim, "acme", 9_700, datetime.now(timezone.utc) - timedelta(hours=3))
    config = config_file(tmp_path, sim, ["acme"])
    seen = glance(str(config), None, {})
    assert seen is not None
    glance_at_switch: list[str] = []

    first = FirstStart(GlanceScreen(seen, datetime.now(timezone.utc)), lambda: watching(sim, "acme"))
    app = CuadraTopApp(None, first=first)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(lambda: app.main_screen is not None and app.screen is app.main_screen, timeout=20)
        glance_at_switch.append(screen_text_of(first.screen))
        await pilot.pause(0.2)
        assert "used 1,000" in screen_text(app)
    assert "used 1,000" in glance_at_switch[0] and "live · " in glance_at_switch[0], glance_at_switch
    assert " · live" in glance_at_switch[0].splitlines()[0]  # the header says it too
    assert "9,700" not in glance_at_switch[0]


def screen_text_of(screen) -> str:
    """What a screen's static texts say (the first screen, after it has been left)."""
    return "\n".join(str(static.render()) for static in screen.query("Static"))


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.15, 0.25, 0.4])
def test_a_signal_during_the_first_start_restores_the_terminal(returning, tmp_path, delay):
    """SIGTERM while the first screen is up and the config and the monitor are being built (a
    main thread busy importing): the app ends through its normal exit, as at any other time."""
    import signal

    from test_terminal_signals import assert_terminal_restored

    config = config_file(tmp_path, returning, ["acme"])
    child = PtyProcess([sys.executable, "-m", "cuadra_top", "--config", str(config)], child_env(tmp_path))
    try:
        wait_for_output(lambda: b"from history" in child.output, 20, "the first screen")
        time.sleep(delay)
        child.process.send_signal(signal.SIGTERM)
        assert child.wait_exit(10) == 143, bytes(child.output[-600:])
    finally:
        child.stop()
    assert_terminal_restored(bytes(child.output))
    assert b"Traceback" not in child.output


@pytest.mark.parametrize("stored", ["[1, 2]", '"x"', "null", "42"])
def test_a_stored_answer_that_is_not_an_object_is_passed_over(returning, tmp_path, stored):
    """A damaged row of the history (valid JSON, but not an answer): no first screen from it,
    no 'internal error'; the app starts as without a history and quits cleanly."""
    import sqlite3

    history = tmp_path / "data" / "cuadra-top" / "history.sqlite3"
    with sqlite3.connect(history) as conn:
        conn.execute("UPDATE latest SET body = ?", (stored,))
    config = config_file(tmp_path, returning, ["acme"])
    child = PtyProcess([sys.executable, "-m", "cuadra_top", "--config", str(config)], child_env(tmp_path))
    try:
        wait_for_output(lambda: b"acme" in child.output and b"Credits" in child.output
                        or b"loading" in child.output, 20, "the monitor's screen")
        child.send(b"q")
        assert child.wait_exit(10) == 0, bytes(child.output[-400:])
    finally:
        child.stop()
    assert b"internal error" not in child.output and b"from history" not in child.output
