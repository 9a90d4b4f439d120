"""Charts of one billing period, drawn with plotext (through textual-plotext).

Each series has its own glyph as well as its own colour (used: quarter blocks, the limit: a rule,
the projection: bullets; complete days: full blocks, incomplete ones: shaded, days without
samples: '?'), so the charts read under ``NO_COLOR`` and in 16 colours. Quarter blocks rather
than braille dots: the fonts of SVG screenshots and browsers (``cuadra-top web``) have no braille,
and drew those lines stretched and doubled. On the Linux console, whose fonts have neither, the
lines are '*' and the projection '+' (:func:`marks_for`); in a
terminal that is not UTF-8 every glyph has an ASCII stand-in of its own (:mod:`cuadra_top.glyphs`).
A chart builds its picture only when its data, its size or the theme changes: an idle screen
costs nothing, and a repaint for any other reason reuses the picture. Imported when a chart is
first shown (plotext costs ~16 ms to import).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rich.text import Text
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from cuadra_top import format as fmt
from cuadra_top.clock import as_utc
from cuadra_top.debuglog import logger
from cuadra_top.display_time import DisplayZone
from cuadra_top.state.daily import DayStatus
from cuadra_top.state.periods import Period

@dataclass(frozen=True)
class Marks:
    """The glyph of each series: each its own, so a chart reads without colour."""

    line: str
    """Credits and storage used."""
    projection: str
    rule: str
    """A limit."""
    day: str
    part: str
    """A day only partly sampled."""
    missing: str
    """A day without samples."""


UNICODE_MARKS = Marks(line="hd", projection="•", rule="─", day="█", part="▒", missing="?")
CONSOLE_MARKS = Marks(line="*", projection="+", rule="─", day="█", part="▒", missing="?")
"""The Linux console (TERM=linux) and terminals that say nothing (TERM=dumb): a console font
has the box lines and the blocks, not braille, which would draw the credits line as blanks."""


def marks_for(environ: Mapping[str, str]) -> Marks:
    term = environ.get("TERM", "")
    return CONSOLE_MARKS if term in ("linux", "dumb") or term.startswith("linux-") else UNICODE_MARKS


Drawing = Callable[[Plot, int, int, Marks], None]
"""Draws a chart on a cleared figure of the given width and height, with these marks."""


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
        self.repaints = 0
        """How many times new data asked for a repaint (the tests count them)."""

    def draw(self, drawing: Drawing, key: object) -> None:
        """Use ``drawing`` from now on; ``key`` names its data: the same key, no new picture.
        New data that draws the same cells (a poll every few seconds moves a month-long line by
        less than a cell) repaints nothing: a whole chart is ~6 KB of escape sequences, and an
        idle screen must not send them every poll."""
        self._drawing = drawing
        if key == self._key:
            return
        self._key = key
        before = self._built[1] if self._built is not None else None
        if before is not None and self.size.width > 0 and self._picture() == before:
            return
        self.repaints += 1
        self.refresh()

    def render(self) -> Text:
        return self._picture()

    def _picture(self) -> Text:
        width, height = self.size.width, self.size.height
        cache_key = (self._key, width, height, self.app.theme)
        if self._built is not None and self._built[0] == cache_key:
            return self._built[1]
        self.plt.clear_figure()
        picture = Text("")
        if self._drawing is not None and width > 10 and height > 3:
            try:
                self._drawing(self.plt, width, height, marks_for(getattr(self.app, "environ", os.environ)))
                picture = super().render()
            except Exception:  # noqa: BLE001 - plotext on odd data: no chart rather than no app
                logger("tui.charts").exception("a chart could not be drawn")
                picture = Text("(this chart cannot be drawn from these samples)", style="italic")
        self.builds += 1
        self._built = (cache_key, picture)
        return picture


def _thinned(count: int, width: int) -> int:
    """Label every n-th of ``count`` ticks so that one fits each ~7 cells of ``width``."""
    return max(1, -(-count // max(width // 7, 1)))


def _day_labels(days: list[date]) -> list[str]:
    """'1 Nov', '2', '3', ...: the day of the month, with the month where a month begins."""
    return [day.strftime("%-d %b") if index == 0 or day.day == 1 else str(day.day) for index, day in enumerate(days)]


def day_ticks(period: Period, zone: DisplayZone, length: float, width: int) -> tuple[list[float], list[str]]:
    """Ticks at the local midnights within the period (23 or 25 hours apart across a clock
    change), each labelled with the day it begins; as many as fit."""
    if not period.samples:
        return [], []
    first = zone.day_of(period.start or period.samples[0].at)
    midnights = []
    for number in range(int(length) + 3):
        day = first + timedelta(days=number)
        offset = period.offset_of(zone.day_start(day))
        if 0 <= offset <= length:
            midnights.append((offset, day))
    every = _thinned(len(midnights), width)
    shown = midnights[::every]
    return [offset for offset, _ in shown], _day_labels([day for _, day in shown])


def amount_ticks(top: float, count: int = 4) -> tuple[list[float], list[str]]:
    """Round ticks from 0 to ``top`` with short labels (12k, 1.5M)."""
    if top <= 0:
        return [0.0], ["0"]
    step = _nice(top / count)
    values = [i * step for i in range(int(top // step) + 1)]
    return values, [_short(v) for v in values]


FRAME_ROWS = 3
"""Rows of a chart that are not its plot: the frame above, the axis and its labels below."""


def fitting(ticks: tuple[list[float], list[str]], height: int) -> tuple[list[float], list[str]]:
    """At most one tick every other row of the plot, else only the first and the last: two ticks
    that fall on one row leave plotext to pick a label, and it picks differently from run to run."""
    values, labels = ticks
    rows = height - FRAME_ROWS
    if len(values) <= 2 or len(values) <= (rows + 1) // 2:
        return values, labels
    return [values[0], values[-1]], [labels[0], labels[-1]]


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

    def draw(plt: Plot, width: int, height: int, marks: Marks) -> None:
        length = period_length(period)
        xs = [period.offset_of(s.at) for s in period.samples]
        ys = [float(s.credits_used) for s in period.samples]
        top = max(ys, default=0.0)
        limit = period.credits_limit
        if limit:
            plt.plot([0.0, length], [float(limit), float(limit)], marker=marks.rule, color="red",
                     label=f"limit {fmt.thousands(limit)}")
            top = max(top, float(limit))
        plt.plot(xs, ys, marker=marks.line, color="cyan", label="used")
        if rate_per_day and rate_per_day > 0 and now is not None and xs:
            end_y = ys[-1] + rate_per_day * max(length - xs[-1], 0.0)
            label = "at this rate"
            if limit and ys[-1] < limit <= end_y:
                crossing = xs[-1] + (limit - ys[-1]) / rate_per_day
                label += f": the limit on {_day_of(period, zone, crossing)}"
            plt.plot([xs[-1], length], [ys[-1], end_y], marker=marks.projection, color="yellow", label=label)
            top = max(top, end_y)
        plt.xlim(0, length)
        plt.ylim(0, top * 1.05 or 1)
        plt.xticks(*day_ticks(period, zone, length, width))
        plt.yticks(*fitting(amount_ticks(top), height))

    return draw


def daily_drawing(period: Period, zone: DisplayZone) -> Drawing:
    """Credits used per day, one slot per calendar day of the zone (a 23- or 25-hour day is one
    day), labelled under its bar: full blocks for complete days, shaded for incomplete ones; a
    day with no sample has no bar, and a '?' where it would stand (no data is not zero)."""

    def draw(plt: Plot, width: int, height: int, marks: Marks) -> None:
        days = list(period.days)
        tops = [float(day.credits_used) for day in days if day.credits_used is not None]
        top = max(tops, default=0.0)
        labelled: set[str] = set()
        for index, day in enumerate(days):
            if day.credits_used is None:
                continue
            complete = day.status is DayStatus.COMPLETE
            label = "per day" if complete else "part of a day"
            # one bar a call: plotext sizes bars by the mean spacing of those drawn together
            plt.bar([float(index)], [float(day.credits_used)], marker=marks.day if complete else marks.part,
                    color="cyan" if complete else "blue", width=0.7, reset_ticks=False,
                    label=None if label in labelled else label)
            labelled.add(label)
        missing = [float(index) for index, day in enumerate(days) if day.status is DayStatus.NO_SAMPLES]
        if missing:
            plt.scatter(missing, [0.0] * len(missing), marker=marks.missing, color="red",
                        label="no samples")
        plt.xlim(-0.5, max(len(days), 1) - 0.5)
        plt.ylim(0, (top or 1) * 1.1)
        every = _thinned(len(days), width)
        plt.xticks([float(index) for index in range(0, len(days), every)], _day_labels([d.day for d in days])[::every])
        plt.yticks(*fitting(amount_ticks(top, 2), height))

    return draw


def storage_drawing(period: Period, zone: DisplayZone) -> Drawing:
    """Storage used over the same period (bytes, in IEC units), its limit as a rule."""

    def draw(plt: Plot, width: int, height: int, marks: Marks) -> None:
        length = period_length(period)
        xs = [period.offset_of(s.at) for s in period.samples]
        ys = [float(s.storage_used) for s in period.samples]
        top = max(ys, default=0.0)
        if period.storage_limit:
            plt.plot([0.0, length], [float(period.storage_limit)] * 2, marker=marks.rule, color="red",
                     label=f"limit {fmt.iec_bytes(period.storage_limit)}")
            top = max(top, float(period.storage_limit))
        plt.plot(xs, ys, marker=marks.line, color="green", label="storage")
        plt.xlim(0, length)
        plt.ylim(0, top * 1.05 or 1)
        plt.xticks(*day_ticks(period, zone, length, width))
        plt.yticks(*fitting(byte_ticks(top), height))

    return draw


def _day_of(period: Period, zone: DisplayZone, offset: float) -> str:
    origin = period.start or period.samples[0].at
    return zone.localize(as_utc(origin) + timedelta(days=offset)).strftime("%-d %b")
