"""Notification channels (issue 11, delivery): ``[[notify]]`` config, apprise URLs checked and
masked, delivery to a loopback webhook receiver, a dead webhook that never holds anything up,
a failing channel reported once, ``notify test``, ``--once --notify``.

The terminal (OSC sequences, the bell) is in ``test_notify_terminal.py``; ``watch`` in
``test_watch.py``.

The TUI half (the rest is in tests/unit/test_notify.py)."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from cuadra_top.config import load_config
from notify_support import (  # what the unit and the TUI tests of this topic share
    settings_with,
    write_config,
)

pytestmark = pytest.mark.usefixtures("no_known_secrets", "debug_log_restored")


async def test_a_failing_channel_in_the_tui_is_one_toast_without_its_url(tmp_path, start_sim, make_org, receiver,
                                                                          monkeypatch):
    """The toast, the screen and a saved screenshot name the channel, never its URL."""
    from cuadra_top.notify import delivery, service
    from cuadra_top.tui.factory import TuiOptions, make_app

    monkeypatch.setattr(delivery, "BACKOFF", 0.01)
    monkeypatch.setattr(service, "STOP_GRACE", 0.1)
    receiver.behaviour["pathsecret4242"] = 500
    sim = start_sim([make_org("alpha", credits_used_at_start=9_800, storage_used_at_start=9 * 1024**3,
                              burn_per_hour=0.0)])
    url = f"{receiver.url('pathsecret4242')}?-X-Token=headersecret77"
    settings = settings_with(tmp_path, f'[[notify]]\nname = "ops"\nurls = ["{url}"]').model_copy(
        update={"org": load_config(str(write_config(
            tmp_path, "", orgs=f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')),
            {}).settings.org})
    app = make_app(TuiOptions(settings, environ={}, interval=1.0))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        deadline = time.monotonic() + 20
        while not any("failing" in n for n in app.notices) and time.monotonic() < deadline:
            await pilot.pause(0.1)
        await pilot.pause(1.0)  # the toast is drawn
        failing = [n for n in app.notices if "failing" in n]
        assert len(failing) == 1, list(app.notices)  # two alerts (credits, storage): one toast
        assert failing[0].startswith("notify: [[notify]] #1 ('ops') urls[1] (json://********) failing:")
        svg = app.export_screenshot()
        screen = re.sub(r"<[^>]+>", "", svg).replace("&#160;", " ")
        assert "failing" in screen
        for text in (screen, svg, "\n".join(app.notices)):
            assert "pathsecret4242" not in text and "headersecret77" not in text and f":{receiver.port}" not in text
        await pilot.press("q")


async def test_the_tui_turns_off_a_channel_that_cannot_work_and_keeps_the_others(tmp_path, start_sim, make_org,
                                                                                receiver, monkeypatch):
    from cuadra_top.notify import service
    from cuadra_top.tui.factory import TuiOptions, make_app

    monkeypatch.setattr(service, "STOP_GRACE", 0.1)
    sim = start_sim([make_org("alpha", credits_used_at_start=8_500, burn_per_hour=0.0)])
    path = write_config(tmp_path, f"""
[[notify]]
urls = ["json://hooks.example.com/secretpath99"]

[[notify]]
urls = ["{receiver.url("hook")}"]
""", orgs=f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    app = make_app(TuiOptions(load_config(str(path), {}).settings, environ={}, config_path=path))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        got = await asyncio.to_thread(receiver.wait_for, 1, 15)  # the first sighting, to the good channel
        assert got[0].json()["message"].startswith("alpha: credits at 85.0% (warn at 80%)")
        off = [n for n in app.notices if "that channel is off" in n]
        assert len(off) == 1 and "[[notify]] #1 urls[1] (json://********)" in off[0] and "use jsons://" in off[0]
        assert "secretpath99" not in "\n".join(app.notices)
        await pilot.press("q")

