"""Shared by tests/unit/test_notify.py and tests/tui/test_notify_tui.py."""

from __future__ import annotations

from pathlib import Path

from cuadra_top.config import load_config


def write_config(tmp_path: Path, notify: str, *, orgs: str = '[[org]]\nname = "acme"\ntoken = "acme-token"\n',
                 top: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"{top}\n{orgs}\n{notify}")
    path.chmod(0o600)
    return path


def settings_with(tmp_path, notify: str):
    return load_config(str(write_config(tmp_path, notify)), {}).settings

