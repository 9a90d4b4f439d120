"""The TUI in several display zones (issue 13, Time): the billing period's dates and countdown in
the org view, and the History tab's days, bars, labels and "day N" comparison, under UTC, a
half-hour zone (Asia/Kolkata), two whose clocks change inside the billing period
(Australia/Adelaide +09:30/+10:30 on the first Sunday of October, Europe/Berlin on the last
Sunday of October and of March) and a negative half-hour one (America/St_Johns, whose clocks go
back on 1 November, the day the period resets). Plus a TZ that names no zone, said on screen.

The history is a known truth: one credit a minute since the period began, a sample every half
hour for two periods, so every expected figure comes from the truth, not from the code. A day
is a calendar day of the display zone (23 or 25 hours across a clock change) and belongs to the
period in force at its end, in the History tab as in ``cuadra-top history --daily``."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from cuadra_top.api.auth import StaticToken
from cuadra_top.display_time import set_display_zone, tz_zone, zone_named
from cuadra_top.history_cmd import HistoryRequest, run_history
from cuadra_top.state.history import History, Sample
from cuadra_top.state.identity import series_key
from cuadra_top.state.trends import Trends
from cuadra_top.tui.screenshots import frozen_app, frozen_simulator, wait_for_data

Z = timezone.utc
LIMIT = 50_000


def month(year: int, number: int) -> datetime:
    return datetime(year, number, 1, tzinfo=Z)


def next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def write_truth(sim, path: Path, now: datetime) -> None:
    """nimbus-pro's previous and current period, a sample every half hour up to ``now``: one
    credit a minute since the period began."""
    key = series_key(sim.base_url, StaticToken(SecretStr("demo-nimbus-pro-token")), "nimbus-pro")
    current = month(now.year, now.month)
    previous = month(current.year - (current.month == 1), 12 if current.month == 1 else current.month - 1)
    rows, at = [], previous
    while at < now:
        start = current if at >= current else previous
        used = int((at - start).total_seconds() // 60)
        rows.append((key, Sample("nimbus-pro", at, used, LIMIT, None, None, 20 * 2**30, 50 * 2**30, start,
                                 next_month(start) - timedelta(seconds=1), "pro")))
        at += timedelta(minutes=30)
    with History(path) as history:
        history.record_samples(rows)


def local(value: datetime, zone: str) -> str:
    shown = value.astimezone(ZoneInfo(zone))
    return f"{shown:%Y-%m-%d %H:%M} {shown:%Z}"


def screen_text(app) -> str:
    return "\n".join("".join(s.text for s in line) for line in app.screen._compositor.render_strips())  # noqa: SLF001


def title(app) -> str:
    from cuadra_top.tui.panes import Line

    found = app.main_screen.query("#history-title")
    return str(found.first(Line).render()) if found else ""


def cli_days(path: Path, zone: str, now: datetime) -> dict[date, dict]:
    out = io.StringIO()
    request = HistoryRequest(path=path, zone=zone_named(zone), now=now, daily=True, format="json")
    assert run_history(request, out, pytest.fail) == 0
    return {date.fromisoformat(row["date"]): row for row in json.loads(out.getvalue())["days"]}


# zone, the frozen clock, "day N" of the current period, the comparison, the first day's bar
# label, and the day the clocks change in the period with its length in hours (None: none).
CASES = [
    ("UTC", datetime(2026, 10, 27, 12, tzinfo=Z), 27, "last period 76%", "1 Oct", None),
    # 01:30 in Kolkata: already the 27th there (24-hour spans since the period began: 26)
    ("Asia/Kolkata", datetime(2026, 10, 26, 20, tzinfo=Z), 27, "last period 74%", "1 Oct", None),
    ("Australia/Adelaide", datetime(2026, 10, 27, 12, tzinfo=Z), 27, "last period 76%", "1 Oct", (date(2026, 10, 4), 23)),
    ("Europe/Berlin", datetime(2026, 10, 27, 12, tzinfo=Z), 27, "last period 76%", "1 Oct", (date(2026, 10, 25), 25)),
    ("Europe/Berlin", datetime(2026, 3, 30, 12, tzinfo=Z), 30, "last period's history does not reach that day",
     "1 Mar", (date(2026, 3, 29), 23)),
    # St John's: a period starting at 00:00 UTC starts at 21:30 (20:30 in winter) the evening
    # before, so that evening is the period's day 1, and Nov 24 is its day 25.
    ("America/St_Johns", datetime(2026, 10, 27, 12, tzinfo=Z), 28, "last period 76%", "30 Sep", None),
    ("America/St_Johns", datetime(2026, 11, 24, 12, tzinfo=Z), 25, "last period 68%", "31 Oct", (date(2026, 11, 1), 25)),
]


@pytest.mark.parametrize("zone, now, day, compared, first_label, clock_change", CASES,
                         ids=[f"{case[0]}-{case[1]:%b}" for case in CASES])
async def test_the_period_and_its_days_in_the_display_zone(zone, now, day, compared, first_label, clock_change,
                                                          tmp_path):
    sim = frozen_simulator(now)
    try:
        path = tmp_path / "history.sqlite3"
        write_truth(sim, path, now)
        set_display_zone(zone_named(zone))
        app = frozen_app(sim, now, start_org="nimbus-pro", trends=Trends(History(path), lambda: now))
        start = month(now.year, now.month)
        end = next_month(start) - timedelta(seconds=1)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_data(app, pilot.pause)
            # the org view: the period's ends in the zone, with its abbreviation; the countdown is UTC arithmetic
            shown = screen_text(app)
            assert f"from {local(start, zone)}" in shown and f"to {local(end, zone)}" in shown
            left = end - now
            countdown = f"{left.days}d {left.seconds // 3600}h {left.seconds % 3600 // 60}m"
            assert f"resets in {countdown}" in shown

            await pilot.press("h")
            for _ in range(100):
                await pilot.pause(0.05)
                if "current period" in title(app):
                    break
            await pilot.pause(0.3)
            assert title(app).startswith(f"current period: {local(start, zone)} – {local(end, zone)} · day {day}: ")
            assert compared in title(app)
            assert first_label in screen_text(app)  # under the first bar: the period's first local day

            periods = await app.monitor.periods("nimbus-pro")
        previous, current = periods[-2], periods[-1]
        shown_zone = zone_named(zone)
        assert current.days[0].day == shown_zone.day_of(start)  # the day the period begins is its day 1
        assert current.days[-1].day == shown_zone.day_of(now)  # today is the current period's
        assert previous.days[-1].day + timedelta(days=1) == current.days[0].day  # no day in two periods
        if clock_change is not None:
            changed, hours = clock_change
            day_of_change = next(d for d in current.days if d.day == changed)
            assert day_of_change.length == timedelta(hours=hours)
            assert day_of_change.credits_used == hours * 60  # a credit a minute: 23 or 25 hours of it
        # the History tab and `cuadra-top history --daily` tell the same days
        cli = cli_days(path, zone, now)
        for period in (previous, current):
            for shown_day in period.days:
                if shown_day.day >= shown_zone.day_of(now) or shown_day.start < previous.days[0].end:
                    continue  # today: the live answer is the simulator's, not the truth's; the history's
                    # first day: the tab reads a sample every three hours that long ago, and the first
                    # three hours have none it keeps (the export reads them all)
                row = cli[shown_day.day]
                assert (shown_day.status.value, shown_day.credits_used, shown_day.credits_used_end) == (
                    row["status"], row["credits_used"], row["credits_used_end"]), shown_day.day
                assert row["period_start"] == period.start.isoformat().replace("+00:00", "Z"), shown_day.day
    finally:
        sim.stop()


async def test_a_tz_that_names_no_zone_is_said_on_screen(frozen_sim):
    """The CLI says it on stderr too, but the TUI's screen hides stderr at once."""
    zone = tz_zone("Europe/Berln")
    set_display_zone(zone)
    app = frozen_app(frozen_sim)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_for_data(app, pilot.pause)
        assert zone.problem in app.notices
