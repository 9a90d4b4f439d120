"""An API that echoes the caller's token (issue 10, defect 19): in ``plan.name``, ``plan.tier``
and unknown fields, for a static token and for an OAuth access token. No screen shows it: not
the header, the panes, the Raw tab (its JSON and its unknown-fields line), the overview, a
notification, a status line, nor an exported screenshot."""

from __future__ import annotations

import random

from pydantic import SecretStr

from cuadra_top.config import OrgConfig, Settings
from cuadra_top.redaction import MASK
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.screenshots import FROZEN_AT

STATIC_TOKEN = "sk-live-static-7f3a9c2e1b"
CLIENT_SECRET = "oauth-secret-do-not-show"


def screen_text(app) -> str:
    return "\n".join("".join(s.text for s in line) for line in app.screen._compositor.render_strips())  # noqa: SLF001


async def test_a_token_echoed_by_the_api_never_reaches_the_screen(start_sim, make_org, isolated_env):
    sim = start_sim([
        make_org("static", token=STATIC_TOKEN, echo_token=True, admin=True, seats=4, credits_per_seat=2_500,
                 purchased_balance=500, credits_used_at_start=9_000),
        make_org("oauth", client_id="oauth-client", client_secret=CLIENT_SECRET, echo_token=True),
    ])
    settings = Settings(org=[
        OrgConfig(name="static", api_url=sim.base_url, token=SecretStr(STATIC_TOKEN)),
        OrgConfig(name="oauth", api_url=sim.base_url, client_id="oauth-client",
                  client_secret=SecretStr(CLIENT_SECRET), token_url=sim.auth_url),
    ])
    app = make_app(TuiOptions(settings, environ={}, now=lambda: FROZEN_AT, rng=random.Random(0), persist_theme=False))
    app.animation_level = "none"
    seen: dict[str, str] = {}
    async with app.run_test(size=(120, 50)) as pilot:
        await app.monitor.wait_answered()
        await pilot.pause(0.3)
        seen["overview"] = screen_text(app)
        seen["overview svg"] = app.export_screenshot()
        for number, name in ((1, "static"), (2, "oauth")):
            await pilot.press(str(number))
            await pilot.pause(0.2)
            screen = app.main_screen
            seen[f"{name} usage"] = screen_text(app)
            seen[f"{name} header"] = screen.header_line
            seen[f"{name} status"] = screen.status_line
            seen[f"{name} usage svg"] = app.export_screenshot()
            if name == "static":
                await pilot.press("a")
                await pilot.pause(0.2)
                seen[f"{name} admin"] = screen_text(app)
            await pilot.press("v")
            await pilot.pause(0.2)
            seen[f"{name} raw"] = screen_text(app)
            seen[f"{name} raw json"] = str(app.query_one("#raw-json").content)
            seen[f"{name} raw unknown"] = str(app.query_one("#raw-unknown").content)
            seen[f"{name} raw svg"] = app.export_screenshot()
            await pilot.press("r")  # a notification naming the org
            await pilot.pause(0.2)
        app.notify(f"the API said: denied {STATIC_TOKEN}")  # any toast, whatever it quotes
        await pilot.pause(0.1)
        seen["toast"] = screen_text(app)
        await pilot.press("ctrl+p")
        await pilot.press(*"org")
        await pilot.pause(0.3)
        seen["palette"] = screen_text(app)
        seen["notifications"] = "\n".join(app.notices)
        access_tokens = sim.issued_tokens("oauth")
        assert access_tokens, "the OAuth org was never issued a token"

    secrets = [STATIC_TOKEN, CLIENT_SECRET, *access_tokens]
    for where, text in seen.items():
        for secret in secrets:
            assert secret not in text, f"{where} shows a secret ({secret[:6]}...)"
    # Not vacuous: the fields that carried a token are on screen, masked.
    assert f"Pro for {MASK} ({MASK})" in seen["static header"], seen["static header"]
    assert f"Pro for {MASK}" in seen["oauth header"]
    assert f'"token": "{MASK}"' in seen["static raw json"] and f'"tier": "{MASK}"' in seen["oauth raw json"]
    assert f"tier {MASK}" in seen["static usage"]
    assert "debug" in seen["static raw unknown"] and "plan.issuedTo" in seen["static raw unknown"]
    assert f"the API said: denied {MASK}" in seen["notifications"]
