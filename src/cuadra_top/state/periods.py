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
    its days in ``zone``."""
    ordered = sorted(samples, key=lambda s: as_utc(s.at))
    groups: list[list[Sample]] = []
    for sample in ordered:
        if groups and (groups[-1][-1].period_start, groups[-1][-1].period_end) == (
                sample.period_start, sample.period_end):
            groups[-1].append(sample)
        else:
            groups.append([sample])
    return [Period(group[0].period_start, group[0].period_end, tuple(group),
                   tuple(daily(group, zone, now=now))) for group in groups]


def comparison(current: Period, previous: Period | None, now: datetime) -> str | None:
    """'day 18: 62% used, last period 48%': the share of the limit used so far against the
    previous period at the same point of it; None without a limit or a start to compare from."""
    limit = current.credits_limit
    if current.start is None or not current.samples or not limit:
        return None
    elapsed = min(as_utc(now), as_utc(current.samples[-1].at)) - as_utc(current.start)
    day = int(elapsed.total_seconds() // 86400) + 1
    text = f"day {day}: {current.samples[-1].credits_used / limit:.0%} used"
    if previous is not None and previous.credits_limit:
        before = previous.used_at(elapsed)
        if before is not None:
            return f"{text}, last period {before / previous.credits_limit:.0%}"
        return f"{text}; last period's history does not reach that day"
    return text
