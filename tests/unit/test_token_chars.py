"""Tokens that cannot go into an HTTP header (a space, a tab, a control character, non-ASCII):
before, httpx refused them at send time and the poller retried "network errors" forever.
Now: from the config or the environment, a config error naming the key or the variable (never
the value); from a token_command or the token endpoint, an error the poller does not retry.
A single trailing newline (what ``echo`` and password managers print) is not part of a token."""

from __future__ import annotations

import random
import shlex
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from cuadra_top.api.auth import ClientCredentials, CommandToken, StaticToken
from cuadra_top.api.client import UsageClient
from cuadra_top.api.errors import AuthError
from cuadra_top.config import ConfigError, OrgConfig, check_credentials, load_config as load_config_file
from cuadra_top.simulator import Fault
from cuadra_top.state.fleet import Fleet
from cuadra_top.state.poller import next_delay

BAD = {
    "space-at-end": ("alpha-token ", "space at its end"),
    "space-at-start": (" alpha-token", "space at its start"),
    "space-inside": ("alpha token", "space inside it"),
    "tab": ("alpha\ttoken", "tab"),
    "nul": ("alpha\x00token", "control character"),
    "escape": ("alpha\x1b[2Jtoken", "control character"),
    "del": ("alpha\x7ftoken", "control character"),
    "line-break-inside": ("alpha\ntoken", "line break"),
    "carriage-return": ("alpha-token\r", "line break at its end"),
    "non-ascii": ("alpha-tökén", "non-ASCII character"),
    "c1": ("alpha\x85token", "non-ASCII character"),
    "line-separator": ("alpha\u2028token", "non-ASCII character"),
}
IDS = list(BAD)



def load_config(path, environ):
    """Load and check every org's credential, as ``config validate`` (and a run of every org) does."""
    loaded = load_config_file(path, environ)
    check_credentials(loaded, environ)
    return loaded

def python_command(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string, every character escaped so the file stays valid."""
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in value) + '"'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def assert_names_not_echoes(message: str, name: str, value: str, what: str) -> None:
    assert name in message and what in message, message
    assert value.strip() not in message and "alpha" not in message
    assert "\n" not in message and "visible ASCII" in message


# -- the config and the environment: ConfigError at load -----------------------------------------


@pytest.mark.parametrize("case", IDS)
def test_a_literal_token_with_a_bad_character_is_a_config_error(tmp_path, case):
    value, what = BAD[case]
    path = write(tmp_path, f'[[org]]\nname = "acme"\ntoken = {toml_string(value)}\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {})
    assert_names_not_echoes(str(info.value), "key token", value, what)


@pytest.mark.parametrize("case", IDS)
def test_a_token_env_value_with_a_bad_character_is_a_config_error(tmp_path, case):
    value, what = BAD[case]
    path = write(tmp_path, '[[org]]\nname = "acme"\ntoken_env = "ACME_TOKEN"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {"ACME_TOKEN": value})
    assert_names_not_echoes(str(info.value), "$ACME_TOKEN", value, what)


@pytest.mark.parametrize("case", ["space-inside", "non-ascii", "escape"])
def test_cuadra_token_with_a_bad_character_is_a_config_error(tmp_path, case):
    value, what = BAD[case]
    with pytest.raises(ConfigError) as info:
        load_config(None, {"CUADRA_TOKEN": value, "CUADRA_TOP_CONFIG": ""})
    assert_names_not_echoes(str(info.value), "$CUADRA_TOKEN", value, what)
    # ...and for an org of a file that has no credential of its own.
    path = write(tmp_path, '[[org]]\nname = "acme"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {"CUADRA_TOKEN": value})
    assert_names_not_echoes(str(info.value), "$CUADRA_TOKEN", value, what)


@pytest.mark.parametrize("case", ["space-at-end", "non-ascii", "nul"])
def test_a_client_id_with_a_bad_character_is_a_config_error(tmp_path, case):
    value, what = BAD[case]
    path = write(tmp_path, f'[[org]]\nname = "acme"\nclient_id = {toml_string(value)}\nclient_secret = "s3cret-x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {})
    assert "key client_id" in str(info.value) and what in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(None, {"CUADRA_CLIENT_ID": value, "CUADRA_CLIENT_SECRET": "s3cret-x"})
    assert "$CUADRA_CLIENT_ID" in str(info.value) and what in str(info.value)


def test_a_trailing_newline_is_not_part_of_the_token(tmp_path):
    path = write(tmp_path, '[[org]]\nname = "acme"\ntoken_env = "ACME_TOKEN"\n')
    for value in ("alpha-token\n", "alpha-token\r\n"):
        load_config(str(path), {"ACME_TOKEN": value})


# -- token_command and the token endpoint: an error the poller does not retry --------------------


@pytest.mark.parametrize("case", IDS)
async def test_token_command_printing_a_bad_token_stops_the_poller(sim, case):
    value, what = BAD[case]
    command = python_command(f"import sys; sys.stdout.write({value!r})")
    async with Fleet([OrgConfig(name="cmd", api_url=sim.base_url, token_command=command)], {}) as fleet:
        result = await fleet.fetch("cmd")
    error = result.error
    assert isinstance(error, AuthError), error
    assert "token_command printed" in error.message and what in error.message
    assert "alpha" not in error.message and "\n" not in error.message
    assert next_delay(error, 1, 30.0, random.Random(1)) is None  # stopped until `r`, not retried
    assert sim.request_count() == 0


@pytest.mark.parametrize("output", ["alpha-token\n", "alpha-token\r\n", "alpha-token"])
async def test_token_command_output_loses_one_trailing_newline(sim, http, output):
    command = python_command(f"import sys; sys.stdout.write({output!r})")
    assert await CommandToken(command).bearer(http) == "alpha-token"


async def test_an_access_token_with_bad_characters_stops_the_poller(sim, clock, http):
    sim.set_auth_fault(Fault(body="bad-token"))
    cred = ClientCredentials("m2m-client", SecretStr("m2m-secret-do-not-leak"), sim.auth_url, clock=clock)
    with pytest.raises(AuthError) as info:
        await UsageClient(http, cred, sim.base_url).fetch()
    assert "token endpoint sent an access token" in info.value.message
    assert "visible ASCII" in info.value.message and not info.value.retryable
    assert sim.request_count() == 0


async def test_a_static_token_built_by_hand_is_checked_too(sim, http):
    """The config refuses such tokens first; this is the backstop for any other caller."""
    with pytest.raises(AuthError) as info:
        await UsageClient(http, StaticToken(SecretStr("alpha-token ")), sim.base_url).fetch()
    assert "space at its end" in info.value.message and not info.value.retryable
