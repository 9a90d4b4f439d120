"""Issue 13's instant first screen: each org that has history shows its last stored answer at
once, marked plainly as cached with its age, until the first live answer replaces it; it is
never shown as live and never counts as fresh for alerts or ``--check``."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta, timezone

from conftest import FakeClock, wait_until

from cuadra_top.api.models import parse_usage
from cuadra_top.cli import main
from cuadra_top.config import OrgConfig, Settings
from cuadra_top.simulator import Fault
from cuadra_top.state.history import History, default_history_path
from cuadra_top.state.monitor import AlertNotice
from cuadra_top.state.trends import Trends
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.overview import OverviewTable


def screen_text(app) -> str:
    return "\n".join("".join(s.text for s in line) for line in app.screen._compositor.render_strips())  # noqa: SLF001


def remember(sim, name: str, used: int, at: datetime) -> None:
    """What an earlier run stored: ``name``'s answer, ``used`` credits, at ``at``."""
    from cuadra_top.api.auth import StaticToken
    from cuadra_top.state.identity import series_key
    from pydantic import SecretStr

    body = sim.usage_for(name)
    body["credits"]["used"], body["credits"]["available"] = used, body["credits"]["limit"] - used
    with History(default_history_path()) as history:
        history.record(series_key(sim.base_url, StaticToken(SecretStr(f"{name}-token")), name), at,
                       parse_usage(body), name=name)


async def test_the_last_stored_answer_shows_at_once_marked_cached_then_the_live_one_replaces_it(
        start_sim, make_org, isolated_env):
    sim = start_sim([make_org("acme", credits_used_at_start=1_000), make_org("globex")],
                    clock=FakeClock(time.time()))
    now = datetime.now(timezone.utc)
    remember(sim, "acme", 9_700, now - timedelta(hours=3))  # 97%: critical, in the cached answer only
    sim.set_fault("acme", Fault(hang=True))  # no live answer yet
    settings = Settings(refresh_interval=30, org=[
        OrgConfig(name=n, api_url=sim.base_url, token=f"{n}-token") for n in ("acme", "globex")])
    events: list[AlertNotice] = []
    app = make_app(TuiOptions(settings, environ={}, rng=random.Random(0), persist_theme=False,
                              trends=Trends(None, lambda: datetime.now(timezone.utc),
                                            open_later=default_history_path())))
    app.monitor.subscribe(lambda event: events.append(event) if isinstance(event, AlertNotice) else None)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(OverviewTable)
        await wait_until(lambda: table.row_count == 2 and "cached" in str(table.get_row("acme")[-1]))
        assert str(table.get_cell("acme", "credits")).strip() == "97.0% CRIT"
        assert str(table.get_cell("acme", "status")) == "cached 3h"
        assert app.monitor.state_of("acme").fetched is None  # shown, not fresh
        await pilot.press("1")
        await pilot.pause()
        header = app.main_screen.header_line
        assert "from history · 3 h ago" in header and "loading" in header, header
        assert "used 9,700" in screen_text(app)
        await asyncio.sleep(0.5)
        assert [e for e in events if e.notice.org == "acme"] == []  # a cached figure raises no alert

        sim.set_fault("acme", None)
        app.monitor.refresh(["acme"])  # the hanging request ends at its deadline; this one answers
        await wait_until(lambda: app.monitor.state_of("acme").fetched is not None, timeout=40)
        await pilot.pause(0.2)
        header = app.main_screen.header_line
        assert "from history" not in header and "0 s ago" in header, header
        assert "used 1,000" in screen_text(app)


def test_check_never_counts_a_stored_answer_as_fresh(start_sim, make_org, isolated_env, tmp_path, capsys):
    sim = start_sim([make_org("acme")], clock=FakeClock(time.time()))
    remember(sim, "acme", 1_000, datetime.now(timezone.utc) - timedelta(minutes=1))
    sim.set_fault("acme", Fault(status=503))
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "acme"\napi_url = "{sim.base_url}"\ntoken = "acme-token"\n')
    config.chmod(0o600)
    assert main(["--check", "--config", str(config)]) == 3
    assert capsys.readouterr().out.startswith("CUADRA UNKNOWN - acme: server error 503")
