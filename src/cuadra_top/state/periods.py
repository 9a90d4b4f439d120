"""One account's history, billing period by billing period: what the History tab draws.

The history keeps every sample of the current period and one an hour before (13 months at
most); this module cuts one series' samples into its periods, gives each its per-day figures
(:func:`cuadra_top.state.daily.daily`) and compares a period with the one before at the same
point ("day 18: 62% used, last period 48%"). Knows nothing of widgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cuadra_top.clock import as_utc
from cuadra_top.display_time import DisplayZone
from cuadra_top.state.daily import Day, daily
from cuadra_top.state.history import Sample


@dataclass(frozen=True)
class Period:
    """One billing period of one account, oldest sample first."""

    start: datetime | None
    end: datetime | None
    samples: tuple[Sample, ...]
    days: tuple[Day, ...]

    @property
    def credits_limit(self) -> int | None:
        return self.samples[-1].credits_limit if self.samples else None

    @property
    def storage_limit(self) -> int | None:
        return self.samples[-1].storage_limit if self.samples else None

    def offset_of(self, at: datetime) -> float:
        """Days from the period's start (or its first sample) to ``at``."""
        origin = self.start or self.samples[0].at
        return (as_utc(at) - as_utc(origin)).total_seconds() / 86400

    def used_at(self, offset: timedelta) -> float | None:
        """Credits used ``offset`` after the period's start, interpolated between the samples
        around it; None outside what the samples cover."""
        if self.start is None or not self.samples:
            return None
        t = as_utc(self.start) + offset
        before = [s for s in self.samples if as_utc(s.at) <= t]
        after = [s for s in self.samples if as_utc(s.at) >= t]
        if not before or not after:
            return None
        a, b = before[-1], after[0]
        span = (as_utc(b.at) - as_utc(a.at)).total_seconds()
        if span <= 0:
            return float(a.credits_used)
        share = (t - as_utc(a.at)).total_seconds() / span
        return a.credits_used + (b.credits_used - a.credits_used) * share


def periods_of(samples: Sequence[Sample], zone: DisplayZone, now: datetime) -> list[Period]:
    """``samples`` (one account's, any order) cut into billing periods, oldest first, each with
    its days in ``zone``. The days are worked out over all the samples at once, as
    ``cuadra-top history --daily`` does, and each goes to the period it belongs to there: the
    one in force at its end. So the day a period resets is one day with both periods' credits,
    shown in the new period (where the zone is not UTC, a period starting at 00:00 UTC starts
    inside a local day: that day is the new period's first), never two half days."""
    ordered = sorted(samples, key=lambda s: as_utc(s.at))
    groups: list[list[Sample]] = []
    for sample in ordered:
        if groups and (groups[-1][-1].period_start, groups[-1][-1].period_end) == (
                sample.period_start, sample.period_end):
            groups[-1].append(sample)
        else:
            groups.append([sample])
    days_of: list[list[Day]] = [[] for _ in groups]
    for day in daily(ordered, zone, now=now):
        days_of[_owner(groups, day)].append(day)
    return [Period(group[0].period_start, group[0].period_end, tuple(group), tuple(days))
            for group, days in zip(groups, days_of)]


def _owner(groups: list[list[Sample]], day: Day) -> int:
    """The group ``day`` belongs to: the one of its period (the latest such begun before the
    day's end, should an account's periods come back), else the latest begun before its end."""
    begun = [index for index, group in enumerate(groups) if as_utc(group[0].at) < day.end] or [0]
    if day.period_start is not None or day.period_end is not None:
        same = [index for index, group in enumerate(groups)
                if (group[0].period_start, group[0].period_end) == (day.period_start, day.period_end)]
        if same:
            return max((index for index in same if index in begun), default=same[0])
    return begun[-1]


def day_number(period: Period, at: datetime, zone: DisplayZone) -> int:
    """Which day of ``period`` ``at`` falls on, counting calendar days of ``zone`` from the day
    the period begins (day 1), as its per-day bars do. A period's last hours may fall in a day
    that belongs to the next period (it ends inside a local day): they count as its last day."""
    first = zone.day_of(period.start or period.samples[0].at)
    number = (zone.day_of(at) - first).days + 1
    return min(number, len(period.days)) if period.days else number


def comparison(current: Period, previous: Period | None, now: datetime, zone: DisplayZone) -> str | None:
    """'day 18: 62% used, last period 48%': the share of the limit used so far against the
    previous period at the same point of it (the same time since its start); "day 18" is a
    calendar day of ``zone`` (:func:`day_number`). None without a limit or a start."""
    limit = current.credits_limit
    if current.start is None or not current.samples or not limit:
        return None
    newest = min(as_utc(now), as_utc(current.samples[-1].at))
    elapsed = newest - as_utc(current.start)
    text = f"day {day_number(current, newest, zone)}: {current.samples[-1].credits_used / limit:.0%} used"
    if previous is not None and previous.credits_limit:
        before = previous.used_at(elapsed)
        if before is not None:
            return f"{text}, last period {before / previous.credits_limit:.0%}"
        return f"{text}; last period's history does not reach that day"
    return text
