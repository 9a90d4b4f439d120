"""Typed errors of the API layer.

Every failure of a fetch becomes one of these, carrying what the user needs to act: a
``kind`` for scripts, the HTTP status, the RFC 7807 ``title``/``detail`` when the API sent
one, and a one-line ``message`` that says what to do. None of them ever holds a credential.
"""

from __future__ import annotations


class ApiError(Exception):
    """Base of every fetch failure. ``retryable`` tells the poller whether to back off and retry."""

    kind = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.title = title
        self.detail = detail
        self.retry_after = retry_after
        """Seconds the server asked us to wait (``Retry-After`` on a 429 or a 5xx), capped."""

    def as_dict(self) -> dict[str, object]:
        """The ``error`` object of ``--json`` output."""
        return {"kind": self.kind, "status": self.status, "message": self.message}


class AuthError(ApiError):
    """401: the credential was rejected (or the token endpoint refused the client)."""

    kind = "auth"


class PermissionDenied(ApiError):
    """403: the token is valid but lacks a scope (``usage:read``)."""

    kind = "permission"

    def __init__(self, message: str, *, missing_scope: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.missing_scope = missing_scope


class NotFound(ApiError):
    """404: almost always a wrong ``api_url``."""

    kind = "not_found"


class RateLimited(ApiError):
    """429: wait at least ``retry_after`` seconds (else an interval) before asking again."""

    kind = "rate_limited"
    retryable = True


class ServerError(ApiError):
    """5xx: the API failed; worth retrying with backoff, and not before ``retry_after``."""

    kind = "server"
    retryable = True


class ClientError(ApiError):
    """Any other 4xx (400, 402, 405, ...): a problem retrying will not fix."""

    kind = "client"


class NetworkError(ApiError):
    """DNS, refused connection, timeout, TLS: the request never got an HTTP answer."""

    kind = "network"
    retryable = True


class ProtocolError(ApiError):
    """An answer that is not a usage document: not JSON, HTML, truncated, too large, off-schema."""

    kind = "protocol"
    retryable = True


class InsecureURL(ApiError):
    """A URL refused before any request: plain ``http://`` for a host that is not loopback, a
    user name or password in it, a control character."""

    kind = "config"


class ConfigProblem(ApiError):
    """The org's config cannot be used as it is now (read afresh on a refresh): fix the file."""

    kind = "config"


class SetupError(ApiError):
    """A connection setting (CA certificates, a proxy) that cannot work: nothing is fetched
    until it is fixed. Raised when the HTTP clients are built; the message names the
    setting and the fix, in one line."""

    kind = "config"


class TLSConfigError(SetupError):
    """A CA setting (``ca_bundle``, ``SSL_CERT_FILE``, ``SSL_CERT_DIR``) that points nowhere or
    at something that holds no certificate: nothing could be verified."""


class ProxyConfigError(SetupError):
    """A proxy variable (``HTTPS_PROXY`` and the like) httpx cannot use."""
