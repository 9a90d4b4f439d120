"""The Textual app: one organization on screen at a time, every org polling behind it.

Pollers (the state layer) run as async workers on the app's loop and report each change; the
app gathers the changes into batches and renders only what is visible, and only what changed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, TabbedContent, TabPane

from cuadra_top import format as fmt
from cuadra_top.config import Settings
from cuadra_top.debuglog import logger
from cuadra_top.state.fleet import Fleet
from cuadra_top.state.alerts import AlertTracker, Level
from cuadra_top.state.poller import OrgPoller, OrgState
from cuadra_top.state.trends import Trends, recording
from cuadra_top.startup import resume_gc
from cuadra_top.tui.header import header_text, status_text
from cuadra_top.tui.help import HelpScreen
from cuadra_top.tui.keybar import KeyBar
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.panes import AdminPane, CreditsPane, Line, PlanPane, RawView, StoragePane
from cuadra_top.tui.themes import bundled_themes_dir, load_themes, save_theme_choice, user_themes_dir

DEFAULT_THEME = "cuadra"
FALLBACK_THEME = "textual-dark"
"""Textual's own, for when the bundled theme files are missing or damaged."""
INTERVAL_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
WIDE_AT = 120
"""From this many columns the three panes stand side by side."""
UPDATE_BATCH = 0.05
"""Seconds the app gathers poller changes before it draws them: hundreds of orgs answering in
the same second make a few redraws, and a key press never queues behind one message per poll."""
OVERVIEW_COALESCE = 0.05
"""The least time between two overview redraws..."""
OVERVIEW_GAP_PER_ORG = 0.001
"""...which grows with the fleet: 0.5 s for 500 orgs, whose rows change hundreds of times a second."""
STARTUP_GRACE = 2.0
"""Seconds after mount when start-up counts as over even with no data on screen yet."""
CLOCK_TICK = 5.0
"""Seconds between header refreshes ("12 s ago"); the countdown itself moves per minute."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class CuadraTopApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "cuadra-top"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("left_square_bracket", "switch(-1)", "Prev org", key_display="[", id="org.prev"),
        Binding("right_square_bracket", "switch(1)", "Next org", key_display="]", id="org.next"),
        Binding("o", "overview", "Overview", id="overview"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("p", "pause", "Pause", id="pause"),
        Binding("plus", "change_interval(1)", "Slower", key_display="+", id="interval.up"),
        Binding("minus", "change_interval(-1)", "Faster", key_display="-", id="interval.down"),
        Binding("u", "tab('usage')", "Usage", show=False, id="tab.usage"),
        Binding("a", "tab('admin')", "Admin", show=False, id="tab.admin"),
        Binding("v", "tab('raw')", "Raw JSON", show=False, id="tab.raw"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        *(Binding(str(n), f"jump({n})", "Jump to org 1-9", show=False, id=f"org.jump{n}") for n in range(1, 10)),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        environ: Mapping[str, str],
        config_path: Path | None = None,
        start_org: str | None = None,
        interval: float | None = None,
        theme: str | None = None,
        now: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        persist_theme: bool = True,
        trends: Trends | None = None,
        fleet: Future[Fleet] | None = None,
    ) -> None:
        """``fleet``: the connection pools, being built elsewhere (``run_tui`` starts that before
        Textual is even imported); without it the app builds them in a thread once mounted."""
        super().__init__()
        self._fleet_future = fleet
        self.trends = trends or Trends(None, now)
        self.alerts = AlertTracker()
        self.settings = settings
        self.environ = environ
        self.config_path = config_path
        self.names = [org.name for org in settings.org]
        self.interval = interval or settings.refresh_interval
        self.now = now
        self.rng = rng or random.Random()
        self.persist_theme = persist_theme and config_path is not None
        self.requested_theme = theme or settings.theme or DEFAULT_THEME
        self.current = start_org if start_org in self.names else (self.names[0] if self.names else None)
        self.start_on_overview = start_org is None and len(self.names) > 1
        self.fleet: Fleet | None = None
        self.pollers: dict[str, OrgPoller] = {}
        self.paused = False
        self._rendered: tuple[str | None, int, int] | None = None
        self._minute: int | None = None
        self._alerted: dict[str, object] = {}
        self._overview_pending = False
        self._overview_changed: set[str] = set()
        self._overview_synced_at = float("-inf")
        self._changed: set[str] = set()
        self._batch_pending = False
        self._applied_at = float("-inf")
        self._numbers = {name: number for number, name in enumerate(self.names, 1)}
        self._started = False
        self._history_warned: set[str] = set()
        self._theme_problems = self._load_themes()

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self._apply_width(self.size.width)  # before the widgets mount: a later change restyles them all
        yield Line(id="header")
        yield Line(id="status")
        with ContentSwitcher(initial="overview" if self.start_on_overview else "org", id="views"):
            if self.start_on_overview:
                yield self._new_overview()
            with TabbedContent(id="org", initial="usage"):
                with TabPane("Usage", id="usage"):
                    with VerticalScroll(id="usage-scroll"):
                        yield Line(id="nodata")
                        with Horizontal(id="usage-panes"):
                            thresholds = {"warn_percent": self.settings.warn_percent,
                                          "critical_percent": self.settings.critical_percent}
                            yield CreditsPane(id="credits", **thresholds)
                            yield StoragePane(id="storage", **thresholds)
                            yield PlanPane(id="plan", **thresholds)
                with TabPane("Admin", id="admin"):
                    with VerticalScroll():
                        yield AdminPane(id="admin-pane", warn_percent=self.settings.warn_percent,
                                        critical_percent=self.settings.critical_percent)
                with TabPane("Raw", id="raw"):
                    yield RawView(id="raw-view")
        yield KeyBar()

    def _new_overview(self) -> OverviewTable:
        """The overview table: composed at start only when the app starts on it, else mounted
        on first use (a DataTable costs tens of ms of start-up)."""
        return OverviewTable(self.names, warn_percent=self.settings.warn_percent,
                             critical_percent=self.settings.critical_percent, id="overview")

    def on_mount(self) -> None:
        for problem in self._theme_problems:
            self.notify(problem, severity="warning", timeout=10)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._notify_history_warnings()
        self.run_worker(self._start_polling(), name="start", group="pollers", exit_on_error=False)
        self.set_interval(CLOCK_TICK, self._tick)
        # With no data on screen yet (the overview, an error), start-up is over after a grace:
        self.set_timer(STARTUP_GRACE, partial(resume_gc, freeze=True))
        self.set_interval(3600, self.trends.thin_history)
        self.main.query_one(TabbedContent).hide_tab("admin")
        self._render()
        if self.start_on_overview:
            self.main.query_one(OverviewTable).focus()
        else:
            self.main.query_one(TabbedContent).query_one("Tabs").focus()

    async def _start_polling(self) -> None:
        """Get the connection pools (built in a thread: a TLS context costs tens of ms) while
        the first frame draws, start every poller, then read the history in a thread: the
        first data never waits on the disk."""
        if self._fleet_future is not None:
            fleet = await asyncio.wrap_future(self._fleet_future)
        else:
            fleet = await asyncio.to_thread(Fleet.from_settings, self.settings, self.environ, now=self.now)
        if self._winding_down:
            await fleet.aclose()  # the app ended (or crashed) while the pools were being built
            return
        self.fleet = fleet
        fetch = recording(self.fleet.fetch, self.trends)
        for name in self.names:
            poller = OrgPoller(name, fetch, self.interval, self._poller_changed, rng=self.rng, now=self.now)
            poller.set_paused(self.paused)
            self.pollers[name] = poller
            self.run_worker(poller.run(), name=f"poll:{name}", group="pollers", exit_on_error=False)
        await self.trends.load(self.names, fleet.series_keys(self.names))  # opens the history file, if left for now
        self._notify_history_warnings()
        await self.trends.thin_history()
        self._rendered = None
        self._tick()

    def _notify_history_warnings(self) -> None:
        for warning in self.trends.warnings:
            if warning not in self._history_warned:
                self._history_warned.add(warning)
                self.notify(warning, severity="warning", timeout=10)

    @property
    def _winding_down(self) -> bool:
        return self.crashed is not None or self._exit or self._closing or self._closed

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "pollers")
        if self.fleet is not None:
            await self.fleet.aclose()
        self.trends.close()

    def on_resize(self, event) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, width: int) -> None:
        self.set_class(width >= WIDE_AT, "-wide")

    # -- themes -------------------------------------------------------------------------------
    def _load_themes(self) -> list[str]:
        """Register the bundled and user themes and choose one; the problems, to show later.
        Done before the widgets exist: a theme set after mount restyles the whole screen
        (about 140 ms of start-up)."""
        loaded = load_themes(bundled_themes_dir(), user_themes_dir())
        for theme in loaded.themes:
            self.register_theme(theme)
        problems = list(loaded.problems)
        wanted = self.requested_theme
        if wanted not in self.available_themes:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else FALLBACK_THEME
            problems.append(f"unknown theme {wanted!r}; using {fallback}")
            wanted = fallback
        self.theme = wanted
        return problems

    def _theme_changed(self, theme) -> None:
        if not self.persist_theme or self.config_path is None:
            return
        try:
            save_theme_choice(self.config_path, theme.name)
        except (OSError, ValueError) as exc:
            self.notify(f"could not save the theme to {self.config_path}: {exc}", severity="warning")

    # -- state from the pollers ---------------------------------------------------------------
    def _poller_changed(self, state: OrgState) -> None:
        """A poller's org changed (called on the app's loop): drawn with the batch. After a
        quiet spell the batch is drawn at once (the first data must not wait UPDATE_BATCH);
        within UPDATE_BATCH of the last one, changes wait for the next."""
        self._changed.add(state.name)
        if not self._batch_pending:
            self._batch_pending = True
            self._once_past(self._applied_at + UPDATE_BATCH, self._apply_changes)

    def _once_past(self, moment: float, callback: Callable[[], object]) -> None:
        """Call ``callback`` when ``time.monotonic()`` has passed ``moment``: on the next turn
        of the loop if it already has (Textual's timers refuse a delay of 0)."""
        wait = moment - time.monotonic()
        if wait > 0:
            self.set_timer(wait, callback)
        else:
            self.call_later(callback)

    def _apply_changes(self) -> None:
        self._batch_pending = False
        self._applied_at = time.monotonic()
        changed, self._changed = self._changed, set()
        if not self.alive:
            return
        for name in changed:
            self._check_alerts(name)
        if self.showing_overview:
            self._overview_soon(changed)
        elif self.current in changed:
            self._render()

    def _check_alerts(self, name: str) -> None:
        """Notify once per threshold crossing (the tracker remembers), with a bell if asked.
        An org's first answer only sets the baseline: what is already over a threshold at start
        is on screen in the gauges, and a burst of toasts over it would hide it."""
        state = self.state_of(name)
        if state.fetched is None or state.fetched is self._alerted.get(name):
            return
        first = name not in self._alerted
        self._alerted[name] = state.fetched
        thresholds = self.settings.thresholds_for(name)
        alerts = self.alerts.update(name, state.fetched.usage, self.trends.forecast_for(name), thresholds,
                                    now=self.now())
        if first:
            return
        for alert in alerts:
            self.notify(alert.message, severity="error" if alert.level >= Level.CRITICAL else "warning",
                        timeout=15)
            if self.settings.bell:
                self.bell()

    def _tick(self) -> None:
        """Clock-driven refresh: ages and retry countdowns; the period countdown per minute."""
        if not self.alive:
            return
        self._notify_history_warnings()  # a sample the history could not store, written meanwhile
        if self.showing_overview:
            self._sync_overview()
        else:
            self._render(clock=True)

    @property
    def main(self) -> Screen:
        """The screen the org views live on, even while help or the palette is on top."""
        return self.screen_stack[0]

    @property
    def alive(self) -> bool:
        """False while the app winds down: late timers and messages then have nothing to draw."""
        return bool(self.screen_stack) and bool(self.main.query("#views"))

    @property
    def showing_overview(self) -> bool:
        return self.main.query_one(ContentSwitcher).current == "overview"

    def state_of(self, name: str) -> OrgState:
        poller = self.pollers.get(name)
        return poller.state if poller else OrgState(name)

    # -- rendering ----------------------------------------------------------------------------
    def _render(self, clock: bool = False) -> None:
        header = self.main.query_one("#header", Line)
        status = self.main.query_one("#status", Line)
        if self.current is None:
            header.show("cuadra-top · no organizations configured")
            status.display = False
            return
        now = self.now()
        state = self.state_of(self.current)
        position = (self.names.index(self.current) + 1, len(self.names))
        header.show(header_text(state, now, self.interval, position))
        message = status_text(state, now)
        status.display = bool(message)
        status.set_class(state.error is not None, "-error")
        status.show(message)

        minute = int(now.timestamp() // 60)
        key = (self.current, state.version, id(state.fetched))
        if clock and key == self._rendered and minute == self._minute:
            return  # nothing changed but the clock, and not enough to move the countdown
        self._rendered, self._minute = key, minute
        self._render_usage(state, now)

    def _render_usage(self, state: OrgState, now: datetime) -> None:
        nodata = self.main.query_one("#nodata", Line)
        panes = self.main.query_one("#usage-panes")
        tabs = self.main.query_one(TabbedContent)
        fetched = state.fetched
        if fetched is None:
            nodata.display = True
            panes.display = False
            why = state.error.message if state.error else "waiting for the first answer…"
            nodata.show(f"No data yet for {state.name}: {why}")
            tabs.hide_tab("admin")
            return
        nodata.display = False
        panes.display = True
        if not self._started:
            self._started = True
            self.call_after_refresh(partial(resume_gc, freeze=True))  # the first data is on screen
        usage = fetched.usage
        forecast = self.trends.forecast_for(state.name)
        credits = self.main.query_one(CreditsPane)
        credits.show(usage)
        credits.show_trend(self.trends.series(state.name), forecast, now)
        storage = self.main.query_one(StoragePane)
        storage.show(usage)
        storage.show_trend(forecast, now)
        self.main.query_one(PlanPane).show(usage, now)
        self.main.query_one(RawView).show(fetched.raw, usage)
        if usage.admin is not None:
            tabs.show_tab("admin")
            self.main.query_one(AdminPane).show(usage)
        else:
            if tabs.active == "admin":
                tabs.active = "usage"
            tabs.hide_tab("admin")

    def _overview_soon(self, changed: Iterable[str] = ()) -> None:
        """Update the rows of ``changed`` orgs at the next allowed overview redraw."""
        self._overview_changed.update(changed)
        if not self._overview_pending:
            self._overview_pending = True
            gap = max(OVERVIEW_COALESCE, OVERVIEW_GAP_PER_ORG * len(self.names))
            self._once_past(self._overview_synced_at + gap, self._sync_overview_changes)

    def _sync_overview_changes(self) -> None:
        self._overview_pending = False
        changed, self._overview_changed = self._overview_changed, set()
        if not self.alive or not self.showing_overview:
            return  # an org was opened since the update was asked for; the overview syncs in full when shown
        self._overview_synced_at = time.monotonic()
        self.main.query_one(OverviewTable).update_rows(
            [(self._numbers[n], self.state_of(n)) for n in changed], self.now(), self.interval,
            {n: self.trends.forecast_for(n) for n in changed},
        )
        self._overview_header()

    def _sync_overview(self) -> None:
        """Every row (ages and countdowns move for all of them): on the clock and when shown."""
        self._overview_changed.clear()
        if not self.alive or not self.showing_overview:
            return
        self._overview_synced_at = time.monotonic()
        self.main.query_one(OverviewTable).sync(
            [self.state_of(n) for n in self.names], self.now(), self.interval,
            {n: self.trends.forecast_for(n) for n in self.names},
        )
        self._overview_header()

    def _overview_header(self) -> None:
        if not self.names:
            self.main.query_one("#header", Line).show("cuadra-top · no organizations configured")
            return
        paused = " · PAUSED" if self.paused else ""
        self.main.query_one("#header", Line).show(
            f"cuadra-top · {len(self.names)} organizations · every {fmt.interval(self.interval)}{paused}"
            " · Enter opens, s sorts"
        )
        self.main.query_one("#status", Line).display = False

    # -- actions ------------------------------------------------------------------------------
    def open_org(self, name: str) -> None:
        if name not in self.names:
            return
        self.current = name
        self.main.query_one(ContentSwitcher).current = "org"
        self._rendered = None
        self._render()
        self.main.query_one(TabbedContent).query_one("Tabs").focus()

    def action_switch(self, step: int) -> None:
        if not self.names:
            return
        if self.showing_overview or self.current is None:
            index = 0 if step > 0 else len(self.names) - 1
        else:
            index = (self.names.index(self.current) + step) % len(self.names)
        self.open_org(self.names[index])

    def action_jump(self, number: int) -> None:
        if 1 <= number <= len(self.names):
            self.open_org(self.names[number - 1])

    async def action_overview(self) -> None:
        if self.showing_overview:
            if self.current:
                self.open_org(self.current)
            return
        switcher = self.main.query_one(ContentSwitcher)
        if not switcher.query_children(OverviewTable):
            await switcher.mount(self._new_overview())
        switcher.current = "overview"
        self._sync_overview()
        self.main.query_one(OverviewTable).focus()

    @on(OverviewTable.OpenOrg)
    def _open_from_overview(self, message: OverviewTable.OpenOrg) -> None:
        self.open_org(message.name)

    @on(OverviewTable.RowSelected)
    def _row_selected(self, message: OverviewTable.RowSelected) -> None:
        self.open_org(str(message.row_key.value))

    def action_refresh(self) -> None:
        names = self.names if self.showing_overview or self.current is None else [self.current]
        if not names:
            return
        for name in names:
            if name in self.pollers:
                self.pollers[name].refresh_now()
        self.notify(f"refreshing {'all orgs' if len(names) > 1 else names[0]}", timeout=2)

    def action_pause(self) -> None:
        self.paused = not self.paused
        for poller in self.pollers.values():
            poller.set_paused(self.paused)
        self.notify("polling paused" if self.paused else "polling resumed", timeout=2)
        self._rendered = None
        self._tick()

    def action_change_interval(self, direction: int) -> None:
        steps = list(INTERVAL_STEPS)
        if direction > 0:
            new = next((s for s in steps if s > self.interval), steps[-1])
        else:
            new = next((s for s in reversed(steps) if s < self.interval), steps[0])
        self.interval = float(new)
        for poller in self.pollers.values():
            poller.set_interval(self.interval)
        self.notify(f"refresh every {fmt.interval(self.interval)}", timeout=2)
        self._rendered = None
        self._tick()

    def action_tab(self, tab: str) -> None:
        if self.showing_overview:
            if self.current is None:
                return
            self.open_org(self.current)
        tabs = self.main.query_one(TabbedContent)
        if tab == "admin" and (state := self.state_of(self.current or "")).fetched is not None \
                and state.fetched.usage.admin is None:
            self.notify("this credential sees no admin fields", timeout=3)
            return
        tabs.active = tab

    def action_help(self) -> None:
        bindings: list[Binding] = list(self.BINDINGS)  # type: ignore[arg-type]
        bindings += list(OverviewTable.BINDINGS)  # type: ignore[arg-type]
        self.push_screen(HelpScreen(bindings))

    # -- crashes ------------------------------------------------------------------------------
    crashed: str | None = None
    """The type of the exception that ended the app, if one did (``run_tui`` reports it)."""

    def _handle_exception(self, error: Exception) -> None:
        """A bug must not print Textual's traceback (with locals, which may hold a credential)
        over the user's terminal: it goes, redacted, to the ``--log`` file instead."""
        logger("tui").error("internal error in the TUI", exc_info=error)
        self.crashed = type(error).__name__
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        self._exit_renderables.clear()  # see _handle_exception: run_tui prints one line

    # -- command palette ----------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for name in self.names:
            yield SystemCommand(f"Org: {name}", f"Show the organization {name}", lambda n=name: self.open_org(n))
        yield SystemCommand("Overview", "All organizations in one table", self.action_overview)
        yield SystemCommand("Refresh now", "Fetch the shown org (all orgs in the overview) now",
                            self.action_refresh)
        yield SystemCommand("Pause / resume", "Stop or restart polling of every org", self.action_pause)
