"""No secret ever shows: known secrets go in through every door a credential has (a literal in
the config, an environment variable, ``CUADRA_TOKEN``, a ``token_command``, client secrets
literal and from the environment, and the access tokens the OAuth endpoint hands out), and
every surface is searched for them: the TUI's screens and SVG screenshots, ``--once`` and
``--once --json``, ``config show`` and ``config validate``, the error message of every fault
(including a server that echoes the credential back in its errors), internal errors forced
through ``cuadra_top.cli.main``, and the ``--log`` debug log.

The redaction registry (``cuadra_top.redaction``) is global, so every test starts with it empty:
a test passes only if its own run registered the secrets it needs hidden.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cuadra_top import redaction
from cuadra_top.cli import main
from cuadra_top.config import load_config
from cuadra_top.debuglog import LOGGER_NAME, setup_debug_log
from cuadra_top.simulator import DemoOrg, Fault, Simulator
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.factory import TuiOptions
from cuadra_top.tui.factory import make_app as build_app
from cuadra_top.tui.help import HelpScreen


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


# -- the world: a simulator, a config using every kind of credential, the environment -------------


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


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch):
    """Each test starts with no secret remembered, so none relies on an earlier test's."""
    monkeypatch.setattr(redaction, "_SECRETS", set())


@pytest.fixture(autouse=True)
def restore_logging():
    """``--log`` and ``setup_debug_log`` add a handler to the app's logger: remove it after."""
    root = logging.getLogger(LOGGER_NAME)
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    root.propagate = saved[2]


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


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


# -- the CLI -------------------------------------------------------------------------------------


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


# -- a server that echoes the credential back in its errors ------------------------------------


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


# -- internal errors -------------------------------------------------------------------------------


def explode(*args, **kwargs):
    raise RuntimeError(f"internal failure while holding {LITERAL_TOKEN} and {CLIENT_SECRET}")


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


def test_an_internal_error_in_the_tui_shows_no_traceback_and_no_secret(world, capsys, tmp_path, monkeypatch):
    import cuadra_top.tui.app as app_module

    async def give_up(pilot) -> None:  # had it not crashed, the test must fail, not hang
        for _ in range(150):
            if pilot.app.crashed is not None:  # it crashed: let it end
                return
            await asyncio.sleep(0.1)
        pilot.app.exit()

    run = app_module.CuadraTopApp.run
    monkeypatch.setattr(app_module.CuadraTopApp, "run",
                        lambda self, **kw: run(self, headless=True, size=(80, 24), auto_pilot=give_up))
    on_mount = app_module.CuadraTopApp.on_mount

    def crashing_mount(self) -> None:
        on_mount(self)
        explode()

    monkeypatch.setattr(app_module.CuadraTopApp, "on_mount", crashing_mount)
    log = tmp_path / "debug.log"
    code, out, err = run_cli(capsys, "--config", str(world.config), "--log", str(log), "--no-history")
    assert code == 1, (out, err)
    assert_clean(out + err, world.secrets(), "TUI crash")
    assert "internal error" in err and "RuntimeError" in err
    text = log.read_text()
    assert "internal error" in text and "internal failure while holding ********" in text
    assert_clean(text.replace("Traceback", "traceback"), world.secrets(), "log of a TUI crash")


# -- the debug log ---------------------------------------------------------------------------------


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


# -- the TUI ---------------------------------------------------------------------------------------


def screen_text(app: CuadraTopApp) -> str:
    return "\n".join("".join(s.text for s in line) for line in app.screen._compositor.render_strips())  # noqa: SLF001


def make_app(world: World, **kw) -> CuadraTopApp:
    loaded = load_config(str(world.config))
    app = build_app(TuiOptions(loaded.settings, environ=dict(os.environ), persist_theme=False, **kw))
    app.animation_level = "none"  # Pilot's pauses wait for an idle CPU; tab animations only slow them
    return app


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def all_answered(app: CuadraTopApp) -> bool:
    states = app.monitor.states()
    return len(states) == len(app.monitor.names) and all((s.fetched or s.error) and not s.in_flight for s in states)


class Surfaces:
    """Collects the screen text and an SVG screenshot of every screen visited."""

    def __init__(self, app: CuadraTopApp) -> None:
        self.app = app
        self.seen: dict[str, str] = {}

    def grab(self, label: str) -> None:
        self.seen[f"{label} (screen)"] = screen_text(self.app)
        self.seen[f"{label} (svg)"] = self.app.export_screenshot(title=label)


async def visit_everything(app: CuadraTopApp, pilot, surfaces: Surfaces, prefix: str,
                           tabs: tuple[str, ...] = ("admin", "raw"), screens: bool = True) -> None:
    """Every org's every tab (through the actions the keys 1-9, a, v, u call: pressing each key
    costs a tenth of a second under Pilot), the help screen and the command palette."""
    await pilot.pause()
    surfaces.grab(f"{prefix} overview")
    for number, name in enumerate(app.monitor.names, 1):
        app.main_screen.action_jump(number)
        await pilot.pause()
        assert app.main_screen.current == name
        surfaces.grab(f"{prefix} {name} usage")
        for tab in tabs:
            app.main_screen.action_tab(tab)
            await pilot.pause()
            surfaces.grab(f"{prefix} {name} {tab}")
        app.main_screen.action_tab("usage")
    if not screens:
        return
    await pilot.press("question_mark")
    await pilot.pause()
    assert isinstance(app.screen, HelpScreen)
    surfaces.grab(f"{prefix} help")
    await pilot.press("escape", "ctrl+p")
    await pilot.pause(0.1)
    surfaces.grab(f"{prefix} command palette")
    await pilot.press(*"org")
    await pilot.pause(0.2)
    surfaces.grab(f"{prefix} command palette, typed")
    assert "Org: literal" in surfaces.seen[f"{prefix} command palette, typed (screen)"]
    await pilot.press("escape")
    await pilot.pause()


async def test_tui_every_screen_and_the_debug_log(world, tmp_path):
    log = tmp_path / "tui.log"
    setup_debug_log(log)
    app = make_app(world)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        surfaces = Surfaces(app)
        await wait_for(lambda: all_answered(app))
        assert app.monitor.state_of("literal").fetched is not None and app.monitor.state_of("oauth").fetched is not None
        assert app.monitor.state_of("bad").error.kind == "auth"
        await visit_everything(app, pilot, surfaces, "healthy")
        assert "seats" in surfaces.seen["healthy oauth admin (screen)"]  # the admin tab really was shown

        # Every org fails at once; refresh all from the overview, and look again.
        for name in ORG_NAMES[:-1]:
            world.sim.set_fault(name, Fault(status=401))
        world.sim.revoke_tokens("oauth")
        await pilot.press("o")
        requests = {s.name: s.requests for s in app.monitor.states()}
        await pilot.press("r", "p", "p", "plus", "minus")  # notifications on screen too
        await wait_for(lambda: all(s.requests > requests[s.name] for s in app.monitor.states()))
        await wait_for(lambda: all_answered(app))
        assert all(s.error is not None for s in app.monitor.states())
        # The other tabs and screens show the same data as before; the usage tab has the errors.
        await visit_everything(app, pilot, surfaces, "failing", tabs=(), screens=False)
        assert "credential rejected (401" in surfaces.seen["failing literal usage (screen)"]

    known = world.secrets()
    assert len(known) > len(KNOWN)  # the issued access tokens are among them
    for label, text in surfaces.seen.items():
        assert_clean(text, known, label)
    text = log.read_text()
    assert re.search(r"GET http://127\.0\.0\.1:\d+/v1/usage -> 200", text)
    assert re.search(r"POST http://127\.0\.0\.1:\d+/v1/oauth2/token -> 200", text)
    assert "polling stopped until a manual refresh" in text
    assert_clean(text, known, "TUI debug log")


async def test_tui_saved_screenshot_file(world, tmp_path):
    app = make_app(world, start_org="oauth")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: all_answered(app))
        await pilot.press("a")
        await pilot.pause()
        path = app.save_screenshot(filename="shot.svg", path=str(tmp_path))
    text = Path(path).read_text()
    assert "oauth" in text
    assert_clean(text, world.secrets(), "saved screenshot")


def test_redaction_registry_is_empty_at_the_start_of_each_test():
    assert redaction._SECRETS == set()  # noqa: SLF001
    assert redaction.redact(f"x {LITERAL_TOKEN} y") == f"x {LITERAL_TOKEN} y"  # nothing registered yet
