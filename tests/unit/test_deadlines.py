"""Every request, and every fetch, has an overall deadline: a server that drips its answer one
byte at a time never trips a read timeout (each byte arrives in time), so only a deadline on
the whole request ends it. A slow org never holds back the others' output."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from cuadra_top.api.errors import NetworkError
from cuadra_top.api.http import Timeouts, make_http_client, request_deadline
from cuadra_top.cli import main
from cuadra_top.config import OrgConfig
from cuadra_top.simulator import Fault
from cuadra_top.state.fleet import Fleet

QUICK = Timeouts(connect=0.5, read=1.0)
DEADLINE = 1.5  # connect + read
SLACK = 1.5
DRIP = Fault(drip=0.05)
"""A byte every 50 ms: each read succeeds well within the 1 s read timeout, and the whole
usage body (~600 bytes) would take half a minute."""


def org(sim, name: str, token: str, **kw) -> OrgConfig:
    return OrgConfig(name=name, api_url=sim.base_url, token=SecretStr(token), **kw)


def test_the_deadline_is_connect_plus_read():
    assert request_deadline(make_http_client(Timeouts(connect=2, read=7)).timeout) == 9


async def test_the_simulator_drips_the_body(sim, http):
    """The drip fault itself: the normal body, sent a byte at a time."""
    sim.set_fault("alpha", Fault(drip=0.002))
    started = time.monotonic()
    response = await http.get(sim.base_url + "/v1/usage", headers={"Authorization": "Bearer alpha-token"})
    assert time.monotonic() - started >= 0.002 * (len(response.content) - 1)
    assert response.json() == sim.usage_for("alpha")


async def test_a_dripping_org_ends_at_the_deadline_and_the_healthy_one_is_fine(sim):
    sim.set_fault("beta", DRIP)
    async with Fleet([org(sim, "healthy", "alpha-token"), org(sim, "dripping", "beta-token")], {},
                     timeouts=QUICK) as fleet:
        started = time.monotonic()
        healthy, dripping = await fleet.fetch_all()
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + SLACK, f"fetch_all took {elapsed:.1f} s"
    assert healthy.ok and healthy.fetched.raw == sim.usage_for("alpha")
    assert isinstance(dripping.error, NetworkError) and dripping.error.retryable
    message = dripping.error.message
    assert f"{sim.base_url.removeprefix('http://')} sent its answer too slowly" in message
    assert f"no complete answer within {DEADLINE:g} s" in message


async def test_a_dripping_token_endpoint_ends_at_the_deadline(sim):
    sim.set_auth_fault(DRIP)
    m2m = OrgConfig(name="m2m", api_url=sim.base_url, token_url=sim.auth_url, client_id="m2m-client",
                    client_secret=SecretStr("m2m-secret-do-not-leak"))
    async with Fleet([m2m], {}, timeouts=QUICK) as fleet:
        started = time.monotonic()
        [result] = await fleet.fetch_all()
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + SLACK
    assert isinstance(result.error, NetworkError) and "sent its answer too slowly" in result.error.message


class Hanging:
    """A credential that never yields a token: only the fetch's own bound can end the wait."""

    describe = "hanging"
    refreshable = False

    async def bearer(self, http) -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    def invalidate(self) -> None:
        pass


async def test_a_whole_fetch_is_bounded_too(sim):
    async with Fleet([org(sim, "healthy", "alpha-token"), org(sim, "stuck", "beta-token")], {},
                     timeouts=QUICK, fetch_deadline=1.0) as fleet:
        fleet.clients["stuck"].credential = Hanging()
        started = time.monotonic()
        healthy, stuck = await fleet.fetch_all()
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + SLACK
    assert healthy.ok
    assert isinstance(stuck.error, NetworkError)
    assert "no complete answer within 1 s" in stuck.error.message


def test_the_fetch_bound_leaves_room_for_a_token_a_request_and_one_retry(sim):
    """Derived, not configured: two rounds of (token_command or token request) + usage request,
    so the per-request deadlines, with their clearer messages, always end first."""
    from cuadra_top.api.auth import TOKEN_COMMAND_TIMEOUT

    fleet = Fleet([org(sim, "a", "alpha-token")], {}, timeouts=Timeouts(connect=2, read=3))
    assert fleet.fetch_deadline > 2 * (5 + max(5, TOKEN_COMMAND_TIMEOUT))
    asyncio.run(fleet.aclose())


def test_once_prints_every_org_despite_a_dripping_one(sim, tmp_path, capsys, isolated_env):
    """The issue's case: `--once` with a dripping org printed nothing at all, even for the
    healthy org, until it was killed."""
    sim.set_fault("beta", DRIP)
    config = tmp_path / "config.toml"
    config.write_text(f"""
timeout = {{ connect = {QUICK.connect}, read = {QUICK.read} }}
history = false
[[org]]
name = "healthy"
api_url = "{sim.base_url}"
token = "alpha-token"

[[org]]
name = "dripping"
api_url = "{sim.base_url}"
token = "beta-token"
""")
    config.chmod(0o600)
    started = time.monotonic()
    code = main(["--once", "--json", "--config", str(config)])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert elapsed < DEADLINE + SLACK + 1
    orgs = {o["name"]: o for o in json.loads(out)["orgs"]}
    assert code == 1 and orgs["healthy"]["ok"] is True
    assert orgs["dripping"]["error"]["kind"] == "network"
    assert "too slowly" in orgs["dripping"]["error"]["message"]
