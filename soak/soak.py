"""Soak test: many organizations, faults rotating under them, random keys, for a set time.

    .venv/bin/python soak/soak.py --seconds 120

Runs the real app headless (``CuadraTopApp.run_test``) against the simulator over loopback at
a 1 s refresh interval. Every few seconds a random share of the orgs gets a new fault (latency,
5xx, 429 with a small Retry-After, malformed, truncated, HTML, off-schema, a hang the client
times out on, 401, a flaky 503; now and then the token endpoint fails or access tokens are
revoked), while a random key is pressed every few hundred milliseconds (] [ o r p 1-9 a v u + -).

It reports the requests the simulator answered, the fetch outcomes by error kind and the
poller's decisions, every unhandled exception (sys.excepthook, threading.excepthook, the asyncio
loop's handler, the app's own crash, failed workers, the simulator's internal errors, and fetches
that failed with "unexpected error", which is a bug caught by the fleet), and the app's memory
(VmRSS and tracemalloc; the simulator runs in a process of its own) at the start, middle and end,
with the growth over the last third (the slope of its floor: what a leak leaves behind raises
the floor, work in flight only lifts peaks), the live widgets and Python objects.

Verdict on memory: the live widgets' floor must not climb, and traced memory must not grow more
than 2 MiB/min over the last third. Textual keeps up to 1024 gone widgets' rendered lines in a
bounded cache, which at this key rate takes about three minutes to fill; growth while it fills
is reported, not failed: run 300 s for a verdict on memory.

Exit status: 0 when nothing went wrong; 1 on any unhandled exception; 2 on runaway memory growth
(widgets never freed, or traced memory growing once the style cache is full).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import traceback
from dataclasses import dataclass, field
from pathlib import Path

# Nothing of the user's: no config, themes or history are read or written.
_HOME = tempfile.mkdtemp(prefix="cuadra-soak-")
os.environ["XDG_CONFIG_HOME"] = str(Path(_HOME) / "config")
os.environ["XDG_DATA_HOME"] = str(Path(_HOME) / "data")
for _name in [n for n in os.environ if n.startswith("CUADRA_")]:
    del os.environ[_name]

from pydantic import SecretStr  # noqa: E402

from cuadra_top.config import OrgConfig, Settings  # noqa: E402
from cuadra_top.simulator import DemoOrg, Fault, Simulator  # noqa: E402
from cuadra_top.state.fleet import Fleet, OrgResult  # noqa: E402
from cuadra_top.state.monitor import Monitor, OrgChanged  # noqa: E402
from cuadra_top.tui.app import CuadraTopApp  # noqa: E402
from cuadra_top.tui.factory import TuiOptions, make_app  # noqa: E402

KEYS = ["right_square_bracket", "left_square_bracket", "o", "r", "p", *"123456789", "a", "v", "u", "plus", "minus"]
KEY_LABEL = {"right_square_bracket": "]", "left_square_bracket": "[", "plus": "+", "minus": "-"}
MIB = 1024 * 1024
GROWTH_LIMIT = 2.0
"""MiB per minute of traced memory over the last third that counts as runaway growth."""


# -- what is observed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    t: float
    """seconds since the start"""
    rss: int
    traced: int
    objects: int
    """objects the garbage collector tracks"""
    nodes: collections.Counter
    """live DOM nodes (widgets, screens) by class: a steady app has a steady count"""
    style_cache: int
    """entries in Textual's style cache: an lru_cache(1024) keyed by a widget's StylesCache, so it
    keeps up to 1024 widgets' rendered lines alive after the widgets are gone (bounded)"""


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    fetches: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    decisions: collections.Counter = field(default_factory=collections.Counter)
    longest_backoff: float = 0.0
    keys: collections.Counter = field(default_factory=collections.Counter)
    faults_set: collections.Counter = field(default_factory=collections.Counter)
    exceptions: list[str] = field(default_factory=list)
    memory: list[Sample] = field(default_factory=list)

    def exception(self, where: str, text: str) -> None:
        self.exceptions.append(f"{where}: {text}")
        print(f"!! unhandled exception in {where}:\n{text}", file=sys.stderr, flush=True)


STATS = Stats()


class CountingFleet(Fleet):
    """The fleet the app polls through (given to it as ``TuiOptions.fleet``), counting every
    fetch outcome by error kind."""

    async def fetch(self, name: str) -> OrgResult:
        result = await super().fetch(name)
        STATS.fetches += 1
        kind = "ok" if result.error is None else result.error.kind
        STATS.outcomes[kind] += 1
        if result.error is not None and result.error.kind == "error":
            # Fleet.fetch turns an exception that is not an ApiError into this: a bug.
            STATS.exception(f"fetch of {name}", result.error.message)
        return result


def count_decisions(monitor: Monitor) -> None:
    """Count the pollers' decisions from the monitor's events: an org whose poll has ended
    (its request count moved, nothing in flight) is stopped, backing off, or due again at the
    interval; the backoff is the wait until its next poll."""
    seen: dict[str, int] = {}

    def on_event(event: object) -> None:
        if not isinstance(event, OrgChanged):
            return
        state = event.state
        if state.in_flight or state.requests == seen.get(state.name, 0):
            return
        seen[state.name] = state.requests
        if state.stopped:
            STATS.decisions["stopped (until r)"] += 1
        elif state.error is None:
            STATS.decisions["at the interval"] += 1
        else:
            STATS.decisions["backoff"] += 1
            if state.next_poll_at is not None:
                wait = (state.next_poll_at - monitor.clock()).total_seconds()
                STATS.longest_backoff = max(STATS.longest_backoff, wait)

    monitor.subscribe(on_event)


def install_exception_hooks(loop: asyncio.AbstractEventLoop) -> None:
    def excepthook(kind, value, tb) -> None:
        STATS.exception("sys.excepthook", "".join(traceback.format_exception(kind, value, tb)))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        STATS.exception(f"thread {args.thread.name if args.thread else '?'}",
                        "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    def loop_handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        error = context.get("exception")
        text = "".join(traceback.format_exception(error)) if error else str(context.get("message"))
        STATS.exception("asyncio loop", text)

    sys.excepthook = excepthook
    threading.excepthook = thread_hook
    loop.set_exception_handler(loop_handler)


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def traced_bytes() -> int:
    """Python's heap as tracemalloc counts it (the simulator runs in another process and this
    script's bookkeeping is a few hundred counters and samples)."""
    return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0


def style_cache_entries() -> int:
    try:
        from textual._styles_cache import StylesCache

        return StylesCache.get_inner_outer.cache_info().currsize
    except (ImportError, AttributeError):  # another Textual: no such cache
        return -1


def style_cache_max() -> int:
    try:
        from textual._styles_cache import StylesCache

        return StylesCache.get_inner_outer.cache_info().maxsize or 0
    except (ImportError, AttributeError):
        return 0


def sample_memory() -> None:
    from textual.dom import DOMNode

    gc.collect()
    objects = gc.get_objects()
    nodes = collections.Counter(type(o).__name__ for o in objects if isinstance(o, DOMNode))
    STATS.memory.append(Sample(time.monotonic() - STATS.started, rss_bytes(), traced_bytes(), len(objects), nodes,
                               style_cache_entries()))
    del objects


# -- the world -------------------------------------------------------------------------------------


def make_orgs(count: int, rng: random.Random) -> list[DemoOrg]:
    orgs = []
    for i in range(count):
        limit = rng.choice([1_000, 20_000, 500_000, None])
        kw: dict = {}
        if i % 5 == 0:
            kw.update(client_id=f"soak-client-{i}", client_secret=f"soak-secret-{i}-{rng.getrandbits(64):x}",
                      token_ttl=rng.choice([30, 3600]))
        if i % 7 == 0:
            kw.update(admin=True, seats=rng.randint(1, 50), credits_per_seat=rng.randint(100, 20_000),
                      purchased_balance=rng.randint(0, 100_000))
        orgs.append(DemoOrg(
            name=f"soak-{i:02d}-{rng.choice(['acme', 'globex', 'initech', '组织', 'ünïcode'])}",
            token=f"soak-token-{i}-{rng.getrandbits(64):x}", tier=rng.choice(["free", "pro", "enterprise"]),
            plan_name=rng.choice(["Free", "Pro", "Enterprise"]), credit_limit=limit,
            storage_limit=rng.choice([100 * MIB, 10 * 1024 * MIB, None]),
            credits_used_at_start=rng.randint(0, (limit or 100_000) * 2),
            storage_used_at_start=rng.randint(0, 5 * 1024 * MIB),
            burn_per_hour=rng.uniform(0, 5_000), storage_growth_per_hour=rng.uniform(0, 100 * MIB),
            hard_cap=rng.random() < 0.2, **kw,
        ))
    return orgs


class RemoteSimulator:
    """The simulator in a process of its own, driven through a pipe: its threads do not compete
    with the app for the GIL, and its memory (it records every request) is not the app's."""

    def __init__(self, orgs: list[DemoOrg], seed: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._lock = threading.Lock()
        self._process = context.Process(target=_serve_simulator, args=(child, orgs, seed), daemon=True,
                                        name="soak-simulator")
        self._process.start()
        self.base_url, self.auth_url = self._conn.recv()
        self.orgs = {org.name: org for org in orgs}
        self.errors: list[str] = []

    def _call(self, command: str, *args: object):
        with self._lock:
            self._conn.send((command, args))
            return self._conn.recv()

    def set_fault(self, name: str, fault: Fault | None) -> None:
        self._call("set_fault", name, fault)

    def set_auth_fault(self, fault: Fault | None) -> None:
        self._call("set_auth_fault", fault)

    def revoke_tokens(self, name: str) -> None:
        self._call("revoke_tokens", name)

    def counts(self) -> tuple[int, int, int]:
        """(usage requests, token requests, requests left hanging)"""
        return self._call("counts")

    def stop(self) -> None:
        if self._process.is_alive():
            self.errors = self._call("stop")
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


def _serve_simulator(conn, orgs: list[DemoOrg], seed: int) -> None:
    sim = Simulator(orgs, seed=seed).start()
    sim.flaky_latency = (0.0, 0.2)
    conn.send((sim.base_url, sim.auth_url))
    while True:
        command, args = conn.recv()
        if command == "stop":
            sim.stop()
            conn.send([repr(error) for error in sim.errors])
            return
        if command == "counts":
            records = sim.requests(path=None)
            conn.send((sum(r.path == "/v1/usage" for r in records),
                       sum(r.path == "/v1/oauth2/token" for r in records),
                       sum(r.status == 0 for r in records)))
            continue
        conn.send(getattr(sim, command)(*args))


def org_config(org: DemoOrg, sim: RemoteSimulator) -> OrgConfig:
    if org.client_id:
        return OrgConfig(name=org.name, api_url=sim.base_url, token_url=sim.auth_url, client_id=org.client_id,
                         client_secret=SecretStr(org.client_secret or ""))
    return OrgConfig(name=org.name, api_url=sim.base_url, token=SecretStr(org.token))


FAULTS = [
    ("latency", 3, lambda rng: Fault(latency=rng.uniform(0.1, 1.2))),
    ("5xx", 3, lambda rng: Fault(status=rng.choice([500, 502, 503, 504]))),
    ("429", 2, lambda rng: Fault(status=429, retry_after=rng.randint(1, 3))),
    ("malformed", 1, lambda rng: Fault(body="malformed")),
    ("truncated", 1, lambda rng: Fault(body="truncated")),
    ("html", 1, lambda rng: Fault(body="html")),
    ("schema", 1, lambda rng: Fault(body="schema")),
    ("hang", 1, lambda rng: Fault(hang=True)),
    ("401", 1, lambda rng: Fault(status=401)),
    ("flaky-503", 2, lambda rng: Fault(status=503, probability=0.3)),
]


async def rotate_faults(sim: RemoteSimulator, rng: random.Random, every: float, share: float, stop: asyncio.Event) -> None:
    names = list(sim.orgs)
    kinds, weights = [f[0] for f in FAULTS], [f[1] for f in FAULTS]
    makers = {f[0]: f[2] for f in FAULTS}
    while not stop.is_set():
        for name in names:
            sim.set_fault(name, None)
        sim.set_auth_fault(None)
        for name in rng.sample(names, max(1, int(len(names) * share))):
            kind = rng.choices(kinds, weights)[0]
            sim.set_fault(name, makers[kind](rng))
            STATS.faults_set[kind] += 1
        roll = rng.random()
        if roll < 0.15:
            sim.set_auth_fault(Fault(status=503))
            STATS.faults_set["token endpoint 503"] += 1
        elif roll < 0.25:
            for name in rng.sample([n for n, o in sim.orgs.items() if o.client_id], 2):
                sim.revoke_tokens(name)
            STATS.faults_set["tokens revoked"] += 1
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass


async def press_keys(app: CuadraTopApp, rng: random.Random, every: float, interval: float,
                     stop: asyncio.Event) -> None:
    paused_since: float | None = None
    while not stop.is_set():
        key = rng.choice(KEYS)
        if app.monitor.paused:
            paused_since = paused_since or time.monotonic()
            if time.monotonic() - paused_since > 2:
                key = "p"  # never paused for long
        else:
            paused_since = None
        send_key(app, key)
        STATS.keys[KEY_LABEL.get(key, key)] += 1
        await asyncio.sleep(rng.uniform(0, every))
        if key in ("plus", "minus") and app.monitor.interval != interval:
            # The keys step through 5 s, 10 s, ...: after a moment, back to the soak's interval
            # (as the app's own action does it), so the load stays what was asked for.
            await asyncio.sleep(0.5)
            app.monitor.set_interval(interval)
    if app.monitor.paused:
        send_key(app, "p")


def send_key(app: CuadraTopApp, key: str) -> None:
    """A key as the terminal driver delivers it. (Pilot.press waits for an idle CPU after each
    key, which a busy app under a soak rarely has: it would press a key a second at best.)"""
    from textual import events

    event = events.Key(key, KEY_LABEL.get(key, key if len(key) == 1 else None))
    event.set_sender(app)
    app.post_message(event)


async def watch_workers(app: CuadraTopApp, stop: asyncio.Event) -> None:
    from textual.worker import WorkerState

    reported: set[int] = set()
    while not stop.is_set():
        for worker in list(app.workers):
            if worker.state == WorkerState.ERROR and id(worker) not in reported:
                reported.add(id(worker))
                STATS.exception(f"worker {worker.name}", repr(worker.error))
        await asyncio.sleep(0.5)


async def sample_memory_every(seconds: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except asyncio.TimeoutError:
            sample_memory()


# -- the run ---------------------------------------------------------------------------------------


async def soak(args: argparse.Namespace, sim: RemoteSimulator, rng: random.Random) -> None:
    install_exception_hooks(asyncio.get_running_loop())
    settings = Settings(refresh_interval=args.interval, timeout={"connect": 2.0, "read": args.timeout},
                        org=[org_config(org, sim) for org in sim.orgs.values()])
    fleet = await asyncio.to_thread(CountingFleet.from_settings, settings, {})
    app = make_app(TuiOptions(settings, environ={}, rng=random.Random(args.seed), persist_theme=False, fleet=fleet))
    count_decisions(app.monitor)
    stop = asyncio.Event()
    sample_memory()
    try:
        async with app.run_test(headless=True, size=(120, 40), notifications=True):
            tasks = [
                asyncio.create_task(rotate_faults(sim, rng, args.rotate, args.share, stop)),
                asyncio.create_task(press_keys(app, rng, args.keys_every, args.interval, stop)),
                asyncio.create_task(watch_workers(app, stop)),
                asyncio.create_task(sample_memory_every(args.sample, stop)),
            ]
            deadline = time.monotonic() + args.seconds
            next_report = time.monotonic() + 10
            while time.monotonic() < deadline and app.crashed is None:
                await asyncio.sleep(0.25)
                if any(task.done() for task in tasks):
                    break
                if time.monotonic() >= next_report:
                    next_report += 10
                    elapsed = time.monotonic() - STATS.started
                    print(f"  {elapsed:5.0f} s  fetches {STATS.fetches:6d}  requests "
                          f"{sum(sim.counts()[:2]):6d}  keys {sum(STATS.keys.values()):5d}  "
                          f"rss {rss_bytes() / MIB:6.1f} MiB  traced {traced_bytes() / MIB:5.1f} MiB  "
                          f"threads {threading.active_count():3d}  fds {len(os.listdir('/proc/self/fd')):4d}  "
                          f"objects {len(gc.get_objects()):7d}  style cache {style_cache_entries():4d}", flush=True)
            stop.set()
            sample_memory()  # the end: before the app quits and tears its screens down
            for task in tasks:
                try:
                    await asyncio.wait_for(task, 10)
                except Exception as exc:  # a crash of the soak's own tasks is reported, not hidden
                    STATS.exception(f"soak task {task.get_coro().__name__}",
                                    "".join(traceback.format_exception(exc)))
            for worker in list(app.workers):
                if worker.error is not None:
                    STATS.exception(f"worker {worker.name}", repr(worker.error))
            for name in list(sim.orgs):
                sim.set_fault(name, None)  # let hanging requests go before the app leaves
            send_key(app, "escape")  # close a help screen if one is open, then quit as a user does
            send_key(app, "q")
            deadline = time.monotonic() + 10
            while app.is_running and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if app.is_running:
                STATS.exception("the app", "did not quit within 10 s of q")
    except Exception as exc:  # the app crashed: run_test re-raises what made it exit
        STATS.exception("the app", "".join(traceback.format_exception(exc)))


def floor_slope_mib_per_min(points: list[tuple[float, int]], buckets: int = 4) -> float:
    """The slope of the lower envelope: the least value in each of ``buckets`` spans of time.
    What a leak leaves behind raises the floor; a burst of work in flight only lifts a peak."""
    if len(points) < buckets * 2:
        return slope_mib_per_min(points)
    size = len(points) / buckets
    floors = []
    for i in range(buckets):
        span = points[int(i * size):int((i + 1) * size)]
        floors.append((statistics.fmean(t for t, _ in span), min(v for _, v in span)))
    return slope_mib_per_min(floors)


def slope_mib_per_min(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] / MIB for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var * 60


def report(args: argparse.Namespace, counts: tuple[int, int, int]) -> int:
    elapsed = time.monotonic() - STATS.started
    usage_requests, token_requests, hung = counts
    # "start" is the first sample once every org has answered and the screens have been built
    # (the first tenth of the run, at least 5 s): before that the app is still being set up.
    warm = max(5.0, STATS.memory[-1].t / 10)
    memory = [m for m in STATS.memory if m.t >= warm] or STATS.memory
    span = memory[-1].t - memory[0].t
    first = [m for m in memory if m.t <= memory[0].t + span / 3]
    third = [m for m in memory if m.t >= memory[0].t + span * 2 / 3]
    middle = min(memory, key=lambda m: abs(m.t - (memory[0].t + span / 2)))
    rss_slope = floor_slope_mib_per_min([(m.t, m.rss) for m in third])
    traced_slope = floor_slope_mib_per_min([(m.t, m.traced) for m in third])
    measured = traced_slope if tracemalloc.is_tracing() else rss_slope
    growing = measured > GROWTH_LIMIT
    # Textual keeps up to 1024 gone widgets' rendered lines in a bounded cache: while it fills,
    # memory grows by design, so growth then says nothing yet about a leak.
    cache_max = style_cache_max()
    filling = cache_max > 0 and third[0].style_cache < cache_max
    runaway = growing and not filling
    # Widgets that are never freed: the floor of the live DOM node count must not climb.
    nodes_before = min(sum(m.nodes.values()) for m in first)
    nodes_after = min(sum(m.nodes.values()) for m in third)
    widgets_leak = nodes_after > nodes_before * 1.1 + 50
    grown_nodes = (memory[-1].nodes - memory[0].nodes).most_common(5)

    rows: list[tuple[str, str]] = [
        ("run", f"{elapsed:.0f} s, {args.orgs} orgs, interval {args.interval:g} s, seed {args.seed}"),
        ("requests answered", f"{usage_requests + token_requests} ({usage_requests} usage, {token_requests} token, "
                              f"{hung} left hanging); {(usage_requests + token_requests) / elapsed:.1f}/s"),
        ("fetches", f"{STATS.fetches}"),
        *((f"  {kind}", f"{count}") for kind, count in STATS.outcomes.most_common()),
        ("decisions", ", ".join(f"{k} {v}" for k, v in STATS.decisions.most_common())),
        ("longest backoff", f"{STATS.longest_backoff:.1f} s"),
        ("faults set", ", ".join(f"{k} {v}" for k, v in STATS.faults_set.most_common())),
        ("keys pressed", f"{sum(STATS.keys.values())}: " + " ".join(f"{k}x{v}" for k, v in sorted(STATS.keys.items()))),
        ("unhandled exceptions", str(len(STATS.exceptions))),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    print("soak summary")
    print("-" * 78)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print()
    start, end = memory[0], memory[-1]
    print(f"{'memory (app)':<16}{'start':>12}{'middle':>12}{'end':>12}{'last third (floor)':>22}")
    print(f"{'VmRSS':<16}{start.rss / MIB:>8.1f} MiB{middle.rss / MIB:>8.1f} MiB{end.rss / MIB:>8.1f} MiB"
          f"{rss_slope:>+14.2f} MiB/min")
    print(f"{'traced':<16}{start.traced / MIB:>8.1f} MiB{middle.traced / MIB:>8.1f} MiB"
          f"{end.traced / MIB:>8.1f} MiB{traced_slope:>+14.2f} MiB/min")
    print(f"{'DOM nodes alive':<16}{sum(start.nodes.values()):>12}{sum(middle.nodes.values()):>12}"
          f"{sum(end.nodes.values()):>12}")
    print(f"{'Python objects':<16}{start.objects:>12}{middle.objects:>12}{end.objects:>12}")
    if cache_max > 0:
        print(f"{'style cache':<16}{start.style_cache:>12}{middle.style_cache:>12}{end.style_cache:>12}"
              f"{'(bounded at ' + str(cache_max) + ')':>22}")
    print(f"(the simulator runs in another process; start at {start.t:.0f} s, once set up; middle at "
          f"{middle.t:.0f} s; end at {end.t:.0f} s; {len(memory)} samples, each after a full collection)")
    print()
    code = 0
    if STATS.exceptions:
        print(f"VERDICT: FAIL: {len(STATS.exceptions)} unhandled exception(s):")
        for text in STATS.exceptions[:10]:
            print("  " + text.strip().splitlines()[-1][:200])
        code = 1
    what = "traced" if tracemalloc.is_tracing() else "RSS"
    if runaway:
        print(f"VERDICT: FAIL: memory keeps growing: {measured:+.2f} MiB/min {what} over the last third "
              f"(limit {GROWTH_LIMIT:g})")
        code = code or 2
    if widgets_leak:
        print(f"VERDICT: FAIL: widgets are never freed: the live DOM nodes' floor went from {nodes_before} "
              f"(first third) to {nodes_after} (last third); growing: "
              + ", ".join(f"{name} +{count}" for name, count in grown_nodes))
        code = code or 2
    if code == 0 and growing:
        print(f"VERDICT: OK so far: no unhandled exception, no widget kept alive; memory grew "
              f"{measured:+.2f} MiB/min {what} over the last third while Textual's bounded style cache was "
              f"still filling ({third[0].style_cache}/{cache_max} entries then): run longer (--seconds 300) "
              f"for a verdict on memory")
    elif code == 0:
        print(f"VERDICT: OK: no unhandled exception; memory flat over the last third "
              f"({measured:+.2f} MiB/min {what}, limit {GROWTH_LIMIT:g})")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120, help="how long to run (default 120)")
    parser.add_argument("--orgs", type=int, default=40, help="simulated organizations (default 40)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--interval", type=float, default=1.0, help="refresh interval in seconds (default 1)")
    parser.add_argument("--timeout", type=float, default=1.5, help="client read timeout for hangs (default 1.5)")
    parser.add_argument("--rotate", type=float, default=4.0, help="seconds between fault rotations (default 4)")
    parser.add_argument("--share", type=float, default=0.3, help="share of orgs faulted at a time (default 0.3)")
    parser.add_argument("--keys-every", type=float, default=0.4, help="at most this long between keys (default 0.4)")
    parser.add_argument("--sample", type=float, default=1.0, help="seconds between memory samples (default 1)")
    parser.add_argument("--no-tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.no_tracemalloc:
        tracemalloc.start(1)
    print(f"soak: {args.seconds:g} s, {args.orgs} orgs, interval {args.interval:g} s, seed {args.seed}", flush=True)
    rng = random.Random(args.seed)
    sim = RemoteSimulator(make_orgs(args.orgs, rng), args.seed)
    try:
        asyncio.run(soak(args, sim, rng))
        counts = sim.counts()
    finally:
        sim.stop()
    for error in sim.errors:
        STATS.exception("the simulator", error)
    return report(args, counts)


if __name__ == "__main__":
    sys.exit(main())
