"""The collector is paused during start-up and always comes back on."""

from __future__ import annotations

import gc

import pytest

from cuadra_top import startup
from cuadra_top.cli import main
from startup_support import (  # what the unit and the TUI tests of this topic share
    _collector_on,
)


def test_pause_and_resume_turn_the_collector_off_and_on():
    startup.pause_gc()
    assert not gc.isenabled()
    startup.resume_gc()
    assert gc.isenabled()


def test_resume_leaves_a_collector_it_did_not_pause_alone():
    gc.disable()  # someone else's choice (a host program, a profiler)
    startup.pause_gc()
    startup.resume_gc()
    assert not gc.isenabled()


def test_main_gives_the_collector_back_when_argparse_exits(capsys, isolated_env):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert gc.isenabled()


def test_main_gives_the_collector_back_after_an_error(capsys, isolated_env):
    assert main(["--json"]) != 0  # "--json goes with --once"
    assert gc.isenabled()
    assert main(["config", "validate"]) != 0  # no orgs configured
    assert gc.isenabled()
