"""Charts of one billing period, drawn with plotext (through textual-plotext).

Each series has its own glyph as well as its own colour (used: quarter blocks, the limit: a rule,
the projection: bullets; complete days: full blocks, incomplete ones: shaded), so the charts
read under ``NO_COLOR`` and in 16 colours. A chart builds its picture only when its data, its
size or the theme changes: an idle screen costs nothing, and a repaint for any other reason
reuses the picture. Imported when a chart is first shown (plotext costs ~16 ms to import).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rich.text import Text
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from cuadra_top import format as fmt
from cuadra_top.clock import as_utc
from cuadra_top.debuglog import logger
from cuadra_top.display_time import DisplayZone
from cuadra_top.state.daily import DayStatus
from cuadra_top.state.periods import Period

Drawing = Callable[[Plot, int, int], None]
"""Draws a chart on a cleared figure of the given width and height."""


class Chart(PlotextPlot):
    """A plotext chart that is built again only when ``key``, its size or the theme change."""

    DEFAULT_CSS = "Chart { height: 1fr; min-height: 5; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._drawing: Drawing | None = None
        self._key: object = None
        self._built: tuple[object, Text] | None = None
        self.builds = 0
        """How many times the picture was built (the tests count them)."""

    def draw(self, drawing: Drawing, key: object) -> None:
        """Use ``drawing`` from now on; ``key`` names its data: the same key, no new picture."""
        self._drawing = drawing
        if key != self._key:
            self._key = key
            self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        cache_key = (self._key, width, height, self.app.theme)
        if self._built is not None and self._built[0] == cache_key:
            return self._built[1]
        self.plt.clear_figure()
        picture = Text("")
        if self._drawing is not None and width > 10 and height > 3:
            try:
                self._drawing(self.plt, width, height)
                picture = super().render()
            except Exception:  # noqa: BLE001 - plotext on odd data: no chart rather than no app
                logger("tui.charts").exception("a chart could not be drawn")
                picture = Text("(this chart cannot be drawn from these samples)", style="italic")
        self.builds += 1
        self._built = (cache_key, picture)
        return picture


def day_ticks(period: Period, zone: DisplayZone, length: float, width: int) -> tuple[list[float], list[str]]:
    """Ticks at whole local days from the period start, as many as fit (one label each ~7 cells)."""
    if not period.samples:
        return [], []
    start = as_utc(period.start or period.samples[0].at)
    days = max(int(length) + 1, 1)
    every = max(1, round(days / max(width // 7, 1)))
    positions, labels = [], []
    for day in range(0, days + 1, every):
        moment = start + timedelta(days=day)
        positions.append(float(day))
        labels.append(zone.localize(moment).strftime("%-d %b" if day == 0 else "%-d"))
    return positions, labels


def amount_ticks(top: float, count: int = 4) -> tuple[list[float], list[str]]:
    """Round ticks from 0 to ``top`` with short labels (12k, 1.5M)."""
    if top <= 0:
        return [0.0], ["0"]
    step = _nice(top / count)
    values = [i * step for i in range(int(top // step) + 1)]
    return values, [_short(v) for v in values]


def byte_ticks(top: float, count: int = 2) -> tuple[list[float], list[str]]:
    """Round ticks from 0 to ``top`` bytes in one IEC unit (0 B, 20 GiB, 40 GiB): round in
    the unit shown, not in decimal bytes (which read 46.6 GiB)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = 0
    while power < len(units) - 1 and top >= 1024 ** (power + 1):
        power += 1
    scale = 1024 ** power
    values, _ = amount_ticks(top / scale, count)
    return [v * scale for v in values], [f"{v:g} {units[power]}" if v else "0" for v in values]


def _nice(raw: float) -> float:
    magnitude = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _short(value: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            shown = value / size
            return f"{shown:.0f}{unit}" if shown == int(shown) else f"{shown:.1f}{unit}"
    return f"{value:.0f}"


def period_length(period: Period) -> float:
    """Days the period lasts (to its end, else to its newest sample)."""
    if period.start is not None and period.end is not None:
        return max((as_utc(period.end) - as_utc(period.start)).total_seconds() / 86400, 1.0)
    return max(period.offset_of(period.samples[-1].at), 1.0)


def credits_drawing(period: Period, zone: DisplayZone, rate_per_day: float | None, now: datetime | None) -> Drawing:
    """Credits used over the period, the limit as a rule, and (the current period, with a burn
    rate) the projection to the period's end; the legend says where it crosses the limit."""

    def draw(plt: Plot, width: int, height: int) -> None:
        length = period_length(period)
        xs = [period.offset_of(s.at) for s in period.samples]
        ys = [float(s.credits_used) for s in period.samples]
        top = max(ys, default=0.0)
        limit = period.credits_limit
        if limit:
            plt.plot([0.0, length], [float(limit), float(limit)], marker="─", color="red",
                     label=f"limit {fmt.thousands(limit)}")
            top = max(top, float(limit))
        plt.plot(xs, ys, marker="hd", color="cyan", label="used")
        if rate_per_day and rate_per_day > 0 and now is not None and xs:
            end_y = ys[-1] + rate_per_day * max(length - xs[-1], 0.0)
            label = "at this rate"
            if limit and ys[-1] < limit <= end_y:
                crossing = xs[-1] + (limit - ys[-1]) / rate_per_day
                label += f": the limit on {_day_of(period, zone, crossing)}"
            plt.plot([xs[-1], length], [ys[-1], end_y], marker="•", color="yellow", label=label)
            top = max(top, end_y)
        plt.xlim(0, length)
        plt.ylim(0, top * 1.05 or 1)
        plt.xticks(*day_ticks(period, zone, length, width))
        plt.yticks(*amount_ticks(top))

    return draw


def daily_drawing(period: Period, zone: DisplayZone) -> Drawing:
    """Credits used per day: full blocks for complete days, shaded for incomplete ones; a day
    with no sample has no bar (and is not zero)."""

    def draw(plt: Plot, width: int, height: int) -> None:
        length = period_length(period)
        complete, partial = ([], []), ([], [])
        for day in period.days:
            if day.credits_used is None:
                continue
            middle = period.offset_of(day.start + (day.end - day.start) / 2)
            group = complete if day.status is DayStatus.COMPLETE else partial
            group[0].append(middle)
            group[1].append(float(day.credits_used))
        if complete[0]:
            plt.bar(*complete, marker="█", color="cyan", width=bar_width(complete[0]), label="per day")
        if partial[0]:
            plt.bar(*partial, marker="▒", color="blue", width=bar_width(partial[0]), label="part of a day")
        tops = complete[1] + partial[1]
        plt.xlim(0, length)
        plt.ylim(0, (max(tops) if tops else 1) * 1.1)
        plt.xticks(*day_ticks(period, zone, length, width))
        plt.yticks(*amount_ticks(max(tops) if tops else 0, 2))

    return draw


BAR_DAYS = 0.7
"""How wide a day's bar is, in days."""


def bar_width(xs: list[float]) -> float:
    """plotext's ``width`` for bars ``BAR_DAYS`` wide at ``xs``: it reads ``width`` as a share of
    the mean gap between its bars, so a few days far apart (the shaded ones, or days around a
    gap) would otherwise get bars days wide."""
    if len(xs) < 2:
        return BAR_DAYS
    mean_gap = (max(xs) - min(xs)) / (len(xs) - 1)
    return min(BAR_DAYS / mean_gap, 1.0) if mean_gap > 0 else BAR_DAYS


def storage_drawing(period: Period, zone: DisplayZone) -> Drawing:
    """Storage used over the same period (bytes, in IEC units), its limit as a rule."""

    def draw(plt: Plot, width: int, height: int) -> None:
        length = period_length(period)
        xs = [period.offset_of(s.at) for s in period.samples]
        ys = [float(s.storage_used) for s in period.samples]
        top = max(ys, default=0.0)
        if period.storage_limit:
            plt.plot([0.0, length], [float(period.storage_limit)] * 2, marker="─", color="red",
                     label=f"limit {fmt.iec_bytes(period.storage_limit)}")
            top = max(top, float(period.storage_limit))
        plt.plot(xs, ys, marker="hd", color="green", label="storage")
        plt.xlim(0, length)
        plt.ylim(0, top * 1.05 or 1)
        plt.xticks(*day_ticks(period, zone, length, width))
        plt.yticks(*byte_ticks(top))

    return draw


def _day_of(period: Period, zone: DisplayZone, offset: float) -> str:
    origin = period.start or period.samples[0].at
    return zone.localize(as_utc(origin) + timedelta(days=offset)).strftime("%-d %b")
