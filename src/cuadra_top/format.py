"""Plain-text formatting shared by the CLI and the TUI: numbers, bytes, percentages, durations.

Every function takes any value the models can hold (including None for "unlimited" or
"not sent") and returns a string; none of them raises on an edge value.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

UNLIMITED = "unlimited"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0, DEL, C1, the line and paragraph separators, and the bidi embeddings, overrides and
isolates (which reorder the text after them: a name could make a row read backwards)."""
_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def thousands(value: int | float | None, missing: str = "—") -> str:
    """12,345 — with thousands separators; ``missing`` for None."""
    if value is None:
        return missing
    if isinstance(value, float) and not math.isfinite(value):
        return missing
    return f"{round(value):,}"


def iec_bytes(value: int | float | None, missing: str = "—") -> str:
    """Bytes in IEC units: 512.0 MiB, 1.5 GiB, 100 B."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    if isinstance(value, int) and abs(value) >= 1024 ** len(_IEC):
        return f"{value // 1024 ** (len(_IEC) - 1):,} {_IEC[-1]}"  # float() would overflow
    size = float(value)
    for unit in _IEC:
        if abs(size) < 1024 or unit == _IEC[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


PERCENT_CAP = 100.0
"""Fractions from this (10,000%) up read '>9999%': a storage use 10^13 times its limit must not
push every other column off the screen."""


def percent(fraction: float | None) -> str:
    """'84.2%'; over 100% stays over (112.0%), up to '>9999%'; None reads 'unlimited'."""
    if fraction is None:
        return UNLIMITED
    if math.isnan(fraction):
        return "—"
    if fraction >= PERCENT_CAP:
        return ">9999%"
    return f"{fraction * 100:.1f}%"


def used_of(used: str, limit: str | None) -> str:
    """'7,500 / 50,000', or '7,500 / unlimited'."""
    return f"{used} / {limit if limit is not None else UNLIMITED}"


def duration(seconds: float | None, *, precision: int = 3) -> str:
    """'4d 3h 12m' (the ``precision`` largest units); '0m' for under a minute; negative -> 'ended'."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 0:
        return "ended"
    minutes_total = int(seconds // 60)
    days, rest = divmod(minutes_total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if not parts:
        return "<1m" if seconds > 0 else "0m"
    return " ".join(parts[:precision])


def wait(seconds: float | None) -> str:
    """How long until something happens: '45 s' under a minute and a half, else the
    :func:`duration` of it ('3m', '1h', '1h 30m')."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = max(seconds, 0)
    if seconds < 90:
        return f"{int(seconds)} s"
    return duration(seconds, precision=2)


def age(seconds: float | None) -> str:
    """How long ago: '12 s ago', '3 min ago', '2 h ago'."""
    if seconds is None or not math.isfinite(seconds):
        return "never"
    seconds = max(seconds, 0)
    if seconds < 90:
        return f"{int(seconds)} s ago"
    if seconds < 90 * 60:
        return f"{int(seconds // 60)} min ago"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def time_left(end: datetime | None, now: datetime) -> str:
    """Countdown to the end of the billing period."""
    if end is None:
        return "—"
    return duration((end - now).total_seconds())


def period_fraction(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    """How much of the billing period has passed, 0..1, or None without a period."""
    if start is None or end is None or end <= start:
        return None
    passed = (now - start) / (end - start)
    return min(max(passed, 0.0), 1.0)


def short_date(value: datetime | None) -> str:
    """'2026-11-30 18:30 UTC': converted to UTC first (the API may send any offset)."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        try:
            value = value.astimezone(timezone.utc)
        except OverflowError:
            pass
    return value.strftime("%Y-%m-%d %H:%M UTC")


def day_time(value: datetime) -> str:
    """'Tue 14:20 UTC': a moment within the next days, to the minute."""
    if value.tzinfo is not None:
        try:
            value = value.astimezone(timezone.utc)
        except OverflowError:
            pass
    return value.strftime("%a %H:%M UTC")


def interval(seconds: float) -> str:
    """Refresh interval: '30s', '2m', '1m30s'."""
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    if not minutes:
        return f"{secs}s"
    return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` safe to put on a terminal: control characters (ESC and the rest of C0, DEL, C1),
    the Unicode line and paragraph separators and the bidi overrides become U+FFFD, so nothing
    an API, a config file or the environment holds can move the cursor, retitle the window,
    reorder a line or break a one-line-per-org table."""
    return (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub("\ufffd", text)


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """The characters :func:`printable` replaces, as ``\\uXXXX`` escapes instead: in a JSON or
    TOML string they read back as the same characters, and on a terminal they do nothing."""
    return (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub(lambda m: f"\\u{ord(m.group()):04x}", text)
