"""The overview's small gauge, its sparkline of the last day and its right-aligned numbers
(issue 13), read off the screen as a user sees them: on the frozen demo (a day of samples
backfilled), and in a bare table fed odd answers (no history, unlimited, huge, limits of 0)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.app import App, ComposeResult

from cuadra_top.api.client import Fetched
from cuadra_top.api.models import parse_usage
from cuadra_top.state.poller import OrgState
from cuadra_top.thresholds import Thresholds
from cuadra_top.tui.gauge import EMPTY, FULL
from cuadra_top.tui.overview import OverviewTable, Row
from cuadra_top.tui.screenshots import FROZEN_AT, frozen_app, wait_for_data
from cuadra_top.tui.sparkline import BARS

DEMO = ["acme-free", "nimbus-pro", "globex-enterprise", "flaky-labs", "initech-capped"]


def screen_lines(app: App) -> list[str]:
    strips = app.screen._compositor.render_strips()  # noqa: SLF001
    return ["".join(segment.text for segment in line) for line in strips]


def cell_on_screen(app: App, name: str, key: str) -> str:
    """What the screen shows in column ``key`` of the row of org ``name`` (its padding cut)."""
    table = app.query_one(OverviewTable)
    x = table.region.x
    for shown, width in table.layout_columns:
        if shown == key:
            break
        x += width + 2
    else:
        raise AssertionError(f"no column {key} on screen: {table.layout_columns}")
    line = next(line for line in screen_lines(app) if f" {name} " in line)
    return line[x + 1:x + 1 + width]


def heights(bars: str) -> list[int]:
    return [BARS.index(char) for char in bars.strip()]


@pytest.fixture
def sim(frozen_sim):
    return frozen_sim


async def test_a_day_of_samples_draws_a_rising_sparkline_and_a_gauge_beside_the_credits(sim):
    app = frozen_app(sim)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_data(app, pilot.pause)
        for name in DEMO:
            spark = cell_on_screen(app, name, "trend")
            assert len(spark.strip()) == len(spark) == 24, (name, spark)  # 24 h, an hour a cell, no gap
            rise = heights(spark)
            assert rise == sorted(rise) and rise[0] < rise[-1], (name, spark)  # credits used only grow
        assert rise[0] == 0 and rise[-1] == len(BARS) - 1  # from the day's lowest to its highest
        assert cell_on_screen(app, "acme-free", "gauge") == FULL * 2 + EMPTY * 4  # 35.0%
        assert cell_on_screen(app, "nimbus-pro", "gauge") == FULL * 5 + EMPTY  # 84.2%
        assert cell_on_screen(app, "globex-enterprise", "gauge") == FULL * 6  # 102.4%: full, never more
        # numbers line up on the right: each percentage ends in the same cell, whatever follows it
        assert cell_on_screen(app, "acme-free", "credits") == " 35.0%     "
        assert cell_on_screen(app, "nimbus-pro", "credits") == " 84.2% WARN"
        assert cell_on_screen(app, "globex-enterprise", "credits") == "102.4% OVER"
        assert cell_on_screen(app, "acme-free", "left") == " 6d 11h"
        assert cell_on_screen(app, "acme-free", "runs_out") == "   3d 9h"
        assert cell_on_screen(app, "nimbus-pro", "runs_out") == " 12h 41m"


@pytest.mark.parametrize(("width", "shown"), [
    (80, ["number", "org", "credits", "trend", "storage", "runs_out", "status"]),
    (120, ["number", "org", "gauge", "credits", "trend", "storage", "left", "runs_out", "status"]),
    (200, ["number", "org", "gauge", "credits", "trend", "storage", "left", "runs_out", "status"]),
])
async def test_names_stay_whole_and_the_sparkline_takes_the_room_they_leave(sim, width, shown):
    """At 80 columns the gauge (the Credits percentage drawn) and Resets give way, so the
    names stay whole with a sparkline; from 120 everything shows, the sparkline an hour a cell."""
    app = frozen_app(sim)
    async with app.run_test(size=(width, 30)) as pilot:
        await wait_for_data(app, pilot.pause)
        table = app.query_one(OverviewTable)
        layout = dict(table.layout_columns)
        assert list(layout) == shown
        assert layout["org"] == len("globex-enterprise")
        assert layout["trend"] == (9 if width == 80 else 24)
        lines = screen_lines(app)
        assert all(name in "\n".join(lines) for name in DEMO)
        assert max(len(line.rstrip()) for line in lines) <= width


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield OverviewTable(["no-answer", "no-history", "unlimited", "huge", "zero-limits", "gap"], id="overview")


def state(name: str, credits: dict, storage: dict | None = None) -> OrgState:
    usage = parse_usage({"credits": {**credits, "periodStart": "2026-11-01T00:00:00Z",
                                     "periodEnd": "2026-11-30T23:59:59Z"},
                         "storage": storage or {"used": 1, "limit": 10}, "plan": {"tier": "pro"}})
    return OrgState(name, fetched=Fetched(usage, {}, FROZEN_AT, 0.1))


async def test_no_history_unlimited_huge_numbers_and_limits_of_zero_read_plainly():
    huge = 10**400  # beyond any float
    rows = [
        Row(1, OrgState("no-answer"), None, Thresholds()),  # no answer and no history: nothing to draw
        Row(2, state("no-history", {"used": 5, "limit": 10}), None, Thresholds(), ()),
        Row(3, state("unlimited", {"used": 5_000, "limit": None}), None, Thresholds(), (1, 2, 3)),
        Row(4, state("huge", {"used": huge, "limit": 1}, {"used": huge, "limit": 1}), None, Thresholds(),
            (huge, None, huge * 2)),
        Row(5, state("zero-limits", {"used": 7, "limit": 0}, {"used": 7, "limit": 0}), None, Thresholds(), (0, 0)),
        Row(6, state("gap", {"used": 3, "limit": 10}), None, Thresholds(), (1,) + (None,) * 46 + (3,)),
    ]
    async with Host().run_test(size=(140, 12)) as pilot:
        table = pilot.app.query_one(OverviewTable)
        table.update_rows(rows, FROZEN_AT, 30.0)
        await pilot.pause()
        cell = lambda name, key: cell_on_screen(pilot.app, name, key)  # noqa: E731
        assert cell("no-answer", "trend").strip() == "—" and cell("no-answer", "gauge").strip() == ""
        assert cell("no-answer", "credits").strip() == "—"
        assert cell("no-history", "trend").strip() == "—" and cell("no-history", "gauge") == FULL * 3 + EMPTY * 3
        assert cell("unlimited", "gauge").strip() == "" and cell("unlimited", "credits").strip() == "unlimited"
        assert cell("zero-limits", "gauge").strip() == "" and cell("zero-limits", "storage").strip() == "unlimited"
        assert cell("zero-limits", "trend").strip() == BARS[0] * 2  # flat: nothing used that day
        assert cell("huge", "gauge") == FULL * 6 and cell("huge", "credits") == ">9999% OVER"
        assert cell("huge", "trend").strip() == BARS[0] + " " + BARS[-1]  # exact, as integers; a gap is a blank
        gap = cell("gap", "trend")
        assert gap[0] == BARS[0] and gap[-1] == BARS[-1] and gap[1:-1].strip() == ""  # no samples: no bars


async def test_a_sparkline_cell_is_touched_only_when_its_drawing_changes(monkeypatch):
    """The table keeps its per-cell updates: the newest value grows with every answer, but the
    cell is the drawing, so it is redrawn only when a bar moves; a resize draws it anew at the
    column's new width."""
    named = lambda name, recent: Row(1, state(name, {"used": 5, "limit": 10}), None, Thresholds(), recent)  # noqa: E731
    async with Host().run_test(size=(140, 12)) as pilot:
        table = pilot.app.query_one(OverviewTable)
        table.update_rows([named("no-history", (1, 2)), named("gap", (1, 2))], FROZEN_AT, 30.0)
        await pilot.pause()
        touched: list[tuple[str, str]] = []
        update_cell = table.update_cell
        monkeypatch.setattr(table, "update_cell", lambda row, column, value, **kw: (
            touched.append((str(row), str(column))), update_cell(row, column, value, **kw)))
        table.update_rows([named("no-history", (1, 2)), named("gap", (1, 2))], FROZEN_AT + timedelta(seconds=1), 30.0)
        table.update_rows([named("no-history", (1, 2)), named("gap", (1, 3))], FROZEN_AT, 30.0)
        assert touched == []  # the newest grew, and is still the highest bar: nothing to draw
        table.update_rows([named("no-history", (1, 2)), named("gap", (1, 2, 4))], FROZEN_AT, 30.0)
        assert touched == [("gap", "trend")]
        await pilot.pause()
        assert heights(cell_on_screen(pilot.app, "gap", "trend")) == [0, 2, 7]  # 1, 2 and 4 between 1 and 4
        rising = tuple(range(48))
        table.update_rows([named("no-history", rising)], FROZEN_AT, 30.0)
        await pilot.pause()
        assert len(cell_on_screen(pilot.app, "no-history", "trend").strip()) == 24
        await pilot.resize_terminal(100, 12)
        await pilot.pause()
        narrow = dict(table.layout_columns)["trend"]
        assert 6 <= narrow < 24
        assert heights(cell_on_screen(pilot.app, "no-history", "trend")) == sorted(
            heights(cell_on_screen(pilot.app, "no-history", "trend")))
        assert len(cell_on_screen(pilot.app, "no-history", "trend").strip()) == narrow
