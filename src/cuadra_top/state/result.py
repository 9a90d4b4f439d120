"""The outcome of one fetch of one org, apart from the fleet that fetches it.

The pollers, the history and the front ends read it; only the fleet (the connection pools,
and with them httpx) makes one, so what reads it need not load the HTTP stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cuadra_top.api.client import Fetched
from cuadra_top.api.errors import ApiError


@dataclass(frozen=True)
class OrgResult:
    """The outcome of one fetch of one org: exactly one of ``fetched`` and ``error`` is set."""

    name: str
    fetched: Fetched | None
    error: ApiError | None
    attempted_at: datetime
    key: str | None = None
    """The org's history series key (``state.identity.series_key``) when known, else None."""

    @property
    def ok(self) -> bool:
        return self.fetched is not None
