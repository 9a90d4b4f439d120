"""Trends: every successful fetch recorded, and each org's forecast kept up to date.

The SQLite history is the durable record (shared with a cron ``--once``); in memory each org
keeps a small window of its current series (dense for the last day, sparse before), enough
for the forecast and the sparkline, so a monitor of hundreds of orgs stays small. SQLite
calls run in a worker thread so the event loop never waits on the disk, and samples are
written in batches: whatever arrived while the previous write ran goes in the next one.

In memory everything is per org name (what the screens ask for); on disk per series key
(:func:`cuadra_top.state.identity.series_key`), so two configs that call different accounts
by one name never share a history. An org's key is what ``load`` was told, or what its
answers carry (``OrgResult.key``); when an answer brings another key (a ``token_command``'s
first token, or a token of another account) the window starts over from that key's history.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cuadra_top.api.models import Usage
from cuadra_top.state.result import OrgResult
from cuadra_top.clock import utc_now
from cuadra_top.state.forecast import Forecast, SeriesBreaks, forecast
from cuadra_top.display_time import DisplayZone
from cuadra_top.state.history import History, Sample, default_history_path, sample_of
from cuadra_top.state.periods import Period, periods_of

DENSE_SPAN = timedelta(hours=24)
DENSE_STEP = timedelta(minutes=10)
SPARSE_STEP = timedelta(hours=3)
HISTORY_STEP = timedelta(seconds=60)
"""At most one sample per org per minute goes to the history file: at a 1 s interval every
sample would cost 500 orgs 43 million rows a day, and a commit's share of a core. The
window in memory still takes every one; the newest of each minute is held back and written
when a later minute's sample arrives, at ``flush`` and at ``close``."""
PERIODS_SPAN = timedelta(days=395)
"""How far back the History tab reads: all the history keeps."""
FORECAST_EVERY = timedelta(seconds=60)
"""A forecast is recomputed at most this often per org (the rate cannot move faster)."""
RECENT_SPAN = DENSE_SPAN
RECENT_SLOTS = 48
"""The overview's sparkline: the last day in half hours (the window keeps one sample per 10
minutes of it), which a cell of 6 to 24 characters groups by 8 to 2."""


@dataclass(frozen=True)
class Slices:
    """Equal slices of a span, the last one holding the moment they were cut at. They are cut
    at whole multiples of their length since the epoch, so the same samples fall in the same
    slices until the newest slice ends (the screen redraws nothing in between)."""

    number: int
    """The newest slice's, counted from the epoch."""
    starts: tuple[datetime, ...]

    @staticmethod
    def number_at(now: datetime, span: timedelta = RECENT_SPAN, count: int = RECENT_SLOTS) -> int:
        return math.floor(now.timestamp() / (span.total_seconds() / count))

    @classmethod
    def at(cls, now: datetime, span: timedelta = RECENT_SPAN, count: int = RECENT_SLOTS) -> Slices:
        step = span.total_seconds() / count
        number = cls.number_at(now, span, count)
        return cls(number, tuple(datetime.fromtimestamp((number + 1 - count + i) * step, timezone.utc)
                                 for i in range(count)))

    def of(self, sample: Sample) -> int | None:
        """The slice of ``sample``; None before the first, the last one after it."""
        slot = bisect_right(self.starts, sample.at) - 1
        return slot if slot >= 0 else None


def recent_credits(samples: Sequence[Sample], slices: Slices) -> tuple[int | None, ...]:
    """Credits used at the end of each slice, oldest first: the newest sample of each, None for a
    slice without one (the program was not running then, or the period began after it): a gap
    says so rather than guessing. ``samples`` are in time order (a :class:`Window`'s): the walk
    back stops at the first one before the first slice, and compares datetimes, nothing else
    (~10 us for a day of samples, 500 orgs a screen)."""
    starts = slices.starts
    values: list[int | None] = [None] * len(starts)
    slot = len(starts) - 1
    first, start = starts[0], starts[slot]
    for sample in reversed(samples):  # newest first: the first one seen in a slice is its newest
        at = sample.at
        if at < start:
            if at < first:
                break
            while at < start:
                slot -= 1
                start = starts[slot]
        if values[slot] is None:
            values[slot] = sample.credits_used
    return tuple(values)


@dataclass(frozen=True)
class _Recent:
    """An org's :func:`recent_credits`, with what they were computed from."""

    window: Window
    slices: Slices
    count: int
    last: Sample
    before_last: Sample | None
    values: tuple[int | None, ...]

    def moved_on(self, samples: list[Sample]) -> tuple[int | None, ...] | None:
        """The values for ``samples`` (this window's now, in the same slices) when only the
        newest sample moved since: one appended, or the provisional newest replaced (what each
        answer does); None when they must be counted again."""
        last, before = samples[-1], (samples[-2] if len(samples) > 1 else None)
        appended = len(samples) == self.count + 1 and before is self.last
        replaced = len(samples) == self.count and before is not None and before is self.before_last
        slot = self.slices.of(last)
        if not (appended or replaced) or slot is None:
            return None
        values = list(self.values)
        gone = self.slices.of(self.last) if replaced else None
        if gone is not None:  # the replaced sample was the newest of its slice
            if self.slices.of(before) != gone:
                return None  # that slice may be left empty, or hold one from further back
            values[gone] = before.credits_used
        values[slot] = last.credits_used
        return tuple(values)


@dataclass
class Window:
    """An org's samples of its current series (one account, one period; see
    :class:`~cuadra_top.state.forecast.SeriesBreaks`), thinned by age; the newest is always exact."""

    samples: list[Sample]
    _breaks: SeriesBreaks = field(default_factory=SeriesBreaks, repr=False, compare=False)

    def __post_init__(self) -> None:
        for sample in self.samples:
            self._breaks.starts(sample)

    def add(self, sample: Sample) -> None:
        samples = self.samples
        if samples:
            sample = _sharing(sample, samples[-1])
        if self._breaks.starts(sample):
            samples.clear()  # a new period, plan or account: the old series says nothing about this one
        if len(samples) >= 2 and samples[-1].at - samples[-2].at < DENSE_STEP:
            samples[-1] = sample  # the newest stays provisional until DENSE_STEP after the one before
        else:
            samples.append(sample)
        if len(samples) % 32 == 0:
            self.thin(sample.at)

    def thin(self, now: datetime) -> None:
        """Keep one sample per DENSE_STEP in the last day and one per SPARSE_STEP before."""
        kept: list[Sample] = []
        for sample in self.samples:
            step = DENSE_STEP if now - sample.at <= DENSE_SPAN else SPARSE_STEP
            if kept and sample.at - kept[-1].at < step and sample is not self.samples[-1]:
                continue
            kept.append(sample)
        self.samples[:] = kept

    def credits_series(self) -> list[float]:
        return [float(sample.credits_used) for sample in self.samples]


_SHARED_FIELDS = ("org", "credits_limit", "purchased_balance", "storage_limit", "period_start", "period_end",
                  "plan_tier")
"""What a series keeps from one sample to the next (its name, limits, period and plan)."""


def _sharing(sample: Sample, previous: Sample) -> Sample:
    """``sample`` holding ``previous``'s objects where their values are the same: each answer
    parses its own copies (of the period's two datetimes, the plan, the limits), and a
    window of hundreds of samples per org would keep hundreds of copies. Cheap when the
    values are already shared (the history's reads share them)."""
    same = {}
    for name in _SHARED_FIELDS:
        mine, theirs = getattr(sample, name), getattr(previous, name)
        if mine is not theirs and mine == theirs and type(mine) is type(theirs) and (
                not isinstance(mine, datetime) or mine.tzinfo is theirs.tzinfo or mine.utcoffset() == theirs.utcoffset()):
            same[name] = theirs
    return replace(sample, **same) if same else sample


class Trends:
    """History plus a forecast per org; works without history (``--no-history``, the demo)."""

    def __init__(self, history: History | None, now: Callable[[], datetime], *,
                 open_later: Path | None = None) -> None:
        """``open_later``: a history file to open in a thread on the first ``load`` instead
        (its integrity check reads the whole file: ~80 ms for a year of 50 orgs, before the
        TUI could draw anything); samples recorded before then wait in memory."""
        self.history = history
        self._history_path = open_later if history is None else None
        self.now = now
        self.windows: dict[str, Window] = {}
        self.forecasts: dict[str, Forecast] = {}
        self.last_good: dict[str, datetime] = {}
        """When each org last answered: a real fetch, now or in the history (not a demo backfill)."""
        self.keys: dict[str, str] = {}
        """Each org's history series key, once ``load`` or an answer told it."""
        self._forecast_at: dict[str, datetime] = {}
        self._forecast_key: dict[str, tuple[int, datetime]] = {}
        self._recent: dict[str, _Recent] = {}
        self._slices: Slices | None = None
        self._wanted: set[str] = set()
        """Orgs whose history ``load`` was asked for: read again when their key changes."""
        self._reads: set[asyncio.Future[None]] = set()
        self._unwritten: list[tuple[str, str, datetime, Usage]] = []
        self._written_at: dict[str, datetime] = {}  # per key
        self._held: dict[str, tuple[str, str, datetime, Usage]] = {}  # per key
        self._writer: asyncio.Future[None] | None = None

    @property
    def warnings(self) -> list[str]:
        return list(self.history.warnings) if self.history else []

    @property
    def keeps_history(self) -> bool:
        """Whether there is a history file (open, or to open on the first ``load``)."""
        return self.history is not None or self._history_path is not None

    async def periods_for(self, org: str, zone: DisplayZone) -> list[Period]:
        """The org's account, period by period (oldest first): the history's samples of the
        last 13 months (every half hour for the last five weeks, every three hours before),
        with what this run holds in memory and has not written yet."""
        now = self.now()
        samples: dict[datetime, Sample] = {}
        key = self.keys.get(org)
        if self.history is not None and key is not None:
            history = self.history
            stored = await asyncio.to_thread(history.sampled, key, now - PERIODS_SPAN, now - timedelta(days=35),
                                             timedelta(minutes=30), timedelta(hours=3), name=org)
            samples.update((s.at, s) for s in stored)
        window = self.windows.get(org)
        for sample in window.samples if window is not None else ():
            samples.setdefault(sample.at, sample)
        return await asyncio.to_thread(periods_of, list(samples.values()), zone, now)

    def current_period(self, org: str, zone: DisplayZone) -> Period | None:
        """The org's current period from what this run holds in memory (its window): cheap,
        for a chart redrawn at every answer."""
        window = self.windows.get(org)
        if window is None or not window.samples:
            return None
        return periods_of(window.samples, zone, self.now())[-1]

    def latest_answers(self, orgs: list[tuple[str, str]]) -> dict[str, tuple[datetime, dict]]:
        """The newest stored answer of each ``(name, site)`` org, read through a read-only
        connection with no integrity check (the full open comes later: it reads the whole
        file). Blocking: call it in a thread."""
        path = self.history.path if self.history is not None else self._history_path
        if path is None:
            return {}
        peek = History(path, read_only=True)
        try:
            return peek.latest(orgs)
        finally:
            peek.close()

    async def load(self, orgs: Iterable[str], keys: Mapping[str, str | None] | None = None) -> None:
        """Fill each org's window from the history (the current series, roughly).

        ``keys``: each org's series key (``Fleet.series_keys``); an org it leaves out is read
        under its own name. None for an org means its key is not known yet (a token_command
        before its first run): its history is read when its first answer brings the key. A
        key an answer already brought wins over the one given here."""
        orgs = list(orgs)
        self._wanted.update(orgs)
        for org in orgs:
            if org not in self.keys:
                key = keys.get(org, org) if keys is not None else org
                if key is not None:
                    self.keys[org] = key
        if self._history_path is not None:
            self.history = await asyncio.to_thread(History, self._history_path)
            self._history_path = None
            self._write_soon()
        await self._read({org: self.keys[org] for org in orgs if org in self.keys})

    async def _read(self, keys: Mapping[str, str]) -> None:
        """Read these orgs' series from the history in a thread and merge them into the windows
        (unless an org's key changed meanwhile: that history is then another account's)."""
        if self.history is None or not keys:
            return
        since = self.now() - timedelta(days=32)
        dense_since = self.now() - DENSE_SPAN
        history = self.history

        def read() -> dict[str, list[Sample]]:
            return {org: history.sampled(key, since, dense_since, DENSE_STEP, SPARSE_STEP, name=org)
                    for org, key in keys.items()}

        for org, samples in (await asyncio.to_thread(read)).items():
            if self.keys.get(org) != keys[org]:
                continue
            if samples:
                self.last_good[org] = max(samples[-1].at, self.last_good.get(org, samples[-1].at))
            self.add_samples(org, samples)

    def _read_soon(self, org: str, key: str) -> None:
        if self.history is None:
            return  # read by ``load`` once it opens the file
        reading = asyncio.ensure_future(self._read({org: key}))
        self._reads.add(reading)
        reading.add_done_callback(self._reads.discard)

    def add_samples(self, org: str, samples: Iterable[Sample]) -> None:
        """Samples from elsewhere (the history, a demo backfill), merged in time order with
        what the window holds (the history may arrive after the first live answer)."""
        old = self.windows.get(org)
        merged = sorted([*(old.samples if old else []), *samples], key=lambda sample: sample.at)
        window = self.windows[org] = Window([])
        for sample in merged:
            window.add(sample)
        window.thin(self.now())
        self._forecast_key.pop(org, None)

    async def record(self, result: OrgResult) -> None:
        """Record a successful fetch; failures leave history and forecast alone."""
        if result.fetched is None:
            return
        name = result.name
        key = result.key or self.keys.get(name) or name
        previous = self.keys.get(name)
        if key != previous:
            self.keys[name] = key
            if previous is not None:  # another series now: what the window holds is not its past
                self.windows.pop(name, None)
                self._forecast_key.pop(name, None)
            if name in self._wanted:
                self._read_soon(name, key)
        sample = sample_of(name, result.fetched.fetched_at, result.fetched.usage)
        self.windows.setdefault(name, Window([])).add(sample)
        self.last_good[name] = sample.at
        if self.history is not None or self._history_path is not None:
            entry = (key, name, sample.at, result.fetched.usage)
            last = self._written_at.get(key)
            if last is not None and timedelta(0) <= sample.at - last < HISTORY_STEP:
                self._held[key] = entry  # the newest of this minute; written if nothing newer comes
                return
            self._held.pop(key, None)
            self._written_at[key] = sample.at
            self._unwritten.append(entry)
            self._write_soon()

    def _release_held(self) -> None:
        self._unwritten.extend(self._held.values())
        self._held.clear()

    def _write_soon(self) -> None:
        if self.history is not None and self._unwritten and (self._writer is None or self._writer.done()):
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        """One write at a time; each takes every sample that came in meanwhile (one commit)."""
        assert self.history is not None
        while self._unwritten:
            batch, self._unwritten = self._unwritten, []
            await asyncio.to_thread(self.history.record_many, batch)

    async def flush(self) -> None:
        """Wait until every recorded sample is in the history (the held newest ones too) and
        every history read an answer started is in the windows."""
        while pending := [reading for reading in self._reads if not reading.done()]:
            await asyncio.gather(*pending)
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        self._release_held()
        if self._unwritten:
            await self._write()

    def forecast_for(self, org: str) -> Forecast | None:
        """The org's forecast, recomputed when its samples changed: at once when one was added,
        at most every FORECAST_EVERY when only the newest moved (a poll every few seconds)."""
        window = self.windows.get(org)
        if window is None or not window.samples:
            return None
        now = self.now()
        count = len(window.samples)
        key = (count, window.samples[-1].at)
        last = self._forecast_at.get(org)
        cached_count, cached_at = self._forecast_key.get(org, (None, None))
        stale = key != (cached_count, cached_at) and (
            last is None or count != cached_count or not (timedelta(0) <= now - last < FORECAST_EVERY)
        )
        if stale:
            self.forecasts[org] = forecast(window.samples, now)
            self._forecast_at[org] = now
            self._forecast_key[org] = key
        return self.forecasts[org]

    def series(self, org: str) -> list[float]:
        window = self.windows.get(org)
        return window.credits_series() if window else []

    def recent_credits(self, org: str) -> tuple[int | None, ...]:
        """The org's credits used over the last day, slice by slice (:func:`recent_credits`):
        empty without samples. Kept until a sample or the newest slice changes, and brought up
        to date from what was kept when only the newest sample moved: a screen that asks for
        all of 500 orgs with a day of samples each, which have all answered since, pays ~1.5 ms
        rather than the 7-14 ms of counting them afresh (which it does when the slices move
        on, every half hour, or when several answers came in between)."""
        window = self.windows.get(org)
        if window is None or not window.samples:
            self._recent.pop(org, None)
            return ()
        samples = window.samples
        now = self.now()
        slices = self._slices
        if slices is None or slices.number != Slices.number_at(now):
            slices = self._slices = Slices.at(now)  # one object per slicing: compared by identity below
        kept = self._recent.get(org)
        values = None
        if kept is not None and kept.window is window and kept.slices is slices:
            if kept.count == len(samples) and kept.last is samples[-1]:
                return kept.values
            values = kept.moved_on(samples)
        if values is None:
            values = recent_credits(samples, slices)
        self._recent[org] = _Recent(window, slices, len(samples), samples[-1],
                                    samples[-2] if len(samples) > 1 else None, values)
        return values

    async def thin_history(self) -> None:
        if self.history is not None:
            await asyncio.to_thread(self.history.thin, self.now())

    def close(self) -> None:
        """Write what is left (waiting for a write in flight: the history's lock) and close."""
        self._release_held()
        if self.history is None and self._history_path is not None and self._unwritten:
            self.history = History(self._history_path)  # closed before it was opened: keep the samples
        self._history_path = None
        if self.history is not None:
            batch, self._unwritten = self._unwritten, []
            self.history.record_many(batch)
            self.history.close()


def recording(fetch: Callable[[str], Awaitable[OrgResult]], trends: Trends) -> Callable[[str], Awaitable[OrgResult]]:
    """Wrap a fetch so every result passes through ``trends.record`` before anyone sees it."""

    async def fetch_and_record(name: str) -> OrgResult:
        result = await fetch(name)
        await trends.record(result)
        return result

    return fetch_and_record


def open_trends(use_history: bool, now: Callable[[], datetime] = utc_now, *, open_later: bool = False) -> Trends:
    """History and forecasts: the user's SQLite history, or none (``--no-history``, the demo,
    ``history = false``). ``open_later`` (the TUI): the file is opened in a thread once the
    screen is up; its warnings then show there, else the caller prints ``trends.warnings``."""
    if not use_history:
        return Trends(None, now)
    if open_later:
        return Trends(None, now, open_later=default_history_path())
    return Trends(History(default_history_path()), now)
