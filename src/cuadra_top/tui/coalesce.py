"""Gathering many small changes into few redraws.

Hundreds of orgs answering within the same second must make a few redraws, not one each, and
a key press must never queue behind one message per poll. After a quiet spell the first change
is handed over at once (the first data must not wait); changes within ``gap`` seconds of the
last hand-over wait for the next one, and each key is handed over once however often it came.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

Schedule = Callable[[float, Callable[[], None]], object]
"""``schedule(delay, callback)``: call back after ``delay`` seconds (0: on the next turn)."""


class Coalescer:
    def __init__(
        self,
        schedule: Schedule,
        flush: Callable[[set[str]], None],
        gap: float | Callable[[], float],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._schedule = schedule
        self._flush = flush
        self._gap = gap
        self._clock = clock
        self._pending: set[str] = set()
        self._armed = False
        self._flushed_at = float("-inf")

    @property
    def gap(self) -> float:
        return self._gap() if callable(self._gap) else self._gap

    def add(self, keys: Iterable[str], *, at_once: bool = False) -> None:
        """Hand ``keys`` over with the next batch (at once after a quiet spell); ``at_once``:
        on the next turn even within the gap (what must not wait behind a change handed over a
        moment before: an org's first answer, after its request went out)."""
        self._pending.update(keys)
        if not self._pending:
            return
        if at_once:
            self._armed = True  # a later run armed before finds nothing left, or what came since
            self._schedule(0.0, self._run)
        elif not self._armed:
            self._armed = True
            self._schedule(max(self._flushed_at + self.gap - self._clock(), 0.0), self._run)

    def discard(self) -> None:
        """Forget what is pending (a full redraw is about to cover it)."""
        self._pending.clear()

    def mark_flushed(self) -> None:
        """A full redraw just happened: the next batch keeps its distance from it."""
        self._flushed_at = self._clock()

    def _run(self) -> None:
        self._armed = False
        batch, self._pending = self._pending, set()
        if batch:
            self._flushed_at = self._clock()
            self._flush(batch)
