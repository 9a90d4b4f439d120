"""Per-day figures from one series' samples, saying where the samples cannot tell.

Samples come at irregular times (every minute while the TUI runs, hourly from cron, hourly in
periods the history has thinned, nothing while nothing runs), and a day's boundaries never
fall on one. The rule, in full:

- **Between samples.** Two consecutive samples of one series (:class:`~cuadra_top.state.
  forecast.SeriesBreaks`: one account in one billing period) at most ``MAX_GAP`` (6 h) apart
  are joined by a straight line: credits used and storage grow evenly between them, and a day
  boundary inside that stretch splits its consumption in proportion to time. Farther apart,
  nothing is assumed about the stretch: its consumption is attributed to no day, and the
  days it touches are marked, never filled with 0.
- **Period resets.** Credits used restart at 0 at the period start, so when a sample brings a
  new period that began after the previous sample was taken (and after that sample's own
  period start), the reset itself is a point (0 used) and the stretch from it to that sample is known. The stretch from the last sample of the old
  period to the reset is not (how much was spent in the old period's last minutes is not in
  any sample): like a long gap, it counts for no day. Any other break (credits used going
  down without a reset, another plan or limit, two accounts taking turns under one key) joins
  nothing either, so consumption is never negative and never a jump between accounts.
- **Status.** A day is ``complete`` when all of it lies in joined stretches but for at most
  ``COMPLETE_SLACK`` (15 min: the minute before a reset when the TUI samples every minute, a
  monitor started at 00:05); a day not over yet is ``to date`` when it is covered up to its
  newest sample; else ``incomplete`` (its ``credits_used`` is what the joined stretches show,
  a lower bound, and ``covered`` says how much of the day they span); a day with no sample is
  ``no samples``, with no figures.
- **End of the day.** Credits used and storage at the day's end (its last instant, so the day
  a period ends shows that period's final figures) are read off the stretch across midnight;
  when there is none, they are the day's last sample's, and ``end_at`` says when that was.

Days are calendar days of a :class:`~cuadra_top.display_time.DisplayZone`, found as UTC
instants: a day across a daylight-saving change is 23 or 25 hours long and is counted as such.
Rounding telescopes: each day is the difference of the rounded running total at its ends, so
the days of a stretch add up exactly to its consumption.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from cuadra_top.clock import as_utc
from cuadra_top.display_time import DisplayZone
from cuadra_top.state.forecast import SeriesBreaks
from cuadra_top.state.history import Sample

MAX_GAP = timedelta(hours=6)
"""Consecutive samples at most this far apart are joined by a straight line."""
COMPLETE_SLACK = timedelta(minutes=15)
"""A day missing at most this much coverage is still complete."""


class DayStatus(StrEnum):
    COMPLETE = "complete"
    TO_DATE = "to date"
    INCOMPLETE = "incomplete"
    NO_SAMPLES = "no samples"


@dataclass(frozen=True)
class Day:
    """One calendar day of one series. Times are UTC; ``None`` where the samples do not tell."""

    day: date
    start: datetime
    end: datetime
    status: DayStatus
    samples: int
    covered: timedelta
    """How much of the day lies in joined stretches (see the module's rule)."""
    credits_used: int | None
    """Credits consumed that day (None: no stretch of the day is known)."""
    credits_used_end: int | None
    """Credits used in the period at ``end_at``."""
    credits_limit: int | None
    storage_used_end: int | None
    storage_limit: int | None
    end_at: datetime | None
    """The moment the end figures are from: ``end`` when the stretch across midnight is known,
    else the day's last sample."""
    period_start: datetime | None
    period_end: datetime | None
    """The billing period the day belongs to (the one in force at its end)."""

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class _Point:
    at: float
    used: int
    storage: int
    sample: Sample
    """The real sample, or for a reset point the sample that brought the new period."""
    real: bool


class Curve:
    """One series' samples as piecewise-linear credits and storage (see the module's rule)."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        ordered = sorted((_normalised(s) for s in samples), key=lambda s: s.at)
        self.samples = ordered
        self._sample_times = [s.at.timestamp() for s in ordered]
        points: list[_Point] = []
        joined: list[bool] = []  # joined[i]: the stretch from points[i] to points[i + 1] is known
        breaks = SeriesBreaks()
        for sample in ordered:
            at = sample.at.timestamp()
            starts = breaks.starts(sample)
            if points:
                before = points[-1]
                if not starts:
                    joined.append(at - before.at <= MAX_GAP.total_seconds())
                elif _is_reset(before.sample, sample):
                    assert sample.period_start is not None
                    reset = sample.period_start.timestamp()
                    joined.append(False)  # the old period's last stretch: unknown
                    points.append(_Point(reset, 0, sample.storage_used, sample, real=False))
                    joined.append(at - reset <= MAX_GAP.total_seconds())
                else:
                    joined.append(False)
            points.append(_Point(at, sample.credits_used, sample.storage_used, sample, real=True))
        self._points = points
        self._times = [p.at for p in points]
        self._joined = joined
        used, covered = [0], [0.0]
        for index, known in enumerate(joined):
            left, right = points[index], points[index + 1]
            used.append(used[-1] + (right.used - left.used if known else 0))
            covered.append(covered[-1] + (right.at - left.at if known else 0.0))
        self._used_total = used
        self._covered_total = covered

    def _locate(self, t: float) -> tuple[int, float] | None:
        """(i, fraction) of ``t`` inside the known stretch from point i; None outside any."""
        index = bisect_right(self._times, t) - 1
        if index < 0 or index >= len(self._joined) or not self._joined[index]:
            return None
        left, right = self._times[index], self._times[index + 1]
        return index, (t - left) / (right - left) if right > left else 1.0

    def consumed(self, t: datetime) -> int:
        """Credits attributed to known stretches up to ``t`` (rounded; non-decreasing)."""
        seconds = as_utc(t).timestamp()
        index = bisect_right(self._times, seconds) - 1
        if index < 0:
            return 0
        where = self._locate(seconds)
        if where is None:
            return self._used_total[index]
        index, fraction = where
        step = self._used_total[index + 1] - self._used_total[index]
        return self._used_total[index] + round(step * fraction)

    def covered(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) lies in known stretches."""
        return timedelta(seconds=max(self._covered_until(end) - self._covered_until(start), 0.0))

    def _covered_until(self, t: datetime) -> float:
        seconds = as_utc(t).timestamp()
        index = bisect_right(self._times, seconds) - 1
        if index < 0:
            return 0.0
        where = self._locate(seconds)
        if where is None:
            return self._covered_total[index]
        index, fraction = where
        return self._covered_total[index] + (self._covered_total[index + 1] - self._covered_total[index]) * fraction

    def just_before(self, t: datetime) -> tuple[int, int, Sample] | None:
        """(credits used, storage, the sample whose terms apply) at the last instant before
        ``t``, when a known stretch reaches ``t``; else None."""
        seconds = as_utc(t).timestamp()
        index = bisect_left(self._times, seconds) - 1
        if index < 0 or index >= len(self._joined) or not self._joined[index]:
            return None
        left, right = self._points[index], self._points[index + 1]
        span = right.at - left.at
        fraction = (seconds - left.at) / span if span > 0 else 1.0
        used = left.used + round((right.used - left.used) * fraction)
        storage = left.storage + round((right.storage - left.storage) * fraction)
        return used, storage, right.sample

    def between(self, start: datetime, end: datetime) -> list[Sample]:
        """The samples in [start, end)."""
        low = bisect_left(self._sample_times, as_utc(start).timestamp())
        high = bisect_left(self._sample_times, as_utc(end).timestamp())
        return self.samples[low:high]

    def first_after(self, t: datetime) -> Sample | None:
        index = bisect_left(self._sample_times, as_utc(t).timestamp())
        return self.samples[index] if index < len(self.samples) else None


def daily(samples: Sequence[Sample], zone: DisplayZone, *, now: datetime,
          since: datetime | None = None, until: datetime | None = None) -> list[Day]:
    """One :class:`Day` per calendar day of ``zone``, from the day of the first sample at or
    after ``since`` to the day of the last one before ``until`` (whole days: samples outside
    the range still count for its first and last day). Empty when no sample is in the range.
    ``samples`` are one series' (several accounts' samples would read as breaks)."""
    curve = Curve(samples)
    in_range = [s for s in curve.samples
                if (since is None or s.at >= as_utc(since)) and (until is None or s.at < as_utc(until))]
    if not in_range:
        return []
    now = as_utc(now)
    days: list[Day] = []
    day = zone.day_of(in_range[0].at)
    last = zone.day_of(in_range[-1].at)
    while day <= last:
        days.append(_day(curve, zone, day, now))
        day += timedelta(days=1)
    return days


def _day(curve: Curve, zone: DisplayZone, day: date, now: datetime) -> Day:
    start, end = zone.day_start(day), zone.day_start(day + timedelta(days=1))
    inside = curve.between(start, end)
    covered = curve.covered(start, end)
    if not inside:
        following = curve.first_after(end)
        period = following if following is not None and following.period_start is not None \
            and following.period_start <= start else None
        return Day(day, start, end, DayStatus.NO_SAMPLES, 0, covered, None, None, None, None, None, None,
                   period.period_start if period else None, period.period_end if period else None)
    over = end <= now
    needed_until = end if over else min(inside[-1].at, end)
    missing = (needed_until - start) - curve.covered(start, needed_until)
    if missing <= COMPLETE_SLACK:
        status = DayStatus.COMPLETE if over else DayStatus.TO_DATE
    else:
        status = DayStatus.INCOMPLETE
    used = curve.consumed(end) - curve.consumed(start) if covered > timedelta(0) else None
    at_end = curve.just_before(end)
    if at_end is not None:
        used_end, storage_end, terms = at_end
        end_at = end
    else:
        terms = inside[-1]
        used_end, storage_end, end_at = terms.credits_used, terms.storage_used, terms.at
    return Day(day, start, end, status, len(inside), covered, used, used_end, terms.credits_limit, storage_end,
               terms.storage_limit, end_at, terms.period_start, terms.period_end)


def _is_reset(before: Sample, after: Sample) -> bool:
    """``after`` brings a new period that began after ``before`` was taken: credits used
    restarted at 0 at ``after.period_start``."""
    start = after.period_start
    if start is None or not before.at < start <= after.at:
        return False
    return before.period_start is not None and start > before.period_start


def _normalised(sample: Sample) -> Sample:
    return replace(
        sample, at=as_utc(sample.at),
        period_start=None if sample.period_start is None else as_utc(sample.period_start),
        period_end=None if sample.period_end is None else as_utc(sample.period_end),
    )
