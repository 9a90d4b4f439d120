"""The HTTP side of ``cuadra-top web``: textual-serve's server (a page with a terminal in it, and a
websocket bridged to one app process per browser tab), with what a team screen needs around it.

- Every request, the websocket upgrade and the static files included, passes one check first
  (:meth:`WebServer.refusal`): the web config's basic auth and client certificate SANs; on a
  loopback address, a loopback ``Host`` (a page of another site that rebinds its name to
  127.0.0.1 gets nothing); for the websocket, an ``Origin`` of this server (another site's
  page cannot open a session in a visitor's browser).
- The page is ours, not textual-serve's: relative URLs (or under ``--public-url``), ``wss://``
  when it came over TLS, the app's title, no font or script from elsewhere, no credential.
- ``--max-sessions`` app processes at most; beyond them a page that says so.
- Each session's app runs without a shell, in its own process group: closing the tab asks it to
  quit, and if it has not within :data:`QUIT_GRACE` seconds it is terminated, then killed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from cuadra_top.debuglog import logger
from cuadra_top.webconfig import BasicAuth, WebConfig, WebConfigSource

log = logger("web")

PAGE_TITLE = "cuadra-top"
"""The app's own title (``CuadraTopApp.TITLE``; a test holds them equal): the server never
imports the app, nor Textual."""
QUIT_GRACE = 5.0
"""Seconds a session's app has to quit (its history written) once its tab is gone."""
TERM_GRACE = 3.0
"""Then seconds between SIGTERM and SIGKILL."""
HEARTBEAT = 15.0
"""Seconds between websocket pings: a tab that vanished without closing (a laptop lid, a
dropped network) ends its session within two of them."""
TEMPLATES = Path(__file__).with_name("templates")
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


@dataclass(frozen=True)
class ServerSettings:
    """What the server is told by ``cuadra-top web`` (see :class:`cuadra_top.web.run.WebOptions`)."""

    session_argv: Sequence[str]
    """The command each session runs (the TUI, with the same config and history)."""
    max_sessions: int
    loopback: bool
    """Listening on loopback only: then ``Host`` must be a loopback name (or ``--public-url``'s)."""
    public_url: str | None = None
    session_env: Mapping[str, str] | None = None
    """Added to each session's environment."""
    requires_auth: bool = False
    """Beyond loopback without TLS nor ``--insecure-no-auth``: it started only because the web
    config authenticates, so a version of the file that no longer does makes it refuse every
    request (it is read again when it changes)."""


class Session(AppService):
    """One browser tab's app: started from an argument list (no shell between), in a process
    group of its own, and sure to end."""

    def __init__(self, argv: Sequence[str], extra_env: Mapping[str, str], **kw) -> None:
        super().__init__(" ".join(argv), **kw)
        self.argv = list(argv)
        self.extra_env = dict(extra_env)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width, height)
        environment.update(self.extra_env)
        return environment

    async def _open_app_process(self, width: int = 80, height: int = 24):
        environment = self._build_environment(width=width, height=height)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=environment, start_new_session=True)
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def stop(self) -> None:
        """Ask the app to quit; terminate it if it has not in time, then kill it; and whatever
        it started (its process group) with it."""
        process = self._process
        if process is None:
            return
        asking = asyncio.ensure_future(super().stop())
        try:
            await asyncio.wait_for(asyncio.shield(asking), QUIT_GRACE)
        except asyncio.TimeoutError:
            log.warning("session %s did not quit in %s s; terminating it", process.pid, QUIT_GRACE)
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), TERM_GRACE)
            except asyncio.TimeoutError:
                self._signal(signal.SIGKILL)
        await process.wait()
        await asyncio.gather(asking, return_exceptions=True)
        self._signal(signal.SIGKILL)  # anything the app left behind in its group

    def _signal(self, number: int) -> None:
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, number)
        except (ProcessLookupError, PermissionError):
            pass


class WebServer(Server):
    """textual-serve's :class:`~textual_serve.server.Server`, for its websocket protocol and
    downloads; its page, routes and process handling are replaced (see the module)."""

    def __init__(self, settings: ServerSettings, web_config: WebConfigSource) -> None:
        super().__init__(" ".join(settings.session_argv), title=PAGE_TITLE, public_url=settings.public_url)
        self.settings = settings
        self.web_config = web_config
        self.sessions: set[Session] = set()
        self._starting = 0
        self._auth = BasicAuth()
        self._templates = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
        public = urlsplit(settings.public_url) if settings.public_url else None
        self._public_host = public.netloc.rpartition("@")[2].lower() if public else None
        self._public_origin = f"{public.scheme}://{self._public_host}" if public else None

    # -- the application -------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get("/ws", self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, show_index=False, name="static"),
        ])
        app.on_response_prepare.append(self._add_headers)
        app.on_shutdown.append(self._end_sessions)
        return app

    @property
    def active(self) -> int:
        """Sessions running or starting."""
        return len(self.sessions) + self._starting

    # -- the check every request passes ---------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        config = self.web_config.current()
        refused = await self.refusal(request, config)
        if refused is not None:
            log.info("refused %s %s from %s: %s", request.method, request.path, request.remote, refused.status)
            return refused
        return await handler(request)

    async def refusal(self, request: web.Request, config: WebConfig) -> web.Response | None:
        """None when ``request`` may go on; else the answer that refuses it."""
        if self.settings.requires_auth and not config.authenticates:
            return _text(503, "The web config no longer sets up authentication; this server refuses every request "
                              "until it does.")
        if self.settings.loopback and not self._loopback_host(request):
            return _text(403, "Unexpected Host: this server listens on loopback. Behind a reverse proxy, give "
                              "--public-url.")
        if config.allowed_sans and not _san_allowed(request.transport, config.allowed_sans):
            return _text(403, "Client certificate not allowed.")
        if config.users:
            header = request.headers.get("Authorization")
            if not await asyncio.to_thread(self._auth.check, header, config.users):
                response = _text(401, "Unauthorized.")
                response.headers["WWW-Authenticate"] = 'Basic realm="cuadra-top", charset="UTF-8"'
                return response
        if request.path == "/ws" and not self._same_origin(request):
            return _text(403, "This session belongs to the page this server serves.")
        return None

    def _loopback_host(self, request: web.Request) -> bool:
        """``Host`` names this machine's loopback (or is ``--public-url``'s)."""
        if self._public_host is not None and (request.host or "").lower() == self._public_host:
            return True
        try:
            name = (request.url.host or "").lower()
        except ValueError:  # a Host that is no host
            return False
        if name in LOOPBACK_NAMES or name.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def _same_origin(self, request: web.Request) -> bool:
        """A browser names the page that opens a websocket; it must be one of ours. (A client
        that is no browser names none; it has passed authentication like any other.)"""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        origin = origin.lower()
        if self._public_origin is not None and origin == self._public_origin:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == (request.host or "").lower()

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        for name, value in self.web_config.current().headers:
            response.headers[name] = value
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")

    # -- the page ----------------------------------------------------------------------

    async def handle_index(self, request: web.Request) -> web.Response:
        if self.active >= self.settings.max_sessions:
            response = self._render("busy.html", 503, max_sessions=self.settings.max_sessions)
            response.headers["Retry-After"] = "30"
            return response
        public = (self.settings.public_url or "").rstrip("/")
        websocket = None
        if public:
            scheme, _, rest = public.partition("://")
            websocket = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws"
        return self._render("index.html", 200, static=f"{public}/static/" if public else "static/",
                            websocket=websocket, font_size=_bounded(request.query.get("fontsize"), 16, 6, 64))

    def _render(self, name: str, status: int, **values: object) -> web.Response:
        text = self._templates.get_template(name).render(title=PAGE_TITLE, **values)
        return web.Response(status=status, text=text, content_type="text/html", charset="utf-8")

    # -- the sessions ------------------------------------------------------------------

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        if self.active >= self.settings.max_sessions:
            return _text(503, f"All {self.settings.max_sessions} sessions are in use.")
        self._starting += 1
        session: Session | None = None
        websocket = web.WebSocketResponse(heartbeat=HEARTBEAT)
        try:
            await websocket.prepare(request)
            session = Session(self.settings.session_argv, self.settings.session_env or {},
                              write_bytes=websocket.send_bytes, write_str=websocket.send_str, close=websocket.close,
                              download_manager=self.download_manager)
            await session.start(_bounded(request.query.get("width"), 80, 10, 1000),
                                _bounded(request.query.get("height"), 24, 5, 1000))
            self.sessions.add(session)
            self._starting -= 1
            log.info("session %s started (%d running)", session.pid, len(self.sessions))
            await self._process_messages(websocket, session)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a malformed message, a vanished tab: this session ends, not the server
            log.info("session %s ended: %s", session.pid if session else "-", type(exc).__name__)
        finally:
            if session is None or session not in self.sessions:
                self._starting -= 1
            await self._end(session, websocket)
        return websocket

    async def _end(self, session: Session | None, websocket: web.WebSocketResponse) -> None:
        if session is not None:
            await asyncio.shield(session.stop())
            self.sessions.discard(session)
            log.info("session %s ended (%d running)", session.pid, len(self.sessions))
        if not websocket.closed:
            await websocket.close()

    async def _end_sessions(self, app: web.Application) -> None:
        """On shutdown: every session's app quits (or is ended), and its tab is told."""
        await asyncio.gather(*(session.stop() for session in list(self.sessions)), return_exceptions=True)


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain", charset="utf-8")


def _bounded(text: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(text) if text is not None else default
    except ValueError:
        value = default
    return min(max(value, low), high)


def _san_allowed(transport, allowed: frozenset[str]) -> bool:
    """The verified client certificate names one of ``client_allowed_sans``."""
    cert = transport.get_extra_info("peercert") if transport is not None else None
    names = {value for _kind, value in (cert or {}).get("subjectAltName", ())}
    return bool(names & allowed)
