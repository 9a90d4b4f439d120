"""The Textual app: themes, the command palette, crash handling, and the monitor's lifetime.

What is on screen is the default screen's business (:class:`MonitorScreen`); what is polled
and judged is the monitor's (the state layer). The app starts the monitor once mounted and
stops it (closing connections, writing the history) when it ends.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from cuadra_top import glyphs
from cuadra_top.clock import utc_now
from cuadra_top.debuglog import logger
from cuadra_top.display_time import display_zone
from cuadra_top.format import printable
from cuadra_top.redaction import redact
from cuadra_top.startup import resume_gc
from cuadra_top.tui.textual_memory import bound_textual_caches
from cuadra_top.tui.themes import bundled_themes_dir, load_themes, save_theme_choice, user_themes_dir

if TYPE_CHECKING:  # the first frame of a returning user comes before these are imported
    from cuadra_top.notify.delivery import Report
    from cuadra_top.notify.service import NotifyService
    from cuadra_top.state.monitor import Monitor
    from cuadra_top.tui.first_start import GlanceScreen
    from cuadra_top.tui.screen import MonitorScreen

DEFAULT_THEME = "cuadra"
FALLBACK_THEME = "textual-dark"
"""Textual's own, for when the bundled theme files are missing or damaged."""
PAINT_WAIT = 1.0
"""Seconds the pools wait at most for the answers the history kept to be drawn (a backstop:
the screen draws them within a frame or two)."""
STARTUP_GRACE = 2.0
"""Seconds after mount when start-up counts as over even with no data on screen yet."""
HISTORY_THINNING = 3600.0
WARNINGS_EVERY = 5.0
HEAP_TRIM_EVERY = 60.0
"""Seconds between a full collection of cycles and giving the C heap's free pages back
(:mod:`cuadra_top.heap`). The collection takes the event loop for about 11 ms at 40 orgs and
26 ms at 500 (what start-up built is frozen, so it walks only what came since), 128 ms at 1000
orgs with a month of history, whose trend samples it walks too (the automatic collector's own
full collections took 111 ms there); the trim, a fraction of a ms. The trim halved the RSS
growth of the TUI switching orgs once a second; the collection frees cycles the
allocation-driven collector leaves in the oldest generation, holding pages the trim cannot
give back (a probe collecting every 10 s at 40 orgs freed 1,500 objects a time, median)."""
NOTICES_KEPT = 100
LIVE_IN_GLANCE_WAIT = 0.4
"""Seconds the first screen waits for the first live answers, shown there, before the
monitor's screen takes over (with the stored ones, if the API is slower)."""
MONITOR_MODE = "monitor"
"""The screen mode of the monitor's screen after a first start (see ``FirstStart``)."""


class StartFailed(Exception):
    """What stops the first start from building the monitor: one line for the user, and the
    exit code (as the command line says it when the TUI has not started)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Watched:
    """What the app watches, and where its choices go."""

    monitor: Monitor
    config_path: Path | None = None
    """The config file, to write the chosen theme back to (None: nothing is written)."""
    start_org: str | None = None
    persist_theme: bool = True
    delivery: NotifyService | None = None
    config_target: Path | None = None
    warnings: Sequence[str] = ()
    """What the config's loader had to say (shown as toasts)."""


@dataclass
class FirstStart:
    """A returning user's first frame, before the monitor exists: ``screen`` shows what the
    history kept, read without the config's full validation (its pydantic import alone is a
    third of a bare Textual app's start); once that frame is on the terminal, ``finish``
    validates the config and builds what is watched (raising StartFailed), and the monitor's
    screen replaces it."""

    screen: GlanceScreen
    finish: Callable[[], Watched]
    theme: str | None = None
    """The config's theme, as the quick reading found it."""


def _give_back_free_memory() -> None:
    from cuadra_top.heap import give_back_free_memory  # ctypes: not on the way to the first frame

    gc.collect()  # cycles the allocation-driven collector left in the oldest generation, then the trim
    give_back_free_memory()


class CuadraTopApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "cuadra-top"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        # Textual's: the terminal is restored, the process stopped; `fg` brings it back.
        Binding("ctrl+z", "suspend_process", "Suspend (fg resumes)", key_display="ctrl+z", show=False,
                priority=True, id="suspend"),
    ]

    def __init__(
        self,
        monitor: Monitor | None,
        *,
        config_path: Path | None = None,
        start_org: str | None = None,
        theme: str | None = None,
        persist_theme: bool = True,
        now: Callable[[], datetime] = utc_now,
        environ: Mapping[str, str] | None = None,
        delivery: NotifyService | None = None,
        config_target: Path | None = None,
        first: FirstStart | None = None,
    ) -> None:
        """``monitor``: what the app watches; None with ``first``, which builds it once its
        screen is on the terminal."""
        # NO_COLOR means no colour at all (no-color.org): Textual's default under NO_COLOR turns
        # colours grey (still 256-colour codes); with ANSI colours on it strips them instead.
        super().__init__(ansi_color=True if os.environ.get("NO_COLOR") else None)
        bound_textual_caches()  # toasts come and go, panes show and hide: Textual must not keep stale renders
        if (monitor is None) == (first is None):
            raise ValueError("CuadraTopApp needs a monitor, or a first start that builds one")
        self.now = now
        self.environ = os.environ if environ is None else environ
        self.first = first
        self.start_error: StartFailed | None = None
        """Why ``first`` could not build the monitor (the app then exits with its code)."""
        self._warned: set[str] = set()
        self.notices: deque[str] = deque(maxlen=NOTICES_KEPT)
        """The latest notifications' texts, newest last (what the toasts said)."""
        self.terminal_encoding: str | None = getattr(sys.__stderr__, "encoding", None)
        """The encoding of the terminal as Textual writes to it (stderr). Not a UTF: the driver
        writes ASCII stand-ins for what it lacks, and keys are named in words."""
        self._first_frame = asyncio.Event()
        self.monitor: Monitor = None  # type: ignore[assignment]  # set by _watch
        self.main_screen: MonitorScreen = None  # type: ignore[assignment]
        self.delivery: NotifyService | None = None
        """The ``[[notify]]`` channels, built after start-up (apprise costs 0.3 s to import)."""
        self.config_path: Path | None = None
        self.persist_theme = False
        self.config_target: Path | None = None
        """Where Add organization writes a new org (the config file, existing or not); None:
        nowhere (the demo), and the command is not offered."""
        configured = monitor.settings.theme if monitor is not None else first.theme  # type: ignore[union-attr]
        self.requested_theme = theme or configured or DEFAULT_THEME
        self._theme_problems = self._load_themes()
        if monitor is not None:
            self._watch(Watched(monitor, config_path=config_path, start_org=start_org,
                                persist_theme=persist_theme, delivery=delivery, config_target=config_target))

    def _watch(self, watched: Watched) -> None:
        from cuadra_top.tui.screen import MonitorScreen

        self.monitor = watched.monitor
        self.config_path = watched.config_path
        self.persist_theme = watched.persist_theme and watched.config_path is not None
        self.delivery = watched.delivery
        self.config_target = watched.config_target
        self.main_screen = MonitorScreen(watched.monitor, start_org=watched.start_org, now=self.now)

    exiting = False
    """``exit`` was called (a key, a signal, a failed start): the app is closing."""

    def exit(self, result: int | None = None, return_code: int = 0, message: Any = None) -> None:
        self.exiting = True
        super().exit(result, return_code, message)

    def notify(self, message: str, **kw: Any) -> None:  # type: ignore[override]
        """Every toast, whatever it quotes (an org name, an API's words), with any known
        secret masked and no control character."""
        message = printable(redact(str(message)))
        self.notices.append(message)
        super().notify(message, **kw)

    def get_driver_class(self):
        """Textual's Linux driver, made to let go of the terminal on a signal or a hang-up
        (see :mod:`cuadra_top.tui.terminal`); any other driver (Windows, ``TEXTUAL_DRIVER``) as is."""
        driver = super().get_driver_class()
        if driver.__name__ == "LinuxDriver" and driver.__module__ == "textual.drivers.linux_driver":
            from cuadra_top.tui.terminal import TerminalDriver

            return TerminalDriver
        return driver

    def get_key_display(self, binding: Binding) -> str:
        shown = super().get_key_display(binding)
        return glyphs.fit_text(shown, self.terminal_encoding)  # '⏎' is 'enter' where it cannot be shown

    def get_default_screen(self) -> Screen:
        return self.main_screen if self.first is None else self.first.screen

    def on_mount(self) -> None:
        for problem in self._theme_problems:
            self.notify(problem, severity="warning", timeout=10)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.app_resume_signal.subscribe(self, self._resumed)
        if self.monitor is not None:
            self._begin(in_first_frame=self.monitor.cached_loaded)  # read before the app started (run_tui)

    async def _finish_first_start(self) -> None:
        """The first screen is on the terminal: now the config's full validation, the monitor
        and its screen, which replaces the first one. A config the first screen's quick reading
        took but the full one refuses ends the app, with the one-line error (``start_error``)."""
        assert self.first is not None
        try:
            watched = self.first.finish()
        except StartFailed as failed:
            self.start_error = failed
            self.exit(return_code=failed.code)
            return
        if self.exiting:  # a signal or a key while it was built: nothing started, nothing to stop
            return
        self._watch(watched)
        for warning in watched.warnings:  # said on stderr too, after the app, where the screen does not hide them
            self.notify(warning, severity="warning", timeout=10, markup=False)
        # The first screen is Textual's default one, which cannot be switched away from: the
        # monitor's screen is the base of a mode of its own (the first stays behind, idle).
        self.add_mode(MONITOR_MODE, lambda: self.main_screen)
        self._begin(in_first_frame=True)  # the stored answers are on the terminal: the pools need not wait
        await self._live_in_glance(self.first.screen)
        if not self.exiting:  # a screen mounted while the app closes would find none of its widgets
            await self.switch_mode(MONITOR_MODE)

    async def _live_in_glance(self, glance: GlanceScreen) -> None:
        """The first live answers of the orgs the first screen shows, drawn there as they come
        (for LIVE_IN_GLANCE_WAIT at most): the monitor's screen (its widgets, a layout, a whole
        paint) then takes over with them, rather than hold them up."""
        from cuadra_top.state.monitor import OrgChanged

        waiting, done = set(glance.shown), asyncio.Event()

        def answered(event: object) -> None:
            if self.exiting or not isinstance(event, OrgChanged) or event.name not in waiting:
                return
            fetched = event.state.fetched
            if fetched is not None:  # the numbers as validated (a fractional count rounded, as the panes show it)
                usage = fetched.usage
                glance.show_live(event.name, fetched.fetched_at, {
                    part: {"used": quota.used, "limit": quota.limit}
                    for part, quota in (("credits", usage.credits), ("storage", usage.storage))})
            if fetched is not None or event.state.error is not None:
                waiting.discard(event.name)
                if not waiting:
                    done.set()

        unsubscribe = self.monitor.subscribe(answered)
        try:
            await asyncio.wait_for(done.wait(), LIVE_IN_GLANCE_WAIT)
        except TimeoutError:
            pass  # a slow API: the monitor's screen, with the stored answers, until it answers
        finally:
            unsubscribe()
        if glance.glance.live:
            painted = asyncio.Event()
            if glance.call_after_refresh(painted.set):
                await self._until(painted)

    def _begin(self, *, in_first_frame: bool) -> None:
        """Start watching: the monitor (once the stored answers are drawn), alerts, upkeep."""
        from cuadra_top.notify.terminal import TerminalNotifier

        zone_problem = display_zone().problem  # said on stderr too, but the screen hides that
        if zone_problem:
            self.notify(zone_problem, severity="warning", timeout=10, markup=False)
        self.run_worker(self._start_monitor(in_first_frame), name="monitor", exit_on_error=False)
        # With no data on screen yet (the overview, an error), start-up is over after a grace:
        self.set_timer(STARTUP_GRACE, partial(resume_gc, freeze=True))
        self.set_interval(HISTORY_THINNING, self.monitor.trends.thin_history)
        self.set_interval(WARNINGS_EVERY, self.show_warnings)  # a sample the history could not store
        self.set_interval(HEAP_TRIM_EVERY, _give_back_free_memory)  # weeks open, no creep in RSS
        self.monitor.subscribe(TerminalNotifier(lambda text: self.write_to_terminal(text), lambda: self.bell(),
                                                lambda: self.monitor.settings, self.environ))
        if self.delivery is not None:
            self.monitor.subscribe(self.delivery)  # keeps what is claimed until the channels are built
            self.set_timer(STARTUP_GRACE, self._start_delivery)
        if not self.monitor.names and self.config_target is not None:
            self.action_add_org(first=True)  # nothing to watch yet: add an org instead of an empty screen

    def write_to_terminal(self, text: str) -> None:
        """Write an escape sequence straight to the terminal (a desktop notification), as
        Textual writes its own OSC 52 for the clipboard; nothing when headless."""
        if not self.is_headless and self._driver is not None:
            self._driver.write(text)

    def _start_delivery(self) -> None:
        self.run_worker(self._build_channels(), name="delivery", exit_on_error=False)

    async def _build_channels(self) -> None:
        assert self.delivery is not None
        self.delivery.on_report = self._delivery_report
        for problem in await self.delivery.start():
            self.notify(f"notify: {problem}; that channel is off (check: cuadra-top config validate)",
                        severity="error", timeout=30, markup=False)

    def _delivery_report(self, report: Report) -> None:
        """A channel started failing (said once) or works again: a toast, and the log."""
        self.notify(report.message, severity="information" if report.ok else "error", timeout=30, markup=False)

    async def _start_monitor(self, in_first_frame: bool) -> None:
        if await self.monitor.load_cached():
            # The answers the history kept go on the terminal first: building the pools (the
            # HTTP stack's imports, a TLS context: ~100 ms of CPU, in a thread that holds the
            # GIL most of that time) would otherwise hold up the first useful frame. Read
            # before the app started, they are in its first frame: the pools are built while
            # Textual settles after it (a few more layouts and paints).
            await self._until(self._first_frame if in_first_frame else self._painted())
        await self.monitor.start()
        self.show_warnings()
        self.main_screen.render_now()

    def on_ready(self) -> None:
        """Textual's: the first frame is on the terminal."""
        self._first_frame.set()
        if self.first is not None:
            self.call_later(self._finish_first_start)

    async def _painted(self) -> None:
        """Until the main screen has drawn what it has been told so far."""
        painted = asyncio.Event()
        if self.main_screen.call_after_refresh(painted.set):
            await painted.wait()

    @staticmethod
    async def _until(event: asyncio.Event | Awaitable[None]) -> None:
        """Wait for ``event`` (an Event, or a coroutine), at most PAINT_WAIT: a backstop."""
        waited = event.wait() if isinstance(event, asyncio.Event) else event
        try:
            await asyncio.wait_for(waited, PAINT_WAIT)
        except TimeoutError:
            logger("tui").warning("the stored answers were not drawn within %s s; building the pools", PAINT_WAIT)

    def show_warnings(self) -> None:
        """The history's warnings (a damaged file set aside, a skipped sample), once each."""
        for warning in self.monitor.warnings if self.monitor is not None else ():
            if warning not in self._warned:
                self._warned.add(warning)
                self.notify(warning, severity="warning", timeout=10)

    def _resumed(self, _app: App) -> None:
        """Back from Ctrl+Z: the terminal was the shell's meanwhile, so everything is redrawn."""
        self.refresh(repaint=True, layout=True)
        self.screen.refresh(repaint=True, layout=True)

    async def on_unmount(self) -> None:
        if self.monitor is None:  # ended before the first start built it
            return
        await self.monitor.stop()
        if self.delivery is not None:
            await self.delivery.stop()  # what is queued gets a few seconds to go out

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

    # -- actions ------------------------------------------------------------------------------
    def action_help(self) -> None:
        from cuadra_top.tui.help import open_help
        from cuadra_top.tui.overview import OverviewTable
        from cuadra_top.tui.screen import MonitorScreen

        bindings: list[Binding] = [*self.BINDINGS, *MonitorScreen.BINDINGS, *OverviewTable.BINDINGS]  # type: ignore[list-item]
        open_help(self, bindings)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main_screen
        if main is None:  # the first screen: nothing to command yet
            return
        for name in self.monitor.names:
            shown = printable(name)
            yield SystemCommand(f"Org: {shown}", f"Show the organization {shown}", partial(main.open_org, name))
        if self.config_target is not None:
            yield SystemCommand("Add organization", "Check a credential live and start watching its org",
                                self.action_add_org)
        yield SystemCommand("Overview", "All organizations in one table", main.action_overview)
        yield SystemCommand("Refresh now", "Fetch the shown org (all orgs in the overview) now", main.action_refresh)
        yield SystemCommand("Pause / resume", "Stop or restart polling of every org", main.action_pause)

    def action_add_org(self, first: bool = False) -> None:
        from cuadra_top.tui.add_org import AddOrgScreen  # imported when first asked for

        if self.config_target is not None:
            self.push_screen(AddOrgScreen(self.config_target, first=first))

    def add_org(self, org) -> None:
        """Start watching ``org`` (an ``OrgConfig`` just saved): polled at once, on every view."""
        from cuadra_top.config import ConfigError

        try:
            self.monitor.add_org(org)
        except (ValueError, ConfigError) as exc:
            self.notify(f"cannot watch {org.name}: {exc}", severity="error", timeout=10)
            return
        self.main_screen.org_added(org.name)

    # -- crashes ------------------------------------------------------------------------------
    crashed: str | None = None
    """The type of the exception that ended the app, if one did (``run_tui`` reports it)."""

    def _handle_exception(self, error: Exception) -> None:
        """A bug must not print Textual's traceback (with locals, which may hold a credential)
        over the user's terminal: it goes, redacted, to the ``--log`` file instead."""
        logger("tui").error("internal error in the TUI", exc_info=error)
        self.crashed = self.crashed or type(error).__name__  # the first: later ones are its echoes
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        self._exit_renderables.clear()  # see _handle_exception: run_tui prints one line
