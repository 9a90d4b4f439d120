"""Adding an org while the monitor runs: ``Monitor.add_org``, and the TUI's Add organization
screen (at start with no orgs, and from the command palette), driven with Pilot."""

from __future__ import annotations

import random
import time

import pytest

from cuadra_top.config import ConfigError, OrgConfig, Settings
from cuadra_top.state.monitor import Monitor
from add_org_support import (  # what the unit and the TUI tests of this topic share
    org,
)
from conftest import wait_until


async def test_an_org_added_to_a_running_monitor_is_polled_without_a_restart(sim):
    monitor = Monitor(Settings(org=[org(sim, "alpha")]), environ={}, rng=random.Random(0))
    await monitor.start()
    try:
        assert await monitor.wait_answered()
        monitor.add_org(org(sim, "beta"))
        assert monitor.names == ["alpha", "beta"] and monitor.number_of("beta") == 2
        await wait_until(lambda: monitor.state_of("beta").fetched is not None)
        assert monitor.state_of("beta").fetched.usage.plan.tier == "free"
        assert sim.request_count("beta") >= 1
        assert monitor.thresholds_for("beta") == monitor.settings.thresholds_for("beta")
    finally:
        await monitor.stop()


async def test_an_org_added_before_start_is_polled_with_the_others(sim):
    monitor = Monitor(Settings(), environ={}, rng=random.Random(0))
    monitor.add_org(org(sim, "alpha"))
    await monitor.start()
    try:
        assert await monitor.wait_answered() and monitor.state_of("alpha").fetched is not None
    finally:
        await monitor.stop()


async def test_add_org_refuses_a_name_in_use_and_a_credential_it_cannot_build(sim):
    monitor = Monitor(Settings(org=[org(sim, "alpha")]), environ={}, rng=random.Random(0))
    await monitor.start()
    try:
        with pytest.raises(ValueError, match="already watched"):
            monitor.add_org(org(sim, "alpha"))
        with pytest.raises(ConfigError, match=r"\$UNSET_TOKEN, which is not set"):
            monitor.add_org(OrgConfig(name="gamma", api_url=sim.base_url, token_env="UNSET_TOKEN"))
        assert monitor.names == ["alpha"] and monitor.poller("gamma") is None
    finally:
        await monitor.stop()


def test_the_program_with_no_orgs_in_a_terminal_opens_add_organization(isolated_env, tmp_path):
    """The real program on a terminal with nothing configured: the form, not an exit (without a
    terminal it still exits 2 with its one line, see test_cli)."""
    import os
    import pty
    import select
    import sys

    pid, fd = pty.fork()
    if pid == 0:
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40",
               "XDG_DATA_HOME": str(tmp_path / "data")}
        os.execve(sys.executable, [sys.executable, "-m", "cuadra_top"], env)
    seen = b""
    deadline = time.monotonic() + 30
    try:
        while b"Add organization" not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        assert b"Add organization" in seen
        os.write(fd, b"\x1b")  # Escape: the empty app
        time.sleep(0.5)
        os.write(fd, b"q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    os.read(fd, 65536)
                except OSError:
                    pass
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the app did not quit on q")
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def test_with_no_orgs_and_no_terminal_it_still_exits_with_one_line(isolated_env, capsys):
    from cuadra_top.cli import main

    assert main([]) == 2
    err = capsys.readouterr().err
    assert "no organizations configured. Add one with `cuadra-top auth login`" in err and len(err.splitlines()) == 1

