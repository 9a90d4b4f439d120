"""What the end-to-end tests (tests/e2e/) share: the programs they need from Debian's packages
(skipped without them, saying how to get them, unless CUADRA_TOP_E2E=require, where they fail),
and children in their own process groups, ended whatever happens. Not a test module."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest


def need(commands: tuple[str, ...], what: str) -> tuple[str, ...]:
    """The paths of ``commands``; a skip (a failure under CUADRA_TOP_E2E=require) naming ``make
    e2e-deps`` when one is missing."""
    found = tuple(shutil.which(command) for command in commands)
    if None in found:
        missing = ", ".join(c for c, path in zip(commands, found) if path is None)
        message = f"needs {missing} ({what}): run `make e2e-deps`"
        if os.environ.get("CUADRA_TOP_E2E") == "require":
            pytest.fail(f"CUADRA_TOP_E2E=require: {message}")
        pytest.skip(message)
    return found  # type: ignore[return-value]


class Group:
    """A child in its own process group; ``stop`` ends the whole group (TERM, then KILL)."""

    def __init__(self, argv: list[str], log: Path, **kw) -> None:
        self.log = log
        self.out = log.open("w")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self.out.close()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(condition, what: str, timeout: float = 30.0, every: float = 0.1):
    """``condition()``'s first true value within ``timeout`` seconds, else an AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
