"""Outputs that cannot carry Unicode, on the TUI: a terminal without Unicode gets its keys named
in words.

The other outputs, and how the encoding is decided: tests/unit/test_encodings.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib

import pytest
from pty_session import PtyProcess, child_env, wait_until

from cuadra_top.tui.factory import TuiOptions, make_app


async def test_keys_are_named_in_words_on_a_terminal_without_unicode(monkeypatch, isolated_env):
    """Textual writes to stderr: an ASCII one makes the key bar say 'enter', not '⏎'."""
    import io

    from cuadra_top.config import OrgConfig, Settings

    ascii_stderr = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="backslashreplace")
    monkeypatch.setattr(sys, "__stderr__", ascii_stderr)
    orgs = [OrgConfig(name=n, api_url="http://127.0.0.1:9", token="t-token") for n in ("a", "b")]
    app = make_app(TuiOptions(Settings(org=orgs), environ={}, persist_theme=False))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one("KeyBar").shown
        assert "enter Open" in bar and "\u23ce" not in bar, bar

