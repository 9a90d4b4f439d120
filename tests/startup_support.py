"""Shared by tests/unit/test_startup.py and tests/tui/test_startup_tui.py."""

from __future__ import annotations

import gc

import pytest

from cuadra_top import startup


@pytest.fixture(autouse=True)
def _collector_on():
    assert gc.isenabled()
    yield
    startup._paused = False  # noqa: SLF001
    gc.enable()

