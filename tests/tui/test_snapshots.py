"""What the screen shows, as SVG snapshots: fixed clock, TZ=UTC, fixed size, colour on.

Update after an intended change with ``.venv/bin/python -m pytest tests/test_snapshots.py
--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

import time

import pytest

from cuadra_top.simulator import Fault
from cuadra_top.tui.screenshots import frozen_app, wait_for_data


@pytest.fixture(autouse=True)
def fixed_environment(monkeypatch):
    """TZ=UTC and colour on; conftest already keeps the user's config and data out."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def sim(frozen_sim):
    return frozen_sim  # this file's tests run on the frozen demo (conftest's ``sim`` is another)


async def settle(pilot) -> None:
    await wait_for_data(pilot.app, pilot.pause)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_overview(snap_compare, sim, size):
    assert snap_compare(frozen_app(sim), terminal_size=size, run_before=settle)


def test_overview_no_color(snap_compare, sim, monkeypatch):
    """Under NO_COLOR the small gauge (full and shaded blocks) and the sparkline (eighth blocks
    rising) still read, by their glyphs alone."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(frozen_app(sim), terminal_size=(120, 40), run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_org_in_warning(snap_compare, sim, size):
    assert snap_compare(frozen_app(sim, start_org="nimbus-pro"), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_org_in_overage_with_admin_tab(snap_compare, sim, size):
    async def admin_tab(pilot) -> None:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)

    assert snap_compare(frozen_app(sim, start_org="globex-enterprise"), terminal_size=size, run_before=admin_tab)


def test_error_keeps_last_data(snap_compare, sim):
    async def fail(pilot) -> None:
        await settle(pilot)
        sim.set_fault("nimbus-pro", Fault(status=503))
        await pilot.press("r")
        await pilot.pause(0.2)
        await settle(pilot)

    assert snap_compare(frozen_app(sim, start_org="nimbus-pro"), terminal_size=(80, 24), run_before=fail)


def test_help(snap_compare, sim):
    async def help_screen(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(frozen_app(sim, start_org="acme-free"), terminal_size=(80, 24), run_before=help_screen)


@pytest.mark.parametrize(("size", "start_org"), [((80, 24), None), ((120, 40), "acme-free")])
def test_first_screen_of_a_returning_user(snap_compare, size, start_org):
    """The first frame drawn from the history (several orgs, or one), before the monitor exists."""
    from datetime import datetime, timezone

    from cuadra_top.tui.app import CuadraTopApp, FirstStart, StartFailed
    from cuadra_top.tui.first_start import Glance, GlanceScreen

    at = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
    body = {"credits": {"used": 41_900, "limit": 50_000}, "storage": {"used": 20 << 30, "limit": 50 << 30}}
    seen = Glance(["acme-free", "globex-enterprise", "nimbus-pro"],
                  {"acme-free": (at, body), "nimbus-pro": (at, {"credits": {"used": 10**12, "limit": 0}})},
                  start_org=start_org)

    def finish():
        raise StartFailed("not in a snapshot", 2)  # the first screen stays

    app = CuadraTopApp(None, first=FirstStart(GlanceScreen(seen, datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)),
                                              finish))
    app.on_ready = lambda: None  # the first frame only: the monitor is never built
    assert snap_compare(app, terminal_size=size)
