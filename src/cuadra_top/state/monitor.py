"""The monitoring core: every org polled, recorded and judged, with no screen attached.

A :class:`Monitor` owns the pollers (one per org, with their backoff), records each answer in
the trends (history and forecast) and decides alerts. Front ends subscribe to its events and
call its methods: the TUI is one subscriber; a headless watcher or an exporter can be others,
polling and deciding exactly the same way. Callbacks run on the monitor's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

from cuadra_top.api.client import Fetched
from cuadra_top.api.errors import ConfigProblem, SetupError
from cuadra_top.api.models import parse_usage
from cuadra_top.clock import utc_now
from cuadra_top.config import ConfigError, OrgConfig, Settings, build_credential
from cuadra_top.debuglog import logger
from cuadra_top.state.alert_engine import AlertEngine, HistoryAlertStore, series_for
from cuadra_top.state.alerts import Finding, Health, Notice, NoticeKind, data_findings, health_findings
from cuadra_top.thresholds import AlertPolicy, Thresholds
from cuadra_top.state.result import OrgResult
from cuadra_top.state.identity import site
from cuadra_top.display_time import display_zone
from cuadra_top.state.forecast import Forecast
from cuadra_top.state.periods import Period
from cuadra_top.state.poller import OrgPoller, OrgState
from cuadra_top.state.trends import Trends, recording

if TYPE_CHECKING:
    from cuadra_top.state.fleet import Fleet

log = logger("monitor")

INTERVAL_STEPS = (5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
"""What ``step_interval`` moves between (the TUI's ``+``/``-``)."""
JUDGE_GRACE = 5.0
"""Seconds ``stop`` waits for a judgement in flight: its notices are claimed in the history
(no other run will send them), so they must reach the subscribers (the delivery) first."""
FIRST_ANSWERS_WAIT = 1.0
"""Seconds the history's reading waits at most for every org's first answer (or error). Read
alongside the first requests, it shared the CPU (one GIL) with them, and a front end drew what
it brought (the forecast, the sparkline) just before the first live answer, which then waited
for the next frame; nothing that needs the history (the windows, the alert levels) is urgent."""


@dataclass(frozen=True)
class OrgChanged:
    """An org's state changed: an answer, an error, a pause, a new schedule."""

    name: str
    state: OrgState


@dataclass(frozen=True)
class AlertNotice:
    """An alert was raised or recovered (once per crossing).

    ``first_sighting``: the org's first answer in this process was already past the threshold
    (a screen that shows the gauges may stay quiet about it; a channel must still tell someone).
    ``claimed``: this process is the one to deliver it to the notification channels (the
    alert state shared through the history said no other process has, for this crossing)."""

    notice: Notice
    first_sighting: bool
    claimed: bool


MonitorEvent = OrgChanged | AlertNotice
Subscriber = Callable[[MonitorEvent], None]
FleetSource: TypeAlias = "Fleet | Future | None"
"""A fleet, one being built elsewhere (a ``concurrent.futures.Future``), or None: built here
(in a thread, which is where the HTTP stack is first imported: a monitor that has not
started yet, or shows only the answers the history kept, has not loaded httpx)."""
OrgReloader = Callable[[str], OrgConfig]
"""Reads one org's config afresh (raises ConfigError): ``refresh`` of an org stopped on a
credential error uses it, so a token fixed in the config works without a restart."""


class Monitor:
    """Polls ``settings.org`` (or ``names`` of them) and tells subscribers what changed."""

    def __init__(
        self,
        settings: Settings,
        fleet: FleetSource = None,
        trends: Trends | None = None,
        clock: Callable[[], datetime] = utc_now,
        *,
        names: Iterable[str] | None = None,
        environ: Mapping[str, str] = os.environ,
        interval: float | None = None,
        rng: random.Random | None = None,
        reload_org: OrgReloader | None = None,
        judge_alerts: bool = True,
        tls: Future[ssl.SSLContext] | None = None,
    ) -> None:
        """``judge_alerts=False``: no alert is judged, so none is claimed in the shared history
        (an exporter leaves alerting to Prometheus; claiming would keep ``watch`` from
        delivering the crossings it saw). ``tls``: the TLS context of ``settings``, being built
        elsewhere (``api.http.tls_context``), for the pools this monitor builds."""
        self.settings = settings
        self.names = list(names) if names is not None else [org.name for org in settings.org]
        self.trends = trends if trends is not None else Trends(None, clock)
        self.clock = clock
        self.environ = environ
        self.interval = float(interval or settings.refresh_interval)
        self.paused = False
        self.fleet: Fleet | None = None if fleet is None or isinstance(fleet, Future) else fleet
        self._fleet_source = fleet
        self._tls = tls
        self._rng = rng or random.Random()
        self._reload_org = reload_org
        self._judge_alerts = judge_alerts
        self._pollers: dict[str, OrgPoller] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribers: list[Subscriber] = []
        self.alerts = AlertEngine(HistoryAlertStore(lambda: self.trends.history))
        self._judged: dict[str, tuple[object, ...]] = {}
        self._sighted: set[str] = set()
        self._cached: dict[str, Fetched] = {}
        self._stored_reading: asyncio.Future[dict[str, tuple[datetime, dict]]] | None = None
        self._stored_shown = False
        self._failing_since: dict[str, datetime] = {}
        self._to_judge: dict[str, None] = {}
        self._judging: asyncio.Task[None] | None = None
        self._judge_in_flight = False
        """A judgement is running in its thread (its notices claimed, or about to be)."""
        self._thresholds = {name: settings.thresholds_for(name) for name in self.names}
        self._started = False
        self._stopped = False
        self._fetch: Callable[[str], Awaitable[OrgResult]] | None = None
        """What the pollers fetch with, once ``start`` has the fleet (or knows it cannot)."""
        self._added: dict[str, OrgConfig] = {}
        """Orgs added while the fleet was being built: they join it when it is there."""
        self._loads: set[asyncio.Future[None]] = set()
        self._history_loaded = False
        self._history_read = asyncio.Event()
        """Set once ``start`` has read the history (or given up): alerts are judged only then,
        against the levels it holds (shared with other processes) and the forecast it feeds."""
        self._unanswered: set[str] = set()
        self._answers_in = asyncio.Event()
        """Every org polled at start has answered (data or an error) once, or the monitor stopped."""

    # -- subscribing ---------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns the unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _emit(self, event: MonitorEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # one front end's bug must not stop the polling of every org
                log.exception("a subscriber failed on %s", type(event).__name__)

    # -- life ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Get the connection pools, start every poller, then read the history (in a thread:
        the first answers never wait on the disk). The answers the history kept are read
        while the pools are built, unless :meth:`load_cached` has read them already."""
        if self._started:
            return
        self._started = True
        cached = asyncio.ensure_future(self.load_cached())  # while the pools are being built
        try:
            fleet: Fleet | None = await self._obtain_fleet()
        except SetupError as exc:  # CA or proxy settings that cannot work: every org says so
            log.error("cannot poll: %s", exc.message)
            fleet = None
            fetch = self._failing(exc)
        if self._stopped:
            if fleet is not None:
                await fleet.aclose()  # stopped while the pools were being built
            return
        self.fleet = fleet
        if fleet is not None:
            fetch = recording(fleet.fetch, self.trends)
            for org in self._added.values():  # added while the pools were being built
                if org.name not in fleet.clients:
                    try:
                        fleet.add_org(org, self.environ)
                    except ConfigError as exc:  # checked when added; only a changed environment gets here
                        log.error("cannot poll %s: %s", org.name, exc)
        self._fetch = fetch
        for name in self.names:
            poller = OrgPoller(name, fetch, self.interval, self._poller_changed, rng=self._rng, now=self.clock)
            poller.state.cached = self._cached.get(name)
            poller.set_paused(self.paused)
            self._pollers[name] = poller
        await cached
        self._unanswered = {name for name, poller in self._pollers.items() if not self._has_answered(poller.state)}
        for name, poller in self._pollers.items():
            task = asyncio.create_task(poller.run(), name=f"poll:{name}")
            task.add_done_callback(self._poller_ended)
            self._tasks.append(task)
        try:
            await self._first_answers()
            if self._stopped:
                return
            names = list(self.names)
            await self.trends.load(names, fleet.series_keys(names) if fleet else None)
            self._history_loaded = True
            added = [name for name in self.names if name not in names]  # added while the history opened
            if added:
                await self.trends.load(added, fleet.series_keys(added) if fleet else None)
        finally:
            self._history_read.set()
        await self.trends.thin_history()

    @staticmethod
    def _has_answered(state: OrgState) -> bool:
        return state.fetched is not None or state.error is not None

    async def _first_answers(self) -> None:
        """Until every org has answered once (FIRST_ANSWERS_WAIT at most); not at all when
        there is no history to read, or when paused (no request goes out)."""
        if self._unanswered and self.trends.keeps_history and not self.paused:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answers_in.wait(), FIRST_ANSWERS_WAIT)

    async def load_cached(self) -> list[str]:
        """Read the newest answers the history kept and show them at once, as cached (an
        instant first screen before the first live answer); the names of the orgs that have
        one. Read once (in a thread): later calls return what the first found. A front end
        may call it before :meth:`start`, to have them on screen before the pools are built."""
        if not self._stored_shown:
            if self._stored_reading is None:
                self._stored_reading = asyncio.ensure_future(asyncio.to_thread(self._read_stored))
            self._show_stored(await asyncio.shield(self._stored_reading))
        return [name for name in self.names if name in self._cached]

    @property
    def cached_loaded(self) -> bool:
        """Whether the stored answers have been read (and shown) already."""
        return self._stored_shown

    def load_cached_now(self) -> list[str]:
        """:meth:`load_cached`, blocking: for a front end that wants them in its very first
        frame, before its event loop runs (one indexed query on a read-only connection, a
        few ms: what ``cuadra-top status`` does every few seconds)."""
        if not self._stored_shown:
            self._show_stored(self._read_stored())
        return [name for name in self.names if name in self._cached]

    def _read_stored(self) -> dict[str, tuple[datetime, dict]]:
        """The stored answers (blocking); a history that cannot tell is no loss."""
        sites = {org.name: site(org.api_url) for org in self.settings.org}
        wanted = [(name, sites[name]) for name in self.names if name in sites]
        try:
            return self.trends.latest_answers(wanted)
        except Exception:  # noqa: BLE001 - a damaged file: the full open says so later
            log.exception("reading the cached answers failed")
            return {}

    def _show_stored(self, found: dict[str, tuple[datetime, dict]]) -> None:
        if self._stored_shown:
            return
        self._stored_shown = True
        for name, (at, body) in found.items():
            try:
                usage = parse_usage(body)
            except ValueError:
                continue
            self._cached[name] = Fetched(usage=usage, raw=body, fetched_at=at, elapsed=0.0)
            poller = self._pollers.get(name)
            state = poller.state if poller is not None else None
            if state is not None and state.fetched is None:
                state.cached = self._cached[name]
                state.version += 1
            self._emit(OrgChanged(name, self.state_of(name)))

    def _failing(self, error: SetupError) -> Callable[[str], Awaitable[OrgResult]]:
        """The fetch of a monitor whose connections could not be set up: each org stops on the
        setting's one-line error (non-retryable), shown where its data would be."""

        async def fetch(name: str) -> OrgResult:
            return OrgResult(name, None, error, self.clock())

        return fetch

    async def _obtain_fleet(self) -> Fleet:
        source = self._fleet_source
        if isinstance(source, Future):
            return await asyncio.wrap_future(source)
        if source is not None:
            return source
        return await asyncio.to_thread(_build_fleet, self.settings, self.environ, self.clock, list(self.names),
                                       self._tls)

    @staticmethod
    def _poller_ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("poller %s ended by a bug", task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        """Stop polling, close the connections, write what the history has not yet written."""
        self._stopped = True
        self._answers_in.set()  # a start waiting for the first answers goes on (and ends)
        tasks, self._tasks = self._tasks, []
        self._to_judge.clear()  # not begun: nothing claimed; the next run judges them
        judging = self._judging
        if judging is not None and not self._judge_in_flight:
            tasks.append(judging)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if judging is not None and self._judge_in_flight:
            # A judgement in flight claims its notices in the store (the history, shared with
            # every other run of this account): cancelled, they would be sent by no one.
            try:
                await asyncio.wait_for(asyncio.shield(judging), JUDGE_GRACE)
            except Exception:  # noqa: BLE001 - a store that hangs must not hold the quit forever
                log.warning("the alerts being judged at stop did not finish within %s s", JUDGE_GRACE)
        if self.fleet is not None:
            await self.fleet.aclose()
        await asyncio.to_thread(self.trends.close)

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._stopped

    # -- control -------------------------------------------------------------------------------
    def pause(self, paused: bool | None = None) -> bool:
        """Pause (or resume, or toggle with None) every poller; returns the new state."""
        self.paused = (not self.paused) if paused is None else paused
        for poller in self._pollers.values():
            poller.set_paused(self.paused)
        return self.paused

    def set_interval(self, seconds: float) -> None:
        self.interval = float(seconds)
        for poller in self._pollers.values():
            poller.set_interval(self.interval)

    def step_interval(self, direction: int) -> float:
        """The next step slower (``direction`` > 0) or faster; from an interval between or
        beyond the steps it moves only in the asked direction, or stays (already the slowest
        or fastest)."""
        if direction > 0:
            new = next((step for step in INTERVAL_STEPS if step > self.interval), self.interval)
        else:
            new = next((step for step in reversed(INTERVAL_STEPS) if step < self.interval), self.interval)
        if new != self.interval:
            self.set_interval(new)
        return self.interval

    def refresh(self, names: Iterable[str] | None = None) -> None:
        """Fetch now (``names``, else every org). An org stopped on a credential or URL error
        first has its config read afresh, so a fixed token works without a restart."""
        for name in self.names if names is None else names:
            poller = self._pollers.get(name)
            if poller is None:
                continue
            if poller.state.stopped and not self._reload(name, poller):
                continue
            poller.refresh_now()

    def _reload(self, name: str, poller: OrgPoller) -> bool:
        """Rebuild a stopped org's credential from the config; False (and the reason on its
        status line) when the config is now broken."""
        if self._reload_org is None or self.fleet is None:
            return True  # nothing to re-read (the environment, the demo): retry as it is
        try:
            org = self._reload_org(name)
            self.fleet.replace_org(org, self.environ)
        except ConfigError as exc:
            poller.report(ConfigProblem(f"{exc}"))
            return False
        self._thresholds[name] = self.settings.thresholds_of(org)
        return True

    def add_org(self, org: OrgConfig) -> None:
        """Watch one more org from now on, without a restart (the TUI's Add organization):
        its client joins the fleet, a poller starts at once, its history is read. Raises
        ConfigError when its credential cannot be built (nothing changes then), ValueError
        when an org of that name is watched already."""
        if org.name in self.names:
            raise ValueError(f"an org named {org.name!r} is already watched")
        if self.fleet is not None:
            self.fleet.add_org(org, self.environ)
        else:
            build_credential(org, self.environ)  # the same check, before the fleet exists
        self._added[org.name] = org
        self.settings = self.settings.model_copy(update={"org": [*self.settings.org, org]})
        self.names.append(org.name)
        self._thresholds[org.name] = self.settings.thresholds_of(org)
        if self._fetch is None or self._stopped:
            return  # ``start`` is still to make the pollers: this org's among them
        poller = OrgPoller(org.name, self._fetch, self.interval, self._poller_changed, rng=self._rng, now=self.clock)
        poller.set_paused(self.paused)
        self._pollers[org.name] = poller
        task = asyncio.create_task(poller.run(), name=f"poll:{org.name}")
        task.add_done_callback(self._poller_ended)
        self._tasks.append(task)
        if not self._history_loaded:
            return  # ``start`` reads its history with the others' once the file is open
        keys = {org.name: self.fleet.series_key(org.name)} if self.fleet is not None else None
        loading = asyncio.ensure_future(self.trends.load([org.name], keys))
        self._loads.add(loading)
        loading.add_done_callback(self._loads.discard)

    def update_settings(self, settings: Settings) -> None:
        """New global settings (thresholds, bell) for the orgs already watched."""
        self.settings = settings
        self._thresholds = {name: settings.thresholds_for(name) for name in self.names}

    # -- what the front ends read --------------------------------------------------------------
    def state_of(self, name: str) -> OrgState:
        poller = self._pollers.get(name)
        return poller.state if poller is not None else OrgState(name, cached=self._cached.get(name))

    def poller(self, name: str) -> OrgPoller | None:
        """The org's poller (its schedule and backoff decisions), once started."""
        return self._pollers.get(name)

    def states(self) -> list[OrgState]:
        return [self.state_of(name) for name in self.names]

    def forecast_for(self, name: str) -> Forecast | None:
        return self.trends.forecast_for(name)

    def series(self, name: str) -> list[float]:
        return self.trends.series(name)

    def recent_credits(self, name: str) -> tuple[int | None, ...]:
        """The org's credits used over the last day, by half hour (the overview's sparkline)."""
        return self.trends.recent_credits(name)

    def current_period(self, name: str) -> Period | None:
        """The org's current period as this run knows it (no disk): the Usage tab's chart."""
        return self.trends.current_period(name, display_zone())

    async def periods(self, name: str) -> list[Period]:
        """The org's account, billing period by billing period, with its days in the display
        zone (the History tab); reads the history in a thread."""
        return await self.trends.periods_for(name, display_zone())

    def thresholds_for(self, name: str) -> Thresholds:
        thresholds = self._thresholds.get(name)
        return thresholds if thresholds is not None else self.settings.thresholds_for(name)

    def number_of(self, name: str) -> int:
        """The org's place in the config, from 1 (keys 1-9, the overview's # column)."""
        return self.names.index(name) + 1

    @property
    def warnings(self) -> list[str]:
        """What the history has to say (a damaged file moved aside, a sample skipped)."""
        return self.trends.warnings

    def answered(self) -> bool:
        """Every org has answered at least once (data or an error) and none is mid-fetch."""
        states = [poller.state for poller in self._pollers.values()]
        return len(states) == len(self.names) and all(
            self._has_answered(state) and not state.in_flight for state in states)

    async def wait_answered(self, timeout: float = 10.0) -> bool:
        """Wait until :meth:`answered` (tests, screenshots, one-shot front ends)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.answered():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    # -- from the pollers ----------------------------------------------------------------------
    def _poller_changed(self, state: OrgState) -> None:
        self._track_failures(state)
        self._emit(OrgChanged(state.name, state))
        if self._unanswered and self._has_answered(state):
            self._unanswered.discard(state.name)
            if not self._unanswered:
                self._answers_in.set()
        if not self._judge_alerts:
            return
        seen = (id(state.fetched), id(state.error), state.stopped)
        if self._judged.get(state.name, (None,))[1:] != seen:  # an answer, an error or a stop
            self._to_judge[state.name] = None
            if self._judging is None or self._judging.done():
                self._judging = asyncio.ensure_future(self._judge_pending())

    def _track_failures(self, state: OrgState) -> None:
        if state.error is None:
            self._failing_since.pop(state.name, None)
        elif state.failures:
            self._failing_since.setdefault(state.name, state.error_at or self.clock())

    def findings(self, name: str) -> list[Finding]:
        """What the rules say of the org now (its last data, and how its polling goes)."""
        state, now = self.state_of(name), self.clock()
        found: list[Finding] = []
        if state.fetched is not None:
            found += data_findings(name, state.fetched.usage, self.forecast_for(name), self.thresholds_for(name),
                                   now, self.policy)
        error = state.error
        health = Health(state.failures, self._failing_since.get(name), state.stopped,
                        error.message if error else None, error.kind if error else None, self.interval)
        return found + health_findings(name, health, now, self.policy)

    @property
    def policy(self) -> AlertPolicy:
        return self.settings.alert_policy

    def series_of(self, name: str) -> str:
        """The account the org's alert state belongs to (as its history): never the secret."""
        return series_for(name, self.trends, self.fleet)

    async def _judge_pending(self) -> None:
        """Judge the orgs that changed, one at a time, off the event loop when the store (the
        history file) must be read or written; at most one judgement runs at a time. Not
        before the history is read: its levels say what was raised already (by this account
        in another process, or before a restart), its samples make the forecast."""
        await self._history_read.wait()
        while self._to_judge:
            name = next(iter(self._to_judge))
            del self._to_judge[name]
            state = self.state_of(name)
            first = name not in self._sighted  # its first answer (or error) in this process
            if state.fetched is not None or state.error is not None:
                self._sighted.add(name)
            self._judged[name] = (None, id(state.fetched), id(state.error), state.stopped)
            findings, series = self.findings(name), self.series_of(name)
            end = state.fetched.usage.credits.period_end if state.fetched is not None else None
            if not self.alerts.needs_judging(series, findings):
                continue
            self._judge_in_flight = True
            try:
                notices = await asyncio.to_thread(self.alerts.judge, name, series, findings, self.clock(), end)
            except Exception:  # a bug in a rule must not stop the judging of every other org
                log.exception("judging the alerts of %s failed", name)
                continue
            finally:
                self._judge_in_flight = False
            for notice in notices:
                self._emit(AlertNotice(notice, first_sighting=first, claimed=True))


def _build_fleet(settings: Settings, environ: Mapping[str, str], clock: Callable[[], datetime],
                 names: list[str], tls: Future[ssl.SSLContext] | None) -> Fleet:
    """The connection pools, built off the event loop: the HTTP stack is imported here, the
    first time (tens of ms of imports), and the TLS context built (unless ``tls`` was)."""
    from cuadra_top.state.fleet import Fleet

    context = tls.result() if tls is not None else None  # its error (a CA setting) is this build's
    return Fleet.from_settings(settings, environ, now=clock, names=names, tls=context)
