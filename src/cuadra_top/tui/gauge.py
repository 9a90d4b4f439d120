"""A quota gauge that reads in 16 colours and under NO_COLOR: the bar, the percentage, and
the level in words (WARN, CRIT, OVER), so colour is never the only signal."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from cuadra_top import format as fmt
from cuadra_top.thresholds import BAND_WORD, Band, Thresholds

FULL, EMPTY = "█", "░"


@dataclass(frozen=True)
class GaugeLine:
    bar: str
    label: str
    band: Band


def gauge_line(
    fraction: float | None, width: int, thresholds: Thresholds = Thresholds(), *,
    words: bool = True, suffix: str = "",
) -> GaugeLine:
    """The text of a gauge ``width`` cells wide (bar plus label); never raises."""
    band = thresholds.band(fraction)
    if band is Band.UNLIMITED:
        return GaugeLine("", fmt.UNLIMITED, band)
    if band is Band.NONE or fraction is None:
        return GaugeLine("", "—", band)
    label = fmt.percent(fraction)
    if words and band in BAND_WORD:
        label += f" {BAND_WORD[band]}"
    if suffix:
        label += f" {suffix}"
    return GaugeLine(gauge_bar(fraction, max(width - len(label) - 1, 0)), label, band)


def gauge_bar(fraction: float, width: int) -> str:
    """``width`` cells of FULL and EMPTY for ``fraction`` (past 1 is full); anything used
    fills at least one cell. The gauges of the org view and the overview's small one."""
    width = max(width, 0)
    filled = min(width, max(0, round(min(max(fraction, 0.0), 1.0) * width)))
    if fraction > 0 and filled == 0 and width:
        filled = 1  # something used shows as something
    return FULL * filled + EMPTY * (width - filled)


class Gauge(Widget):
    """One line: ``█████░░░░░ 84.2% WARN``. Its CSS class follows the level, so themes colour it."""

    DEFAULT_CSS = """
    Gauge { height: 1; width: 1fr; }
    """

    fraction: reactive[float | None] = reactive(None, layout=False)

    def __init__(self, *, thresholds: Thresholds = Thresholds(), words: bool = True,
                 suffix: str = "", id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.suffix = suffix
        self.thresholds = thresholds
        self.words = words
        self._band: Band | None = None

    def set(self, fraction: float | None, suffix: str | None = None, thresholds: Thresholds | None = None) -> None:
        """A new value that would draw the same line (0.62013 and 0.62015 both read 62.0% on
        the same bar) is kept without a repaint: an idle monitor sends the terminal nothing.
        ``thresholds``: the shown org's own (each org may set its own)."""
        suffix = self.suffix if suffix is None else suffix
        thresholds = self.thresholds if thresholds is None else thresholds
        if fraction == self.fraction and suffix == self.suffix and thresholds == self.thresholds:
            return
        width = self.size.width
        same = width and self._draws(self.fraction, self.suffix, self.thresholds, width) == self._draws(
            fraction, suffix, thresholds, width)
        self.suffix = suffix
        self.thresholds = thresholds
        self.set_reactive(Gauge.fraction, fraction)
        if not same:
            self.refresh()
        self._update_band()

    def _draws(self, fraction: float | None, suffix: str, thresholds: Thresholds, width: int) -> GaugeLine:
        return gauge_line(fraction, width, thresholds, words=self.words, suffix=suffix)

    def _update_band(self) -> None:
        band = self.thresholds.band(self.fraction)
        if band is not self._band:
            if self._band is not None:
                self.remove_class(f"-{self._band.value}")
            self.add_class(f"-{band.value}")
            self._band = band

    def render(self) -> Text:
        line = self._draws(self.fraction, self.suffix, self.thresholds, self.size.width)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(line.bar, style="bold")
        if line.bar:
            text.append(" ")
        text.append(line.label, style="bold" if line.band in BAND_WORD else "")
        return text
