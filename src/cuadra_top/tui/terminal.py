"""The TUI's hold on its terminal: however the app ends, it lets go of the terminal cleanly.

Textual restores the terminal (main screen, mouse off, cursor shown) when the app exits through
its normal path, and only then. :class:`TerminalDriver`, Textual's own Linux driver plus three
things, brings every other ending onto that path:

- SIGTERM, SIGHUP and SIGINT make the app exit with 128 + the signal's number, so the monitor
  stops, the history is written and closed, and the driver restores the terminal. A second one
  of the same signal ends the process at once (the default action), should the exit hang. A
  signal ignored when the program started (``nohup``, ``trap '' HUP``) stays ignored.
- A terminal that goes away (hung up, its pty closed) is noticed at once by a thread asleep in
  ``poll`` on it, and the app exits as on SIGHUP. Left alone, Textual's input thread reads EOF
  from the hung-up tty without end (a busy loop) and the app polls on for nobody.
- A terminal whose encoding is not a UTF gets ASCII stand-ins, cell for cell (:mod:`glyphs`).
- Writes to a terminal that has gone are dropped: Textual's output thread dies at the first
  EIO, and the app would block for good once 30 more writes had queued up behind it.

Ctrl+Z (the app's binding to Textual's ``action_suspend_process``) and ``fg`` are Textual's:
the driver leaves and re-enters application mode on SIGTSTP and SIGCONT.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import threading
from collections.abc import Callable
from typing import Any, TextIO

from textual.drivers.linux_driver import LinuxDriver

from cuadra_top import glyphs
from cuadra_top.exit_codes import SIGNALLED

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
TERMINAL_GONE = SIGNALLED + signal.SIGHUP
"""The exit code when the terminal went away: what a hangup signal would have made it."""


class TerminalOutput:
    """The terminal as Textual's output thread writes to it: what its encoding lacks as ASCII,
    cell for cell (``PYTHONIOENCODING=ascii``: Python would write '\\xb7' for '·' and shift the
    line); after the first I/O error (the terminal has gone) every write is dropped, and
    ``on_error`` is told once."""

    def __init__(self, file: TextIO, on_error: Callable[[], None]) -> None:
        self._file = file
        self._on_error = on_error
        self._encoding = getattr(file, "encoding", None)
        self.gone = False

    def _failed(self) -> None:
        if not self.gone:
            self.gone = True
            self._on_error()

    def write(self, text: str) -> None:
        if self.gone:
            return
        text = glyphs.fit_cells(text, self._encoding)
        try:
            self._file.write(text)
        except (OSError, ValueError):
            self._failed()

    def flush(self) -> None:
        if self.gone:
            return
        try:
            self._file.flush()
        except (OSError, ValueError):
            self._failed()

    def fileno(self) -> int:
        return self._file.fileno()


class HangupWatch(threading.Thread):
    """Sleeps in ``poll`` on the terminal's descriptors until one hangs up (or errs), then calls
    ``on_hangup`` once. It asks for no event, so input never wakes it: a hang-up, an error and
    a closed descriptor are reported whatever was asked for. ``stop`` wakes it through a pipe."""

    def __init__(self, fds: list[int], on_hangup: Callable[[], None]) -> None:
        super().__init__(name="terminal-hangup", daemon=True)
        self._fds = fds
        self._on_hangup = on_hangup
        self._wake_read, self._wake_write = os.pipe()

    def run(self) -> None:
        poller = select.poll()
        for fd in self._fds:
            poller.register(fd, 0)
        poller.register(self._wake_read, select.POLLIN)
        try:
            events = poller.poll()
        finally:
            os.close(self._wake_read)
        if any(fd != self._wake_read for fd, _ in events):
            self._on_hangup()

    def stop(self) -> None:
        try:
            os.write(self._wake_write, b"x")
        except OSError:
            pass  # it has already seen a hang-up and ended
        finally:
            os.close(self._wake_write)
        self.join()


class TerminalDriver(LinuxDriver):
    """Textual's Linux driver, ending the app on a termination signal or a vanished terminal."""

    def __init__(self, app: Any, **kw: Any) -> None:
        super().__init__(app, **kw)
        self._loop = asyncio.get_running_loop()  # the driver is built inside the app's loop
        self._output = TerminalOutput(self._file, self._lost)
        self._file = self._output
        self._watch: HangupWatch | None = None
        self._suspending = False
        self._handled: list[int] = []
        for signum in EXIT_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's choice stands
                self._loop.add_signal_handler(signum, self._exit_on, signum)
                self._handled.append(signum)

    @property
    def terminal_gone(self) -> bool:
        return self._output.gone

    def _exit_on(self, signum: int) -> None:
        """The first signal: the app's normal exit. A second: the default action, at once."""
        self._loop.remove_signal_handler(signum)
        self._handled.remove(signum)
        self._app.exit(return_code=SIGNALLED + signum)

    def _lost(self) -> None:
        """From any thread: the terminal hung up or refused a write; the app exits."""
        self._output.gone = True
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._app.exit, None, TERMINAL_GONE)

    def start_application_mode(self) -> None:
        super().start_application_mode()
        if self._watch is None and not self._output.gone:
            fds = {self.fileno, self._output.fileno()}
            self._watch = HangupWatch(sorted(fds), self._lost)
            self._watch.start()

    def stop_application_mode(self) -> None:
        """Also on Ctrl+Z: a terminal that goes away while the app is stopped is seen on ``fg``."""
        super().stop_application_mode()
        if self._watch is not None:
            self._watch.stop()
            self._watch = None

    def suspend_application_mode(self) -> None:
        self._suspending = True
        try:
            super().suspend_application_mode()
        finally:
            self._suspending = False

    def close(self) -> None:
        super().close()
        if not self._suspending:  # the end: from now on the signals take their default action
            for signum in self._handled:
                self._loop.remove_signal_handler(signum)
            self._handled.clear()
