"""Simulated organizations and the usage numbers they report over time.

The real API cannot be reached, so demo mode and the tests need numbers that
move like real ones: credits burn at a noisy but never negative rate, storage
grows, subscription credits reset at the start of each calendar month and
purchased credits cover overage. Everything here is a pure function of the
seed, the org's parameters and the clock, so a fake clock gives repeatable
numbers and a real clock gives a live-looking demo.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
TIB = 1024 * GIB

# Each simulated hour is split into this many slices with random weights, so
# consumption comes in bursts and lulls instead of a straight line.
_SLICES_PER_HOUR = 120


@dataclass
class DemoOrg:
    """One organization of the simulated API and how its usage evolves.

    Several orgs exist because the API serves one org per credential: the
    product watches several orgs by holding several credentials.
    """

    name: str
    token: str
    tier: str
    plan_name: str
    credit_limit: int | None
    storage_limit: int | None
    credits_used_at_start: int
    storage_used_at_start: int
    burn_per_hour: float
    storage_growth_per_hour: float
    admin: bool = False
    purchased_balance: int = 0
    seats: int = 0
    credits_per_seat: int = 0
    hard_cap: bool = False
    client_id: str | None = None
    client_secret: str | None = None
    token_ttl: int = 3600
    scopes: tuple[str, ...] = ("usage:read",)
    rate_limit_per_minute: int = 300
    flaky: bool = False
    extra_fields: dict = field(default_factory=dict)
    echo_token: bool = False
    """A leaky API, for tests: the usage answer carries the request's bearer token in
    ``plan.name``, ``plan.tier`` and unknown fields."""


def demo_orgs() -> list[DemoOrg]:
    """The orgs the demo shows: one per interesting state (calm, warning, overage, unreliable,
    a hard cap about to answer 402)."""
    return [
        DemoOrg(
            name="acme-free",
            token="demo-acme-free-token",
            tier="free",
            plan_name="Free",
            credit_limit=1_000,
            storage_limit=100 * MIB,
            credits_used_at_start=350,
            storage_used_at_start=37 * MIB,
            burn_per_hour=90.0,
            storage_growth_per_hour=2 * MIB,
        ),
        DemoOrg(
            name="nimbus-pro",
            token="demo-nimbus-pro-token",
            tier="pro",
            plan_name="Pro",
            credit_limit=50_000,
            storage_limit=50 * GIB,
            credits_used_at_start=42_100,
            storage_used_at_start=20 * GIB,
            burn_per_hour=600.0,
            storage_growth_per_hour=150 * MIB,
        ),
        DemoOrg(
            name="globex-enterprise",
            token="demo-globex-token",
            tier="enterprise",
            plan_name="Enterprise",
            credit_limit=500_000,
            storage_limit=1 * TIB,
            credits_used_at_start=512_000,
            storage_used_at_start=310 * GIB,
            burn_per_hour=2_400.0,
            storage_growth_per_hour=1 * GIB,
            admin=True,
            purchased_balance=10_000,
            seats=40,
            credits_per_seat=12_500,
            client_id="demo-globex-client",
            client_secret="demo-globex-secret",
        ),
        DemoOrg(
            name="flaky-labs",
            token="demo-flaky-token",
            tier="pro",
            plan_name="Professional",
            credit_limit=20_000,
            storage_limit=10 * GIB,
            credits_used_at_start=10_000,
            storage_used_at_start=int(2.5 * GIB),
            burn_per_hour=300.0,
            storage_growth_per_hour=40 * MIB,
            flaky=True,
        ),
        DemoOrg(
            # The whole chain: subscription credits, then a small purchased balance, then 402.
            name="initech-capped",
            token="demo-initech-token",
            tier="pro",
            plan_name="Pro",
            credit_limit=20_000,
            storage_limit=10 * GIB,
            credits_used_at_start=18_200,
            storage_used_at_start=3 * GIB,
            burn_per_hour=450.0,
            storage_growth_per_hour=20 * MIB,
            admin=True,
            purchased_balance=2_500,
            seats=8,
            credits_per_seat=2_500,
            hard_cap=True,
        ),
    ]


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) derived from ``parts``: cheap, seeded, stateless."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_start(ts: float) -> float:
    """Epoch seconds of the first instant of the UTC calendar month containing ``ts``."""
    dt = datetime.fromtimestamp(ts, timezone.utc)
    return datetime(dt.year, dt.month, 1, tzinfo=timezone.utc).timestamp()


def next_month_start(ts: float) -> float:
    """Epoch seconds of the first instant of the UTC month after the one containing ``ts``."""
    dt = datetime.fromtimestamp(ts, timezone.utc)
    year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc).timestamp()


class UsageModel:
    """Deterministic usage curve of one org, counted from the moment it joined the simulator.

    Consumption is a non-decreasing random walk: each hour gets a random
    multiplier of the mean burn (0.4x to 1.6x) and spreads it over random
    slices, interpolated linearly so the numbers move smoothly. Because every
    step is derived from (seed, org name, hour), any instant can be computed
    directly, in any order, without stored state besides a prefix-sum cache.
    """

    def __init__(self, org_name: str, seed: int, origin: float) -> None:
        self.org_name = org_name
        self.seed = seed
        self.origin = origin
        self._prefix: list[float] = [0.0]  # _prefix[k] = burn-hours consumed in hours 0..k-1
        self._slices: dict[int, list[float]] = {}

    def _hour_factor(self, k: int) -> float:
        return 0.4 + 1.2 * _unit(self.seed, self.org_name, "hour", k)

    def _slice_cdf(self, k: int) -> list[float]:
        cdf = self._slices.get(k)
        if cdf is None:
            # Exponential weights: mostly moderate slices with occasional bursts.
            weights = [
                -math.log(1.0 - _unit(self.seed, self.org_name, "slice", k, j))
                for j in range(_SLICES_PER_HOUR)
            ]
            total = sum(weights) or 1.0
            cdf = [0.0]
            for w in weights:
                cdf.append(cdf[-1] + w / total)
            if len(self._slices) > 8:
                self._slices.clear()
            self._slices[k] = cdf
        return cdf

    def burn_hours(self, elapsed: float) -> float:
        """Mean-burn hours consumed ``elapsed`` seconds after the origin (non-decreasing)."""
        if elapsed <= 0:
            return 0.0
        k, rest = divmod(elapsed, 3600.0)
        k = int(k)
        while len(self._prefix) <= k:
            n = len(self._prefix) - 1
            self._prefix.append(self._prefix[-1] + self._hour_factor(n))
        cdf = self._slice_cdf(k)
        pos = rest / 3600.0 * _SLICES_PER_HOUR
        j = min(int(pos), _SLICES_PER_HOUR - 1)
        within = cdf[j] + (cdf[j + 1] - cdf[j]) * (pos - j)
        return self._prefix[k] + self._hour_factor(k) * within

    def _raw_used(self, org: DemoOrg, period_start: float, t: float) -> int:
        """Credits used in the period starting at ``period_start``, as of ``t``, before any cap."""
        consumed = org.burn_per_hour * self.burn_hours(t - self.origin)
        if period_start <= self.origin:
            return int(org.credits_used_at_start + consumed)
        return int(consumed - org.burn_per_hour * self.burn_hours(period_start - self.origin))

    def body(self, org: DemoOrg, now: float) -> dict:
        """The JSON object ``GET /v1/usage`` returns for ``org`` at ``now``."""
        now = max(now, self.origin)
        limit = org.credit_limit or None
        purchased = max(org.purchased_balance, 0)

        def settle(used: int) -> tuple[int, int]:
            # The docs' spending order: subscription credits, then the purchased balance
            # (which never expires), then overage; a hard cap stops consumption once the
            # first two are gone instead.
            nonlocal purchased
            if limit is None:
                return max(used, 0), 0
            if org.hard_cap:
                used = min(used, limit + purchased)
            used = max(used, 0)
            over_limit = max(used - limit, 0)
            from_balance = min(over_limit, purchased)
            purchased -= from_balance
            return used, over_limit - from_balance

        # Months that ended since the origin: their overage already ate purchased credits.
        current = month_start(now)
        period = month_start(self.origin)
        while period < current:
            end = next_month_start(period)
            settle(self._raw_used(org, period, end))
            period = end
        used, overage = settle(self._raw_used(org, current, now))

        available = None if limit is None else max(limit - used, 0)
        credits: dict = {
            "used": used,
            "limit": limit,
            "available": available,
            "overageCredits": overage,
            "isInOverage": overage > 0,
            "hardCap": org.hard_cap,
        }
        if org.admin:
            credits["purchasedBalance"] = purchased
            credits["totalAvailable"] = None if available is None else available + purchased
        credits["billingPeriod"] = "monthly"
        credits["periodStart"] = _iso(current)
        credits["periodEnd"] = _iso(next_month_start(now) - 1)

        elapsed_hours = (now - self.origin) / 3600.0
        body: dict = {
            "storage": {
                "used": int(org.storage_used_at_start + org.storage_growth_per_hour * elapsed_hours),
                "limit": org.storage_limit or None,
            },
            "credits": credits,
            "plan": {"tier": org.tier, "name": org.plan_name, "billingCycle": "monthly"},
        }
        if org.admin:
            body["seats"] = {"count": org.seats, "creditsPerSeat": org.credits_per_seat}
        body.update(copy.deepcopy(org.extra_fields))
        return body
