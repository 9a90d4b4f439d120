"""The built-in demo: the simulator on a free loopback port and a config pointing at it.

Nothing here reads or writes the user's config or data.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from pydantic import SecretStr

from cuadra_top.api.models import parse_usage
from cuadra_top.state.history import sample_of
from cuadra_top.state.trends import Trends

from cuadra_top.config import LoadedConfig, OrgConfig, Settings
from cuadra_top.simulator import DemoOrg, Simulator


def demo_org_config(org: DemoOrg, sim: Simulator) -> OrgConfig:
    """Client credentials where the demo org has them (the OAuth path), else its token."""
    if org.client_id and org.client_secret:
        return OrgConfig(
            name=org.name,
            api_url=sim.base_url,
            client_id=org.client_id,
            client_secret=SecretStr(org.client_secret),
            token_url=sim.auth_url,
        )
    return OrgConfig(name=org.name, api_url=sim.base_url, token=SecretStr(org.token))


def demo_config(sim: Simulator, **settings: object) -> LoadedConfig:
    orgs = [demo_org_config(org, sim) for org in sim.orgs.values()]
    return LoadedConfig(Settings(org=orgs, **settings), None, "demo")  # type: ignore[arg-type]


def backfill(trends: Trends, sim: Simulator, now: datetime, hours: int = 24) -> None:
    """Give the demo a day of past samples, so forecasts and sparklines show at once instead of
    after an hour of watching: each demo org's current usage walked back at its mean burn
    rate, with seeded noise, never before the current billing period."""
    rng = random.Random(sim.seed)
    for org in sim.orgs.values():
        current = parse_usage(sim.usage_for(org.name, now=now.timestamp()))
        start = current.credits.period_start or now - timedelta(hours=hours)
        samples = []
        used, stored = current.credits.used, current.storage.used
        for step in range(1, hours * 6 + 1):
            at = now - timedelta(minutes=10 * step)
            if at < start:
                break
            used = max(used - int(org.burn_per_hour / 6 * rng.uniform(0.3, 1.7)), 0)
            stored = max(stored - int(org.storage_growth_per_hour / 6), 0)
            data = current.model_dump(by_alias=True)
            data["credits"]["used"], data["storage"]["used"] = used, stored
            data["credits"]["available"] = None
            samples.append(sample_of(org.name, at, parse_usage(data)))
        trends.add_samples(org.name, reversed(samples))


def start_demo(seed: int | None = None) -> Simulator:
    return Simulator(seed=seed).start()
