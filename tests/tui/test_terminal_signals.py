"""The TUI as a real process in a pseudo-terminal (issue 10, defect 7): SIGTERM, SIGHUP and
SIGINT end it through its normal exit (the terminal restored, the history written and closed),
a terminal that goes away ends it too (with SIGHUP ignored, as under ``trap '' HUP``), and
Ctrl+Z stops it until SIGCONT (what ``fg`` sends), after which it redraws."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pty_session import PtyProcess, child_env, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pty and /proc are needed")

LEAVE_ALT_SCREEN = b"\x1b[?1049l"
ENTER_ALT_SCREEN = b"\x1b[?1049h"
SHOW_CURSOR = b"\x1b[?25h"
HIDE_CURSOR = b"\x1b[?25l"
MOUSE_OFF = b"\x1b[?1000l"
MOUSE_ON = b"\x1b[?1000h"


@pytest.fixture
def tui(start_sim, make_org, tmp_path) -> Iterator[Callable[..., tuple[PtyProcess, Path]]]:
    """tui(ignore_hup=False) -> (the TUI on a simulated org "acme", with history on, drawn and
    past its first answer; the history file)."""
    started: list[PtyProcess] = []

    def start(*, ignore_hup: bool = False) -> tuple[PtyProcess, Path]:
        sim = start_sim([make_org("acme")])
        config = tmp_path / "config.toml"
        config.write_text(f'[[org]]\nname = "acme"\napi_url = "{sim.base_url}"\ntoken = "acme-token"\n')
        config.chmod(0o600)
        child = PtyProcess([sys.executable, "-m", "cuadra_top", "--config", str(config)], child_env(tmp_path),
                           ignore_hup=ignore_hup)
        started.append(child)
        wait_until(lambda: sim.request_count() >= 1, 20, "the first poll")
        wait_until(lambda: b"Credits" in child.output and b"acme" in child.output, 20, "the first data drawn")
        time.sleep(0.3)
        return child, tmp_path / "data" / "cuadra-top" / "history.sqlite3"

    yield start
    for child in started:
        child.stop()


def assert_terminal_restored(output: bytes) -> None:
    """What the process wrote last leaves the alternate screen, shows the cursor and turns the
    mouse off, and nothing after it takes any of that back."""
    end = output.rfind(LEAVE_ALT_SCREEN)
    assert end != -1, f"the alternate screen was never left: {bytes(output[-300:])!r}"
    tail = output[end:]
    assert SHOW_CURSOR in tail, tail
    assert MOUSE_OFF in output[max(output.rfind(MOUSE_ON), 0):], "the mouse was left captured"
    assert ENTER_ALT_SCREEN not in tail and HIDE_CURSOR not in tail, tail


def assert_history_closed(history: Path) -> None:
    """The samples the run took are in the file, and its write-ahead log was merged and removed
    (SQLite does that when the last connection closes cleanly)."""
    assert not Path(f"{history}-wal").exists(), "the history was not closed (its -wal is left)"
    with contextlib.closing(sqlite3.connect(history)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM samples").fetchone()
    assert count >= 1


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_termination_signal_restores_the_terminal_and_closes_the_history(tui, signum, code):
    child, history = tui()
    before = len(child.output)
    child.process.send_signal(signum)
    assert child.wait_exit(5) == code  # 128 + the signal, as a shell shows a killed job
    assert_terminal_restored(child.output[before:])
    assert_history_closed(history)


def test_kill_of_a_stopped_job_ends_it_cleanly(tui):
    """`kill %1` on a job stopped by Ctrl+Z: the shell sends SIGTERM, then SIGCONT."""
    child, history = tui()
    child.send(b"\x1a")
    wait_until(lambda: child.state() == "T", 5, "Ctrl+Z stopping the process")
    stopped_at = len(child.output)
    child.process.send_signal(signal.SIGTERM)
    os.kill(child.pid, signal.SIGCONT)
    assert child.wait_exit(5) == 143
    assert_terminal_restored(child.output[stopped_at:])
    assert_history_closed(history)


def test_a_vanished_terminal_ends_the_process_even_with_sighup_ignored(tui):
    child, history = tui(ignore_hup=True)
    cpu_before = child.cpu_seconds()
    child.close_terminal()
    started = time.monotonic()
    try:
        code = child.wait_exit(5)
    except subprocess.TimeoutExpired:
        spent = child.cpu_seconds() - cpu_before
        pytest.fail(f"still running {time.monotonic() - started:.1f} s after the terminal went away, "
                    f"having used {spent:.1f} s of CPU")
    assert code == 129
    assert_history_closed(history)


def test_ctrl_z_stops_the_process_and_sigcont_redraws_it(tui):
    child, _ = tui()
    before = len(child.output)
    child.send(b"\x1a")
    wait_until(lambda: child.state() == "T", 5, "Ctrl+Z stopping the process")
    assert_terminal_restored(child.output[before:])  # the shell gets a usable terminal back
    resumed_at = len(child.output)
    os.kill(child.pid, signal.SIGCONT)  # what `fg` sends
    wait_until(lambda: child.state() != "T", 5, "SIGCONT resuming the process")
    wait_until(lambda: b"Credits" in child.output[resumed_at:], 5, "the screen redrawn after SIGCONT")
    redrawn = child.output[resumed_at:]
    assert ENTER_ALT_SCREEN in redrawn and b"acme" in redrawn
    child.send(b"q")
    assert child.wait_exit(5) == 0
