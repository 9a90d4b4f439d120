"""HTTP plumbing shared by the usage client and the OAuth token fetch.

One ``httpx.AsyncClient`` (one connection pool) serves every organization. Responses are
read with a size cap and within a deadline, transport failures become :class:`NetworkError`,
and error answers become typed errors carrying the RFC 7807 problem's title and detail.

httpx (and the proxy transports built on it) are imported where a client is made or a
request sent, not with this module: the config checks its URLs and TLS settings here, and
neither it nor a screen showing the answers the history kept should pay for the HTTP stack.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cuadra_top import __version__
from cuadra_top.format import printable
from cuadra_top.format import wait as fmt_wait
from cuadra_top.debuglog import logger
from cuadra_top.api.errors import (
    ApiError,
    AuthError,
    ClientError,
    InsecureURL,
    NetworkError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ServerError,
    TLSConfigError,
)

if TYPE_CHECKING:
    import httpx

    from cuadra_top.api.proxy import ProxyFailure

log = logger("http")

USER_AGENT = f"cuadra-top/{__version__}"
MAX_BODY_BYTES = 1024 * 1024
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0


@dataclass(frozen=True)
class Timeouts:
    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT


CA_FILE_FIX = "point it at a PEM file of CA certificates"
CA_DIR_FIX = "point it at a directory of hashed CA certificates (see `openssl rehash`)"
_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.r?[0-9]+")


class _Unusable(Exception):
    """Why a CA file or directory cannot serve (the text goes into the user's message)."""


def _load_ca_file(cafile: str, capath: str | None = None) -> ssl.SSLContext:
    """A verifying context trusting ``cafile`` (and ``capath``); raises _Unusable."""
    try:
        context = ssl.create_default_context(cafile=cafile, capath=capath)
    except FileNotFoundError:
        raise _Unusable("no such file") from None
    except IsADirectoryError:
        raise _Unusable("is a directory, not a file") from None
    except PermissionError:
        raise _Unusable("cannot be read (permission denied)") from None
    except ssl.SSLError:
        raise _Unusable("holds no PEM certificate") from None
    except (OSError, ValueError) as exc:
        raise _Unusable(f"cannot be read ({one_line(getattr(exc, 'strerror', None) or exc)})") from None
    if not context.cert_store_stats()["x509"]:
        raise _Unusable("holds no PEM certificate")
    return context


def _check_ca_dir(path: str) -> None:
    """Raise _Unusable when ``path`` cannot serve as ``SSL_CERT_DIR``. OpenSSL looks
    certificates up there by hashed name (``5ad8a5d6.0``) only, so a directory without one
    holds no CA for it."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        raise _Unusable("no such directory") from None
    except NotADirectoryError:
        raise _Unusable("not a directory") from None
    except PermissionError:
        raise _Unusable("cannot be read (permission denied)") from None
    except OSError as exc:
        raise _Unusable(f"cannot be read ({one_line(exc.strerror or exc)})") from None
    if not any(_HASHED_NAME.fullmatch(name) for name in names):
        raise _Unusable("no hashed certificates in it")


def ca_file_problem(path: str) -> str | None:
    """Why ``path`` cannot serve as a CA bundle, or None when it holds PEM certificates
    (the config's check of ``ca_bundle``)."""
    try:
        _load_ca_file(path)
    except _Unusable as exc:
        return str(exc)
    return None


def check_tls_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Raise TLSConfigError, one line naming the variable and the fix, when ``SSL_CERT_FILE`` or
    ``SSL_CERT_DIR`` is set but cannot serve. The config loader calls it (as a ConfigError)
    when no ``ca_bundle`` overrides them; :func:`tls_context` makes the same checks."""
    if environ.get("SSL_CERT_FILE") or environ.get("SSL_CERT_DIR"):
        tls_context(None, environ)


def tls_context(ca_bundle: str | None = None, environ: Mapping[str, str] = os.environ) -> ssl.SSLContext:
    """A verifying TLS context: ``ca_bundle``, else ``SSL_CERT_FILE``/``SSL_CERT_DIR``, else
    certifi's store. Built once and shared by every pool: each build costs tens of ms. Raises
    TLSConfigError (one line naming the setting and the fix) when the CA setting in use
    cannot serve."""
    if ca_bundle:
        try:
            return _load_ca_file(ca_bundle)
        except _Unusable as exc:
            raise TLSConfigError(f"ca_bundle {ca_bundle}: {exc}; {CA_FILE_FIX}, or remove the key") from None
    cafile = environ.get("SSL_CERT_FILE") or None
    capath = environ.get("SSL_CERT_DIR") or None
    if capath:
        try:
            _check_ca_dir(capath)
        except _Unusable as exc:
            raise TLSConfigError(f"SSL_CERT_DIR={capath}: {exc}; {CA_DIR_FIX}, or unset it") from None
    if cafile:
        try:
            return _load_ca_file(cafile, capath)
        except _Unusable as exc:
            raise TLSConfigError(f"SSL_CERT_FILE={cafile}: {exc}; {CA_FILE_FIX}, or unset it") from None
    if capath:
        return ssl.create_default_context(capath=capath)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def request_deadline(timeout: httpx.Timeout) -> float | None:
    """Seconds one whole request may take, from connecting to the body's last byte: the connect
    timeout plus the read timeout. httpx's read timeout bounds only the wait for each next piece,
    so a server that drips its answer a byte at a time would never trip it."""
    if timeout.connect is None or timeout.read is None:
        return None
    return timeout.connect + timeout.read


def too_slow(url: str, deadline: float) -> NetworkError:
    """The error of an answer (or a whole fetch) that did not complete within ``deadline``."""
    return NetworkError(f"{urlsplit(url).netloc} sent its answer too slowly: "
                        f"no complete answer within {deadline:g} s")


def make_http_client(
    timeouts: Timeouts = Timeouts(),
    *,
    ca_bundle: str | None = None,
    max_connections: int = 32,
    tls: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """A pooled client. Certificates are always verified, against ``tls`` when given (shared
    between pools), else a context built from ``ca_bundle`` or the default stores."""
    import httpx

    from cuadra_top.api.proxy import proxy_mounts

    verify = tls or tls_context(ca_bundle)
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect),
        limits=limits,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        verify=verify,
        follow_redirects=False,
        trust_env=True,  # honour HTTPS_PROXY / NO_PROXY on servers...
        mounts=proxy_mounts(verify, limits),  # ...naming the proxy in errors, never for loopback
    )


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str = "api_url") -> str:
    """Refuse anything but https://, except plain http:// to a loopback host (the simulator);
    and a URL holding a control character (no request could use it, and every message naming
    the URL would send it to the terminal)."""
    control = next((i for i, char in enumerate(url) if printable(char) != char), None)
    if control is not None:
        raise InsecureURL(f"{what} holds the control character {url[control]!r} at position {control + 1}; "
                          "remove it")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # user:password@host would be echoed by every error message and log line naming the URL.
        raise InsecureURL(f"{what} must not carry a user name or password (user:password@host); "
                          "give the credential as token, token_env, token_command or client_secret")
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url.rstrip("/")
    if parts.scheme == "http":
        raise InsecureURL(
            f"refusing plain http:// for {what} {parts.hostname}: use https:// "
            "(plain http is allowed only for loopback)"
        )
    raise InsecureURL(f"{what} {url!r} is not an https:// URL")


def one_line(text: str, limit: int = 200) -> str:
    text = printable(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_transport_error(exc: httpx.TransportError, url: str) -> NetworkError | ProtocolError:
    """Name the cause of a request that got no usable HTTP answer, in one line."""
    import httpx

    from cuadra_top.api.proxy import ProxyFailure

    if isinstance(exc, ProxyFailure):
        return describe_proxy_failure(exc, url)
    host = urlsplit(url).netloc
    if isinstance(exc, httpx.ConnectTimeout):
        return NetworkError(f"connect timeout: {host} did not accept a connection in time")
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return NetworkError(f"read timeout: {host} did not answer in time")
    if isinstance(exc, httpx.PoolTimeout):
        return NetworkError("timed out waiting for a free connection")
    if isinstance(exc, httpx.RemoteProtocolError):
        return ProtocolError(f"{host} closed the connection mid-answer (response truncated)")
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return NetworkError(f"TLS error: certificate of {host} not trusted ({one_line(cause.verify_message or cause)})")
        if isinstance(cause, ssl.SSLError):
            return NetworkError(f"TLS error talking to {host}: {one_line(cause.reason or cause)}")
        if isinstance(cause, socket.gaierror):
            return NetworkError(f"DNS lookup failed for {urlsplit(url).hostname}")
        if isinstance(cause, ConnectionRefusedError):
            return NetworkError(f"connection refused by {host}")
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return NetworkError(f"DNS lookup failed for {urlsplit(url).hostname}")
    if "refused" in text.lower():
        return NetworkError(f"connection refused by {host}")
    if "SSL" in text or "certificate" in text.lower():
        return NetworkError(f"TLS error talking to {host}: {one_line(text)}")
    return NetworkError(f"network error talking to {host}: {one_line(text) or type(exc).__name__}")


def _tls_in_chain(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def describe_proxy_failure(exc: ProxyFailure, url: str) -> NetworkError | ProtocolError:
    """A failure on the way through a proxy: the proxy's own (it cannot be reached, refuses the
    tunnel) names the proxy, not the API host; anything later says it went via the proxy."""
    import httpx

    cause, host = exc.cause, urlsplit(url).hostname
    if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout)) and not _tls_in_chain(cause):
        reached = describe_transport_error(cause, f"http://{exc.address}").message
        return NetworkError(f"proxy {exc.proxy} failed: {reached}; check the proxy, or list {host} in NO_PROXY")
    if isinstance(cause, httpx.ProxyError):
        return NetworkError(f"proxy {exc.proxy} did not connect to {host}: {one_line(cause) or 'no reason given'}")
    error = describe_transport_error(cause, url)
    return type(error)(f"{error.message} (via proxy {exc.proxy})")


@dataclass(frozen=True)
class Answer:
    """A complete HTTP answer read within the size cap."""

    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def is_html(self) -> bool:
        kind = self.headers.get("content-type", "")
        return "html" in kind or self.body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))

    def json(self) -> Any:
        if self.is_html:
            raise ProtocolError(f"got an HTML page instead of JSON (status {self.status})", status=self.status)
        if not self.body.strip():
            raise ProtocolError(f"empty response body (status {self.status})", status=self.status)
        try:
            return loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(
                f"response is not valid JSON (truncated or corrupt): {exc.msg if hasattr(exc, 'msg') else exc}",
                status=self.status,
            ) from None
        except (RecursionError, _TooDeep):
            raise ProtocolError(f"response is nested more than {MAX_JSON_DEPTH} levels deep",
                                status=self.status) from None


MAX_JSON_DEPTH = 64
"""Deeper documents are refused: nothing downstream (validation, --json, the raw view) must
meet a structure deep enough to exhaust the interpreter's recursion limit."""
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _TooDeep(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def _clean(value: Any, depth: int = 0) -> Any:
    """Replace lone surrogates (legal as ``\\ud800`` escapes, unprintable as UTF-8: the first
    print of such a string would fail) by U+FFFD, and refuse documents nested too deep."""
    if depth > MAX_JSON_DEPTH:
        raise _TooDeep
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_clean(key, depth + 1): _clean(item, depth + 1) for key, item in value.items()}
    return value


def loads(body: bytes) -> Any:
    """``json.loads`` for answers: strict JSON (no NaN or Infinity), every string printable,
    at most MAX_JSON_DEPTH levels. Raises JSONDecodeError, UnicodeDecodeError, RecursionError
    or _TooDeep."""
    return _clean(json.loads(body, parse_constant=_no_constant))


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> Answer:
    """Make one request and read the whole body, refusing bodies over ``max_bytes``, within
    the client's :func:`request_deadline`."""
    import httpx  # loaded already: ``http`` is one of its clients

    started = time.perf_counter()
    deadline = request_deadline(http.timeout)
    bound = asyncio.timeout(deadline)
    try:
        async with bound, http.stream(method, url, headers=headers, json=json_body) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ProtocolError(
                    f"response too large ({int(declared)} bytes, the cap is {max_bytes})",
                    status=response.status_code,
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ProtocolError(
                        f"response too large (over the {max_bytes}-byte cap)", status=response.status_code
                    )
                chunks.append(chunk)
            log.debug("%s %s -> %s, %d bytes, %.0f ms", method, url, response.status_code, size,
                      (time.perf_counter() - started) * 1000)
            return Answer(response.status_code, response.headers, b"".join(chunks))
    except httpx.TransportError as exc:
        error = describe_transport_error(exc, url)
    except TimeoutError:
        if not bound.expired():
            raise
        assert deadline is not None
        error = too_slow(url, deadline)
    log.debug("%s %s -> failed after %.0f ms: %s", method, url, (time.perf_counter() - started) * 1000,
              error.message)
    raise error from None


RETRY_AFTER_CAP = 3600.0
"""The longest ``Retry-After`` obeyed: a server asking for days is asking for an hour."""
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def retry_after_seconds(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> float | None:
    """``Retry-After`` as seconds, at most RETRY_AFTER_CAP: either delta-seconds or an HTTP
    date (a past date means now). None for anything else (negative, NaN, garbage)."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return min(float(value), RETRY_AFTER_CAP)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max((when - now()).total_seconds(), 0.0), RETRY_AFTER_CAP)


def retry_advice(wait: float | None) -> str:
    """'retry after 45 s', 'retry after 1h', for an error message; '' when the server said nothing."""
    return f"; retry after {fmt_wait(wait)}" if wait is not None else ""


def problem_of(answer: Answer) -> tuple[str | None, str | None]:
    """(title, detail) of an RFC 7807 body, or (None, None) when the body is not one."""
    if answer.is_html:
        return None, None
    try:
        data = loads(answer.body)
    except (ValueError, UnicodeDecodeError, RecursionError, _TooDeep):
        return None, None
    if not isinstance(data, dict):
        return None, None
    title, detail = data.get("title"), data.get("detail")
    return (one_line(title) if isinstance(title, str) else None,
            one_line(detail) if isinstance(detail, str) else None)


def error_for(answer: Answer, url: str) -> ApiError:
    """The typed error for a non-2xx answer of the usage endpoint."""
    status = answer.status
    title, detail = problem_of(answer)
    said = detail or title or ("HTML error page" if answer.is_html else "no details")
    kw: dict[str, Any] = {"status": status, "title": title, "detail": detail}
    if status == 401:
        return AuthError(f"credential rejected (401: {said}); fix this org's token or client credentials", **kw)
    if status == 403:
        scope = None
        if detail and "scope" in detail.lower() and ":" in detail:
            # "Missing required scope: usage:read": the scope itself contains a colon.
            scope = detail.split(":", 1)[1].strip() or None
        scope = scope or "usage:read"
        return PermissionDenied(
            f"permission denied (403: {said}); give the credential the {scope} scope",
            missing_scope=scope, **kw,
        )
    if status == 404:
        return NotFound(f"not found (404) at {url}; the api_url is probably wrong", **kw)
    wait = retry_after_seconds(answer.headers.get("retry-after"))
    if status == 429:
        when = retry_advice(wait) or "; retry later"
        return RateLimited(f"rate limited (429: {said}){when}", retry_after=wait, **kw)
    if status >= 500:
        return ServerError(f"server error {status}: {said}{retry_advice(wait)}", retry_after=wait, **kw)
    return ClientError(f"request refused ({status}: {said})", **kw)
