"""Delivery as the front ends use it: a monitor subscriber for the TUI and ``watch``,
one-shot delivery for ``--once --notify``, and ``notify test``.

The front ends decide nothing about alerts: the monitor (the alert engine) emits
``AlertNotice(notice, first_sighting, claimed)``, and only a claimed notice is sent to the
channels (``claimed`` says this process, and no other, delivers this crossing). A first
sighting is sent too: a cron job that starts on a bad day must still tell someone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cuadra_top.clock import utc_now
from cuadra_top.config import Settings
from cuadra_top.debuglog import logger
from cuadra_top.notify.channels import Target, resolve, resolve_strictly
from cuadra_top.notify.delivery import Dispatcher, Outcome, Report, Sender, apprise_sender
from cuadra_top.state.alerts import Level, Notice, NoticeKind
from cuadra_top.state.monitor import AlertNotice, MonitorEvent

log = logger("notify")

EARLY_NOTICES = 100
"""Claimed notices kept while the channels are still being built (the TUI builds them after
start-up); beyond, the oldest go."""
STOP_GRACE = 3.0
"""Seconds a front end that quits gives queued notices to go out."""
ONCE_DEADLINE = 60.0
"""Seconds ``--once --notify`` waits at most for its deliveries (cron must not pile up)."""


class NotifyService:
    """The channels of one long-running front end, fed by the monitor.

    Subscribe it to the monitor at once (``monitor.subscribe(service)``): notices claimed
    before :meth:`start` has built the channels are kept and sent once it has. ``on_report``
    gets a :class:`Report` when a target starts failing or works again (once each).
    """

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        where: Path | str = "config",
        *,
        on_report: Callable[[Report], None] | None = None,
        send: Sender = apprise_sender,
        **dispatcher_options: float,
    ) -> None:
        self.settings = settings
        self.environ = environ
        self.where = where
        self.on_report = on_report
        self._send = send
        self._options = dispatcher_options
        self.dispatcher: Dispatcher | None = None
        self._early: deque[Notice] = deque(maxlen=EARLY_NOTICES)
        self._stopped = False

    @property
    def configured(self) -> bool:
        return bool(self.settings.notify)

    def __call__(self, event: MonitorEvent) -> None:
        """The monitor subscriber: a claimed alert goes to the channels (never blocks)."""
        if not isinstance(event, AlertNotice) or not event.claimed or not self.configured or self._stopped:
            return
        if self.dispatcher is None:
            self._early.append(event.notice)
        else:
            self.dispatcher.submit(event.notice)

    async def start(self, *, strict: bool = False, targets: list[Target] | None = None) -> list[str]:
        """Build the channels (apprise is imported here, in a thread) and start delivering.
        Returns the problems of channels that cannot work (each one line, the URL never in
        it); with ``strict`` the first one is raised as a ConfigError instead."""
        problems: list[str] = []
        if targets is None:
            if strict:
                targets = await resolve_strictly(self.settings, self.environ, self.where)
            else:
                resolved = await resolve(self.settings, self.environ, self.where)
                targets, problems = resolved.targets, resolved.problems
        if self._stopped:
            return problems
        self.dispatcher = Dispatcher(targets, on_report=self.on_report, send=self._send, **self._options)  # type: ignore[arg-type]
        self.dispatcher.start()
        while self._early:
            self.dispatcher.submit(self._early.popleft())
        for problem in problems:
            log.warning("notify: %s", problem)
        return problems

    async def stop(self, grace: float | None = None) -> int:
        """Give queued notices ``grace`` seconds (:data:`STOP_GRACE`), then stop; how many
        were left undelivered."""
        self._stopped = True
        if self.dispatcher is None:
            return len(self._early)
        return await self.dispatcher.stop(STOP_GRACE if grace is None else grace)


@dataclass
class OnceSummary:
    """What one ``--once --notify`` run delivered."""

    delivered: int
    failed: int
    undelivered: int
    """Still queued when the deadline came."""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.undelivered


async def deliver_once(
    events: Iterable[AlertNotice],
    targets: list[Target],
    *,
    on_report: Callable[[Report], None] | None = None,
    send: Sender = apprise_sender,
    deadline: float | None = None,
    **dispatcher_options: float,
) -> OnceSummary:
    """Deliver the claimed notices of one run (``--once --notify``) with the same retries as
    the long-running front ends, waiting at most ``deadline`` seconds (:data:`ONCE_DEADLINE`).

    The lead's alert engine decides ``claimed`` from the alert state in the history, so two
    cron runs never send one crossing twice; this only delivers what is claimed."""
    dispatcher = Dispatcher(targets, on_report=on_report, send=send, **dispatcher_options)  # type: ignore[arg-type]
    dispatcher.start()
    for event in events:
        if event.claimed:
            dispatcher.submit(event.notice)
    await dispatcher.drain(ONCE_DEADLINE if deadline is None else deadline)
    undelivered = await dispatcher.stop()
    counts = dispatcher.counts()
    return OnceSummary(counts["delivered"], counts["failed"], undelivered)


def trial_notice(target: Target, now: datetime | None = None) -> Notice:
    """The notice ``notify test`` sends: it says which channel, and that it is a test."""
    name = target.channel.removeprefix("[[notify]] ")
    return Notice(org=f"channel {name}", rule="test", level=Level.WARNING, kind=NoticeKind.TEST,
                  message=f"cuadra-top test notice for {target.channel} {target.entry}: alerts "
                          "will reach you here.", at=now or utc_now())


async def send_trials(
    settings: Settings,
    environ: Mapping[str, str],
    where: Path | str = "config",
    *,
    numbers: Collection[int] | None = None,
    send: Sender = apprise_sender,
    attempt_timeout: float | None = None,
) -> list[Outcome]:
    """``notify test``: a test notice to every target (of channels ``numbers``), all at once,
    one attempt each; each target's outcome. Raises ConfigError (a channel that cannot work)."""
    targets = await resolve_strictly(settings, environ, where, numbers=numbers)
    dispatcher = Dispatcher(targets, send=send, attempt_timeout=attempt_timeout)
    return list(await asyncio.gather(*(dispatcher.send_to(target, trial_notice(target)) for target in targets)))
