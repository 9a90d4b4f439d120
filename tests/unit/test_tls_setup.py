"""CA settings that point nowhere or at garbage: ``ca_bundle`` is a config error naming the key
(exit 2), ``SSL_CERT_FILE``/``SSL_CERT_DIR`` a one-line error naming the variable. Before, the
config validated, ``--once`` said "internal error (FileNotFoundError)" and the TUI waited."""

from __future__ import annotations

from pathlib import Path

import certifi
import pytest

from cuadra_top.api.errors import TLSConfigError
from cuadra_top.api.http import check_tls_environment, tls_context
from cuadra_top.cli import main
from cuadra_top.config import ConfigError, load_config


@pytest.fixture
def bad_files(tmp_path) -> dict[str, str]:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a certificate\n")
    binary = tmp_path / "binary.pem"
    binary.write_bytes(bytes(range(256)))
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    return {"missing": str(tmp_path / "nonexistent" / "ca.pem"), "directory": str(tmp_path),
            "garbage": str(garbage), "binary": str(binary), "empty": str(empty)}


WHY = {"missing": "no such file", "directory": "is a directory", "garbage": "holds no PEM certificate",
       "binary": "holds no PEM certificate", "empty": "holds no PEM certificate"}


def config(tmp_path: Path, sim, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'{extra}\nhistory = false\n[[org]]\nname = "a"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    path.chmod(0o600)
    return path


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


# -- ca_bundle: checked when the config is loaded ----------------------------------------------


@pytest.mark.parametrize("kind", list(WHY))
def test_a_bad_ca_bundle_is_a_config_error_naming_the_key(tmp_path, sim, bad_files, kind):
    path = config(tmp_path, sim, f'ca_bundle = "{bad_files[kind]}"')
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {})
    message = str(info.value)
    assert "key ca_bundle" in message and WHY[kind] in message and "\n" not in message
    assert "PEM file of CA certificates" in message


def test_config_validate_fails_with_exit_2_on_a_missing_ca_bundle(tmp_path, sim, capsys, isolated_env):
    path = config(tmp_path, sim, 'ca_bundle = "/nonexistent/ca.pem"')
    assert main(["--config", str(path), "config", "validate"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "key ca_bundle" in line and "/nonexistent/ca.pem" in line


def test_once_fails_with_exit_2_on_a_garbage_ca_bundle(tmp_path, sim, capsys, isolated_env, bad_files):
    path = config(tmp_path, sim, f'ca_bundle = "{bad_files["garbage"]}"')
    assert main(["--once", "--config", str(path)]) == 2
    assert "key ca_bundle" in one_line_error(capsys.readouterr().err)


def test_a_good_ca_bundle_loads_and_tilde_is_expanded(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ca.pem").write_bytes(Path(certifi.where()).read_bytes())
    loaded = load_config(str(config(tmp_path, sim, 'ca_bundle = "~/ca.pem"')), {})
    assert loaded.settings.ca_bundle == str(tmp_path / "ca.pem")
    tls_context(loaded.settings.ca_bundle, {})


# -- SSL_CERT_FILE / SSL_CERT_DIR: checked by tls_context and by the config loader ---------------


@pytest.mark.parametrize("kind", list(WHY))
def test_a_bad_ssl_cert_file_names_the_variable(bad_files, kind):
    env = {"SSL_CERT_FILE": bad_files[kind]}
    for check in (check_tls_environment, lambda e: tls_context(None, e)):
        with pytest.raises(TLSConfigError) as info:
            check(env)
        message = info.value.message
        assert message.startswith(f"SSL_CERT_FILE={bad_files[kind]}: {WHY[kind]}")
        assert "unset it" in message and "\n" not in message
        assert info.value.kind == "config" and not info.value.retryable


@pytest.mark.parametrize(("kind", "why"), [("missing", "no such directory"), ("garbage", "not a directory"),
                                           ("directory", "no hashed certificates")])
def test_a_bad_ssl_cert_dir_names_the_variable(bad_files, kind, why):
    env = {"SSL_CERT_DIR": bad_files[kind]}
    for check in (check_tls_environment, lambda e: tls_context(None, e)):
        with pytest.raises(TLSConfigError) as info:
            check(env)
        assert info.value.message.startswith(f"SSL_CERT_DIR={bad_files[kind]}: {why}")
        assert "unset it" in info.value.message


def test_good_or_empty_tls_variables_pass(tmp_path):
    hashed = tmp_path / "certs"
    hashed.mkdir()
    (hashed / "5ad8a5d6.0").write_bytes(Path(certifi.where()).read_bytes())
    for env in ({}, {"SSL_CERT_FILE": ""}, {"SSL_CERT_FILE": certifi.where()}, {"SSL_CERT_DIR": str(hashed)}):
        check_tls_environment(env)
        tls_context(None, env)


def test_a_ca_bundle_overrides_the_variables(bad_files):
    """With ``ca_bundle`` set, SSL_CERT_FILE/DIR are not used, so they are not an error."""
    tls_context(certifi.where(), {"SSL_CERT_FILE": bad_files["missing"], "SSL_CERT_DIR": bad_files["missing"]})


def test_once_with_a_missing_ssl_cert_file_exits_2_in_one_line(tmp_path, sim, capsys, isolated_env, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    path = config(tmp_path, sim)
    assert main(["--once", "--config", str(path)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "SSL_CERT_FILE=/nonexistent/ca.pem: no such file" in line


def test_config_validate_checks_the_tls_variables_too(tmp_path, sim, capsys, isolated_env, monkeypatch):
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent/certs")
    assert main(["--config", str(config(tmp_path, sim)), "config", "validate"]) == 2
    assert "SSL_CERT_DIR=/nonexistent/certs: no such directory" in one_line_error(capsys.readouterr().err)


def test_demo_once_with_a_missing_ssl_cert_file_exits_2_in_one_line(capsys, monkeypatch, isolated_env):
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    assert main(["--demo", "--once", "--no-history"]) == 2
    assert "SSL_CERT_FILE=/nonexistent/ca.pem" in one_line_error(capsys.readouterr().err)
