"""A sparkline as one line of text: an org's credits used over the last day, for a table cell.

The bars are the org view's sparkline's (Textual's ``Sparkline.BARS``, eighth blocks from ▁ to
█), so the height of each cell is a glyph of its own and reads without colour (NO_COLOR, 16
colours; on a terminal without Unicode each has an ASCII stand-in, see :mod:`cuadra_top.glyphs`).
A time with no sample is a blank, not a bar: the program did not see it.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.renderables.sparkline import Sparkline

BARS = Sparkline.BARS
NO_DATA = "—"


def sparkline(values: Sequence[int | None], width: int) -> str:
    """``values`` (oldest first, None where nothing is known) in ``width`` cells, newest at the
    right: each cell the newest value of its share of them, its bar the height of that value
    between the lowest and the highest shown (all the lowest when they are the same); '—' at
    the right when no value is known. Exact for counts of any size (integers throughout)."""
    if width <= 0:
        return ""
    count = len(values)
    if count == 0 or all(value is None for value in values):
        return NO_DATA.rjust(width)
    shown = min(width, count)
    cells: list[int | None] = []
    begin = 0
    for cell in range(1, shown + 1):  # Sparkline's buckets: shares of equal size, give or take one
        end = cell * count // shown
        newest = end - 1
        while newest > begin and values[newest] is None:
            newest -= 1
        cells.append(values[newest])
        begin = end
    known = [value for value in cells if value is not None]
    low, high = min(known), max(known)
    if high == low:
        return "".join(" " if value is None else BARS[0] for value in cells).rjust(width)
    top, spread = len(BARS) - 1, high - low
    return "".join(" " if value is None else BARS[(value - low) * top // spread] for value in cells).rjust(width)
