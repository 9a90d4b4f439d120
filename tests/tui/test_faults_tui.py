"""The fault matrix as the TUI shows it: each fault on the header and the status line, a fault
before any data, and STALE after two intervals without fresh data (in the overview too).

The matrix, the CLI and poller outcomes and the bounds on requests: tests/unit/test_faults.py."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pydantic import SecretStr

from cuadra_top.config import OrgConfig, Settings
from cuadra_top.simulator import Fault, Simulator
from cuadra_top.state.fleet import Fleet
from cuadra_top.state.poller import Status
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.panes import Line
from conftest import wait_until
from faults_support import (  # what the unit and the TUI tests of this topic share
    CASES,
    Case,
    _isolated,
    decided,
    inject,
    status,
)


def tui_app(sim: Simulator, *, faulty_url: str | None = None, faulty_token: str = "beta-token",
            now: Callable[[], datetime] | None = None, interval: float = 30.0) -> CuadraTopApp:
    settings = Settings(refresh_interval=interval, timeout={"connect": 1.0, "read": 0.5}, org=[
        OrgConfig(name="good", api_url=sim.base_url, token=SecretStr("alpha-token")),
        OrgConfig(name="faulty", api_url=faulty_url or sim.base_url, token=SecretStr(faulty_token)),
    ])
    kw = {"now": now} if now else {}
    return make_app(TuiOptions(settings, environ={}, start_org="faulty", rng=random.Random(0), persist_theme=False, **kw))


def header(app: CuadraTopApp) -> str:
    return str(app.query_one("#header", Line).render())


def screen_text(app: CuadraTopApp) -> str:
    return "\n".join("".join(s.text for s in line) for line in app.screen._compositor.render_strips())  # noqa: SLF001


async def settle(app: CuadraTopApp, pilot, requests: int) -> None:
    """Wait until the faulty org has made ``requests`` requests and decided, then redraw.
    (The pollers start once the connection pools are built, just after the first frame.)"""
    await wait_until(lambda: app.monitor.poller("faulty") is not None)
    poller = app.monitor.poller("faulty")
    await wait_until(lambda: poller.state.requests >= requests and decided(poller))
    await pilot.pause()


TUI_CASES = [
    ("401-static", "STOPPED", ("credential rejected (401", "polling stopped: r retries")),
    ("429", "ERROR", ("rate limited (429", "retry after 30 s", "retry in 2", "last data kept")),
    ("schema", "ERROR", ("storage: required field is missing", "last data kept")),
    ("refused", "ERROR", ("connection refused", "last data kept")),
]


def undo(case: Case, sim: Simulator, fleet: Fleet) -> None:
    sim.set_fault("beta", None)
    sim.orgs["beta"].token = "beta-token"
    sim.orgs["beta"].scopes = ("usage:read",)
    fleet.clients["faulty"].url = sim.base_url + "/v1/usage"


async def test_tui_header_and_status_line_per_fault(sim, closed_port):
    """One session through several faults: each shows its marker in the header and its cause on
    the status line with the last data still on screen; ``r`` after the fix brings it back."""
    app = tui_app(sim)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot, 1)
        poller = app.monitor.poller("faulty")
        assert "faulty" in header(app) and status(app) == ""
        for case_id, marker, words in TUI_CASES:
            case = next(c for c in CASES if c.id == case_id)
            inject(case, sim, app.monitor.fleet, closed_port)
            requests = poller.state.requests
            await pilot.press("r")
            await settle(app, pilot, requests + 1)
            assert poller.state.error is not None, case_id
            assert f" {marker} " in header(app), (case_id, header(app))
            line = status(app)
            for word in words:
                assert word in line, (case_id, line)
            text = screen_text(app)
            assert "Credits" in text and "limit 1,000" in text, (case_id, text)  # the last data is still shown
            await pilot.press("o")  # the overview names the state too
            await pilot.pause()
            assert marker in screen_text(app), case_id
            await pilot.press("2")  # back to the faulty org, fix the fault, refresh
            undo(case, sim, app.monitor.fleet)
            await pilot.press("r")
            await wait_until(lambda: poller.state.error is None and decided(poller))
            await pilot.pause()
            assert status(app) == "" and "ERROR" not in header(app) and "STOPPED" not in header(app), case_id


async def test_tui_fault_before_any_data(sim, closed_port):
    app = tui_app(sim, faulty_url=f"http://127.0.0.1:{closed_port}")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot, 1)
        assert " ERROR " in header(app)
        text = screen_text(app)
        assert "No data yet for faulty: connection refused by 127.0.0.1:" in text
        assert "connection refused" in status(app) and "last data kept" not in status(app)
        await pilot.press("1")
        await pilot.pause()
        assert "ERROR" not in header(app) and "good" in header(app)  # the other org is fine


T0 = datetime(2026, 4, 15, 12, 0, 0, tzinfo=timezone.utc)


@dataclass
class Now:
    """A controllable wall clock for the app (``now.at = ...``)."""

    at: datetime = T0

    def __call__(self) -> datetime:
        return self.at


async def test_stale_after_two_intervals_without_fresh_data(sim):
    now = Now()
    app = tui_app(sim, now=now, interval=30.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot, 1)
        assert "0 s ago" in header(app) and "STALE" not in header(app)
        sim.set_fault("beta", Fault(status=503))
        await pilot.press("r")
        await settle(app, pilot, 2)
        assert " ERROR " in header(app)

        now.at = T0 + timedelta(seconds=59)  # under two intervals: an error, not stale yet
        app.main_screen.tick()  # the clock tick, without waiting for it
        assert "59 s ago" in header(app) and "STALE" not in header(app) and " ERROR " in header(app)

        now.at = T0 + timedelta(seconds=61)
        app.main_screen.tick()
        assert " STALE 1m " in header(app), header(app)
        assert "server error 503" in status(app)  # the cause stays on the status line

        now.at = T0 + timedelta(minutes=12, seconds=5)
        app.main_screen.tick()
        assert " STALE 12m " in header(app) and "12 min ago" in header(app)

        now.at = T0 + timedelta(minutes=5, seconds=5)
        await pilot.press("o")
        await pilot.pause()
        table = app.query_one(OverviewTable)
        assert table.get_row("faulty")[-1] == "STALE 5m"
        assert table.get_row("good")[-1] == "STALE 5m"  # the good org's data is 5 min old too
        assert "STALE 5m" in screen_text(app)

        # Fresh data clears it.
        sim.set_fault("beta", None)
        await pilot.press("r")  # in the overview: refresh all
        poller = app.monitor.poller("faulty")
        await wait_until(lambda: poller.state.error is None and decided(poller))
        await pilot.pause()
        assert app.query_one(OverviewTable).get_row("faulty")[-1] == "ok"


async def test_overview_shows_a_two_digit_stale_age_whole(sim):
    now = Now()
    app = tui_app(sim, now=now, interval=30.0)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot, 1)
        now.at = T0 + timedelta(minutes=12, seconds=5)
        await pilot.press("o")
        await pilot.pause()
        assert app.query_one(OverviewTable).get_row("faulty")[-1] == "STALE 12m"
        assert "STALE 12m" in screen_text(app)


def test_stale_boundary_scales_with_the_interval(sim):
    from cuadra_top.api.client import Fetched
    from cuadra_top.api.models import parse_usage
    from cuadra_top.state.poller import OrgState
    from cuadra_top.tui.header import header_text

    body = sim.usage_for("alpha")
    state = OrgState("x", fetched=Fetched(parse_usage(body), body, T0, 0.01))
    for interval in (1.0, 30.0, 300.0):
        fresh = T0 + timedelta(seconds=2 * interval - 0.5)
        old = T0 + timedelta(seconds=2 * interval + 0.5)
        assert state.status(fresh, interval) is Status.OK
        assert state.status(old, interval) is Status.STALE
        assert "STALE" not in header_text(state, fresh, interval, (1, 1)).plain
        assert "STALE" in header_text(state, old, interval, (1, 1)).plain

