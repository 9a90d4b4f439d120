"""Shared by tests/unit/test_secrets.py and tests/tui/test_secrets_tui.py."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cuadra_top.simulator import DemoOrg, Simulator


def _secret(label: str) -> str:
    return f"{label}-{secrets.token_urlsafe(24)}"


LITERAL_TOKEN = _secret("literal-token")


ENV_TOKEN = _secret("env-token")


CUADRA_TOKEN = _secret("cuadra-env-token")


COMMAND_TOKEN = _secret("command-token")


CLIENT_SECRET = _secret("client-secret")


ENV_CLIENT_SECRET = _secret("env-client-secret")


BAD_TOKEN = _secret("bad-token")


KNOWN = [LITERAL_TOKEN, ENV_TOKEN, CUADRA_TOKEN, COMMAND_TOKEN, CLIENT_SECRET, ENV_CLIENT_SECRET, BAD_TOKEN]


ORG_NAMES = ["literal", "env", "default-env", "command", "oauth", "oauth-env", "bad"]


WINDOW = 12
"""A run of this many characters of a secret counts as a leak (a truncated secret is still one)."""


@dataclass
class World:
    sim: Simulator
    config: Path
    token_file: Path

    def secrets(self) -> list[str]:
        """Every secret known so far, including the access tokens the simulator issued."""
        issued = list(self.sim._grants)  # noqa: SLF001 - the simulator keeps no public list of them
        return KNOWN + issued


def demo_org(name: str, **kw) -> DemoOrg:
    base = dict(name=name, token=f"{name}-unused-{secrets.token_hex(8)}", tier="pro", plan_name="Pro",
                credit_limit=10_000, storage_limit=10 * 1024**3, credits_used_at_start=4_000,
                storage_used_at_start=1024**3, burn_per_hour=100.0, storage_growth_per_hour=1024**2)
    base.update(kw)
    return DemoOrg(**base)


def sim_for_secrets() -> Simulator:
    return Simulator([
        demo_org("literal", token=LITERAL_TOKEN),
        demo_org("env", token=ENV_TOKEN),
        demo_org("default-env", token=CUADRA_TOKEN),
        demo_org("command", token=COMMAND_TOKEN),
        demo_org("oauth", client_id="oauth-client", client_secret=CLIENT_SECRET, admin=True, seats=4,
                 credits_per_seat=2_500, purchased_balance=1_000),
        demo_org("oauth-env", client_id="oauth-env-client", client_secret=ENV_CLIENT_SECRET),
    ], seed=3, clock=lambda: 1_776_254_400.0).start()


def config_text(sim: Simulator, token_file: Path, *, url: str | None = None, token_url: str | None = None,
                extra: str = "") -> str:
    url = url or sim.base_url
    token_url = token_url or sim.auth_url
    return f"""
timeout = {{ connect = 5, read = 0.5 }}
{extra}
[[org]]
name = "literal"
api_url = "{url}"
token = "{LITERAL_TOKEN}"

[[org]]
name = "env"
api_url = "{url}"
token_env = "SECRETS_TEST_TOKEN"

[[org]]
name = "default-env"
api_url = "{url}"

[[org]]
name = "command"
api_url = "{url}"
token_command = "cat {token_file}"

[[org]]
name = "oauth"
api_url = "{url}"
token_url = "{token_url}"
client_id = "oauth-client"
client_secret = "{CLIENT_SECRET}"

[[org]]
name = "oauth-env"
api_url = "{url}"
token_url = "{token_url}"
client_id = "oauth-env-client"
client_secret_env = "SECRETS_TEST_CLIENT_SECRET"

[[org]]
name = "bad"
api_url = "{url}"
token = "{BAD_TOKEN}"
"""


@pytest.fixture
def world(isolated_env, tmp_path, monkeypatch) -> Iterator[World]:
    monkeypatch.setenv("SECRETS_TEST_TOKEN", ENV_TOKEN)
    monkeypatch.setenv("SECRETS_TEST_CLIENT_SECRET", ENV_CLIENT_SECRET)
    monkeypatch.setenv("CUADRA_TOKEN", CUADRA_TOKEN)
    token_file = tmp_path / "token.txt"
    token_file.write_text(COMMAND_TOKEN + "\n")
    sim = sim_for_secrets()
    config = tmp_path / "config.toml"
    config.write_text(config_text(sim, token_file))
    config.chmod(0o600)
    try:
        yield World(sim, config, token_file)
    finally:
        sim.stop()
    assert sim.errors == []


def leaks(text: str, known: list[str]) -> list[str]:
    """The secrets (or runs of WINDOW characters of one) found in ``text``."""
    found = []
    for secret in known:
        if any(secret[i:i + WINDOW] in text for i in range(len(secret) - WINDOW + 1)):
            found.append(secret)
    return found


BEARER_VALUE = re.compile(r"(?i)(bearer|authorization)[\"']?\s*[:=]?\s*[\"']?(?!\*{8})[A-Za-z0-9_\-.~+/]{8,}")


def assert_clean(text: str, known: list[str], where: str) -> None:
    found = leaks(text, known)
    assert not found, f"{where}: secret(s) shown: {[s.split('-')[0] for s in found]}"
    match = BEARER_VALUE.search(text)
    assert match is None, f"{where}: an Authorization value is shown: {match.group(0)[:30]}..."
    assert "Traceback" not in text, f"{where}: a traceback is shown"


def explode(*args, **kwargs):
    raise RuntimeError(f"internal failure while holding {LITERAL_TOKEN} and {CLIENT_SECRET}")

