"""Shared fixtures: a running simulator with small deterministic orgs, a fake clock, an
isolated environment, and the HTTP client the product uses.

Everything talks to the simulator over real loopback HTTP; nothing mocks the transport.

Fixtures (a test module may override any of them by defining its own, as
``test_simulator.py`` does for ``clock`` and ``sim``):

- ``clock``: a :class:`FakeClock` starting at :data:`START` (call it for the time, ``advance(s)``).
- ``make_org``: ``make_org("name", **DemoOrg fields)`` -> a small :class:`DemoOrg` whose token
  is ``"<name>-token"``.
- ``sim``: a started :class:`Simulator` (seed 42, the fake ``clock``) with the orgs in
  :data:`SIM_ORGS`; stopped after the test, which also checks it raised no internal error.
- ``start_sim``: ``start_sim(orgs, clock=..., seed=...)`` -> another started Simulator, stopped
  after the test.
- ``http``: the product's pooled ``httpx.AsyncClient`` (``make_http_client``), closed after.
- ``closed_port``: a loopback port nothing listens on.
- ``isolated_env``: no ``CUADRA_*`` variables, ``XDG_CONFIG_HOME`` in a temp dir, so no real
  user config is read; returns that temp dir.
- ``receiver``: a :class:`WebhookReceiver`, a loopback HTTP server that records the notices
  apprise delivers (``receiver.url("hook")`` -> ``json://127.0.0.1:PORT/hook``,
  ``receiver.url("topic", "ntfy")``; ``receiver.behaviour["hook"] = 500 or "hang"``;
  ``receiver.wait_for(n)``).
- ``memory_keyring``: the keyring library's backend replaced by :class:`MemoryKeyring` (its
  ``entries`` are what was stored); ``no_keyring``: by keyring's own "no backend found".
- ``debug_log_restored``: the app's logger put back as it was after the test (``--log`` and
  ``setup_debug_log`` add a handler to it); a module that needs it for every test says
  ``pytestmark = pytest.mark.usefixtures("debug_log_restored")``.
- ``sim_config_file(tmp_path, sim, names, extra="")`` (a function): a 0600 ``config.toml``
  watching the simulator's orgs ``names`` with their own tokens; returns its path.
- ``run_cli(capsys, *argv)`` (a function): ``cuadra_top.cli.main(argv)`` in this process ->
  ``(exit code, stdout, stderr)``.
- ``wait_until(condition, what, timeout)`` (a coroutine): poll ``condition`` until it is truthy
  (its value is returned), failing the test after ``timeout`` seconds.
- ``no_known_secrets``: the redaction registry emptied for the test, so a test passes only on
  the secrets its own run registered (``cuadra_top.redaction`` is process-wide).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail

from cuadra_top import redaction
from cuadra_top.api.http import make_http_client
from cuadra_top.debuglog import LOGGER_NAME
from cuadra_top.simulator import DemoOrg, Simulator

START = datetime(2026, 4, 15, 12, 0, 0, tzinfo=timezone.utc).timestamp()
MIB = 1024 * 1024
GIB = 1024 * MIB


class FakeClock:
    """A wall clock (epoch seconds) that moves only when told to."""

    def __init__(self, t: float = START) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def small_org(name: str = "small", **kw: Any) -> DemoOrg:
    """A plain pro org: 1,000 of 10,000 credits used, 1 GiB of 10 GiB, token ``<name>-token``."""
    base: dict[str, Any] = dict(
        name=name, token=f"{name}-token", tier="pro", plan_name="Pro", credit_limit=10_000,
        storage_limit=10 * GIB, credits_used_at_start=1_000, storage_used_at_start=1 * GIB,
        burn_per_hour=600.0, storage_growth_per_hour=100 * MIB,
    )
    base.update(kw)
    return DemoOrg(**base)


def sim_orgs() -> list[DemoOrg]:
    """The ``sim`` fixture's orgs, one per situation the client must handle."""
    return [
        small_org("alpha", extra_fields={"futureField": {"nested": [1, 2]}, "quotas": {"maxAgents": 5}}),
        small_org("beta", tier="free", plan_name="Free", credit_limit=1_000, credits_used_at_start=100),
        small_org("noscope", scopes=()),
        small_org("m2m", client_id="m2m-client", client_secret="m2m-secret-do-not-leak", token_ttl=100),
        small_org("limited", rate_limit_per_minute=2),
    ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_org() -> Callable[..., DemoOrg]:
    return small_org


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def start(orgs: list[DemoOrg] | None = None, *, clock: Callable[[], float] | None = None,
              seed: int = 42) -> Simulator:
        sim = Simulator(orgs, seed=seed, clock=clock or FakeClock()).start()
        sim.flaky_latency = (0.0, 0.01)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
    for sim in started:
        assert sim.errors == [], f"the simulator raised internally: {sim.errors!r}"


@pytest.fixture
def sim(start_sim, clock) -> Simulator:
    return start_sim(sim_orgs(), clock=clock)


@pytest.fixture
async def http():
    client = make_http_client()
    yield client
    await client.aclose()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test: bound, never listening (on
    Linux a connection to it is refused), so no other process can take it in the meantime."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_user_files(monkeypatch, tmp_path_factory):
    """Every test: no real user config, themes or history are read or written."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))


@pytest.fixture(autouse=True)
def _display_zone_utc():
    """Every test starts with times shown in UTC (the default when nothing sets a zone); a CLI
    run, which sets the process-wide display zone, must not leak into the next test."""
    from cuadra_top.display_time import UTC, set_display_zone

    set_display_zone(UTC)
    yield
    set_display_zone(UTC)


@pytest.fixture
def isolated_env(monkeypatch, tmp_path) -> Path:
    for name in list(os.environ):
        if name.startswith("CUADRA_"):
            monkeypatch.delenv(name)
    xdg = tmp_path / "xdg-config"
    xdg.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    return xdg


def sim_config_file(tmp_path: Path, sim: Simulator, names: list[str], extra: str = "") -> str:
    """A ``config.toml`` (mode 0600, as the config check wants for a file holding tokens) in
    ``tmp_path`` watching the simulator's orgs ``names``, each with its own token; ``extra``:
    top-level lines before them. Returns its path."""
    lines = [extra]
    for name in names:
        lines += ["[[org]]", f'name = "{name}"', f'api_url = "{sim.base_url}"', f'token = "{sim.orgs[name].token}"', ""]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return str(path)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``cuadra_top.cli.main(argv)`` in this process -> (exit code, stdout, stderr). argparse's
    own exits (--help, --version, bad usage) give their codes instead of ending the test."""
    from cuadra_top.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    out, err = capsys.readouterr()
    return code, out, err


async def wait_until(condition: Callable[[], Any], what: str = "the condition", timeout: float = 15.0) -> Any:
    """Poll ``condition`` on the running event loop until it is truthy and return its value;
    fail the test if it is not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} not reached within {timeout:g} s"
        await asyncio.sleep(0.02)
    return value


@pytest.fixture
def no_known_secrets(monkeypatch) -> None:
    """The redaction registry is process-wide: empty it for the test, so that a test passes only
    if its own run registered the secrets it needs hidden, never on an earlier test's."""
    monkeypatch.setattr(redaction, "_SECRETS", set())


@pytest.fixture
def debug_log_restored() -> Iterator[None]:
    """``--log`` and ``setup_debug_log`` add a handler to the app's logger and set its level:
    after the test, close the handlers it added and put the logger back as it was, so no later
    test writes into this test's log file."""
    root = logging.getLogger(LOGGER_NAME)
    handlers, level, propagate = list(root.handlers), root.level, root.propagate
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = propagate


@pytest.fixture
def frozen_sim() -> Iterator[Simulator]:
    """The demo orgs with the clock of the screenshots (the TUI and snapshot tests)."""
    from cuadra_top.tui.screenshots import frozen_simulator

    simulator = frozen_simulator()
    yield simulator
    simulator.stop()


SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS samples (
    org TEXT NOT NULL,
    at REAL NOT NULL,
    credits_used INTEGER NOT NULL,
    credits_limit INTEGER,
    credits_available INTEGER,
    purchased_balance INTEGER,
    storage_used INTEGER NOT NULL,
    storage_limit INTEGER,
    period_start REAL,
    period_end REAL
);
CREATE INDEX IF NOT EXISTS samples_org_at ON samples (org, at);
PRAGMA user_version = 1;
"""
"""The history's schema 1, verbatim as cuadra-top wrote it before schema 2 (issue 10)."""


def schema_1_file(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """A schema-1 history at ``path``; each row in its column order (org, at, credits_used,
    credits_limit, credits_available, purchased_balance, storage_used, storage_limit,
    period_start, period_end), datetimes allowed for the times."""
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1)
    conn.executemany(
        "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [tuple(v.timestamp() if isinstance(v, datetime) else v for v in row) for row in rows],
    )
    conn.commit()
    conn.close()


@contextlib.contextmanager
def full_accept_queue() -> Iterator[int]:
    """A loopback port whose accept queue is full, so a new connection hangs in connect (Linux)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):
                filler = socket.socket()
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
                fillers.append(filler)
            time.sleep(0.05)
            yield port
        finally:
            for filler in fillers:
                filler.close()


@dataclass
class Received:
    """One request the webhook receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class WebhookReceiver:
    """A loopback HTTP server standing in for Slack, ntfy or any webhook: it records what
    apprise sends (``json://``, ``ntfy://``, ``xml://``... to 127.0.0.1) and answers as
    told per path: ``"ok"`` (200), a status code (500), ``"hang"`` (reads the request, never
    answers until the test ends)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.received: list[Received] = []
        self.behaviour: dict[str, object] = {}
        self.release = threading.Event()
        self._arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._arrived:
                    receiver.received.append(Received(self.command, self.path, dict(self.headers), body))
                    receiver._arrived.notify_all()
                how = receiver.answer_for(self.path)
                if how == "hang":
                    receiver.release.wait(120)
                    return
                status = 200 if how == "ok" else int(how)  # type: ignore[call-overload]
                payload = b'{"ok": true}' if status < 400 else b'{"error": "nope"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = _serve

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    def answer_for(self, path: str) -> object:
        route = path.lstrip("/").split("?")[0].split("/")[0]
        return self.behaviour.get(route, "ok")

    def url(self, route: str = "hook", scheme: str = "json") -> str:
        """An apprise URL to this receiver: ``json://127.0.0.1:PORT/hook``; for ntfy the
        route is the topic (ntfy posts to the server's root)."""
        return f"{scheme}://127.0.0.1:{self.port}/{route}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first ``count`` requests, waiting for them; fails the test if they do not come."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the receiver got {len(self.received)} request(s), not {count}")
                self._arrived.wait(left)
            return list(self.received[:count])

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A :class:`WebhookReceiver` on a free loopback port, stopped after the test."""
    hook = WebhookReceiver()
    yield hook
    hook.stop()


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that keeps its entries in a dict: what the tests put in, they can look at."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("no such entry")


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


@pytest.fixture
def no_keyring():
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)
