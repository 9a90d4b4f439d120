"""One account's history cut into billing periods, and a period compared with the one before."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cuadra_top.display_time import UTC
from cuadra_top.state.daily import DayStatus
from cuadra_top.state.history import Sample
from cuadra_top.state.periods import comparison, periods_of

Z = timezone.utc
OCT, NOV, DEC = (datetime(2026, m, 1, tzinfo=Z) for m in (10, 11, 12))
LIMIT = 50_000


def hourly(start: datetime, end: datetime, per_hour: float, *, skip: tuple[datetime, datetime] | None = None,
           period: tuple[datetime, datetime]) -> list[Sample]:
    out, at, used = [], start, 0.0
    while at < end:
        if skip is None or not skip[0] <= at < skip[1]:
            out.append(Sample("o", at, int(used), LIMIT, None, None, 0, None, period[0], period[1], "pro"))
        used += per_hour
        at += timedelta(hours=1)
    return out


@pytest.fixture
def history() -> list[Sample]:
    october = hourly(OCT, NOV, 40.0, skip=(OCT + timedelta(days=9), OCT + timedelta(days=11)), period=(OCT, NOV))
    november = hourly(NOV, NOV + timedelta(days=17, hours=12), 60.0, period=(NOV, DEC))
    return october + november


def test_periods_are_cut_at_each_new_period_with_their_days(history):
    now = NOV + timedelta(days=17, hours=12)
    october, november = periods_of(list(reversed(history)), UTC, now)  # any order in
    assert (october.start, october.end, november.start, november.end) == (OCT, NOV, NOV, DEC)
    assert len(october.days) == 31 and len(november.days) == 18
    missing = [d.day.day for d in october.days if d.status is DayStatus.NO_SAMPLES]
    assert missing == [10, 11]  # two days with no sample: the gap is too long to join across
    assert all(d.credits_used is None for d in october.days if d.status is DayStatus.NO_SAMPLES)  # never 0
    assert november.days[0].credits_used == 24 * 60


def test_a_period_is_compared_with_the_one_before_at_the_same_point(history):
    now = NOV + timedelta(days=17, hours=12)
    october, november = periods_of(history, UTC, now)
    # Day 18 of November: 17.5 days at 60/h of 50,000 = 50%; October at the same point: 33.6%.
    assert comparison(november, october, now, UTC) == "day 18: 50% used, last period 34%"
    assert comparison(october, None, now, UTC) == "day 31: 59% used"


def test_the_previous_period_that_does_not_reach_the_day_says_so():
    period = (OCT, NOV)
    short = hourly(OCT + timedelta(days=25), NOV, 40.0, period=period)
    november = hourly(NOV, NOV + timedelta(days=3), 60.0, period=(NOV, DEC))
    october, current = periods_of(short + november, UTC, NOV + timedelta(days=3))
    assert comparison(current, october, NOV + timedelta(days=3), UTC).endswith(
        "last period's history does not reach that day")
