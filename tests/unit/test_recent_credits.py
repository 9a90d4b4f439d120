"""The last day of an org's credits, slice by slice, for the overview's sparkline: what the
state layer hands the TUI (no Textual here)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from cuadra_top.api.models import parse_usage
from cuadra_top.state.history import sample_of
import random

from cuadra_top.state.trends import RECENT_SLOTS, Slices, Trends, Window, recent_credits

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
NOV = ("2026-11-01T00:00:00Z", "2026-11-30T23:59:59Z")
DEC = ("2026-12-01T00:00:00Z", "2026-12-31T23:59:59Z")


def usage(used: int, period: tuple[str, str] = NOV):
    return parse_usage({
        "storage": {"used": 1, "limit": 1000},
        "credits": {"used": used, "limit": 10**6, "periodStart": period[0], "periodEnd": period[1]},
        "plan": {"tier": "pro"},
    })


def day_of_samples(end: datetime = NOW, every: timedelta = timedelta(minutes=10), per_step: int = 100):
    """A steady day: ``per_step`` credits more at every sample, up to ``end``."""
    count = int(timedelta(hours=24) / every)
    return [sample_of("acme", end - every * (count - i), usage(1_000 + per_step * i)) for i in range(count + 1)]


def last_day(samples, now: datetime) -> tuple[int | None, ...]:
    return recent_credits(samples, Slices.at(now))


def test_a_steady_day_fills_every_slice_and_rises():
    values = last_day(day_of_samples(), NOW)
    assert len(values) == RECENT_SLOTS
    assert all(value is not None for value in values[1:])  # the oldest slice may start before the first sample
    present = [value for value in values if value is not None]
    assert present == sorted(present) and present[0] < present[-1]
    assert values[-1] == 1_000 + 100 * 144  # the newest slice holds the newest sample


def test_a_slice_without_samples_is_none_not_zero():
    samples = [s for s in day_of_samples() if not NOW - timedelta(hours=10) <= s.at < NOW - timedelta(hours=6)]
    values = last_day(samples, NOW)
    gap = [i for i, value in enumerate(values) if value is None and i > 0]
    assert len(gap) == 8  # four hours of half-hour slices
    assert all(values[i] is not None for i in range(1, RECENT_SLOTS) if i not in gap)


def test_no_samples_and_samples_older_than_a_day_give_no_values():
    assert last_day([], NOW) == (None,) * RECENT_SLOTS
    old = day_of_samples(end=NOW - timedelta(days=2))
    assert last_day(old, NOW) == (None,) * RECENT_SLOTS


def test_slices_are_cut_on_the_clock_so_a_tick_moves_nothing():
    samples = day_of_samples(end=NOW - timedelta(minutes=1))
    assert last_day(samples, NOW) == last_day(samples, NOW + timedelta(minutes=20))
    later = last_day(samples, NOW + timedelta(minutes=31))
    assert later[-1] is None and later[:-1] == last_day(samples, NOW)[1:]  # one slice on


def test_a_sample_from_the_future_counts_as_now_and_huge_counts_stay_exact():
    huge = 10**30
    samples = [sample_of("acme", NOW - timedelta(hours=1), usage(huge)),
               sample_of("acme", NOW + timedelta(hours=3), usage(huge + 1))]  # a clock that jumped back
    values = last_day(samples, NOW)
    assert values[-1] == huge + 1 and values[-3] == huge


async def test_trends_hand_the_current_series_only_and_keep_it_until_it_changes():
    clock = [NOW]
    trends = Trends(None, lambda: clock[0])
    assert trends.recent_credits("acme") == ()  # nothing known of it
    trends.add_samples("acme", day_of_samples())
    first = trends.recent_credits("acme")
    assert first[-1] == 1_000 + 100 * 144
    assert trends.recent_credits("acme") is first  # asked again at the next tick: kept
    trends.windows["acme"].add(sample_of("acme", NOW + timedelta(seconds=5), usage(99_999)))
    assert trends.recent_credits("acme")[-1] == 99_999  # a new answer is seen at once
    clock[0] = NOW + timedelta(hours=1)
    assert trends.recent_credits("acme")[-1] is None  # the clock moved a slice on
    trends.windows["acme"].add(sample_of("acme", clock[0], usage(5, DEC)))  # a new period: a new series
    values = trends.recent_credits("acme")
    assert [value for value in values if value is not None] == [5]


def test_kept_values_brought_up_to_date_are_what_counting_afresh_gives():
    """Trends.recent_credits updates what it kept when only the newest sample moved; whatever
    the window went through (answers seconds or hours apart, thinning, a clock set back, a new
    period), it must give what counting the window's samples afresh gives."""
    rng = random.Random(13)
    clock = [NOW]
    trends = Trends(None, lambda: clock[0])
    used = 0
    for step in range(3_000):
        gap = rng.choice([1, 5, 30, 60, 300, 601, 1800, 5400])
        if rng.random() < 0.01:
            gap = -rng.choice([60, 3600])  # the clock set back
        clock[0] += timedelta(seconds=gap)
        used += rng.randrange(0, 50)
        period = DEC if step > 2_500 else NOV
        sample = sample_of("acme", clock[0], usage(used if period is NOV else used // 100, period))
        trends.windows.setdefault("acme", Window([])).add(sample)
        if rng.random() < 0.3:
            clock[0] += timedelta(seconds=rng.choice([0, 1, 20, 1799]))  # asked later than the answer
        if rng.random() < 0.5:  # not asked at every answer (the overview hidden, or batching them)
            assert trends.recent_credits("acme") == last_day(trends.windows["acme"].samples, clock[0]), step
