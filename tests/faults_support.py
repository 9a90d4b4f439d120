"""Shared by tests/unit/test_faults.py and tests/tui/test_faults_tui.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from cuadra_top.api.http import MAX_BODY_BYTES
from cuadra_top.simulator import Fault, Simulator
from cuadra_top.state.fleet import Fleet
from cuadra_top.state.poller import OrgPoller
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.panes import Line


BAD_TOKEN = "faults-bad-token-0c6f1e9a7d"


DNS_URL = "https://api.cuadra-top-faults.invalid"


def decided(poller: OrgPoller) -> bool:
    """The poller has finished its latest fetch and chosen what to do next."""
    return not poller.state.in_flight and len(poller.delays) == poller.state.requests


@dataclass(frozen=True)
class Case:
    """One fault, set up on the org named ``faulty`` (the simulator's ``beta``) next to a good org."""

    id: str
    kind: str
    words: tuple[str, ...]
    status: int | None = None
    stops: bool = False
    fault: Fault | None = None
    url: Callable[[Simulator, int], str] | None = None
    """api_url for the faulty org (sim, closed port) -> url; the simulator's URL when None."""
    token: str = "beta-token"
    revoke_scope: bool = False
    """403 after a success: the admin takes ``usage:read`` away from the credential."""


CASES = [
    Case("refused", "network", ("connection refused", "127.0.0.1:"),
         url=lambda sim, port: f"http://127.0.0.1:{port}"),
    Case("dns", "network", ("DNS lookup failed", "api.cuadra-top-faults.invalid"), url=lambda sim, port: DNS_URL),
    Case("read-timeout", "network", ("read timeout", "did not answer in time"), fault=Fault(hang=True)),
    Case("tls", "network", ("TLS",), url=lambda sim, port: sim.base_url.replace("http://", "https://")),
    Case("401-static", "auth", ("credential rejected (401", "fix this org's token"), status=401, stops=True,
         token=BAD_TOKEN),
    Case("403", "permission", ("permission denied (403", "usage:read"), status=403, stops=True,
         token="noscope-token", revoke_scope=True),
    Case("404", "not_found", ("not found (404)", "api_url is probably wrong"), status=404, stops=True,
         url=lambda sim, port: sim.base_url + "/wrong-prefix"),
    Case("429", "rate_limited", ("rate limited (429", "retry after 30 s"), status=429,
         fault=Fault(status=429, retry_after=30)),
    Case("402", "client", ("request refused (402",), status=402, stops=True, fault=Fault(status=402)),
    Case("500", "server", ("server error 500", "Injected fault"), status=500, fault=Fault(status=500)),
    Case("503", "server", ("server error 503",), status=503, fault=Fault(status=503)),
    Case("html-502", "server", ("server error 502", "HTML error page"), status=502, fault=Fault(body="html")),
    Case("not-json", "protocol", ("not valid JSON",), status=200, fault=Fault(body="malformed")),
    Case("html-200", "protocol", ("HTML page instead of JSON",), status=200, fault=Fault(body="html", status=200)),
    Case("truncated", "protocol", ("truncated",), fault=Fault(body="truncated")),
    Case("oversize", "protocol", ("too large", str(MAX_BODY_BYTES)), status=200, fault=Fault(body="oversize")),
    Case("empty", "protocol", ("empty response body",), status=200, fault=Fault(body="empty")),
    Case("schema", "protocol", ("usage schema", "storage: required field is missing"), status=200,
         fault=Fault(body="schema")),
]


@pytest.fixture(autouse=True)
def _isolated(isolated_env, tmp_path, monkeypatch):
    """No real user config, data (the usage history) or CUADRA_* variables."""
    for name in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))


def inject(case: Case, sim: Simulator, fleet: Fleet, closed_port: int) -> None:
    """Make the next fetch of ``faulty`` meet the case's fault."""
    if case.fault:
        sim.set_fault("beta", case.fault)
    if case.url:
        client = fleet.clients["faulty"]
        client.url = case.url(sim, closed_port) + "/v1/usage"
    if case.revoke_scope:
        sim.orgs["beta"].scopes = ()
    elif case.token == BAD_TOKEN:
        sim.orgs["beta"].token = "beta-token-rotated"  # the configured token is revoked


def status(app: CuadraTopApp) -> str:
    line = app.query_one("#status", Line)
    return str(line.render()) if line.display else ""

