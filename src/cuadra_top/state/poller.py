"""Polling: one loop per organization, re-armed only after the previous fetch has ended.

The state layer knows nothing of widgets: a poller keeps an :class:`OrgState` and calls
``on_update(state)`` whenever it changes; the TUI turns that into a message. Scheduling is a
pure function (:func:`next_delay`) so the backoff policy is testable on its own:

- success: the refresh interval;
- 429: at least ``Retry-After`` (else an interval); a 5xx that sends ``Retry-After``: at least that;
- 5xx, network and protocol faults: exponential backoff with full jitter, capped at 5 minutes,
  reset by a success;
- 401, 403, 404 and other 4xx: stop, until the user refreshes by hand (retrying cannot help
  and would only hammer the API).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from cuadra_top.api.client import Fetched
from cuadra_top.api.errors import ApiError, RateLimited
from cuadra_top.debuglog import logger
from cuadra_top.state.result import OrgResult

log = logger("poller")

BACKOFF_CAP = 300.0
MIN_DELAY = 1.0
STALE_AFTER_INTERVALS = 2
DELAYS_KEPT = 32
"""A poller keeps its latest decisions, between DELAYS_KEPT and twice as many (the tests and
the soak read them): with a thousand, 500 orgs held 8 MiB of them after a few hours, and a
long outage, every backoff a float of its own, four times that."""


class Status(StrEnum):
    LOADING = "loading"
    OK = "ok"
    STALE = "stale"
    ERROR = "error"
    PAUSED = "paused"
    STOPPED = "stopped"


def next_delay(error: ApiError | None, failures: int, interval: float, rng: random.Random) -> float | None:
    """Seconds until the next fetch, or None to stop until a manual refresh."""
    if error is None:
        return interval
    if not error.retryable:
        return None
    # The exponent is bounded: after ~1000 failures (days of an outage at the cap) an
    # unbounded 2**n no longer converts to float and would kill the poll loop.
    ceiling = min(BACKOFF_CAP, interval * 2 ** min(max(failures - 1, 0), 64))
    backoff = max(MIN_DELAY, rng.uniform(0, ceiling))
    if error.retry_after is not None:  # a 429 or a 5xx that said when (capped by the API layer)
        return max(error.retry_after, backoff)
    if isinstance(error, RateLimited):
        return max(interval, backoff)
    return backoff


@dataclass
class OrgState:
    """What the monitor knows of one org: the last good data survives every error."""

    name: str
    fetched: Fetched | None = None
    error: ApiError | None = None
    error_at: datetime | None = None
    failures: int = 0
    paused: bool = False
    stopped: bool = False
    in_flight: bool = False
    next_poll_at: datetime | None = None
    requests: int = 0
    cached: Fetched | None = None
    """The newest answer the history kept from an earlier run: shown at once, marked as from
    history, until the first live answer; never fresh (alerts and --check ignore it)."""
    fetch_errors: dict[str, int] = field(default_factory=dict)
    """Failed fetches since the start, per ``ApiError.kind`` (a fixed, small set of keys): what
    an exporter counts as ``cuadra_fetch_errors_total``. Never reset by a success."""
    version: int = 0
    """Bumped on every change, so views can skip redraws when nothing changed."""

    def age(self, now: datetime) -> float | None:
        """Seconds since the last good data, or None if there never was any."""
        return None if self.fetched is None else (now - self.fetched.fetched_at).total_seconds()

    def is_stale(self, now: datetime, interval: float) -> bool:
        age = self.age(now)
        return age is not None and age > STALE_AFTER_INTERVALS * interval

    def status(self, now: datetime, interval: float) -> Status:
        if self.stopped:
            return Status.STOPPED
        if self.paused:
            return Status.PAUSED
        if self.fetched is None:
            return Status.ERROR if self.error else Status.LOADING
        if self.is_stale(now, interval):
            return Status.STALE
        return Status.ERROR if self.error else Status.OK

    def retry_in(self, now: datetime) -> float | None:
        if self.next_poll_at is None or self.paused or self.stopped:
            return None
        return max((self.next_poll_at - now).total_seconds(), 0.0)


class OrgPoller:
    """Polls one org forever; fetches never overlap because the loop awaits each one."""

    def __init__(
        self,
        name: str,
        fetch: Callable[[str], Awaitable[OrgResult]],
        interval: float,
        on_update: Callable[[OrgState], None] = lambda state: None,
        *,
        rng: random.Random | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.state = OrgState(name)
        self.interval = interval
        self._fetch = fetch
        self._on_update = on_update
        self._rng = rng or random.Random()
        self._now = now
        self._wake = asyncio.Event()
        self._forced = False
        self._retime = False
        self._last_start = 0.0
        self.delays: list[float | None] = []
        """The delays chosen, in order (the latest DELAYS_KEPT to 2 x DELAYS_KEPT of them, so a
        monitor left running for months does not grow): the backoff decisions, for the tests."""

    # -- control, called from the UI --------------------------------------------------------
    def refresh_now(self) -> None:
        """Fetch as soon as the current wait (not a fetch under way) can be cut short.
        Also restarts an org stopped by a credential or URL error."""
        self._forced = True
        self._wake.set()

    def set_paused(self, paused: bool) -> None:
        self.state.paused = paused
        self._changed()
        self._wake.set()

    def report(self, error: ApiError) -> None:
        """An error found outside a fetch (the org's config, read afresh, is broken): shown
        like a fetch error, and polling stays stopped until the next manual refresh."""
        self.state.error = error
        self.state.error_at = self._now()
        self.state.stopped = True
        self.state.next_poll_at = None
        self._changed()

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds
        self._retime = True
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            if self._forced:
                self._forced = False
                self.state.stopped = False
                due = loop.time()
            elif self._retime:
                self._retime = False
                if self.state.error is None and self._last_start:
                    due = self._last_start + self.interval
                    # Keep the countdown the views show in step with the new schedule.
                    self.state.next_poll_at = self._now() + timedelta(seconds=max(due - loop.time(), 0.0))
                    self._changed()
            wait = None if (self.state.paused or self.state.stopped) else due - loop.time()
            if wait is None or wait > 0:
                await self._sleep(wait)
                continue  # woken or timed out: look at the flags and the clock again
            self._last_start = loop.time()
            result = await self._poll()
            delay = next_delay(result.error, self.state.failures, self.interval, self._rng)
            self.delays.append(delay)
            if len(self.delays) > 2 * DELAYS_KEPT:
                del self.delays[:-DELAYS_KEPT]
            self._log_decision(result, delay)
            if delay is None:
                self.state.stopped = True
                self.state.next_poll_at = None
            else:
                due = loop.time() + delay
                self.state.next_poll_at = self._now() + timedelta(seconds=delay)
            self._changed()

    def _log_decision(self, result: OrgResult, delay: float | None) -> None:
        name = self.state.name
        if result.error is None:
            log.debug("%s: ok; next poll in %.1f s", name, delay)
        elif delay is None:
            log.info("%s: %s; polling stopped until a manual refresh", name, result.error.message)
        else:
            log.info("%s: %s; backoff %.1f s after %d failure(s)", name, result.error.message, delay,
                     self.state.failures)

    async def _sleep(self, seconds: float | None) -> None:
        """Wait ``seconds`` (forever if None), or until a control call wakes the loop.

        ``asyncio.timeout``, not ``wait_for``: Python 3.11's ``wait_for`` swallows a
        cancellation that arrives once the wake is set, so a poller cancelled just after a
        refresh, pause or interval change lived on, and the monitor's stop waited for it."""
        self._wake.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _poll(self) -> OrgResult:
        state = self.state
        state.in_flight = True  # not shown anywhere, so no redraw for it
        state.requests += 1
        try:
            result = await self._fetch(state.name)
        finally:
            state.in_flight = False
        if result.fetched is not None:
            state.fetched = result.fetched
            state.error = None
            state.error_at = None
            state.failures = 0
        else:
            state.error = result.error
            state.error_at = result.attempted_at
            state.failures += 1
            kind = result.error.kind if result.error is not None else ApiError.kind
            state.fetch_errors[kind] = state.fetch_errors.get(kind, 0) + 1
        return result

    def _changed(self) -> None:
        self.state.version += 1
        self._on_update(self.state)
