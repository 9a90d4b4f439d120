"""Running the exporter: a Monitor polling in the background, the renders of /metrics kept
fresh by a thread of their own (``exposition``), the HTTP server in threads, and the signals:
SIGTERM/SIGINT stop it cleanly, SIGHUP reads the config again (orgs added, removed,
credentials changed) without a gap in the series of the orgs that stay.

An org stopped by a credential error (401, 403, 404) is retried every ``stopped_retry``
seconds with its config read afresh: a daemon left alone must recover from a rotated token.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, ProcessCollector

from cuadra_top.config import ConfigError, LoadedConfig
from cuadra_top.debuglog import logger
from cuadra_top.exporter.exposition import RENDER_EVERY, ExpositionCache, make_metrics_app
from cuadra_top.listen import Listen
from cuadra_top.exporter.metrics import CuadraCollector
from cuadra_top.exporter.server import SWITCH_INTERVAL, MetricsServer, make_app
from cuadra_top.exporter.views import OrgView, view_of, waiting
from cuadra_top.webconfig import WebConfigSource, warn
from cuadra_top.redaction import redact
from cuadra_top.state.monitor import Monitor, MonitorEvent, OrgChanged

log = logger("exporter")

STOPPED_RETRY = 600.0


class ListenError(Exception):
    """The address cannot be listened on; the message is one line with the fix."""


class Exporter:
    """What the scrapes read: the views of the orgs of the monitor it follows, in config order.

    Written on the monitor's event loop, read from the render and HTTP threads: a view is
    replaced whole (one dict assignment), the names tuple likewise, so neither side ever waits
    on the other. ``generation`` changes with every change of what ``views`` returns."""

    def __init__(self) -> None:
        self._views: dict[str, OrgView] = {}
        self._names: tuple[str, ...] = ()
        self.generation = 0
        self.monitor: Monitor | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def follow(self, monitor: Monitor) -> None:
        """Show ``monitor``'s orgs from now on; an org it does not have disappears at once, an
        org it shares with the previous one keeps its last view until its first answer."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.monitor = monitor
        self._names = tuple(monitor.names)
        for gone in set(self._views) - set(self._names):
            del self._views[gone]
        self.generation += 1
        self._unsubscribe = monitor.subscribe(self._on_event)

    def _on_event(self, event: MonitorEvent) -> None:
        monitor = self.monitor
        if isinstance(event, OrgChanged) and monitor is not None and event.name in monitor.names:
            name = event.name
            previous = self._views.get(name)
            view = view_of(event.state, monitor.forecast_for(name), previous)
            if view != previous:  # a poll starting changes the state, not what a scrape shows
                self._views[name] = view
                self.generation += 1

    def views(self) -> list[OrgView]:
        views = self._views
        return [views.get(name) or waiting(name) for name in self._names]

    def registry(self) -> CollectorRegistry:
        """The org metrics plus the exporter process's own (``process_*``)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(CuadraCollector(self.views))
        ProcessCollector(registry=registry)
        return registry


@dataclass
class ExporterOptions:
    loaded: LoadedConfig
    listen: Listen
    monitor_for: Callable[[LoadedConfig], Monitor]
    """A monitor for a config (the CLI's: history, interval, credentials reloading)."""
    web_config: Path | None = None
    reload: Callable[[], LoadedConfig] | None = None
    """Reads the config again (SIGHUP); raises ConfigError. None: nothing to read (the demo)."""
    stopped_retry: float = STOPPED_RETRY
    render_every: float = RENDER_EVERY
    """Seconds between two renders of /metrics while the orgs change (see ``exposition``)."""


class ExporterService:
    """The exporter's life: ``start``, ``reload`` any number of times, ``stop``."""

    def __init__(self, options: ExporterOptions) -> None:
        self.options = options
        self.web = WebConfigSource(options.web_config)  # WebConfigError: the caller says it in one line
        self.exporter = Exporter()
        exporter = self.exporter
        self.exposition = ExpositionCache(exporter.registry(), lambda: exporter.generation,
                                          render_every=options.render_every)
        self.server: MetricsServer | None = None
        self._thread: threading.Thread | None = None
        self._retry: asyncio.Task[None] | None = None
        self._reloading = asyncio.Lock()
        self._switch_interval: float | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    @property
    def url(self) -> str:
        return self.options.listen.url(self.port, tls=self.web.current().ssl_context is not None)

    async def start(self) -> None:
        """Listen first (a port in use fails before any poll), then poll."""
        listen = self.options.listen
        try:
            app = make_app(make_metrics_app(self.exposition), self.web)
            self.server = MetricsServer(listen.host, listen.port, app, self.web)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ListenError(f"cannot listen on {listen} ({reason}); choose another address with --listen") from None
        monitor = self.options.monitor_for(self.options.loaded)
        self.exporter.follow(monitor)
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL))  # scrapes get the GIL soon
        self.exposition.start()
        self._thread = threading.Thread(target=self.server.serve_forever, name="exporter-http", daemon=True)
        self._thread.start()
        await monitor.start()
        self._retry = asyncio.create_task(self._retry_stopped(), name="exporter:retry-stopped")
        self._warn_if_exposed()

    def _warn_if_exposed(self) -> None:
        config, listen = self.web.current(), self.options.listen
        if listen.loopback:
            return
        where = f"{listen.host or 'every interface'}:{self.port}"
        if not config.authenticates:
            warn(f"listening on {where} without authentication: anyone who reaches it reads every org's usage; "
                 "set basic_auth_users (or client certificates) in --web.config.file, or --listen 127.0.0.1:PORT")
        elif config.users and config.ssl_context is None:
            warn(f"listening on {where} with basic auth but no TLS: passwords cross the network in clear text; "
                 "add tls_server_config to --web.config.file")

    async def reload(self) -> bool:
        """Read the config again and follow a new monitor of it; on a config error keep going
        as before (and say why). True when the new config is in use."""
        if self.options.reload is None:
            warn("nothing to reload: the orgs do not come from a config file")
            return False
        async with self._reloading:
            try:
                loaded = await asyncio.to_thread(self.options.reload)
            except ConfigError as exc:
                warn(f"config not reloaded: {exc}")
                return False
            old = self.exporter.monitor
            if old is not None:
                await old.stop()  # writes its history first: the new monitor reads it
            monitor = self.options.monitor_for(loaded)
            self.options.loaded = loaded
            self.exporter.follow(monitor)
            self.exposition.invalidate()  # a removed org is gone from the next scrape
            print(f"cuadra-top exporter: config reloaded: {len(monitor.names)} org(s)", file=sys.stderr, flush=True)
            await monitor.start()
            return True

    async def _retry_stopped(self) -> None:
        while True:
            await asyncio.sleep(self.options.stopped_retry)
            monitor = self.exporter.monitor
            if monitor is not None:
                stopped = [state.name for state in monitor.states() if state.stopped]
                if stopped:
                    log.info("retrying stopped orgs: %s", ", ".join(stopped))
                    monitor.refresh(stopped)

    async def stop(self) -> None:
        """Stop serving, then stop polling (the history written)."""
        if self._retry is not None:
            self._retry.cancel()
            await asyncio.gather(self._retry, return_exceptions=True)
        if self.server is not None:
            await asyncio.to_thread(self.server.shutdown)
            self.server.server_close()
        await asyncio.to_thread(self.exposition.stop)
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        monitor = self.exporter.monitor
        if monitor is not None:
            await monitor.stop()

    async def run_until_signalled(self) -> None:
        """Serve until SIGTERM or SIGINT; SIGHUP reloads."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        reloads: set[asyncio.Task[bool]] = set()

        def reload_soon() -> None:
            task = asyncio.create_task(self.reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        handled = []
        for sig, handler in ((signal.SIGTERM, stopping.set), (signal.SIGINT, stopping.set), (signal.SIGHUP, reload_soon)):
            loop.add_signal_handler(sig, handler)
            handled.append(sig)
        try:
            await self.start()
            names = self.exporter.monitor.names if self.exporter.monitor else []
            print(redact(f"cuadra-top exporter: {len(names)} org(s) on {self.url}"), file=sys.stderr, flush=True)
            await stopping.wait()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            for task in reloads:
                task.cancel()
            await asyncio.gather(*reloads, return_exceptions=True)
            await self.stop()
