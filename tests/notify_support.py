"""Shared by tests/unit/test_notify.py and tests/tui/test_notify_tui.py."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from cuadra_top.cli import main
from cuadra_top.config import ConfigError, load_config, render_masked
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


def settings_with(tmp_path, notify: str):
    return load_config(str(write_config(tmp_path, notify)), {}).settings

