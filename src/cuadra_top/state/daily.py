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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from cuadra_top.clock import as_utc
from cuadra_top.display_time import DisplayZone
from cuadra_top.state.forecast import SeriesBreaks
from cuadra_top.state.history import Sample

MAX_GAP = timedelta(hours=6)
"""Consecutive samples at most this far apart are joined by a straight line."""
_MAX_GAP_SECONDS = MAX_GAP.total_seconds()
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
    """One series' samples as piecewise-linear credits and storage (see the module's rule).

    Samples come in time order through :meth:`add` (the constructor sorts what it is given);
    :meth:`forget_before` lets go of everything wholly before a moment, keeping the running
    totals, so that a year of samples a minute apart is read a day at a time with the same
    figures as if it were all held."""

    def __init__(self, samples: Iterable[Sample] = ()) -> None:
        self.samples: list[Sample] = []
        self._sample_times: list[float] = []
        self._points: list[_Point] = []
        self._times: list[float] = []
        self._joined: list[bool] = []  # joined[i]: the stretch from points[i] to points[i + 1] is known
        self._used_total: list[int] = []  # credits of known stretches up to points[i], from the first sample
        self._covered_total: list[float] = []  # seconds of known stretches up to points[i]
        self._breaks = SeriesBreaks()
        for sample in sorted((_normalised(s) for s in samples), key=lambda s: s.at):
            self.add(sample)

    def add(self, sample: Sample) -> None:
        """The next sample: normalised (:func:`_normalised`), not older than the last one."""
        at = sample.at.timestamp()
        point = _Point(at, sample.credits_used, sample.storage_used, sample, real=True)
        starts = self._breaks.starts(sample)
        if not self._points:
            self._append(point, None)
        elif not starts:
            self._append(point, at - self._points[-1].at <= _MAX_GAP_SECONDS)
        elif _is_reset(self._points[-1].sample, sample):
            assert sample.period_start is not None
            reset = sample.period_start.timestamp()
            reset_point = _Point(reset, 0, sample.storage_used, sample, real=False)
            self._append(reset_point, False)  # the old period's last stretch: unknown
            self._append(point, at - reset <= _MAX_GAP_SECONDS)
        else:
            self._append(point, False)
        self.samples.append(sample)
        self._sample_times.append(at)

    def _append(self, point: _Point, known: bool | None) -> None:
        """``point`` after the last one; ``known``: whether the stretch between them is."""
        if known is None:
            self._used_total.append(0)
            self._covered_total.append(0.0)
        else:
            left = self._points[-1]
            self._joined.append(known)
            self._used_total.append(self._used_total[-1] + (point.used - left.used if known else 0))
            self._covered_total.append(self._covered_total[-1] + (point.at - left.at if known else 0.0))
        self._points.append(point)
        self._times.append(point.at)

    def forget_before(self, t: datetime) -> None:
        """Let go of the samples before ``t`` and of the points before the last one before it
        (which anchors the stretch across ``t``): nothing asked from ``t`` on changes."""
        seconds = as_utc(t).timestamp()
        keep_from = bisect_left(self._times, seconds) - 1
        if keep_from > 0:
            for column in (self._points, self._times, self._joined, self._used_total, self._covered_total):
                del column[:keep_from]
        drop = bisect_left(self._sample_times, seconds)
        if drop:
            del self.samples[:drop]
            del self._sample_times[:drop]

    def _locate(self, t: float) -> tuple[int, float] | None:
        """(i, fraction) of ``t`` inside the known stretch from point i; None outside any."""
        index = bisect_right(self._times, t) - 1
        if index < 0 or index >= len(self._joined) or not self._joined[index]:
            return None
        left, right = self._times[index], self._times[index + 1]
        return index, (t - left) / (right - left) if right > left else 1.0

    def consumed(self, t: datetime) -> int:
        """Credits attributed to known stretches up to ``t`` (rounded; non-decreasing)."""
        base, part = self._running(self._used_total, t)
        return int(base) + round(part)

    def covered(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) lies in known stretches."""
        until = [sum(self._running(self._covered_total, t)) for t in (start, end)]
        return timedelta(seconds=max(until[1] - until[0], 0.0))

    def _running(self, totals: list, t: datetime) -> tuple[float, float]:
        """A running total at ``t``: (its value at the point before, the share of the next step
        up to ``t`` when ``t`` lies in a known stretch, else 0)."""
        seconds = as_utc(t).timestamp()
        index = bisect_right(self._times, seconds) - 1
        if index < 0:
            return 0, 0.0
        where = self._locate(seconds)
        if where is None:
            return totals[index], 0.0
        index, fraction = where
        return totals[index], (totals[index + 1] - totals[index]) * fraction

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


def daily(samples: Iterable[Sample], zone: DisplayZone, *, now: datetime,
          since: datetime | None = None, until: datetime | None = None) -> list[Day]:
    """One :class:`Day` per calendar day of ``zone``, from the day of the first sample at or
    after ``since`` to the day of the last one before ``until`` (whole days: samples outside
    the range still count for its first and last day). Empty when no sample is in the range.
    ``samples`` are one series' (several accounts' samples would read as breaks), any order."""
    ordered = sorted((_normalised(s) for s in samples), key=lambda s: s.at)
    return list(iter_daily(ordered, zone, now=now, since=since, until=until))


def iter_daily(ordered: Iterable[Sample], zone: DisplayZone, *, now: datetime,
               since: datetime | None = None, until: datetime | None = None) -> Iterator[Day]:
    """:func:`daily`'s days one by one, from samples already in time order (a history read
    page by page): each day is given as soon as a sample after its end (or the last sample)
    is in, then its samples are let go, so memory holds about a day of samples whatever the
    length of the history (and the samples before ``since`` that are passed in)."""
    now = as_utc(now)
    since = None if since is None else as_utc(since)
    until = None if until is None else as_utc(until)
    curve = Curve()
    pending: date | None = None  # the next day to give
    pending_end: datetime | None = None
    last: date | None = None  # the day of the newest sample in the range
    last_end: datetime | None = None
    for raw in ordered:
        sample = _normalised(raw)
        curve.add(sample)
        if (since is None or sample.at >= since) and (until is None or sample.at < until):
            if last_end is None or sample.at >= last_end:  # a new day: the zone is asked once a day
                last = zone.day_of(sample.at)
                last_end = zone.day_start(last + timedelta(days=1))
                if pending is None:
                    pending, pending_end = last, last_end
        while pending is not None and last is not None and pending <= last and pending_end is not None \
                and sample.at >= pending_end:
            yield _day(curve, zone, pending, now)
            pending += timedelta(days=1)
            curve.forget_before(pending_end)
            pending_end = zone.day_start(pending + timedelta(days=1))
        if until is not None and sample.at >= until and (pending is None or last is None or pending > last):
            return  # past the range, and every day of it given
    while pending is not None and last is not None and pending <= last:
        yield _day(curve, zone, pending, now)
        pending += timedelta(days=1)


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
    """``sample`` with its times in UTC (the history's already are: then it is kept as is)."""
    if all(value is None or value.tzinfo is timezone.utc
           for value in (sample.at, sample.period_start, sample.period_end)):
        return sample
    return replace(
        sample, at=as_utc(sample.at),
        period_start=None if sample.period_start is None else as_utc(sample.period_start),
        period_end=None if sample.period_end is None else as_utc(sample.period_end),
    )
