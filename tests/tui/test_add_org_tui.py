"""Adding an org while the monitor runs: ``Monitor.add_org``, and the TUI's Add organization
screen (at start with no orgs, and from the command palette), driven with Pilot.

The TUI half (the rest is in tests/unit/test_add_org.py)."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Select

from cuadra_top.config import OrgConfig, Settings
from cuadra_top.tui.add_org import AddOrgScreen
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.overview import OverviewTable
from add_org_support import (  # what the unit and the TUI tests of this topic share
    org,
)
from conftest import wait_until


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
        await wait_until(lambda: not isinstance(app.screen, AddOrgScreen))
        assert app.monitor.names == ["alpha"]
        await wait_until(lambda: app.monitor.state_of("alpha").fetched is not None)
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
        await wait_until(lambda: "refused" in str(message.render()))
        assert "401: Invalid client credentials." in str(message.render()) and message.has_class("-error")
        assert isinstance(app.screen, AddOrgScreen) and screen.query_one("#addorg-name", Input).value == "robot"
        assert "wrong-secret-1234" not in str(message.render())
        assert app.monitor.names == []
        fill(screen, secret="m2m-secret-do-not-leak")  # fixed in place: added
        screen.query_one("#addorg-add", Button).press()
        await wait_until(lambda: app.monitor.names == ["robot"])
    assert tomllib.loads(config.read_text())["org"][0]["client_secret_keyring"] is True


async def test_without_a_keyring_the_form_says_so_and_offers_the_other_ways(sim, config, no_keyring):
    app = app_with(sim, [], config)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await wait_until(lambda: screen.keyring_problem is not None)
        await pilot.pause()
        assert "cannot go into the OS keyring" in str(screen.query_one("#addorg-message").render())
        storage = screen.query_one("#addorg-storage", Select)
        assert storage.value == "env"
        fill(screen, name="alpha", url=sim.base_url, kind="token")
        storage.value = "config"
        await pilot.pause()
        fill(screen, secret="alpha-token")
        screen.query_one("#addorg-add", Button).press()
        await wait_until(lambda: app.monitor.names == ["alpha"])
    assert tomllib.loads(config.read_text())["org"][0]["token"] == "alpha-token"
    assert config.stat().st_mode & 0o777 == 0o600


async def test_add_organization_from_the_palette_joins_the_overview_and_the_keys(sim, config, memory_keyring):
    config.write_text(f'# mine\n[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    config.chmod(0o600)
    app = app_with(sim, [org(sim, "alpha")], config)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_until(lambda: app.monitor.answered())
        await app.main_screen.action_overview()
        await pilot.pause()
        commands = {command.title: command for command in app.get_system_commands(app.main_screen)}
        commands["Add organization"].callback()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AddOrgScreen)
        fill(screen, name="beta", url=sim.base_url, kind="token", secret="beta-token")
        await pilot.press("enter")  # from the last field: submits
        await wait_until(lambda: app.monitor.names == ["alpha", "beta"])
        await wait_until(lambda: app.monitor.state_of("beta").fetched is not None)
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

