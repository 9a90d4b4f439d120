"""Credentials against the simulator's token endpoint, over real loopback HTTP: tokens cached
and fetched again when they expire or are revoked, failures typed, secrets never shown."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from cuadra_top import __version__
from cuadra_top.api.auth import ClientCredentials, CommandToken, StaticToken
from cuadra_top.api.client import UsageClient
from cuadra_top.api.errors import ApiError, AuthError, ProtocolError, RateLimited, ServerError
from cuadra_top.simulator import Fault

TOKEN_PATH = "/v1/oauth2/token"
SECRET = "m2m-secret-do-not-leak"  # the sim fixture's m2m org (token_ttl=100)


def m2m(sim, clock, secret: str = SECRET, client_id: str = "m2m-client") -> ClientCredentials:
    return ClientCredentials(client_id, SecretStr(secret), sim.auth_url, clock=clock)


def token_posts(sim) -> int:
    return sim.request_count(path=TOKEN_PATH)


def python_command(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    shown = [str(error), repr(error), *map(str, error.args)]
    if isinstance(error, ApiError):
        shown += [error.message, str(error.title), str(error.detail), repr(error.as_dict())]
    for secret in secrets:
        for text in shown:
            assert secret not in text


# -- client credentials ------------------------------------------------------------------------


async def test_token_fetched_once_and_reused(sim, clock, http):
    cred = m2m(sim, clock)
    client = UsageClient(http, cred, sim.base_url)
    for _ in range(3):
        fetched = await client.fetch()
        assert fetched.raw == sim.usage_for("m2m")
    assert token_posts(sim) == 1 and cred.fetches == 1
    assert [r.status for r in sim.requests("m2m", path="/v1/usage")] == [200, 200, 200]
    [post] = sim.requests(path=TOKEN_PATH)
    assert (post.method, post.org, post.status) == ("POST", "m2m", 200)
    assert post.user_agent == f"cuadra-top/{__version__}"


async def test_concurrent_fetches_share_one_token_request(sim, clock, http):
    cred = m2m(sim, clock)
    client = UsageClient(http, cred, sim.base_url)
    results = await asyncio.gather(*(client.fetch() for _ in range(6)))
    assert len(results) == 6
    assert token_posts(sim) == 1 and sim.request_count("m2m") == 6


async def test_token_fetched_again_before_expiry(sim, clock, http):
    # ttl 100 s: the margin is min(60, 10% of 100) = 10 s, so a new token from t+90 on.
    cred = m2m(sim, clock)
    client = UsageClient(http, cred, sim.base_url)
    await client.fetch()
    clock.advance(89)
    await client.fetch()
    assert token_posts(sim) == 1
    clock.advance(2)
    await client.fetch()
    assert token_posts(sim) == 2
    clock.advance(50)
    await client.fetch()
    assert token_posts(sim) == 2
    # Never sent an expired token: no 401 on the way.
    assert [r.status for r in sim.requests(path="/v1/usage")] == [200] * 4


async def test_long_lived_token_margin_is_60_seconds(sim, clock, http, make_org):
    sim.add_org(make_org("hourly", client_id="hourly-id", client_secret="hourly-secret", token_ttl=3600))
    cred = m2m(sim, clock, "hourly-secret", "hourly-id")
    client = UsageClient(http, cred, sim.base_url)
    await client.fetch()
    clock.advance(3539)
    await client.fetch()
    assert token_posts(sim) == 1
    clock.advance(2)
    await client.fetch()
    assert token_posts(sim) == 2


async def test_revoked_token_is_replaced_and_the_call_retried_once(sim, clock, http):
    cred = m2m(sim, clock)
    client = UsageClient(http, cred, sim.base_url)
    await client.fetch()
    sim.revoke_tokens("m2m")
    fetched = await client.fetch()
    assert fetched.raw == sim.usage_for("m2m")
    assert token_posts(sim) == 2
    # The revoked token no longer names an org, so its 401 is recorded without one.
    assert [r.status for r in sim.requests(path="/v1/usage")] == [200, 401, 200]


async def test_bad_client_secret_is_auth_error_without_the_secret(sim, clock, http):
    wrong = "wrong-secret-0123456789"
    client = UsageClient(http, m2m(sim, clock, wrong), sim.base_url)
    with pytest.raises(AuthError) as info:
        await client.fetch()
    error = info.value
    assert error.status == 401 and error.detail == "Invalid client credentials."
    assert "client_secret" in error.message and "\n" not in error.message
    assert_no_secret(error, wrong, SECRET)
    assert token_posts(sim) == 1 and sim.request_count() == 0  # no usage request without a token
    # Not retried on the next poll either until asked: one more fetch is one more POST, no loop.
    with pytest.raises(AuthError):
        await client.fetch()
    assert token_posts(sim) == 2


async def test_bad_client_secret_directly_from_bearer(sim, clock, http):
    cred = m2m(sim, clock, "another-wrong-secret")
    with pytest.raises(AuthError) as info:
        await cred.bearer(http)
    assert_no_secret(info.value, "another-wrong-secret")
    assert "another-wrong-secret" not in repr(cred) and "another-wrong-secret" not in repr(vars(cred))


async def test_token_endpoint_5xx_is_server_error(sim, clock, http):
    sim.set_auth_fault(Fault(status=503, times=1))
    client = UsageClient(http, m2m(sim, clock), sim.base_url)
    with pytest.raises(ServerError) as info:
        await client.fetch()
    error = info.value
    assert error.status == 503 and error.retryable and "token endpoint" in error.message
    assert error.detail and error.detail in error.message
    assert_no_secret(error, SECRET)
    assert sim.request_count() == 0
    # The fault is gone: the next fetch gets a token and the usage.
    assert (await client.fetch()).raw == sim.usage_for("m2m")
    assert token_posts(sim) == 2


async def test_token_endpoint_html_5xx_is_server_error(sim, clock, http):
    sim.set_auth_fault(Fault(body="html"))
    with pytest.raises(ServerError) as info:
        await UsageClient(http, m2m(sim, clock), sim.base_url).fetch()
    assert info.value.status == 502 and "<" not in info.value.message


async def test_token_endpoint_429_is_rate_limited_not_a_credential_error(sim, clock, http):
    sim.set_auth_fault(Fault(status=429, retry_after=4))
    with pytest.raises(RateLimited) as info:
        await UsageClient(http, m2m(sim, clock), sim.base_url).fetch()
    error = info.value
    assert error.retryable and error.status == 429 and error.retry_after == 4.0
    assert "token endpoint" in error.message
    assert_no_secret(error, SECRET)


@pytest.mark.parametrize(("body", "words"), [("malformed", "not valid JSON"), ("schema", "no access_token"),
                                             ("empty", "empty response body")])
async def test_token_endpoint_bad_answers_are_protocol_errors(sim, clock, http, body, words):
    sim.set_auth_fault(Fault(body=body))
    with pytest.raises(ProtocolError) as info:
        await UsageClient(http, m2m(sim, clock), sim.base_url).fetch()
    assert words in info.value.message
    assert_no_secret(info.value, SECRET)


# -- token_command ------------------------------------------------------------------------------


def counting_command(tmp_path: Path, token: str) -> tuple[str, Path]:
    """A command printing ``token`` and appending a line to a file each time it runs."""
    runs = tmp_path / "runs"
    code = f"open({str(runs)!r}, 'a').write('run\\n'); print({token!r})"
    return python_command(code), runs


def run_count(runs: Path) -> int:
    return len(runs.read_text().splitlines()) if runs.exists() else 0


async def test_token_command_runs_once_and_its_token_works(sim, http, tmp_path):
    command, runs = counting_command(tmp_path, "alpha-token")
    client = UsageClient(http, CommandToken(command), sim.base_url)
    assert (await client.fetch()).raw == sim.usage_for("alpha")
    assert (await client.fetch()).raw == sim.usage_for("alpha")
    assert run_count(runs) == 1 and sim.request_count("alpha") == 2


async def test_token_command_rerun_once_after_401(sim, http, tmp_path):
    command, runs = counting_command(tmp_path, "printed-token-not-valid")
    client = UsageClient(http, CommandToken(command), sim.base_url)
    with pytest.raises(AuthError) as info:
        await client.fetch()
    assert info.value.status == 401
    assert run_count(runs) == 2  # asked again once after the 401...
    assert sim.request_count() == 2  # ...and the call retried once, not in a loop
    assert_no_secret(info.value, "printed-token-not-valid")


async def test_token_command_failing(http, sim):
    command = python_command("import sys; sys.stderr.write('vault is locked\\n'); sys.exit(3)")
    with pytest.raises(AuthError) as info:
        await UsageClient(http, CommandToken(command), sim.base_url).fetch()
    assert "exited with status 3" in info.value.message and "vault is locked" in info.value.message
    assert "\n" not in info.value.message
    assert sim.request_count() == 0


async def test_token_command_hanging_times_out(http, sim):
    command = python_command("import time; time.sleep(60)")
    started = time.monotonic()
    with pytest.raises(AuthError) as info:
        await UsageClient(http, CommandToken(command, timeout=0.5), sim.base_url).fetch()
    assert "did not finish" in info.value.message
    assert time.monotonic() - started < 30  # generous: only guards against waiting the full minute
    assert sim.request_count() == 0


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("/nonexistent/cuadra-token-helper --get", "could not start"),
        (python_command("print('one'); print('two')"), "exactly one line"),
        (python_command("pass"), "exactly one line"),
    ],
)
async def test_token_command_bad_output(http, sim, command, words):
    with pytest.raises(AuthError) as info:
        await UsageClient(http, CommandToken(command), sim.base_url).fetch()
    assert words in info.value.message


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("   ", "token_command is empty; give a command that prints the token"),
        ("helper --name 'unclosed", "token_command cannot be split into words (No closing quotation); check its quotes"),
    ],
)
async def test_token_command_that_is_no_command_says_what_to_fix(http, sim, command, words):
    with pytest.raises(AuthError) as info:
        await UsageClient(http, CommandToken(command), sim.base_url).fetch()
    assert info.value.message == words
    assert sim.request_count() == 0


# -- static tokens ---------------------------------------------------------------------------


async def test_static_token_is_never_retried_on_401(sim, http):
    secret = "static-secret-token-xyz"
    client = UsageClient(http, StaticToken(SecretStr(secret)), sim.base_url)
    with pytest.raises(AuthError) as info:
        await client.fetch()
    assert sim.request_count() == 1
    assert_no_secret(info.value, secret)
    assert secret not in repr(client.credential.__dict__)


async def test_static_token_works(sim, http):
    client = UsageClient(http, StaticToken(SecretStr("beta-token")), sim.base_url)
    assert (await client.fetch()).raw == sim.usage_for("beta")
