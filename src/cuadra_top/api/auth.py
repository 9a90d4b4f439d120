"""Credentials: where one organization's bearer token comes from.

Three kinds: a static token (from the config, an env var), a token printed by a command
(a password manager, say), and OAuth 2.0 client credentials whose access token is cached
until shortly before it expires. Secrets live in ``SecretStr`` so a repr or a log line
shows ``**********``, never the value.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

from cuadra_top.api.claims import token_identity
from cuadra_top.api.command import CommandFailed, exit_problem, run_configured
from cuadra_top.api.errors import ApiError, AuthError, ProtocolError, RateLimited, ServerError
from cuadra_top.debuglog import logger
from cuadra_top.redaction import remember_secret
from cuadra_top.api.http import check_url, problem_of, retry_advice, retry_after_seconds, send

if TYPE_CHECKING:
    import httpx  # the pool is the caller's: a config that builds credentials never loads httpx

log = logger("auth")

DEFAULT_TOKEN_URL = "https://auth.cuadra.ai/v1/oauth2/token"
TOKEN_COMMAND_TIMEOUT = 10.0
MAX_TOKEN_OUTPUT = 64 * 1024
"""A token is a few KiB at most; a command printing more is broken, and is stopped there."""
MAX_EXPIRES_IN = 10 * 365 * 86400
"""An ``expires_in`` beyond ten years is shown as ten years (a datetime has its limits)."""


VISIBLE_ASCII = "visible ASCII only (no spaces, tabs, line breaks, control or non-ASCII characters)"
TOKEN_RULE = f"a bearer token is {VISIBLE_ASCII}"


def without_trailing_newline(value: str) -> str:
    """``value`` less one trailing newline (``echo``, ``pass show`` and files end with one)."""
    return value.removesuffix("\n").removesuffix("\r") if value.endswith("\n") else value


def header_value_problem(value: str) -> str | None:
    """What keeps ``value`` out of an HTTP header as a bearer token (RFC 6750 allows only
    visible ASCII there), e.g. "has a space at its end"; None when it can go. Describes the
    offending character and where it is, never the value itself."""
    if not value:
        return "is empty"
    for index, char in enumerate(value):
        code = ord(char)
        if 0x21 <= code <= 0x7E:
            continue
        if char == " ":
            what = "a space"
        elif char == "\t":
            what = "a tab"
        elif char in "\r\n":
            what = "a line break"
        elif code < 0x20 or code == 0x7F:
            what = "a control character"
        else:
            what = "a non-ASCII character"
        where = "at its start" if index == 0 else "at its end" if index == len(value) - 1 else "inside it"
        return f"has {what} {where}"
    return None


class Credential(Protocol):
    """What the usage client needs from a credential."""

    describe: str
    """Where the token comes from, for messages; never the secret itself."""
    refreshable: bool
    """Whether asking again after a 401 can yield a different token."""
    identity: str | None
    """Which account the credential is for, to key its history (``client:<id>``,
    ``org:<claim>``); never the secret nor derived from it; None when it cannot tell."""
    identity_settled: bool
    """False while ``identity`` cannot be known yet (a token_command before its first run)."""

    async def bearer(self, http: httpx.AsyncClient) -> str: ...

    def invalidate(self) -> None: ...


class StaticToken:
    """A bearer token given as-is (config ``token``, ``token_env``, env ``CUADRA_TOKEN``)."""

    refreshable = False
    identity_settled = True

    def __init__(self, token: SecretStr, describe: str = "token") -> None:
        self._token = token
        self.describe = describe
        remember_secret(token.get_secret_value())
        self.identity = token_identity(token.get_secret_value())

    async def bearer(self, http: httpx.AsyncClient) -> str:
        token = self._token.get_secret_value()
        problem = header_value_problem(token)
        if problem:  # the config refuses such tokens first; this guards every other caller
            raise AuthError(f"{self.describe} {problem}; {TOKEN_RULE}")
        return token

    def invalidate(self) -> None:
        """Nothing to do: asking again gives the same token."""


class CommandToken:
    """A token printed on stdout by ``token_command``; run again after a 401."""

    refreshable = True

    def __init__(self, command: str, timeout: float = TOKEN_COMMAND_TIMEOUT) -> None:
        self.command = command
        self.timeout = timeout
        self.describe = "token_command"
        self.identity: str | None = None
        self.identity_settled = False
        self._token: str | None = None
        self._lock = asyncio.Lock()

    async def bearer(self, http: httpx.AsyncClient) -> str:
        async with self._lock:
            if self._token is None:
                self._token = await self._run()
                remember_secret(self._token)
                self.identity = token_identity(self._token)
                self.identity_settled = True
                log.debug("token_command gave a token")
            return self._token

    async def _run(self) -> str:
        try:
            done = await run_configured(self.command, what="token_command", prints="the token",
                                        timeout=self.timeout, max_stdout=MAX_TOKEN_OUTPUT)
        except CommandFailed as exc:
            raise AuthError(str(exc)) from None
        problem = exit_problem(done, "token_command")
        if problem:
            raise AuthError(problem)
        token = without_trailing_newline(done.stdout.decode(errors="replace"))
        if not token:
            raise AuthError("token_command printed nothing; it must print exactly one line: the token")
        problem = header_value_problem(token)
        if problem:
            remember_secret(token)
            raise AuthError(f"token_command printed a token that {problem}; it must print exactly one "
                            f"line, the token, and {TOKEN_RULE}")
        return token

    def invalidate(self) -> None:
        self._token = None


class ClientCredentials:
    """OAuth 2.0 client credentials: an access token fetched, cached, and fetched again
    shortly before ``expires_in`` runs out (there is no refresh token)."""

    refreshable = True
    identity_settled = True

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        token_url: str = DEFAULT_TOKEN_URL,
        *,
        clock: Callable[[], float] = time.monotonic,
        margin: float = 60.0,
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        remember_secret(client_secret.get_secret_value())
        self.token_url = check_url(token_url, "token URL")
        self.describe = f"client credentials ({client_id})"
        self.identity = f"client:{client_id}"
        self._clock = clock
        self._margin = margin
        self._token: str | None = None
        self._expires_at = 0.0
        self.expires_at: datetime | None = None
        """When the access token in hand expires (UTC, as the token endpoint said), or None
        before the first one (``auth status`` shows it)."""
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many access tokens were fetched: tests and the debug log read it."""

    async def bearer(self, http: httpx.AsyncClient) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                await self._fetch(http)
            assert self._token is not None
            return self._token

    async def _fetch(self, http: httpx.AsyncClient) -> None:
        body = {
            "client_id": self.client_id,
            "client_secret": self._secret.get_secret_value(),
            "grant_type": "client_credentials",
        }
        started = self._clock()
        answer = await send(http, "POST", self.token_url, json_body=body, max_bytes=64 * 1024)
        self.fetches += 1
        title, detail = problem_of(answer)
        wait = retry_after_seconds(answer.headers.get("retry-after"))
        if answer.status >= 500:
            said = detail or title or ("HTML error page" if answer.is_html else "no details")
            raise ServerError(f"token endpoint error {answer.status}: {said}{retry_advice(wait)}",
                              retry_after=wait, status=answer.status, title=title, detail=detail)
        if answer.status == 429:
            # Transient, like at the usage endpoint: back off, do not stop as for bad credentials.
            when = retry_advice(wait) or "; retry later"
            raise RateLimited(f"token endpoint rate limited (429){when}",
                              retry_after=wait, status=429, title=title, detail=detail)
        if answer.status != 200:
            said = detail or title or "no details"
            raise AuthError(
                f"token endpoint refused the client credentials ({answer.status}: {said}); "
                "check client_id and client_secret",
                status=answer.status, title=title, detail=detail,
            )
        data = answer.json()
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ProtocolError("token endpoint answer has no access_token")
        problem = header_value_problem(token)
        if problem:  # not retried: asking again would only fetch another such token
            remember_secret(token)
            raise AuthError(f"token endpoint sent an access token that {problem}; {TOKEN_RULE}")
        expires_in = data.get("expires_in", 3600)
        if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool) or expires_in <= 0:
            raise ProtocolError("token endpoint answer has an invalid expires_in")
        margin = min(self._margin, expires_in * 0.1)
        remember_secret(token)
        log.debug("access token fetched for client %s, expires in %s s", self.client_id, expires_in)
        self._token = token
        self._expires_at = started + expires_in - margin
        self.expires_at = datetime.now(timezone.utc) + timedelta(seconds=min(expires_in, MAX_EXPIRES_IN))

    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0
        self.expires_at = None



__all__ = [
    "ApiError",
    "ClientCredentials",
    "CommandToken",
    "Credential",
    "DEFAULT_TOKEN_URL",
    "StaticToken",
]
