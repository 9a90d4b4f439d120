"""Faults the simulator can inject, so the client's error handling can be exercised on purpose."""

from __future__ import annotations

from dataclasses import dataclass

#: Kinds of broken bodies a fault can send (see ``Fault.body``).
BODY_KINDS = frozenset({"malformed", "html", "truncated", "oversize", "schema", "empty", "bad-token"})


@dataclass
class Fault:
    """How to misbehave on the next requests of one org (or of the token endpoint).

    - ``latency``: seconds added before answering (combines with everything else).
    - ``status``: answer this status; with no ``body`` an error status gets an
      RFC 7807 problem document, a non-error status the normal body.
    - ``retry_after``: ``Retry-After`` header value (meant for 429 and 503): seconds, or any
      text to send as it is (an HTTP date, garbage).
    - ``body``: ``"malformed"`` (not JSON), ``"html"`` (HTML error page, 502
      unless ``status``), ``"truncated"`` (the normal JSON cut in half, no
      ``Content-Length``, connection closed), ``"oversize"`` (the normal JSON
      padded with an unknown field past 2 MiB), ``"schema"`` (JSON violating the
      schema: ``credits.used`` is ``"lots"``, ``storage`` missing), ``"empty"``
      (empty body, 200 unless ``status``), ``"bad-token"`` (token endpoint: a normal
      answer whose ``access_token`` holds a space and a non-ASCII character; elsewhere the
      normal answer).
    - ``document``: answer this JSON value instead of the org's usage (status 200 unless
      ``status``): an API that sends floats, huge numbers, or echoes a credential.
    - ``hang``: accept the request and never answer, until the simulator stops.
    - ``drip``: send the body one byte every ``drip`` seconds (the headers at once), so
      every read succeeds in time and only a deadline on the whole request can end it.
    - ``times``: apply to the next N requests only, then clear; None = until cleared.
    - ``probability``: apply to each request with this probability (seeded RNG);
      requests it skips do not count against ``times``.
    """

    latency: float = 0.0
    status: int | None = None
    retry_after: int | str | None = None
    body: str | None = None
    document: object = None
    hang: bool = False
    drip: float = 0.0
    times: int | None = None
    probability: float = 1.0

    def __post_init__(self) -> None:
        # Fail where the fault is set, not inside a server thread.
        if self.body is not None and self.body not in BODY_KINDS:
            raise ValueError(f"unknown fault body {self.body!r}; expected one of {sorted(BODY_KINDS)}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"fault status must be an HTTP status code, got {self.status}")
        if self.latency < 0:
            raise ValueError("fault latency must not be negative")
        if self.drip < 0:
            raise ValueError("fault drip must not be negative")
        if self.times is not None and self.times < 0:
            raise ValueError("fault times must not be negative")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("fault probability must be between 0 and 1")
