"""Issue 11's promise, end to end: a user with a webhook in the config gets ONE message when an
org is projected to hit 402 within a day, whether the TUI is open, closed with cron running, or
replaced by ``watch`` (and restarted). Every process shares the history file, and with it the
alert state; apprise delivers to a loopback receiver (``json://127.0.0.1``)."""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic import SecretStr

from conftest import FakeClock, WebhookReceiver, wait_until

from cuadra_top.api.auth import StaticToken
from cuadra_top.api.models import parse_usage
from cuadra_top.cli import main
from cuadra_top.config import load_config
from cuadra_top.state.history import History, default_history_path
from cuadra_top.state.identity import series_key
from cuadra_top.state.trends import Trends
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.watch import run_watch

HOUR = 3600


def notices(receiver: WebhookReceiver) -> list[dict]:
    return [json.loads(r.body) for r in receiver.received if r.method == "POST"]


def about_402(receiver: WebhookReceiver, kind: str = "CRITICAL") -> list[dict]:
    return [n for n in notices(receiver) if kind in n.get("title", "") and "402 errors" in n.get("message", "")]


def write_config(path: Path, sim, receiver: WebhookReceiver, horizon: float = 24.0) -> None:
    path.write_text(
        f"refresh_interval = 1\nalert_402_horizon = {horizon}\n"
        f'[[org]]\nname = "capped"\napi_url = "{sim.base_url}"\ntoken = "capped-token"\n'
        f'[[notify]]\nurls = ["{receiver.url("hook")}"]\n')
    path.chmod(0o600)


def seed_history(sim, now: datetime) -> None:
    """Two hours of samples at 600 credits an hour up to what the API answers now: enough for
    the forecast to project the hard cap's 402 in about four hours."""
    current = sim.usage_for("capped")
    key = series_key(sim.base_url, StaticToken(SecretStr("capped-token")), "capped")
    records = []
    for minutes in range(120, 0, -5):
        data = json.loads(json.dumps(current))
        data["credits"]["used"] -= minutes * 10
        data["credits"]["available"] += minutes * 10
        records.append((key, "capped", now - timedelta(minutes=minutes), parse_usage(data)))
    with History(default_history_path()) as history:
        history.record_many(records)


async def cron(config: Path) -> int:
    """One ``cuadra-top --once --notify`` run, as cron starts it (its own event loop)."""
    return await asyncio.to_thread(main, ["--once", "--notify", "--config", str(config)])


async def watch_for(config: Path, seconds: float) -> str:
    loaded = load_config(str(config), {})
    out, stop = io.StringIO(), asyncio.Event()
    trends = Trends(History(default_history_path()), lambda: datetime.now(timezone.utc))
    task = asyncio.create_task(run_watch(loaded.settings, {}, config, trends=trends, out=out, stop=stop))
    await asyncio.sleep(seconds)
    stop.set()
    assert await task == 0
    return out.getvalue()


async def test_a_projected_402_is_told_once_across_the_tui_cron_and_watch(
        start_sim, make_org, receiver, tmp_path, isolated_env, capsys):
    org = make_org("capped", admin=True, hard_cap=True, credit_limit=20_000, credits_used_at_start=18_000,
                   purchased_balance=500, seats=4, credits_per_seat=5_000, burn_per_hour=0.0)
    sim = start_sim([org], clock=FakeClock(time.time()))  # the API's period is the real current month
    config = tmp_path / "config.toml"
    write_config(config, sim, receiver)
    seed_history(sim, datetime.now(timezone.utc))

    # 1. The TUI, open: it tells (the first sighting still reaches the channels).
    loaded = load_config(str(config), {})
    app = make_app(TuiOptions(loaded.settings, environ={}, config_path=config, persist_theme=False,
                              rng=random.Random(0),
                              trends=Trends(History(default_history_path()), lambda: datetime.now(timezone.utc))))
    async with app.run_test(size=(100, 30)):
        await wait_until(lambda: about_402(receiver), "the notice about 402", timeout=20)
        await asyncio.sleep(1.5)  # more polls: the same crossing, nothing more
    told = about_402(receiver)
    assert len(told) == 1, notices(receiver)
    assert told[0]["message"].startswith("capped: 402 errors projected in ") and "within the 1d horizon" in told[0]["message"]
    assert "the period resets in " in told[0]["message"]

    # 2. The TUI closed; cron runs twice: the crossing was told, so nothing is sent again.
    for _ in range(2):
        assert await cron(config) == 0, capsys.readouterr()
    assert len(about_402(receiver)) == 1

    # 3. Replaced by watch, then restarted: still the one message.
    await watch_for(config, 2.5)
    await watch_for(config, 2.5)  # a restart: its first answer comes before its history is read
    assert len(about_402(receiver)) == 1

    # 4. The horizon drops to an hour (the 402 is 4 h away): cron tells the recovery, once...
    write_config(config, sim, receiver, horizon=1.0)
    assert await cron(config) == 0
    assert await cron(config) == 0
    recovered = [n for n in notices(receiver) if "recovered" in n.get("title", "") and "402" in n.get("message", "")]
    assert len(recovered) == 1, notices(receiver)
    # ...and back to a day, a new crossing: watch tells it, once.
    write_config(config, sim, receiver, horizon=24.0)
    lines = await watch_for(config, 3.0)
    assert len(about_402(receiver)) == 2, lines
    assert await cron(config) == 0
    assert len(about_402(receiver)) == 2
    capsys.readouterr()
