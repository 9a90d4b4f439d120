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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from cuadra_top.api.errors import RateLimited, ServerError
from cuadra_top.api.http import MAX_BODY_BYTES, Timeouts
from cuadra_top.cli import main
from cuadra_top.config import OrgConfig, Settings
from cuadra_top.simulator import Fault, Simulator
from cuadra_top.state.fleet import Fleet
from cuadra_top.state.poller import BACKOFF_CAP, MIN_DELAY, OrgPoller, Status, next_delay
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.panes import Line
from conftest import full_accept_queue  # a loopback port whose connect hangs

TOKEN_PATH = "/v1/oauth2/token"
BAD_TOKEN = "faults-bad-token-0c6f1e9a7d"
DNS_URL = "https://api.cuadra-top-faults.invalid"
SHORT = Timeouts(connect=5.0, read=0.5)
"""Client timeouts for the hang cases: a hung answer becomes a read timeout after 0.5 s. The
connect timeout stays roomy, so a slow resolver still yields "DNS lookup failed"."""


# -- helpers ---------------------------------------------------------------------------------------


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


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def decided(poller: OrgPoller) -> bool:
    """The poller has finished its latest fetch and chosen what to do next."""
    return not poller.state.in_flight and len(poller.delays) == poller.state.requests


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message and len(message) < 400 and "Traceback" not in message


# -- the matrix ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One fault, set up on the org named ``faulty`` (the simulator's ``beta``) next to a good org."""

    id: str
    kind: str
    words: tuple[str, ...]
    status: int | None = None
    stops: bool = False
    fault: Fault | None = None
    url: Callable[[Simulator, int], str] | None = None
    """api_url for the faulty org (sim, closed port) -> url; the simulator's URL when None."""
    token: str = "beta-token"
    revoke_scope: bool = False
    """403 after a success: the admin takes ``usage:read`` away from the credential."""


CASES = [
    Case("refused", "network", ("connection refused", "127.0.0.1:"),
         url=lambda sim, port: f"http://127.0.0.1:{port}"),
    Case("dns", "network", ("DNS lookup failed", "api.cuadra-top-faults.invalid"), url=lambda sim, port: DNS_URL),
    Case("read-timeout", "network", ("read timeout", "did not answer in time"), fault=Fault(hang=True)),
    Case("tls", "network", ("TLS",), url=lambda sim, port: sim.base_url.replace("http://", "https://")),
    Case("401-static", "auth", ("credential rejected (401", "fix this org's token"), status=401, stops=True,
         token=BAD_TOKEN),
    Case("403", "permission", ("permission denied (403", "usage:read"), status=403, stops=True,
         token="noscope-token", revoke_scope=True),
    Case("404", "not_found", ("not found (404)", "api_url is probably wrong"), status=404, stops=True,
         url=lambda sim, port: sim.base_url + "/wrong-prefix"),
    Case("429", "rate_limited", ("rate limited (429", "retry after 30 s"), status=429,
         fault=Fault(status=429, retry_after=30)),
    Case("402", "client", ("request refused (402",), status=402, stops=True, fault=Fault(status=402)),
    Case("500", "server", ("server error 500", "Injected fault"), status=500, fault=Fault(status=500)),
    Case("503", "server", ("server error 503",), status=503, fault=Fault(status=503)),
    Case("html-502", "server", ("server error 502", "HTML error page"), status=502, fault=Fault(body="html")),
    Case("not-json", "protocol", ("not valid JSON",), status=200, fault=Fault(body="malformed")),
    Case("html-200", "protocol", ("HTML page instead of JSON",), status=200, fault=Fault(body="html", status=200)),
    Case("truncated", "protocol", ("truncated",), fault=Fault(body="truncated")),
    Case("oversize", "protocol", ("too large", str(MAX_BODY_BYTES)), status=200, fault=Fault(body="oversize")),
    Case("empty", "protocol", ("empty response body",), status=200, fault=Fault(body="empty")),
    Case("schema", "protocol", ("usage schema", "storage: required field is missing"), status=200,
         fault=Fault(body="schema")),
]
CASE_IDS = [case.id for case in CASES]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def two_org_config(tmp_path: Path, sim: Simulator, faulty_url: str, faulty_token: str,
                   timeouts: Timeouts = SHORT) -> Path:
    return write_config(tmp_path, f"""
timeout = {{ connect = {timeouts.connect}, read = {timeouts.read} }}
[[org]]
name = "good"
api_url = "{sim.base_url}"
token = "alpha-token"

[[org]]
name = "faulty"
api_url = "{faulty_url}"
token = "{faulty_token}"
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


@pytest.fixture(autouse=True)
def _isolated(isolated_env, tmp_path, monkeypatch):
    """No real user config, data (the usage history) or CUADRA_* variables."""
    for name in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))


# -- CLI outcome -----------------------------------------------------------------------------------


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
    return write_config(tmp_path, f"""
[[org]]
name = "good"
api_url = "{sim.base_url}"
token = "alpha-token"

[[org]]
name = "faulty"
api_url = "{sim.base_url}"
token_url = "{sim.auth_url}"
client_id = "m2m-client"
client_secret = "m2m-secret-do-not-leak"
""")


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


# -- poller outcome: the fault comes after a success -------------------------------------------------


def fleet_for(sim: Simulator, *, token: str = "beta-token", url: str | None = None,
              timeouts: Timeouts = SHORT) -> Fleet:
    return Fleet([
        OrgConfig(name="good", api_url=sim.base_url, token=SecretStr("alpha-token")),
        OrgConfig(name="faulty", api_url=url or sim.base_url, token=SecretStr(token)),
    ], {}, timeouts=timeouts)


def inject(case: Case, sim: Simulator, fleet: Fleet, closed_port: int) -> None:
    """Make the next fetch of ``faulty`` meet the case's fault."""
    if case.fault:
        sim.set_fault("beta", case.fault)
    if case.url:
        client = fleet.clients["faulty"]
        client.url = case.url(sim, closed_port) + "/v1/usage"
    if case.revoke_scope:
        sim.orgs["beta"].scopes = ()
    elif case.token == BAD_TOKEN:
        sim.orgs["beta"].token = "beta-token-rotated"  # the configured token is revoked


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


# -- bounds on requests ----------------------------------------------------------------------------


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


# -- the TUI: header and status line ---------------------------------------------------------------


def tui_app(sim: Simulator, *, faulty_url: str | None = None, faulty_token: str = "beta-token",
            now: Callable[[], datetime] | None = None, interval: float = 30.0) -> CuadraTopApp:
    settings = Settings(refresh_interval=interval, timeout={"connect": 1.0, "read": 0.5}, org=[
        OrgConfig(name="good", api_url=sim.base_url, token=SecretStr("alpha-token")),
        OrgConfig(name="faulty", api_url=faulty_url or sim.base_url, token=SecretStr(faulty_token)),
    ])
    kw = {"now": now} if now else {}
    return make_app(TuiOptions(settings, environ={}, start_org="faulty", rng=random.Random(0), persist_theme=False, **kw))


def header(app: CuadraTopApp) -> str:
    return str(app.query_one("#header", Line).render())


def status(app: CuadraTopApp) -> str:
    line = app.query_one("#status", Line)
    return str(line.render()) if line.display else ""


def screen_text(app: CuadraTopApp) -> str:
    return "\n".join("".join(s.text for s in line) for line in app.screen._compositor.render_strips())  # noqa: SLF001


async def settle(app: CuadraTopApp, pilot, requests: int) -> None:
    """Wait until the faulty org has made ``requests`` requests and decided, then redraw.
    (The pollers start once the connection pools are built, just after the first frame.)"""
    await wait_until(lambda: app.monitor.poller("faulty") is not None)
    poller = app.monitor.poller("faulty")
    await wait_until(lambda: poller.state.requests >= requests and decided(poller))
    await pilot.pause()


TUI_CASES = [
    ("401-static", "STOPPED", ("credential rejected (401", "polling stopped: r retries")),
    ("429", "ERROR", ("rate limited (429", "retry after 30 s", "retry in 2", "last data kept")),
    ("schema", "ERROR", ("storage: required field is missing", "last data kept")),
    ("refused", "ERROR", ("connection refused", "last data kept")),
]


def undo(case: Case, sim: Simulator, fleet: Fleet) -> None:
    sim.set_fault("beta", None)
    sim.orgs["beta"].token = "beta-token"
    sim.orgs["beta"].scopes = ("usage:read",)
    fleet.clients["faulty"].url = sim.base_url + "/v1/usage"


async def test_tui_header_and_status_line_per_fault(sim, closed_port):
    """One session through several faults: each shows its marker in the header and its cause on
    the status line with the last data still on screen; ``r`` after the fix brings it back."""
    app = tui_app(sim)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot, 1)
        poller = app.monitor.poller("faulty")
        assert "faulty" in header(app) and status(app) == ""
        for case_id, marker, words in TUI_CASES:
            case = next(c for c in CASES if c.id == case_id)
            inject(case, sim, app.monitor.fleet, closed_port)
            requests = poller.state.requests
            await pilot.press("r")
            await settle(app, pilot, requests + 1)
            assert poller.state.error is not None, case_id
            assert f" {marker} " in header(app), (case_id, header(app))
            line = status(app)
            for word in words:
                assert word in line, (case_id, line)
            text = screen_text(app)
            assert "Credits" in text and "limit 1,000" in text, (case_id, text)  # the last data is still shown
            await pilot.press("o")  # the overview names the state too
            await pilot.pause()
            assert marker in screen_text(app), case_id
            await pilot.press("2")  # back to the faulty org, fix the fault, refresh
            undo(case, sim, app.monitor.fleet)
            await pilot.press("r")
            await wait_until(lambda: poller.state.error is None and decided(poller))
            await pilot.pause()
            assert status(app) == "" and "ERROR" not in header(app) and "STOPPED" not in header(app), case_id


async def test_tui_fault_before_any_data(sim, closed_port):
    app = tui_app(sim, faulty_url=f"http://127.0.0.1:{closed_port}")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot, 1)
        assert " ERROR " in header(app)
        text = screen_text(app)
        assert "No data yet for faulty: connection refused by 127.0.0.1:" in text
        assert "connection refused" in status(app) and "last data kept" not in status(app)
        await pilot.press("1")
        await pilot.pause()
        assert "ERROR" not in header(app) and "good" in header(app)  # the other org is fine


# -- stale marking ---------------------------------------------------------------------------------


T0 = datetime(2026, 4, 15, 12, 0, 0, tzinfo=timezone.utc)


@dataclass
class Now:
    """A controllable wall clock for the app (``now.at = ...``)."""

    at: datetime = T0

    def __call__(self) -> datetime:
        return self.at


async def test_stale_after_two_intervals_without_fresh_data(sim):
    now = Now()
    app = tui_app(sim, now=now, interval=30.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot, 1)
        assert "0 s ago" in header(app) and "STALE" not in header(app)
        sim.set_fault("beta", Fault(status=503))
        await pilot.press("r")
        await settle(app, pilot, 2)
        assert " ERROR " in header(app)

        now.at = T0 + timedelta(seconds=59)  # under two intervals: an error, not stale yet
        app.main_screen.tick()  # the clock tick, without waiting for it
        assert "59 s ago" in header(app) and "STALE" not in header(app) and " ERROR " in header(app)

        now.at = T0 + timedelta(seconds=61)
        app.main_screen.tick()
        assert " STALE 1m " in header(app), header(app)
        assert "server error 503" in status(app)  # the cause stays on the status line

        now.at = T0 + timedelta(minutes=12, seconds=5)
        app.main_screen.tick()
        assert " STALE 12m " in header(app) and "12 min ago" in header(app)

        now.at = T0 + timedelta(minutes=5, seconds=5)
        await pilot.press("o")
        await pilot.pause()
        table = app.query_one(OverviewTable)
        assert table.get_row("faulty")[-1] == "STALE 5m"
        assert table.get_row("good")[-1] == "STALE 5m"  # the good org's data is 5 min old too
        assert "STALE 5m" in screen_text(app)

        # Fresh data clears it.
        sim.set_fault("beta", None)
        await pilot.press("r")  # in the overview: refresh all
        poller = app.monitor.poller("faulty")
        await wait_until(lambda: poller.state.error is None and decided(poller))
        await pilot.pause()
        assert app.query_one(OverviewTable).get_row("faulty")[-1] == "ok"


async def test_overview_shows_a_two_digit_stale_age_whole(sim):
    now = Now()
    app = tui_app(sim, now=now, interval=30.0)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot, 1)
        now.at = T0 + timedelta(minutes=12, seconds=5)
        await pilot.press("o")
        await pilot.pause()
        assert app.query_one(OverviewTable).get_row("faulty")[-1] == "STALE 12m"
        assert "STALE 12m" in screen_text(app)


def test_stale_boundary_scales_with_the_interval(sim):
    from cuadra_top.api.client import Fetched
    from cuadra_top.api.models import parse_usage
    from cuadra_top.state.poller import OrgState
    from cuadra_top.tui.header import header_text

    body = sim.usage_for("alpha")
    state = OrgState("x", fetched=Fetched(parse_usage(body), body, T0, 0.01))
    for interval in (1.0, 30.0, 300.0):
        fresh = T0 + timedelta(seconds=2 * interval - 0.5)
        old = T0 + timedelta(seconds=2 * interval + 0.5)
        assert state.status(fresh, interval) is Status.OK
        assert state.status(old, interval) is Status.STALE
        assert "STALE" not in header_text(state, fresh, interval, (1, 1)).plain
        assert "STALE" in header_text(state, old, interval, (1, 1)).plain


def test_the_matrix_covers_every_error_kind_of_the_readme():
    kinds = {case.kind for case in CASES}
    assert kinds == {"auth", "permission", "not_found", "rate_limited", "server", "client", "network", "protocol"}
