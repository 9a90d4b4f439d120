"""The per-org poller against a Fleet on the simulator: fetches never overlap, the last good
data survives errors, credential and URL errors stop it, 429 and 5xx back off, and the
controls (pause, refresh, interval) take effect. Timing bounds are generous lower bounds."""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import SecretStr

from cuadra_top.api.client import Fetched
from cuadra_top.api.errors import (
    AuthError,
    ClientError,
    InsecureURL,
    NetworkError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ServerError,
)
from cuadra_top.api.models import parse_usage
from cuadra_top.config import OrgConfig
from cuadra_top.simulator import Fault
from cuadra_top.state.fleet import Fleet, OrgResult
from cuadra_top.state.poller import BACKOFF_CAP, MIN_DELAY, OrgPoller, OrgState, Status, next_delay
from conftest import wait_until

T0 = datetime(2026, 4, 15, 12, 0, 0, tzinfo=timezone.utc)


def fleet_on(sim, token: str = "alpha-token", *, name: str = "alpha", path: str = "") -> Fleet:
    return Fleet([OrgConfig(name=name, api_url=sim.base_url + path, token=SecretStr(token))], {})


@contextlib.asynccontextmanager
async def running(poller: OrgPoller):
    """Run the poller's loop for the block; cancel it after, surfacing any crash of the loop."""
    task = asyncio.create_task(poller.run())
    try:
        yield task
    finally:
        crashed = task.done() and not task.cancelled() and task.exception() is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert not crashed, f"the poll loop died: {task.exception()!r}"


class Recorder:
    """A fetch function wrapping ``fleet.fetch`` that records when fetches start and how
    many run at once."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.active = 0
        self.peak = 0
        self.starts: list[float] = []
        self.results: list[OrgResult] = []

    async def __call__(self, name: str) -> OrgResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.starts.append(time.monotonic())
        try:
            result = await self.fleet.fetch(name)
            self.results.append(result)
            return result
        finally:
            self.active -= 1


# -- scheduling ------------------------------------------------------------------------------------


async def test_polls_never_overlap(sim):
    sim.set_fault("alpha", Fault(latency=0.3))
    async with fleet_on(sim) as fleet:
        fetch = Recorder(fleet)
        poller = OrgPoller("alpha", fetch, 0.05)
        async with running(poller):
            # Pester it with controls while fetches are slow: still one at a time.
            deadline = time.monotonic() + 15
            while len(fetch.results) < 3:
                assert time.monotonic() < deadline, "the poller stopped polling"
                poller.refresh_now()
                poller.set_interval(0.05)
                await asyncio.sleep(0.03)
    assert fetch.peak == 1
    gaps = [b - a for a, b in zip(fetch.starts, fetch.starts[1:])]
    assert len(gaps) >= 2 and all(gap >= 0.25 for gap in gaps), gaps
    assert all(r.ok for r in fetch.results)
    assert sim.request_count("alpha") >= len(fetch.results)


async def test_first_poll_is_immediate_and_updates_are_reported(sim):
    seen: list[tuple[int, bool, bool]] = []
    async with fleet_on(sim) as fleet:
        poller = OrgPoller("alpha", fleet.fetch, 10.0,
                           lambda s: seen.append((s.version, s.in_flight, s.fetched is not None)))
        assert poller.state.status(datetime.now(timezone.utc), 10.0) is Status.LOADING
        async with running(poller):
            await wait_until(lambda: poller.state.fetched is not None, timeout=5)
            await wait_until(lambda: poller.state.next_poll_at is not None)
    state = poller.state
    assert state.fetched.raw == sim.usage_for("alpha")
    assert state.error is None and state.failures == 0 and state.requests == 1
    assert state.status(datetime.now(timezone.utc), 10.0) is Status.OK
    assert poller.delays == [10.0]
    assert 5 < state.retry_in(datetime.now(timezone.utc)) <= 10
    versions = [v for v, _, _ in seen]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    # A fetch under way is not reported (nothing shows it; a redraw per poll start cost the
    # overview dearly at 500 orgs): every report comes with the fetch settled.
    assert all(not in_flight for _, in_flight, _ in seen)
    assert seen[-1][2] is True and seen[-1][0] == state.version


async def test_last_good_data_survives_an_error_and_success_resets(sim):
    async with fleet_on(sim) as fleet:
        poller = OrgPoller("alpha", fleet.fetch, 0.2)
        async with running(poller):
            await wait_until(lambda: poller.state.fetched is not None)
            good = poller.state.fetched
            sim.set_fault("alpha", Fault(status=503))
            await wait_until(lambda: poller.state.error is not None)
            state = poller.state
            assert state.fetched is good  # kept
            assert isinstance(state.error, ServerError) and state.error.status == 503
            assert state.failures == 1 and state.error_at is not None
            assert state.status(datetime.now(timezone.utc), 0.2) is Status.ERROR
            assert poller.delays[-1] >= MIN_DELAY  # backing off, not polling at the interval
            sim.set_fault("alpha", None)
            poller.refresh_now()  # rather than wait out the backoff
            await wait_until(lambda: poller.state.error is None)
            await wait_until(lambda: len(poller.delays) >= 3)
    assert poller.state.failures == 0 and poller.state.fetched is not good
    assert poller.delays[-1] == 0.2  # back to the interval after a success
    assert poller.state.status(datetime.now(timezone.utc), 0.2) in (Status.OK, Status.STALE)


@pytest.mark.parametrize(
    ("token", "path", "error_type"),
    [("not-a-valid-token", "", AuthError), ("noscope-token", "", PermissionDenied), ("alpha-token", "/nope", NotFound)],
    ids=["401", "403", "404"],
)
async def test_credential_and_url_errors_stop_until_refresh(sim, token, path, error_type):
    async with fleet_on(sim, token, path=path) as fleet:
        poller = OrgPoller("alpha", fleet.fetch, 0.05)
        async with running(poller):
            await wait_until(lambda: poller.state.stopped)
            assert poller.delays == [None]
            assert isinstance(poller.state.error, error_type)
            now = datetime.now(timezone.utc)
            assert poller.state.status(now, 0.05) is Status.STOPPED and poller.state.retry_in(now) is None
            await asyncio.sleep(0.3)  # six intervals: nothing
            assert sim.request_count(path=None) == 1 and poller.state.requests == 1
            poller.refresh_now()  # the user asks: one more try, then stopped again
            await wait_until(lambda: poller.state.requests == 2)
            await wait_until(lambda: poller.state.stopped and not poller.state.in_flight)
            await asyncio.sleep(0.2)
    assert sim.request_count(path=None) == 2 and poller.delays == [None, None]


async def test_refresh_restarts_a_stopped_org_that_was_fixed(sim):
    async with fleet_on(sim, "noscope-token", name="noscope") as fleet:
        poller = OrgPoller("noscope", fleet.fetch, 0.1)
        async with running(poller):
            await wait_until(lambda: poller.state.stopped)
            sim.orgs["noscope"].scopes = ("usage:read",)  # the admin grants the scope
            poller.refresh_now()
            await wait_until(lambda: poller.state.fetched is not None)
            await wait_until(lambda: poller.state.requests >= 3)  # and it keeps polling
    assert not poller.state.stopped and poller.state.error is None


async def test_429_waits_for_retry_after(sim):
    sim.set_fault("alpha", Fault(status=429, retry_after=2, times=1))
    async with fleet_on(sim) as fleet:
        fetch = Recorder(fleet)
        poller = OrgPoller("alpha", fetch, 0.2)
        async with running(poller):
            await wait_until(lambda: poller.delays)
            assert isinstance(poller.state.error, RateLimited) and poller.state.error.retry_after == 2
            assert poller.delays[0] >= 2
            assert poller.state.retry_in(datetime.now(timezone.utc)) > 1.5
            await asyncio.sleep(1.0)
            assert len(fetch.starts) == 1 and sim.request_count("alpha") == 1
            assert not poller.state.stopped and poller.state.retry_in(datetime.now(timezone.utc)) > 0.5


async def test_real_rate_limit_backs_off_for_its_retry_after(sim):
    # "limited" allows 2 requests a minute; the simulator's clock stands still, so the third
    # request is refused with Retry-After 60.
    async with fleet_on(sim, "limited-token", name="limited") as fleet:
        poller = OrgPoller("limited", fleet.fetch, 0.05)
        async with running(poller):
            await wait_until(lambda: len(poller.delays) >= 3)
            await asyncio.sleep(0.3)
    assert poller.delays[:2] == [0.05, 0.05]
    assert isinstance(poller.state.error, RateLimited) and poller.delays[2] >= 60
    assert sim.request_count("limited") == 3 and poller.state.fetched is not None


# -- next_delay, the backoff policy ----------------------------------------------------------------


def test_next_delay_success_is_the_interval():
    rng = random.Random(1)
    assert next_delay(None, 0, 30.0, rng) == 30.0
    assert next_delay(None, 7, 2.5, rng) == 2.5


@pytest.mark.parametrize("error", [AuthError("x"), PermissionDenied("x"), NotFound("x"), ClientError("x"),
                                   InsecureURL("x")])
def test_next_delay_stops_on_errors_retrying_cannot_fix(error):
    assert next_delay(error, 1, 30.0, random.Random(1)) is None
    assert next_delay(error, 9, 30.0, random.Random(1)) is None


@pytest.mark.parametrize("error", [ServerError("x"), NetworkError("x"), ProtocolError("x")])
def test_next_delay_backoff_grows_with_jitter_and_a_cap(error):
    rng = random.Random(1234)
    interval = 10.0
    means = []
    for failures in range(1, 9):
        draws = [next_delay(error, failures, interval, rng) for _ in range(3000)]
        assert all(MIN_DELAY <= d <= BACKOFF_CAP for d in draws)
        assert len(set(draws)) > 100  # jittered, not a fixed schedule
        means.append(statistics.fmean(draws))
    # Ceilings 10, 20, 40, 80, 160, 300, 300, 300: the mean grows until the cap, then holds.
    assert all(b > a * 1.5 for a, b in zip(means[:5], means[1:5])), means
    assert means[5] > means[4]
    assert means[5] == pytest.approx(150, rel=0.1) and means[7] == pytest.approx(150, rel=0.1)


def test_next_delay_survives_a_very_long_outage():
    rng = random.Random(3)
    for failures in (100, 1_100, 10_000, 10**6):
        assert MIN_DELAY <= next_delay(ServerError("x"), failures, 30.0, rng) <= BACKOFF_CAP


def test_next_delay_rate_limited():
    rng = random.Random(5)
    for failures in range(1, 6):
        assert next_delay(RateLimited("x", retry_after=120.0), failures, 1.0, rng) >= 120
        assert next_delay(RateLimited("x", retry_after=None), failures, 45.0, rng) >= 45
        assert next_delay(RateLimited("x", retry_after=0.0), failures, 1.0, rng) >= MIN_DELAY


# -- controls --------------------------------------------------------------------------------------


async def test_pause_stops_requests_and_resume_restarts_them(sim):
    async with fleet_on(sim) as fleet:
        poller = OrgPoller("alpha", fleet.fetch, 0.1)
        async with running(poller):
            await wait_until(lambda: poller.state.requests >= 2)
            poller.set_paused(True)
            await wait_until(lambda: not poller.state.in_flight)
            paused_at = sim.request_count("alpha")
            now = datetime.now(timezone.utc)
            assert poller.state.status(now, 0.1) is Status.PAUSED and poller.state.retry_in(now) is None
            await asyncio.sleep(0.4)
            assert sim.request_count("alpha") == paused_at
            poller.set_paused(False)
            await wait_until(lambda: sim.request_count("alpha") >= paused_at + 2)
    assert poller.state.status(datetime.now(timezone.utc), 0.1) is Status.OK


async def test_set_interval_takes_effect(sim):
    async with fleet_on(sim) as fleet:
        poller = OrgPoller("alpha", fleet.fetch, 30.0)
        async with running(poller):
            await wait_until(lambda: poller.delays == [30.0])
            await asyncio.sleep(0.2)
            assert sim.request_count("alpha") == 1
            poller.set_interval(0.1)  # the 30 s wait is cut short
            await wait_until(lambda: sim.request_count("alpha") >= 4)
            assert 0.1 in poller.delays
            poller.set_interval(30.0)  # the short wait under way is stretched to 30 s
            await asyncio.sleep(0)
            await wait_until(lambda: not poller.state.in_flight)
            settled = sim.request_count("alpha")
            await asyncio.sleep(0.3)
            assert sim.request_count("alpha") == settled
            assert poller.state.retry_in(datetime.now(timezone.utc)) > 20  # and the countdown says so


async def test_refresh_now_cuts_the_wait_short(sim):
    async with fleet_on(sim) as fleet:
        poller = OrgPoller("alpha", fleet.fetch, 30.0)
        async with running(poller):
            await wait_until(lambda: poller.delays == [30.0])
            poller.refresh_now()
            await wait_until(lambda: len(poller.delays) == 2)
            await asyncio.sleep(0.2)
    assert sim.request_count("alpha") == 2 and poller.state.requests == 2


# -- OrgState.status -----------------------------------------------------------------------------


def fetched_at(sim, when: datetime) -> Fetched:
    body = sim.usage_for("alpha")
    return Fetched(usage=parse_usage(body), raw=body, fetched_at=when, elapsed=0.01)


def test_status(sim):
    interval = 30.0
    later = lambda seconds: T0 + timedelta(seconds=seconds)  # noqa: E731

    state = OrgState("alpha")
    assert state.status(T0, interval) is Status.LOADING
    assert state.age(T0) is None and not state.is_stale(later(10_000), interval)

    state.error = NetworkError("connection refused by x")
    assert state.status(T0, interval) is Status.ERROR  # never had data

    state = OrgState("alpha", fetched=fetched_at(sim, T0))
    assert state.status(later(1), interval) is Status.OK
    assert state.status(later(60), interval) is Status.OK  # exactly two intervals: not yet
    assert state.status(later(60.5), interval) is Status.STALE
    assert state.age(later(45)) == 45

    state.error = ServerError("server error 503")
    assert state.status(later(5), interval) is Status.ERROR  # data kept, but the last poll failed
    assert state.status(later(61), interval) is Status.STALE  # and old: stale wins
    assert state.status(later(61), 60.0) is Status.ERROR  # the same age is fresh at a longer interval

    state.paused = True
    assert state.status(later(5), interval) is Status.PAUSED
    assert state.status(later(5000), interval) is Status.PAUSED
    state.stopped = True
    assert state.status(later(5), interval) is Status.STOPPED


def test_retry_in():
    state = OrgState("alpha", next_poll_at=T0 + timedelta(seconds=12))
    assert state.retry_in(T0) == 12
    assert state.retry_in(T0 + timedelta(seconds=20)) == 0
    state.paused = True
    assert state.retry_in(T0) is None
    state.paused, state.stopped = False, True
    assert state.retry_in(T0) is None


@pytest.mark.parametrize("wake", ["refresh", "pause", "interval"])
async def test_a_poller_woken_and_cancelled_at_once_ends(sim, wake):
    """The monitor's stop cancels every poller and waits for them: a poller whose sleep was
    just cut short (r, p, + or - pressed right before q) must end, not poll on forever."""

    async def fetch(name: str) -> OrgResult:
        return OrgResult(name, fetched_at(sim, T0), None, T0)

    poller = OrgPoller("alpha", fetch, 60.0)
    task = asyncio.create_task(poller.run())
    try:
        await wait_until(lambda: poller.state.requests == 1 and poller.state.next_poll_at is not None)
        await asyncio.sleep(0.01)  # asleep until the next poll, a minute away
        {"refresh": poller.refresh_now, "pause": lambda: poller.set_paused(True),
         "interval": lambda: poller.set_interval(30.0)}[wake]()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2)
        assert task in done, "the poller lived on after its cancellation"
    finally:
        task.cancel()
