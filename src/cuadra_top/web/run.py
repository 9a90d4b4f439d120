"""Running ``cuadra-top web``: the exposure rules, the server on its address, and the signals
(SIGTERM or SIGINT end every session, then the server)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cuadra_top.listen import Listen
from cuadra_top.webconfig import WebConfig, WebConfigSource, warn

DEFAULT_MAX_SESSIONS = 10


class WebError(Exception):
    """``cuadra-top web`` cannot start; the message is one line with the fix."""


@dataclass
class WebOptions:
    listen: Listen
    session_argv: Sequence[str]
    """The command a browser session runs: the TUI, with the same config and history."""
    web_config: Path | None = None
    max_sessions: int = DEFAULT_MAX_SESSIONS
    public_url: str | None = None
    insecure_no_auth: bool = False
    session_env: Mapping[str, str] = field(default_factory=dict)
    what: str = ""
    """What the sessions show, for the start line (``3 org(s)``, ``the demo``)."""


def exposure(listen: Listen, config: WebConfig, insecure_no_auth: bool) -> str | None:
    """The warning to print at start, if any; raises WebError when the address is beyond
    loopback with neither TLS nor authentication and ``--insecure-no-auth`` was not given."""
    if listen.loopback:
        return None
    where = f"{listen.host or 'every interface'}:{listen.port}"
    if not (config.authenticates or config.ssl_context is not None):
        if not insecure_no_auth:
            raise WebError(f"refusing to serve every org's usage on {where} without basic auth or TLS: set "
                           "basic_auth_users (and tls_server_config) in --web.config.file, listen on loopback "
                           "(--listen 127.0.0.1:PORT, e.g. behind an SSH tunnel), or pass --insecure-no-auth")
        return (f"--insecure-no-auth: serving on {where} without authentication: anyone who reaches it sees every "
                "org's usage and drives the TUI")
    if config.users and config.ssl_context is None:
        return (f"serving on {where} with basic auth but no TLS: passwords cross the network in clear text; add "
                "tls_server_config to --web.config.file")
    if not config.authenticates:
        return (f"serving on {where} over TLS without authentication: anyone who reaches it sees every org's "
                "usage; set basic_auth_users in --web.config.file")
    return None


class WebService:
    """The web server's life: ``start``, ``stop``."""

    def __init__(self, options: WebOptions) -> None:
        from cuadra_top.web.server import ServerSettings, WebServer

        self.options = options
        self.web = WebConfigSource(options.web_config, program="web")  # WebConfigError: said in one line
        config = self.web.current()
        self.warning = exposure(options.listen, config, options.insecure_no_auth)
        self.tls = config.ssl_context is not None
        self.server = WebServer(ServerSettings(
            session_argv=options.session_argv, max_sessions=options.max_sessions, loopback=options.listen.loopback,
            public_url=options.public_url, session_env=options.session_env,
            requires_auth=not (options.listen.loopback or options.insecure_no_auth or self.tls),
        ), self.web)
        self._runner = None
        self.port = options.listen.port

    @property
    def url(self) -> str:
        if self.options.public_url:
            return self.options.public_url
        return self.options.listen.url(self.port, tls=self.tls, path="/")

    async def start(self) -> None:
        from aiohttp import web

        listen = self.options.listen
        self._runner = runner = web.AppRunner(self.server.make_app(), handle_signals=False, access_log=None)
        await runner.setup()
        context = self.web.current().ssl_context
        if context is not None:
            context.sni_callback = self._current_certificate
        site = web.TCPSite(runner, listen.host or None, listen.port, ssl_context=context, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__  # not asyncio's long sentence
            raise WebError(f"cannot listen on {listen} ({reason}); choose another address with --listen") from None
        self.port = int(runner.addresses[0][1])

    def _current_certificate(self, connection, server_name, context) -> None:
        """At each TLS handshake, the certificate and key of the web config as it is now: a
        renewed certificate needs no restart (called by OpenSSL with or without SNI). Whether
        TLS is on, and the client certificate settings, stay as they were at start."""
        current = self.web.current().ssl_context
        if current is not None and current is not context:
            connection.context = current

    async def stop(self) -> None:
        """Every session ends (its app quits, or is ended), then the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        handled = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
            handled.append(sig)
        try:
            await self.start()
            if self.warning:
                warn(self.warning, "web")
            say = f"cuadra-top web: {self.options.what or 'the TUI'} on {self.url} ({self.options.max_sessions} " \
                  f"session(s) at most)"
            print(say, file=sys.stderr, flush=True)
            await stopping.wait()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await self.stop()
