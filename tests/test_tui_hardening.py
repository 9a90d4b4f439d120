"""Defects of the hardening issue (issue 10) that show on the screen, driven with Pilot against
the simulator over loopback: per-org thresholds, the interval keys, a fixed credential picked
up by ``r``, long names, many orgs, narrow terminals."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import pytest

from cuadra_top.cli import org_reloader
from cuadra_top.config import OrgConfig, Settings, load_config
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.screenshots import FROZEN_AT, frozen_app, wait_for_data


def screen_lines(app: CuadraTopApp) -> list[str]:
    return ["".join(s.text for s in line) for line in app.screen._compositor.render_strips()]  # noqa: SLF001


def screen_text(app: CuadraTopApp) -> str:
    return "\n".join(screen_lines(app))


async def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


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
        assert table.get_row("hot")[2].plain == "85.0% CRIT"  # its own thresholds: critical at 60%
        assert table.get_row("calm")[2].plain == "85.0% WARN"  # the global ones: warn at 80%
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
        await wait_for(lambda: app.monitor.state_of("acme").fetched is not None)
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
        await wait_for(lambda: table.row_count == 200)
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
        assert name not in text and "globex-enterprise-…" in text
        assert "Status" in text and "Runs out" in text


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
        assert app.query_one(OverviewTable).row_count == 4
