"""``/metrics`` served from renders made off the scrape path.

prometheus_client renders a sample in a few microseconds (OpenMetrics: ~6.5 µs, two thirds of
it escaping the sample's name character by character), so 1,000 orgs (14,000 samples) cost
~100 ms of pure Python per render, in a process whose event loop polls those orgs under the same
GIL. Rendering on every scrape made the scrape latency grow with the fleet and with the polls.

Here a background thread renders with prometheus_client's own encoders (``choose_encoder``: the
text format, or OpenMetrics when the scraper asks for it) and gzip, one render per content type
scrapers asked for in the last ``keep_warm`` seconds: when the orgs' snapshots changed, at most
every ``render_every`` seconds, and every ``refresh_every`` seconds anyway (the ``process_*``
figures move on their own). A scrape sends the bytes of the last render of its content type.
Only the first scrape of a content type (at start, after ``keep_warm`` seconds without one, or
after ``invalidate``) renders, synchronously, and concurrent ones wait for that one render.

A render is one immutable object (body, gzip of that body, content type) swapped in whole, so a
scrape can never get a torn body or one format's body with another's headers.
"""

from __future__ import annotations

import gc
import gzip
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import Collector

from cuadra_top.debuglog import logger

log = logger("exporter.render")

RENDER_EVERY = 5.0
"""Seconds between two renders of a content type while the orgs' snapshots change: how much
older than the last poll a scraped value may be (plus the render's own time). Against a poll
every 30 s and a scrape every 15-60 s it is small; at 1,000 orgs a render costs ~0.1 s of CPU,
~2% of a core at this pace whatever the number of scrapers (an HA pair, a curl, a federation)."""
REFRESH_EVERY = 15.0
"""Seconds after which a content type is rendered again even when no org changed, for the
``process_*`` figures: never older than the shortest usual scrape interval."""
KEEP_WARM = 600.0
"""A content type nobody asked for in this long is no longer rendered (its next scrape renders)."""
MAX_FORMATS = 8
"""Content types kept at once (``choose_encoder`` passes a version through: a client could ask
for endless ones); beyond it the one asked for least recently is dropped."""
GZIP_LEVEL = 6
"""zlib's default: 3 ms for the 800 KB of 1,000 orgs against 9 ms at 9, for 1% more bytes."""

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _CollectorPaused:
    """The cyclic garbage collector off while any render runs.

    A render allocates ~5 container objects a sample (the sample, its labels, the lines) that
    live until the render ends and are then freed by reference counting: none is ever a cycle.
    Collections during a render only promote them to the oldest generation, and so many
    promotions trigger full collections (200-300 ms at 5,000 orgs, every few seconds) that hold
    the GIL and stall every scrape. What the other threads allocate meanwhile is collected after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._renders = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._renders == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._renders += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._renders -= 1
            if self._renders == 0 and self._resume:
                gc.enable()


_collector_paused = _CollectorPaused()


@dataclass(frozen=True)
class Render:
    """One exposition of the registry, as a scrape sends it."""

    content_type: str
    body: bytes
    gzipped: bytes | None
    """The gzip of ``body``, when a scraper of this content type accepted gzip lately."""
    generation: int
    """The snapshots' generation read before the registry was collected."""
    epoch: int
    """The cache's epoch then: a render from before an ``invalidate`` is never served."""
    at: float
    """Monotonic time of the render."""


class _Format:
    """A content type scrapers asked for: its encoder, its last render, when it was asked for."""

    def __init__(self, content_type: str, encoder: Callable[[Collector], bytes]) -> None:
        self.content_type = content_type
        self.encoder = encoder
        self.render: Render | None = None
        self.asked_at = 0.0
        self.gzip_asked_at = float("-inf")
        self.lock = threading.Lock()
        """One render of this content type at a time."""


class ExpositionCache:
    """The renders of ``registry``, kept fresh by a thread between ``start`` and ``stop``.

    ``generation`` returns a number that changes whenever the snapshots behind the registry do
    (read from the render thread: an int attribute is enough)."""

    def __init__(self, registry: Collector, generation: Callable[[], int], *, render_every: float = RENDER_EVERY,
                 refresh_every: float = REFRESH_EVERY, keep_warm: float = KEEP_WARM,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self._generation = generation
        self.render_every = render_every
        self.refresh_every = max(refresh_every, render_every)
        self.keep_warm = keep_warm
        self._clock = clock
        self._formats: dict[str, _Format] = {}
        self._formats_lock = threading.Lock()
        self._epoch = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def kept(self) -> tuple[str, ...]:
        """The content types rendered for their scrapers now."""
        return tuple(self._formats)

    # -- the scrape side -----------------------------------------------------------------------
    def get(self, accept: str | None, accept_encoding: str | None) -> tuple[str, bytes, bool]:
        """(content type, body, gzipped) for a scrape with these headers: the last render,
        or a render made now when there is none of this content type."""
        encoder, content_type = choose_encoder(accept or "")
        gzipped = gzip_accepted(accept_encoding or "")
        fmt = self._format(content_type, encoder)
        now = self._clock()
        fmt.asked_at = now
        if gzipped:
            fmt.gzip_asked_at = now
        render = fmt.render
        if render is None or render.epoch != self._epoch or (gzipped and render.gzipped is None):
            render = self._render_for_scrape(fmt, gzipped)
        return content_type, render.gzipped if gzipped else render.body, gzipped  # type: ignore[return-value]

    def _format(self, content_type: str, encoder: Callable[[Collector], bytes]) -> _Format:
        fmt = self._formats.get(content_type)
        if fmt is not None:
            return fmt
        with self._formats_lock:
            fmt = self._formats.get(content_type)
            if fmt is None:
                while len(self._formats) >= MAX_FORMATS:
                    oldest = min(self._formats.values(), key=lambda f: f.asked_at)
                    del self._formats[oldest.content_type]
                fmt = self._formats[content_type] = _Format(content_type, encoder)
            return fmt

    def _render_for_scrape(self, fmt: _Format, gzipped: bool) -> Render:
        with fmt.lock:  # another scrape, or the thread, may be rendering it: that render will do
            render = fmt.render
            if render is None or render.epoch != self._epoch:
                render = self._render(fmt)
            if gzipped and render.gzipped is None:
                render = fmt.render = replace(render, gzipped=gzip.compress(render.body, GZIP_LEVEL))
            return render

    def _render(self, fmt: _Format) -> Render:
        """Render ``fmt`` now (its lock held) and make it the one served."""
        epoch, generation, started = self._epoch, self._generation(), self._clock()
        with _collector_paused:
            body = fmt.encoder(self.registry)
        wants_gzip = started - fmt.gzip_asked_at <= self.keep_warm
        render = Render(fmt.content_type, body, gzip.compress(body, GZIP_LEVEL) if wants_gzip else None,
                        generation, epoch, started)
        fmt.render = render
        log.debug("rendered %s: %d bytes in %.3f s", fmt.content_type, len(body), self._clock() - started)
        return render

    def invalidate(self) -> None:
        """No render made so far is served any more (the orgs were replaced: a removed org must
        not linger); the next scrape of each content type renders, unless the thread did first."""
        self._epoch += 1

    # -- the render thread ---------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="exporter-render", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(self._render_due()):
            pass

    def _render_due(self) -> float:
        """Render every content type that is due; the seconds until the next one may be."""
        wait = self.render_every
        for fmt in list(self._formats.values()):
            if self._stopping.is_set():  # a stop waits for one render at most (~1 s at 5,000 orgs), not all
                break
            now = self._clock()
            if now - fmt.asked_at > self.keep_warm:
                with self._formats_lock:
                    if self._formats.get(fmt.content_type) is fmt and now - fmt.asked_at > self.keep_warm:
                        del self._formats[fmt.content_type]
                continue
            due = self._due(fmt)
            if due <= now:
                try:
                    with fmt.lock:
                        if self._due(fmt) <= self._clock():
                            self._render(fmt)
                except Exception:  # a collector's bug: say it, keep serving the last render
                    log.exception("rendering %s failed", fmt.content_type)
                    due = self._clock() + self.render_every
                else:
                    due = self._due(fmt)
            wait = min(wait, max(0.0, due - self._clock()))
        return wait

    def _due(self, fmt: _Format) -> float:
        """When ``fmt`` should be rendered again (monotonic time)."""
        render = fmt.render
        if render is None or render.epoch != self._epoch:
            return float("-inf")
        if render.generation != self._generation():
            return render.at + self.render_every
        return render.at + self.refresh_every


def make_metrics_app(cache: ExpositionCache) -> WSGIApp:
    """``/metrics``: a GET is answered from ``cache``; what prometheus_client's own app does
    otherwise (OPTIONS, 405, ``?name[]=`` filters, rendered on the spot) it still does."""
    live = make_wsgi_app(cache.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET" or "name[]" in parse_qs(environ.get("QUERY_STRING", "")):
            return live(environ, start_response)
        content_type, body, gzipped = cache.get(environ.get("HTTP_ACCEPT"), environ.get("HTTP_ACCEPT_ENCODING"))
        headers = [("Content-Type", content_type)]
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [body]

    return app
