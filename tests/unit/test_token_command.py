"""``token_command`` as a hostile process: every way a command can hang, linger or flood ends
within the timeout, and leaves no process of its group behind (checked by pid)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from cuadra_top.api.auth import MAX_TOKEN_OUTPUT, CommandToken
from cuadra_top.api.errors import AuthError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SLACK = 2.0
"""Seconds a killed command may take beyond its timeout (process start-up, a loaded CI box)."""


def python_command(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def spawner(pid_file: Path, then: str) -> str:
    """A command that starts a ``sleep 30`` child, writes its own pid and the child's to
    ``pid_file``, then runs ``then`` (Python)."""
    code = (
        "import os, subprocess, sys, time, signal\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}\\n')\n"
        + then
    )
    return python_command(code)


def pids_of(pid_file: Path) -> list[int]:
    return [int(p) for p in pid_file.read_text().split()]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_all_gone(pids: list[int], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    survivors = [p for p in pids if alive(p)]
    for pid in survivors:  # do not leave them to the next test
        os.kill(pid, 9)
    assert survivors == [], f"processes of the token_command survived: {survivors}"


async def wait_for_file(path: Path, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not (path.exists() and path.read_text().endswith("\n")):
        assert time.monotonic() < deadline, "the command never started"
        await asyncio.sleep(0.01)


async def test_a_pipeline_is_killed_whole_at_the_timeout(tmp_path):
    """The issue's ``sh -c 'sleep 40 | cat'``: killing only the shell left ``cat`` holding
    stdout open, so the wait went on for the whole sleep, and the sleep lived on."""
    pid_file = tmp_path / "pids"
    command = f"sh -c {shlex.quote(f'echo $$ > {pid_file}; sleep 30 | cat')}"
    started = time.monotonic()
    with pytest.raises(AuthError) as info:
        await CommandToken(command, timeout=0.5).bearer(None)
    elapsed = time.monotonic() - started
    assert "did not finish within 0.5 s" in info.value.message
    assert elapsed < 0.5 + SLACK, f"gave up after {elapsed:.1f} s"
    [shell] = pids_of(pid_file)
    # The group the shell led: the killed ones may take a moment to die.
    deadline = time.monotonic() + 2.0
    while group_members(shell) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert group_members(shell) == [], "processes of the command's group survived"
    assert not alive(shell)


def group_members(pgid: int) -> list[int]:
    """The running processes of process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and alive(int(entry)):
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(int(entry)) == pgid:
                    members.append(int(entry))
    return members


async def test_a_command_ignoring_sigterm_and_its_children_are_killed(tmp_path):
    pid_file = tmp_path / "pids"
    command = spawner(pid_file, "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(30)\n")
    started = time.monotonic()
    with pytest.raises(AuthError, match="did not finish"):
        await CommandToken(command, timeout=1.0).bearer(None)
    assert time.monotonic() - started < 1.0 + SLACK
    assert_all_gone(pids_of(pid_file))


async def test_children_holding_stdout_open_do_not_hold_the_token_back(tmp_path):
    """The command prints the token and exits, but a child it started keeps stdout open: the
    token is used at once, and the child is not left running."""
    pid_file = tmp_path / "pids"
    command = spawner(pid_file, "print('the-token', flush=True)\n")
    started = time.monotonic()
    assert await CommandToken(command, timeout=10).bearer(None) == "the-token"
    assert time.monotonic() - started < SLACK
    assert_all_gone(pids_of(pid_file))


async def test_a_command_reading_stdin_gets_end_of_file_not_the_terminal():
    command = python_command("import sys; data = sys.stdin.read(); print('stdin-was-' + str(len(data)))")
    assert await CommandToken(command, timeout=5).bearer(None) == "stdin-was-0"


async def test_cancelling_the_fetch_kills_the_command(tmp_path):
    """The app quits mid-command: the task awaiting the token is cancelled, and the command's
    whole group goes with it."""
    pid_file = tmp_path / "pids"
    command = spawner(pid_file, "time.sleep(30)\n")
    task = asyncio.create_task(CommandToken(command, timeout=20).bearer(None))
    await wait_for_file(pid_file)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_all_gone(pids_of(pid_file))


async def test_output_is_read_up_to_a_cap_then_the_command_is_killed(tmp_path):
    """A command printing without end (the issue's 300 MB pushed RSS to 1.8 GB): reading stops
    at the cap, the command is killed at once, and the error says why."""
    pid_file = tmp_path / "pids"
    command = spawner(pid_file, "sys.stdout.write('x' * 20_000_000); sys.stdout.flush(); time.sleep(30)\n")
    started = time.monotonic()
    with pytest.raises(AuthError) as info:
        await CommandToken(command, timeout=20).bearer(None)
    assert time.monotonic() - started < SLACK + 1
    assert f"more than {MAX_TOKEN_OUTPUT // 1024} KiB" in info.value.message
    assert "\n" not in info.value.message
    assert_all_gone(pids_of(pid_file))


async def test_a_flood_on_stderr_does_not_block_or_grow(tmp_path):
    """stderr is drained (so the command never blocks on a full pipe) but only its start is kept."""
    command = python_command(
        "import sys; sys.stderr.write('vault locked ' + 'e' * 5_000_000); sys.stderr.flush(); sys.exit(4)")
    with pytest.raises(AuthError) as info:
        await CommandToken(command, timeout=10).bearer(None)
    message = info.value.message
    assert "exited with status 4" in message and "vault locked" in message and len(message) < 300
