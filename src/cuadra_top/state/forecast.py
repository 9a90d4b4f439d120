"""Burn rate and projected exhaustion from the local history.

Only the current series counts: the newest run of samples that can all be one account's in one
billing period (see :class:`SeriesBreaks`). Subscription credits reset at the period start, and
a rate that spans a reset, or two accounts that share a name, is meaningless. The rate is a least-squares slope of the cumulative
``credits_used`` over the last 24 hours, which stays close to the mean rate when usage comes
in bursts (a two-point rate would swing with whichever burst happened to be at either end).
The remaining amount, on the other hand, is exact: it comes from the newest sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from cuadra_top import format as fmt
from cuadra_top.clock import as_utc, iso_utc
from cuadra_top.state.history import Sample

RATE_WINDOW = timedelta(hours=24)
MIN_SPAN = timedelta(minutes=10)
MIN_SAMPLES = 2
TOO_FEW = "too few samples (need 2 over at least 10 minutes)"
DAY = 86400.0
_MAX_PROJECTION = timedelta(days=3650)
"""Projections further out than ten years are not projections; also keeps datetime in range."""


class Pool(StrEnum):
    """What runs out, in the order the API spends credits (NOTES.md): the subscription's,
    then the purchased balance, then either overage or, with a hard cap, 402 errors."""

    SUBSCRIPTION = "subscription"
    PURCHASED = "purchased"
    OVERAGE = "overage"
    HARD_CAP = "hard_cap"


@dataclass(frozen=True)
class Transition:
    """One step of the chain: ``kind`` runs out (or, for OVERAGE/HARD_CAP, begins) at ``at``;
    ``credits_left`` is what is left now until then (0: it already happened)."""

    kind: Pool
    at: datetime
    credits_left: int
    before_reset: bool
    """Whether it comes before the period resets (a later one is not going to happen: the
    subscription credits refill first)."""

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "at": iso_utc(self.at), "credits_left": self.credits_left,
                "before_reset": self.before_reset}


@dataclass(frozen=True)
class Forecast:
    """What the history says about the current period. Rates are per day, times are UTC.

    ``credits_exhausted_at`` is the projection at ``burn_rate_per_day`` even when it falls
    after ``period_end`` (the credits reset first then); ``runs_out_before_period_end`` is
    what alerting should look at.
    """

    burn_rate_per_day: float | None
    period_burn_rate_per_day: float | None
    credits_exhausted_at: datetime | None
    total_exhausted_at: datetime | None
    storage_growth_per_day: float | None
    storage_full_at: datetime | None
    basis_hours: float
    period_end: datetime | None
    reason: str | None
    transitions: tuple[Transition, ...] = ()
    """The chain, in order, as far as it goes before the reset (the first one that does not
    come before it ends the list)."""
    overage_by_reset: float | None = None
    """Without a hard cap: the credits over by the reset at this rate (None: not projected)."""
    purchased_known: bool = True
    """False when the credential does not see the purchased balance (not an admin): the chain
    stops at the subscription credits, since the balance may cover what follows."""

    def transition(self, kind: Pool) -> Transition | None:
        return next((t for t in self.transitions if t.kind is kind), None)

    def first_that_matters(self, now: datetime) -> Transition | None:
        """The moment that hurts first, before the reset: 402 errors or the start of overage;
        else a pool running out (what is spent next is still prepaid). None: nothing before
        the reset, or nothing projected."""
        ahead = [t for t in self.transitions if t.before_reset and t.at > as_utc(now)]
        for kinds in ((Pool.HARD_CAP, Pool.OVERAGE), (Pool.PURCHASED, Pool.SUBSCRIPTION)):
            found = [t for t in ahead if t.kind in kinds]
            if found:
                return found[0]
        return None

    def chain(self, now: datetime) -> str:
        """The chain for people: "subscription credits run out in 2h 30m (Tue 14:30 UTC),
        purchased balance in 7h 30m (Tue 19:30 UTC), then 402 errors (hard cap)"."""
        now = as_utc(now)
        if not self.transitions:
            return self.summary(now)
        parts: list[str] = []
        for step in self.transitions:
            parts.append(_describe_step(step, now, self.period_end, self.overage_by_reset))
            if not step.before_reset:
                break
        if not self.purchased_known and self.transitions[-1].kind is Pool.SUBSCRIPTION \
                and self.transitions[-1].before_reset:
            parts.append("then purchased credits, if any (not seen by this credential)")
        text = ", ".join(parts)
        if self.basis_hours:
            text += f" · from {self.basis_hours:.0f} h of samples" if self.basis_hours >= 1 else \
                f" · from {self.basis_hours * 60:.0f} min of samples"
        return text

    @property
    def runs_out_before_period_end(self) -> bool:
        """True when the subscription credits are (projected to be) gone before the reset.

        False when the period end is unknown: there is nothing to compare with.
        """
        return (
            self.credits_exhausted_at is not None
            and self.period_end is not None
            and self.credits_exhausted_at < self.period_end
        )

    def summary(self, now: datetime) -> str:
        """One line for people: when credits run out, relative to ``now`` and the reset."""
        now = as_utc(now)
        at = self.credits_exhausted_at
        if at is None:
            return f"no forecast: {self.reason or 'not enough data'}"
        if at <= now:
            ago = (now - at).total_seconds()
            text = "credits have run out" if ago < 60 else f"credits ran out {fmt.duration(ago, precision=2)} ago"
        elif self.period_end is not None and at >= self.period_end:
            resets = fmt.duration((self.period_end - now).total_seconds(), precision=2)
            text = f"at this rate credits last past the period end (resets in {resets})"
        else:
            text = f"at this rate credits run out in {fmt.duration((at - now).total_seconds(), precision=2)}"
            if self.period_end is not None:
                text += f", {_gap(self.period_end - at)} before the period resets"
        total = self.total_exhausted_at
        if total is not None and total > now and total != at and (self.period_end is None or at < self.period_end):
            text += f"; purchased credits last {fmt.duration((total - now).total_seconds(), precision=2)}"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "burn_rate_per_day": self.burn_rate_per_day,
            "credits_exhausted_at": iso_utc(self.credits_exhausted_at),
            "total_exhausted_at": iso_utc(self.total_exhausted_at),
            "storage_full_at": iso_utc(self.storage_full_at),
            "basis_hours": self.basis_hours,
            "transitions": [step.as_json() for step in self.transitions],
            "overage_by_reset": None if self.overage_by_reset is None else round(self.overage_by_reset),
            "reason": self.reason,
        }


def forecast(samples: Sequence[Sample], now: datetime) -> Forecast:
    """Project the current period from ``samples`` (any order, any org's history).

    ``now`` is only a fallback for an exhaustion time that no sample shows.
    """
    ordered = sorted((_normalised(s) for s in samples), key=lambda s: s.at)
    if not ordered:
        return Forecast(None, None, None, None, None, None, 0.0, None, TOO_FEW)
    newest = ordered[-1]
    segment = current_series(ordered)
    window, basis = _rate_window(segment)

    rate = _slope([(s.at, s.credits_used) for s in window]) if window else None
    period_rate = _average_rate(segment)
    basis_hours = basis.total_seconds() / 3600 if window else 0.0

    limit = newest.credits_limit or None
    credits_at: datetime | None = None
    total_at: datetime | None = None
    reason: str | None = None

    if limit is None:
        reason = "credits are unlimited"
    elif newest.credits_used >= limit:
        credits_at = _crossing(segment, lambda s: (s.credits_limit or limit) - s.credits_used, now)
    elif rate is None:
        reason = TOO_FEW
    elif rate <= 0:
        reason = "no consumption in the last 24 h" if _within_day(window, newest) else "no consumption this period"
    else:
        credits_at = _project(newest.at, limit - newest.credits_used, rate)
        if credits_at is None:
            reason = "credits last more than 10 years at this rate"

    if limit is not None and newest.purchased_balance is not None:
        total_left = max(limit - newest.credits_used, 0) + newest.purchased_balance
        if total_left <= 0:
            total_at = _crossing(segment, _total_left, now)
        elif rate is not None and rate > 0:
            total_at = _project(newest.at, total_left, rate)

    growth, full_at = _storage(segment, now)
    transitions, overage_by_reset, purchased_known = _transitions(segment, rate, now)
    return Forecast(
        burn_rate_per_day=rate,
        period_burn_rate_per_day=period_rate,
        credits_exhausted_at=credits_at,
        total_exhausted_at=total_at,
        storage_growth_per_day=growth,
        storage_full_at=full_at,
        basis_hours=basis_hours,
        period_end=newest.period_end,
        reason=reason,
        transitions=transitions,
        overage_by_reset=overage_by_reset,
        purchased_known=purchased_known,
    )


def _transitions(segment: list[Sample], rate: float | None,
                 now: datetime) -> tuple[tuple[Transition, ...], float | None, bool]:
    """The chain of the newest sample's pools at ``rate``: subscription, purchased balance,
    then overage or (hard cap) 402. Steps already past carry the time they happened (from the
    samples) and 0 credits left; the list stops at the first step after the reset."""
    newest = segment[-1]
    limit = newest.credits_limit
    purchased = newest.purchased_balance
    if limit is None:
        return (), None, True
    end = newest.period_end
    steps: list[Transition] = []
    burning = rate is not None and rate > 0

    def step(kind: Pool, at: datetime, left: int) -> bool:
        before = end is None or at < end
        steps.append(Transition(kind, at, max(int(left), 0), before))
        return before

    def ahead(left: float) -> datetime | None:
        return _project(newest.at, left, rate) if burning and rate is not None else None

    subscription_left = max(limit - newest.credits_used, 0)
    if subscription_left > 0:
        at = ahead(subscription_left)
        if at is None or not step(Pool.SUBSCRIPTION, at, subscription_left):
            return tuple(steps), None, purchased is not None
    else:
        step(Pool.SUBSCRIPTION, _crossing(segment, lambda s: (s.credits_limit or limit) - s.credits_used, now), 0)
        at = newest.at
    left = subscription_left
    in_overage = (newest.overage_credits or 0) > 0
    if purchased is None and not in_overage:
        return tuple(steps), None, False  # the balance may cover what follows: we cannot see it
    if purchased:
        left = subscription_left + purchased
        projected = ahead(left)
        if projected is None or not step(Pool.PURCHASED, projected, left):
            return tuple(steps), None, True
        at = projected
    elif purchased == 0 and any(s.purchased_balance for s in segment):
        step(Pool.PURCHASED, _crossing(segment, _total_left, now), 0)
    if left == 0:  # every prepaid credit is spent already: overage or 402 began
        at = _crossing(segment, _total_left, now) if purchased is not None else at
    if newest.hard_cap:
        step(Pool.HARD_CAP, at, left)
        return tuple(steps), None, True
    if not step(Pool.OVERAGE, at, left):
        return tuple(steps), None, True
    over_by_reset = None
    if end is not None and burning and rate is not None:
        start = max(at, newest.at)
        over_by_reset = (newest.overage_credits or 0) + rate * max((end - start).total_seconds(), 0) / DAY
    return tuple(steps), over_by_reset, True


_STEP_NAMES = {Pool.SUBSCRIPTION: ("subscription credits", "run", "last"),
               Pool.PURCHASED: ("purchased balance", "runs", "lasts")}


def _describe_step(step: Transition, now: datetime, end: datetime | None, over_by_reset: float | None) -> str:
    """One clause of the chain."""
    if step.kind in (Pool.SUBSCRIPTION, Pool.PURCHASED):
        name, run, last = _STEP_NAMES[step.kind]
        if not step.before_reset and end is not None:
            return f"{name} {last} past the reset (in {fmt.duration((end - now).total_seconds(), precision=2)})"
        if step.at <= now:
            ago = (now - step.at).total_seconds()
            return f"{name} ran out" + ("" if ago < 60 else f" {fmt.duration(ago, precision=2)} ago")
        return f"{name} {run} out in {fmt.duration((step.at - now).total_seconds(), precision=2)} " \
               f"({fmt.day_time(step.at)})"
    if step.kind is Pool.HARD_CAP:
        if not step.before_reset:
            return "no 402 before the reset"
        if step.at <= now:
            return "402 errors now (hard cap: every credit is spent)"
        return f"then 402 errors (hard cap) in {fmt.duration((step.at - now).total_seconds(), precision=2)}"
    if not step.before_reset:
        return "no overage before the reset"
    over = "" if over_by_reset is None else f": ~{fmt.thousands(over_by_reset)} credits over by the reset"
    if step.at <= now:
        return f"in overage{over}"
    return f"then overage at this rate{over}"


class SeriesBreaks:
    """Where a new series starts, fed one sample after another in time order.

    A series is what one account reports within one billing period. It ends where the next
    sample cannot be the same account's: another credit or storage limit, plan tier, period
    start or period end, or credits used going down. One more case catches two accounts that
    share a name (and a history key) and take turns: after a drop from P, a sample back at
    P's level or above is P's account returning, not a burst of the other; without this the
    pair (low account, high account) would read as one burst of millions of credits. A
    sample with no plan tier (recorded before tiers were) matches any tier.
    """

    def __init__(self) -> None:
        self._last: Sample | None = None
        self._dropped_from: Sample | None = None

    def starts(self, sample: Sample) -> bool:
        """True when ``sample`` begins a new series (never for the first one seen)."""
        last, self._last = self._last, sample
        if last is None:
            return False
        if not same_terms(last, sample):
            self._dropped_from = None
            return True
        if sample.credits_used < last.credits_used:
            self._dropped_from = last
            return True
        if self._dropped_from is not None and sample.credits_used >= self._dropped_from.credits_used:
            self._dropped_from = None
            return True
        return False


def same_terms(before: Sample, after: Sample) -> bool:
    """Same limits, plan and period: what one account in one period keeps."""
    return (
        before.credits_limit == after.credits_limit
        and before.storage_limit == after.storage_limit
        and (before.plan_tier is None or after.plan_tier is None or before.plan_tier == after.plan_tier)
        and before.period_start == after.period_start
        and before.period_end == after.period_end
    )


def current_series(ordered: Sequence[Sample]) -> list[Sample]:
    """The newest series of ``ordered`` (oldest first)."""
    breaks = SeriesBreaks()
    start = 0
    for index, sample in enumerate(ordered):
        if breaks.starts(sample):
            start = index
    return list(ordered[start:])


def _rate_window(segment: list[Sample]) -> tuple[list[Sample], timedelta]:
    """The last 24 h of the segment if it is enough to go on, else the whole segment."""
    day = [s for s in segment if s.at >= _minus(segment[-1].at, RATE_WINDOW)]
    for candidate in (day, segment):
        if len(candidate) >= MIN_SAMPLES and candidate[-1].at - candidate[0].at >= MIN_SPAN:
            return candidate, candidate[-1].at - candidate[0].at
    return [], timedelta(0)


def _within_day(window: list[Sample], newest: Sample) -> bool:
    return bool(window) and window[0].at >= _minus(newest.at, RATE_WINDOW)


def _slope(points: list[tuple[datetime, int]]) -> float | None:
    """Least-squares slope in units per day; None without two distinct times.

    Each point is weighted by the time it stands for (half the gap to each neighbour), so a
    stretch sampled every 30 s by the TUI does not outvote a day sampled every 5 min by cron.
    """
    if len(points) < 2:
        return None
    t0 = points[0][0]
    try:
        xs = [(t - t0).total_seconds() / DAY for t, _ in points]
        ys = [float(y - points[0][1]) for _, y in points]  # relative: a flat line is exactly 0
        ws = [
            ((xs[i + 1] if i + 1 < len(xs) else xs[i]) - (xs[i - 1] if i > 0 else xs[i])) / 2
            for i in range(len(xs))
        ]
        total = math.fsum(ws)
        if total <= 0:
            return None
        mean_x = math.fsum(w * x for w, x in zip(ws, xs)) / total
        mean_y = math.fsum(w * y for w, y in zip(ws, ys)) / total
        sxx = math.fsum(w * (x - mean_x) ** 2 for w, x in zip(ws, xs))
        if sxx <= 0:
            return None
        slope = math.fsum(w * (x - mean_x) * (y - mean_y) for w, x, y in zip(ws, xs, ys)) / sxx
    except (OverflowError, ValueError):  # counts beyond float range: no rate rather than a crash
        return None
    return slope if math.isfinite(slope) else None


def _average_rate(segment: list[Sample]) -> float | None:
    """Credits per day from the first to the newest sample: the exact mean of a cumulative counter."""
    first, last = segment[0], segment[-1]
    span = (last.at - first.at).total_seconds()
    if len(segment) < MIN_SAMPLES or span < MIN_SPAN.total_seconds():
        return None
    try:
        return (last.credits_used - first.credits_used) / span * DAY
    except OverflowError:
        return None


def _project(start: datetime, remaining: float, rate_per_day: float) -> datetime | None:
    try:
        days = remaining / rate_per_day
        if not math.isfinite(days) or days > _MAX_PROJECTION.days:
            return None
        return start + timedelta(days=max(days, 0.0))
    except OverflowError:  # beyond datetime's range
        return None


def _total_left(sample: Sample) -> float:
    if sample.purchased_balance is None or not sample.credits_limit:
        return math.inf
    return max(sample.credits_limit - sample.credits_used, 0) + sample.purchased_balance


def _crossing(samples: list[Sample], left: Any, now: datetime) -> datetime:
    """When ``left(sample)`` first reached zero: the sample after the last one above zero.

    If even the oldest sample shows nothing left, that sample is the earliest we know of.
    """
    for index in range(len(samples) - 1, -1, -1):
        if left(samples[index]) > 0:
            return samples[index + 1].at if index + 1 < len(samples) else as_utc(now)
    return samples[0].at if samples else as_utc(now)


def _storage(ordered: list[Sample], now: datetime) -> tuple[float | None, datetime | None]:
    """The last 24 h of the current series (storage does not reset with the period, but
    another period may well be another account)."""
    newest = ordered[-1]
    day = [s for s in ordered if s.at >= _minus(newest.at, RATE_WINDOW)]
    growth = None
    for candidate in (day, ordered):
        if len(candidate) >= MIN_SAMPLES and candidate[-1].at - candidate[0].at >= MIN_SPAN:
            growth = _slope([(s.at, s.storage_used) for s in candidate])
            break
    limit = newest.storage_limit or None
    if limit is None:
        return growth, None
    if newest.storage_used >= limit:
        return growth, _crossing(ordered, lambda s: (s.storage_limit or math.inf) - s.storage_used, now)
    if growth is None or growth <= 0:
        return growth, None
    return growth, _project(newest.at, limit - newest.storage_used, growth)


def _gap(delta: timedelta) -> str:
    """'9 days' for whole days, else '5h 20m': the slack before the reset."""
    days = int(delta.total_seconds() // DAY)
    if days >= 1:
        return f"{days} day" if days == 1 else f"{days} days"
    return fmt.duration(delta.total_seconds(), precision=2)


def _normalised(sample: Sample) -> Sample:
    """The same sample with every time UTC-aware, so mixed inputs compare (the sample itself when
    it already is: the history's are, and copying hundreds per forecast showed in `status`)."""
    if all(t is None or t.tzinfo is timezone.utc for t in (sample.at, sample.period_start, sample.period_end)):
        return sample
    return replace(
        sample,
        at=as_utc(sample.at),
        period_start=as_utc(sample.period_start) if sample.period_start is not None else None,
        period_end=as_utc(sample.period_end) if sample.period_end is not None else None,
    )


def _minus(value: datetime, delta: timedelta) -> datetime:
    try:
        return value - delta
    except OverflowError:
        return datetime.min.replace(tzinfo=timezone.utc)

