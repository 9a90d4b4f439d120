"""Shared by tests/unit/test_notify.py and tests/tui/test_notify_tui.py."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cuadra_top import redaction
from cuadra_top.cli import main
from cuadra_top.config import ConfigError, load_config, render_masked
from cuadra_top.debuglog import LOGGER_NAME
from cuadra_top.notify.channels import Target, resolve, resolve_strictly, split_urls
from cuadra_top.notify.delivery import Dispatcher, Report
from cuadra_top.notify.service import NotifyService, deliver_once
from cuadra_top.state.alerts import Level, Notice, NoticeKind
from cuadra_top.state.monitor import AlertNotice


def write_config(tmp_path: Path, notify: str, *, orgs: str = '[[org]]\nname = "acme"\ntoken = "acme-token"\n',
                 top: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"{top}\n{orgs}\n{notify}")
    path.chmod(0o600)
    return path


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch):
    """Each test starts with no secret remembered: a test passes only on what its run registered."""
    monkeypatch.setattr(redaction, "_SECRETS", set())


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger(LOGGER_NAME)
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    root.propagate = saved[2]


def settings_with(tmp_path, notify: str):
    return load_config(str(write_config(tmp_path, notify)), {}).settings

