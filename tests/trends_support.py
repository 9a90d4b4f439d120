"""Shared by tests/unit/test_trends_integration.py and tests/tui/test_trends_tui.py."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from cuadra_top.api.models import parse_usage
from cuadra_top.cli import main
from cuadra_top.simulator import Fault
from cuadra_top.state.fleet import OrgResult
from cuadra_top.state.history import History, default_history_path, sample_of
from cuadra_top.state.trends import DENSE_STEP, Trends, Window, recording
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.screenshots import FROZEN_AT, frozen_app, wait_for_data


def key_of(sim, name: str) -> str:
    """The history key --once and the TUI use for the simulator's org ``name``."""
    from pydantic import SecretStr

    from cuadra_top.api.auth import StaticToken
    from cuadra_top.state.identity import series_key

    key = series_key(sim.base_url, StaticToken(SecretStr(sim.orgs[name].token)), name)
    assert key is not None
    return key

