"""The History tab (issue 13), on synthetic histories with a frozen clock: a steady month with a
burst, the month before with two days without samples, the period boundary between them;
Pilot for what the keys do, snapshots (80x24 and 120x40, under NO_COLOR) for what it shows."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from cuadra_top.api.auth import StaticToken
from cuadra_top.state.history import History, Sample
from cuadra_top.state.identity import series_key
from cuadra_top.state.trends import Trends
from cuadra_top.tui.screenshots import FROZEN_AT, frozen_app, wait_for_data

Z = timezone.utc
OCT, NOV, DEC = (datetime(2026, m, 1, tzinfo=Z) for m in (10, 11, 12))


def synthetic(sim, path: Path) -> Path:
    """nimbus-pro's last two periods, a sample an hour: October at 1,300 a day with nothing on
    the 10th and 11th; November at 1,750 a day with a burst of 4,000 on the 15th, up to the
    frozen clock's answer (42,100)."""
    key = series_key(sim.base_url, StaticToken(SecretStr("demo-nimbus-pro-token")), "nimbus-pro")

    def sample(at: datetime, used: float, period: tuple[datetime, datetime]) -> Sample:
        return Sample("nimbus-pro", at, int(used), 50_000, None, None, int(2e10 + 1e8 * (at - OCT).days),
                      50 * 2**30, period[0], period[1] - timedelta(seconds=1), "pro")

    rows, at = [], OCT
    while at < NOV:
        if not OCT + timedelta(days=9) <= at < OCT + timedelta(days=11):
            rows.append((key, sample(at, 1300 / 24 * (at - OCT).total_seconds() / 3600, (OCT, NOV))))
        at += timedelta(hours=1)
    hours = int((FROZEN_AT - NOV).total_seconds() // 3600)
    burst_at = NOV + timedelta(days=14, hours=12)
    steady = (42_100 - 4_000) / hours
    used = 0.0
    for hour in range(hours):
        at = NOV + timedelta(hours=hour)
        rows.append((key, sample(at, used, (NOV, DEC))))
        used += steady + (4_000 if at == burst_at else 0)
    with History(path) as history:
        history.record_samples(rows)
    return path


@pytest.fixture
def app(frozen_sim, tmp_path):
    path = synthetic(frozen_sim, tmp_path / "history.sqlite3")
    return frozen_app(frozen_sim, start_org="nimbus-pro", trends=Trends(History(path), lambda: FROZEN_AT))


async def show_history(pilot) -> None:
    await wait_for_data(pilot.app, pilot.pause)
    await pilot.press("h")
    for _ in range(100):  # the history is read in a thread, then the charts are built
        await pilot.pause(0.05)
        if pilot.app.main_screen.query("#history-credits") and "period" in title(pilot.app):
            break
    await pilot.pause(0.2)


def title(app) -> str:
    from cuadra_top.tui.panes import Line

    found = app.main_screen.query("#history-title")
    return str(found.first(Line).render()) if found else ""


def note(app) -> str:
    from cuadra_top.tui.panes import Line

    return str(app.main_screen.query_one("#history-note", Line).render())


async def test_h_shows_the_current_period_and_commas_step_through_the_periods(app):
    async with app.run_test(size=(120, 40)) as pilot:
        await show_history(pilot)
        assert app.main_screen.org_view.active_tab == "history"
        assert title(app).startswith("current period: 2026-11-01 00:00 UTC – 2026-11-30 23:59 UTC")
        assert "day 24: 84% used, last period 61%" in title(app)  # 23.5 days of October at 1,300 a day
        assert note(app) == "24 day(s), every day sampled"  # today counts as sampled to date
        await pilot.press("comma")
        await pilot.pause(0.5)
        assert title(app).startswith("period 1 of 2: 2026-10-01 00:00 UTC – 2026-10-31 23:59 UTC")
        assert "2 day(s) without samples (no bar, not zero)" in note(app)
        await pilot.press("comma")  # no period before the first: stays
        await pilot.pause(0.5)
        assert title(app).startswith("period 1 of 2")
        await pilot.press("full_stop")
        await pilot.pause(0.5)
        assert title(app).startswith("current period")


async def test_charts_are_built_only_when_their_data_or_size_change(app):
    from cuadra_top.tui.charts import Chart

    async with app.run_test(size=(120, 40)) as pilot:
        await show_history(pilot)
        charts = list(app.main_screen.query("#history-view Chart").results(Chart))
        assert len(charts) == 3
        built = [chart.builds for chart in charts]
        assert all(count >= 1 for count in built)
        await pilot.press("question_mark")  # a screen over it and back: a repaint, the same data
        await pilot.pause(0.2)
        await pilot.press("escape")
        await pilot.pause(0.3)
        app.main_screen.tick()  # the clock moves nothing in a period's charts
        await pilot.pause(0.3)
        assert [chart.builds for chart in charts] == built
        await pilot.resize_terminal(100, 40)
        await pilot.pause(0.3)
        assert all(chart.builds > count for chart, count in zip(charts, built))


async def test_without_history_the_tab_says_so(frozen_sim):
    from cuadra_top.tui.factory import TuiOptions, make_app
    from cuadra_top.demo import demo_config

    app = make_app(TuiOptions(demo_config(frozen_sim).settings, environ={}, start_org="acme-free",
                              now=lambda: FROZEN_AT, trends=Trends(None, lambda: FROZEN_AT)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.press("h")
        await pilot.pause(0.5)
        assert "No history yet for this org" in title(app) or "current period" in title(app)


@pytest.fixture
def no_color(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_history_tab_no_color(snap_compare, app, no_color, size):
    """Under NO_COLOR every series still reads: dots, a rule, bullets, full and shaded blocks."""
    assert snap_compare(app, terminal_size=size, run_before=show_history)


def test_snapshot_previous_period_with_a_gap(snap_compare, app, no_color):
    async def previous(pilot) -> None:
        await show_history(pilot)
        await pilot.press("comma")
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=(120, 40), run_before=previous)


async def test_each_day_has_a_bar_of_its_own_and_a_day_without_samples_a_mark(app):
    """October: every day sampled but the 10th and 11th, a few days partly (around the gap, the
    hour before the reset, the start of the tab's sparser old samples). plotext sizes the bars
    of one call by their mean spacing, so the shaded bars, days apart, were drawn many days
    wide, over the days without samples; now each bar stays within its day, and the days
    without samples show a '?'."""
    from cuadra_top.state.daily import DayStatus
    from cuadra_top.tui.charts import UNICODE_MARKS, Chart

    async with app.run_test(size=(120, 40)) as pilot:
        await show_history(pilot)
        await pilot.press("comma")
        await pilot.pause(0.5)
        chart = app.main_screen.query_one("#history-daily", Chart)
        rows = str(chart.render()).splitlines()
        baseline = next(row for row in rows if row.lstrip().startswith("0┤"))
        october = (await app.monitor.periods("nimbus-pro"))[0]
        partial = [d for d in october.days if d.credits_used is not None and d.status is not DayStatus.COMPLETE]
        slot = chart.size.width / len(october.days)
        assert 0 < baseline.count(UNICODE_MARKS.part) <= len(partial) * slot  # each shaded bar within its day
        assert baseline.count(UNICODE_MARKS.missing) == 2


async def test_charts_read_on_the_linux_console(frozen_sim, tmp_path):
    """The console's fonts have box lines and blocks but no braille: the lines would be blanks.
    There they are '*' (used, storage) and '+' (the projection); the bars stay █ and ▒."""
    from cuadra_top.tui.charts import Chart

    path = synthetic(frozen_sim, tmp_path / "history.sqlite3")
    app = frozen_app(frozen_sim, start_org="nimbus-pro", trends=Trends(History(path), lambda: FROZEN_AT),
                     environ={"TERM": "linux"})
    async with app.run_test(size=(120, 40)) as pilot:
        await show_history(pilot)
        credits, daily, storage = (str(chart.render()) for chart in app.main_screen.query("#history-view Chart")
                                   .results(Chart))
    assert not any(0x2800 <= ord(char) <= 0x28FF for char in credits + daily + storage)
    assert "** used" in credits and "++ at this rate" in credits and credits.count("*") > 40
    assert "** storage" in storage and "█" in daily and "▒" in daily


async def test_charts_read_in_a_terminal_that_is_not_utf8(app):
    """Cell for cell, as the terminal driver writes them (glyphs.fit_cells): full and shaded
    bars must not become the same '#', nor braille lines '?' (the no-samples mark)."""
    from cuadra_top import glyphs
    from cuadra_top.tui.charts import Chart

    async with app.run_test(size=(120, 40)) as pilot:
        await show_history(pilot)
        await pilot.press("comma")  # October: full, shaded and missing days
        await pilot.pause(0.5)
        credits, daily, _ = (str(chart.render()) for chart in app.main_screen.query("#history-view Chart")
                             .results(Chart))
    bars = glyphs.fit_cells(daily, "ascii")
    assert "##" in bars and "::" in bars and bars.count("?") == daily.count("?")
    line = glyphs.fit_cells(credits, "ascii")
    assert ".. used" in line and line.count("?") == credits.count("?")


async def test_new_data_that_draws_the_same_cells_repaints_nothing():
    """A poll every few seconds moves a month-long line by less than a cell: the chart under
    the panes must not send a whole chart to the terminal each time (the idle bytes per minute
    went from 10 to 79 KiB at --interval 5 with it)."""
    from textual.app import App, ComposeResult

    from cuadra_top.tui.charts import Chart

    def line(points):
        def drawing(plt, width, height, marks):
            plt.plot([x for x, _ in points], [y for _, y in points], marker=marks.line)
            plt.xlim(0, 30)
            plt.ylim(0, 1000)
        return drawing

    class ChartApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Chart(id="chart")

    app = ChartApp()
    async with app.run_test(size=(80, 20)) as pilot:
        chart = app.query_one(Chart)
        chart.draw(line([(0, 0), (10, 300)]), key=1)
        await pilot.pause()
        repaints, builds = chart.repaints, chart.builds
        chart.draw(line([(0, 0), (10.001, 300.01)]), key=2)  # new data, the same cells
        await pilot.pause()
        assert chart.repaints == repaints
        chart.draw(line([(0, 0), (20, 900)]), key=3)  # a line that reaches further
        await pilot.pause()
        assert chart.repaints == repaints + 1
        assert chart.builds == builds + 2  # each new key built once, none built again to paint
