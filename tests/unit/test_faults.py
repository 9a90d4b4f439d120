"""The fault matrix: every way a fetch can fail, against the simulator over real loopback HTTP,
and what each surface makes of it.

For each fault there are two outcomes to check:

- the CLI (``cuadra-top --once --json``): exit code 1, the failed org's ``error`` object has the
  right ``kind`` and a one-line message that says what to do, and the other org is still ok;
- the poller (what the TUI shows): the error kind in ``OrgState``, stopped (credential and URL
  errors) or backing off (everything transient), and the last good data kept when the fault
  comes after a success. A few are checked on the TUI's header and status line too.

Then the bounds on requests: ``Retry-After`` is honoured, repeated 5xx back off more and more,
a slow or hung org holds back no other org, and data older than two intervals reads STALE.

Faults the simulator cannot produce (a closed port, a DNS failure, TLS to a plain-HTTP port) are
injected after a success by pointing the org's client at the broken endpoint, as a network
change would. Timing bounds are generous lower bounds; nothing asserts how fast things are.

The TUI's side is in tests/tui/test_faults_tui.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from cuadra_top.api.errors import RateLimited, ServerError
from cuadra_top.api.http import Timeouts
from cuadra_top.cli import main
from cuadra_top.config import OrgConfig
from cuadra_top.simulator import Fault, Simulator
from cuadra_top.state.fleet import Fleet
from cuadra_top.state.poller import BACKOFF_CAP, MIN_DELAY, OrgPoller, Status, next_delay
from conftest import full_accept_queue, wait_until  # full_accept_queue: a loopback port whose connect hangs
from faults_support import (  # what the unit and the TUI tests of this topic share
    BAD_TOKEN,
    CASES,
    _isolated,
    decided,
    inject,
    status,
)


TOKEN_PATH = "/v1/oauth2/token"


SHORT = Timeouts(connect=5.0, read=0.5)
"""Client timeouts for the hang cases: a hung answer becomes a read timeout after 0.5 s. The
connect timeout stays roomy, so a slow resolver still yields "DNS lookup failed"."""


@contextlib.asynccontextmanager
async def running(*pollers: OrgPoller):
    """Run the pollers' loops for the block; cancel them after, surfacing any crash of a loop."""
    tasks = [asyncio.create_task(p.run()) for p in pollers]
    try:
        yield tasks
    finally:
        crashed = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert not crashed, f"a poll loop died: {crashed!r}"


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message and len(message) < 400 and "Traceback" not in message


CASE_IDS = [case.id for case in CASES]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def two_org_config(tmp_path: Path, sim: Simulator, faulty_url: str, faulty_token: str | None = None,
                   timeouts: Timeouts | None = SHORT, *, faulty_credential: str | None = None) -> Path:
    """A "good" org (alpha's token, on the simulator) and a "faulty" one at ``faulty_url`` with
    ``faulty_token``, or the TOML lines ``faulty_credential`` instead; ``timeouts`` None: the
    defaults."""
    timeout = f"timeout = {{ connect = {timeouts.connect}, read = {timeouts.read} }}" if timeouts else ""
    credential = faulty_credential or f'token = "{faulty_token}"'
    return write_config(tmp_path, f"""
{timeout}
[[org]]
name = "good"
api_url = "{sim.base_url}"
token = "alpha-token"

[[org]]
name = "faulty"
api_url = "{faulty_url}"
{credential}
""")


def run_once_json(capsys, path: Path) -> tuple[int, dict[str, dict], str]:
    code = main(["--once", "--json", "--config", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, {org["name"]: org for org in json.loads(out)["orgs"]}, err


def assert_cli_outcome(code: int, orgs: dict[str, dict], kind: str, words: tuple[str, ...],
                       status: int | None) -> dict:
    assert code == 1
    good, faulty = orgs["good"], orgs["faulty"]
    assert good["ok"] is True and good["error"] is None and good["usage"]["plan"]["tier"] == "pro"
    assert faulty["ok"] is False and faulty["usage"] is None and faulty["fetched_at"] is None
    error = faulty["error"]
    assert set(error) == {"kind", "status", "message"}
    assert error["kind"] == kind, error
    if status is not None:
        assert error["status"] == status, error
    for word in words:
        assert word in error["message"], error["message"]
    assert_one_line(error["message"])
    return error


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_cli_once_json_per_fault(capsys, tmp_path, sim, closed_port, case):
    url = case.url(sim, closed_port) if case.url else sim.base_url
    if case.fault:
        sim.set_fault("beta", case.fault)
    code, orgs, err = run_once_json(capsys, two_org_config(tmp_path, sim, url, case.token))
    assert_cli_outcome(code, orgs, case.kind, case.words, case.status)
    assert err == ""
    assert sim.request_count("alpha") == 1  # the good org was fetched once, and only once


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_cli_once_json_connect_timeout(capsys, tmp_path, sim):
    with full_accept_queue() as port:
        path = two_org_config(tmp_path, sim, f"http://127.0.0.1:{port}", "beta-token", Timeouts(0.5, 5.0))
        code, orgs, _ = run_once_json(capsys, path)
    assert_cli_outcome(code, orgs, "network", ("connect timeout", f"127.0.0.1:{port}"), None)


def test_cli_once_table_keeps_the_other_orgs(capsys, tmp_path, sim):
    sim.set_fault("beta", Fault(status=503))
    path = two_org_config(tmp_path, sim, sim.base_url, "beta-token")
    code = main(["--once", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "ERROR" not in lines["good"] and "/ 10,000 (" in lines["good"]
    assert "ERROR: server error 503" in lines["faulty"]


def m2m_config(tmp_path: Path, sim: Simulator) -> Path:
    """The faulty org is the simulator's m2m org, by client credentials, with the default timeouts."""
    return two_org_config(tmp_path, sim, sim.base_url, timeouts=None, faulty_credential=(
        f'token_url = "{sim.auth_url}"\nclient_id = "m2m-client"\nclient_secret = "m2m-secret-do-not-leak"'))


def test_cli_401_client_credentials_one_new_token_one_retry(capsys, tmp_path, sim):
    sim.set_fault("m2m", Fault(status=401))
    code, orgs, _ = run_once_json(capsys, m2m_config(tmp_path, sim))
    assert_cli_outcome(code, orgs, "auth", ("credential rejected (401",), 401)
    # One token, the call, one new token after the 401, the call retried once: then it gives up.
    assert sim.request_count(path=TOKEN_PATH) == 2
    assert sim.request_count("m2m") == 2


def test_cli_401_client_credentials_recovers_with_a_new_token(capsys, tmp_path, sim):
    sim.set_fault("m2m", Fault(status=401, times=1))
    code, orgs, _ = run_once_json(capsys, m2m_config(tmp_path, sim))
    assert code == 0 and orgs["faulty"]["ok"] and orgs["good"]["ok"]
    assert sim.request_count(path=TOKEN_PATH) == 2 and sim.request_count("m2m") == 2


def test_cli_token_endpoint_refuses_the_client(capsys, tmp_path, sim):
    path = m2m_config(tmp_path, sim)
    path.write_text(path.read_text().replace("m2m-secret-do-not-leak", "not-the-secret-5a1b"))
    code, orgs, _ = run_once_json(capsys, path)
    error = assert_cli_outcome(code, orgs, "auth", ("token endpoint refused the client credentials",
                                                    "client_secret"), 401)
    assert "not-the-secret-5a1b" not in error["message"]
    assert sim.request_count("m2m") == 0  # no usage call without a token


def fleet_for(sim: Simulator, *, token: str = "beta-token", url: str | None = None,
              timeouts: Timeouts = SHORT) -> Fleet:
    return Fleet([
        OrgConfig(name="good", api_url=sim.base_url, token=SecretStr("alpha-token")),
        OrgConfig(name="faulty", api_url=url or sim.base_url, token=SecretStr(token)),
    ], {}, timeouts=timeouts)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
async def test_poller_per_fault_after_a_success(sim, closed_port, case):
    async with fleet_for(sim) as fleet:
        poller = OrgPoller("faulty", fleet.fetch, 0.2, rng=random.Random(1))
        async with running(poller):
            await wait_until(lambda: poller.state.fetched is not None and decided(poller))
            good = poller.state.fetched
            inject(case, sim, fleet, closed_port)
            poller.refresh_now()
            await wait_until(lambda: poller.state.error is not None and decided(poller))
            state = poller.state
            assert state.error.kind == case.kind, state.error.message
            for word in case.words:
                assert word in state.error.message
            assert_one_line(state.error.message)
            assert state.fetched is good  # the last good data is kept
            assert state.failures == 1 and state.error_at is not None
            now = datetime.now(timezone.utc)
            if case.stops:
                assert poller.delays[-1] is None and state.stopped and state.next_poll_at is None
                assert state.status(now, 0.2) is Status.STOPPED and state.retry_in(now) is None
                requests = state.requests
                await asyncio.sleep(0.3)  # an interval and a half: no more requests
                assert state.requests == requests and state.stopped
            else:
                delay = poller.delays[-1]
                assert delay is not None and delay >= MIN_DELAY  # backing off, not at the 0.2 s interval
                if case.kind == "rate_limited":
                    assert delay >= 30
                assert not state.stopped
                # A slow fault (the read timeout) can take longer than two intervals: then STALE.
                assert state.status(now, 0.2) is (Status.STALE if state.age(now) > 0.4 else Status.ERROR)
                assert state.next_poll_at is not None and state.retry_in(now) > 0.5


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
async def test_poller_per_fault_from_the_start(sim, closed_port, case):
    """No success first: the state has no data, an error, and the same stop-or-backoff decision."""
    url = case.url(sim, closed_port) if case.url else None
    if case.fault:
        sim.set_fault("beta", case.fault)
    async with fleet_for(sim, url=url, token=case.token) as fleet:
        poller = OrgPoller("faulty", fleet.fetch, 0.2, rng=random.Random(1))
        async with running(poller):
            await wait_until(lambda: poller.state.error is not None and decided(poller))
    state = poller.state
    assert state.fetched is None and state.error.kind == case.kind
    assert (poller.delays == [None]) == case.stops
    assert state.status(datetime.now(timezone.utc), 0.2) is (Status.STOPPED if case.stops else Status.ERROR)


async def test_poller_401_static_token_stops_until_refresh(sim):
    async with fleet_for(sim, token=BAD_TOKEN) as fleet:
        poller = OrgPoller("faulty", fleet.fetch, 0.05)
        async with running(poller):
            await wait_until(lambda: poller.state.stopped and decided(poller))
            await asyncio.sleep(0.3)  # six intervals
            assert sim.request_count("beta") == 0 and poller.state.requests == 1
            assert len(sim.requests(path="/v1/usage")) == 1  # a static token is not retried
            sim.orgs["beta"].token = BAD_TOKEN  # the user fixes the credential, then presses r
            poller.refresh_now()
            await wait_until(lambda: poller.state.fetched is not None)
            await wait_until(lambda: poller.state.requests >= 3)  # and it polls on by itself again
    assert poller.state.error is None and not poller.state.stopped


async def test_poller_401_client_credentials_one_new_token_then_retry(sim):
    orgs = [OrgConfig(name="m2m", api_url=sim.base_url, token_url=sim.auth_url, client_id="m2m-client",
                      client_secret=SecretStr("m2m-secret-do-not-leak"))]
    async with Fleet(orgs, {}) as fleet:
        poller = OrgPoller("m2m", fleet.fetch, 30.0)
        async with running(poller):
            await wait_until(lambda: poller.state.fetched is not None and decided(poller))
            assert sim.request_count(path=TOKEN_PATH) == 1

            # The access token is revoked: exactly one new token, the call retried once, fine.
            sim.revoke_tokens("m2m")
            poller.refresh_now()
            await wait_until(lambda: poller.state.requests == 2 and decided(poller))
            assert poller.state.error is None and poller.delays[-1] == 30.0
            assert sim.request_count(path=TOKEN_PATH) == 2
            assert [r.status for r in sim.requests(path="/v1/usage")] == [200, 401, 200]

            # Revoked, and the new token is refused too: one new token, one retry, then stop.
            sim.revoke_tokens("m2m")
            sim.set_fault("m2m", Fault(status=401))
            poller.refresh_now()
            await wait_until(lambda: poller.state.requests == 3 and decided(poller))
            assert poller.state.error.kind == "auth" and poller.state.stopped and poller.delays[-1] is None
            assert sim.request_count(path=TOKEN_PATH) == 3
            assert [r.status for r in sim.requests(path="/v1/usage")] == [200, 401, 200, 401, 401]
            await asyncio.sleep(0.3)
            assert sim.request_count(path=None) == 8  # nothing more
    assert poller.state.fetched is not None  # the last good data survived


async def test_retry_after_30_means_no_request_for_30_seconds(sim):
    async with fleet_for(sim) as fleet:
        poller = OrgPoller("faulty", fleet.fetch, 0.2, rng=random.Random(2))
        async with running(poller):
            await wait_until(lambda: poller.state.fetched is not None and decided(poller))
            sim.set_fault("beta", Fault(status=429, retry_after=30))
            await wait_until(lambda: poller.state.error is not None and decided(poller))
            assert poller.state.error.retry_after == 30
            assert poller.delays[-1] >= 30  # the chosen delay
            now = datetime.now(timezone.utc)
            assert (poller.state.next_poll_at - now).total_seconds() > 28  # and the schedule says so
            assert poller.state.retry_in(now) > 28
            seen = sim.request_count("beta")
            await asyncio.sleep(1.0)  # five intervals of the 0.2 s poll: not one request
            assert sim.request_count("beta") == seen
            assert not poller.state.stopped and poller.state.fetched is not None


def test_retry_after_is_a_floor_for_every_failure_count():
    rng = random.Random(11)
    for failures in range(1, 20):
        assert next_delay(RateLimited("x", retry_after=30.0), failures, 0.2, rng) >= 30


BACKOFF_SEEDS = (1, 2, 3, 4, 5, 6, 7, 8)


async def cut_waits_short(pollers: list[OrgPoller], until: Callable[[OrgPoller], bool],
                          timeout: float = 15.0) -> None:
    """Press ``r`` for each poller once per decided fetch, until ``until`` holds for all of them."""
    forced_at = [-1] * len(pollers)
    deadline = time.monotonic() + timeout
    while not all(until(p) for p in pollers):
        assert time.monotonic() < deadline, [p.delays for p in pollers]
        for i, poller in enumerate(pollers):
            requests = poller.state.requests
            if requests > 0 and decided(poller) and requests > forced_at[i] and not until(poller):
                forced_at[i] = requests
                poller.refresh_now()
        await asyncio.sleep(0.01)


async def test_repeated_5xx_backoff_grows(sim):
    """Eight failures in a row for each of several seeded pollers (``r`` cuts each wait short, so
    the test does not sit out the backoff). The delays chosen are exactly the backoff policy's for
    that seed, each is within its doubling ceiling, and on average they grow."""
    interval = 1.0
    sim.set_fault("beta", Fault(status=503))
    async with fleet_for(sim) as fleet:
        pollers = [OrgPoller("faulty", fleet.fetch, interval, rng=random.Random(seed)) for seed in BACKOFF_SEEDS]
        async with running(*pollers):
            await cut_waits_short(pollers, until=lambda p: len(p.delays) >= 8)
    table = []
    for seed, poller in zip(BACKOFF_SEEDS, pollers):
        delays = poller.delays[:8]
        assert poller.state.failures >= 8 and isinstance(poller.state.error, ServerError)
        replay = random.Random(seed)
        assert delays == [next_delay(ServerError("x"), k, interval, replay) for k in range(1, 9)]
        for k, delay in enumerate(delays, 1):
            assert MIN_DELAY <= delay <= max(MIN_DELAY, min(BACKOFF_CAP, interval * 2 ** (k - 1)))
        assert statistics.fmean(delays[4:]) > statistics.fmean(delays[:4])  # later gaps are longer
        table.append(delays)
    means = [statistics.fmean(column) for column in zip(*table)]
    assert means[-1] > 8 * means[0], means
    assert statistics.fmean(means[4:]) > 3 * statistics.fmean(means[:4]), means


async def test_a_success_resets_the_backoff(sim):
    sim.set_fault("beta", Fault(status=503, times=3))
    async with fleet_for(sim) as fleet:
        poller = OrgPoller("faulty", fleet.fetch, 0.2, rng=random.Random(4))
        async with running(poller):
            await cut_waits_short([poller], until=lambda p: p.state.fetched is not None and decided(p))
    assert poller.delays[:3] and all(d >= MIN_DELAY for d in poller.delays[:3])
    assert poller.delays[3] == 0.2 and poller.state.failures == 0


async def test_slow_hung_and_stopped_orgs_do_not_slow_the_others(sim):
    sim.set_fault("beta", Fault(latency=2.0))
    sim.set_fault("m2m", Fault(hang=True))
    orgs = [OrgConfig(name=name, api_url=sim.base_url, token=SecretStr(token))
            for name, token in (("good", "alpha-token"), ("slow", "beta-token"), ("hung", "m2m-token"),
                                ("stopped", BAD_TOKEN))]
    async with Fleet(orgs, {}, timeouts=Timeouts(connect=5, read=4)) as fleet:
        good, slow, hung, stopped = (OrgPoller(org.name, fleet.fetch, 0.2) for org in orgs)
        async with running(good, slow, hung, stopped):
            await wait_until(lambda: slow.state.in_flight and hung.state.in_flight and stopped.state.stopped,
                             timeout=5)
            started = sim.request_count("alpha")
            await asyncio.sleep(1.0)
            during = sim.request_count("alpha") - started
            # Their one request each is still under way (2 s latency, hung with a 4 s read timeout).
            assert slow.state.in_flight and hung.state.in_flight
            assert slow.state.requests == 1 and hung.state.requests == 1
        # At a 0.2 s cadence 1 s holds about 5 polls; held up behind the others it would be 0.
        assert during >= 2, during
        assert good.state.error is None and good.state.fetched is not None


async def test_the_record_of_delays_stays_bounded(sim, monkeypatch):
    """A monitor left running for months must not keep every decision it ever made."""
    monkeypatch.setattr("cuadra_top.state.poller.DELAYS_KEPT", 3)
    async with fleet_for(sim) as fleet:
        poller = OrgPoller("good", fleet.fetch, 0.01)
        async with running(poller):
            await wait_until(lambda: poller.state.requests >= 12 and not poller.state.in_flight)
            assert 3 <= len(poller.delays) <= 6 and poller.delays[-1] == 0.01


def test_the_matrix_covers_every_error_kind_of_the_readme():
    kinds = {case.kind for case in CASES}
    assert kinds == {"auth", "permission", "not_found", "rate_limited", "server", "client", "network", "protocol"}

