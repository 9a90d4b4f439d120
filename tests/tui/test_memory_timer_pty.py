"""The TUI's minute of memory upkeep (a full collection of cycles, then the heap trim:
``app.HEAP_TRIM_EVERY``) attacked in the real program on a pseudo-terminal, where the in-process
app cannot show it: the terminal is the app's, and signals and keys are real.

Each child is the real ``cuadra-top`` started through :data:`LAUNCHER`, which shortens the
timer, records each collection and trim in a file, and plants what the test needs: finalizers
that raise and print, or a collection made slow by a ``gc.callbacks`` entry (as a third-party
library could add), so a key or a signal lands while the timer's collection runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
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

LAUNCHER = r'''
import gc, os, sys, threading, time

marks = os.open(os.environ["MARKS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
def mark(what):
    os.write(marks, what.encode() + b"\n")

from cuadra_top import heap
from cuadra_top.tui import app

app.HEAP_TRIM_EVERY = float(os.environ["TRIM_EVERY"])
real_trim = heap.give_back_free_memory
def trim():
    mark("trim")
    return real_trim()
heap.give_back_free_memory = trim  # the timer imports it from cuadra_top.heap each time

in_timer = [False]
real_collect = gc.collect
def collect(generation=2):
    in_timer[0] = True
    try:
        return real_collect(generation)
    finally:
        in_timer[0] = False
gc.collect = collect  # the timer's collection, told from the automatic collector's

mode = os.environ["MODE"]
if mode == "slow":  # a gc.callbacks entry that holds the timer's collection for SLOW s
    slow = float(os.environ["SLOW"])
    def hold(phase, info):
        if in_timer[0] and phase == "start":
            mark("collecting")
            time.sleep(slow)
            mark("collected")
    gc.callbacks.append(hold)
elif mode in ("finalizers-timer", "finalizers-automatic"):
    if mode == "finalizers-timer":
        gc.set_threshold(0)  # no automatic collection: only the timer's finds these cycles
    class Noisy:
        def __del__(self):
            mark("finalized-in-timer" if in_timer[0] else "finalized")
            print("NOISY FINALIZER", file=sys.stderr, flush=True)
            print("NOISY FINALIZER ON STDOUT", flush=True)
            raise RuntimeError("RAISED BY A FINALIZER holding acme-token")  # the config's token
    def litter():
        while True:
            cycle = Noisy()
            cycle.me = cycle
            del cycle
            time.sleep(0.05)
    threading.Thread(target=litter, daemon=True).start()

from cuadra_top.cli import main
sys.exit(main(sys.argv[1:]))
'''

NOISE = (b"NOISY FINALIZER", b"RAISED BY A FINALIZER", b"Exception ignored", b"Traceback", b"an error was ignored")


class Child:
    def __init__(self, process: PtyProcess, marks: Path, history: Path) -> None:
        self.process = process
        self._marks = marks
        self.history = history

    def marks(self) -> list[str]:
        return self._marks.read_text().split() if self._marks.exists() else []


@pytest.fixture
def launch(start_sim, make_org, tmp_path) -> Iterator[Callable[..., Child]]:
    """launch(mode, trim_every, *arguments, **env) -> the real TUI on one simulated org "acme",
    drawn and past its first answer, its minute's work every ``trim_every`` s."""
    started: list[PtyProcess] = []

    def start(mode: str, trim_every: float, *arguments: str, **extra: str) -> Child:
        sim = start_sim([make_org("acme")])
        config = tmp_path / "config.toml"
        config.write_text(f'[[org]]\nname = "acme"\napi_url = "{sim.base_url}"\ntoken = "acme-token"\n')
        config.chmod(0o600)
        marks = tmp_path / "marks"
        env = child_env(tmp_path, MODE=mode, TRIM_EVERY=str(trim_every), MARKS=str(marks), **extra)
        child = PtyProcess([sys.executable, "-c", LAUNCHER, "--config", str(config), *arguments], env)
        started.append(child)
        wait_until(lambda: b"Credits" in child.output and b"acme" in child.output, 20, "the first data drawn")
        return Child(child, marks, tmp_path / "data" / "cuadra-top" / "history.sqlite3")

    yield start
    for child in started:
        child.stop()


def assert_terminal_restored(output: bytes) -> None:
    end = output.rfind(LEAVE_ALT_SCREEN)
    assert end != -1, f"the alternate screen was never left: {bytes(output[-300:])!r}"
    assert SHOW_CURSOR in output[end:] and ENTER_ALT_SCREEN not in output[end:]


def assert_history_closed(history: Path) -> None:
    assert not Path(f"{history}-wal").exists(), "the history was not closed (its -wal is left)"
    with contextlib.closing(sqlite3.connect(history)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM samples").fetchone()
    assert count >= 1


@pytest.mark.parametrize("collector", ["timer", "automatic"])
def test_finalizers_that_raise_and_print_leave_the_screen_alone(launch, collector):
    """Cycles whose ``__del__`` prints to stdout and stderr, then raises: collected by the
    timer's collection (the automatic collector off), or by the automatic one, as before the
    timer. Python reports such an exception on ``sys.stderr``, which Textual captures while the
    app runs (and drops): nothing of it reaches the terminal, and the app runs on and quits."""
    child = launch(f"finalizers-{collector}", 0.3 if collector == "timer" else 3600.0)
    finalized = "finalized-in-timer" if collector == "timer" else "finalized"
    wait_until(lambda: child.marks().count(finalized) >= 20, 20, f"finalizers run by the {collector} collector")
    if collector == "timer":
        assert "finalized" not in child.marks()  # none but the timer's collection found them
    time.sleep(0.5)  # what a finalizer wrote would be on the terminal by now
    child.process.send(b"q")
    assert child.process.wait_exit(10) == 0
    output = bytes(child.process.output)
    assert_terminal_restored(output)
    # While the app held the terminal (the litter thread goes on after it, onto the shell's):
    held = output[output.find(ENTER_ALT_SCREEN):output.rfind(LEAVE_ALT_SCREEN)]
    assert not [noise for noise in NOISE if noise in held], held[-2000:]
    assert_history_closed(child.history)


def test_what_the_finalizers_raised_is_in_the_log_redacted(launch, tmp_path):
    """The same finalizers with ``--log``: what Python could not raise while the app ran is
    in the log, traceback and all, each time, with the config's token masked; the screen
    still shows none of it."""
    log = tmp_path / "debug.log"
    child = launch("finalizers-timer", 0.3, "--log", str(log))
    wait_until(lambda: child.marks().count("finalized-in-timer") >= 5, 20, "finalizers run by the timer")
    child.process.send(b"q")
    assert child.process.wait_exit(10) == 0
    output = bytes(child.process.output)
    held = output[output.find(ENTER_ALT_SCREEN):output.rfind(LEAVE_ALT_SCREEN)]
    assert not [noise for noise in NOISE if noise in held], held[-2000:]
    text = log.read_text()
    assert text.count("RuntimeError: RAISED BY A FINALIZER holding ********") >= 5, text[-2000:]
    assert "in __del__" in text and "acme-token" not in text


@pytest.mark.parametrize(("end", "code"), [("q", 0), ("SIGTERM", 143)])
def test_the_app_ends_cleanly_when_told_to_while_the_collection_runs(launch, end, code):
    """q, or SIGTERM, while the timer's collection runs (held for 1.5 s by a ``gc.callbacks``
    entry): the key waits for the collection, the signal's handler too (it runs in the loop),
    then the app's normal exit: the terminal restored, the history closed."""
    child = launch("slow", 1.0, SLOW="1.5")
    wait_until(lambda: "collecting" in child.marks(), 10, "the timer's collection")
    before = len(child.process.output)
    if end == "q":
        child.process.send(b"q")
    else:
        child.process.process.send_signal(signal.SIGTERM)
    assert child.process.wait_exit(10) == code
    assert_terminal_restored(bytes(child.process.output[before:]))
    assert_history_closed(child.history)


def test_ctrl_z_and_fg_in_the_middle_of_the_collection(launch):
    """SIGTSTP then SIGCONT (a ``kill -TSTP``, then ``fg``) while the timer's collection runs:
    Textual's Python-level handlers run inside it (in the ``gc.callbacks`` entry holding it),
    so the terminal is given back and taken again from within the collector. The process
    stops, resumes, redraws, finishes the collection and trims, and quits cleanly after."""
    child = launch("slow", 1.0, SLOW="1.5")
    wait_until(lambda: "collecting" in child.marks(), 10, "the timer's collection")
    stopping_at = len(child.process.output)
    os.kill(child.process.pid, signal.SIGTSTP)
    wait_until(lambda: child.process.state() == "T", 5, "SIGTSTP stopping the process")
    assert_terminal_restored(bytes(child.process.output[stopping_at:]))
    held = len(child.marks()) - 1
    assert child.marks()[held:] == ["collecting"]  # stopped inside the collection
    resumed_at = len(child.process.output)
    os.kill(child.process.pid, signal.SIGCONT)
    wait_until(lambda: child.process.state() != "T", 5, "SIGCONT resuming the process")
    wait_until(lambda: b"Credits" in child.process.output[resumed_at:], 10, "the screen redrawn after SIGCONT")
    assert ENTER_ALT_SCREEN in child.process.output[resumed_at:]
    wait_until(lambda: child.marks()[held:held + 3] == ["collecting", "collected", "trim"], 10,
               "the collection finished, and the trim after it")
    child.process.send(b"q")
    assert child.process.wait_exit(10) == 0
    assert_terminal_restored(bytes(child.process.output[resumed_at:]))
