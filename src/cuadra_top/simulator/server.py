"""The simulated Cuadra Usage API, served over real HTTP on loopback.

Demo mode and the test suite talk to this through the product's real HTTP
client, so everything a client can observe is modelled: bearer and OAuth
client-credentials auth, RFC 7807 errors, per-org rate limits, and injected
faults (latency, error statuses, broken bodies, hung connections).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import random
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .faults import Fault
from .orgs import DemoOrg, UsageModel, demo_orgs

USAGE_PATH = "/v1/usage"
TOKEN_PATH = "/v1/oauth2/token"
REQUIRED_SCOPE = "usage:read"
RATE_WINDOW = 60.0
OVERSIZE_BYTES = 2 * 1024 * 1024 + 4096
MAX_REQUEST_BODY = 1024 * 1024

_JSON = "application/json"
_PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class RequestRecord:
    """One request the simulator answered, so tests can check what the client sent and when.

    ``status`` is 0 for a request that was left hanging.
    """

    time: float
    org: str | None
    method: str
    path: str
    status: int
    user_agent: str


@dataclass
class _Reply:
    """What to send back; decided under the lock, sent (after any delay) outside it."""

    status: int
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    body: bytes = b""
    org: str | None = None
    latency: float = 0.0
    hang: bool = False
    truncate: bool = False
    drip: float = 0.0
    """Seconds between two bytes of the body (0: all at once)."""


@dataclass
class _Grant:
    org: str
    expires_at: float
    scopes: tuple[str, ...]


@dataclass
class _ArmedFault:
    """A private copy of a ``Fault`` plus how many uses it has left."""

    fault: Fault
    remaining: int | None


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _json_reply(status: int, obj: object, headers: list[tuple[str, str]] | None = None) -> _Reply:
    return _Reply(status, [("Content-Type", _JSON), *(headers or [])], _dumps(obj))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _merge_headers(headers: list[tuple[str, str]], extra: list[tuple[str, str]]) -> None:
    """Add ``extra`` to ``headers`` in place, replacing headers of the same name."""
    names = {k.lower() for k, _ in extra}
    headers[:] = [(k, v) for k, v in headers if k.lower() not in names] + list(extra)


def _problem(status: int, detail: str, headers: list[tuple[str, str]] | None = None, **extra: object) -> _Reply:
    """An RFC 7807 problem document, the API's error format."""
    doc = {"type": "about:blank", "title": _phrase(status), "status": status, "detail": detail, **extra}
    return _Reply(status, [("Content-Type", _PROBLEM), *(headers or [])], _dumps(doc))


def _unauthorized() -> _Reply:
    return _problem(401, "Invalid or expired token.", [("WWW-Authenticate", "Bearer")])


def _html_page(status: int) -> bytes:
    phrase = _phrase(status)
    return (
        f"<!DOCTYPE html>\n<html><head><title>{status} {phrase}</title></head>\n"
        f"<body><center><h1>{status} {phrase}</h1></center><hr><center>nginx</center></body></html>\n"
    ).encode()


def _parse_body_params(content_type: str, body: bytes) -> dict[str, str] | None:
    """String parameters of a JSON object or form-encoded body (None if it is neither)."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if isinstance(v, str)}
        if "json" in ctype:
            return None
    try:
        form = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)
    except (ValueError, UnicodeDecodeError):
        return None
    return {k: v[0] for k, v in form.items()}


def _echo_token(body: dict, token: str) -> None:
    """What a leaky API might do: the caller's own token in named and unknown fields."""
    body["plan"]["name"] = f"{body['plan']['name']} for {token}"
    body["plan"]["tier"] = token
    body["plan"]["issuedTo"] = token
    body["debug"] = {"token": token, "header": f"Bearer {token}", "note": f"served to {token}"}


def _parse_token_request(headers, body: bytes | None) -> dict[str, str] | None:
    """Token request parameters from a JSON or form body (None if unreadable).

    HTTP Basic client authentication is accepted too, as OAuth servers do.
    """
    params = _parse_body_params(headers.get("Content-Type") or "", body) if body else {}
    if params is None:
        return None
    scheme, _, value = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "basic" and value.strip():
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if sep:
            params.setdefault("client_id", user)
            params.setdefault("client_secret", password)
    return params or None


class Simulator:
    """A running fake of the Usage API and its OAuth token endpoint, with knobs for tests.

    All state is guarded by one lock; replies are decided under it and sent
    outside it, so a slow or hanging reply never blocks other requests.
    """

    #: Latency range of flaky orgs, in seconds. Tests may narrow it to stay fast.
    flaky_latency: tuple[float, float] = (0.2, 1.5)

    def __init__(
        self,
        orgs: list[DemoOrg] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.clock = clock
        self.orgs: dict[str, DemoOrg] = {}
        self._lock = threading.RLock()
        self._rng = random.Random(self.seed)
        self._models: dict[str, UsageModel] = {}
        self._faults: dict[str, _ArmedFault] = {}
        self._auth_fault: _ArmedFault | None = None
        self._grants: dict[str, _Grant] = {}
        self._windows: dict[str, deque[float]] = {}
        self._records: list[RequestRecord] = []
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        #: Exceptions raised while handling requests (answered as 500); empty when healthy.
        self.errors: list[BaseException] = []
        for org in demo_orgs() if orgs is None else orgs:
            self.add_org(org)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Simulator:
        """Bind the socket and serve from a background thread."""
        if self._httpd is not None or self._stopping.is_set():
            raise RuntimeError("a Simulator can be started once")
        self._httpd = _Server((self.host, self.port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="cuadra-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release hanging and idle connections, and join the threads."""
        self._stopping.set()
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections(timeout=5.0)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5.0)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def auth_url(self) -> str:
        return self.base_url + TOKEN_PATH

    # -- knobs ---------------------------------------------------------------

    def add_org(self, org: DemoOrg) -> None:
        """Add (or replace) an org; its usage counts from now."""
        with self._lock:
            self.orgs[org.name] = org
            self._models[org.name] = UsageModel(org.name, self.seed, self.clock())
            self._windows.pop(org.name, None)

    def set_fault(self, org_name: str, fault: Fault | None) -> None:
        """Make ``GET /v1/usage`` of this org misbehave (None clears)."""
        with self._lock:
            if org_name not in self.orgs:
                raise KeyError(org_name)
            if fault is None or fault.times == 0:
                self._faults.pop(org_name, None)
            else:
                self._faults[org_name] = _ArmedFault(dataclasses.replace(fault), fault.times)

    def set_auth_fault(self, fault: Fault | None) -> None:
        """Make ``POST /v1/oauth2/token`` misbehave (None clears)."""
        with self._lock:
            armed = None if fault is None or fault.times == 0 else _ArmedFault(dataclasses.replace(fault), fault.times)
            self._auth_fault = armed

    def revoke_tokens(self, org_name: str) -> None:
        """Invalidate every OAuth access token issued to this org (its static token stays valid)."""
        with self._lock:
            for token in [t for t, g in self._grants.items() if g.org == org_name]:
                del self._grants[token]

    # -- observation -------------------------------------------------------

    def issued_tokens(self, org_name: str) -> list[str]:
        """The OAuth access tokens issued to ``org_name`` that are still valid."""
        with self._lock:
            return [token for token, grant in self._grants.items() if grant.org == org_name]

    def requests(self, org_name: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """Requests answered so far, oldest first, optionally filtered by org and path."""
        with self._lock:
            return [
                r
                for r in self._records
                if (org_name is None or r.org == org_name) and (path is None or r.path == path)
            ]

    def request_count(self, org_name: str | None = None, path: str | None = USAGE_PATH) -> int:
        return len(self.requests(org_name, path))

    def usage_for(self, org_name: str, now: float | None = None) -> dict:
        """The usage body the org would get at ``now`` (default: the simulator clock)."""
        with self._lock:
            org = self.orgs[org_name]
            return self._models[org_name].body(org, self.clock() if now is None else now)

    # -- request handling (called by _Handler) -------------------------------

    def _handle(self, method: str, path: str, headers, body: bytes | None, user_agent: str) -> _Reply:
        now = self.clock()
        with self._lock:
            try:
                if path == USAGE_PATH:
                    reply = self._usage(method, headers, now)
                elif path == TOKEN_PATH:
                    reply = self._token(method, headers, body, now)
                else:
                    reply = _problem(404, f"No resource at {path}.")
            except Exception as exc:  # a simulator bug must look like a server error, not a dead socket
                self.errors.append(exc)
                reply = _problem(500, "Internal server error.")
            status = 0 if reply.hang else reply.status
            self._records.append(RequestRecord(now, reply.org, method, path, status, user_agent))
        return reply

    def _authenticate(self, headers, now: float) -> tuple[DemoOrg, tuple[str, ...]] | None:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        grant = self._grants.get(token)
        if grant is not None:
            org = self.orgs.get(grant.org)
            if now >= grant.expires_at or org is None:
                del self._grants[token]
                return None
            return org, grant.scopes
        for org in self.orgs.values():
            if org.token and org.token == token:
                return org, tuple(org.scopes)
        return None

    def _usage(self, method: str, headers, now: float) -> _Reply:
        if method != "GET":
            return _problem(405, f"Method {method} not allowed; use GET.", [("Allow", "GET")])
        auth = self._authenticate(headers, now)
        if auth is None:
            return _unauthorized()
        org, scopes = auth
        if REQUIRED_SCOPE not in scopes:
            reply = _problem(
                403,
                f"Missing required scope: {REQUIRED_SCOPE}",
                [("WWW-Authenticate", f'Bearer error="insufficient_scope", scope="{REQUIRED_SCOPE}"')],
            )
            reply.org = org.name
            return reply

        rate_headers: list[tuple[str, str]] = []
        limit = org.rate_limit_per_minute
        if limit > 0:
            window = self._windows.setdefault(org.name, deque())
            while window and window[0] <= now - RATE_WINDOW:
                window.popleft()
            if len(window) >= limit:
                retry = max(1, math.ceil(window[0] + RATE_WINDOW - now))
                reply = _problem(
                    429,
                    f"Rate limit exceeded: {limit} requests per minute.",
                    [("Retry-After", str(retry)), ("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Remaining", "0")],
                )
                reply.org = org.name
                return reply
            window.append(now)
            rate_headers = [("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Remaining", str(limit - len(window)))]

        def normal() -> _Reply:
            body = self._models[org.name].body(org, now)
            if org.echo_token:
                _echo_token(body, (headers.get("Authorization") or "").partition(" ")[2].strip())
            return _json_reply(200, body, rate_headers)

        def schema_violation() -> dict:
            body = self._models[org.name].body(org, now)
            body.pop("storage", None)
            body["credits"]["used"] = "lots"
            return body

        reply = None
        armed = self._faults.get(org.name)
        if armed is not None and self._fault_fires(armed):
            if armed.remaining == 0:
                del self._faults[org.name]
            reply = self._faulted(armed.fault, normal, schema_violation, rate_headers)
        if reply is None and org.flaky:
            reply = self._flaky(normal, rate_headers)
        if reply is None:
            reply = normal()
        reply.org = org.name
        return reply

    def _token(self, method: str, headers, body: bytes | None, now: float) -> _Reply:
        if method != "POST":
            return _problem(405, f"Method {method} not allowed; use POST.", [("Allow", "POST")])

        def normal() -> _Reply:
            return self._issue_token(headers, body, now)

        def schema_violation() -> dict:
            return {"access_token": 12345, "token_type": "bearer"}

        armed = self._auth_fault
        if armed is not None and self._fault_fires(armed):
            if armed.remaining == 0:
                self._auth_fault = None
            return self._faulted(armed.fault, normal, schema_violation, [])
        return normal()

    def _issue_token(self, headers, body: bytes | None, now: float) -> _Reply:
        params = _parse_token_request(headers, body)
        if params is None:
            return _problem(400, "Request body must be JSON or form-encoded token parameters.", error="invalid_request")
        if params.get("grant_type") != "client_credentials":
            return _problem(400, "grant_type must be client_credentials.", error="unsupported_grant_type")
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        if not client_id or not client_secret:
            return _problem(400, "client_id and client_secret are required.", error="invalid_request")
        for org in self.orgs.values():
            if org.client_id and org.client_id == client_id and org.client_secret == client_secret:
                break
        else:
            return _problem(401, "Invalid client credentials.", error="invalid_client")
        token = secrets.token_urlsafe(32)
        self._grants[token] = _Grant(org.name, now + org.token_ttl, tuple(org.scopes))
        reply = _json_reply(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": org.token_ttl,
                "scope": " ".join(org.scopes),
            },
            [("Cache-Control", "no-store")],
        )
        reply.org = org.name
        return reply

    def _fault_fires(self, armed: _ArmedFault) -> bool:
        """Roll the fault's probability and spend one of its uses if it fires."""
        if armed.remaining is not None and armed.remaining <= 0:
            return False
        if armed.fault.probability < 1.0 and self._rng.random() >= armed.fault.probability:
            return False
        if armed.remaining is not None:
            armed.remaining -= 1
        return True

    def _faulted(
        self,
        fault: Fault,
        normal: Callable[[], _Reply],
        schema_violation: Callable[[], dict],
        base_headers: list[tuple[str, str]],
    ) -> _Reply:
        """The reply a fault calls for, built from what the normal reply would have been."""
        headers = list(base_headers)
        if fault.status == 429:
            _merge_headers(headers, [("X-RateLimit-Remaining", "0")])
        if fault.retry_after is not None:
            headers.append(("Retry-After", str(fault.retry_after)))

        if fault.hang:
            reply = _Reply(0, hang=True)
        elif fault.body == "html":
            reply = _Reply(fault.status or 502, [*headers, ("Content-Type", "text/html; charset=utf-8")],
                           _html_page(fault.status or 502))
        elif fault.body == "malformed":
            reply = _Reply(fault.status or 200, [*headers, ("Content-Type", _JSON)],
                           b'{"storage": {"used": 5242880, "limit": <not json> ...')
        elif fault.body == "empty":
            reply = _Reply(fault.status or 200, [*headers, ("Content-Type", _JSON)], b"")
        elif fault.body == "bad-token":
            reply = normal()
            data = json.loads(reply.body)
            if isinstance(data, dict) and isinstance(data.get("access_token"), str):
                data["access_token"] += " \u00fc"
                reply.body = _dumps(data)
        elif fault.body == "schema":
            reply = _json_reply(fault.status or 200, schema_violation(), headers)
        elif fault.document is not None:
            reply = _json_reply(fault.status or 200, fault.document, headers)
        elif fault.body in ("truncated", "oversize"):
            reply = normal()
            if fault.status is not None:
                reply.status = fault.status
            _merge_headers(reply.headers, headers)
            if fault.body == "truncated":
                reply.truncate = True
            else:
                padded = json.loads(reply.body)
                padded["_padding"] = "x" * OVERSIZE_BYTES
                reply.body = _dumps(padded)
        elif fault.status is not None and fault.status >= 400:
            reply = _problem(fault.status, f"Injected fault: {_phrase(fault.status)}.", headers)
        else:
            reply = normal()
            if fault.status is not None:
                reply.status = fault.status
            _merge_headers(reply.headers, headers)
        reply.latency += fault.latency
        reply.drip = fault.drip
        return reply

    def _flaky(self, normal: Callable[[], _Reply], rate_headers: list[tuple[str, str]]) -> _Reply | None:
        """An unreliable org: always slow, sometimes unavailable or throttled."""
        low, high = self.flaky_latency
        latency = self._rng.uniform(low, high)
        roll = self._rng.random()
        if roll < 0.15:
            reply = _problem(503, "Service temporarily unavailable.", rate_headers)
        elif roll < 0.20:
            limit_headers = [h for h in rate_headers if h[0] == "X-RateLimit-Limit"]
            reply = _problem(
                429, "Too many requests.", [*limit_headers, ("Retry-After", "2"), ("X-RateLimit-Remaining", "0")]
            )
        else:
            reply = normal()
        reply.latency += latency
        return reply


class _Server(ThreadingHTTPServer):
    """A threaded HTTP server that remembers its open connections so ``stop`` can cut them."""

    daemon_threads = True
    request_queue_size = 1024
    """A real API has a deep listen backlog; socketserver's default of 5 drops the SYNs of a
    burst of new connections, and the client then waits a second to retry."""
    block_on_close = False  # we join our own threads, with a timeout

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], simulator: Simulator):
        self.simulator = simulator
        self._conn_lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True,
            name="cuadra-simulator-conn",
        )
        with self._conn_lock:
            self._conns[request] = thread
        thread.start()

    def shutdown_request(self, request) -> None:
        with self._conn_lock:
            self._conns.pop(request, None)
        super().shutdown_request(request)

    def close_connections(self, timeout: float) -> None:
        with self._conn_lock:
            conns = list(self._conns.items())
        for sock, _ in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for _, thread in conns:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request, client_address) -> None:
        """Stay quiet: clients dropping connections is normal here (hang and timeout tests)."""


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes: parses the request, asks the Simulator for a reply, sends it."""

    protocol_version = "HTTP/1.1"
    server_version = "cuadra-sim/1.0"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True  # headers and body go out in separate writes; avoid 40 ms delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the demo's terminal UI owns the terminal."""

    def _dispatch(self) -> None:
        sim = self.server.simulator
        body = self._read_body()
        if body is None:
            return
        reply = sim._handle(
            self.command, urlsplit(self.path).path, self.headers, body, self.headers.get("User-Agent", "")
        )
        try:
            self._send(reply, sim._stopping)
        except (ConnectionError, OSError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._send(_problem(411, "Send a Content-Length."), None)
            self.close_connection = True
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BODY:
            self._send(_problem(400 if length < 0 else 413, "Bad request body length."), None)
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, reply: _Reply, stopping: threading.Event | None) -> None:
        if stopping is not None:
            if reply.latency > 0 and stopping.wait(reply.latency):
                self.close_connection = True
                return
            if reply.hang:
                stopping.wait()
                self.close_connection = True
                return
        self.send_response(reply.status)
        for key, value in reply.headers:
            self.send_header(key, value)
        if reply.truncate:
            # Cut the body in half and close: the client sees the connection end mid-JSON.
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.drip > 0 and stopping is not None:
            for i in range(len(reply.body)):
                self.wfile.write(reply.body[i:i + 1])
                if stopping.wait(reply.drip):
                    self.close_connection = True
                    return
            return
        self.wfile.write(reply.body)
