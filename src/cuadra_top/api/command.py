"""Running a helper command (``token_command``, ``urls_command``) so that it can never hang,
linger or flood us, and saying in one line why one gave nothing usable.

The command runs in a session, hence a process group, of its own. Whatever way the run ends
(the token printed, the timeout, too much output, the awaiting task cancelled because the app
quit), the whole group is then killed with SIGKILL: a shell pipeline, a child that kept stdout
open after the command exited and a command that ignores SIGTERM all go with it. stdin is
``/dev/null`` (a command that reads it gets end-of-file, never the terminal), stdout is read up
to a cap and no further, stderr is drained (so the command never blocks on it) but only its
start is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from cuadra_top.api.http import one_line
from cuadra_top.redaction import redact

STDERR_KEPT = 4096
PIPE_GRACE = 0.2
"""Seconds to let the pipes drain once the command has exited: what it printed is already in
them; a child that still holds them open is not waited for."""


class CommandTimeout(Exception):
    """The command did not exit within its timeout (it has been killed)."""


class OutputTooLarge(Exception):
    """The command printed more than the cap on stdout (it has been killed)."""


class CommandFailed(Exception):
    """A configured command gave no output to use; ``str()`` says why in one line that names
    the command's key and what to do, with known secrets masked."""


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes
    """The first STDERR_KEPT bytes of it."""


class _Collector(asyncio.SubprocessProtocol):
    """Keeps stdout up to ``max_stdout`` bytes and the start of stderr; ``ended`` is set when
    the command exits or overflows stdout, ``pipes_closed`` when both pipes reached their end."""

    def __init__(self, max_stdout: int) -> None:
        self.max_stdout = max_stdout
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.overflowed = False
        self.ended = asyncio.Event()
        self.pipes_closed = asyncio.Event()
        self._open_pipes = {1, 2}
        self._transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            if self.overflowed:
                return
            room = self.max_stdout - len(self.stdout)
            self.stdout += data[:room]
            if len(data) > room:
                self.overflowed = True
                pipe = self._transport.get_pipe_transport(1) if self._transport else None
                if isinstance(pipe, asyncio.ReadTransport):
                    pipe.pause_reading()  # read no further than the cap
                self.ended.set()
        elif fd == 2:
            room = STDERR_KEPT - len(self.stderr)
            if room > 0:
                self.stderr += data[:room]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open_pipes.discard(fd)
        if not self._open_pipes:
            self.pipes_closed.set()

    def process_exited(self) -> None:
        self.ended.set()


async def run_bounded(argv: Sequence[str], *, timeout: float, max_stdout: int) -> Finished:
    """Run ``argv`` and return its exit status and output. Raises OSError/ValueError when it
    cannot start, CommandTimeout or OutputTooLarge; the command's process group is killed on
    every way out, cancellation included."""
    loop = asyncio.get_running_loop()
    transport, collector = await loop.subprocess_exec(
        lambda: _Collector(max_stdout),
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        try:
            async with asyncio.timeout(timeout):
                await collector.ended.wait()
                if not collector.overflowed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(collector.pipes_closed.wait(), PIPE_GRACE)
        except TimeoutError:
            raise CommandTimeout(timeout) from None
        if collector.overflowed:
            raise OutputTooLarge(max_stdout)
        returncode = transport.get_returncode()
        assert returncode is not None  # `ended` without overflow means the command exited
        return Finished(returncode, bytes(collector.stdout), bytes(collector.stderr))
    finally:
        kill_group(transport.get_pid())
        transport.close()  # closes the pipes (and kills the command itself if it still runs)


async def run_configured(command: str, *, what: str, prints: str, timeout: float, max_stdout: int) -> Finished:
    """Run a command line from the config (split like a shell's words) with :func:`run_bounded`.
    ``what`` names it in messages (``"token_command"``), ``prints`` says what it must print
    (``"the token"``). Raises CommandFailed when it cannot be split, is empty, cannot start,
    does not finish in time or prints too much. Its exit status is the caller's to check with
    :func:`exit_problem`, after registering any secret its output holds, so that the stderr
    line shown is masked."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CommandFailed(f"{what} cannot be split into words ({exc}); check its quotes") from None
    if not argv:
        raise CommandFailed(f"{what} is empty; give a command that prints {prints}")
    try:
        return await run_bounded(argv, timeout=timeout, max_stdout=max_stdout)
    except (OSError, ValueError) as exc:
        raise CommandFailed(f"{what} could not start: {one_line(redact(str(exc)))}") from None
    except CommandTimeout:
        raise CommandFailed(f"{what} did not finish within {timeout:g} s") from None
    except OutputTooLarge:
        raise CommandFailed(f"{what} printed more than {max_stdout // 1024} KiB; it must print only {prints}") from None


def exit_problem(done: Finished, what: str) -> str | None:
    """None when the command exited 0; else its status and the first line of its stderr (known
    secrets masked), in one line."""
    if done.returncode == 0:
        return None
    first = done.stderr.decode(errors="replace").strip().splitlines()[:1]
    why = f": {one_line(redact(first[0]), 120)}" if first else ""
    return f"{what} exited with status {done.returncode}{why}"


def kill_group(pid: int) -> None:
    """SIGKILL every process of the group ``pid`` leads; quiet if none is left."""
    if os.name != "posix":
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
