"""Which account an org's history belongs to (issue 10, defect 9): the identity of each kind of
credential, never a secret; the series key; and two configs named alike kept apart end to end."""

from __future__ import annotations

import base64
import json
import shlex
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import schema_1_file  # the schema-1 SQL, verbatim
from pydantic import SecretStr

from cuadra_top.api.auth import ClientCredentials, CommandToken, StaticToken
from cuadra_top.api.claims import ORG_CLAIMS, org_claim
from cuadra_top.api.models import parse_usage
from cuadra_top.cli import main
from cuadra_top.state.history import History, default_history_path
from cuadra_top.state.identity import series_key

API = "https://api.cuadra.ai"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict, signature: str = "c2lnbmF0dXJl") -> str:
    return f"{b64(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}.{signature}"


# -- the claim ---------------------------------------------------------------------------------

@pytest.mark.parametrize("claim", ORG_CLAIMS)
def test_every_usual_org_claim_is_read(claim):
    assert org_claim(jwt({"sub": "someone", claim: "acme-42"})) == "acme-42"


@pytest.mark.parametrize("claims, expected", [
    ({"https://cuadra.ai/org_id": "org_7"}, "org_7"),  # a namespaced custom claim
    ({"org": {"id": "org_9", "name": "Acme"}}, "org_9"),  # nested, as some providers do
    ({"org_id": 12345}, "12345"),
    ({"tenant_id": "t-1", "org_id": "o-1"}, "o-1"),  # the more specific claim wins
    ({"org_id": "", "tid": "t-2"}, "t-2"),
    ({"sub": "client@clients", "scope": "usage:read"}, None),  # no org claim
    ({"org_id": True}, None),
    ({"org_id": ["a"]}, None),
    ({"org_id": "x" * 1000}, None),
    ({"org_id": "line\nbreak"}, None),
])
def test_claim_values(claims, expected):
    assert org_claim(jwt(claims)) == expected


@pytest.mark.parametrize("token", [
    "", "opaque-token-123", "a.b", "a.b.c.d.e", "x.!!!.y", f"h.{b64(b'not json')}.s", f"h.{b64(b'[1, 2]')}.s",
    f"h.{b64(bytes([0xff, 0xfe]))}.s", f"h.{b64(b'[' * 100_000)}.s", "h." + "A" * 20_000 + ".s",
])
def test_anything_else_is_no_claim(token):
    assert org_claim(token) is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.text(), st.text(), st.text()),
                 st.builds(lambda raw: f"h.{b64(raw)}.s", st.binary())))
def test_org_claim_never_raises(token):
    result = org_claim(token)
    assert result is None or (isinstance(result, str) and result.isprintable())


# -- each kind of credential ------------------------------------------------------------------

def test_a_static_jwt_is_known_by_its_org_claim_and_a_rotated_one_too():
    first = StaticToken(SecretStr(jwt({"org_id": "acme", "jti": "1", "exp": 1})))
    rotated = StaticToken(SecretStr(jwt({"org_id": "acme", "jti": "2", "exp": 2}, signature="b3RoZXI")))
    other = StaticToken(SecretStr(jwt({"org_id": "globex", "jti": "3"})))
    assert first.identity == rotated.identity == "org:acme" and other.identity == "org:globex"
    assert series_key(API, first, "default") == series_key(API, rotated, "renamed") == f"{API} org:acme"
    assert series_key(API, first, "default") != series_key(API, other, "default")


def test_an_opaque_token_falls_back_to_the_name_and_a_rotated_one_keeps_it():
    token = StaticToken(SecretStr("opaque-secret-aaaa"))
    assert token.identity is None
    assert series_key(API, token, "default") == series_key(API, StaticToken(SecretStr("opaque-secret-bbbb")), "default")
    assert series_key(API, token, "default") == f"{API} name:default"


def test_client_credentials_are_known_by_their_client_id_never_the_secret():
    credential = ClientCredentials("client-123", SecretStr("s3cret-value"), "https://auth.cuadra.ai/v1/oauth2/token")
    assert credential.identity == "client:client-123"
    key = series_key(API, credential, "acme")
    assert key == f"{API} client:client-123" and "s3cret" not in key


def test_no_key_ever_holds_the_secret():
    secret_jwt = jwt({"sub": "x"})  # a JWT with no org claim: the fallback, not the token
    for credential, secret in [(StaticToken(SecretStr(secret_jwt)), secret_jwt),
                               (StaticToken(SecretStr("opaque-secret-cccc")), "opaque-secret-cccc")]:
        key = series_key(API, credential, "acme")
        assert key is not None and secret not in key
        assert not any(part in key for part in secret.split(".") if len(part) > 4)


@pytest.mark.parametrize("url, expected", [
    ("https://API.Cuadra.ai/", "https://api.cuadra.ai"),
    ("https://api.cuadra.ai/base/", "https://api.cuadra.ai/base"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
])
def test_the_key_names_the_api_without_its_trailing_slash(url, expected):
    assert series_key(url, StaticToken(SecretStr("opaque-token-1")), "acme") == f"{expected} name:acme"


async def test_a_token_command_is_known_after_its_first_run(http, sim):
    token = jwt({"org_id": "acme-cmd"})
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(f'print({token!r})')}"
    credential = CommandToken(command)
    assert not credential.identity_settled and series_key(API, credential, "cmd") is None
    assert await credential.bearer(http) == token
    assert credential.identity_settled and series_key(API, credential, "cmd") == f"{API} org:acme-cmd"


# -- end to end: --once -------------------------------------------------------------------------

def config_for(tmp_path, sim, org: str, name: str = "default", token: str | None = None) -> str:
    path = tmp_path / f"{org}-{name}.toml"
    path.write_text(f'[[org]]\nname = "{name}"\ntoken = "{token or sim.orgs[org].token}"\napi_url = "{sim.base_url}"\n')
    path.chmod(0o600)
    return str(path)


def test_two_configs_naming_two_accounts_default_keep_two_histories(tmp_path, start_sim, make_org, capsys):
    """The issue's set-up: two --once runs (cron jobs) named 'default', with two accounts'
    tokens (JWTs with their org claims), taking turns. Each account has its own series."""
    sim = start_sim([make_org("low", token=jwt({"org_id": "acct-low"}), credits_used_at_start=7_500),
                     make_org("high", token=jwt({"org_id": "acct-high"}), credits_used_at_start=2_000_000,
                              credit_limit=5_000_000)])
    configs = {org: config_for(tmp_path, sim, org) for org in ("low", "high")}
    for _ in range(3):
        for org in ("low", "high"):
            assert main(["--once", "--config", configs[org]]) == 0
    capsys.readouterr()
    with History(default_history_path()) as history:
        low = history.samples(f"{sim.base_url} org:acct-low", name="default")
        high = history.samples(f"{sim.base_url} org:acct-high", name="default")
    assert len(low) == len(high) == 3
    assert all(s.credits_used < 10_000 for s in low) and all(s.credits_used >= 2_000_000 for s in high)


def test_a_rotated_token_of_the_same_org_keeps_its_history(tmp_path, start_sim, make_org, capsys):
    first = jwt({"org_id": "acct-1", "jti": "a"})
    sim = start_sim([make_org("acme", token=first)])
    assert main(["--once", "--config", config_for(tmp_path, sim, "acme", token=first)]) == 0
    rotated = jwt({"org_id": "acct-1", "jti": "b"}, signature="cm90YXRlZA")
    sim.orgs["acme"].token = rotated
    assert main(["--once", "--config", config_for(tmp_path, sim, "acme", name="acme-renamed", token=rotated)]) == 0
    capsys.readouterr()
    with History(default_history_path()) as history:
        assert len(history.samples(f"{sim.base_url} org:acct-1", name="acme")) == 2


def test_a_schema_1_history_still_gives_its_forecast_after_the_upgrade(tmp_path, start_sim, make_org, capsys):
    """An existing user's history (schema 1, keyed by name, as a cron job left it) is migrated
    and still gives --json its forecast: nothing is lost on upgrade."""
    sim = start_sim([make_org("alpha", burn_per_hour=0.0)], clock=time.time)
    now = datetime.now(timezone.utc)
    if now - timedelta(hours=7) < now.replace(day=1, hour=0, minute=0, second=0, microsecond=0):
        pytest.skip("the simulator's billing period began less than 7 hours ago")
    credits = parse_usage(sim.usage_for("alpha")).credits
    storage = parse_usage(sim.usage_for("alpha")).storage
    schema_1_file(default_history_path(), [
        ("alpha", now - timedelta(minutes=5 * step), credits.used - 10 * step, credits.limit, None, None,
         storage.used, storage.limit, credits.period_start, credits.period_end)
        for step in range(72, 0, -1)
    ])
    assert main(["--once", "--json", "--config", config_for(tmp_path, sim, "alpha", name="alpha")]) == 0
    forecast = json.loads(capsys.readouterr().out)["orgs"][0]["forecast"]
    assert forecast["burn_rate_per_day"] == pytest.approx(10 * 12 * 24, rel=0.2)
    assert forecast["basis_hours"] >= 5.9
