"""Property tests of what the TUI draws: the gauges, the label/value layout, and the header and
status lines of any org state never raise, whatever the numbers.

The API documents, the formatters, ``--once`` and the HTTP layer: tests/unit/test_properties.py."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cuadra_top import format as fmt
from cuadra_top.api.errors import NetworkError
from cuadra_top.api.models import parse_usage
from cuadra_top.once import storage_cell
from cuadra_top.state.poller import OrgState, Status
from cuadra_top.thresholds import Band, Thresholds
from cuadra_top.tui.gauge import gauge_line
from cuadra_top.tui.header import header_text, status_text
from cuadra_top.tui.panes import layout_pairs
from properties_support import (  # what the unit and the TUI tests of this topic share
    NOW,
    PROPERTY,
    _doc,
    any_float,
    texts,
)


@PROPERTY
@given(st.one_of(st.none(), any_float), st.integers(min_value=-50, max_value=500),
       st.floats(min_value=0.001, max_value=1000), st.floats(min_value=0.001, max_value=1000), texts)
def test_gauge_line_never_raises(fraction, width, warn, critical, suffix):
    thresholds = Thresholds(warn, critical)
    line = gauge_line(fraction, width, thresholds, suffix=suffix)
    assert len(line.bar) <= max(width, 0)
    assert isinstance(line.label, str) and isinstance(line.band, Band)
    assert thresholds.band(fraction) is line.band
    if fraction is not None and fraction > 1:
        assert line.band is Band.OVER and "OVER" in line.label


shown_texts = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30)
"""What the panes give layout_pairs: formatted numbers and API strings after ``printable``."""


@PROPERTY
@given(st.lists(st.tuples(shown_texts, shown_texts), max_size=8), st.integers(min_value=-5, max_value=200))
def test_layout_pairs_never_splits_a_pair(items, width):
    lines = layout_pairs(items, width)
    assert lines
    joined = "\n".join(line.plain for line in lines)
    for label, value in items:
        assert f"{label} {value}" in joined


@PROPERTY
@given(st.floats(min_value=-1e7, max_value=1e7), st.floats(min_value=0.1, max_value=86400),
       st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6)), st.integers(min_value=0, max_value=10**6),
       st.booleans(), st.booleans())
def test_header_and_status_of_any_state(age, interval, retry, failures, paused, stopped):
    state = OrgState("org-名前-🚀", error=NetworkError("connection refused by x") if failures else None,
                     failures=failures, paused=paused, stopped=stopped,
                     next_poll_at=None if retry is None else NOW + timedelta(seconds=retry))
    header_text(state, NOW + timedelta(seconds=age), interval, (1, 1))
    status_text(state, NOW)
    assert isinstance(state.status(NOW, interval), Status)


def test_counts_too_big_for_a_float_do_not_overflow():
    usage = parse_usage(_doc(storage__used=10**400, storage__limit=1, credits__used=2**63 - 1, credits__limit=1))
    # Over the limit by more than a float can say: still OVER, with the digits capped (defect 22).
    assert usage.storage.fraction == math.inf and fmt.percent(usage.storage.fraction) == ">9999%"
    assert gauge_line(usage.storage.fraction, 40).band is Band.OVER
    assert usage.credits.fraction == pytest.approx(2.0**63)
    assert "EiB" in storage_cell(usage)

