"""The overview: every org in one table, sortable; Enter opens one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from rich.cells import cell_len
from rich.text import Span, Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.message import Message
from textual.widgets import DataTable

from cuadra_top import format as fmt
from cuadra_top.state.forecast import Forecast, Pool
from cuadra_top.state.poller import OrgState, Status
from cuadra_top.thresholds import BAND_WORD, Band, Thresholds
from cuadra_top.tui.gauge import gauge_bar
from cuadra_top.tui.sparkline import sparkline

PERCENT_CELLS = len(">9999%")
WORD_CELLS = max(len(word) for word in BAND_WORD.values())
PERCENT_COLUMN = PERCENT_CELLS + 1 + WORD_CELLS
"""The width of Credits and Storage: '>9999% OVER'."""
GAUGE_CELLS = 6
TREND_MIN, TREND_MAX = 6, 24
"""The sparkline's least and most cells (4 hours to one hour a cell)."""
COLUMNS = (("number", "#", 0), ("org", "Org", 0), ("gauge", "", GAUGE_CELLS), ("credits", "Credits", PERCENT_COLUMN),
           ("trend", "24 h", TREND_MIN), ("storage", "Storage", PERCENT_COLUMN), ("left", "Resets", 7),
           ("runs_out", "Runs out", 8), ("status", "Status", 9))
"""(key, label, width); the widths of # and Org follow the fleet and the terminal, the
sparkline's (``trend``) takes what the names leave, up to TREND_MAX. The widest cells:
'>9999% OVER', '29d 23h', 'STALE 12m'."""
RIGHT_ALIGNED = frozenset({"number", "left", "runs_out"})
"""Columns of numbers, justified right, their labels too. Credits and Storage line up too,
on the percentage's last cell whatever word follows it (:func:`_percent_cell` pads them), under
a label on the left, which ends about there."""
SORT_KEYS = ("number", "org", "credits", "storage", "left", "runs_out", "status")
DROPPED_FIRST = ("gauge", "left", "trend", "storage", "runs_out")
"""When the terminal is too narrow for every column, these give way, in this order; an org's
status and credits stay on screen at any width.

The gauge goes first: it draws the Credits percentage next to it, so nothing is lost. Resets
next: Runs out already tells whether anything happens before the reset (it says '—'
otherwise), and the period's end is one key away (the org's Plan pane). Then the sparkline,
which shows how the day went (Runs out gives its upshot). Storage and Runs out are figures no
other column gives, and go last, as before. The first three also give way rather than cut a
name (up to NAME_WHOLE cells), the others only when the names would be cut below NAME_MIN: at
80 columns the demo's names (up to 17 cells) stay whole with the sparkline instead of Resets."""
GIVES_WAY_TO_NAMES = frozenset({"gauge", "left", "trend"})
NAME_WHOLE = 24
"""Names up to this many cells are shown whole before a column of GIVES_WAY_TO_NAMES goes."""
NAME_MIN = 8
"""Org names are cut to no fewer cells than this before any other column gives way."""
SCROLLBAR = 2
PADDING = 2
"""Each column's cell padding, both sides."""
RENDER_CACHE_SCREENS = 2
"""How many screenfuls of rendered rows, lines and cells the table keeps (see
:meth:`OverviewTable.bound_render_caches`)."""

Layout = tuple[tuple[str, int], ...]
"""The visible columns and their widths."""


def plan_layout(width: int, count: int, longest: int, height: int = 0) -> Layout:
    """Which columns fit in ``width`` cells for ``count`` orgs whose longest name is ``longest``
    cells, and how wide each is: # as wide as the largest number, names as wide as the room
    left (never wider than the longest), the sparkline wider with what the names leave, and
    columns dropped (DROPPED_FIRST) rather than pushed off-screen. Room for a scrollbar is kept
    when the rows are more than ``height`` can show (0: unknown)."""
    widths = {key: size for key, _, size in COLUMNS}
    widths["number"] = max(len(str(max(count, 1))), 1)
    name = max(longest, 3)
    name_floor = min(name, NAME_MIN)
    name_whole = min(name, max(NAME_WHOLE, NAME_MIN))
    visible = [key for key, _, _ in COLUMNS]
    room = width - (SCROLLBAR if not height or count > height - 1 else 0)

    def others() -> int:
        return sum(widths[key] + PADDING for key in visible if key != "org") + PADDING

    for key in DROPPED_FIRST:  # the floors never rise along the order: the first column that stays ends it
        if others() + (name_whole if key in GIVES_WAY_TO_NAMES else name_floor) <= room:
            break
        visible.remove(key)
    widths["org"] = max(min(name, room - others()), name_floor)
    if "trend" in visible:
        widths["trend"] += max(min(room - others() - widths["org"], TREND_MAX - widths["trend"]), 0)
    return tuple((key, widths[key]) for key in visible)


_STATUS_ORDER = {Status.ERROR: 0, Status.STOPPED: 1, Status.STALE: 2, Status.LOADING: 3, Status.PAUSED: 4, Status.OK: 5}


def _percent_cell(fraction: float | None, thresholds: Thresholds) -> Text:
    """'84.2% WARN', as wide as its column, with every percentage ending in the same cell
    (one without a word is followed by as much room as a word takes); 'unlimited' on the right."""
    return _percent_text(fmt.percent(fraction), thresholds.band(fraction))


@lru_cache(maxsize=1024)
def _percent_text(label: str, band: Band) -> Text:
    """Padded here, not justified (a right-justified Text loses its trailing spaces). One Text
    per label and level, shared by every row that shows it, never changed: a row compares
    equal at once, and 500 rows cost no 1,000 new Texts a tick."""
    if band in BAND_WORD:
        label += f" {BAND_WORD[band]}"
    elif len(label) <= PERCENT_CELLS:
        label += " " * (1 + WORD_CELLS)
    style = {Band.WARN: "bold", Band.CRITICAL: "bold reverse", Band.OVER: "bold reverse"}.get(band, "")
    pad, shown = max(PERCENT_COLUMN - len(label), 0), label.rstrip()
    spans = [Span(pad, pad + len(shown), style)] if style else None  # the highlight spares the padding
    return Text(" " * pad + label, no_wrap=True, spans=spans)


def _gauge_cell(fraction: float | None, thresholds: Thresholds) -> Text:
    """The org view's gauge in small (its bar without the label, which is the Credits column
    beside it): empty for an unlimited org or a fraction that means nothing."""
    if thresholds.band(fraction) in (Band.UNLIMITED, Band.NONE) or fraction is None:
        return _bar_text("")
    return _bar_text(gauge_bar(fraction, GAUGE_CELLS))


@lru_cache(maxsize=GAUGE_CELLS + 2)
def _bar_text(bar: str) -> Text:
    """One Text per bar, shared by the rows (see :func:`_percent_text`)."""
    return Text(bar, no_wrap=True)


def _right(text: Text) -> Text:
    """``text`` justified right: a number of a RIGHT_ALIGNED column."""
    text.justify = "right"
    return text


RUNS_OUT_PREFIX = {Pool.HARD_CAP: "402 ", Pool.OVERAGE: "over "}
"""What the Runs out column says before the time when it is not a pool running out."""


def runs_out_cell(forecast: Forecast | None, now: datetime) -> Text:
    """The step that hurts first before the reset (402 errors, overage, else a pool running
    out) and when, at this rate; '—' when nothing comes before the reset."""
    step = forecast.first_that_matters(now) if forecast is not None else None
    if step is None:
        last = forecast.transitions[-1] if forecast is not None and forecast.transitions else None
        if last is not None and last.before_reset and last.at <= now:  # it already happened
            label = {Pool.HARD_CAP: "402 now", Pool.OVERAGE: "overage"}.get(last.kind, "ran out")
            return Text(label, style="bold reverse" if last.kind is Pool.HARD_CAP else "bold")
        return Text("—")
    prefix = RUNS_OUT_PREFIX.get(step.kind, "")
    label = prefix + fmt.duration((step.at - now).total_seconds(), precision=1 if prefix else 2)
    return Text(label, style="bold reverse" if step.kind is Pool.HARD_CAP else "bold")


class Row(NamedTuple):
    """One org for the table. A plain tuple of the first four does too (no sparkline then)."""

    number: int
    """Its place in the config (keys 1-9)."""
    state: OrgState
    forecast: Forecast | None
    thresholds: Thresholds
    recent: Sequence[int | None] = ()
    """Its credits used over the last day, oldest first (``Monitor.recent_credits``)."""


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

    def __init__(self, names: Sequence[str] = (), *, id: str | None = None) -> None:
        """``names``: every org, to size the columns before the first row arrives (any org's
        answer may come first); without them the first update sizes them."""
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.sort_key = "number"
        self._names = list(names)
        self._rows: dict[str, tuple] = {}
        self._sort_values: dict[str, tuple] = {}
        self._trends: dict[str, tuple[tuple[int | None, ...], int, Text]] = {}
        """Per org: its last day's values, the width they were drawn at, and the drawing."""
        self._trend_width = 0
        self._layout: Layout = ()
        self._cache_rows = 0
        self.bound_render_caches(50)

    @property
    def layout_columns(self) -> Layout:
        """The columns on screen now, with their widths."""
        return self._layout

    def _relayout(self) -> None:
        """Fit the columns to the width: a new layout rebuilds the table from the rows kept."""
        names = self._names or list(self._rows)
        width, height = self.size.width or self.app.size.width, self.size.height or self.app.size.height - 4
        layout = plan_layout(width, len(names), max((cell_len(fmt.printable(name)) for name in names), default=8), height)
        if layout == self._layout:
            return
        cursor = self._cursor_key()
        self._layout = layout
        self._trend_width = dict(layout).get("trend", 0)
        self._redraw_trends()
        self.clear(columns=True)
        labels = {key: label for key, label, _ in COLUMNS}
        for key, width in layout:
            label = Text(labels[key], justify="right" if key in RIGHT_ALIGNED else "left")
            self.add_column(label, key=key, width=width)
        for name in self._sorted_names():
            self.add_row(*self._visible(self._rows[name]), key=name)
        if cursor in self._rows:
            self.move_cursor(row=self.get_row_index(cursor), animate=False)

    def set_names(self, names: Sequence[str]) -> None:
        """Every org from now on (one was added): the columns are sized for them."""
        self._names = list(names)
        if self._layout:
            self._relayout()

    def on_resize(self) -> None:
        self.bound_render_caches(self.size.height)
        if self._layout:
            self._relayout()

    def bound_render_caches(self, height: int) -> None:
        """Keep RENDER_CACHE_SCREENS screens of ``height`` lines of renders, not DataTable's
        1000 rows, 1000 lines and 10000 cells.

        Every key of those caches holds the table's update count, so one changed cell makes
        every entry stale, and stale entries stay until evicted. With tens of orgs answering
        every few seconds they filled with renders no frame could use again, over minutes at a
        1 s interval and tens of minutes at 5 s: the real program at 40 orgs went from 61 to
        77 MiB RSS in 5 minutes of moving the cursor in the overview (65 MiB with this bound),
        which read as memory per org. A frame needs one screen of renders; the second covers
        a cursor or hover change within one update."""
        rows = max(height, 10) * RENDER_CACHE_SCREENS
        if rows == self._cache_rows:
            return
        self._cache_rows = rows
        sizes = {"_row_render_cache": rows, "_row_renderable_cache": rows, "_line_cache": rows,
                 "_cell_render_cache": rows * len(COLUMNS)}
        for name, size in sizes.items():
            cache = getattr(self, name, None)
            if isinstance(cache, LRUCache):  # DataTable's own; another Textual may differ
                if len(cache) > size:
                    cache.clear()  # a full LRUCache evicts one entry per insertion: never shrinks
                cache.maxsize = size

    def _visible(self, cells: tuple) -> list:
        index = {key: i for i, (key, _, _) in enumerate(COLUMNS)}
        return [cells[index[key]] for key, _ in self._layout]

    def _cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)

    def row_for(self, number: int, state: OrgState, now: datetime, interval: float,
                forecast: Forecast | None = None, thresholds: Thresholds = Thresholds(),
                recent: Sequence[int | None] = ()) -> tuple[tuple, tuple]:
        """(cells, sort values) for one org; ``number`` is its place in the config (keys 1-9),
        ``recent`` its credits used over the last day (the sparkline)."""
        status = state.status(now, interval)
        status_label = status.value.upper() if status is not Status.OK else "ok"
        if status is Status.STALE:
            status_label = f"STALE {fmt.duration(state.age(now), precision=1)}"
        name = Text(fmt.printable(state.name), no_wrap=True, overflow="ellipsis")  # a config's name: no controls
        shown = state.fetched or state.cached
        trend = self._trend_cell(state.name, tuple(recent))
        if shown is None:
            nothing = _percent_cell(math.nan, thresholds)
            return ((Text(str(number), justify="right"), name, _bar_text(""), nothing, trend, nothing,
                     Text("—", justify="right"), Text("—", justify="right"), status_label),
                    (number, state.name, -1.0, -1.0, float("inf"), float("inf"), _STATUS_ORDER[status]))
        if state.fetched is None and status is Status.LOADING:  # an earlier run's answer, until a live one
            status_label = Text(f"cached {fmt.duration((now - shown.fetched_at).total_seconds(), precision=1)}",
                                style="italic")
        usage = shown.usage
        credits, storage = usage.credits.fraction, usage.storage.fraction
        left = (usage.credits.period_end - now).total_seconds() if usage.credits.period_end else None
        cells = (
            Text(str(number), justify="right"),
            name,
            _gauge_cell(credits, thresholds),
            _percent_cell(credits, thresholds),
            trend,
            _percent_cell(storage, thresholds),
            Text(fmt.duration(left, precision=2), justify="right"),
            _right(runs_out_cell(forecast, now)),
            status_label,
        )
        step = forecast.first_that_matters(now) if forecast else None
        runs_out = step.at if step is not None else None
        sort = (number, state.name, credits if credits is not None else -0.5, storage if storage is not None else -0.5,
                left if left is not None else float("inf"),
                (runs_out - now).total_seconds() if runs_out else float("inf"), _STATUS_ORDER[status])
        return cells, sort

    def _trend_cell(self, name: str, values: tuple[int | None, ...]) -> Text:
        """The org's sparkline, drawn as wide as its column now (empty while it is hidden). The
        drawing is the cell, so the cell changes only when what it shows does: the newest value
        grows with every answer, its bar every few minutes."""
        width = self._trend_width
        kept = self._trends.get(name)
        if kept is not None and kept[1] == width and kept[0] == values:
            return kept[2]
        bars = sparkline(values, width)
        drawn = kept[2] if kept is not None and kept[2].plain == bars else Text(bars, no_wrap=True)
        self._trends[name] = (values, width, drawn)
        return drawn

    def _redraw_trends(self) -> None:
        """The sparklines drawn again for a new layout (the column's width changes with it)."""
        index = next(i for i, (key, _, _) in enumerate(COLUMNS) if key == "trend")
        for name, cells in self._rows.items():
            values = self._trends[name][0] if name in self._trends else ()
            self._rows[name] = (*cells[:index], self._trend_cell(name, values), *cells[index + 1:])

    def update_rows(self, rows: Sequence[Row], now: datetime, interval: float) -> None:
        """Bring the rows of these orgs up to date, touching only the cells that changed."""
        if not self._layout:
            if not self._names:
                self._names = [row[1].name for row in rows]
            self._relayout()
        shown = {key for key, _ in self._layout}
        for number, state, forecast, thresholds, *recent in rows:
            cells, sort = self.row_for(number, state, now, interval, forecast, thresholds, *recent)
            self._sort_values[state.name] = sort
            old = self._rows.get(state.name)
            self._rows[state.name] = cells
            if old is None:
                self.add_row(*self._visible(cells), key=state.name)
            elif old != cells:
                for (key, _, _), new, before in zip(COLUMNS, cells, old):
                    if new != before and key in shown:
                        self.update_cell(state.name, key, new)
        self._apply_sort()

    def _sort_key_of(self) -> tuple[int, bool]:
        return SORT_KEYS.index(self.sort_key), self.sort_key in ("credits", "storage")

    def _sorted_names(self) -> list[str]:
        index, descending = self._sort_key_of()
        return sorted(self._sort_values, key=lambda name: self._sort_values[name][index], reverse=descending)

    def _apply_sort(self) -> None:
        """Re-sort only when the order changes: a sort throws away the table's render cache."""
        index, descending = self._sort_key_of()
        if self._sorted_names() != [str(row.key.value) for row in self.ordered_rows]:
            self.sort("org", key=lambda name: self._sort_values[str(name)][index], reverse=descending)

    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self._apply_sort()
        self.notify(f"sorted by {self.sort_key}", timeout=2)

    def action_open_org(self) -> None:
        if self.row_count:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
            self.post_message(self.OpenOrg(str(row_key.value)))
