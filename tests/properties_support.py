"""Shared by tests/unit/test_properties.py and tests/tui/test_properties_tui.py."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cuadra_top import format as fmt
from cuadra_top.api.client import Fetched
from cuadra_top.api.errors import ApiError, AuthError, NetworkError, ProtocolError, RateLimited, ServerError
from cuadra_top.api.http import Answer, error_for, retry_after_seconds
from cuadra_top.api.models import Usage, describe_validation_error, parse_usage
from cuadra_top.once import available_cell, credits_cell, json_org, render_json, render_table, storage_cell, table_row
from cuadra_top.state.fleet import OrgResult
from cuadra_top.state.poller import OrgState, Status
from cuadra_top.thresholds import Band, Thresholds
from cuadra_top.tui.gauge import gauge_line
from cuadra_top.tui.header import header_text, status_text
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.panes import layout_pairs


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

