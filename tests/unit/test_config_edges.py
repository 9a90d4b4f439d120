"""Config corners from the hardening issue: ``token_env`` naming a lowercase variable, and a
config file that is not text."""

from __future__ import annotations

from pathlib import Path

import pytest

from cuadra_top.cli import main
from cuadra_top.config import ConfigError, check_credentials, load_config as load_config_file, render_masked



def load_config(path, environ):
    """Load and check every org's credential, as ``config validate`` (and a run of every org) does."""
    loaded = load_config_file(path, environ)
    check_credentials(loaded, environ)
    return loaded

def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(0o600)
    return path


# -- token_env: a variable name in any case is a variable name ---------------------------------


@pytest.mark.parametrize("name", ["acme_token", "AcmeToken", "_private", "x", "Acme_Token_V2"])
def test_an_unset_variable_of_any_case_is_named(tmp_path, name):
    """Before, anything not UPPER_CASE was told it 'must not hold the secret itself'."""
    path = write(tmp_path, f'[[org]]\nname = "acme"\ntoken_env = "{name}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {})
    assert str(info.value).endswith(f"org 'acme': token_env names ${name}, which is not set; export it")


@pytest.mark.parametrize("name", ["acme_token", "AcmeToken"])
def test_a_lowercase_variable_is_read_and_shown(tmp_path, name):
    path = write(tmp_path, f'[[org]]\nname = "acme"\ntoken_env = "{name}"\n')
    loaded = load_config(str(path), {name: "the-token"})
    assert f'token_env = "{name}"' in render_masked(loaded)


@pytest.mark.parametrize("value", ["9TOKEN", "acme-token", "tok.en.abc", "abc def", "eyJhbGciOi.eyJzdWIi.sig"])
def test_a_value_that_cannot_be_a_variable_name_is_masked(tmp_path, value, capsys, isolated_env):
    path = write(tmp_path, f'[[org]]\nname = "acme"\ntoken_env = "{value}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {})
    assert "must name an environment variable" in str(info.value) and value not in str(info.value)
    # set, it loads (a variable may be named anything): `config show` still masks it
    loaded = load_config(str(path), {value: "the-token"})
    shown = render_masked(loaded)
    assert value not in shown and 'token_env = "********"' in shown


def test_a_secret_shaped_like_a_variable_name_is_still_not_echoed(tmp_path):
    """Letters, digits and underscores, but shaped like a token (a long run with digits, or a
    run mixing cases and digits): named neither in the error nor in `config show`."""
    for secret in ("ghp_" + "0123456789abcdef" * 3, "sk_live_51H8xYzAbCdEfGh", "AKIAIOSFODNN7EXAMPLE"):
        path = write(tmp_path, f'[[org]]\nname = "acme"\ntoken_env = "{secret}"\n')
        with pytest.raises(ConfigError) as info:
            load_config(str(path), {})
        assert secret not in str(info.value) and "environment variable" in str(info.value)
        assert secret not in render_masked(load_config(str(path), {secret: "the-token"}))


# -- a config file that is not text -------------------------------------------------------------


@pytest.mark.parametrize(("data", "words"), [
    (bytes(range(256)) * 4, "is not a text file (binary data)"),
    (b'[[org]]\nname = "a"\x00\x00\n', "is not a text file (binary data)"),
    ('[[org]]\nname = "a"\n'.encode("utf-16"), "is UTF-16 text; save it as UTF-8"),
    ('name = "caf\u00e9"\n'.encode("latin-1"), "is not UTF-8 text; save it as UTF-8"),
], ids=["binary", "nul-bytes", "utf-16", "latin-1"])
def test_a_config_that_is_not_text_says_so(tmp_path, data, words, capsys, isolated_env):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {})
    assert words in str(info.value) and "permissions" not in str(info.value)
    assert main(["--config", str(path), "config", "validate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_an_unreadable_config_still_says_permissions(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = write(tmp_path, '[[org]]\nname = "a"\n')
    path.chmod(0)
    with pytest.raises(ConfigError, match="check its permissions"):
        load_config(str(path), {})
