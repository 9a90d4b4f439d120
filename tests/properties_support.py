"""Shared by tests/unit/test_properties.py and tests/tui/test_properties_tui.py."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


NOW = datetime(2026, 4, 15, 12, 0, 0, tzinfo=timezone.utc)


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"storage": {"used": 5, "limit": 10}, "credits": {"used": 5, "limit": 10},
                           "plan": {"tier": "pro"}}
    for path, value in changes.items():
        section, key = path.split("__")
        doc[section][key] = value
    return doc


any_float = st.floats(allow_nan=True, allow_infinity=True)

