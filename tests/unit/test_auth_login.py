"""``cuadra-top auth login | status | logout`` end to end against the simulator, with the OS
keyring replaced by an in-memory backend of the keyring library (or by its "no backend")."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import MemoryKeyring, run_cli
from cuadra_top import keystore

SECRETS = ["alpha-token", "m2m-secret-do-not-leak", "wrong-token-5f3e", "noscope-token", "beta-token",
           "boss-token", "wrong-secret-77aa"]


@pytest.fixture
def config(isolated_env, tmp_path) -> Path:
    return tmp_path / "conf" / "config.toml"


def run(capsys, monkeypatch, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    """``main(argv)`` with ``stdin`` piped in -> (exit code, stdout, stderr); no secret, no traceback."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin if stdin is not None else ""))
    code, out, err = run_cli(capsys, *argv)
    for secret in SECRETS:
        assert secret not in out and secret not in err, f"{secret} leaked by {argv}"
    assert "Traceback" not in out + err
    return code, out, err


def login_token(capsys, monkeypatch, config: Path, sim, name: str, token: str, *extra: str):
    return run(capsys, monkeypatch, "--config", str(config), "auth", "login", "--name", name,
               "--api-url", sim.base_url, "--with-token", *extra, stdin=token + "\n")


def login_client(capsys, monkeypatch, config: Path, sim, name: str, client_id: str, secret: str, *extra: str):
    return run(capsys, monkeypatch, "--config", str(config), "auth", "login", "--name", name,
               "--api-url", sim.base_url, "--client-id", client_id, "--token-url", sim.auth_url,
               "--with-secret", *extra, stdin=secret + "\n")


def read(config: Path) -> dict:
    return tomllib.loads(config.read_text())


# -- login: both credential kinds, into the keyring ----------------------------------------------


def test_login_with_a_token_keeps_it_in_the_keyring_and_names_it_in_the_config(sim, config, capsys, monkeypatch,
                                                                              memory_keyring):
    code, out, err = login_token(capsys, monkeypatch, config, sim, "alpha", "alpha-token")
    assert code == 0, err
    assert "ok: alpha: Pro" in out and "credits 1,000 / 10,000 used (10.0%)" in out and "in the OS keyring" in out
    assert read(config)["org"] == [{"name": "alpha", "api_url": sim.base_url, "token_keyring": True}]
    assert "alpha-token" not in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert memory_keyring.entries == {("cuadra-top", f"alpha@{sim.base_url}"): "alpha-token"}
    assert sim.request_count("alpha") == 1  # checked live before anything was saved
    code, out, _ = run(capsys, monkeypatch, "--config", str(config), "--once", "--no-history")
    assert code == 0 and "alpha" in out and "1,000 / 10,000" in out  # the monitor reads it back


def test_login_with_client_credentials_keeps_the_secret_in_the_keyring(sim, config, capsys, monkeypatch,
                                                                       memory_keyring):
    code, out, err = login_client(capsys, monkeypatch, config, sim, "robot", "m2m-client", "m2m-secret-do-not-leak")
    assert code == 0, err
    assert read(config)["org"] == [{"name": "robot", "api_url": sim.base_url, "client_id": "m2m-client",
                                    "token_url": sim.auth_url, "client_secret_keyring": True}]
    assert memory_keyring.entries == {("cuadra-top", f"robot@{sim.base_url}"): "m2m-secret-do-not-leak"}
    assert "m2m-secret-do-not-leak" not in config.read_text()


# -- login: what the API refuses, nothing saved --------------------------------------------------


def assert_nothing_saved(config: Path, backend: MemoryKeyring | None = None) -> None:
    assert not config.exists()
    if backend is not None:
        assert backend.entries == {}


def test_a_rejected_token_saves_nothing(sim, config, capsys, monkeypatch, memory_keyring):
    code, out, err = login_token(capsys, monkeypatch, config, sim, "alpha", "wrong-token-5f3e")
    assert code == 1 and out == ""
    assert "the API refused the token (401: Invalid or expired token.)" in err and "nothing was saved" in err
    assert_nothing_saved(config, memory_keyring)


def test_a_rejected_client_secret_saves_nothing(sim, config, capsys, monkeypatch, memory_keyring):
    code, _, err = login_client(capsys, monkeypatch, config, sim, "robot", "m2m-client", "wrong-secret-77aa")
    assert code == 1
    assert "token endpoint refused the client credentials (401: Invalid client credentials.)" in err
    assert_nothing_saved(config, memory_keyring)


def test_a_missing_scope_names_usage_read(sim, config, capsys, monkeypatch, memory_keyring):
    code, _, err = login_token(capsys, monkeypatch, config, sim, "noscope", "noscope-token")
    assert code == 1
    assert "403: Missing required scope: usage:read" in err and "give it the usage:read scope" in err
    assert_nothing_saved(config, memory_keyring)


def test_a_wrong_url_path_says_so(sim, config, capsys, monkeypatch, memory_keyring):
    code, _, err = run(capsys, monkeypatch, "--config", str(config), "auth", "login", "--name", "alpha",
                       "--api-url", sim.base_url + "/wrong", "--with-token", stdin="alpha-token\n")
    assert code == 1 and "(404); check the API URL" in err
    assert_nothing_saved(config, memory_keyring)


def test_a_url_nothing_listens_on_says_so(config, capsys, monkeypatch, memory_keyring, closed_port):
    code, _, err = run(capsys, monkeypatch, "--config", str(config), "auth", "login", "--name", "alpha",
                       "--api-url", f"http://127.0.0.1:{closed_port}", "--with-token", stdin="alpha-token\n")
    assert code == 1 and "connection refused" in err and "check the API URL" in err
    assert_nothing_saved(config, memory_keyring)


def test_plain_http_is_refused_for_anything_but_loopback(config, capsys, monkeypatch, memory_keyring):
    code, _, err = run(capsys, monkeypatch, "--config", str(config), "auth", "login", "--name", "x",
                       "--api-url", "http://api.example.com", "--with-token", stdin="alpha-token\n")
    assert code == 2 and "refusing plain http:// for api_url api.example.com" in err
    assert_nothing_saved(config, memory_keyring)


def test_a_token_that_cannot_go_into_a_header_is_refused_without_echo(sim, config, capsys, monkeypatch,
                                                                      memory_keyring):
    code, _, err = login_token(capsys, monkeypatch, config, sim, "alpha", "alpha token")
    assert code == 2 and "has a space inside it" in err and "alpha token" not in err
    assert_nothing_saved(config, memory_keyring)


# -- where there is no keyring -------------------------------------------------------------------


def test_no_keyring_backend_says_so_offers_the_other_ways_and_saves_nothing(sim, config, capsys, monkeypatch,
                                                                            no_keyring):
    code, _, err = login_token(capsys, monkeypatch, config, sim, "alpha", "alpha-token")
    assert code == 2
    assert "no OS keyring is available here" in err
    assert "--token-env" in err and "--token-command" in err and "--insecure-storage" in err
    assert not config.exists() and sim.request_count() == 0


def test_insecure_storage_writes_the_literal_into_a_private_file(sim, config, capsys, monkeypatch, no_keyring):
    code, out, _ = login_token(capsys, monkeypatch, config, sim, "alpha", "alpha-token", "--insecure-storage")
    assert code == 0 and f"the secret is in {config} (mode 0600)" in out
    assert read(config)["org"][0]["token"] == "alpha-token"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_a_token_in_an_environment_variable_stays_there(sim, config, capsys, monkeypatch, no_keyring):
    monkeypatch.setenv("ALPHA_TOKEN", "alpha-token")
    code, out, _ = run(capsys, monkeypatch, "--config", str(config), "auth", "login", "--name", "alpha",
                       "--api-url", sim.base_url, "--token-env", "ALPHA_TOKEN")
    assert code == 0 and "stays in $ALPHA_TOKEN" in out
    assert read(config)["org"] == [{"name": "alpha", "api_url": sim.base_url, "token_env": "ALPHA_TOKEN"}]


def test_a_keyring_credential_without_a_backend_fails_in_one_line(sim, config, capsys, monkeypatch, no_keyring):
    config.parent.mkdir(parents=True)
    config.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken_keyring = true\n')
    code, _, err = run(capsys, monkeypatch, "--config", str(config), "--once", "--no-history")
    assert code == 2 and "token_keyring is set but no OS keyring is available here" in err


# -- the config file: comments, order, mode, symlink ---------------------------------------------


EXISTING = """\
# my cuadra-top settings
refresh_interval = 60  # slow is fine

[[org]]
name = "beta"  # the first one
api_url = "{url}"
token_env = "BETA_TOKEN"
warn_percent = 70
"""


def test_an_existing_config_keeps_its_comments_order_and_mode(sim, config, capsys, monkeypatch, memory_keyring):
    config.parent.mkdir(parents=True)
    config.write_text(EXISTING.format(url=sim.base_url))
    config.chmod(0o640)
    code, _, err = login_token(capsys, monkeypatch, config, sim, "alpha", "alpha-token")
    assert code == 0, err
    text = config.read_text()
    assert text.startswith(EXISTING.format(url=sim.base_url))
    assert [org["name"] for org in read(config)["org"]] == ["beta", "alpha"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]


def test_a_symlinked_config_is_written_through_its_link(sim, tmp_path, isolated_env, capsys, monkeypatch,
                                                       memory_keyring):
    real = tmp_path / "dotfiles" / "cuadra.toml"
    real.parent.mkdir()
    real.write_text("# dotfile\n")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    code, _, _ = login_token(capsys, monkeypatch, link, sim, "alpha", "alpha-token")
    assert code == 0 and link.is_symlink() and "token_keyring = true" in real.read_text()


def test_an_org_name_in_use_is_refused_unless_replaced(sim, config, capsys, monkeypatch, memory_keyring):
    config.parent.mkdir(parents=True)
    config.write_text(EXISTING.format(url=sim.base_url))
    code, _, err = login_token(capsys, monkeypatch, config, sim, "beta", "beta-token")
    assert code == 2 and "already configured" in err and "--replace" in err
    code, _, err = login_token(capsys, monkeypatch, config, sim, "beta", "beta-token", "--replace")
    assert code == 0, err
    assert read(config)["org"] == [{"name": "beta", "warn_percent": 70, "api_url": sim.base_url,
                                    "token_keyring": True}]
    assert "# the first one" in config.read_text()


def test_a_broken_config_is_not_touched(sim, config, capsys, monkeypatch, memory_keyring):
    config.parent.mkdir(parents=True)
    config.write_text('refresh_intervall = 3\n')
    code, _, err = login_token(capsys, monkeypatch, config, sim, "alpha", "alpha-token")
    assert code == 2 and "did you mean 'refresh_interval'?" in err
    assert config.read_text() == 'refresh_intervall = 3\n' and memory_keyring.entries == {}


# -- secrets: never in output, config or log -----------------------------------------------------


def test_the_secret_is_in_no_output_config_or_log(sim, config, tmp_path, capsys, monkeypatch, memory_keyring,
                                                  debug_log_restored):
    log = tmp_path / "debug.log"
    code, out, err = run(capsys, monkeypatch, "--log", str(log), "--config", str(config), "auth", "login",
                         "--name", "robot", "--api-url", sim.base_url, "--client-id", "m2m-client",
                         "--token-url", sim.auth_url, "--with-secret", stdin="m2m-secret-do-not-leak\n")
    assert code == 0, err
    run(capsys, monkeypatch, "--log", str(log), "--config", str(config), "auth", "status", "--json")
    run(capsys, monkeypatch, "--log", str(log), "--config", str(config), "config", "show")
    assert log.read_text() and "m2m-secret-do-not-leak" not in log.read_text()
    assert "m2m-secret-do-not-leak" not in config.read_text()


# -- interactive ---------------------------------------------------------------------------------


def test_interactive_login_asks_and_takes_the_secret_without_echo(sim, config, monkeypatch, capsys, memory_keyring):
    from cuadra_top import auth_cli
    from cuadra_top.cli import build_parser

    answers = iter(["acme", sim.base_url, "1", "m2m-client", sim.auth_url])
    asked: list[str] = []
    prompts = io.StringIO()
    prompter = auth_cli.Prompter(ask=lambda _: next(answers),
                                 secret=lambda prompt: asked.append(prompt) or "m2m-secret-do-not-leak",
                                 out=prompts)
    args = build_parser().parse_args(["--config", str(config), "auth", "login"])
    assert auth_cli.login(args, os.environ, prompter=prompter) == 0
    assert asked == ["Client secret (input is not shown): "]
    assert "Organization name" in prompts.getvalue() and "OAuth client credentials" in prompts.getvalue()
    assert "m2m-secret-do-not-leak" not in prompts.getvalue() + capsys.readouterr().out
    assert read(config)["org"][0]["client_secret_keyring"] is True


def test_interactive_login_in_a_pty_without_a_keyring(sim, config, isolated_env):
    """The real program on a terminal: prompts, the token typed without echo, no keyring here so
    the user picks where it goes."""
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: the program, on the pty as its controlling terminal
        env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
        os.execve(sys.executable, [sys.executable, "-m", "cuadra_top", "--config", str(config), "auth", "login"], env)
    screen = b""

    def until(text: bytes, timeout: float = 20.0) -> None:
        nonlocal screen
        deadline = time.monotonic() + timeout
        while text not in screen:
            assert time.monotonic() < deadline, f"no {text!r} in {screen!r}"
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    screen += os.read(fd, 4096)
                except OSError:
                    break

    try:
        for prompt, answer in ((b"Organization name", "alpha"), (b"API URL", sim.base_url), (b"Credential", "2"),
                               (b"Where should it come from", "3")):
            until(prompt)
            os.write(fd, answer.encode() + b"\r")
        until(b"input is not shown")
        os.write(fd, b"alpha-token\r")
        until(b"saved: org 'alpha'")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"no OS keyring is available here" in screen
    assert b"alpha-token" not in screen  # typed, never echoed
    assert read(config)["org"][0]["token"] == "alpha-token"


# -- status and logout ---------------------------------------------------------------------------


def test_auth_status_exit_codes_and_what_each_org_sees(start_sim, make_org, config, capsys, monkeypatch,
                                                       memory_keyring):
    sim = start_sim([make_org("boss", admin=True, seats=4, credits_per_seat=100, purchased_balance=50),
                     make_org("m2m", client_id="m2m-client", client_secret="m2m-secret-do-not-leak")])
    assert login_token(capsys, monkeypatch, config, sim, "boss", "boss-token")[0] == 0
    assert login_client(capsys, monkeypatch, config, sim, "robot", "m2m-client", "m2m-secret-do-not-leak")[0] == 0
    code, out, _ = run(capsys, monkeypatch, "--config", str(config), "auth", "status", "--json")
    assert code == 0
    boss, robot = json.loads(out)["orgs"]
    assert boss["ok"] and boss["admin"] is True and boss["plan"] == {"tier": "pro", "name": "Pro"}
    assert boss["credential"] == {"kind": "token", "source": "in the OS keyring", "keyring_service": "cuadra-top",
                                  "keyring_user": f"boss@{sim.base_url}"}
    assert boss["access_token_expires_at"] is None
    assert robot["ok"] and robot["admin"] is False and robot["access_token_expires_at"].endswith("Z")
    assert robot["credential"]["client_id"] == "m2m-client"
    code, out, _ = run(capsys, monkeypatch, "--config", str(config), "auth", "status", "--org", "robot")
    assert code == 0 and "robot: ok" in out and "access token expires:" in out and "boss" not in out

    sim.revoke_tokens("boss")
    memory_keyring.entries[("cuadra-top", f"boss@{sim.base_url}")] = "wrong-token-5f3e"
    code, out, _ = run(capsys, monkeypatch, "--config", str(config), "auth", "status")
    assert code == 1 and "boss: FAILED" in out and "credential rejected (401" in out and "robot: ok" in out
    del memory_keyring.entries[("cuadra-top", f"boss@{sim.base_url}")]
    code, out, _ = run(capsys, monkeypatch, "--config", str(config), "auth", "status", "--org", "boss")
    assert code == 1 and "the OS keyring has no entry" in out and "cuadra-top auth login --name boss" in out
    code, _, err = run(capsys, monkeypatch, "--config", str(config), "auth", "status", "--org", "nobody")
    assert code == 2 and "no org named 'nobody'" in err


def test_logout_removes_the_table_and_the_keyring_entry(sim, config, capsys, monkeypatch, memory_keyring):
    config.parent.mkdir(parents=True)
    config.write_text(EXISTING.format(url=sim.base_url))
    assert login_token(capsys, monkeypatch, config, sim, "alpha", "alpha-token")[0] == 0
    code, out, _ = run(capsys, monkeypatch, "--config", str(config), "auth", "logout", "alpha")
    assert code == 0 and "removed org 'alpha'" in out and "OS keyring" in out
    assert config.read_text() == EXISTING.format(url=sim.base_url)
    assert memory_keyring.entries == {}
    code, _, err = run(capsys, monkeypatch, "--config", str(config), "auth", "logout", "alpha")
    assert code == 2 and "no org named 'alpha'" in err and "configured: beta" in err


def test_the_keyring_entry_name_is_documented(sim):
    assert keystore.entry_name("acme", "https://api.cuadra.ai/") == "acme@https://api.cuadra.ai"
