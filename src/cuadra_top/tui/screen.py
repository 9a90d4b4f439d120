"""The main screen: a header, a status line, the overview or one org, and the key bar.

It subscribes to the monitor (the state layer) and draws what changed, in batches; it calls
the monitor for every action (refresh, pause, interval). Only what is visible is drawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import ContentSwitcher, TabbedContent

from cuadra_top import format as fmt
from cuadra_top.state.alerts import Level, NoticeKind
from cuadra_top.state.monitor import AlertNotice, Monitor, MonitorEvent, OrgChanged
from cuadra_top.startup import resume_gc
from cuadra_top.tui.coalesce import Coalescer
from cuadra_top.tui.header import header_text, status_text
from cuadra_top.tui.keybar import KeyBar
from cuadra_top.tui.org_view import OrgShown, OrgView
from cuadra_top.tui.overview import OverviewTable, Row
from cuadra_top.tui.panes import Line

WIDE_AT = 120
"""From this many columns the three panes stand side by side."""
UPDATE_BATCH = 0.05
"""Seconds the screen gathers the monitor's changes before it draws them."""
OVERVIEW_COALESCE = 0.05
"""The least time between two overview redraws..."""
OVERVIEW_GAP_PER_ORG = 0.001
"""...which grows with the fleet: 0.5 s for 500 orgs, whose rows change hundreds of times a second."""
USAGE_CHART_MIN = 10
USAGE_CHART_MAX = 20
"""Rows of the Usage tab's credits chart: shown when at least MIN are left under the panes."""
CHART_AFTER_FIRST_ANSWER = 0.1
"""Seconds after the first live answer is drawn before the credits chart is (see render_now)."""
CHROME_ROWS = 6
"""The header, the status line, the tabs and their rule, the key bar."""
PANES_ROWS_WIDE, PANES_ROWS_STACKED = 14, 30
"""The most rows the panes take side by side (120 columns and more) and stacked."""
HISTORY_REDRAW = 30.0
"""Seconds between redraws of the History tab while answers come in (it reads the history)."""
CLOCK_TICK = 5.0
"""Seconds between header refreshes ("12 s ago"); the countdown itself moves per minute."""
NO_ORGS = "cuadra-top · no organizations configured"


class MonitorScreen(Screen):
    """The app's default screen. Help and the palette open above it; it keeps drawing."""

    BINDINGS = [
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
        Binding("h", "tab('history')", "History", show=False, id="tab.history"),
        Binding("comma", "period(-1)", "Previous period", key_display=",", show=False, id="history.previous"),
        Binding("full_stop", "period(1)", "Next period", key_display=".", show=False, id="history.next"),
        *(Binding(str(n), f"jump({n})", "Jump to org 1-9", show=False, id=f"org.jump{n}") for n in range(1, 10)),
    ]

    def __init__(self, monitor: Monitor, *, start_org: str | None = None,
                 now: Callable[[], datetime]) -> None:
        super().__init__()
        self.monitor = monitor
        self.now = now
        names = monitor.names
        self.current: str | None = start_org if start_org in names else (names[0] if names else None)
        self.start_on_overview = start_org is None and len(names) > 1
        self._rendered: tuple[str | None, int, int] | None = None
        self._minute: int | None = None
        self._first_data_drawn = False
        self._chart_held = False
        """The credits chart waits (CHART_AFTER_FIRST_ANSWER) after the first live answer's frame."""
        self._changes = Coalescer(self._schedule, self._apply_changes, UPDATE_BATCH)
        self._overview_rows = Coalescer(self._schedule, self._update_overview_rows,
                                        lambda: max(OVERVIEW_COALESCE, OVERVIEW_GAP_PER_ORG * len(names)))
        self._unsubscribe: Callable[[], None] | None = None
        self._period_back: dict[str, int] = {}
        """Per org, how many periods back the History tab shows (0: the current one)."""
        self._history_drawn: tuple[str, float] | None = None

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self.set_class(self.app.size.width >= WIDE_AT, "-wide")  # now: a later change restyles every widget
        yield Line(id="header")
        yield Line(id="status")
        with ContentSwitcher(initial="overview" if self.start_on_overview else "org", id="views"):
            if self.start_on_overview:
                yield self._new_overview()
            yield OrgView(id="org")
        yield KeyBar()

    def _new_overview(self) -> OverviewTable:
        """Composed at start only when the screen starts on it, else mounted on first use (a
        DataTable costs tens of ms of start-up)."""
        return OverviewTable(self.monitor.names, id="overview")

    def on_mount(self) -> None:
        self._unsubscribe = self.monitor.subscribe(self._on_monitor_event)
        self.set_interval(CLOCK_TICK, self.tick)
        self.render_now()
        if self.start_on_overview:
            self.query_one(OverviewTable).focus()
        else:
            self.org_view.focus_tabs()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        # Quit before start-up was declared over (before the first data, or before the screen
        # went idle after it): the collector must not come back unfrozen when main returns, or
        # the interpreter's last collection walks all that start-up built (~200 ms to quit).
        resume_gc(freeze=True)

    def on_resize(self, event) -> None:
        self.set_class(event.size.width >= WIDE_AT, "-wide")
        if self.is_mounted and self.live and not self.showing_overview:
            self.call_after_refresh(self._usage_chart)

    def _schedule(self, delay: float, callback: Callable[[], None]) -> None:
        """Textual's timers refuse a delay of 0: the next turn of the loop instead."""
        if delay > 0:
            self.set_timer(delay, callback)
        else:
            self.call_later(callback)

    # -- what is shown ------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """False while the app winds down: late timers and batches then have nothing to draw."""
        return self.is_attached and bool(self.query_children(ContentSwitcher))  # a child: no walk of the tree

    @property
    def org_view(self) -> OrgView:
        return self.query_one(OrgView)

    @property
    def showing_overview(self) -> bool:
        return self.query_one(ContentSwitcher).current == "overview"

    @property
    def header_line(self) -> str:
        return str(self.query_one("#header", Line).render())

    @property
    def status_line(self) -> str:
        status = self.query_one("#status", Line)
        return str(status.render()) if status.display else ""

    # -- from the monitor ---------------------------------------------------------------------
    def _on_monitor_event(self, event: MonitorEvent) -> None:
        if isinstance(event, OrgChanged):
            # The shown org's first answer is drawn at once, not UPDATE_BATCH after the change
            # that said its request went out (a fast API answers well within that).
            first_answer = not self._first_data_drawn and event.name == self.current and event.state.fetched is not None
            self._changes.add((event.name,), at_once=first_answer)
        elif isinstance(event, AlertNotice) and not event.first_sighting:
            # An org's first answer is on screen in the gauges; a burst of toasts would hide it.
            notice = event.notice
            severity = "information" if notice.kind is NoticeKind.RECOVERED else (
                "error" if notice.level is Level.CRITICAL else "warning")
            self.notify(notice.message, severity=severity, timeout=15)
            # The bell and the desktop notification: the app's TerminalNotifier.

    def _apply_changes(self, changed: set[str]) -> None:
        if not self.live:
            return
        if self.showing_overview:
            self._overview_rows.add(changed)
        elif self.current in changed:
            self.render_now()
            if self.org_view.active_tab == "history":
                self.load_history(fresh_within=HISTORY_REDRAW)

    def tick(self) -> None:
        """Clock-driven refresh: ages and retry countdowns; the period countdown per minute."""
        if not self.live:
            return
        if self.showing_overview:
            self._sync_overview()
        else:
            self.render_now(clock=True)

    # -- drawing ------------------------------------------------------------------------------
    def render_now(self, clock: bool = False) -> None:
        """Draw the shown org (or the overview); with ``clock``, only what the time moved."""
        if not self.live:
            return
        if self.showing_overview:
            self._sync_overview()
            return
        header = self.query_one("#header", Line)
        status = self.query_one("#status", Line)
        if self.current is None:
            header.show(NO_ORGS)
            status.display = False
            return
        now = self.now()
        monitor = self.monitor
        state = monitor.state_of(self.current)
        position = (monitor.number_of(self.current), len(monitor.names))
        header.show(header_text(state, now, monitor.interval, position, width=self.size.width))
        message = status_text(state, now)
        status.display = bool(message)
        status.set_class(state.error is not None, "-error")
        status.show(message)

        minute = int(now.timestamp() // 60)
        key = (self.current, state.version, id(state.fetched), id(state.cached))
        if clock and key == self._rendered and minute == self._minute:
            return  # nothing changed but the clock, and not enough to move the countdown
        self._rendered, self._minute = key, minute
        self.org_view.show(OrgShown(state, monitor.forecast_for(state.name), monitor.series(state.name),
                                    monitor.thresholds_for(state.name), now))
        if state.fetched is not None and not self._first_data_drawn:
            # Start-up is over with the first live answer, not with the answer the history kept:
            # the pools are built after that one is drawn, and the HTTP stack's imports would
            # feed the collector the whole graph again and again (app.STARTUP_GRACE otherwise).
            self._first_data_drawn = True
            self.call_after_refresh(partial(resume_gc, freeze=True))
            # The chart (plotext imported the first time, then drawn: ~20 ms) a moment after the
            # first live frame: a callback "after refresh" runs once the screen is idle, which
            # can be before the widgets just changed have asked to be drawn again.
            self._chart_held = True
            self.set_timer(CHART_AFTER_FIRST_ANSWER, self._release_chart)
        else:
            self.call_after_refresh(self._usage_chart)  # after the panes are laid out (and drawn)

    def _release_chart(self) -> None:
        self._chart_held = False
        self._usage_chart()

    def _usage_chart(self) -> None:
        """The credits chart under the panes when the terminal leaves room for one: from the
        terminal's size alone (the panes' height is known only after a layout, and a chart
        that came and went with it would make the screen jump); none at 80x24."""
        if self._chart_held:
            return  # released a moment after the first live frame (render_now)
        if not self.live or self.showing_overview or self.current is None:
            return
        view = self.org_view
        panes_rows = PANES_ROWS_WIDE if self.has_class("-wide") else PANES_ROWS_STACKED
        room = self.size.height - CHROME_ROWS - panes_rows
        period = self.monitor.current_period(self.current) if room >= USAGE_CHART_MIN else None
        if period is None or len(period.samples) < 2:  # a line needs two points
            view.hide_usage_chart()
            return
        view.query_one("#usage-chart-host").styles.height = min(room, USAGE_CHART_MAX)
        # A callable, not a coroutine: an exclusive worker replaced before it starts must not
        # leave a coroutine that was never awaited.
        self.run_worker(partial(view.show_usage_chart, period, self.monitor.forecast_for(self.current), self.now()),
                        group="usage-chart", exclusive=True, exit_on_error=False)

    def _update_overview_rows(self, changed: set[str]) -> None:
        if not self.live or not self.showing_overview:
            return  # an org was opened since; the overview syncs in full when shown again
        self._overview(changed)

    def _sync_overview(self) -> None:
        """Every row (ages and countdowns move for all of them): on the clock and when shown."""
        if not self.live:
            return
        self._overview_rows.discard()
        self._overview_rows.mark_flushed()
        self._overview(self.monitor.names)

    def _overview(self, names: Iterable[str]) -> None:
        monitor, now = self.monitor, self.now()
        table = self.query_one(OverviewTable)
        table.update_rows([Row(monitor.number_of(n), monitor.state_of(n), monitor.forecast_for(n),
                               monitor.thresholds_for(n), monitor.recent_credits(n)) for n in names],
                          now, monitor.interval)
        header = self.query_one("#header", Line)
        if not monitor.names:
            header.show(NO_ORGS)
            return
        paused = " · PAUSED" if monitor.paused else ""
        header.show(f"cuadra-top · {len(monitor.names)} organizations · every {fmt.interval(monitor.interval)}"
                    f"{paused} · Enter opens, s sorts")
        self.query_one("#status", Line).display = False

    def org_added(self, name: str) -> None:
        """An org joined the monitor: opened when nothing was shown, else a row of the overview
        and a place in the keys 1-9 and ``[`` ``]`` (they read the monitor's names)."""
        if not self.live:
            return
        if self.showing_overview:
            self.query_one(OverviewTable).set_names(self.monitor.names)
            self._sync_overview()
        elif self.current is None:
            self.open_org(name)
        else:
            self.render_now()

    # -- actions ------------------------------------------------------------------------------
    def open_org(self, name: str) -> None:
        if name not in self.monitor.names:
            return
        self.current = name
        self.query_one(ContentSwitcher).current = "org"
        self._rendered = None
        self.render_now()
        self.org_view.focus_tabs()

    def action_switch(self, step: int) -> None:
        names = self.monitor.names
        if not names:
            return
        if self.showing_overview or self.current is None:
            index = 0 if step > 0 else len(names) - 1
        else:
            index = (names.index(self.current) + step) % len(names)
        self.open_org(names[index])

    def action_jump(self, number: int) -> None:
        if 1 <= number <= len(self.monitor.names):
            self.open_org(self.monitor.names[number - 1])

    async def action_overview(self) -> None:
        if self.showing_overview:
            if self.current:
                self.open_org(self.current)
            return
        switcher = self.query_one(ContentSwitcher)
        if not switcher.query_children(OverviewTable):
            await switcher.mount(self._new_overview())
        switcher.current = "overview"
        self._sync_overview()
        self.query_one(OverviewTable).focus()

    @on(OverviewTable.OpenOrg)
    def _open_from_overview(self, message: OverviewTable.OpenOrg) -> None:
        self.open_org(message.name)

    @on(OverviewTable.RowSelected)
    def _row_selected(self, message: OverviewTable.RowSelected) -> None:
        self.open_org(str(message.row_key.value))

    def action_refresh(self) -> None:
        names = self.monitor.names if self.showing_overview or self.current is None else [self.current]
        if not names:
            return
        self.monitor.refresh(names)
        self.notify(f"refreshing {'all orgs' if len(names) > 1 else names[0]}", timeout=2)
        self._rendered = None
        self.render_now()

    def action_pause(self) -> None:
        paused = self.monitor.pause()
        self.notify("polling paused" if paused else "polling resumed", timeout=2)
        self._rendered = None
        self.tick()

    def action_change_interval(self, direction: int) -> None:
        before = self.monitor.interval
        after = self.monitor.step_interval(direction)
        if after == before:
            edge = "slowest" if direction > 0 else "fastest"
            self.notify(f"refresh every {fmt.interval(after)} (already the {edge})", timeout=2)
        else:
            self.notify(f"refresh every {fmt.interval(after)}", timeout=2)
        self._rendered = None
        self.tick()

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, message: TabbedContent.TabActivated) -> None:
        if message.pane.id == "history":
            self.load_history()

    def load_history(self, fresh_within: float = 0.0) -> None:
        """(Re)draw the History tab of the shown org; not again within ``fresh_within`` seconds."""
        name = self.current
        if name is None:
            return
        drawn = self._history_drawn
        if fresh_within and drawn is not None and drawn[0] == name and time.monotonic() - drawn[1] < fresh_within:
            return
        self._history_drawn = (name, time.monotonic())
        self.run_worker(partial(self._draw_history, name), group="history", exclusive=True, exit_on_error=False)

    async def _draw_history(self, name: str) -> None:
        periods = await self.monitor.periods(name)
        if not self.live or name != self.current:
            return
        back = self._period_back[name] = min(self._period_back.get(name, 0), max(len(periods) - 1, 0))
        await self.org_view.show_history(periods, len(periods) - 1 - back, self.monitor.forecast_for(name), self.now())

    def action_period(self, step: int) -> None:
        """``,`` and ``.``: the previous and the next billing period in the History tab."""
        if self.current is None or self.showing_overview or self.org_view.active_tab != "history":
            return
        back = max(self._period_back.get(self.current, 0) - step, 0)
        self._period_back[self.current] = back
        self.load_history()

    def action_tab(self, tab: str) -> None:
        if self.current is None:
            return
        if self.showing_overview:
            self.open_org(self.current)
        state = self.monitor.state_of(self.current)
        if tab == "admin" and not self.org_view.has_admin(state):
            why = "no data yet" if state.fetched is None else "this credential sees no admin fields"
            self.notify(why, timeout=3)
            return
        self.org_view.activate(tab)
