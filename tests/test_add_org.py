"""Adding an org while the monitor runs: ``Monitor.add_org``, and the TUI's Add organization
screen (at start with no orgs, and from the command palette), driven with Pilot."""

from __future__ import annotations

import asyncio
import random
import time
import tomllib
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Select

from cuadra_top.config import ConfigError, OrgConfig, Settings
from cuadra_top.state.monitor import Monitor
from cuadra_top.tui.add_org import AddOrgScreen
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.overview import OverviewTable


def org(sim, name: str, **kw) -> OrgConfig:
    return OrgConfig(name=name, api_url=sim.base_url, token=f"{name}-token", **kw)


async def until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


# -- Monitor.add_org ---------------------------------------------------------------------------


async def test_an_org_added_to_a_running_monitor_is_polled_without_a_restart(sim):
    monitor = Monitor(Settings(org=[org(sim, "alpha")]), environ={}, rng=random.Random(0))
    await monitor.start()
    try:
        assert await monitor.wait_answered()
        monitor.add_org(org(sim, "beta"))
        assert monitor.names == ["alpha", "beta"] and monitor.number_of("beta") == 2
        await until(lambda: monitor.state_of("beta").fetched is not None)
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


# -- the screen --------------------------------------------------------------------------------


def app_with(sim, orgs: list[OrgConfig], config: Path | None, **options):
    base = {"environ": {}, "rng": random.Random(0), "persist_theme": False, "config_target": config}
    app = make_app(TuiOptions(Settings(org=orgs), **{**base, **options}))
    app.animation_level = "none"
    return app


def fill(screen: AddOrgScreen, **values: str) -> None:
    for key, value in values.items():
        widget = screen.query_one(f"#addorg-{key}")
        widget.value = value


@pytest.fixture
def config(isolated_env, tmp_path) -> Path:
    return tmp_path / "config.toml"


async def test_with_no_orgs_the_app_opens_add_organization_and_polls_the_new_org(sim, config, memory_keyring):
    app = app_with(sim, [], config)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AddOrgScreen) and "No organization is configured yet" in str(
            screen.query_one("Static").render())
        await pilot.press(*"alpha")  # the name field has the focus
        fill(screen, url=sim.base_url, kind="token", secret="alpha-token")
        await pilot.pause()
        assert screen.query_one("#addorg-client").has_class("-hidden")  # a token needs no client ID
        screen.query_one("#addorg-add", Button).press()
        await until(lambda: not isinstance(app.screen, AddOrgScreen))
        assert app.monitor.names == ["alpha"]
        await until(lambda: app.monitor.state_of("alpha").fetched is not None)
        await pilot.pause(0.2)
        assert app.main_screen.current == "alpha" and "alpha" in app.main_screen.header_line
        assert any("added alpha: Pro" in notice for notice in app.notices)
        titles = [command.title for command in app.get_system_commands(app.main_screen)]
        assert "Org: alpha" in titles and "Add organization" in titles
    saved = tomllib.loads(config.read_text())["org"]
    assert saved == [{"name": "alpha", "api_url": sim.base_url, "token_keyring": True}]
    assert memory_keyring.entries == {("cuadra-top", f"alpha@{sim.base_url}"): "alpha-token"}
    assert "alpha-token" not in config.read_text()


async def test_a_failed_check_keeps_the_form_and_saves_nothing(sim, config, memory_keyring):
    app = app_with(sim, [], config)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        fill(screen, name="robot", url=sim.base_url, kind="client", client="m2m-client",
             **{"token-url": sim.auth_url}, secret="wrong-secret-1234")
        screen.query_one("#addorg-add", Button).press()
        message = screen.query_one("#addorg-message")
        await until(lambda: "refused" in str(message.render()))
        assert "401: Invalid client credentials." in str(message.render()) and message.has_class("-error")
        assert isinstance(app.screen, AddOrgScreen) and screen.query_one("#addorg-name", Input).value == "robot"
        assert "wrong-secret-1234" not in str(message.render())
        assert app.monitor.names == []
        fill(screen, secret="m2m-secret-do-not-leak")  # fixed in place: added
        screen.query_one("#addorg-add", Button).press()
        await until(lambda: app.monitor.names == ["robot"])
    assert tomllib.loads(config.read_text())["org"][0]["client_secret_keyring"] is True


async def test_without_a_keyring_the_form_says_so_and_offers_the_other_ways(sim, config, no_keyring):
    app = app_with(sim, [], config)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await until(lambda: screen.keyring_problem is not None)
        await pilot.pause()
        assert "cannot go into the OS keyring" in str(screen.query_one("#addorg-message").render())
        storage = screen.query_one("#addorg-storage", Select)
        assert storage.value == "env"
        fill(screen, name="alpha", url=sim.base_url, kind="token")
        storage.value = "config"
        await pilot.pause()
        fill(screen, secret="alpha-token")
        screen.query_one("#addorg-add", Button).press()
        await until(lambda: app.monitor.names == ["alpha"])
    assert tomllib.loads(config.read_text())["org"][0]["token"] == "alpha-token"
    assert config.stat().st_mode & 0o777 == 0o600


async def test_add_organization_from_the_palette_joins_the_overview_and_the_keys(sim, config, memory_keyring):
    config.write_text(f'# mine\n[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    config.chmod(0o600)
    app = app_with(sim, [org(sim, "alpha")], config)
    async with app.run_test(size=(100, 40)) as pilot:
        await until(lambda: app.monitor.answered())
        await app.main_screen.action_overview()
        await pilot.pause()
        commands = {command.title: command for command in app.get_system_commands(app.main_screen)}
        commands["Add organization"].callback()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AddOrgScreen)
        fill(screen, name="beta", url=sim.base_url, kind="token", secret="beta-token")
        await pilot.press("enter")  # from the last field: submits
        await until(lambda: app.monitor.names == ["alpha", "beta"])
        await until(lambda: app.monitor.state_of("beta").fetched is not None)
        await pilot.pause(0.3)
        table = app.query_one(OverviewTable)
        assert [str(row.key.value) for row in table.ordered_rows] == ["alpha", "beta"]
        await pilot.press("2")
        await pilot.pause()
        assert app.main_screen.current == "beta" and "[2/2]" in app.main_screen.header_line
    assert config.read_text().startswith("# mine\n")


async def test_the_demo_offers_no_add_organization(frozen_sim):
    from cuadra_top.tui.screenshots import frozen_app

    app = frozen_app(frozen_sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Add organization" not in [c.title for c in app.get_system_commands(app.main_screen)]
        assert not isinstance(app.screen, AddOrgScreen)


async def test_escape_leaves_an_empty_app_that_says_how_to_add_one(sim, config):
    app = app_with(sim, [], config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, AddOrgScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, AddOrgScreen)
        assert "no organizations configured" in app.main_screen.header_line
        assert not config.exists()


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
