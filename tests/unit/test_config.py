"""Config files good and bad: every error names the file, the key and the fix, in one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cuadra_top.api.auth import ClientCredentials, CommandToken, StaticToken
from cuadra_top.config import ConfigError, build_credential, check_credentials, load_config, render_masked

SECRET = "s3cr3t-value-that-must-not-leak"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def load(path: Path, env: dict[str, str] | None = None):
    """Load and check every org's credential, as ``config validate`` does."""
    loaded = load_config(str(path), env or {})
    check_credentials(loaded, env or {})
    return loaded


def test_good_file_with_every_credential_kind(tmp_path):
    path = write(tmp_path, f"""
# a comment
refresh_interval = 10
theme = "cuadra"
warn_percent = 70
critical_percent = 90
timeout = {{ connect = 2, read = 8 }}

[[org]]
name = "acme"
token = "{SECRET}"

[[org]]
name = "envy"
token_env = "ENVY_TOKEN"

[[org]]
name = "cmd"
token_command = "pass show cuadra"

[[org]]
name = "m2m"
api_url = "https://eu.api.cuadra.ai/"
client_id = "cid"
client_secret_env = "M2M_SECRET"
""")
    loaded = load(path, {"ENVY_TOKEN": "t", "M2M_SECRET": "x"})
    settings = loaded.settings
    assert settings.refresh_interval == 10 and settings.warn_percent == 70
    assert settings.timeouts.connect == 2 and settings.timeouts.read == 8
    assert [o.name for o in loaded.orgs] == ["acme", "envy", "cmd", "m2m"]
    assert loaded.orgs[3].api_url == "https://eu.api.cuadra.ai"
    env = {"ENVY_TOKEN": "t", "M2M_SECRET": "x"}
    kinds = [type(build_credential(o, env)) for o in loaded.orgs]
    assert kinds == [StaticToken, StaticToken, CommandToken, ClientCredentials]
    assert loaded.warnings == []


def test_defaults(tmp_path):
    loaded = load(write(tmp_path, '[[org]]\nname = "a"\ntoken = "t"\n'))
    assert loaded.settings.refresh_interval == 30
    assert (loaded.settings.warn_percent, loaded.settings.critical_percent) == (80, 95)
    assert loaded.settings.timeouts.connect == 5 and loaded.settings.timeouts.read == 15


@pytest.mark.parametrize(
    "text, expected",
    [
        ('refresh_intervall = 5', "key refresh_intervall: unknown key; did you mean 'refresh_interval'?"),
        ('[[org]]\nname = "acme"\ntokn = "x"', "[[org]] #1 ('acme') key tokn: unknown key; did you mean 'token'?"),
        ('[[org]]\ntoken = "x"', "[[org]] #1 key name: required key is missing; add it"),
        ('refresh_interval = "fast"', "key refresh_interval"),
        ('refresh_interval = 0', "key refresh_interval: Input should be greater than or equal to 1"),
        ('warn_percent = 90\ncritical_percent = 80', "critical_percent must not be below warn_percent"),
        ('[[org]]\nname = "a"\ntoken = "x"\n[[org]]\nname = "a"\ntoken = "y"', "two orgs are named 'a'"),
        ('[[org]]\nname = "a"\ntoken = "x"\ntoken_env = "Y"', "give one credential, not token and token_env"),
        ('[[org]]\nname = "a"\nclient_secret = "x"', "client_secret needs client_id"),
        ('[[org]]\nname = "a"\ntoken = "x"\napi_url = "http://api.example.com"',
         "refusing plain http:// for api_url api.example.com: use https://"),
        ('[[org]]\nname = "a"\ntoken_env = "NOPE"', "org 'a': token_env names $NOPE, which is not set; export it"),
        ('[[org]]\nname = "a"', "org 'a' has no credential; add token"),
        ('this is = not toml', "not valid TOML"),
    ],
)
def test_bad_files_give_one_line_naming_file_key_and_fix(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message
    assert "\n" not in message


def test_loopback_http_is_allowed(tmp_path):
    loaded = load(write(tmp_path, '[[org]]\nname = "a"\ntoken = "x"\napi_url = "http://127.0.0.1:8787"\n'))
    assert loaded.orgs[0].api_url == "http://127.0.0.1:8787"


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(str(tmp_path / "nope.toml"), {})


def test_env_var_names_the_config_path(tmp_path):
    path = write(tmp_path, '[[org]]\nname = "from-env-path"\ntoken = "x"\n')
    loaded = load_config(None, {"CUADRA_TOP_CONFIG": str(path)})
    assert loaded.orgs[0].name == "from-env-path"


def test_no_file_falls_back_to_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no default file there
    loaded = load_config(None, {"CUADRA_TOKEN": "tok", "CUADRA_API_URL": "http://localhost:9"})
    assert loaded.source == "env"
    assert [(o.name, o.api_url) for o in loaded.orgs] == [("default", "http://localhost:9")]
    loaded = load_config(None, {"CUADRA_CLIENT_ID": "id", "CUADRA_CLIENT_SECRET": "sec"})
    assert isinstance(build_credential(loaded.orgs[0], {"CUADRA_CLIENT_SECRET": "sec"}), ClientCredentials)
    assert load_config(None, {}).source == "none"


def test_world_readable_secret_gets_a_warning(tmp_path):
    path = write(tmp_path, f'[[org]]\nname = "a"\ntoken = "{SECRET}"\n', mode=0o644)
    warning = load(path).warnings[0]
    assert "readable by others" in warning and f"chmod 600 {path}" in warning
    assert SECRET not in warning
    # No literal secret in the file: no warning, whatever the mode.
    path = write(tmp_path, '[[org]]\nname = "a"\ntoken_env = "T"\n', mode=0o644)
    assert load(path, {"T": "x"}).warnings == []


def test_show_masks_every_secret(tmp_path):
    path = write(tmp_path, f"""
[[org]]
name = "a"
token = "{SECRET}"
[[org]]
name = "b"
client_id = "cid"
client_secret = "{SECRET}-2"
""")
    shown = render_masked(load(path))
    assert SECRET not in shown
    assert shown.count("********") == 2
    assert 'client_id = "cid"' in shown


def test_default_path_uses_platformdirs(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    from cuadra_top.config import default_config_path

    if os.name == "posix" and not os.environ.get("APPDATA"):
        assert default_config_path() == tmp_path / "cuadra-top" / "config.toml"
