"""No secret ever shows: known secrets go in through every door a credential has (a literal in
the config, an environment variable, ``CUADRA_TOKEN``, a ``token_command``, client secrets
literal and from the environment, and the access tokens the OAuth endpoint hands out), and
every surface is searched for them: the TUI's screens and SVG screenshots, ``--once`` and
``--once --json``, ``config show`` and ``config validate``, the error message of every fault
(including a server that echoes the credential back in its errors), internal errors forced
through ``cuadra_top.cli.main``, and the ``--log`` debug log.

The redaction registry (``cuadra_top.redaction``) is global, so every test starts with it empty:
a test passes only if its own run registered the secrets it needs hidden.

The TUI's side is in tests/tui/test_secrets_tui.py."""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cuadra_top import redaction
from cuadra_top.simulator import Fault
from conftest import run_cli
from secrets_support import (  # what the unit and the TUI tests of this topic share
    ENV_CLIENT_SECRET,
    KNOWN,
    LITERAL_TOKEN,
    ORG_NAMES,
    _secret,
    assert_clean,
    config_text,
    explode,
    world,
)

pytestmark = pytest.mark.usefixtures("no_known_secrets", "debug_log_restored")


def test_once_table_and_json(world, capsys):
    code, out, err = run_cli(capsys, "--once", "--config", str(world.config))
    assert code == 1  # the bad token's org fails; every other one is fetched
    assert_clean(out + err, world.secrets(), "--once")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == set(ORG_NAMES)
    assert "ERROR: credential rejected (401" in rows["bad"]
    assert all("ERROR" not in rows[name] for name in ORG_NAMES if name != "bad")

    code, out, err = run_cli(capsys, "--once", "--json", "--config", str(world.config))
    assert code == 1
    orgs = {org["name"]: org for org in json.loads(out)["orgs"]}
    assert [name for name, org in orgs.items() if not org["ok"]] == ["bad"]
    assert len(world.sim._grants) >= 2  # noqa: SLF001 - access tokens were issued, and are checked too
    assert_clean(out + err, world.secrets(), "--once --json")


def test_config_show_and_validate(world, capsys):
    code, out, err = run_cli(capsys, "--config", str(world.config), "config", "show")
    assert code == 0 and 'token = "********"' in out and 'client_secret = "********"' in out
    assert 'token_env = "SECRETS_TEST_TOKEN"' in out and "token_command" in out
    assert_clean(out + err, world.secrets(), "config show")
    code, out, err = run_cli(capsys, "--config", str(world.config), "config", "validate")
    assert code == 0 and "7 org(s)" in out
    assert_clean(out + err, world.secrets(), "config validate")
    world.config.chmod(0o644)  # the permission warning names the file, not what is in it
    code, out, err = run_cli(capsys, "--config", str(world.config), "config", "show")
    assert code == 0 and "chmod 600" in err
    assert_clean(out + err, world.secrets(), "config show (warning)")


def test_config_show_from_the_environment_only(isolated_env, capsys, monkeypatch):
    monkeypatch.setenv("CUADRA_CLIENT_ID", "env-only-client")
    monkeypatch.setenv("CUADRA_CLIENT_SECRET", ENV_CLIENT_SECRET)
    code, out, err = run_cli(capsys, "config", "show")
    assert code == 0 and 'client_id = "env-only-client"' in out
    assert_clean(out + err, KNOWN, "config show (env)")


@pytest.mark.parametrize("key", ["api_url", "token_url"])
@pytest.mark.parametrize("argv", [["config", "show"], ["config", "validate"], ["--once"]])
def test_a_password_in_a_url_is_refused_without_echoing_it(isolated_env, capsys, tmp_path, key, argv):
    password = _secret("url-password")
    url = f"https://someone:{password}@api.cuadra.ai"
    extra = 'client_id = "c"\nclient_secret_env = "SECRETS_TEST_UNSET"' if key == "token_url" else 'token = "abcdefgh"'
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "x"\n{key} = "{url}"\n{extra}\n')
    config.chmod(0o600)
    code, out, err = run_cli(capsys, "--config", str(config), *argv)
    assert code == 2 and "must not carry a user name or password" in err
    assert_clean(out + err, [password], f"{key} with a password")


@pytest.mark.parametrize("key", ["token_env", "client_secret_env"])
def test_a_secret_put_in_an_env_key_by_mistake_is_not_echoed(isolated_env, capsys, tmp_path, key):
    token = "ghp_" + secrets.token_hex(20)  # shaped like a variable name: letters, digits, _
    extra = 'client_id = "c"\n' if key == "client_secret_env" else ""
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "x"\n{extra}{key} = "{token}"\n')
    config.chmod(0o600)
    code, out, err = run_cli(capsys, "--config", str(config), "config", "validate")
    assert code == 2 and key in err
    assert_clean(out + err, [token], f"{key} holding the secret")


FAULTS = {
    "401": Fault(status=401),
    "403": Fault(status=403),
    "404": Fault(status=404),
    "429": Fault(status=429, retry_after=30),
    "500": Fault(status=500),
    "400": Fault(status=400),
    "html": Fault(body="html"),
    "not-json": Fault(body="malformed"),
    "truncated": Fault(body="truncated"),
    "oversize": Fault(body="oversize"),
    "schema": Fault(body="schema"),
    "empty": Fault(body="empty"),
    "hang": Fault(hang=True),
}


def test_error_messages_of_every_fault(world, capsys):
    """Every org meets the fault at once; ``bad`` gets its 401 throughout."""
    for kind, fault in FAULTS.items():
        for name in ORG_NAMES[:-1]:
            world.sim.set_fault(name, fault)
        code, out, err = run_cli(capsys, "--once", "--json", "--config", str(world.config))
        assert code == 1, kind
        orgs = json.loads(out)["orgs"]
        assert not any(org["ok"] for org in orgs), kind
        assert_clean(out + err, world.secrets(), f"fault {kind}")
        if kind in ("401", "429", "html", "schema"):  # the same messages as a table
            code, out, err = run_cli(capsys, "--once", "--config", str(world.config))
            assert_clean(out + err, world.secrets(), f"fault {kind} (table)")


@pytest.mark.parametrize("fault", [Fault(status=401), Fault(status=500), Fault(status=429, retry_after=5),
                                   Fault(body="html"), Fault(body="schema"), Fault(body="malformed")],
                         ids=["401", "500", "429", "html", "schema", "not-json"])
def test_token_endpoint_faults(world, capsys, fault):
    world.sim.set_auth_fault(fault)
    code, out, err = run_cli(capsys, "--once", "--json", "--config", str(world.config))
    assert code == 1
    orgs = {org["name"]: org for org in json.loads(out)["orgs"]}
    assert not orgs["oauth"]["ok"] and not orgs["oauth-env"]["ok"] and orgs["literal"]["ok"]
    assert_clean(out + err, world.secrets(), "token endpoint fault")


@pytest.mark.parametrize("where", ["refused", "tls", "dns"])
def test_network_errors(world, capsys, closed_port, where):
    url = {"refused": f"http://127.0.0.1:{closed_port}",
           "tls": world.sim.base_url.replace("http://", "https://"),
           "dns": "https://api.cuadra-top-secrets.invalid"}[where]
    world.config.write_text(config_text(world.sim, world.token_file, url=url, token_url=url + "/token"))
    code, out, err = run_cli(capsys, "--once", "--json", "--config", str(world.config))
    assert code == 1 and all(org["error"]["kind"] == "network" for org in json.loads(out)["orgs"])
    assert_clean(out + err, world.secrets(), where)


class EchoServer(ThreadingHTTPServer):
    """Answers every request with ``mode``'s error, quoting the request's Authorization header
    and body in it: the worst an API (or a proxy in front of it) could do."""

    daemon_threads = True
    mode = "401"

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.issued: list[str] = []


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EchoServer

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else ""
        auth = self.headers.get("Authorization", "")
        token = auth.partition(" ")[2]
        echo = f"{auth} | {token} | {body}"
        mode = self.server.mode
        status = {"401": 401, "403": 403, "429": 429, "500": 500, "400": 400, "html": 502,
                  "not-json": 200, "schema": 200, "200-token": 200}[mode]
        headers = [("Content-Type", "application/problem+json")]
        if mode == "html":
            payload = f"<html><body><h1>Bad gateway</h1><pre>{echo}</pre></body></html>".encode()
            headers = [("Content-Type", "text/html")]
        elif mode == "not-json":
            payload = f"token={token}; this is not JSON".encode()
        elif mode == "schema":
            payload = json.dumps({"storage": token, "credits": {"used": token}, "plan": {"tier": 1}}).encode()
            headers = [("Content-Type", "application/json")]
        elif mode == "200-token" and self.command == "POST":
            issued = f"echo-issued-{secrets.token_urlsafe(16)}"
            self.server.issued.append(issued)
            payload = json.dumps({"access_token": issued, "expires_in": 3600}).encode()
        elif mode == "403":
            payload = json.dumps({"title": "Forbidden", "detail": f"Missing required scope: usage:read for {token}"}).encode()
        else:
            payload = json.dumps({"title": f"Denied {token}", "detail": f"request was: {echo}",
                                  "client_secret": body}).encode()
        if mode == "429":
            headers.append(("Retry-After", "30"))
        self.send_response(status if mode != "200-token" or self.command == "POST" else 401)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize("mode", ["401", "403", "429", "500", "400", "html", "not-json", "schema", "200-token"])
def test_a_server_echoing_the_credential_gets_it_masked(world, echo, capsys, tmp_path, mode):
    echo.mode = mode
    url = f"http://127.0.0.1:{echo.server_address[1]}"
    world.config.write_text(config_text(world.sim, world.token_file, url=url, token_url=url + "/token"))
    log = tmp_path / "debug.log"
    code, out, err = run_cli(capsys, "--once", "--json", "--config", str(world.config), "--log", str(log))
    assert code == 1
    orgs = json.loads(out)["orgs"]
    assert not any(org["ok"] for org in orgs)
    known = world.secrets() + echo.issued
    assert (mode == "200-token") == bool(echo.issued)
    assert_clean(out + err, known, f"echo {mode}")
    assert_clean(log.read_text(), known, f"echo {mode} (log)")
    code, out, err = run_cli(capsys, "--once", "--config", str(world.config))
    assert_clean(out + err, world.secrets() + echo.issued, f"echo {mode} (table)")


@pytest.mark.parametrize(
    ("target", "argv"),
    [
        ("cuadra_top.once.render_json", ["--once", "--json"]),
        ("cuadra_top.once.render_table", ["--once"]),
        ("cuadra_top.config.render_masked", ["config", "show"]),
        ("cuadra_top.config.permission_warning", ["config", "validate"]),
    ],
    ids=["once-json", "once-table", "config-show", "config-validate"],
)
def test_an_internal_error_shows_no_traceback_and_no_secret(world, capsys, tmp_path, monkeypatch, target, argv):
    monkeypatch.setattr(target, explode)
    log = tmp_path / "debug.log"
    code, out, err = run_cli(capsys, "--config", str(world.config), "--log", str(log), *argv)
    assert code == 1
    assert err.strip() == "cuadra-top: internal error (RuntimeError); please report it, with --log FILE output"
    assert_clean(out + err, world.secrets(), f"internal error in {target}")
    text = log.read_text()
    assert "internal error" in text and "RuntimeError: internal failure while holding ********" in text
    assert text.count("Traceback") == 1  # the log keeps the traceback, redacted
    assert_clean(text.replace("Traceback", "traceback"), world.secrets(), f"log of internal error in {target}")


def test_an_internal_error_inside_a_fetch(world, capsys, tmp_path, monkeypatch):
    """A bug while parsing one answer fails that org with a generic message, not a traceback."""
    monkeypatch.setattr("cuadra_top.api.client.parse_usage", explode)
    log = tmp_path / "debug.log"
    code, out, err = run_cli(capsys, "--once", "--json", "--config", str(world.config), "--log", str(log))
    assert code == 1
    messages = {org["error"]["message"] for org in json.loads(out)["orgs"]}
    assert "unexpected error: RuntimeError" in messages
    assert_clean(out + err + log.read_text(), world.secrets(), "fetch bug")


def test_once_debug_log(world, capsys, tmp_path):
    log = tmp_path / "debug.log"
    code, _, _ = run_cli(capsys, "--once", "--config", str(world.config), "--log", str(log))
    assert code == 1
    text = log.read_text()
    assert re.search(r"GET http://127\.0\.0\.1:\d+/v1/usage -> 200", text)
    assert re.search(r"GET http://127\.0\.0\.1:\d+/v1/usage -> 401", text)
    assert re.search(r"POST http://127\.0\.0\.1:\d+/v1/oauth2/token -> 200", text)
    assert "token_command gave a token" in text and "access token fetched for client oauth-client" in text
    assert_clean(text, world.secrets(), "--once --log")
    assert (log.stat().st_mode & 0o777) == 0o600


def test_redaction_registry_is_empty_at_the_start_of_each_test():
    assert redaction._SECRETS == set()  # noqa: SLF001
    assert redaction.redact(f"x {LITERAL_TOKEN} y") == f"x {LITERAL_TOKEN} y"  # nothing registered yet

