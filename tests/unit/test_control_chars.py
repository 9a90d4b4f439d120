"""Control characters in what the config and the environment hold (issue 10, defect 20): an
org name such as "evil\x1b]0;PWNED\x07" must not retitle the terminal, a newline must not split
a ``--once`` row, and ``config show`` must stay valid TOML that reads back the same values.
Every surface is checked: the TUI (header, overview, palette, notifications, status line),
``--once`` (table and JSON), ``--check``, ``config show|validate|path`` and errors on stderr;
the debug log in tests/unit/test_debuglog.py.

The TUI's side is in tests/tui/test_control_chars_tui.py."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest
from pty_session import child_env

from control_chars_support import (  # what the unit and the TUI tests of this topic share
    HOSTILE,
    WRONG,
    assert_clean,
    hostile_config,
    toml_string,
)


def run(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cuadra_top", *args], env=child_env(tmp_path, **env),
                          capture_output=True, text=True, encoding="utf-8", timeout=60)


def test_once_table_keeps_one_line_per_org(hostile_config, tmp_path):
    config, _ = hostile_config
    result = run(tmp_path, "--once", "--no-history", "--config", str(config))
    assert result.returncode == 1  # WRONG fails
    assert_clean(result.stdout, "--once")
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + len(HOSTILE) + 1, result.stdout
    assert lines[1].startswith("evil\ufffd]0;PWNED\ufffd ")
    for line in lines[1:-1]:
        assert "85.0%" in line
    assert lines[-1].startswith("wrong\ufffd[31mtoken  ERROR: credential rejected (401")
    assert_clean(result.stderr, "--once stderr")


def test_once_json_is_valid_and_keeps_the_names(hostile_config, tmp_path):
    config, _ = hostile_config
    result = run(tmp_path, "--once", "--json", "--no-history", "--config", str(config))
    assert_clean(result.stdout, "--json")
    orgs = json.loads(result.stdout)["orgs"]
    assert [org["name"] for org in orgs] == [*HOSTILE, WRONG]  # the same names, escaped


def test_check_is_one_clean_line(hostile_config, tmp_path):
    config, _ = hostile_config
    result = run(tmp_path, "--check", "--no-history", "--config", str(config))
    assert result.returncode == 3  # UNKNOWN: WRONG could not be fetched
    assert_clean(result.stdout, "--check")
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("CUADRA UNKNOWN - ")


def test_config_show_is_valid_toml_with_the_same_values(hostile_config, tmp_path):
    config, _ = hostile_config
    result = run(tmp_path, "--config", str(config), "config", "show")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout, "config show")
    assert [org["name"] for org in tomllib.loads(result.stdout)["org"]] == [*HOSTILE, WRONG]


def test_config_validate_and_path(hostile_config, tmp_path):
    config, _ = hostile_config
    result = run(tmp_path, "--config", str(config), "config", "validate")
    assert result.returncode == 0 and result.stdout.count("\n") == 1
    assert_clean(result.stdout, "config validate")
    odd = tmp_path / "odd\x1b]0;x\x07dir" / "config.toml"
    result = run(tmp_path, "config", "path", CUADRA_TOP_CONFIG=str(odd))
    assert_clean(result.stdout, "config path")
    assert result.stdout.count("\n") == 1


def test_errors_on_stderr(hostile_config, tmp_path):
    config, sim = hostile_config
    result = run(tmp_path, "--once", "--org", "nope", "--config", str(config))
    assert result.returncode == 2 and result.stderr.startswith("cuadra-top: no org named 'nope'; configured: evil")
    assert_clean(result.stderr, "unknown --org")
    result = run(tmp_path, "--once", CUADRA_TOP_CONFIG=str(tmp_path / "no\x1b]0;PWNED\x07such.toml"))
    assert result.returncode == 2 and "no such config file" in result.stderr
    assert_clean(result.stderr, "a config path from the environment")


@pytest.mark.parametrize("source", ["file", "environment"])
@pytest.mark.parametrize("url_key", ["api_url", "token_url"])
def test_a_url_with_a_control_character_is_a_config_error(sim, tmp_path, source, url_key):
    """No request could use it (httpx refuses it at every fetch, as an 'unexpected error'),
    and each message naming it would send its escape sequence to the terminal."""
    url = f"{sim.base_url}/x\x1b]0;PWNED\x07"
    if source == "file":
        config = tmp_path / "config.toml"
        key = "api_url" if url_key == "api_url" else "token_url"
        extra = "" if url_key == "api_url" else 'client_id = "m2m-client"\nclient_secret = "m2m-secret-do-not-leak"\n'
        token = 'token = "alpha-token"\n' if url_key == "api_url" else ""
        config.write_text(f'[[org]]\nname = "alpha"\n{key} = {toml_string(url)}\n{token}{extra}')
        config.chmod(0o600)
        result = run(tmp_path, "--once", "--no-history", "--config", str(config))
    elif url_key == "api_url":
        result = run(tmp_path, "--once", "--no-history", CUADRA_TOKEN="alpha-token", CUADRA_API_URL=url)
    else:
        result = run(tmp_path, "--once", "--no-history", CUADRA_API_URL=sim.base_url, CUADRA_CLIENT_ID="m2m-client",
                     CUADRA_CLIENT_SECRET="m2m-secret-do-not-leak", CUADRA_AUTH_URL=url)
    assert result.returncode == 2, result
    assert result.stdout == ""
    named = url_key if source == "file" else {"api_url": "api_url", "token_url": "token URL"}[url_key]
    assert result.stderr.count("\n") == 1 and f"{named} holds the control character '\\x1b'" in result.stderr
    assert_clean(result.stderr, f"{url_key} from the {source}")

