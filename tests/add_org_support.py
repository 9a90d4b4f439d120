"""Shared by tests/unit/test_add_org.py and tests/tui/test_add_org_tui.py."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Select

from cuadra_top.config import ConfigError, OrgConfig, Settings
from cuadra_top.state.monitor import Monitor
from cuadra_top.tui.add_org import AddOrgScreen
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.overview import OverviewTable


def org(sim, name: str, **kw) -> OrgConfig:
    return OrgConfig(name=name, api_url=sim.base_url, token=f"{name}-token", **kw)

