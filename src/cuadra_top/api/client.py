"""The usage client: one organization's ``GET /v1/usage`` over the shared connection pool."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from cuadra_top.api.auth import Credential
from cuadra_top.api.errors import ApiError, ProtocolError
from cuadra_top.api.http import Answer, check_url, error_for, send
from cuadra_top.api.models import Usage, describe_validation_error, parse_usage
from cuadra_top.redaction import redact

if TYPE_CHECKING:
    import httpx  # the pool is the caller's (the fleet's): this module never needs httpx itself

DEFAULT_API_URL = "https://api.cuadra.ai"


@dataclass(frozen=True)
class Fetched:
    """One successful fetch: the parsed usage, the body as the API sent it, and when."""

    usage: Usage
    raw: dict[str, Any]
    fetched_at: datetime
    elapsed: float
    rate_limit_remaining: int | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)


class UsageClient:
    """Fetches one org's usage. Retries once with a fresh token after a 401 when the
    credential can yield a new one (client credentials, token_command)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        credential: Credential,
        api_url: str = DEFAULT_API_URL,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.http = http
        self.now = now
        self.credential = credential
        self.api_url = check_url(api_url)
        self.url = f"{self.api_url}/v1/usage"

    async def fetch(self) -> Fetched:
        try:
            return await self._fetch()
        except ApiError as exc:
            # The last line of defence: no message ever carries a secret.
            exc.message = redact(exc.message)
            exc.args = (exc.message,)
            raise

    async def _fetch(self) -> Fetched:
        started = time.perf_counter()
        answer = await self._get()
        if answer.status == 401 and self.credential.refreshable:
            self.credential.invalidate()
            answer = await self._get()
        if answer.status != 200:
            raise error_for(answer, self.url)
        data = answer.json()
        if not isinstance(data, dict):
            raise ProtocolError("response is JSON but not an object", status=answer.status)
        try:
            usage = parse_usage(data)
        except ValidationError as exc:
            raise ProtocolError(
                f"response does not match the usage schema: {describe_validation_error(exc)}",
                status=answer.status,
            ) from None
        remaining = answer.headers.get("x-ratelimit-remaining")
        return Fetched(
            usage=usage,
            raw=data,
            fetched_at=self.now(),
            elapsed=time.perf_counter() - started,
            rate_limit_remaining=int(remaining) if remaining and remaining.isdigit() else None,
        )

    async def _get(self) -> Answer:
        token = await self.credential.bearer(self.http)
        return await send(self.http, "GET", self.url, headers={"Authorization": f"Bearer {token}"})
