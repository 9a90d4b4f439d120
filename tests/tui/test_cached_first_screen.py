"""Issue 13's instant first screen: each org that has history shows its last stored answer at
once, marked plainly as cached with its age, until the first live answer replaces it; it is
never shown as live and never counts as fresh for alerts or ``--check``."""

from __future__ import annotations

import asyncio
import gc
import random
import time
from datetime import datetime, timedelta, timezone

from conftest import FakeClock, wait_until

from cuadra_top.api.models import parse_usage
from cuadra_top.cli import main
from cuadra_top.config import OrgConfig, Settings
from cuadra_top.simulator import Fault
from cuadra_top.state.history import History, default_history_path
from cuadra_top.state.monitor import AlertNotice
from cuadra_top.state.trends import Trends
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.overview import OverviewTable


def screen_text(app) -> str:
    return "\n".join("".join(s.text for s in line) for line in app.screen._compositor.render_strips())  # noqa: SLF001


def remember(sim, name: str, used: int, at: datetime) -> None:
    """What an earlier run stored: ``name``'s answer, ``used`` credits, at ``at``."""
    from cuadra_top.api.auth import StaticToken
    from cuadra_top.state.identity import series_key
    from pydantic import SecretStr

    body = sim.usage_for(name)
    body["credits"]["used"], body["credits"]["available"] = used, body["credits"]["limit"] - used
    with History(default_history_path()) as history:
        history.record(series_key(sim.base_url, StaticToken(SecretStr(f"{name}-token")), name), at,
                       parse_usage(body), name=name)


async def test_the_last_stored_answer_shows_at_once_marked_cached_then_the_live_one_replaces_it(
        start_sim, make_org, isolated_env):
    sim = start_sim([make_org("acme", credits_used_at_start=1_000), make_org("globex")],
                    clock=FakeClock(time.time()))
    now = datetime.now(timezone.utc)
    remember(sim, "acme", 9_700, now - timedelta(hours=3))  # 97%: critical, in the cached answer only
    sim.set_fault("acme", Fault(hang=True))  # no live answer yet
    settings = Settings(refresh_interval=30, org=[
        OrgConfig(name=n, api_url=sim.base_url, token=f"{n}-token") for n in ("acme", "globex")])
    events: list[AlertNotice] = []
    app = make_app(TuiOptions(settings, environ={}, rng=random.Random(0), persist_theme=False,
                              trends=Trends(None, lambda: datetime.now(timezone.utc),
                                            open_later=default_history_path())))
    app.monitor.subscribe(lambda event: events.append(event) if isinstance(event, AlertNotice) else None)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(OverviewTable)
        await wait_until(lambda: table.row_count == 2 and "cached" in str(table.get_row("acme")[-1]))
        assert str(table.get_cell("acme", "credits")).strip() == "97.0% CRIT"
        assert str(table.get_cell("acme", "status")) == "cached 3h"
        assert app.monitor.state_of("acme").fetched is None  # shown, not fresh
        await pilot.press("1")
        await pilot.pause()
        header = app.main_screen.header_line
        assert "from history · 3 h ago" in header and "loading" in header, header
        assert "used 9,700" in screen_text(app)
        await asyncio.sleep(0.5)
        assert [e for e in events if e.notice.org == "acme"] == []  # a cached figure raises no alert

        sim.set_fault("acme", None)
        app.monitor.refresh(["acme"])  # the hanging request ends at its deadline; this one answers
        await wait_until(lambda: app.monitor.state_of("acme").fetched is not None, timeout=40)
        await pilot.pause(0.2)
        header = app.main_screen.header_line
        assert "from history" not in header and "0 s ago" in header, header
        assert "used 1,000" in screen_text(app)


def test_check_never_counts_a_stored_answer_as_fresh(start_sim, make_org, isolated_env, tmp_path, capsys):
    sim = start_sim([make_org("acme")], clock=FakeClock(time.time()))
    remember(sim, "acme", 1_000, datetime.now(timezone.utc) - timedelta(minutes=1))
    sim.set_fault("acme", Fault(status=503))
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "acme"\napi_url = "{sim.base_url}"\ntoken = "acme-token"\n')
    config.chmod(0o600)
    assert main(["--check", "--config", str(config)]) == 3
    assert capsys.readouterr().out.startswith("CUADRA UNKNOWN - acme: server error 503")


def cached_app(sim, name: str):
    settings = Settings(refresh_interval=30, org=[OrgConfig(name=name, api_url=sim.base_url, token=f"{name}-token")])
    return make_app(TuiOptions(settings, environ={}, rng=random.Random(0), persist_theme=False, start_org=name,
                               trends=Trends(None, lambda: datetime.now(timezone.utc),
                                             open_later=default_history_path())))


async def test_the_stored_answer_is_drawn_before_the_pools_are_built(start_sim, make_org, isolated_env):
    """Building the pools (the HTTP stack's imports, a TLS context: about 100 ms of CPU in a
    thread that holds the GIL most of the time) waits until the stored answer is on screen,
    so it never holds up the first useful frame."""
    sim = start_sim([make_org("acme", credits_used_at_start=1_000)], clock=FakeClock(time.time()))
    remember(sim, "acme", 9_700, datetime.now(timezone.utc) - timedelta(hours=3))
    app = cached_app(sim, "acme")
    on_screen_at_start: list[str] = []
    start = app.monitor.start

    async def observed_start() -> None:
        on_screen_at_start.append(screen_text(app))
        await start()

    app.monitor.start = observed_start  # type: ignore[method-assign]
    async with app.run_test(size=(120, 30)):
        await wait_until(lambda: app.monitor.state_of("acme").fetched is not None)
    assert len(on_screen_at_start) == 1
    assert "used 9,700" in on_screen_at_start[0] and "from history · 3 h ago" in on_screen_at_start[0]


async def test_start_up_is_not_over_with_the_stored_answer(start_sim, make_org, isolated_env):
    """The collector stays paused while only the stored answer is shown (the pools are built
    after it, and the HTTP stack's imports would have the collector walk the start-up graph
    again and again); the first live answer ends start-up."""
    from cuadra_top import startup

    sim = start_sim([make_org("acme", credits_used_at_start=1_000)], clock=FakeClock(time.time()))
    remember(sim, "acme", 9_700, datetime.now(timezone.utc) - timedelta(hours=3))
    sim.set_fault("acme", Fault(latency=1.0))
    app = cached_app(sim, "acme")
    try:
        startup.pause_gc()  # as main() does
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_until(lambda: "used 9,700" in screen_text(app))
            await pilot.pause(0.3)
            assert app.monitor.state_of("acme").fetched is None
            assert not gc.isenabled()
            await wait_until(lambda: "used 1,000" in screen_text(app))
            await pilot.pause(0.1)
            assert gc.isenabled()
    finally:
        startup.resume_gc()
        gc.enable()
        gc.unfreeze()


def test_the_program_reads_the_stored_answers_before_its_app_starts(start_sim, make_org, isolated_env, monkeypatch):
    """``run_tui`` (the command line's way in) reads the stored answers before the app runs
    (one indexed query on a read-only connection), so the very first frame shows them rather
    than an empty one, with the stored answer a whole render later."""
    from cuadra_top.tui.app import CuadraTopApp
    from cuadra_top.tui.run import run_tui

    sim = start_sim([make_org("acme", credits_used_at_start=1_000)], clock=FakeClock(time.time()))
    remember(sim, "acme", 9_700, datetime.now(timezone.utc) - timedelta(hours=3))
    settings = Settings(refresh_interval=30, org=[OrgConfig(name="acme", api_url=sim.base_url, token="acme-token")])
    shown_at_run: list[object] = []

    def run(app: CuadraTopApp, **_: object) -> None:  # the app itself is not needed: what it starts with is
        shown_at_run.append(app.monitor.state_of("acme").cached)

    monkeypatch.setattr(CuadraTopApp, "run", run)
    run_tui(TuiOptions(settings, environ={}, start_org="acme", persist_theme=False,
                       trends=Trends(None, lambda: datetime.now(timezone.utc), open_later=default_history_path())))
    assert len(shown_at_run) == 1 and shown_at_run[0] is not None
    assert shown_at_run[0].usage.credits.used == 9_700


def test_the_program_builds_the_tls_context_while_its_app_is_made(start_sim, make_org, isolated_env, monkeypatch):
    """``run_tui`` starts the TLS context (OpenSSL reading the CA store, without the GIL) before
    Textual is imported, and the pools built after the first frame use it: ~15 ms neither the
    first frame nor the first live answer waits for."""
    import ssl

    import cuadra_top.tui.run as run_module
    from cuadra_top.api import http as http_module
    from cuadra_top.state import fleet as fleet_module
    from cuadra_top.tui.app import CuadraTopApp

    sim = start_sim([make_org("acme")], clock=FakeClock(time.time()))
    settings = Settings(refresh_interval=30, org=[OrgConfig(name="acme", api_url=sim.base_url, token="acme-token")])
    asked: list[str | None] = []

    def early_tls(ca_bundle, environ):
        asked.append(ca_bundle)
        return ssl.create_default_context()

    def no_second_context(*args, **kw):
        raise AssertionError("the pools built a TLS context of their own")

    used: list[object] = []

    def run(app: CuadraTopApp, **_: object) -> None:
        async def start_and_stop() -> None:
            await app.monitor.start()
            used.append(app.monitor.fleet)
            await app.monitor.stop()

        assert asked == [None]  # started before the app runs
        asyncio.run(start_and_stop())

    monkeypatch.setattr(http_module, "tls_context", early_tls)  # run_tui imports it when it starts
    monkeypatch.setattr(fleet_module, "tls_context", no_second_context)
    monkeypatch.setattr(CuadraTopApp, "run", run)
    run_tui_options = TuiOptions(settings, environ={}, start_org="acme", persist_theme=False)
    run_module.run_tui(run_tui_options)
    assert len(used) == 1 and used[0] is not None
