"""A real process on a pseudo-terminal, for the tests that need the TUI's actual bytes and
signals (tests/test_terminal_signals.py, tests/test_encodings.py). Not a test module."""

from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment for a child cuadra-top: these sources, no CUADRA_* or TEXTUAL* variable
    of the caller, config and data under ``tmp_path``; ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUADRA_", "TEXTUAL"))}
    env.update(PYTHONPATH=str(SRC), TERM="xterm-256color", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    env.update(extra)
    return env


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not reached within {timeout} s"
        time.sleep(0.02)


class PtyProcess:
    """A child on the slave side of a new pty, as its session's controlling terminal; what it
    writes is gathered from the master side by a thread (a full pty would block it)."""

    def __init__(self, args: list[str], env: dict[str, str], *, ignore_hup: bool = False) -> None:
        import fcntl
        import termios

        try:
            self.master, slave = os.openpty()
        except OSError as exc:  # pragma: no cover - no ptys in this sandbox
            pytest.skip(f"no pseudo-terminal: {exc}")
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

        def as_a_terminal_session() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # Stated either way: a runner started under nohup (or with HUP blocked) passes its
            # choice on, and the TUI rightly keeps an inherited SIG_IGN.
            signal.signal(signal.SIGHUP, signal.SIG_IGN if ignore_hup else signal.SIG_DFL)  # `trap '' HUP`
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP, signal.SIGTERM, signal.SIGINT})

        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                                        preexec_fn=as_a_terminal_session, close_fds=True)
        os.close(slave)
        self.output = bytearray()
        self._reading = True
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while self._reading:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave descriptor is closed
                return
            if not data:
                return
            self.output += data

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close_terminal(self) -> None:
        """Close the master side: the terminal is gone (a closed window, a dropped ssh)."""
        self._reading = False
        self._reader.join()
        os.close(self.master)
        self.master = -1

    def state(self) -> str:
        """The process state letter from /proc (R, S, T for stopped, Z...)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_exit(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        if self.master != -1:
            self._reader.join(2)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reading = False
        self._reader.join()
        if self.master != -1:
            os.close(self.master)


