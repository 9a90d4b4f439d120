"""Headless mode (``cuadra-top watch``): the TUI's monitor with no screen, for a systemd
service or a container.

It polls every configured org with the same :class:`~cuadra_top.state.monitor.Monitor`,
records the history, and delivers the alerts the monitor claims to the ``[[notify]]``
channels. Each event is one line on stderr (JSON lines with ``--json``): an org's answer or
error, an alert, a channel that fails or works again. SIGTERM and SIGINT end it cleanly
(exit 0): polling stops, the history is written, queued notices get a few seconds to go out.
A channel that cannot work is a config error, found before the first poll (exit 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TextIO

from cuadra_top import exit_codes
from cuadra_top import format as fmt
from cuadra_top.clock import iso_utc, utc_now
from cuadra_top.config import Settings
from cuadra_top.notify.channels import resolve_strictly
from cuadra_top.notify.delivery import Report
from cuadra_top.notify.service import NotifyService
from cuadra_top.redaction import redact
from cuadra_top.state.fleet import Fleet
from cuadra_top.state.monitor import AlertNotice, Monitor, MonitorEvent, OrgChanged
from cuadra_top.state.poller import OrgState
from cuadra_top.state.trends import Trends

HISTORY_THINNING = 3600.0
WARNINGS_EVERY = 5.0


class EventLines:
    """Writes one line per event: text (``time org: what``) or a JSON object per line.

    An org's line is written when its answer changes (new data, a new error), not for the
    in-between states (a fetch starting, a new schedule)."""

    def __init__(self, out: TextIO, as_json: bool, clock: Callable[[], datetime] = utc_now) -> None:
        self.out = out
        self.as_json = as_json
        self.clock = clock
        self._seen: dict[str, tuple[int, object]] = {}

    def write(self, text: str, record: dict[str, object]) -> None:
        """One line, redacted; a closed stream (the journal went away) is not an error."""
        if self.as_json:
            line = json.dumps({"at": iso_utc(self.clock()), **record}, ensure_ascii=False)
        else:
            line = f"{iso_utc(self.clock())} {fmt.printable(text)}"
        with contextlib.suppress(OSError, ValueError):
            self.out.write(redact(line) + "\n")
            self.out.flush()

    def __call__(self, event: MonitorEvent) -> None:
        if isinstance(event, OrgChanged):
            self._org(event.state)
        elif isinstance(event, AlertNotice):
            notice = event.notice
            flags = [word for word, on in (("first sighting", event.first_sighting), ("not claimed", not event.claimed))
                     if on]
            self.write(f"alert {notice.kind.value} {notice.level.name}: {notice.message}"
                       + (f" ({', '.join(flags)})" if flags else ""),
                       {"event": "alert", **notice.as_json(), "first_sighting": event.first_sighting,
                        "claimed": event.claimed})

    def report(self, report: Report) -> None:
        self.write(report.message, report.as_json())

    def _org(self, state: OrgState) -> None:
        key = (id(state.fetched), state.error_at)
        if state.fetched is None and state.error is None or self._seen.get(state.name) == key:
            return
        self._seen[state.name] = key
        if state.error is not None:
            stopped = "; stopped: fix the config, then restart" if state.stopped else ""
            self.write(f"{state.name}: error: {state.error.message}{stopped}",
                       {"event": "org", "org": state.name, "ok": False, "error": state.error.as_dict(),
                        "stopped": state.stopped,
                        "fetched_at": iso_utc(state.fetched.fetched_at) if state.fetched else None})
            return
        assert state.fetched is not None
        usage = state.fetched.usage
        credits, storage = usage.credits, usage.storage
        credits_text = fmt.used_of(fmt.thousands(credits.used), None if credits.unlimited else fmt.thousands(credits.limit))
        storage_text = fmt.used_of(fmt.iec_bytes(storage.used), None if storage.unlimited else fmt.iec_bytes(storage.limit))
        self.write(f"{state.name}: ok, credits {credits_text} ({fmt.percent(credits.fraction)}), "
                   f"storage {storage_text} ({fmt.percent(storage.fraction)})",
                   {"event": "org", "org": state.name, "ok": True, "fetched_at": iso_utc(state.fetched.fetched_at),
                    "usage": state.fetched.raw})


async def run_watch(
    settings: Settings,
    environ: Mapping[str, str],
    where: Path | str,
    *,
    trends: Trends | None,
    names: list[str] | None = None,
    interval: float | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> int:
    """Watch every org (or ``names``) until SIGTERM/SIGINT (or ``stop`` is set); exit code 0. Raises ConfigError
    (a channel that cannot work) and SetupError (CA or proxy settings) before polling."""
    lines = EventLines(out if out is not None else sys.stderr, as_json, clock)
    targets = await resolve_strictly(settings, environ, where) if settings.notify else []
    fleet = await asyncio.to_thread(Fleet.from_settings, settings, environ, names=names)
    monitor = Monitor(settings, fleet, trends, clock, names=names, environ=environ, interval=interval)
    delivery = NotifyService(settings, environ, where, on_report=lines.report)
    monitor.subscribe(lines)
    monitor.subscribe(delivery)
    await delivery.start(targets=targets)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    names = ", ".join(monitor.names)
    lines.write(f"watching {len(monitor.names)} org(s) every {fmt.interval(monitor.interval)} ({names}); "
                f"{len(targets)} notification target(s)",
                {"event": "start", "orgs": monitor.names, "interval": monitor.interval, "targets": len(targets)})
    warned: set[str] = set()
    try:
        await monitor.start()
        last_thinning = loop.time()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WARNINGS_EVERY)
            for warning in monitor.warnings:
                if warning not in warned:
                    warned.add(warning)
                    lines.write(f"warning: {warning}", {"event": "warning", "message": warning})
            if loop.time() - last_thinning >= HISTORY_THINNING:
                last_thinning = loop.time()
                await monitor.trends.thin_history()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await monitor.stop()
        left = await delivery.stop()
        lines.write(f"stopped{f'; {left} notice(s) undelivered' if left else ''}",
                    {"event": "stop", "undelivered": left})
    return exit_codes.OK
