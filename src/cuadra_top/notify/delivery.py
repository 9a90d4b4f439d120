"""Delivery that never blocks polling or the screen.

Each target (one apprise URL) has a lane: a bounded queue (the oldest notice is dropped, with a
log line, when it is full) and one worker task that sends one notice at a time. A send runs
in a daemon thread of its own, awaited with a timeout: a webhook that accepts and never
answers costs its lane an attempt, never the event loop, the other lanes, or the process's
exit. A failed attempt is retried with exponential backoff and jitter, a bounded number of
times. A lane that starts failing is reported once (``on_report``), and once more when it
works again, whatever the number of alerts in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cuadra_top.debuglog import logger
from cuadra_top.redaction import redact
from cuadra_top.state.alerts import Notice
from cuadra_top.notify.channels import Target

log = logger("notify")

ATTEMPT_TIMEOUT = 10.0
"""Seconds one send may take (the plugin's socket timeouts are capped at it too)."""
ATTEMPTS = 3
"""Sends per notice and target: the first and two retries."""
BACKOFF = 2.0
"""Seconds before the first retry; each next one waits four times longer (with jitter)."""
QUEUE_SIZE = 100
"""Notices waiting per target; beyond, the oldest is dropped."""
MAX_HANGING_SENDS = 8
"""Send threads alive at once (a send abandoned on its timeout lives until its sockets time
out); beyond, an attempt fails at once instead of starting another thread."""
THREAD_GRACE = 1.0
"""Seconds past the timeout before a send is given up (its own socket timeouts come first)."""

Sender = Callable[[str, Notice, float], "str | None"]
"""Blocking: deliver a notice to a URL within a timeout; None, or why it failed (one line)."""


def apprise_sender(url: str, notice: Notice, timeout: float) -> str | None:
    from cuadra_top.notify import backend

    return backend.send(url, notice, timeout)


@dataclass(frozen=True)
class Report:
    """What a front end shows: a target started failing (``ok`` False) or works again."""

    target: Target
    ok: bool
    message: str
    """One line, redacted, naming the target (never its URL)."""

    def as_json(self) -> dict[str, object]:
        return {"event": "delivery", "channel": self.target.number, "entry": self.target.entry,
                "ok": self.ok, "message": self.message}


@dataclass(frozen=True)
class Outcome:
    """One target's answer to one send (``notify test``)."""

    target: Target
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Lane:
    target: Target
    queue: deque[Notice] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    busy: bool = False
    failing: bool = False
    delivered: int = 0
    failed: int = 0
    dropped: int = 0


class Dispatcher:
    """Queues notices per target and delivers them in the background (see the module)."""

    def __init__(
        self,
        targets: Iterable[Target],
        *,
        on_report: Callable[[Report], None] | None = None,
        send: Sender = apprise_sender,
        attempt_timeout: float | None = None,
        attempts: int | None = None,
        backoff: float | None = None,
        queue_size: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Unset options take the module's constants (read now, so a test can lower them)."""
        self.targets = list(targets)
        self.on_report = on_report
        self.send = send
        self.attempt_timeout = ATTEMPT_TIMEOUT if attempt_timeout is None else attempt_timeout
        self.attempts = max(1, ATTEMPTS if attempts is None else attempts)
        self.backoff = BACKOFF if backoff is None else backoff
        self.queue_size = max(1, QUEUE_SIZE if queue_size is None else queue_size)
        self._rng = rng or random.Random()
        self._lanes = [_Lane(target) for target in self.targets]
        self._tasks: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._threads = 0
        self._threads_lock = threading.Lock()

    # -- life ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start a worker per target (on the running loop); idempotent."""
        if self._tasks:
            return
        for lane in self._lanes:
            task = asyncio.create_task(self._work(lane), name=f"notify:{lane.target.label}")
            self._tasks.append(task)

    async def drain(self, timeout: float) -> bool:
        """Wait until every queued notice has been delivered or given up; False on timeout."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self._all_idle():
                    self._idle.clear()
                    await self._idle.wait()
        return self._all_idle()

    async def stop(self, grace: float = 0.0) -> int:
        """Deliver what is queued for up to ``grace`` seconds, then stop; the number of
        notices left undelivered (logged)."""
        if grace > 0 and self._tasks:
            await self.drain(grace)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        left = sum(len(lane.queue) + lane.busy for lane in self._lanes)
        if left:
            log.warning("notify: stopped with %d notice(s) undelivered", left)
        return left

    # -- what the front ends call -------------------------------------------------------------
    def submit(self, notice: Notice) -> int:
        """Queue ``notice`` for every target that wants it; returns how many. Never blocks."""
        count = 0
        for lane in self._lanes:
            if not lane.target.wants(notice):
                continue
            if len(lane.queue) >= self.queue_size:
                dropped = lane.queue.popleft()
                lane.dropped += 1
                log.warning("notify: %s: %d notices waiting; dropped the oldest (%s)",
                            lane.target.label, self.queue_size, redact(dropped.title))
            lane.queue.append(notice)
            lane.wake.set()
            count += 1
        return count

    async def send_to(self, target: Target, notice: Notice) -> Outcome:
        """One attempt, now, bypassing the queue and the failure reports (``notify test``)."""
        return Outcome(target, await self._attempt(target, notice))

    @property
    def failing(self) -> list[Target]:
        return [lane.target for lane in self._lanes if lane.failing]

    def counts(self) -> dict[str, int]:
        """Delivered, failed and dropped notices, over every target."""
        return {"delivered": sum(lane.delivered for lane in self._lanes),
                "failed": sum(lane.failed for lane in self._lanes),
                "dropped": sum(lane.dropped for lane in self._lanes),
                "waiting": sum(len(lane.queue) + lane.busy for lane in self._lanes)}

    # -- the lanes -----------------------------------------------------------------------------
    def _all_idle(self) -> bool:
        return all(not lane.queue and not lane.busy for lane in self._lanes)

    async def _work(self, lane: _Lane) -> None:
        while True:
            if not lane.queue:
                self._idle.set()
                lane.wake.clear()
                await lane.wake.wait()
                continue
            notice = lane.queue.popleft()
            lane.busy = True
            try:
                error = await self._deliver(lane.target, notice)
            except asyncio.CancelledError:
                lane.queue.appendleft(notice)  # counted as undelivered by stop()
                raise
            finally:
                lane.busy = False
            self._settle(lane, notice, error)

    async def _deliver(self, target: Target, notice: Notice) -> str | None:
        error: str | None = None
        for attempt in range(self.attempts):
            if attempt:
                delay = self.backoff * 4 ** (attempt - 1)
                await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))
            error = await self._attempt(target, notice)
            if error is None:
                return None
            log.info("notify: %s: attempt %d of %d failed: %s", target.label, attempt + 1, self.attempts, error)
        return error

    def _settle(self, lane: _Lane, notice: Notice, error: str | None) -> None:
        target = lane.target
        if error is None:
            lane.delivered += 1
            log.debug("notify: %s: delivered %s", target.label, redact(notice.title))
            if lane.failing:
                lane.failing = False
                self._report(Report(target, True, f"notify: {target.label} works again"))
            return
        lane.failed += 1
        log.warning("notify: %s: not delivered (%s): %s", target.label, redact(notice.title), error)
        if not lane.failing:
            lane.failing = True
            self._report(Report(target, False, (
                f"notify: {target.label} failing: {error}; alerts to it are lost until it works "
                "again (not repeated for each alert)")))

    def _report(self, report: Report) -> None:
        report = Report(report.target, report.ok, redact(report.message))
        (log.info if report.ok else log.warning)("%s", report.message)
        if self.on_report is not None:
            try:
                self.on_report(report)
            except Exception:  # a front end's bug must not stop delivery
                log.exception("the delivery report hook failed")

    async def _attempt(self, target: Target, notice: Notice) -> str | None:
        """One send in a daemon thread, awaited for at most the timeout (plus a grace)."""
        with self._threads_lock:
            if self._threads >= MAX_HANGING_SENDS:
                return f"{self._threads} earlier sends are still waiting for an answer; not trying another"
            self._threads += 1
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str | None] = loop.create_future()

        def settle(result: str | None) -> None:
            if not answer.done():
                answer.set_result(result)

        def run() -> None:
            try:
                result = self.send(target.url, notice, self.attempt_timeout)
            except Exception as exc:  # a plugin's bug is this target's failure, nothing more
                result = f"unexpected error in the sender ({type(exc).__name__})"
            finally:
                with self._threads_lock:
                    self._threads -= 1
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, None if result is None else redact(str(result)))

        threading.Thread(target=run, name=f"notify-{target.number}", daemon=True).start()
        try:
            return await asyncio.wait_for(asyncio.shield(answer), self.attempt_timeout + THREAD_GRACE)
        except TimeoutError:
            return f"no answer within {self.attempt_timeout:g} s"
