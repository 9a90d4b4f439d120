"""The overview's sparkline as text (no app): bars by glyph, gaps as blanks, any size of count."""

from __future__ import annotations

import pytest

from cuadra_top.tui.sparkline import BARS, NO_DATA, sparkline


@pytest.mark.parametrize(("values", "width", "drawn"), [
    (tuple(range(48)), 8, "▁▂▃▄▅▆▇█"),  # six values a cell, the newest of each
    (tuple(range(48)), 0, ""),
    (tuple(range(48)), -3, ""),
    ((5, 5, 5), 6, "   ▁▁▁"),  # flat: nothing used; fewer values than cells: the newest at the right
    ((), 6, "     " + NO_DATA),
    ((None,) * 48, 6, "     " + NO_DATA),
    ((1, None, None, 9), 4, "▁  █"),  # no sample, no bar
    ((10**400, None, 3 * 10**400), 3, "▁ █"),  # beyond any float: integers throughout
    ((None, None, 4, None, 8, None), 3, " ▁█"),  # a share's newest known value stands for it
])
def test_sparkline(values, width, drawn):
    assert sparkline(values, width) == drawn


def test_every_height_has_a_glyph_of_its_own():
    assert len(set(BARS)) == len(BARS) == 8 and " " not in BARS
