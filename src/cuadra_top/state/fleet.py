"""The organizations being watched: one usage client each, all on one connection pool.

Both the scriptable mode and the TUI's pollers go through here, so they fetch the same way.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone

import httpx

from cuadra_top.api.auth import TOKEN_COMMAND_TIMEOUT
from cuadra_top.api.client import UsageClient
from cuadra_top.api.errors import ApiError
from cuadra_top.api.http import Timeouts, make_http_client, one_line, request_deadline, tls_context, too_slow
from cuadra_top.config import OrgConfig, Settings, build_credential
from cuadra_top.state.identity import series_key
from cuadra_top.state.result import OrgResult  # what fetch returns (it lives apart: see there)

POOL_CONNECTIONS = 8
MAX_POOLS = 8
"""Orgs share a few small connection pools (at most 8 x 8 connections), not one big one:
httpcore's pool rescans every connection for every waiting request (encode/httpcore#1035), so
one pool of 64 makes a 500-org refresh CPU-bound, while 8 pools of 8 finish it in well under
a second. Fleets of up to 8 orgs share a single pool."""
MAX_CONCURRENT_FETCHES = POOL_CONNECTIONS * MAX_POOLS
"""Bounded concurrency: hundreds of orgs never open hundreds of sockets at once."""


FETCH_DEADLINE_MARGIN = 1.0


def whole_fetch_deadline(timeout: httpx.Timeout) -> float | None:
    """The bound on one org's whole fetch: room for a token (token_command or token request)
    and the usage request, twice (one retry after a 401), and a margin, so that the deadline
    of the request under way, with its more precise message, always ends first. A backstop:
    whatever else might wait (a lock, a bug) still ends."""
    request = request_deadline(timeout)
    if request is None:
        return None
    return 2 * (max(request, TOKEN_COMMAND_TIMEOUT) + request) + FETCH_DEADLINE_MARGIN


class Fleet:
    """Owns the connection pools (``httpx.AsyncClient``s) and one ``UsageClient`` per org.
    Building it builds a TLS context: do it off the event loop (``asyncio.to_thread``)."""

    def __init__(
        self,
        orgs: Sequence[OrgConfig],
        environ: Mapping[str, str],
        *,
        timeouts: Timeouts = Timeouts(),
        ca_bundle: str | None = None,
        http: httpx.AsyncClient | None = None,
        tls: ssl.SSLContext | None = None,
        max_pools: int = MAX_POOLS,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        fetch_deadline: float | None = None,
    ) -> None:
        self.now = now
        self._owns_http = http is None
        if http is not None:
            self.pools = [http]
        else:
            tls = tls or tls_context(ca_bundle, environ)  # ``tls``: built beforehand from the same settings
            count = min(max_pools, max(1, math.ceil(len(orgs) / POOL_CONNECTIONS)))
            self.pools = [make_http_client(timeouts, max_connections=POOL_CONNECTIONS, tls=tls)
                          for _ in range(count)]
        # Round robin over the pools, and a gate per pool as wide as the pool: requests queue
        # here (cheap) instead of in httpcore's pool (see POOL_CONNECTIONS).
        width = POOL_CONNECTIONS if http is None else MAX_CONCURRENT_FETCHES
        gates = self._pool_gates = [asyncio.Semaphore(width) for _ in self.pools]
        self.clients: dict[str, UsageClient] = {}
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._pool_of: dict[str, int] = {}
        for i, org in enumerate(orgs):
            pool = i % len(self.pools)
            self._pool_of[org.name] = pool
            self.clients[org.name] = UsageClient(self.pools[pool], build_credential(org, environ), org.api_url, now=now)
            self._gates[org.name] = gates[pool]
        self.fetch_deadline = fetch_deadline or whole_fetch_deadline(self.pools[0].timeout)
        """Seconds one org's whole fetch may take once under way (None: unbounded)."""

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str], *,
                      names: Sequence[str] | None = None, **kw: object) -> Fleet:
        """The fleet of ``settings.org``, or of just ``names`` of them (only their credentials
        are needed: ``--once --org acme`` must not fail on another org's unset variable)."""
        orgs = settings.org if names is None else [org for org in settings.org if org.name in set(names)]
        return cls(orgs, environ, timeouts=settings.timeouts, ca_bundle=settings.ca_bundle, **kw)  # type: ignore[arg-type]

    def replace_org(self, org: OrgConfig, environ: Mapping[str, str]) -> None:
        """A new credential and URL for a known org (its config was read afresh), on the same
        pool; raises ConfigError when the credential cannot be built."""
        old = self.clients[org.name]
        self.clients[org.name] = UsageClient(self.pools[self._pool_of[org.name]], build_credential(org, environ),
                                             org.api_url, now=old.now)

    def add_org(self, org: OrgConfig, environ: Mapping[str, str]) -> None:
        """One more org on the pools there are (the next in the round robin): an org added
        while the monitor runs. Raises ConfigError when its credential cannot be built,
        ValueError when the fleet has an org of that name."""
        if org.name in self.clients:
            raise ValueError(f"org {org.name!r} is already in the fleet")
        credential = build_credential(org, environ)
        pool = len(self.clients) % len(self.pools)
        self._pool_of[org.name] = pool
        self._gates[org.name] = self._pool_gates[pool]
        self.clients[org.name] = UsageClient(self.pools[pool], credential, org.api_url, now=self.now)

    @property
    def http(self) -> httpx.AsyncClient:
        """The first pool (the only one for up to 8 orgs)."""
        return self.pools[0]

    @property
    def names(self) -> list[str]:
        return list(self.clients)

    def series_key(self, name: str) -> str | None:
        """The org's history series key (``state.identity.series_key``); None until its
        credential can tell (a token_command before its first run)."""
        client = self.clients[name]
        return series_key(client.api_url, client.credential, name)

    def series_keys(self, names: Sequence[str] | None = None) -> dict[str, str | None]:
        """``series_key`` of every org (or of ``names``): what ``Trends.load`` takes."""
        return {name: self.series_key(name) for name in (self.names if names is None else names)}

    async def fetch(self, name: str) -> OrgResult:
        """Fetch one org; never raises for an API failure, it is returned instead."""
        attempted = self.now()
        client = self.clients[name]
        async with self._gates[name]:
            bound = asyncio.timeout(self.fetch_deadline)
            try:
                async with bound:
                    fetched = await client.fetch()
            except ApiError as exc:
                return OrgResult(name, None, exc, attempted, self.series_key(name))
            except Exception as exc:  # a bug must not take the whole monitor down
                if isinstance(exc, TimeoutError) and bound.expired() and self.fetch_deadline is not None:
                    return OrgResult(name, None, too_slow(client.url, self.fetch_deadline), attempted,
                                     self.series_key(name))
                return OrgResult(name, None, ApiError(f"unexpected error: {one_line(type(exc).__name__)}"), attempted,
                                 self.series_key(name))
            # after the fetch: a token_command's identity is known once it has run
            return OrgResult(name, fetched, None, attempted, self.series_key(name))

    async def fetch_all(self, names: Sequence[str] | None = None) -> list[OrgResult]:
        """Fetch every org (or ``names``) concurrently, in config order."""
        names = list(names) if names is not None else self.names
        return list(await asyncio.gather(*(self.fetch(name) for name in names)))

    async def aclose(self) -> None:
        if self._owns_http:
            for pool in self.pools:
                await pool.aclose()

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
