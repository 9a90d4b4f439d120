"""Outputs that cannot carry Unicode (issue 10, defect 13): ``LC_ALL=C`` without Python's UTF-8
mode, ``PYTHONIOENCODING=latin-1`` or ``ascii``. Every text the program prints gets ASCII
stand-ins instead of a crash or ``\xb7``-style escapes; UTF-8 output stays as it was.

Real processes against the simulator: the encoding is decided by the interpreter at start-up.

The TUI half (the rest is in tests/unit/test_encodings.py)."""

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

