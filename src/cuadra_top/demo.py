"""The built-in demo: the simulator on a free loopback port and a config pointing at it.

Nothing here reads or writes the user's config or data.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from cuadra_top.api.models import parse_usage
from cuadra_top.state.history import Sample, sample_of
from cuadra_top.state.trends import Trends

from cuadra_top.config import LoadedConfig, OrgConfig, Settings
from cuadra_top.simulator import DemoOrg, Simulator
from cuadra_top.simulator.server import TOKEN_PATH


def demo_org_config(org: DemoOrg, base_url: str) -> OrgConfig:
    """Client credentials where the demo org has them (the OAuth path), else its token."""
    if org.client_id and org.client_secret:
        return OrgConfig(
            name=org.name,
            api_url=base_url,
            client_id=org.client_id,
            client_secret=SecretStr(org.client_secret),
            token_url=base_url + TOKEN_PATH,
        )
    return OrgConfig(name=org.name, api_url=base_url, token=SecretStr(org.token))


def demo_config(sim: Simulator, **settings: object) -> LoadedConfig:
    return _demo_config(sim, sim.base_url, **settings)


def _demo_config(sim: Simulator, base_url: str, **settings: object) -> LoadedConfig:
    orgs = [demo_org_config(org, base_url) for org in sim.orgs.values()]
    return LoadedConfig(Settings(org=orgs, **settings), None, "demo")  # type: ignore[arg-type]


@dataclass(frozen=True)
class SharedDemo:
    """A demo simulator another process runs (``cuadra-top --demo web``: one for every browser
    session, as one API serves a team), told to a session on its command line: its URL, its
    seed and the moment its orgs began. With those the session rebuilds the same usage curves
    locally, for the day of history the demo starts with. The demo's credentials are built in
    and not secrets."""

    base_url: str
    seed: int
    origin: float

    def __str__(self) -> str:
        return f"{self.base_url},{self.seed},{self.origin!r}"

    @classmethod
    def parse(cls, text: str) -> SharedDemo:
        """Raises ValueError when ``text`` is not what ``str`` made."""
        url, seed, origin = text.split(",")
        if not url.startswith("http://127.0.0.1:"):
            raise ValueError(f"{url!r}: the shared demo is served on loopback")
        value = float(origin)
        if not math.isfinite(value):
            raise ValueError(f"{origin!r} is not a time")
        return cls(url, int(seed), value)


def _simulator_from(seed: int | None, origin: float) -> Simulator:
    """A simulator whose orgs all began at ``origin``, on the real clock from then on."""
    sim = Simulator(seed=seed, clock=lambda: origin)
    sim.clock = time.time
    return sim


def start_shared_demo(seed: int | None = None) -> tuple[Simulator, SharedDemo]:
    """The simulator every session of ``--demo web`` talks to, started, and how to join it."""
    origin = time.time()
    sim = _simulator_from(seed, origin).start()
    return sim, SharedDemo(sim.base_url, sim.seed, origin)


def join_demo(shared: SharedDemo) -> tuple[LoadedConfig, Simulator]:
    """The config of the shared demo's orgs, and a simulator that is never started but gives the
    same usage as the shared one at any moment (for :func:`backfill`)."""
    model = _simulator_from(shared.seed, shared.origin)
    return _demo_config(model, shared.base_url), model


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


def seed_history(path: Path, sim: Simulator, base_url: str, now: datetime) -> Path:
    """A history file for the demo (in a temporary directory of its own, never the user's):
    each demo org's current period so far and the whole period before, a sample an hour, so
    the History tab has something to show at once. The last day burns at the org's rate (the
    forecast reads it); the rest of each period spreads what was used over its hours with
    seeded noise; flaky-labs' earlier period has two days without samples, as when nothing ran."""
    from cuadra_top.config import build_credential
    from cuadra_top.state.history import History
    from cuadra_top.state.identity import series_key

    rng = random.Random(sim.seed)
    records: list[tuple[str, Sample]] = []
    for org in sim.orgs.values():
        config = demo_org_config(org, base_url)
        key = series_key(config.api_url, build_credential(config, {}), org.name) or f"name:{org.name}"
        current = sample_of(org.name, now, parse_usage(sim.usage_for(org.name, now=now.timestamp())))
        start = current.period_start or now - timedelta(days=30)
        previous_start = (start - timedelta(days=1)).replace(day=1)
        day_ago = max(now - timedelta(days=1), start)
        used_day_ago = max(current.credits_used - int(org.burn_per_hour * (now - day_ago).total_seconds() / 3600), 0)
        previous = replace(current, period_start=previous_start, period_end=start - timedelta(seconds=1))
        limit = current.credits_limit or int(org.burn_per_hour * 24 * 30)
        walks = [
            (previous, previous_start, start, 0, int(limit * rng.uniform(0.55, 0.95))),
            (current, start, day_ago, 0, used_day_ago),
            (current, day_ago, now, used_day_ago, current.credits_used),
        ]
        for base, begin, finish, first, last in walks:
            hours = [begin + timedelta(hours=h) for h in range(int((finish - begin).total_seconds() // 3600))]
            weights = [rng.uniform(0.3, 1.7) for _ in hours]
            total, spent = sum(weights) or 1.0, 0.0
            for at, weight in zip(hours, weights):
                spent += weight
                used = first + int((last - first) * spent / total)
                if org.flaky and base is previous and previous_start + timedelta(days=9) <= at < previous_start + timedelta(days=11):
                    continue  # nothing ran those two days
                grown = int(org.storage_growth_per_hour * (now - at).total_seconds() / 3600)
                available = None if base.credits_limit is None else max(base.credits_limit - used, 0)
                records.append((key, replace(base, at=at, credits_used=used, credits_available=available,
                                             storage_used=max(current.storage_used - grown, 0))))
    with History(path) as history:
        history.record_samples(records)
    return path


def start_demo(seed: int | None = None) -> Simulator:
    return Simulator(seed=seed).start()
