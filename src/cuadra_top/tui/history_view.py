"""The History tab: one org's billing period as charts, any period the history still keeps.

Credits used with the limit and the projection to the period's end, credits per day, storage
over the same time; ``,`` and ``.`` step to the previous and the next period, and the title
compares the shown period with the one before at the same point. Charts come from plotext and
are imported with this module, when the tab is first shown.
"""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.containers import Vertical

from cuadra_top.display_time import display_zone, moment
from cuadra_top.state.daily import DayStatus
from cuadra_top.state.forecast import Forecast
from cuadra_top.state.periods import Period, comparison
from cuadra_top.tui.charts import Chart, credits_drawing, daily_drawing, storage_drawing
from cuadra_top.tui.panes import Line


class HistoryView(Vertical):
    DEFAULT_CSS = """
    HistoryView { height: 1fr; }
    HistoryView #history-title { height: auto; padding: 0 1; }
    HistoryView #history-note { height: auto; padding: 0 1; color: $text-muted; }
    HistoryView #history-credits { height: 2fr; min-height: 7; }
    HistoryView #history-daily { height: 1fr; min-height: 5; }
    HistoryView #history-storage { height: 1fr; min-height: 5; }
    """

    def compose(self) -> ComposeResult:
        yield Line(id="history-title")
        yield Chart(id="history-credits")
        yield Chart(id="history-daily")
        yield Chart(id="history-storage")
        yield Line(id="history-note")

    def show(self, periods: list[Period], index: int, forecast: Forecast | None, now: datetime) -> None:
        """Draw ``periods[index]`` (the newest is the current period)."""
        title = self.query_one("#history-title", Line)
        if not periods:
            title.show("No history yet for this org: samples are recorded as it is polled "
                       "(the demo and --no-history keep none beyond this run).")
            for chart in self.query(Chart):
                chart.display = False
            return
        for chart in self.query(Chart):
            chart.display = True
        index = max(0, min(index, len(periods) - 1))
        period = periods[index]
        current = index == len(periods) - 1
        zone = display_zone()
        span = (f"{moment(period.start) if period.start else '?'} – {moment(period.end) if period.end else '?'}")
        which = "current period" if current else f"period {index + 1} of {len(periods)}"
        compared = comparison(period, periods[index - 1] if index > 0 else None, now, zone)
        parts = [f"{which}: {span}"] + ([compared] if compared else []) + [", previous . next period"]
        title.show(" · ".join(parts))
        rate = forecast.burn_rate_per_day if (current and forecast is not None) else None
        key = (period.start, len(period.samples), period.samples[-1].at, rate, zone.name)
        self.query_one("#history-credits", Chart).draw(credits_drawing(period, zone, rate, now if current else None), key)
        self.query_one("#history-daily", Chart).draw(daily_drawing(period, zone), key)
        self.query_one("#history-storage", Chart).draw(storage_drawing(period, zone), key)
        missing = [day for day in period.days if day.status is DayStatus.NO_SAMPLES]
        partial = [day for day in period.days if day.status is DayStatus.INCOMPLETE]
        notes = []
        if missing:
            notes.append(f"{len(missing)} day(s) without samples (no bar, not zero)")
        if partial:
            notes.append(f"{len(partial)} day(s) only partly sampled (shaded)")
        self.query_one("#history-note", Line).show(" · ".join(notes) or f"{len(period.days)} day(s), every day sampled")
