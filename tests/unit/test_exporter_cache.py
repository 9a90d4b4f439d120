"""/metrics from renders made off the scrape path (issue 12's scrape latency target).

A scrape sends the last render of its content type (text format, OpenMetrics, each with its
gzip) and never renders while one is there; a poll reaches the scrapes within ``render_every``;
an org removed by a reload is gone from the next scrape; a first scrape renders once however
many ask at the same moment; a content type nobody asks for stops being rendered; and many
threads scraping while the orgs change never get a torn body, one format's body under another's
headers, or a render that mixes two states of the orgs."""

from __future__ import annotations

import gzip
import http.client
import random
import threading
import time
from collections.abc import Callable, Sequence

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from conftest import small_org
from cuadra_top.exporter.exposition import MAX_FORMATS, ExpositionCache, make_metrics_app
from cuadra_top.exporter.metrics import CuadraCollector
from cuadra_top.exporter.run import Exporter
from cuadra_top.exporter.server import MetricsServer, make_app
from cuadra_top.exporter.views import OrgView
from cuadra_top.webconfig import WebConfigSource
from exporter_support import parse, samples_of, samples_once, service_for, value

PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;"
                     "q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
ACCEPTS = (None, "text/plain", PROMETHEUS_ACCEPT, "application/openmetrics-text; version=1.0.0",
           "text/plain;version=1.0.0;escaping=underscores")


def raw_get(port: int, accept: str | None, gzipped: bool, path: str = "/metrics") -> http.client.HTTPResponse:
    """A GET with exactly these headers (no client decoding the body behind our back)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {**({"Accept": accept} if accept else {}), **({"Accept-Encoding": "gzip"} if gzipped else {})}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


def decoded(response: http.client.HTTPResponse) -> str:
    body: bytes = response.body  # type: ignore[attr-defined]
    assert response.getheader("Content-Length") == str(len(body))
    if response.getheader("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return body.decode()


def samples_in(content_type: str, text: str) -> dict:
    """Every sample, parsed by the parser of the format the content type names."""
    if content_type.startswith("application/openmetrics-text"):
        assert text.endswith("# EOF\n")
        families = openmetrics_families(text)
    else:
        assert "# EOF" not in text
        families = text_string_to_metric_families(text)
    return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}


async def started(service):
    await service.start()
    assert await service.exporter.monitor.wait_answered(10)
    return service


@pytest.fixture
def csim(start_sim, clock):
    return start_sim([small_org("plain"), small_org("other", credit_limit=None)], clock=clock)


# -- through the exporter ------------------------------------------------------------------------

async def test_scrapes_are_served_from_the_last_render(csim, monkeypatch):
    """40 scrapes of two content types: two renders (one each), not one per scrape."""
    collected = []
    views = Exporter.views
    monkeypatch.setattr(Exporter, "views", lambda self: collected.append(1) or views(self))
    service = await started(service_for(csim, ["plain", "other"], render_every=60))
    try:
        bodies: dict[str, set[bytes]] = {"om": set(), "text": set()}
        for _ in range(20):
            bodies["om"].add(raw_get(service.port, PROMETHEUS_ACCEPT, True).body)  # type: ignore[attr-defined]
            bodies["text"].add(raw_get(service.port, None, False).body)  # type: ignore[attr-defined]
    finally:
        await service.stop()
    assert len(collected) == 2
    assert len(bodies["om"]) == len(bodies["text"]) == 1


async def test_every_format_and_its_gzip_come_from_the_cache_as_prometheus_client_renders_them(csim):
    service = await started(service_for(csim, ["plain", "other"], render_every=60))
    try:
        for accept in ACCEPTS:
            encoder, content_type = choose_encoder(accept or "")
            expected = {key: v for key, v in samples_in(content_type, encoder(service.exposition.registry).decode())
                        .items() if key[0].startswith("cuadra_")}
            assert expected
            for gzipped in (True, False, True):
                response = raw_get(service.port, accept, gzipped)
                assert response.status == 200
                assert response.getheader("Content-Type") == content_type
                assert response.getheader("Content-Encoding") == ("gzip" if gzipped else None)
                got = samples_in(content_type, decoded(response))
                assert {key: v for key, v in got.items() if key[0].startswith("cuadra_")} == expected, accept
        conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
        conn.request("OPTIONS", "/metrics")  # what is not a GET, prometheus_client's app answers
        options = conn.getresponse()
        conn.close()
    finally:
        await service.stop()
    assert options.status == 200 and options.getheader("Allow") == "OPTIONS,GET"


async def test_a_poll_reaches_the_scrapes_within_render_every(csim, clock):
    service = await started(service_for(csim, ["plain", "other"], render_every=1.0, interval=0.5))
    try:
        before = await samples_of(service)
        used = value(before, "cuadra_credits_used", org="plain")
        clock.advance(3600)  # 600 credits an hour: the next poll sees 600 more
        changed_at = time.monotonic()
        after = await samples_once(service, lambda s: value(s, "cuadra_credits_used", org="plain") != used)
        took = time.monotonic() - changed_at
    finally:
        await service.stop()
    assert value(after, "cuadra_credits_used", org="plain") == csim.usage_for("plain")["credits"]["used"] > used
    assert took <= 1.0 + 0.5 + 1.0  # render_every + a poll + the polls' and the test's own pace


async def test_an_org_removed_by_a_reload_is_gone_from_the_next_scrape(csim):
    from exporter_support import loaded_for, orgs_in

    service = await started(service_for(csim, ["plain", "other"], render_every=60,
                                        reload=lambda: loaded_for(csim, ["plain"])))
    try:
        before = [parse(decoded(raw_get(service.port, None, gzipped))) for gzipped in (False, True)]
        assert await service.reload()
        after = [parse(decoded(raw_get(service.port, None, gzipped))) for gzipped in (False, True)]
    finally:
        await service.stop()
    assert [orgs_in(s) for s in before] == [{"plain", "other"}] * 2
    assert [orgs_in(s) for s in after] == [{"plain"}] * 2


# -- the cache itself ----------------------------------------------------------------------------

class Fleet:
    """Views that change as a whole: every org shows ``version`` as its last success, and the
    orgs of odd versions include ``late`` (an org that comes and goes)."""

    def __init__(self) -> None:
        self.version = 1
        self.views: Sequence[OrgView] = self._views()

    def _views(self) -> list[OrgView]:
        names = ["a", "b", "c"] + (["late"] if self.version % 2 else [])
        return [OrgView(name=n, up=True, fetched_at=float(self.version), fetch_seconds=0.25) for n in names]

    def advance(self) -> None:
        self.version += 1
        self.views = self._views()  # one assignment: a render sees one version or the next


class Gate:
    """A collector that can hold a render in its collect()."""

    def __init__(self) -> None:
        self.calls = 0
        self.inside = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def collect(self):
        self.calls += 1
        self.inside.set()
        self.release.wait(10)
        return []


def cache_for(fleet: Fleet, *extra, **kw) -> ExpositionCache:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CuadraCollector(lambda: fleet.views))
    for collector in extra:
        registry.register(collector)
    return ExpositionCache(registry, lambda: fleet.version, **kw)


def wsgi_get(app: Callable, accept: str | None = None, gzipped: bool = False) -> tuple[str, dict, bytes]:
    seen: dict = {}

    def start_response(status: str, headers: list) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "",
               **({"HTTP_ACCEPT": accept} if accept else {}), **({"HTTP_ACCEPT_ENCODING": "gzip"} if gzipped else {})}
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_a_scrape_never_waits_for_a_render_in_progress():
    fleet, gate = Fleet(), Gate()
    cache = cache_for(fleet, gate, render_every=0.05)
    app = make_metrics_app(cache)
    _, _, first = wsgi_get(app)
    cache.start()
    try:
        gate.release.clear()
        gate.inside.clear()
        fleet.advance()
        assert gate.inside.wait(5), "the thread should render the change"
        started_at = time.monotonic()
        _, _, during = wsgi_get(app)  # the render thread is stuck in collect()
        took = time.monotonic() - started_at
        gate.release.set()
    finally:
        gate.release.set()
        cache.stop()
    assert took < 0.5
    assert during == first


def test_a_first_scrape_renders_once_however_many_ask_at_once():
    fleet, gate = Fleet(), Gate()
    cache = cache_for(fleet, gate, render_every=60)
    app = make_metrics_app(cache)
    gate.release.clear()
    bodies: list[bytes] = []
    threads = [threading.Thread(target=lambda: bodies.append(wsgi_get(app, PROMETHEUS_ACCEPT, True)[2]))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    assert gate.inside.wait(5)
    time.sleep(0.2)  # every thread has asked by now
    gate.release.set()
    for thread in threads:
        thread.join(10)
    assert gate.calls == 1
    assert len(bodies) == 8 and len(set(bodies)) == 1


def test_a_content_type_nobody_asks_for_is_no_longer_rendered():
    fleet, gate = Fleet(), Gate()
    cache = cache_for(fleet, gate, render_every=0.02, keep_warm=0.3)
    app = make_metrics_app(cache)
    wsgi_get(app)
    cache.start()
    try:
        for _ in range(10):
            fleet.advance()
            time.sleep(0.05)
        assert gate.calls > 2, "kept fresh while asked for"
        time.sleep(0.5)  # past keep_warm, not asked for
        calls = gate.calls
        for _ in range(10):
            fleet.advance()
            time.sleep(0.05)
        idle_calls = gate.calls - calls
        _, _, body = wsgi_get(app)  # the next scrape renders, with what is current
    finally:
        cache.stop()
    assert idle_calls == 0
    assert value(parse(body.decode()), "cuadra_last_success_timestamp_seconds", org="a") == fleet.version


def test_endless_versions_in_accept_headers_keep_a_bounded_number_of_renders():
    fleet = Fleet()
    cache = cache_for(fleet, render_every=60)
    app = make_metrics_app(cache)
    for minor in range(3 * MAX_FORMATS):
        status, headers, _ = wsgi_get(app, f"application/openmetrics-text; version=1.0.{minor}")
        assert status == "200 OK" and headers["Content-Type"].startswith("application/openmetrics-text")
    assert len(cache.kept) == MAX_FORMATS
    assert "application/openmetrics-text; version=1.0.23; charset=utf-8; escaping=underscores" in cache.kept


def test_many_scrapers_while_the_orgs_change_never_get_a_torn_or_mixed_exposition():
    """16 threads scrape over HTTP with every Accept and Accept-Encoding while the fleet changes
    as fast as it can and is sometimes replaced (invalidate), renders running all the time."""
    fleet = Fleet()
    cache = cache_for(fleet, render_every=0.001)
    server = MetricsServer("127.0.0.1", 0, make_app(make_metrics_app(cache), WebConfigSource(None)),
                           WebConfigSource(None))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    cache.start()
    stop = threading.Event()
    problems: list[str] = []
    scraped = [0]

    def scraper(seed: int) -> None:
        rng = random.Random(seed)
        last: dict[str, float] = {}
        while not stop.is_set():
            accept, gzipped = rng.choice(ACCEPTS), rng.random() < 0.5
            try:
                response = raw_get(server.port, accept, gzipped)
                content_type = response.getheader("Content-Type")
                assert content_type == choose_encoder(accept or "")[1], content_type
                assert response.getheader("Content-Encoding") == ("gzip" if gzipped else None)
                samples = samples_in(content_type, decoded(response))
                versions = {v for (name, labels), v in samples.items()
                            if name == "cuadra_last_success_timestamp_seconds"}
                orgs = {dict(labels)["org"] for (name, labels) in samples if name == "cuadra_up"}
                assert len(versions) == 1, f"two states in one render: {versions}"
                version = versions.pop()
                assert orgs == ({"a", "b", "c", "late"} if version % 2 else {"a", "b", "c"}), (version, orgs)
                assert version >= last.get(content_type, 0), "an older render after a newer one"
                last[content_type] = version
                scraped[0] += 1
            except Exception as exc:  # noqa: BLE001 - collected, asserted below
                problems.append(f"{type(exc).__name__}: {exc}")
                return

    threads = [threading.Thread(target=scraper, args=(seed,)) for seed in range(16)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and not problems:
            fleet.advance()
            if fleet.version % 50 == 0:
                cache.invalidate()
            time.sleep(0.0005)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        cache.stop()
        server.shutdown()
        server.server_close()
    assert not problems, problems[:3]
    assert scraped[0] > 100 and fleet.version > 100


async def test_while_it_serves_a_scrape_gets_the_gil_within_a_millisecond(csim):
    """The render thread and the polls compute under the GIL; Python hands it over every 5 ms
    by default, and a scrape needs it at each of ~10 steps. The exporter asks for 1 ms while it
    serves, and gives the process its own setting back when it stops."""
    import sys

    before = sys.getswitchinterval()
    service = await started(service_for(csim, ["plain"]))
    try:
        serving = sys.getswitchinterval()
    finally:
        await service.stop()
    assert serving <= 0.001 < before
    assert sys.getswitchinterval() == before


def test_no_garbage_collection_runs_during_a_render():
    """A render's objects are freed by reference counting; a collection during it only promotes
    them, and enough promotions trigger full collections that stall every scrape (200-300 ms at
    5,000 orgs). Paused while any render runs; the process's own setting after."""
    import gc

    seen: list[bool] = []

    class Probe:
        def collect(self):
            seen.append(gc.isenabled())
            return []

    fleet = Fleet()
    cache = cache_for(fleet, Probe(), render_every=60)
    app = make_metrics_app(cache)
    assert gc.isenabled()
    wsgi_get(app)
    after = gc.isenabled()
    gc.disable()
    try:
        wsgi_get(app, PROMETHEUS_ACCEPT)
        still_disabled = not gc.isenabled()
    finally:
        gc.enable()
    assert seen == [False, False]
    assert after and still_disabled


def test_stopping_waits_for_the_render_in_progress_not_for_every_content_type():
    """SIGTERM must not wait for a render of every content type kept (seconds at 5,000 orgs)."""
    fleet, gate = Fleet(), Gate()
    cache = cache_for(fleet, gate, render_every=0.01)
    app = make_metrics_app(cache)
    for accept in ACCEPTS[1:]:  # three content types, rendered once each now
        wsgi_get(app, accept)
    gate.release.clear()
    gate.inside.clear()
    cache.start()
    fleet.advance()  # every one of them due
    assert gate.inside.wait(5)
    calls = gate.calls
    stopping = threading.Thread(target=cache.stop)
    stopping.start()
    time.sleep(0.1)
    gate.release.set()
    stopping.join(5)
    assert not stopping.is_alive()
    assert gate.calls == calls  # the render in progress finished, no other began
