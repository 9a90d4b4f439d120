"""The usage client against the simulator over real loopback HTTP: a good fetch, and every
failure mapped to its typed error with a one-line message that says what to do."""

from __future__ import annotations

import sys
import time

import httpx
import pytest
from pydantic import SecretStr

from cuadra_top import __version__
from cuadra_top.api.auth import ClientCredentials, StaticToken
from cuadra_top.api.client import UsageClient
from cuadra_top.api.errors import (
    ApiError,
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
from cuadra_top.api.http import MAX_BODY_BYTES, Timeouts, make_http_client
from cuadra_top.api.models import Usage
from cuadra_top.config import OrgConfig
from cuadra_top.simulator import Fault
from cuadra_top.state.fleet import Fleet
from conftest import full_accept_queue  # a loopback port whose connect hangs


def client_for(http: httpx.AsyncClient, url: str, token: str = "alpha-token") -> UsageClient:
    return UsageClient(http, StaticToken(SecretStr(token)), url)


async def error_of(client: UsageClient) -> ApiError:
    with pytest.raises(ApiError) as info:
        await client.fetch()
    return info.value


def assert_one_line(error: ApiError) -> None:
    assert error.message and str(error) == error.message
    assert "\n" not in error.message and len(error.message) < 400
    assert "Traceback" not in error.message


# -- a good fetch ----------------------------------------------------------------------------


async def test_good_fetch_parses_and_keeps_the_raw_body(sim, http):
    fetched = await client_for(http, sim.base_url).fetch()
    sent = sim.usage_for("alpha")  # the fake clock has not moved: exactly what was sent
    assert fetched.raw == sent
    assert fetched.raw["futureField"] == {"nested": [1, 2]} and fetched.raw["quotas"] == {"maxAgents": 5}
    assert set(fetched.raw["credits"]) >= {"isInOverage", "overageCredits", "periodStart"}  # camelCase as sent
    usage = fetched.usage
    assert isinstance(usage, Usage)
    assert usage.credits.used == sent["credits"]["used"] >= 1_000
    assert usage.credits.limit == 10_000 and usage.storage.limit == 10 * 1024**3
    assert usage.plan.tier == "pro" and usage.credits.period_end is not None
    assert usage.unknown_fields == {"futureField": {"nested": [1, 2]}, "quotas": {"maxAgents": 5}}
    assert fetched.rate_limit_remaining == 299
    assert fetched.fetched_at.tzinfo is not None and fetched.elapsed >= 0


async def test_user_agent_and_bearer_reach_the_api(sim, http):
    await client_for(http, sim.base_url + "/").fetch()  # a trailing slash is fine
    [record] = sim.requests("alpha")
    assert record.user_agent == f"cuadra-top/{__version__}"
    assert (record.method, record.path, record.status) == ("GET", "/v1/usage", 200)


async def test_each_org_sees_its_own_usage(sim, http):
    alpha = await client_for(http, sim.base_url, "alpha-token").fetch()
    beta = await client_for(http, sim.base_url, "beta-token").fetch()
    assert alpha.usage.plan.tier == "pro" and beta.usage.plan.tier == "free"
    assert beta.raw == sim.usage_for("beta")
    assert sim.request_count("alpha") == 1 and sim.request_count("beta") == 1


# -- HTTP errors -----------------------------------------------------------------------------


async def test_401_is_auth_error(sim, http):
    error = await error_of(client_for(http, sim.base_url, "wrong-token-value"))
    assert type(error) is AuthError and error.kind == "auth" and not error.retryable
    assert (error.status, error.title, error.detail) == (401, "Unauthorized", "Invalid or expired token.")
    assert "401" in error.message and "Invalid or expired token." in error.message
    assert "wrong-token-value" not in error.message and "wrong-token-value" not in repr(error)
    assert_one_line(error)
    assert sim.request_count() == 1  # a static token is not retried


async def test_403_is_permission_denied_naming_the_scope(sim, http):
    error = await error_of(client_for(http, sim.base_url, "noscope-token"))
    assert type(error) is PermissionDenied and error.kind == "permission" and not error.retryable
    assert (error.status, error.title) == (403, "Forbidden")
    assert error.detail == "Missing required scope: usage:read"
    assert error.missing_scope == "usage:read"
    assert "usage:read scope" in error.message
    assert_one_line(error)


async def test_404_is_not_found_pointing_at_api_url(sim, http):
    client = client_for(http, sim.base_url + "/nope")
    error = await error_of(client)
    assert type(error) is NotFound and error.kind == "not_found" and error.status == 404
    assert "api_url" in error.message and client.url in error.message
    assert_one_line(error)


async def test_429_fault_carries_retry_after(sim, http):
    sim.set_fault("alpha", Fault(status=429, retry_after=7))
    error = await error_of(client_for(http, sim.base_url))
    assert type(error) is RateLimited and error.retryable and error.kind == "rate_limited"
    assert error.status == 429 and error.retry_after == 7.0
    assert "7 s" in error.message and error.title == "Too Many Requests"
    assert_one_line(error)


async def test_429_from_the_real_per_org_limit(sim, http, clock):
    client = client_for(http, sim.base_url, "limited-token")
    assert (await client.fetch()).rate_limit_remaining == 1
    clock.advance(10)
    assert (await client.fetch()).rate_limit_remaining == 0
    clock.advance(5)
    error = await error_of(client)
    assert isinstance(error, RateLimited) and error.status == 429
    assert error.retry_after == 45.0  # the oldest request frees its slot 60 s after it was made
    assert "Rate limit exceeded" in error.message
    clock.advance(45)
    assert (await client.fetch()).usage is not None


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_server_error_with_the_api_detail(sim, http, status):
    sim.set_fault("alpha", Fault(status=status))
    error = await error_of(client_for(http, sim.base_url))
    assert type(error) is ServerError and error.retryable and error.kind == "server"
    assert error.status == status and error.detail and error.detail.startswith("Injected fault")
    assert error.detail in error.message and str(status) in error.message
    assert_one_line(error)


async def test_5xx_html_page_is_server_error(sim, http):
    sim.set_fault("alpha", Fault(body="html"))
    error = await error_of(client_for(http, sim.base_url))
    assert type(error) is ServerError and error.status == 502
    assert "HTML" in error.message and "<" not in error.message
    assert_one_line(error)


async def test_other_4xx_is_client_error(sim, http):
    sim.set_fault("alpha", Fault(status=402))
    error = await error_of(client_for(http, sim.base_url))
    assert type(error) is ClientError and not error.retryable and error.status == 402
    assert_one_line(error)


# -- network errors ------------------------------------------------------------------------


async def test_connection_refused(http, closed_port):
    error = await error_of(client_for(http, f"http://127.0.0.1:{closed_port}"))
    assert type(error) is NetworkError and error.retryable and error.kind == "network"
    assert "refused" in error.message and str(closed_port) in error.message and error.status is None
    assert_one_line(error)


async def test_dns_failure_fails_fast():
    async with make_http_client(Timeouts(connect=5, read=5)) as http:
        started = time.monotonic()
        error = await error_of(client_for(http, "https://api.cuadra-top-test.invalid"))
    assert type(error) is NetworkError
    assert "DNS" in error.message and "api.cuadra-top-test.invalid" in error.message
    assert_one_line(error)
    assert time.monotonic() - started < 30  # generous: only guards against a hang


async def test_read_timeout_on_a_hung_answer(sim):
    sim.set_fault("alpha", Fault(hang=True))
    async with make_http_client(Timeouts(connect=1, read=0.5)) as http:
        started = time.monotonic()
        error = await error_of(client_for(http, sim.base_url))
        assert time.monotonic() - started >= 0.4
    assert type(error) is NetworkError and error.retryable
    assert "read timeout" in error.message
    assert_one_line(error)
    assert sim.requests("alpha")[-1].status == 0  # the simulator really left it hanging


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
async def test_connect_timeout():
    with full_accept_queue() as port:  # later SYNs are dropped, so connect hangs
        async with make_http_client(Timeouts(connect=0.5, read=5)) as http:
            error = await error_of(client_for(http, f"http://127.0.0.1:{port}"))
    assert type(error) is NetworkError
    assert "connect timeout" in error.message
    assert_one_line(error)


async def test_tls_error(sim, http):
    url = sim.base_url.replace("http://", "https://")  # TLS to a plain-HTTP port
    error = await error_of(client_for(http, url))
    assert type(error) is NetworkError and "TLS" in error.message
    assert_one_line(error)


# -- answers that are not a usage document ----------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault(body="malformed"), "not valid JSON"),
        (Fault(body="html", status=200), "HTML page instead of JSON"),
        (Fault(body="truncated"), "truncated"),
        (Fault(body="empty"), "empty response body"),
        (Fault(body="oversize"), f"cap is {MAX_BODY_BYTES}"),
        (Fault(body="schema"), "usage schema: storage: required field is missing"),
    ],
    ids=["malformed", "html", "truncated", "empty", "oversize", "schema"],
)
async def test_protocol_errors(sim, http, fault, words):
    sim.set_fault("alpha", fault)
    error = await error_of(client_for(http, sim.base_url))
    assert type(error) is ProtocolError and error.kind == "protocol" and error.retryable
    assert words in error.message
    assert_one_line(error)
    # The client is not broken by it: the next answer parses again.
    sim.set_fault("alpha", None)
    assert (await client_for(http, sim.base_url).fetch()).raw == sim.usage_for("alpha")


@pytest.mark.parametrize(
    ("credits", "field"),
    [
        ({"used": "lots", "limit": 10}, "credits.used"),
        ({"used": -5, "limit": 10}, "credits.used"),
        ({"used": 5}, "credits.limit"),
    ],
)
async def test_schema_error_names_the_field(sim, http, make_org, credits, field):
    sim.add_org(make_org("odd", extra_fields={"credits": credits}))
    error = await error_of(client_for(http, sim.base_url, "odd-token"))
    assert type(error) is ProtocolError
    assert f"schema: {field}:" in error.message
    assert_one_line(error)


# -- insecure URLs and the shared pool -------------------------------------------------------


@pytest.mark.parametrize("url", ["http://api.cuadra.ai", "http://10.0.0.1:8080", "ftp://api.cuadra.ai", "api.cuadra.ai"])
async def test_insecure_url_refused_before_any_request(url):
    sent: list[httpx.Request] = []

    async def count(request: httpx.Request) -> None:
        sent.append(request)

    async with make_http_client() as http:
        http.event_hooks["request"] = [count]
        with pytest.raises(InsecureURL) as info:
            client_for(http, url)
        with pytest.raises(InsecureURL):
            ClientCredentials("cid", SecretStr("shhh-secret"), url)
    assert sent == []
    assert info.value.kind == "config" and "\n" not in info.value.message
    if url.startswith("http://"):
        assert "https://" in info.value.message


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "http://localhost:8787/", "http://[::1]:9", "https://api.cuadra.ai/"])
async def test_loopback_http_and_https_accepted(http, url):
    assert client_for(http, url).url == url.rstrip("/") + "/v1/usage"


async def test_fleet_clients_share_one_connection_pool(sim):
    orgs = [
        OrgConfig(name="a", api_url=sim.base_url, token=SecretStr("alpha-token")),
        OrgConfig(name="b", api_url=sim.base_url, token=SecretStr("beta-token")),
    ]
    fleet = Fleet(orgs, {})
    try:
        assert fleet.names == ["a", "b"]
        assert fleet.clients["a"].http is fleet.http and fleet.clients["b"].http is fleet.http
        results = await fleet.fetch_all()
        assert [r.name for r in results] == ["a", "b"] and all(r.ok for r in results)
        assert results[0].fetched.raw == sim.usage_for("alpha")
        assert results[1].fetched.raw == sim.usage_for("beta")
    finally:
        await fleet.aclose()
    assert fleet.http.is_closed


async def test_fleet_returns_errors_instead_of_raising(sim):
    orgs = [
        OrgConfig(name="good", api_url=sim.base_url, token=SecretStr("alpha-token")),
        OrgConfig(name="bad", api_url=sim.base_url, token=SecretStr("bad-token-xyz")),
    ]
    async with Fleet(orgs, {}) as fleet:
        good, bad = await fleet.fetch_all()
    assert good.ok and good.error is None
    assert not bad.ok and isinstance(bad.error, AuthError) and bad.fetched is None
