"""No secret ever shows, on the TUI: every screen and tab, notifications, a saved SVG
screenshot, the ``--log`` debug log of a TUI run, and an internal error of the app.

Which secrets, through which doors, and the other surfaces: tests/unit/test_secrets.py."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from cuadra_top.config import load_config
from cuadra_top.debuglog import setup_debug_log
from cuadra_top.simulator import Fault
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.factory import TuiOptions
from cuadra_top.tui.factory import make_app as build_app
from cuadra_top.tui.help import HelpScreen
from conftest import run_cli, wait_until
from secrets_support import (  # what the unit and the TUI tests of this topic share
    KNOWN,
    ORG_NAMES,
    World,
    assert_clean,
    explode,
    world,
)

pytestmark = pytest.mark.usefixtures("no_known_secrets", "debug_log_restored")


def test_an_internal_error_in_the_tui_shows_no_traceback_and_no_secret(world, capsys, tmp_path, monkeypatch):
    import cuadra_top.tui.app as app_module

    async def give_up(pilot) -> None:  # had it not crashed, the test must fail, not hang
        for _ in range(150):
            if pilot.app.crashed is not None:  # it crashed: let it end
                return
            await asyncio.sleep(0.1)
        pilot.app.exit()

    run = app_module.CuadraTopApp.run
    monkeypatch.setattr(app_module.CuadraTopApp, "run",
                        lambda self, **kw: run(self, headless=True, size=(80, 24), auto_pilot=give_up))
    on_mount = app_module.CuadraTopApp.on_mount

    def crashing_mount(self) -> None:
        on_mount(self)
        explode()

    monkeypatch.setattr(app_module.CuadraTopApp, "on_mount", crashing_mount)
    log = tmp_path / "debug.log"
    code, out, err = run_cli(capsys, "--config", str(world.config), "--log", str(log), "--no-history")
    assert code == 1, (out, err)
    assert_clean(out + err, world.secrets(), "TUI crash")
    assert "internal error" in err and "RuntimeError" in err
    text = log.read_text()
    assert "internal error" in text and "internal failure while holding ********" in text
    assert_clean(text.replace("Traceback", "traceback"), world.secrets(), "log of a TUI crash")


def screen_text(app: CuadraTopApp) -> str:
    return "\n".join("".join(s.text for s in line) for line in app.screen._compositor.render_strips())  # noqa: SLF001


def make_app(world: World, **kw) -> CuadraTopApp:
    loaded = load_config(str(world.config))
    app = build_app(TuiOptions(loaded.settings, environ=dict(os.environ), persist_theme=False, **kw))
    app.animation_level = "none"  # Pilot's pauses wait for an idle CPU; tab animations only slow them
    return app


def all_answered(app: CuadraTopApp) -> bool:
    states = app.monitor.states()
    return len(states) == len(app.monitor.names) and all((s.fetched or s.error) and not s.in_flight for s in states)


class Surfaces:
    """Collects the screen text and an SVG screenshot of every screen visited."""

    def __init__(self, app: CuadraTopApp) -> None:
        self.app = app
        self.seen: dict[str, str] = {}

    def grab(self, label: str) -> None:
        self.seen[f"{label} (screen)"] = screen_text(self.app)
        self.seen[f"{label} (svg)"] = self.app.export_screenshot(title=label)


async def visit_everything(app: CuadraTopApp, pilot, surfaces: Surfaces, prefix: str,
                           tabs: tuple[str, ...] = ("admin", "raw"), screens: bool = True) -> None:
    """Every org's every tab (through the actions the keys 1-9, a, v, u call: pressing each key
    costs a tenth of a second under Pilot), the help screen and the command palette."""
    await pilot.pause()
    surfaces.grab(f"{prefix} overview")
    for number, name in enumerate(app.monitor.names, 1):
        app.main_screen.action_jump(number)
        await pilot.pause()
        assert app.main_screen.current == name
        surfaces.grab(f"{prefix} {name} usage")
        for tab in tabs:
            app.main_screen.action_tab(tab)
            await pilot.pause()
            surfaces.grab(f"{prefix} {name} {tab}")
        app.main_screen.action_tab("usage")
    if not screens:
        return
    await pilot.press("question_mark")
    await pilot.pause()
    assert isinstance(app.screen, HelpScreen)
    surfaces.grab(f"{prefix} help")
    await pilot.press("escape", "ctrl+p")
    await pilot.pause(0.1)
    surfaces.grab(f"{prefix} command palette")
    await pilot.press(*"org")
    await pilot.pause(0.2)
    surfaces.grab(f"{prefix} command palette, typed")
    assert "Org: literal" in surfaces.seen[f"{prefix} command palette, typed (screen)"]
    await pilot.press("escape")
    await pilot.pause()


async def test_tui_every_screen_and_the_debug_log(world, tmp_path):
    log = tmp_path / "tui.log"
    setup_debug_log(log)
    app = make_app(world)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        surfaces = Surfaces(app)
        await wait_until(lambda: all_answered(app))
        assert app.monitor.state_of("literal").fetched is not None and app.monitor.state_of("oauth").fetched is not None
        assert app.monitor.state_of("bad").error.kind == "auth"
        await visit_everything(app, pilot, surfaces, "healthy")
        assert "seats" in surfaces.seen["healthy oauth admin (screen)"]  # the admin tab really was shown

        # Every org fails at once; refresh all from the overview, and look again.
        for name in ORG_NAMES[:-1]:
            world.sim.set_fault(name, Fault(status=401))
        world.sim.revoke_tokens("oauth")
        await pilot.press("o")
        requests = {s.name: s.requests for s in app.monitor.states()}
        await pilot.press("r", "p", "p", "plus", "minus")  # notifications on screen too
        await wait_until(lambda: all(s.requests > requests[s.name] for s in app.monitor.states()))
        await wait_until(lambda: all_answered(app))
        assert all(s.error is not None for s in app.monitor.states())
        # The other tabs and screens show the same data as before; the usage tab has the errors.
        await visit_everything(app, pilot, surfaces, "failing", tabs=(), screens=False)
        assert "credential rejected (401" in surfaces.seen["failing literal usage (screen)"]

    known = world.secrets()
    assert len(known) > len(KNOWN)  # the issued access tokens are among them
    for label, text in surfaces.seen.items():
        assert_clean(text, known, label)
    text = log.read_text()
    assert re.search(r"GET http://127\.0\.0\.1:\d+/v1/usage -> 200", text)
    assert re.search(r"POST http://127\.0\.0\.1:\d+/v1/oauth2/token -> 200", text)
    assert "polling stopped until a manual refresh" in text
    assert_clean(text, known, "TUI debug log")


async def test_tui_saved_screenshot_file(world, tmp_path):
    app = make_app(world, start_org="oauth")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(lambda: all_answered(app))
        await pilot.press("a")
        await pilot.pause()
        path = app.save_screenshot(filename="shot.svg", path=str(tmp_path))
    text = Path(path).read_text()
    assert "oauth" in text
    assert_clean(text, world.secrets(), "saved screenshot")

