"""Control characters in what the config and the environment hold, on the TUI: the header,
overview, palette, notifications and status line show none of them raw.

The other surfaces (``--once``, ``--check``, ``config``, stderr): tests/unit/test_control_chars.py."""

from __future__ import annotations

import random

from cuadra_top.config import OrgConfig, Settings
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.screenshots import FROZEN_AT
from control_chars_support import (  # what the unit and the TUI tests of this topic share
    HOSTILE,
    WRONG,
    assert_clean,
    hostile_config,
)


def screen_text(app) -> str:
    return "\n".join("".join(s.text for s in line) for line in app.screen._compositor.render_strips())  # noqa: SLF001


async def test_tui_surfaces(hostile_config, isolated_env):
    _, sim = hostile_config
    names = [*HOSTILE, WRONG]
    orgs = [OrgConfig(name=name, api_url=sim.base_url, token=f"org{i}-token") for i, name in enumerate(HOSTILE)]
    orgs.append(OrgConfig(name=WRONG, api_url=sim.base_url, token="not-a-token"))
    app = make_app(TuiOptions(Settings(org=orgs), environ={}, now=lambda: FROZEN_AT, rng=random.Random(0),
                              persist_theme=False))
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        await app.monitor.wait_answered()
        await pilot.pause(0.3)
        assert_clean(screen_text(app), "overview")
        assert "evil\ufffd]0;PWNED\ufffd" in screen_text(app)
        for number, name in enumerate(names, 1):
            app.main_screen.open_org(name)
            await pilot.pause(0.1)
            assert_clean(app.main_screen.header_line, f"header of org {number}")
            assert_clean(app.main_screen.status_line, f"status line of org {number}")
            assert_clean(screen_text(app), f"screen of org {number}")
            await pilot.press("r")  # "refreshing <name>"
        await pilot.pause(0.2)
        assert "No data yet for wrong\ufffd[31mtoken: credential rejected" in screen_text(app)
        await pilot.press("ctrl+p", *"evil")
        await pilot.pause(0.3)
        assert "Org: evil" in screen_text(app)
        assert_clean(screen_text(app), "palette")
        await pilot.press("escape")
        assert_clean("\n".join(app.notices), "notifications")
        assert any("refreshing two\ufffdlines" in notice for notice in app.notices)
        assert_clean(app.export_screenshot().replace("\n", " "), "screenshot")

