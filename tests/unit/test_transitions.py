"""The forecast's chain through every pool (issue 11): subscription credits, the purchased
balance, then overage or (hard cap) 402 errors, on synthetic accounts whose true times are
known. Each projected time must be within 5% of the truth once 6 hours of samples exist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from cuadra_top.state.forecast import Pool, forecast
from cuadra_top.state.history import Sample

UTC = timezone.utc
PERIOD_START = datetime(2026, 4, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC)
STEP = timedelta(minutes=5)
HOURS = 6


@dataclass(frozen=True)
class Account:
    """A true account: consumption starts at ``consumed0`` at ``t0`` and grows at ``rate`` a day;
    the API's figures follow the docs' spending order."""

    limit: int
    purchased0: int | None
    hard_cap: bool
    rate: float
    consumed0: float
    t0: datetime = PERIOD_START + timedelta(days=10)
    bursty: bool = False

    def consumed(self, t: datetime) -> float:
        days = (t - self.t0).total_seconds() / 86400
        if not self.bursty:
            return self.consumed0 + self.rate * days
        # Every 30 minutes, the half hour's credits arrive within its first 5 minutes.
        cycle = 30 / 1440
        whole, part = divmod(days, cycle)
        return self.consumed0 + self.rate * (whole * cycle + cycle * min(part / (5 / 1440), 1.0))

    def sample(self, t: datetime) -> Sample:
        purchased = self.purchased0 or 0
        consumed = self.consumed(t)
        used = min(consumed, self.limit + purchased) if self.hard_cap else consumed
        over_limit = max(used - self.limit, 0)
        return Sample(
            "o", t, int(used), self.limit, max(self.limit - int(used), 0),
            None if self.purchased0 is None else int(purchased - min(over_limit, purchased)),
            0, None, PERIOD_START, PERIOD_END, "pro", self.hard_cap, int(max(over_limit - purchased, 0)),
        )

    def true_time(self, credits: float) -> datetime:
        """When consumption reaches ``credits`` (at the mean rate)."""
        return self.t0 + timedelta(days=(credits - self.consumed0) / self.rate)

    def history(self) -> list[Sample]:
        return [self.sample(self.t0 + i * STEP) for i in range(int(HOURS * 3600 / STEP.total_seconds()) + 1)]


def within_5_percent(projected: datetime, true: datetime, now: datetime) -> None:
    ahead, actual = (projected - now).total_seconds(), (true - now).total_seconds()
    assert actual > 0
    assert abs(ahead - actual) / actual < 0.05, (projected, true)


@pytest.mark.parametrize("bursty", [False, True], ids=["steady", "bursty"])
def test_hard_cap_chain_subscription_then_purchased_then_402(bursty):
    account = Account(limit=20_000, purchased0=3_000, hard_cap=True, rate=14_400, consumed0=15_000, bursty=bursty)
    samples = account.history()
    now = samples[-1].at
    result = forecast(samples, now)
    assert [t.kind for t in result.transitions] == [Pool.SUBSCRIPTION, Pool.PURCHASED, Pool.HARD_CAP]
    subscription, purchased, cap = result.transitions
    within_5_percent(subscription.at, account.true_time(20_000), now)
    within_5_percent(purchased.at, account.true_time(23_000), now)
    assert cap.at == purchased.at and cap.before_reset
    assert subscription.credits_left == 20_000 - samples[-1].credits_used
    assert purchased.credits_left == cap.credits_left == subscription.credits_left + 3_000
    assert result.first_that_matters(now) is cap
    text = result.chain(now)
    assert text.startswith("subscription credits run out in ") and "purchased balance runs out in " in text
    assert "then 402 errors (hard cap) in " in text and "from 6 h of samples" in text
    json = result.as_json()["transitions"]
    assert [t["kind"] for t in json] == ["subscription", "purchased", "hard_cap"]
    assert json[0]["at"].endswith("Z") and json[2]["credits_left"] == cap.credits_left


def test_no_hard_cap_chain_ends_in_overage_with_the_overage_by_the_reset():
    account = Account(limit=20_000, purchased0=3_000, hard_cap=False, rate=14_400, consumed0=15_000)
    samples = account.history()
    now = samples[-1].at
    result = forecast(samples, now)
    assert [t.kind for t in result.transitions] == [Pool.SUBSCRIPTION, Pool.PURCHASED, Pool.OVERAGE]
    over_at = account.true_time(23_000)
    within_5_percent(result.transition(Pool.OVERAGE).at, over_at, now)
    true_over = account.rate * (PERIOD_END - over_at).total_seconds() / 86400
    assert result.overage_by_reset == pytest.approx(true_over, rel=0.05)
    assert "then overage at this rate: ~" in result.chain(now) and "credits over by the reset" in result.chain(now)


def test_purchased_balance_only_the_subscription_already_spent():
    account = Account(limit=20_000, purchased0=10_000, hard_cap=True, rate=14_400, consumed0=21_000)
    samples = account.history()  # 6 h at 14,400/day: 3,600 more, still within the balance
    now = samples[-1].at
    result = forecast(samples, now)
    subscription, purchased, cap = result.transitions
    assert subscription.kind is Pool.SUBSCRIPTION and subscription.credits_left == 0 and subscription.at <= now
    within_5_percent(purchased.at, account.true_time(30_000), now)
    assert cap.kind is Pool.HARD_CAP and cap.at == purchased.at
    assert result.chain(now).startswith("subscription credits ran out")


def test_the_reset_comes_first():
    account = Account(limit=2_000_000, purchased0=0, hard_cap=True, rate=14_400, consumed0=15_000)
    samples = account.history()
    now = samples[-1].at
    result = forecast(samples, now)
    [subscription] = result.transitions
    assert subscription.kind is Pool.SUBSCRIPTION and not subscription.before_reset
    assert result.first_that_matters(now) is None
    assert result.chain(now).startswith("subscription credits last past the reset (in ")


def test_already_over_with_a_hard_cap_is_402_now():
    account = Account(limit=20_000, purchased0=1_000, hard_cap=True, rate=14_400, consumed0=25_000)
    samples = account.history()
    now = samples[-1].at
    result = forecast(samples, now)
    assert result.transitions[-1].kind is Pool.HARD_CAP and result.transitions[-1].credits_left == 0
    assert "402 errors now" in result.chain(now)


def test_already_in_overage_says_how_far_over_by_the_reset():
    account = Account(limit=20_000, purchased0=0, hard_cap=False, rate=14_400, consumed0=25_000)
    samples = account.history()
    now = samples[-1].at
    result = forecast(samples, now)
    assert result.transitions[-1].kind is Pool.OVERAGE and result.transitions[-1].at <= now
    expected = samples[-1].overage_credits + account.rate * (PERIOD_END - now).total_seconds() / 86400
    assert result.overage_by_reset == pytest.approx(expected, rel=0.05)
    assert result.chain(now).startswith("subscription credits ran out") and "in overage: ~" in result.chain(now)


def test_a_credential_that_does_not_see_the_balance_stops_the_chain_at_the_subscription():
    account = Account(limit=20_000, purchased0=None, hard_cap=True, rate=14_400, consumed0=15_000)
    samples = account.history()
    now = samples[-1].at
    result = forecast(samples, now)
    assert [t.kind for t in result.transitions] == [Pool.SUBSCRIPTION] and not result.purchased_known
    assert "then purchased credits, if any (not seen by this credential)" in result.chain(now)


def test_too_few_samples_project_nothing_and_say_why():
    account = Account(limit=20_000, purchased0=3_000, hard_cap=True, rate=14_400, consumed0=15_000)
    samples = account.history()[:2]  # 5 minutes
    result = forecast(samples, samples[-1].at)
    assert result.transitions == () and result.first_that_matters(samples[-1].at) is None
    assert result.chain(samples[-1].at).startswith("no forecast: too few samples")


def test_unlimited_credits_have_no_chain():
    samples = [Sample("o", PERIOD_START + i * STEP, 1000 * i, None, None, None, 0, None, PERIOD_START, PERIOD_END)
               for i in range(80)]
    assert forecast(samples, samples[-1].at).transitions == ()
