"""One organization on screen: the Usage, Admin and Raw tabs, drawn from one call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import TabbedContent, TabPane

from cuadra_top.state.forecast import Forecast
from cuadra_top.state.poller import OrgState
from cuadra_top.thresholds import Thresholds
from cuadra_top.tui.panes import AdminPane, CreditsPane, Line, PlanPane, RawView, StoragePane


@dataclass(frozen=True)
class OrgShown:
    """Everything the view draws of one org, gathered by the screen from the monitor."""

    state: OrgState
    forecast: Forecast | None
    series: list[float]
    thresholds: Thresholds
    now: datetime


class OrgView(Vertical):
    """The tabs of one org. ``show`` draws it; nothing here polls or reads the monitor."""

    DEFAULT_CSS = "OrgView { height: 1fr; }"

    def compose(self) -> ComposeResult:
        with TabbedContent(id="org-tabs", initial="usage"):
            with TabPane("Usage", id="usage"):
                with VerticalScroll(id="usage-scroll"):
                    yield Line(id="nodata")
                    with Horizontal(id="usage-panes"):
                        yield CreditsPane(id="credits")
                        yield StoragePane(id="storage")
                        yield PlanPane(id="plan")
                    yield Vertical(id="usage-chart-host")  # a chart when the terminal is tall
            with TabPane("Admin", id="admin"):
                with VerticalScroll():
                    yield AdminPane(id="admin-pane")
            with TabPane("Raw", id="raw"):
                yield RawView(id="raw-view")
            with TabPane("History", id="history"):
                yield Vertical(id="history-host")  # the charts are mounted when first shown

    def on_mount(self) -> None:
        self.tabs.hide_tab("admin")

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    @property
    def active_tab(self) -> str:
        return self.tabs.active

    def focus_tabs(self) -> None:
        self.tabs.query_one("Tabs").focus()

    @staticmethod
    def has_admin(state: OrgState) -> bool:
        """Whether the org's last answer carries admin fields."""
        return state.fetched is not None and state.fetched.usage.admin is not None

    def activate(self, tab: str) -> None:
        self.tabs.active = tab

    async def show_usage_chart(self, period, forecast: Forecast | None, now: datetime) -> None:
        """The credits chart under the panes (a tall terminal), mounted the first time."""
        from cuadra_top.display_time import display_zone
        from cuadra_top.tui.charts import Chart, credits_drawing

        host = self.query_one("#usage-chart-host")
        host.display = period is not None
        if period is None:
            return
        if not host.query_children(Chart):
            await host.mount(Chart(id="usage-chart"))
        rate = forecast.burn_rate_per_day if forecast is not None else None
        zone = display_zone()
        key = (period.start, len(period.samples), period.samples[-1].at, rate, zone.name)
        self.query_one("#usage-chart", Chart).draw(credits_drawing(period, zone, rate, now), key)

    def hide_usage_chart(self) -> None:
        self.query_one("#usage-chart-host").display = False

    async def show_history(self, periods: list, index: int, forecast: Forecast | None, now: datetime) -> None:
        """Draw the History tab, mounting it first (and importing plotext) the first time."""
        from cuadra_top.tui.history_view import HistoryView

        host = self.query_one("#history-host")
        if not host.query_children(HistoryView):
            await host.mount(HistoryView(id="history-view"))
        self.query_one(HistoryView).show(periods, index, forecast, now)

    def show(self, shown: OrgShown) -> None:
        state, now = shown.state, shown.now
        nodata = self.query_one("#nodata", Line)
        panes = self.query_one("#usage-panes")
        tabs = self.tabs
        fetched = state.fetched or state.cached  # cached: shown until the first live answer
        if fetched is None:
            nodata.display = True
            panes.display = False
            why = state.error.message if state.error else "waiting for the first answer…"
            nodata.show(f"No data yet for {state.name}: {why}")
            if tabs.active == "admin":
                tabs.active = "usage"
            tabs.hide_tab("admin")
            return
        nodata.display = False
        panes.display = True
        usage = fetched.usage
        credits = self.query_one(CreditsPane)
        credits.show(usage, shown.thresholds)
        credits.show_trend(shown.series, shown.forecast, now)
        storage = self.query_one(StoragePane)
        storage.show(usage, shown.thresholds)
        storage.show_trend(shown.forecast, now)
        self.query_one(PlanPane).show(usage, now)
        self.query_one(RawView).show(fetched.raw, usage)
        if usage.admin is not None:
            tabs.show_tab("admin")
            self.query_one(AdminPane).show(usage)
        else:
            if tabs.active == "admin":
                tabs.active = "usage"
            tabs.hide_tab("admin")
