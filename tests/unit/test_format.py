"""Formatters: exact strings for the values users read every day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cuadra_top import format as fmt


@pytest.mark.parametrize(
    "value, text",
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (524288000, "500.0 MiB"),
     (53687091200, "50.0 GiB"), (1024**4, "1.0 TiB"), (None, "—")],
)
def test_iec_bytes(value, text):
    assert fmt.iec_bytes(value) == text


def test_thousands():
    assert fmt.thousands(1234567) == "1,234,567"
    assert fmt.thousands(None) == "—"


@pytest.mark.parametrize("fraction, text", [(0.842, "84.2%"), (1.2, "120.0%"), (None, "unlimited"), (0, "0.0%"), (99.99, "9999.0%"),
                          (100.0, ">9999%"), (10995116277760.0, ">9999%"), (float("inf"), ">9999%"),
                          (float("nan"), "—")])
def test_percent_never_clips_and_reads_unlimited(fraction, text):
    assert fmt.percent(fraction) == text


@pytest.mark.parametrize(
    "seconds, text",
    [(4 * 86400 + 3 * 3600 + 12 * 60 + 30, "4d 3h 12m"), (3600, "1h"), (59, "<1m"), (0, "0m"), (-1, "ended"),
     (None, "—")],
)
def test_duration(seconds, text):
    assert fmt.duration(seconds) == text


def test_age():
    assert fmt.age(12) == "12 s ago"
    assert fmt.age(600) == "10 min ago"
    assert fmt.age(None) == "never"


def test_period_fraction_and_time_left():
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    end = datetime(2026, 11, 30, 23, 59, 59, tzinfo=timezone.utc)
    now = start + (end - start) / 2
    assert fmt.period_fraction(start, end, now) == pytest.approx(0.5)
    assert fmt.period_fraction(start, end, end + timedelta(days=3)) == 1.0
    assert fmt.period_fraction(None, end, now) is None
    assert fmt.time_left(end, end - timedelta(days=2, hours=5)) == "2d 5h"


def test_short_date_converts_any_offset_to_utc():
    """Defect 10: '2026-12-01T00:00:00+05:30' was printed as '2026-12-01 00:00 UTC'."""
    from datetime import datetime, timedelta, timezone

    india = timezone(timedelta(hours=5, minutes=30))
    assert fmt.short_date(datetime(2026, 12, 1, 0, 0, tzinfo=india)) == "2026-11-30 18:30 UTC"
    assert fmt.short_date(datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)) == "2026-12-01 00:00 UTC"
    assert fmt.short_date(datetime(2026, 12, 1, 0, 0)) == "2026-12-01 00:00 UTC"  # naive: UTC, as the models read it
