"""``Retry-After``: capped at an hour (``Retry-After: 999999999`` was shown as "retry in 999999984
s" and obeyed), shown in human units, honoured on 503 and other 5xx too, in either form (seconds
or an HTTP date); negative or garbage values are ignored."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from pydantic import SecretStr

from cuadra_top.api.errors import RateLimited, ServerError
from cuadra_top.api.http import RETRY_AFTER_CAP, retry_after_seconds
from cuadra_top.config import OrgConfig
from cuadra_top.simulator import Fault
from cuadra_top.state.fleet import Fleet
from cuadra_top.state.poller import OrgState, next_delay
from cuadra_top.tui.header import status_text

NOW = datetime(2026, 4, 15, 12, 0, 0, tzinfo=timezone.utc)


def http_date(seconds_from_now: float) -> str:
    return format_datetime(NOW + timedelta(seconds=seconds_from_now), usegmt=True)


def test_the_cap_is_an_hour():
    assert RETRY_AFTER_CAP == 3600


@pytest.mark.parametrize(("value", "seconds"), [
    ("30", 30.0), (" 30 ", 30.0), ("0", 0.0), ("2.5", 2.5),
    ("999999999", 3600.0), ("3601", 3600.0),
    (http_date(120), 120.0), (http_date(10 * 86400), 3600.0), (http_date(-60), 0.0),
])
def test_retry_after_values(value, seconds):
    assert retry_after_seconds(value, now=lambda: NOW) == seconds


@pytest.mark.parametrize("value", ["-5", "-0.5", "soon", "nan", "inf", "-inf", "1e3", "0x10", "", "30 s",
                                   "Wed, 99 Foo 2026 25:61:00 GMT", "\u0661\u0662"])
def test_negative_or_garbage_retry_after_is_ignored(value):
    assert retry_after_seconds(value, now=lambda: NOW) is None


def fleet(sim, name: str = "faulty", token: str = "beta-token") -> Fleet:
    return Fleet([OrgConfig(name=name, api_url=sim.base_url, token=SecretStr(token))], {})


async def test_a_huge_retry_after_is_capped_and_shown_in_hours(sim):
    sim.set_fault("beta", Fault(status=429, retry_after=999999999))
    async with fleet(sim) as f:
        error = (await f.fetch("faulty")).error
    assert isinstance(error, RateLimited)
    assert error.retry_after == RETRY_AFTER_CAP
    assert error.message.endswith("; retry after 1h")
    assert next_delay(error, 1, 30.0, random.Random(1)) == RETRY_AFTER_CAP


@pytest.mark.parametrize("status", [503, 500, 502])
async def test_retry_after_on_a_5xx_is_honoured(sim, status):
    sim.set_fault("beta", Fault(status=status, retry_after=120))
    async with fleet(sim) as f:
        error = (await f.fetch("faulty")).error
    assert isinstance(error, ServerError) and error.retry_after == 120
    assert error.message.endswith("; retry after 2m")
    rng = random.Random(3)
    for failures in range(1, 12):  # a floor whatever the backoff would have chosen
        assert next_delay(error, failures, 0.2, rng) >= 120


async def test_retry_after_on_the_token_endpoint_5xx_is_honoured(sim):
    sim.set_auth_fault(Fault(status=503, retry_after=90))
    m2m = OrgConfig(name="m2m", api_url=sim.base_url, token_url=sim.auth_url, client_id="m2m-client",
                    client_secret=SecretStr("m2m-secret-do-not-leak"))
    async with Fleet([m2m], {}) as f:
        error = (await f.fetch("m2m")).error
    assert isinstance(error, ServerError) and error.retry_after == 90
    assert next_delay(error, 1, 0.2, random.Random(1)) >= 90


@pytest.mark.parametrize("header", ["-30", "soon"])
async def test_a_bad_retry_after_falls_back_to_the_backoff(sim, header):
    sim.set_fault("beta", Fault(status=503, retry_after=header))
    async with fleet(sim) as f:
        error = (await f.fetch("faulty")).error
    assert isinstance(error, ServerError) and error.retry_after is None
    assert "retry after" not in error.message
    assert next_delay(error, 1, 0.2, random.Random(1)) < 1.0 + 0.2


@pytest.mark.parametrize(("seconds", "shown"), [(3600, "retry in 1h"), (45, "retry in 45 s"),
                                                (5400, "retry in 1h 30m"), (200, "retry in 3m")])
def test_the_status_line_shows_the_wait_in_human_units(seconds, shown):
    error = RateLimited("rate limited (429: slow down); retry after 1h", retry_after=seconds)
    state = OrgState("acme", error=error, failures=1, next_poll_at=NOW + timedelta(seconds=seconds))
    line = status_text(state, NOW)
    assert shown in line and f"{seconds} s" not in line.replace(shown, "")
