"""The overview: every org in one table, sortable; Enter opens one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from cuadra_top import format as fmt
from cuadra_top.state.forecast import Forecast
from cuadra_top.state.poller import OrgState, Status
from cuadra_top.tui.gauge import LEVEL_WORD, Level, level_of

COLUMNS = (("number", "#", 2), ("org", "Org", None), ("credits", "Credits", 11),
           ("storage", "Storage", 11), ("left", "Resets", 7), ("runs_out", "Runs out", 8), ("status", "Status", 10))
SORT_KEYS = ("number", "org", "credits", "storage", "left", "runs_out", "status")
_STATUS_ORDER = {Status.ERROR: 0, Status.STOPPED: 1, Status.STALE: 2, Status.LOADING: 3, Status.PAUSED: 4, Status.OK: 5}


def _percent_cell(fraction: float | None, warn: float, critical: float) -> Text:
    level = level_of(fraction, warn, critical)
    label = fmt.percent(fraction)
    if level in LEVEL_WORD:
        label += f" {LEVEL_WORD[level]}"
    style = {Level.WARN: "bold", Level.CRITICAL: "bold reverse", Level.OVER: "bold reverse"}.get(level, "")
    return Text(label, style=style)


def runs_out_cell(forecast: Forecast | None, now: datetime) -> Text:
    """When credits run out at this rate, if before the period resets; '—' otherwise."""
    if forecast is None or not forecast.runs_out_before_period_end or forecast.credits_exhausted_at is None:
        return Text("—")
    seconds = (forecast.credits_exhausted_at - now).total_seconds()
    label = "ran out" if seconds <= 0 else fmt.duration(seconds, precision=2)
    return Text(label, style="bold")


class OverviewTable(DataTable):
    """One row per org. The table re-sorts on ``s``; rows carry the org name as key."""

    BINDINGS = [
        Binding("s", "cycle_sort", "Sort", tooltip="Sort the overview by the next column", id="overview.sort"),
        Binding("enter", "open_org", "Open", tooltip="Open the org under the cursor", id="overview.open"),
    ]

    class OpenOrg(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, names: Sequence[str] = (), *, warn_percent: float = 80, critical_percent: float = 95,
                 id: str | None = None) -> None:
        """``names``: every org, to size the columns before the first row arrives (any org's
        answer may come first); without them the first ``sync`` sizes them."""
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.warn_percent = warn_percent
        self.critical_percent = critical_percent
        self.sort_key = "number"
        self._rows: dict[str, tuple] = {}
        self._sort_values: dict[str, tuple] = {}
        if names:
            self.add_columns_for(names)

    def add_columns_for(self, names: Sequence[str]) -> None:
        """Fixed widths, so the first rows (still loading) do not squeeze the columns."""
        longest = max((len(name) for name in names), default=8)
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width if width is not None else min(max(longest, 3), 16))

    def row_for(self, number: int, state: OrgState, now: datetime, interval: float,
                forecast: Forecast | None = None) -> tuple[tuple, tuple]:
        """(cells, sort values) for one org; ``number`` is its place in the config (keys 1-9)."""
        status = state.status(now, interval)
        status_label = status.value.upper() if status is not Status.OK else "ok"
        if status is Status.STALE:
            status_label = f"STALE {fmt.duration(state.age(now), precision=1)}"
        if state.fetched is None:
            return ((Text(str(number)), state.name, "—", "—", "—", "—", status_label),
                    (number, state.name, -1.0, -1.0, float("inf"), float("inf"), _STATUS_ORDER[status]))
        usage = state.fetched.usage
        credits, storage = usage.credits.fraction, usage.storage.fraction
        left = (usage.credits.period_end - now).total_seconds() if usage.credits.period_end else None
        cells = (
            Text(str(number)),
            state.name,
            _percent_cell(credits, self.warn_percent, self.critical_percent),
            _percent_cell(storage, self.warn_percent, self.critical_percent),
            Text(fmt.duration(left, precision=2)),
            runs_out_cell(forecast, now),
            status_label,
        )
        runs_out = forecast.credits_exhausted_at if forecast and forecast.runs_out_before_period_end else None
        sort = (number, state.name, credits if credits is not None else -0.5, storage if storage is not None else -0.5,
                left if left is not None else float("inf"),
                (runs_out - now).total_seconds() if runs_out else float("inf"), _STATUS_ORDER[status])
        return cells, sort

    def sync(self, states: Sequence[OrgState], now: datetime, interval: float,
             forecasts: Mapping[str, Forecast | None] | None = None) -> None:
        """Bring every row up to date (``states`` in config order), touching only cells that
        changed: the first fill, and the clock's refresh of ages and countdowns."""
        if not self.columns:
            self.add_columns_for([state.name for state in states])
        self.update_rows(list(enumerate(states, 1)), now, interval, forecasts)

    def update_rows(self, numbered: Sequence[tuple[int, OrgState]], now: datetime, interval: float,
                    forecasts: Mapping[str, Forecast | None] | None = None) -> None:
        """Bring the rows of just these orgs (with their config numbers) up to date."""
        forecasts = forecasts or {}
        for number, state in numbered:
            cells, sort = self.row_for(number, state, now, interval, forecasts.get(state.name))
            self._sort_values[state.name] = sort
            old = self._rows.get(state.name)
            if old is None:
                self.add_row(*cells, key=state.name)
            elif old != cells:
                for (key, _, _), new, before in zip(COLUMNS, cells, old):
                    if new != before:
                        self.update_cell(state.name, key, new)
            self._rows[state.name] = cells
        self._apply_sort()

    def _apply_sort(self) -> None:
        """Re-sort only when the order changes: a sort throws away the table's render cache."""
        index = SORT_KEYS.index(self.sort_key)
        descending = self.sort_key in ("credits", "storage")
        wanted = sorted(self._sort_values, key=lambda name: self._sort_values[name][index], reverse=descending)
        if wanted != [str(row.key.value) for row in self.ordered_rows]:
            self.sort("org", key=lambda name: self._sort_values[str(name)][index], reverse=descending)

    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self._apply_sort()
        self.notify(f"sorted by {self.sort_key}", timeout=2)

    def action_open_org(self) -> None:
        if self.row_count:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
            self.post_message(self.OpenOrg(str(row_key.value)))
