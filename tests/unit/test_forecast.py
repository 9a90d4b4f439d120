"""Forecasts on synthetic histories: accuracy on steady and bursty usage, resets, top-ups, edge cases."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cuadra_top.state.forecast import TOO_FEW, Forecast, forecast
from cuadra_top.state.history import Sample

UTC = timezone.utc
START = datetime(2026, 4, 1, tzinfo=UTC)
END = datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC)
LIMIT = 500_000
RATE_PER_DAY = 24_000.0
STEP = timedelta(minutes=5)


def sample(at: datetime, used: float, *, limit: int | None = LIMIT, purchased: int | None = None,
           storage: int = 0, storage_limit: int | None = None,
           start: datetime | None = START, end: datetime | None = END) -> Sample:
    available = None if not limit else max(limit - int(used), 0)
    return Sample("o", at, int(used), limit, available, purchased, storage, storage_limit, start, end)


def series(first: datetime, count: int, used: Callable[[int], float], **kw) -> list[Sample]:
    return [sample(first + i * STEP, used(i), **kw) for i in range(count)]


def six_hours_steady(used0: float = 100_000) -> list[Sample]:
    per_step = RATE_PER_DAY * STEP.total_seconds() / 86400
    return series(START + timedelta(days=3), 73, lambda i: used0 + per_step * i)


def relative_error(result: Forecast, samples: list[Sample], rate_per_day: float) -> float:
    """|projected - true| / true, both measured as time-to-exhaustion from now."""
    now = samples[-1].at
    true = (LIMIT - samples[-1].credits_used) / rate_per_day * 86400
    assert result.credits_exhausted_at is not None
    projected = (result.credits_exhausted_at - now).total_seconds()
    return abs(projected - true) / true


def test_steady_usage_projects_within_10_percent_after_6_hours():
    samples = six_hours_steady()
    result = forecast(samples, samples[-1].at)
    assert result.reason is None
    assert result.burn_rate_per_day == pytest.approx(RATE_PER_DAY, rel=0.01)
    assert result.period_burn_rate_per_day == pytest.approx(RATE_PER_DAY, rel=0.01)
    assert result.basis_hours == pytest.approx(6.0)
    assert relative_error(result, samples, RATE_PER_DAY) < 0.10
    assert result.runs_out_before_period_end


def bursty_six_hours(seed: int) -> list[Sample]:
    """Half the usage is a jittery background (0.5x to 1.5x of its mean per 5 min), half comes in
    one burst per half hour at a random moment, about 6x the background; random phase."""
    rng = random.Random(seed)
    per_step = RATE_PER_DAY * STEP.total_seconds() / 86400
    first = START + timedelta(days=3, minutes=rng.uniform(0, 60))
    used, burst_at, values = 100_000.0, 0, []
    for i in range(73):
        values.append(used)
        used += 0.5 * per_step * rng.uniform(0.5, 1.5)
        if i % 6 == 0:
            burst_at = i + rng.randrange(6)
        if i == burst_at:
            used += 0.5 * per_step * 6 * rng.uniform(0.8, 1.2)
    return series(first, len(values), lambda i: values[i])


@pytest.mark.parametrize("seed", range(20))
def test_bursty_usage_projects_within_10_percent_after_6_hours(seed: int):
    samples = bursty_six_hours(seed)
    steps = [b.credits_used - a.credits_used for a, b in zip(samples, samples[1:])]
    assert max(steps) > 4 * sorted(steps)[len(steps) // 2]  # it really is bursty
    result = forecast(samples, samples[-1].at)
    assert relative_error(result, samples, RATE_PER_DAY) < 0.10


def test_exact_summary_wording():
    # remaining 99,000 at 24,000/day: 4.125 days = 4d 3h
    samples = six_hours_steady(used0=LIMIT - 99_000 - 6_000)
    now = samples[-1].at
    result = forecast(samples, now)
    assert result.summary(now) == "at this rate credits run out in 4d 3h, 22 days before the period resets"
    late = result.summary(now + timedelta(days=4, hours=5, seconds=30))
    assert late.startswith("credits ran out 2h") and late.endswith("ago")


def test_lasting_past_the_period_end():
    samples = six_hours_steady(used0=0)  # 494k left at 24k/day: 20 days, but the period ends in 27
    samples = [replace(s, period_end=START + timedelta(days=10)) for s in samples]
    now = samples[-1].at
    result = forecast(samples, now)
    assert not result.runs_out_before_period_end
    assert result.summary(now) == "at this rate credits last past the period end (resets in 6d 18h)"


def test_the_rate_is_the_last_24_hours_and_the_period_rate_the_whole_period():
    fast, slow = 48_000 / 288, 12_000 / 288  # per 5 min
    first = START + timedelta(hours=1)
    values = [fast * i for i in range(288 * 2)]  # two fast days
    values += [values[-1] + slow * (i + 1) for i in range(288)]  # then a slow one
    samples = series(first, len(values), lambda i: values[i])
    result = forecast(samples, samples[-1].at)
    assert result.burn_rate_per_day == pytest.approx(12_000, rel=0.02)
    assert result.period_burn_rate_per_day == pytest.approx((48_000 * 2 + 12_000) / 3, rel=0.02)
    assert result.basis_hours == pytest.approx(24.0)


def test_a_reset_at_the_period_boundary_ignores_the_previous_period():
    previous_start = START - timedelta(days=31)
    old = series(START - timedelta(hours=12), 144, lambda i: 400_000 + 2_000 * i,
                 start=previous_start, end=START - timedelta(seconds=1))
    new = series(START, 72, lambda i: RATE_PER_DAY / 288 * i)
    samples = old + new
    random.Random(1).shuffle(samples)  # order does not matter
    result = forecast(samples, new[-1].at)
    assert result.burn_rate_per_day == pytest.approx(RATE_PER_DAY, rel=0.01)
    assert result.period_end == END
    # from the new period alone: 500k at 24k/day is 20.8 days, within the 30-day period
    expected = new[-1].at + timedelta(days=(LIMIT - new[-1].credits_used) / RATE_PER_DAY)
    assert abs((result.credits_exhausted_at - expected).total_seconds()) < 3600
    assert result.runs_out_before_period_end


def test_a_drop_within_the_period_starts_afresh_from_the_drop():
    before = series(START + timedelta(days=2), 100, lambda i: 200_000 + 1_000 * i)
    after = series(before[-1].at + STEP, 72, lambda i: 10 + RATE_PER_DAY / 288 * i)
    result = forecast(before + after, after[-1].at)
    assert result.burn_rate_per_day == pytest.approx(RATE_PER_DAY, rel=0.01)
    assert result.basis_hours == pytest.approx(71 * 5 / 60)


def test_purchased_credits_added_mid_period_extend_the_total_only():
    per_step = RATE_PER_DAY / 288
    samples = series(START + timedelta(days=3), 73, lambda i: 100_000 + per_step * i,
                     purchased=0)
    samples[40:] = [replace(s, purchased_balance=100_000) for s in samples[40:]]
    now = samples[-1].at
    result = forecast(samples, now)
    assert result.burn_rate_per_day == pytest.approx(RATE_PER_DAY, rel=0.01)
    left = LIMIT - samples[-1].credits_used
    assert (result.credits_exhausted_at - now).total_seconds() == pytest.approx(left / RATE_PER_DAY * 86400, rel=0.01)
    assert (result.total_exhausted_at - now).total_seconds() == pytest.approx(
        (left + 100_000) / RATE_PER_DAY * 86400, rel=0.01)
    assert "purchased credits last" in result.summary(now)


def test_spending_purchased_credits_after_the_subscription_ran_out():
    per_step = RATE_PER_DAY / 288
    samples = series(START + timedelta(days=20), 73, lambda i: LIMIT - 3_000 + per_step * i, purchased=50_000)
    now = samples[-1].at
    result = forecast(samples, now)
    crossing = next(s.at for s in samples if s.credits_used >= LIMIT)
    assert result.credits_exhausted_at == crossing and result.runs_out_before_period_end
    assert (result.total_exhausted_at - now).total_seconds() == pytest.approx(50_000 / RATE_PER_DAY * 86400, rel=0.01)
    assert result.summary(now).startswith("credits ran out 3h")


def test_already_exhausted_before_the_history_began():
    samples = series(START + timedelta(days=20), 3, lambda i: LIMIT + 10 * i, purchased=0)
    result = forecast(samples, samples[-1].at + timedelta(days=2, hours=1))
    assert result.credits_exhausted_at == samples[0].at
    assert result.total_exhausted_at == samples[0].at
    assert result.summary(samples[0].at + timedelta(days=2, hours=1)) == "credits ran out 2d 1h ago"
    assert result.summary(samples[0].at) == "credits have run out"


def test_flat_usage_projects_nothing():
    samples = series(START + timedelta(days=3), 73, lambda i: 123_456)
    result = forecast(samples, samples[-1].at)
    assert result.burn_rate_per_day == 0
    assert result.credits_exhausted_at is None and result.total_exhausted_at is None
    assert result.reason == "no consumption in the last 24 h"
    assert result.summary(samples[-1].at) == "no forecast: no consumption in the last 24 h"
    assert not result.runs_out_before_period_end


@pytest.mark.parametrize("limit", [0, None])
def test_unlimited_credits(limit):
    samples = series(START + timedelta(days=3), 73, lambda i: 1_000 * i, limit=limit, purchased=5)
    result = forecast(samples, samples[-1].at)
    assert result.reason == "credits are unlimited"
    assert result.credits_exhausted_at is None and result.total_exhausted_at is None
    assert result.burn_rate_per_day == pytest.approx(288_000, rel=0.01)  # still worth showing
    assert result.summary(samples[-1].at) == "no forecast: credits are unlimited"


@pytest.mark.parametrize("samples", [
    [],
    [sample(START + timedelta(days=1), 100)],
    [sample(START + timedelta(days=1), 100), sample(START + timedelta(days=1, minutes=9), 200)],
])
def test_too_few_samples(samples):
    result = forecast(samples, START + timedelta(days=2))
    assert result.reason == TOO_FEW
    assert result.credits_exhausted_at is None and result.burn_rate_per_day is None
    assert result.basis_hours == 0
    assert result.summary(START) == f"no forecast: {TOO_FEW}"


def test_a_sparse_day_falls_back_to_the_whole_period():
    samples = [sample(START + timedelta(days=1), 0), sample(START + timedelta(days=2), 24_000),
               sample(START + timedelta(days=4), 72_000)]
    result = forecast(samples, samples[-1].at)
    assert result.burn_rate_per_day == pytest.approx(24_000)
    assert result.basis_hours == pytest.approx(72)


def test_storage_growth_and_full():
    samples = series(START + timedelta(days=3), 73, lambda i: 0, storage_limit=1_000_000)
    samples = [replace(s, storage_used=500_000 + 100 * i) for i, s in enumerate(samples)]
    now = samples[-1].at
    result = forecast(samples, now)
    assert result.storage_growth_per_day == pytest.approx(100 * 288)
    left = 1_000_000 - samples[-1].storage_used
    assert (result.storage_full_at - now).total_seconds() == pytest.approx(left / 28_800 * 86400, rel=0.01)


def test_as_json_uses_iso_z_and_null():
    samples = six_hours_steady()
    result = forecast(samples, samples[-1].at)
    data = result.as_json()
    assert set(data) == {"burn_rate_per_day", "credits_exhausted_at", "total_exhausted_at", "storage_full_at",
                         "basis_hours", "transitions", "overage_by_reset", "reason"}  # the chain: issue 11
    assert data["credits_exhausted_at"].endswith("Z") and "+" not in data["credits_exhausted_at"]
    assert datetime.fromisoformat(data["credits_exhausted_at"].replace("Z", "+00:00")) == result.credits_exhausted_at
    assert data["total_exhausted_at"] is None and data["storage_full_at"] is None
    assert forecast([], START).as_json()["burn_rate_per_day"] is None


def test_naive_times_are_taken_as_utc():
    samples = [replace(s, at=s.at.replace(tzinfo=None)) for s in six_hours_steady()]
    result = forecast(samples, samples[-1].at.replace(tzinfo=UTC))
    assert result.credits_exhausted_at is not None and result.credits_exhausted_at.tzinfo is not None


# -- never raises ----------------------------------------------------------------------------

counts = st.one_of(st.none(), st.just(0), st.integers(min_value=0, max_value=10**18))
times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
samples_strategy = st.lists(
    st.builds(
        Sample,
        org=st.just("o"),
        at=times,
        credits_used=st.integers(min_value=0, max_value=10**18),
        credits_limit=counts,
        credits_available=counts,
        purchased_balance=counts,
        storage_used=st.integers(min_value=0, max_value=10**18),
        storage_limit=counts,
        period_start=st.one_of(st.none(), st.sampled_from([START, END]), times),
        period_end=st.one_of(st.none(), st.sampled_from([START, END]), times),
        plan_tier=st.one_of(st.none(), st.sampled_from(["free", "pro"])),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(samples=samples_strategy, now=times)
def test_forecast_never_raises(samples, now):
    result = forecast(samples, now)
    assert isinstance(result.summary(now), str)
    assert isinstance(result.as_json(), dict)
    assert isinstance(result.runs_out_before_period_end, bool)


# -- one series: one account, one period (issue 10, defect 9) -----------------------------------

TERMS = {
    "same terms": {},
    "another limit": {"credits_limit": LIMIT * 2},
    "another storage limit": {"storage_limit": 10**12},
    "another plan": {"plan_tier": "enterprise"},
    "another period": {"period_start": START + timedelta(days=1)},
    "another period end": {"period_end": END + timedelta(days=1)},
}


@settings(max_examples=300, deadline=None)
@given(order=st.lists(st.booleans(), min_size=2, max_size=40), terms=st.sampled_from(sorted(TERMS)),
       low_rate=st.integers(0, 200), high_rate=st.integers(0, 5_000))
def test_two_accounts_taking_turns_under_one_name_never_share_a_forecast(order, terms, low_rate, high_rate):
    """Two cron jobs for an org named ``default`` with two accounts' tokens, writing to one
    series (issue 10: "a burn rate of 2,022,029 credits/day, runs out in 5m"). At every moment
    the forecast is what some newest run of the newest account's own samples gives, or "too
    few samples". Accounts on other terms (limit, plan, period) are told apart always; on the
    same terms, from the first time the lower one reports after the higher one. Before that,
    A's samples followed by B's higher ones look exactly like one account's burst: only a
    stable key tells those apart, which is why the history is keyed by identity."""
    pro = {"plan_tier": "pro"}
    a_used, b_used = iter(range(7_500, 10**9, low_rate or 1)), iter(range(2_000_000, 10**9, high_rate or 1))
    merged: list[Sample] = []
    for i, is_a in enumerate(order):
        at = START + timedelta(days=3, minutes=5 * i)
        base = sample(at, next(a_used) if is_a else next(b_used))
        merged.append(replace(base, **pro) if is_a else replace(base, **{**pro, **TERMS[terms]}))
    for end in range(1, len(merged) + 1):
        prefix, turns = merged[:end], order[:end]
        if terms == "same terms" and turns == sorted(turns, reverse=True):
            continue  # A* B*: indistinguishable from one account's burst (see above)
        newest = turns[-1]
        own = [s for s, is_a in zip(prefix, turns) if is_a == newest]
        now = prefix[-1].at
        result = forecast(prefix, now)
        assert any(result == forecast(own[i:], now) for i in range(len(own))), (terms, turns)


def test_the_reported_case_two_accounts_alternating_give_no_forecast_rather_than_a_wrong_one():
    """The issue's numbers: one account at 7,500 credits, the other at 2,000,000, sampled in
    turn by two cron jobs every 15 minutes."""
    samples = []
    for i in range(24):
        used = 7_500 + 10 * i if i % 2 == 0 else 2_000_000 + 10 * i
        samples.append(sample(START + timedelta(days=3, minutes=15 * i), used, limit=2_100_000))
    result = forecast(samples, samples[-1].at)
    assert result.reason == TOO_FEW and result.burn_rate_per_day is None
    assert result.credits_exhausted_at is None


@pytest.mark.parametrize("change", sorted(set(TERMS) - {"same terms"}))
def test_a_change_of_terms_within_the_period_starts_a_new_series(change):
    """An upgrade (another limit or plan) or another period: the rate comes from after it."""
    before = [replace(s, plan_tier="pro") for s in series(START + timedelta(days=2), 100, lambda i: 100_000 + 5_000 * i)]
    after = [replace(s, **{"plan_tier": "pro", **TERMS[change]}) for s in
             series(before[-1].at + STEP, 72, lambda i: 600_000 + RATE_PER_DAY / 288 * i)]
    result = forecast(before + after, after[-1].at)
    assert result.burn_rate_per_day == pytest.approx(RATE_PER_DAY, rel=0.01)
    assert result.basis_hours == pytest.approx(71 * 5 / 60)


def test_samples_without_a_plan_tier_continue_a_series_with_one():
    """Samples recorded before the history kept the tier (schema 1) are not another plan."""
    samples = series(START + timedelta(days=3), 73, lambda i: 100_000 + RATE_PER_DAY / 288 * i)
    samples[40:] = [replace(s, plan_tier="pro") for s in samples[40:]]
    result = forecast(samples, samples[-1].at)
    assert result.basis_hours == pytest.approx(6.0)


def test_storage_comes_from_the_current_series_only():
    """Storage does not reset with the period, but another account's storage says nothing."""
    other = [replace(s, storage_used=9_000_000, storage_limit=10_000_000, credits_limit=LIMIT * 2)
             for s in series(START + timedelta(days=3), 72, lambda i: 1_000)]
    mine = [replace(s, storage_used=500_000 + 100 * i, storage_limit=1_000_000)
            for i, s in enumerate(series(other[-1].at + STEP, 73, lambda i: 10 * i))]
    result = forecast(other + mine, mine[-1].at)
    assert result.storage_growth_per_day == pytest.approx(100 * 288)
