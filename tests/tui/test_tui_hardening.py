"""Defects of the hardening issue (issue 10) that show on the screen, driven with Pilot against
the simulator over loopback: per-org thresholds, the interval keys, a fixed credential picked
up by ``r``, long names, many orgs, narrow terminals."""

from __future__ import annotations

import random
import time

import pytest
from pathlib import Path

from cuadra_top.cli import org_reloader
from cuadra_top.config import OrgConfig, Settings, load_config
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.screenshots import FROZEN_AT, frozen_app, wait_for_data
from conftest import wait_until


def screen_lines(app: CuadraTopApp) -> list[str]:
    return ["".join(s.text for s in line) for line in app.screen._compositor.render_strips()]  # noqa: SLF001


def screen_text(app: CuadraTopApp) -> str:
    return "\n".join(screen_lines(app))


def app_for(sim, orgs: list[OrgConfig], **options) -> CuadraTopApp:
    settings = Settings(**{"org": orgs, **options.pop("settings", {})})
    base = {"environ": {}, "now": lambda: FROZEN_AT, "rng": random.Random(0), "persist_theme": False}
    app = make_app(TuiOptions(settings, **{**base, **options}))
    app.animation_level = "none"
    return app


def org(sim, name: str, **kw) -> OrgConfig:
    return OrgConfig(name=name, api_url=sim.base_url, token=f"{kw.pop('token_of', name)}-token", **kw)


async def settled(app: CuadraTopApp, pilot) -> None:
    await app.monitor.wait_answered()
    await pilot.pause(0.2)


# -- defect 8: one classifier for every surface --------------------------------------------------


async def test_per_org_thresholds_reach_the_gauge_and_the_overview(start_sim, make_org):
    sim = start_sim([make_org("hot", credits_used_at_start=8_500, burn_per_hour=0.0),
                     make_org("calm", credits_used_at_start=8_500, burn_per_hour=0.0)])
    app = app_for(sim, [org(sim, "hot", warn_percent=50, critical_percent=60), org(sim, "calm")])
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(app, pilot)
        table = app.query_one(OverviewTable)
        assert table.get_cell("hot", "credits").plain.strip() == "85.0% CRIT"  # its own thresholds: critical at 60%
        assert table.get_cell("calm", "credits").plain.strip() == "85.0% WARN"  # the global ones: warn at 80%
        await pilot.press("1")
        await pilot.pause()
        assert "85.0% CRIT" in screen_text(app) and "85.0% WARN" not in screen_text(app)
        await pilot.press("2")
        await pilot.pause()
        assert "85.0% WARN" in screen_text(app)


# -- defect 18: + and - never jump the wrong way --------------------------------------------------


@pytest.mark.parametrize(("start", "key", "expected"), [
    (2.0, "minus", "every 2s"),     # below the fastest step: stays (it went up to 5 s)
    (2.0, "plus", "every 5s"),
    (7200.0, "plus", "every 120m"),  # beyond the slowest step: stays (it went down to 60 m)
    (7200.0, "minus", "every 60m"),
    (7.0, "minus", "every 5s"),
    (7.0, "plus", "every 10s"),
])
async def test_interval_keys_move_only_the_asked_way(frozen_sim, start, key, expected):
    app = frozen_app(frozen_sim, start_org="acme-free", interval=start)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.press(key)
        await pilot.pause()
        assert expected in app.main_screen.header_line, app.main_screen.header_line


# -- defect 15: r picks up a credential fixed in the config ---------------------------------------


async def test_r_on_a_stopped_org_reads_its_credential_afresh(start_sim, make_org, tmp_path):
    sim = start_sim([make_org("acme")])
    path = tmp_path / "config.toml"

    def write(token: str) -> None:
        path.write_text(f'[[org]]\nname = "acme"\napi_url = "{sim.base_url}"\ntoken = "{token}"\n')
        path.chmod(0o600)

    write("wrong-token")
    loaded = load_config(str(path), {})
    app = app_for(sim, [], settings={"org": loaded.settings.org}, reload_org=org_reloader(loaded))
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        screen = app.main_screen
        assert " STOPPED " in screen.header_line
        # At 80 columns the action comes first, so the end of the API's message is what is cut.
        assert screen.status_line.startswith("polling stopped: r retries · credential rejected (401")
        path.write_text("[[org]\nname =")  # a half-saved file: said on the status line, nothing crashes
        await pilot.press("r")
        await pilot.pause(0.2)
        assert screen.status_line.startswith("polling stopped: fix the config, then r · ")
        assert "not valid TOML" in screen.status_line
        write("acme-token")
        await pilot.press("r")
        await wait_until(lambda: app.monitor.state_of("acme").fetched is not None)
        await pilot.pause(0.2)
        assert "STOPPED" not in screen.header_line and screen.status_line == ""


# -- defects 21, 23, 25 and the 60x20 overview ----------------------------------------------------


async def test_a_long_name_at_80_columns_keeps_the_marker(start_sim, make_org):
    long = "a" * 78
    sim = start_sim([make_org("x1"), make_org("x2")])
    app = app_for(sim, [org(sim, long, token_of="x1"), OrgConfig(name="gone", api_url="http://127.0.0.1:9",
                                                                 token="gone-token")], start_org=long)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        header = app.main_screen.header_line
        assert header.startswith("[1/2] aaaa") and "…" in header and len(header) <= 78
        await pilot.press("2")
        await pilot.pause()
        assert " ERROR " in app.main_screen.header_line
        app.monitor.pause(True)
        await pilot.press("1")
        await pilot.pause()
        header = app.main_screen.header_line
        assert header.endswith(" PAUSED ") and header.startswith("[1/2] aaaa"), header


async def test_two_hundred_orgs_show_three_digit_numbers(start_sim, make_org):
    sim = start_sim([make_org("one")])
    orgs = [OrgConfig(name=f"org-{i}", api_url=sim.base_url, token="one-token") for i in range(1, 201)]
    app = app_for(sim, orgs)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(OverviewTable)
        await wait_until(lambda: table.row_count == 200)
        table.move_cursor(row=199, animate=False)
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "200 org-200" in " ".join(text.split()), text  # the number was cut to "20"


async def test_names_are_as_wide_as_the_terminal_allows(start_sim, make_org):
    sim = start_sim([make_org("globex")])
    name = "globex-enterprise-emea-production"  # 33 cells
    app = app_for(sim, [OrgConfig(name=name, api_url=sim.base_url, token="globex-token"),
                        OrgConfig(name="b", api_url=sim.base_url, token="globex-token")])
    async with app.run_test(size=(120, 30)) as pilot:
        await settled(app, pilot)
        assert name in screen_text(app)  # was cut at 16: "globex-enterpris"
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.1)
        text = screen_text(app)
        # Resets and the sparkline give way to a long name before it is cut (to 28 cells here)
        assert name not in text and "globex-enterprise-emea-prod…" in text
        assert "Credits" in text and "Status" in text and "Runs out" in text


async def test_the_status_column_stays_on_screen_at_60x20(frozen_sim):
    app = frozen_app(frozen_sim)
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.pause(0.2)
        lines = screen_lines(app)
        assert any("Status" in line for line in lines), "\n".join(lines)
        row = next(line for line in lines if "globex" in line)
        assert "ok" in row and "OVER" in row
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        assert "Storage" in screen_text(app) and "Resets" in screen_text(app)
        assert app.query_one(OverviewTable).row_count == 5


# -- defects 2 and 3: theme files and a symlinked config -----------------------------------------


@pytest.mark.parametrize(("text", "words"), [
    ('name = "bad"\nprimary = "notacolour"\n', "key primary: 'notacolour' is not a colour"),
    ('name = "bad"\nprimary = "#ff0000"\nbackground = "#12"\n', "key background: '#12' is not a colour"),
    ('name = "bad"\nprimary = "#ff0000"\naccent = 12\n', "key accent: 12 is not a colour"),
    ('name = "bad"\nprimary = "#ff0000"\ndark = "yes"\n', "key dark: 'yes' is not true or false"),
    ('name = "bad"\nprimary = "#ff0000"\nvariables = "x"\n', "key variables"),
])
async def test_a_broken_theme_file_is_refused_at_load_naming_file_and_key(frozen_sim, tmp_path, text, words):
    """Defect 3: 'notacolour' was accepted at load and crashed the app when chosen."""
    import os

    themes = Path(os.environ["XDG_CONFIG_HOME"]) / "cuadra-top" / "themes"
    themes.mkdir(parents=True)
    (themes / "bad.toml").write_text(text)
    app = frozen_app(frozen_sim, theme="bad")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "bad" not in app.available_themes and app.theme == "cuadra"
        problems = [n for n in app.notices if "bad.toml" in n]
        assert problems and words in problems[0], list(app.notices)
        assert app.crashed is None


async def test_choosing_a_theme_writes_through_a_symlinked_config(frozen_sim, tmp_path):
    """Defect 2: the link was replaced by a regular file; later edits to the dotfile were lost."""
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "cuadra.toml"
    real.write_text("# mine\nrefresh_interval = 30  # seconds\n")
    real.chmod(0o640)
    link = tmp_path / "config" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(Path("..") / "dotfiles" / "cuadra.toml")
    app = frozen_app(frozen_sim, config_path=link)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.theme = "cuadra-high-contrast"
        await pilot.pause()
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert 'theme = "cuadra-high-contrast"' in real.read_text() and "# mine" in real.read_text()
    assert real.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in dotfiles.iterdir()] == ["cuadra.toml"]  # no temporary file left behind


# -- defect 24: a past period, rounded counts, NO_COLOR -------------------------------------------


async def test_a_period_that_ended_says_so(start_sim, make_org):
    """The API may lag behind the reset: 'resets in ended' read as nonsense."""
    from datetime import timedelta

    sim = start_sim([make_org("late")])
    later = FROZEN_AT + timedelta(days=60)  # long after the simulator's period ended
    app = app_for(sim, [org(sim, "late")], now=lambda: later)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot)
        text = screen_text(app)
        assert "resets in ended" not in text and "passed · ended " in text and " ago" in text


async def test_the_raw_tab_says_which_counts_were_rounded(frozen_sim):
    from cuadra_top.simulator import Fault

    app = frozen_app(frozen_sim, start_org="acme-free")
    body = frozen_sim.usage_for("acme-free")
    body["credits"]["used"] = 350.5
    frozen_sim.set_fault("acme-free", Fault(document=body))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.press("v")
        await pilot.pause()
        assert "credits.used 350.5 rounded to 351" in screen_text(app)


def test_no_color_means_no_colour_codes_at_all(tmp_path):
    """NO_COLOR=1 turned colours grey, still as 256-colour codes: no-color.org asks for none."""
    import os
    import pty
    import re
    import select
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUADRA_", "COLORTERM"))}
    env.update(NO_COLOR="1", TERM="xterm-256color", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "c"),
               XDG_DATA_HOME=str(tmp_path / "d"))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cuadra_top", "--demo"], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    output = b""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"acme-free" not in output:
            if select.select([master], [], [], 0.2)[0]:
                output += os.read(master, 65536)
        time.sleep(1.0)
        while select.select([master], [], [], 0.2)[0]:
            output += os.read(master, 65536)
        os.write(master, b"q")
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(master)
    assert b"acme-free" in output
    params = [p for seq in re.findall(rb"\x1b\[([0-9;]*)m", output) for p in seq.split(b";") if p]
    colours = [p for p in params if p in (b"38", b"48") or 30 <= int(p) <= 37 or 40 <= int(p) <= 47
               or 90 <= int(p) <= 97 or 100 <= int(p) <= 107]
    assert colours == [], f"colour SGR parameters under NO_COLOR: {sorted(set(colours))[:10]}"
