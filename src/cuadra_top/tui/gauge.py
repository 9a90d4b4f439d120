"""A quota gauge that reads in 16 colours and under NO_COLOR: the bar, the percentage, and
the level in words (WARN, CRIT, OVER), so colour is never the only signal."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from cuadra_top import format as fmt

FULL, EMPTY = "█", "░"


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    OVER = "over"
    UNLIMITED = "unlimited"
    NONE = "none"


LEVEL_WORD = {Level.WARN: "WARN", Level.CRITICAL: "CRIT", Level.OVER: "OVER"}


def level_of(fraction: float | None, warn_percent: float, critical_percent: float) -> Level:
    """Classify a used/limit fraction against the thresholds (percent)."""
    if fraction is None:
        return Level.UNLIMITED
    if not math.isfinite(fraction):
        return Level.NONE
    percent = fraction * 100
    if percent > 100:
        return Level.OVER
    if percent >= critical_percent:
        return Level.CRITICAL
    if percent >= warn_percent:
        return Level.WARN
    return Level.OK


@dataclass(frozen=True)
class GaugeLine:
    bar: str
    label: str
    level: Level


def gauge_line(
    fraction: float | None, width: int, warn_percent: float = 80, critical_percent: float = 95, *,
    words: bool = True, suffix: str = "",
) -> GaugeLine:
    """The text of a gauge ``width`` cells wide (bar plus label); never raises."""
    level = level_of(fraction, warn_percent, critical_percent)
    if level is Level.UNLIMITED:
        return GaugeLine("", fmt.UNLIMITED, level)
    if level is Level.NONE or fraction is None:
        return GaugeLine("", "—", level)
    label = fmt.percent(fraction)
    if words and level in LEVEL_WORD:
        label += f" {LEVEL_WORD[level]}"
    if suffix:
        label += f" {suffix}"
    bar_width = max(width - len(label) - 1, 0)
    filled = min(bar_width, max(0, round(min(max(fraction, 0.0), 1.0) * bar_width)))
    if fraction > 0 and filled == 0 and bar_width:
        filled = 1  # something used shows as something
    return GaugeLine(FULL * filled + EMPTY * (bar_width - filled), label, level)


class Gauge(Widget):
    """One line: ``█████░░░░░ 84.2% WARN``. Its CSS class follows the level, so themes colour it."""

    DEFAULT_CSS = """
    Gauge { height: 1; width: 1fr; }
    """

    fraction: reactive[float | None] = reactive(None, layout=False)

    def __init__(self, *, warn_percent: float = 80, critical_percent: float = 95, words: bool = True,
                 suffix: str = "", id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.suffix = suffix
        self.warn_percent = warn_percent
        self.critical_percent = critical_percent
        self.words = words
        self._level: Level | None = None

    def set(self, fraction: float | None, suffix: str | None = None) -> None:
        """A new value that would draw the same line (0.62013 and 0.62015 both read 62.0% on
        the same bar) is kept without a repaint: an idle monitor sends the terminal nothing."""
        suffix = self.suffix if suffix is None else suffix
        if fraction == self.fraction and suffix == self.suffix:
            return
        width = self.size.width
        same = width and self._draws(self.fraction, self.suffix, width) == self._draws(fraction, suffix, width)
        self.suffix = suffix
        self.set_reactive(Gauge.fraction, fraction)
        if not same:
            self.refresh()
        self._update_level()

    def _draws(self, fraction: float | None, suffix: str, width: int) -> GaugeLine:
        return gauge_line(fraction, width, self.warn_percent, self.critical_percent, words=self.words,
                          suffix=suffix)

    def _update_level(self) -> None:
        level = level_of(self.fraction, self.warn_percent, self.critical_percent)
        if level is not self._level:
            if self._level is not None:
                self.remove_class(f"-{self._level.value}")
            self.add_class(f"-{level.value}")
            self._level = level

    def render(self) -> Text:
        line = gauge_line(self.fraction, self.size.width, self.warn_percent, self.critical_percent,
                          words=self.words, suffix=self.suffix)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(line.bar, style="bold")
        if line.bar:
            text.append(" ")
        text.append(line.label, style="bold" if line.level in LEVEL_WORD else "")
        return text
