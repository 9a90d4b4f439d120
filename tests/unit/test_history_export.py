"""`cuadra-top history` and the per-day figures (issue 13): histories written with
``History.record_many``, read back through the command and checked row by row.

The histories follow a known truth (one credit a minute unless said otherwise), so every
expected figure is computed from the truth, not from the code under test: a steady month, a
burst, a gap of two days, a period boundary, days of 23 and 25 hours, irregular sampling, the
TUI closed overnight, and two accounts under one name. Each runs under UTC, a half-hour zone
(Asia/Kolkata), Europe/Berlin (summer time ends on 2026-10-25, inside the October period) and
America/St_Johns (-02:30/-03:30, summer time ends on 2026-11-01, the day the period resets).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import schema_1_file
from hypothesis import given, settings
from hypothesis import strategies as st

from cuadra_top.api.models import parse_usage
from cuadra_top.cli import main
from cuadra_top.display_time import zone_named
from cuadra_top.state.daily import COMPLETE_SLACK, DayStatus, daily
from cuadra_top.state.history import History, default_history_path

UTC = timezone.utc
ZONES = ["UTC", "Asia/Kolkata", "Europe/Berlin", "America/St_Johns"]
GIB = 1024 ** 3
OCT = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC))
NOV = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
LATER = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _tz_utc(monkeypatch):
    """The command's default zone is TZ's: UTC here, whatever the machine's (each test that
    wants another zone says so)."""
    monkeypatch.setenv("TZ", "UTC")


def minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def period_of(at: datetime) -> tuple[datetime, datetime]:
    return OCT if at < NOV[0] else NOV


def steady(at: datetime) -> int:
    """The truth: one credit a minute since the period began."""
    return minutes(at - period_of(at)[0])


def storage(at: datetime) -> int:
    """Storage grows 1 KiB a minute from 1 GiB, across periods."""
    return GIB + 1024 * minutes(at - OCT[0])


def usage(used: int, period: tuple[datetime, datetime], *, stored: int = GIB, limit: int | None = 50_000,
          tier: str = "pro", storage_limit: int | None = 10 * GIB, **credits: object):
    start, end = period
    return parse_usage({
        "storage": {"used": stored, "limit": storage_limit},
        "credits": {"used": used, "limit": limit, "periodStart": start.isoformat(), "periodEnd": end.isoformat(),
                    **credits},
        "plan": {"tier": tier},
    })


def truth(at: datetime, *, key: str = "k-acme", name: str = "acme", extra: int = 0):
    return key, name, at, usage(steady(at) + extra, period_of(at), stored=storage(at))


def every(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    times, at = [], start
    while at < end:
        times.append(at)
        at += step
    return times


def stored(path: Path, records) -> list:
    """Write ``records`` with ``record_many`` and read the series back, as the command does."""
    with History(path) as history:
        history.record_many(records)
        keys = {record[0] for record in records}
        assert len(keys) == 1
        return history.samples(keys.pop())


def write_default(records) -> None:
    with History(default_history_path()) as history:
        history.record_many(records)


def overlap(start: datetime, end: datetime, other_start: datetime, other_end: datetime) -> timedelta:
    return max(min(end, other_end) - max(start, other_start), timedelta(0))


# -- the per-day figures -----------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
def test_a_steady_month_gives_each_day_its_own_length(zone, tmp_path):
    shown = zone_named(zone)
    samples = stored(tmp_path / "h.sqlite3", [truth(at) for at in every(OCT[0], NOV[0], timedelta(minutes=30))])
    days = daily(samples, shown, now=LATER)
    assert [d.day for d in days] == [shown.day_of(samples[0].at) + timedelta(days=i) for i in range(len(days))]
    last = samples[-1].at
    inside = [d for d in days if d.start >= OCT[0] and d.end <= last]
    assert len(inside) >= 29
    for day in inside:
        assert day.status is DayStatus.COMPLETE, day
        assert day.credits_used == minutes(day.end - day.start)
        assert (day.credits_used_end, day.storage_used_end, day.end_at) == (steady(day.end), storage(day.end), day.end)
        assert (day.credits_limit, day.period_start, day.period_end) == (50_000, *OCT)
        assert day.covered == day.end - day.start
    # whatever the zone, the days share out exactly what the samples show: no credit lost or doubled
    assert sum(d.credits_used for d in days) == samples[-1].credits_used - samples[0].credits_used
    if zone == "Europe/Berlin":  # the billing period spans the end of summer time
        [dst] = [d for d in days if d.day == date(2026, 10, 25)]
        assert (dst.length, dst.credits_used) == (timedelta(hours=25), 1500)
        assert days[0].status is DayStatus.INCOMPLETE  # the history began at 02:00 local
        assert days[0].covered == timedelta(hours=22) and days[0].credits_used == 22 * 60


@pytest.mark.parametrize("zone", ZONES)
def test_a_burst_lands_on_its_own_day(zone, tmp_path):
    shown = zone_named(zone)
    burst = shown.wall_time(datetime(2026, 10, 14, 14, 5))
    records = [truth(at, extra=5000 if at >= burst else 0)
               for at in every(OCT[0] + timedelta(days=5), OCT[0] + timedelta(days=25), timedelta(minutes=30))]
    by_day = {d.day: d for d in daily(stored(tmp_path / "h.sqlite3", records), shown, now=LATER)}
    assert by_day[date(2026, 10, 14)].credits_used == 1440 + 5000
    assert by_day[date(2026, 10, 13)].credits_used == by_day[date(2026, 10, 15)].credits_used == 1440
    assert by_day[date(2026, 10, 14)].status is DayStatus.COMPLETE


@pytest.mark.parametrize("zone", ZONES)
def test_a_gap_of_two_days_says_so_instead_of_showing_zero(zone, tmp_path):
    shown = zone_named(zone)
    stop, resume = shown.wall_time(datetime(2026, 10, 10, 12, 0)), shown.wall_time(datetime(2026, 10, 13, 9, 0))
    times = [at for at in every(OCT[0] + timedelta(days=5), OCT[0] + timedelta(days=20), timedelta(minutes=30))
             if not stop < at < resume]
    samples = stored(tmp_path / "h.sqlite3", [truth(at) for at in times])
    days = daily(samples, shown, now=LATER)
    by_day = {d.day: d for d in days}
    before, after = by_day[date(2026, 10, 10)], by_day[date(2026, 10, 13)]
    assert (before.status, before.covered, before.credits_used) == (DayStatus.INCOMPLETE, timedelta(hours=12), 720)
    assert (before.end_at, before.credits_used_end) == (stop, steady(stop))  # its last sample, and when
    for missing in (date(2026, 10, 11), date(2026, 10, 12)):
        day = by_day[missing]
        assert day.status is DayStatus.NO_SAMPLES and day.samples == 0
        assert day.credits_used is None and day.credits_used_end is None and day.storage_used_end is None
        assert (day.period_start, day.period_end) == OCT  # the period is known from both sides
    assert (after.status, after.covered, after.credits_used) == (DayStatus.INCOMPLETE, timedelta(hours=15), 900)
    # what the gap consumed is in no day: it cannot be told which
    counted = sum(d.credits_used or 0 for d in days)
    assert counted == samples[-1].credits_used - samples[0].credits_used - (steady(resume) - steady(stop))


@pytest.mark.parametrize("zone", ZONES)
def test_a_period_reset_within_a_day_counts_both_periods_never_negative(zone, tmp_path):
    shown = zone_named(zone)
    times = every(datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 11, 6, tzinfo=UTC), timedelta(minutes=10))
    samples = stored(tmp_path / "h.sqlite3", [truth(at) for at in times])
    unseen = (NOV[0] - timedelta(minutes=10), NOV[0])  # from the old period's last sample to the reset
    days = daily(samples, shown, now=LATER)
    inside = [d for d in days if d.start >= times[0] and d.end <= times[-1]]
    assert len(inside) >= 10
    for day in inside:
        assert day.credits_used == minutes(day.end - day.start) - minutes(overlap(day.start, day.end, *unseen)), day
        assert day.status is DayStatus.COMPLETE  # 10 unseen minutes are within the slack
        belongs = NOV if day.end > NOV[0] else OCT
        assert (day.period_start, day.period_end) == belongs
    reset_day = next(d for d in days if d.start <= NOV[0] < d.end)
    assert reset_day.credits_used_end == steady(reset_day.end) < 1440 + 60  # the new period's count
    if zone == "America/St_Johns":  # the reset and the end of summer time on one weekend
        [long_day] = [d for d in days if d.day == date(2026, 11, 1)]
        assert (long_day.length, long_day.credits_used) == (timedelta(hours=25), 1500)
    if zone == "UTC":  # the period ends with the day: the day shows the old period's last figures
        [last_of_october] = [d for d in days if d.day == date(2026, 10, 31)]
        assert last_of_october.end_at == unseen[0] and last_of_october.credits_used_end == steady(unseen[0])


def test_a_reset_missed_by_more_than_the_slack_makes_the_day_incomplete(tmp_path):
    berlin = zone_named("Europe/Berlin")
    times = every(datetime(2026, 10, 28, 0, 7, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC), timedelta(hours=1))
    days = {d.day: d for d in daily(stored(tmp_path / "h.sqlite3", [truth(at) for at in times]), berlin, now=LATER)}
    reset_day = days[date(2026, 11, 1)]  # 00:00Z is 01:00 CET; the old period's last 53 minutes are unseen
    assert reset_day.status is DayStatus.INCOMPLETE
    assert reset_day.covered == timedelta(hours=24, minutes=-53)
    assert reset_day.credits_used == 1440 - 53
    assert days[date(2026, 11, 2)].status is DayStatus.COMPLETE and days[date(2026, 11, 2)].credits_used == 1440


@pytest.mark.parametrize("zone", ZONES)
def test_irregular_samples_cron_every_hour_and_the_tui_by_day(zone, tmp_path):
    """Five credits a minute from 09:00 to 17:00 local, one otherwise; cron at :07 every hour,
    the TUI every minute from 09:00 to 17:00 (local)."""
    shown = zone_named(zone)
    start, end = datetime(2026, 10, 4, tzinfo=UTC), datetime(2026, 10, 12, tzinfo=UTC)
    used, total, at = {}, 0, start
    while at <= end:
        used[at] = total
        total += 5 if 9 <= shown.localize(at).hour < 17 else 1
        at += timedelta(minutes=1)
    cron = [t for t in used if t.minute == 7]
    tui = [t for t in used if 9 <= shown.localize(t).hour < 17 or shown.localize(t).time().isoformat() == "17:00:00"]
    records = [("k-acme", "acme", t, usage(used[t] + steady(start), OCT, stored=storage(t))) for t in sorted(set(cron) | set(tui))]
    days = daily(stored(tmp_path / "h.sqlite3", records), shown, now=LATER)
    inside = [d for d in days if d.start >= start + timedelta(hours=1) and d.end <= end - timedelta(hours=1)]
    assert len(inside) >= 6
    for day in inside:
        assert day.status is DayStatus.COMPLETE
        assert day.credits_used == 8 * 60 * 5 + 16 * 60


@pytest.mark.parametrize("zone", ZONES)
def test_the_tui_closed_overnight_leaves_each_day_incomplete_not_zero(zone, tmp_path):
    shown = zone_named(zone)
    times = [t for t in every(datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 10, 12, tzinfo=UTC), timedelta(minutes=1))
             if 9 <= shown.localize(t).hour < 18 or shown.localize(t).time().isoformat() == "18:00:00"]
    days = daily(stored(tmp_path / "h.sqlite3", [truth(t) for t in times]), shown, now=LATER)
    for day in days:
        assert day.status is DayStatus.INCOMPLETE
        assert (day.covered, day.credits_used) == (timedelta(hours=9), 540)  # what the samples show; the nights are unknown
        assert day.end_at == shown.wall_time(datetime.combine(day.day, datetime.min.time()).replace(hour=18))


def test_the_day_not_over_yet_is_to_date(tmp_path):
    kolkata = zone_named("Asia/Kolkata")
    last = kolkata.wall_time(datetime(2026, 10, 20, 14, 30))
    samples = stored(tmp_path / "h.sqlite3",
                     [truth(at) for at in every(OCT[0] + timedelta(days=15), last + timedelta(seconds=1), timedelta(minutes=30))])
    today = daily(samples, kolkata, now=last + timedelta(minutes=20))[-1]
    assert (today.day, today.status, today.credits_used) == (date(2026, 10, 20), DayStatus.TO_DATE, 14 * 60 + 30)
    assert (today.end_at, today.credits_used_end) == (last, steady(last))
    yesterday_view = daily(samples, kolkata, now=LATER)[-1]  # seen later, the monitor stopped at 14:30
    assert yesterday_view.status is DayStatus.INCOMPLETE


def test_two_accounts_taking_turns_under_one_key_never_count_the_jump(tmp_path):
    """Two configs calling different accounts by one name, with opaque tokens, share a key:
    the jumps between their counts are breaks, never consumption."""
    records = []
    for index, at in enumerate(every(datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 10, 9, tzinfo=UTC),
                                     timedelta(minutes=5))):
        records.append(truth(at, extra=100_000 if index % 2 == 0 else 0))  # the busy account first
    for day in daily(stored(tmp_path / "h.sqlite3", records), zone_named("Europe/Berlin"), now=LATER):
        assert day.credits_used is None or 0 <= day.credits_used <= 1440
        assert day.status is not DayStatus.COMPLETE


samples_strategy = st.lists(
    st.tuples(st.integers(1, 600), st.integers(-500, 2000), st.booleans()), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(steps=samples_strategy, zone=st.sampled_from(ZONES))
def test_any_history_gives_whole_days_and_no_negative_consumption(steps, zone, tmp_path_factory):
    """Random gaps (1 min to 10 h), counts going up and down, periods starting anew."""
    at, used, period = datetime(2026, 10, 24, tzinfo=UTC), 0, OCT
    records = []
    for gap, change, new_period in steps:
        at += timedelta(minutes=gap)
        if new_period:
            period = (at - timedelta(minutes=gap // 2), at + timedelta(days=30))
            used = max(change, 0)
        else:
            used = max(used + change, 0)
        records.append(("k", "acme", at, usage(used, period)))
    shown = zone_named(zone)
    days = daily(stored(tmp_path_factory.mktemp("h") / "h.sqlite3", records), shown, now=LATER)
    assert days and days[0].start <= records[0][2] and days[-1].end > records[-1][2]
    for before, after in zip(days, days[1:]):
        assert before.end == after.start and after.day == before.day + timedelta(days=1)
    for day in days:
        assert timedelta(hours=23) <= day.length <= timedelta(hours=25)
        assert (day.samples == 0) == (day.status is DayStatus.NO_SAMPLES)
        assert day.credits_used is None or day.credits_used >= 0
        assert timedelta(0) <= day.covered <= day.length
        if day.status is DayStatus.COMPLETE:
            assert day.length - day.covered <= COMPLETE_SLACK


# -- the command -------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["history", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def odd_samples():
    """Every field the history keeps, in every state: purchased, overage, hard cap, unlimited,
    no period, and a plan tier a spreadsheet would run as a formula."""
    at = datetime(2026, 10, 20, 8, 0, tzinfo=UTC)
    return [
        ("k-acme", "acme", at, usage(7500, OCT, stored=5 * GIB, purchased=100_000, overage=0, hardCap=False)),
        ("k-acme", "acme", at + timedelta(minutes=1, microseconds=250_000),
         usage(50_100, OCT, stored=5 * GIB, purchasedBalance=0, overageCredits=100, hardCap=True)),
        ("k-acme", "acme", at + timedelta(minutes=2), parse_usage({
            "storage": {"used": 0, "limit": None}, "credits": {"used": 1, "limit": 0}, "plan": {"tier": "=HYPERLINK(1)"}})),
    ]


def expected_row(record) -> dict:
    key, name, at, use = record
    credits = use.credits

    def iso(value):
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return {"org": name, "series": key, "at": iso(at), "credits_used": credits.used,
            "credits_limit": credits.limit or None, "credits_available": credits.available_now,
            "purchased_balance": credits.purchased_balance, "overage_credits": credits.overage_credits,
            "storage_used": use.storage.used, "storage_limit": use.storage.limit or None,
            "plan_tier": use.plan.tier, "hard_cap": credits.hard_cap,
            "period_start": iso(credits.period_start), "period_end": iso(credits.period_end)}


def test_samples_as_json_are_the_samples_written(capsys):
    records = odd_samples() + [truth(at) for at in every(OCT[0], OCT[0] + timedelta(days=2), timedelta(hours=1))]
    write_default(records)
    code, out, err = run(capsys, "--format", "json", "--timezone", "Asia/Kolkata")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["kind"] == "samples" and document["timezone"] == "Asia/Kolkata"
    expected = sorted((expected_row(r) for r in records), key=lambda row: row["at"])
    assert document["samples"] == expected  # numbers as numbers, None as null, every time UTC


def test_samples_as_csv_open_in_a_spreadsheet_as_they_are(capsys):
    records = odd_samples() + [truth(at) for at in every(OCT[0], OCT[0] + timedelta(days=2), timedelta(hours=1))]
    write_default(records)
    code, out, _ = run(capsys, "--format", "csv", "--org", "acme")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    expected = sorted((expected_row(r) for r in records), key=lambda row: row["at"])
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected):
        for field, value in want.items():
            cell = row[field]
            if value is None:
                assert cell == "", field
            elif isinstance(value, bool):
                assert cell == str(value).lower()
            elif isinstance(value, int):
                assert int(cell) == value and "," not in cell  # no thousands separators
            elif field == "plan_tier" and value.startswith("="):
                assert cell == "'" + value  # never runs as a formula
            else:
                assert cell == value, field
        datetime.fromisoformat(row["at"])  # ISO 8601, as a spreadsheet reads it


@pytest.mark.parametrize("zone", ZONES)
def test_daily_csv_row_by_row(zone, capsys):
    shown = zone_named(zone)
    write_default([truth(at) for at in every(OCT[0], OCT[0] + timedelta(days=6), timedelta(minutes=30))])
    code, out, _ = run(capsys, "--daily", "--format", "csv", "--timezone", zone, "--since", "2026-10-02",
                       "--until", "2026-10-04")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["date"] for row in rows] == ["2026-10-02", "2026-10-03", "2026-10-04"]
    for row in rows:
        start, end = shown.day_start(date.fromisoformat(row["date"])), shown.day_start(
            date.fromisoformat(row["date"]) + timedelta(days=1))
        assert row["day_start"] == start.isoformat().replace("+00:00", "Z")
        assert row["day_end"] == end.isoformat().replace("+00:00", "Z")
        assert row["status"] == "complete" and float(row["covered_hours"]) == 24.0
        assert int(row["credits_used"]) == 1440
        assert int(row["credits_used_end"]) == steady(end) and int(row["storage_used_end"]) == storage(end)
        assert row["end_at"] == row["day_end"] and row["period_start"] == "2026-10-01T00:00:00Z"


def test_daily_json_says_no_samples_with_nulls(capsys):
    times = [at for at in every(OCT[0], OCT[0] + timedelta(days=8), timedelta(hours=1))
             if not datetime(2026, 10, 3, 12, tzinfo=UTC) < at < datetime(2026, 10, 6, 9, tzinfo=UTC)]
    write_default([truth(at) for at in times])
    code, out, _ = run(capsys, "--daily", "--format", "json")
    assert code == 0
    days = {row["date"]: row for row in json.loads(out)["days"]}
    for missing in ("2026-10-04", "2026-10-05"):
        row = days[missing]
        assert row["status"] == "no samples" and row["samples"] == 0 and row["covered_hours"] == 0
        assert row["credits_used"] is None and row["credits_used_end"] is None
    assert days["2026-10-03"]["status"] == "incomplete" and days["2026-10-03"]["credits_used"] == 720
    assert days["2026-10-02"]["credits_used"] == 1440 and isinstance(days["2026-10-02"]["covered_hours"], float)


def test_since_and_until_are_days_of_the_display_zone_or_iso_times(capsys):
    times = every(datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC), timedelta(minutes=30))
    write_default([truth(at) for at in times])

    def ats(*argv: str) -> list[str]:
        code, out, err = run(capsys, "--format", "json", *argv)
        assert code == 0, err
        return [row["at"] for row in json.loads(out)["samples"]]

    berlin = ats("--timezone", "Europe/Berlin", "--since", "2026-10-25", "--until", "2026-10-25")
    assert berlin[0] == "2026-10-24T22:00:00Z" and berlin[-1] == "2026-10-25T22:30:00Z" and len(berlin) == 50
    kolkata = ats("--timezone", "Asia/Kolkata", "--since", "2026-10-25T09:00", "--until", "2026-10-25T10:00")
    assert kolkata == ["2026-10-25T03:30:00Z", "2026-10-25T04:00:00Z", "2026-10-25T04:30:00Z"]  # --until includes it
    assert ats("--since", "2026-10-25T03:30Z", "--until", "2026-10-25T04:00:00+00:00") == kolkata[:2]


def test_a_table_for_people_in_the_display_zone(capsys):
    write_default([truth(at) for at in every(datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC),
                                             timedelta(hours=1))])
    code, out, _ = run(capsys, "--timezone", "Europe/Berlin", "--since", "2026-10-25", "--until", "2026-10-25")
    assert code == 0
    assert "acme · series k-acme · times in Europe/Berlin" in out
    assert "2026-10-25 02:00 CEST" in out and "2026-10-25 02:00 CET" in out  # the hour that comes twice
    assert "35,160" in out  # thousands separators are for people only
    code, out, _ = run(capsys, "--daily", "--timezone", "Europe/Berlin")
    line = next(line for line in out.splitlines() if "2026-10-25" in line)
    assert line.split()[:3] == ["Sun", "2026-10-25", "1,500"] and line.endswith("25 h day")
    assert "incomplete: 22 of 24 h known" in next(line for line in out.splitlines() if "2026-10-24" in line)


def test_two_accounts_under_one_name_are_shown_apart(capsys):
    times = every(OCT[0] + timedelta(days=3), OCT[0] + timedelta(days=5), timedelta(hours=1))
    write_default([truth(at, key="https://api.cuadra.ai client:one") for at in times]
                  + [truth(at, key="https://api.cuadra.ai client:two", extra=30_000) for at in times]
                  + [truth(at, key="https://api.cuadra.ai client:three", name="other") for at in times])
    code, out, err = run(capsys, "--org", "acme", "--format", "csv", "--daily")
    assert code == 0
    assert "org 'acme' has 2 series in the history" in err and err.count("\n") == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["series"] for row in rows} == {"https://api.cuadra.ai client:one", "https://api.cuadra.ai client:two"}
    for row in rows:
        if row["status"] == "complete":
            assert int(row["credits_used"]) == 1440  # each account's own, never the 30,000 between them
    code, out, err = run(capsys)
    assert code == 0 and err == "" and out.count(" · series ") == 3


def test_schema_1_rows_go_with_the_one_series_of_their_name(capsys):
    path = default_history_path()
    old = OCT[0] + timedelta(days=2)
    schema_1_file(path, [("acme", old + timedelta(hours=h), steady(old) + 60 * h, 50_000, None, None, GIB, None, *OCT)
                         for h in range(3)])
    write_default([truth(at) for at in every(old + timedelta(hours=3), old + timedelta(hours=6), timedelta(hours=1))])
    code, out, _ = run(capsys, "--format", "json")
    rows = json.loads(out)["samples"]
    assert code == 0 and len(rows) == 6 and {row["series"] for row in rows} == {"k-acme"}
    assert [row["credits_used"] for row in rows] == [steady(old) + 60 * h for h in range(6)]


def test_series_index_lists_every_series_with_its_names(tmp_path):
    at = OCT[0] + timedelta(days=1)
    with History(tmp_path / "h.sqlite3") as history:
        history.record_many([truth(at, name="old-name"), truth(at + timedelta(hours=1)), truth(at, key="k-b", name="b")])
        index = history.series_index()
    assert [(info.key, info.names, info.samples, info.first, info.last) for info in index] == [
        ("k-acme", ("old-name", "acme"), 2, at, at + timedelta(hours=1)), ("k-b", ("b",), 1, at, at)]
    assert index[0].name == "acme" and not index[0].legacy


# -- errors: one line, and nothing changed -------------------------------------------------------


def test_no_history_is_an_error_that_creates_nothing(capsys):
    code, out, err = run(capsys)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert f"no history at {default_history_path()} yet" in err
    assert not default_history_path().exists()


def test_an_unknown_org_names_the_ones_there_are(capsys):
    write_default([truth(OCT[0]), truth(OCT[0], key="k-b", name="beta")])
    code, out, err = run(capsys, "--org", "gamma")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "no org named 'gamma' in the history" in err and "it has 'acme', 'beta'" in err


def test_an_empty_range_says_what_the_history_holds(capsys):
    write_default([truth(at) for at in every(OCT[0], OCT[0] + timedelta(days=2), timedelta(hours=1))])
    code, out, err = run(capsys, "--org", "acme", "--since", "2026-03-01", "--until", "2026-03-31", "--daily")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "no samples of org 'acme' from 2026-03-01 through 2026-03-31 (UTC)" in err
    assert "its samples run from 2026-10-01 00:00 UTC to 2026-10-02 23:00 UTC" in err
    code, _, err = run(capsys, "--since", "2026-10-02", "--until", "2026-10-01")
    assert code == 2 and "the range is empty" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["--since", "yesterday"], "--since 'yesterday': not a date; use YYYY-MM-DD"),
    (["--until", "2026-02-30"], "--until '2026-02-30': not a date"),
    (["--since", "2026-10-01T25:00"], "--since '2026-10-01T25:00': not a date"),
    (["--timezone", "Europe/Berln"], "--timezone: unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    write_default([truth(OCT[0])])
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err


def test_the_config_zone_applies_and_a_bad_one_is_named(capsys, tmp_path, isolated_env):
    write_default([truth(datetime(2026, 10, 5, 12, tzinfo=UTC))])
    config = tmp_path / "config.toml"
    config.write_text('timezone = "America/St_Johns"\n')
    code = main(["--config", str(config), "history"])
    assert code == 0 and "2026-10-05 09:30 NDT" in capsys.readouterr().out
    config.write_text('timezone = "Mars/Olympus"\n')
    assert main(["--config", str(config), "history"]) == 2
    assert "key timezone: unknown time zone 'Mars/Olympus'" in capsys.readouterr().err


def test_the_demo_keeps_no_history(capsys):
    assert main(["--demo", "history"]) == 2
    assert "the demo keeps no history" in capsys.readouterr().err


def test_a_history_it_cannot_read_is_said_and_left_as_it_is(capsys):
    import sqlite3

    path = default_history_path()
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")  # written by a newer cuadra-top
    before = path.read_bytes()
    code, out, err = run(capsys)
    assert code == 1 and out == ""
    assert "written by a newer cuadra-top" in err and "cannot read the history at" in err
    assert path.read_bytes() == before
