"""Gathering changes into few redraws, without making the first data wait."""

from __future__ import annotations

from cuadra_top.tui.coalesce import Coalescer


class Loop:
    """Scheduled callbacks and a clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, object]] = []

    def schedule(self, delay: float, callback) -> None:
        self.timers.append((self.now + delay, callback))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = sorted((t for t in self.timers if t[0] <= self.now), key=lambda t: t[0])
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _, callback in due:
            callback()


def coalescer(loop: Loop, gap: float = 0.05) -> tuple[Coalescer, list[tuple[float, set[str]]]]:
    flushed: list[tuple[float, set[str]]] = []
    return Coalescer(loop.schedule, lambda batch: flushed.append((round(loop.now, 6), batch)), gap,
                     clock=lambda: loop.now), flushed


def test_changes_within_the_gap_wait_for_one_batch():
    loop = Loop()
    gather, flushed = coalescer(loop)
    gather.add(["a"])
    loop.advance(0)
    gather.add(["b"])
    gather.add(["c"])
    loop.advance(0.01)
    assert flushed == [(100.0, {"a"})]
    loop.advance(0.04)
    assert flushed == [(100.0, {"a"}), (100.05, {"b", "c"})]


def test_what_must_not_wait_is_handed_over_at_once_within_the_gap():
    """An org's first answer right after the change that said its request went out."""
    loop = Loop()
    gather, flushed = coalescer(loop)
    gather.add(["acme"])  # the request went out
    loop.advance(0)
    loop.advance(0.01)
    gather.add(["acme"], at_once=True)  # the answer, 10 ms later
    loop.advance(0)
    assert flushed == [(100.0, {"acme"}), (100.01, {"acme"})]
    gather.add(["acme"])  # the next change keeps its distance again
    loop.advance(0.01)
    assert len(flushed) == 2
    loop.advance(0.04)
    assert flushed[-1] == (100.06, {"acme"})


def test_handing_over_at_once_while_a_batch_waits_takes_that_batch_along():
    loop = Loop()
    gather, flushed = coalescer(loop)
    gather.add(["a"])
    loop.advance(0)
    gather.add(["b"])  # waits for the gap
    gather.add(["c"], at_once=True)
    loop.advance(0)
    assert flushed == [(100.0, {"a"}), (100.0, {"b", "c"})]
    loop.advance(0.05)  # the run armed for "b" finds nothing left
    assert len(flushed) == 2
