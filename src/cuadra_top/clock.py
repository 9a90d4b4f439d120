"""Time helpers shared by every layer: all arithmetic is in UTC."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive time is taken to be UTC already (as the models do)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # an offset pushing it past datetime's range
        return value.replace(tzinfo=timezone.utc)


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (``--json``, exports), or None."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")
