"""cuadra-top benchmarks: the real program in a pseudo-terminal, against the simulator on loopback.

    .venv/bin/python -m bench            # the full run (about 15 minutes)
    .venv/bin/python -m bench --quick    # a smoke run (about 3 minutes)
    .venv/bin/python bench/run.py --help

Writes bench/RESULTS.md and bench/results.json (or --out DIR). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import exporter as exporter_bench  # noqa: E402
from bench import report  # noqa: E402
from bench.harness import (  # noqa: E402
    BENCH_DIR,
    CUADRA_TOP,
    PYTHON,
    BenchError,
    PtyProc,
    child_env,
    eprint,
    install_cleanup,
    kill_all_children,
    loadavg,
    machine_info,
    now,
    run_for,
    run_worker,
    scratch_dir,
    store_answer,
    summarize,
    wait_for,
)

MIB = 1024 * 1024
GIB = 1024 * MIB
COLS, ROWS = 120, 40
# What the screen shows, as the bench reads it (adjust here if the UI's wording changes):
STARTUP_MARKER = "used 42,100"  # the Credits pane of the start-up org (burns nothing: the number never moves)
STORED_USED = 41_900
"""The credits of the answer an earlier run stored (the history is seeded with it before each
start-up run): never what the API answers now, so the screen tells the stored from the live."""
STORED_MARKER = f"used {STORED_USED:,}"  # the Credits pane showing the stored answer
PANES_MARKER = "Plan & billing"  # the monitor's screen: its third pane's title (120 columns)
HISTORY_MARKER = "from history"  # the org's header while it shows the stored answer
SLOW_API = 5.0
"""Seconds the API takes to answer the first-useful-frame runs: the live answer cannot be what
they see."""
ORG_DATA_MARKER = "used "  # any org view with data (the Credits pane)
OVERVIEW_COLUMNS = ("Org", "Credits", "Storage")  # the overview table's column header row
OVERVIEW_TITLE = "{n} organizations"  # the header line in the overview
ORG_TITLE = " {name} ·"  # the header line of an org: "[2/10] org-0002 · Pro · 0 s ago"
SCALE_NS = (1, 10, 100, 500)
SCALE_LATENCY = 0.05
MEM_ORGS = 10
PER_ORG_NS = (1, 40, 200)
"""Org counts of the memory-per-org figure: the first is the base, run side by side with the others."""
PER_ORG_INTERVAL = 5
PER_ORG_LIMIT = 0.25
"""MiB of RSS per additional org (issue 10)."""
DOWN, UP, ENTER = b"\x1b[B", b"\x1b[A", b"\r"
PER_ORG_KEYS = (b"o", DOWN, DOWN, DOWN, UP, b"s", b"]", b"]", b"v", b"u", b"[", b"o", b"s", DOWN, ENTER, b"a",
                b"u", b"o")
"""The keys of the memory-per-org runs, one a second, the same at every org count: the overview
(mounted by the first o with one org), its cursor and sort, org views and their tabs."""
HTOP = shutil.which("htop")
SIM_BACKLOG = 1024
BACKLOG_DEFAULT = 5


def overview_table_shown(p: PtyProc) -> bool:
    return any(all(col in p.screen.row(y) for col in OVERVIEW_COLUMNS) for y in range(1, p.rows))


def orgs(n: int) -> str:
    return f"{n} org" if n == 1 else f"{n} orgs"


def org_name(i: int) -> str:
    return f"org-{i:04d}"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.figures: dict[str, dict] = {}
        self.notes: list[str] = []
        self.errors: list[str] = []
        self.timings: dict[str, float] = {}
        self.rng = random.Random(20240601)
        self.sim_main = None
        self.sim_scale = None
        self.exporter_section: str | None = None
        self.home = scratch_dir("run")
        self.env = child_env(self.home)

    # -- figures -------------------------------------------------------------------------------
    def add(self, fid: str, section: str, label: str, unit: str, values: list[float], *,
            baseline: str | None = None, target: str | None = None, limit: float | None = None,
            on: str = "median", note: str = "", samples: str = "runs", short: str | None = None) -> None:
        """Record a figure. ``limit``: pass when the ``on`` value ("median" or "ratio") is <= limit.
        ``short``: how the figure is named when it is another's baseline."""
        if short is None:
            tail = fid.rsplit(".", 1)[-1]
            short = f"{tail} org{'s' if tail != '1' else ''}" if tail.isdigit() else label.split(":")[0].strip()
        fig = {"id": fid, "section": section, "label": label, "short": short, "unit": unit, "samples": samples,
               **summarize(values), "baseline": baseline, "target": target, "note": note}
        ratio = None
        if baseline and baseline in self.figures and fig["median"] is not None:
            base = self.figures[baseline]["median"]
            ratio = fig["median"] / base if base else None
        fig["ratio"] = ratio
        checked = ratio if on == "ratio" else fig["median"]
        fig["pass"] = None if limit is None or checked is None else checked <= limit
        self.figures[fid] = fig
        shown = report.fmt_value(fig["median"], unit)
        eprint(f"  {label}: {shown}" + (f" (x{ratio:.2f} vs baseline)" if ratio is not None else "")
               + ("" if fig["pass"] is None else ("  PASS" if fig["pass"] else "  FAIL")))

    # -- simulators and configs ----------------------------------------------------------------
    def start_simulators(self) -> None:
        from cuadra_top.simulator import DemoOrg, Fault, Simulator
        from cuadra_top.simulator import server as sim_server

        # The simulator's server keeps socketserver's listen backlog of 5: a burst of new
        # connections (a cold refresh of more than a handful of orgs) overflows it and the
        # kernel drops SYNs, which the client retries after 1 s. A real API has a deep backlog,
        # so the bench deepens it (in this process only; src/ is untouched).
        sim_server._Server.request_queue_size = SIM_BACKLOG
        self.notes.append(f"The simulator's listen backlog is raised from {BACKLOG_DEFAULT} to {SIM_BACKLOG} for the "
                          "bench (class attribute, in the bench process): with 5, cold bursts of new connections "
                          "stall 1 s on SYN retransmits, an artefact a real API does not have.")

        def org(name: str, token: str, used: int, burn: float) -> DemoOrg:
            return DemoOrg(name=name, token=token, tier="pro", plan_name="Pro", credit_limit=50_000,
                           storage_limit=50 * GIB, credits_used_at_start=used, storage_used_at_start=20 * GIB,
                           burn_per_hour=burn, storage_growth_per_hour=150 * MIB, rate_limit_per_minute=10**7)

        main_orgs = [org("bench-startup", "bench-startup-token", 42_100, 0.0),
                     org("bench-cached", "bench-cached-token", 42_100, 0.0),
                     org("bench-idle", "bench-idle-token", 31_000, 600.0)]
        main_orgs += [org(f"mem-{i:02d}", f"bench-mem-{i:02d}-token", 1_000 * i, 600.0)
                      for i in range(1, MEM_ORGS + 1)]
        self.sim_main = Simulator(orgs=main_orgs, seed=1).start()
        scale_orgs = [org(org_name(i), f"bench-scale-{i:04d}-token", (i * 397) % 50_000, 600.0)
                      for i in range(1, max(SCALE_NS) + 1)]
        self.sim_scale = Simulator(orgs=scale_orgs, seed=2).start()
        for name in self.sim_scale.orgs:
            self.sim_scale.set_fault(name, Fault(latency=SCALE_LATENCY))
        for sim in (self.sim_main, self.sim_scale):
            assert sim.base_url.startswith("http://127.0.0.1:"), sim.base_url

    def stop_simulators(self) -> None:
        for sim in (self.sim_main, self.sim_scale):
            if sim is not None:
                sim.stop()

    def write_config(self, name: str, sim, org_names: list[str], extra: str = "") -> Path:
        lines = [extra] if extra else []
        for n in org_names:
            lines += ["[[org]]", f'name = "{n}"', f'api_url = "{sim.base_url}"', f'token = "{sim.orgs[n].token}"', ""]
        path = self.home / f"{name}.toml"
        path.write_text("\n".join(lines))
        path.chmod(0o600)  # holds literal tokens: keep cuadra-top's permission warning quiet
        return path

    def pty(self, argv: list, name: str, cols: int = COLS, rows: int = ROWS) -> PtyProc:
        return PtyProc([str(a) for a in argv], self.env, cols, rows, cwd=str(self.home), name=name).start()

    # -- 1. start-up: first useful frame, first live data ---------------------------------------
    def seed_history(self, cfg: Path, name: str) -> None:
        """What an earlier run left: an answer of ``STORED_USED`` credits in the history."""
        store_answer(self.sim_main, name, cfg, self.env, self.home, STORED_USED)

    def startup(self) -> None:
        from cuadra_top.simulator import Fault

        eprint("[1/4] start-up: first useful frame (from the history), first live data")
        live_cfg = self.write_config("startup", self.sim_main, ["bench-startup"])
        cached_cfg = self.write_config("startup-cached", self.sim_main, ["bench-cached"])
        usage_url = f"{self.sim_main.base_url}/v1/usage"
        programs = {
            "cuadra-top": [CUADRA_TOP, "--config", live_cfg, "--org", "bench-startup"],
            "cuadra-top cached": [CUADRA_TOP, "--config", cached_cfg, "--org", "bench-cached"],
            "floor": [PYTHON, BENCH_DIR / "floor_app.py", "--marker", STARTUP_MARKER],
            "stack floor": [PYTHON, BENCH_DIR / "floor_app.py", "--stack", usage_url,
                            self.sim_main.orgs["bench-startup"].token],
        }
        markers = {"cuadra-top cached": STORED_MARKER}
        data: dict[str, dict[str, list]] = {k: {"first": [], "paint": [], "bytes": [], "hwm": [], "quit": [],
                                                "panes": []} for k in programs}

        def once(key: str) -> dict:
            marker = markers.get(key, STARTUP_MARKER)
            if key == "cuadra-top":  # a returning user: the stored answer first, then the live one
                self.seed_history(live_cfg, "bench-startup")
            elif key == "cuadra-top cached":
                self.seed_history(cached_cfg, "bench-cached")
                self.sim_main.set_fault("bench-cached", Fault(latency=SLOW_API))
            p = self.pty(programs[key], key)
            painted: list[float] = []

            def ready() -> bool:
                if not painted and p.nbytes and p.screen.text().strip():
                    painted.append(now())
                return p.screen.find(marker) is not None

            try:
                t = wait_for(p, ready, 30, f"{key} to show {marker!r}", step=0.01)
                status = p.proc_status()
                if key == "cuadra-top cached" and (p.screen.find(HISTORY_MARKER) is None or t - p.started >= SLOW_API):
                    raise BenchError(f"{key} showed {marker!r} without {HISTORY_MARKER!r} (or after the live answer "
                                     f"could have come); screen:\n{p.screen.text()}")
                got = {"first": t - p.started, "paint": (painted[0] if painted else t) - p.started,
                       "bytes": p.nbytes, "hwm": status["VmHWM"] / 1024}
                if key == "cuadra-top":  # the live number may come first on the first screen: then the panes
                    got["panes"] = wait_for(p, lambda: p.screen.find(PANES_MARKER) is not None
                                            and p.screen.find(marker) is not None, 30,
                                            f"{key}'s panes with {marker!r}", step=0.005) - p.started
                return {**got, "quit": p.close()}
            finally:
                p.close(quit_keys=None)
                self.sim_main.set_fault("bench-cached", None)

        for key in programs:  # warm-up: page cache, .pyc files; not counted
            once(key)
        for i in range(self.args.runs):
            order = list(programs) if i % 2 == 0 else list(reversed(programs))  # drift hits all alike
            for key in order:
                got = once(key)
                for k, v in got.items():
                    data[key][k].append(v)
        sec = "1. Start-up"
        self.add("startup.floor", sec, "floor app (bare Textual, one static label): first frame with the label",
                 "s", data["floor"]["first"], short="floor app")
        self.add("startup.stack_floor", sec,
                 "stack floor (the floor app after importing httpx and pydantic, one GET /v1/usage with httpx "
                 "parsed with pydantic): first frame with the label", "s",
                 data["stack floor"]["first"], baseline="startup.floor", short="stack floor")
        self.add("startup.cached", sec,
                 f"first useful frame: cuadra-top --org, history seeded, API answering after {SLOW_API:.0f} s: "
                 "process start to the stored credits on screen (from history)", "s",
                 data["cuadra-top cached"]["first"], baseline="startup.floor", target="<= 1.5x floor", limit=1.5,
                 on="ratio", short="first useful frame")
        self.add("startup.live_vs_stack", sec,
                 "first live data: cuadra-top --org, history seeded: process start to the live credits on screen, "
                 "against the stack floor", "s", data["cuadra-top"]["first"], baseline="startup.stack_floor",
                 target="<= 1.2x stack floor", limit=1.2, on="ratio")
        self.add("startup.live_panes", sec,
                 "first live data in the panes: the same runs, process start to the monitor's screen (its Plan "
                 "pane) with the live credits (the first screen shows them a moment before)", "s",
                 data["cuadra-top"]["panes"], baseline="startup.stack_floor")
        self.add("startup.cuadra", sec,
                 "first live data: cuadra-top --org, history seeded: process start to the live credits on screen, "
                 "against the bare floor (issue 5's measure; issue 13 put the target against the stack floor, which "
                 "is itself about 2x the bare floor here)", "s", data["cuadra-top"]["first"],
                 baseline="startup.floor", short="first live data")
        self.add("startup.cuadra_paint", sec, "cuadra-top (live run): first paint (any text on screen)",
                 "s", data["cuadra-top"]["paint"], baseline="startup.floor")
        self.add("startup.floor_bytes", sec, "floor: bytes written up to its first frame",
                 "B", data["floor"]["bytes"])
        self.add("startup.cached_bytes", sec, "cuadra-top: bytes written up to the first useful frame",
                 "B", data["cuadra-top cached"]["bytes"], baseline="startup.floor_bytes")
        self.add("startup.cuadra_bytes", sec, "cuadra-top: bytes written up to the first live data",
                 "B", data["cuadra-top"]["bytes"], baseline="startup.floor_bytes")
        self.add("startup.floor_quit", sec, "floor: time from q to exit", "s",
                 data["floor"]["quit"])
        self.add("startup.cuadra_quit", sec, "cuadra-top: time from q to exit (after the live data)", "s",
                 data["cuadra-top"]["quit"], baseline="startup.floor_quit")
        self.add("memory.floor_hwm", "3. Memory", "floor app: peak RSS at first frame", "MiB",
                 data["floor"]["hwm"])
        self.add("memory.startup_hwm", "3. Memory", "cuadra-top: peak RSS at first live data", "MiB",
                 data["cuadra-top"]["hwm"], baseline="memory.floor_hwm")

    # -- 2. idle cost (and 3. memory after a long run) -----------------------------------------
    def idle(self) -> None:
        seconds = self.args.idle_seconds
        eprint(f"[2/4] idle cost: {self.args.idle_runs} x {seconds:.0f} s at --interval 5, {COLS}x{ROWS}, "
               f"htop -d 50 {'alongside' if HTOP else '(not installed: no baseline)'}")
        cfg = self.write_config("idle", self.sim_main, ["bench-idle"])
        argv = [CUADRA_TOP, "--config", cfg, "--org", "bench-idle", "--interval", "5"]
        keys = ("cpu", "bpm", "hwm", "polls", "htop_cpu", "htop_bpm")
        data: dict[str, list] = {k: [] for k in keys}
        for _ in range(self.args.idle_runs):
            procs: list[PtyProc] = []
            try:
                ct = self.pty(argv, "cuadra-top")
                procs.append(ct)
                ht = self.pty([HTOP, "-d", "50"], "htop") if HTOP else None
                if ht:
                    procs.append(ht)
                wait_for(procs, lambda: ct.screen.find(ORG_DATA_MARKER) is not None
                         and (ht is None or ht.screen.find("Load average") is not None), 30,
                         "cuadra-top's first data and htop's first frame")
                run_for(procs, 3.0)  # past the start-up burst
                t0 = now()
                start = {p.name: (p.cpu_seconds(), p.nbytes) for p in procs}
                req0 = self.sim_main.request_count("bench-idle")
                run_for(procs, seconds)
                window = now() - t0
                end = {p.name: (p.cpu_seconds(), p.nbytes) for p in procs}
                polls = self.sim_main.request_count("bench-idle") - req0
                hwm = ct.proc_status()["VmHWM"] / 1024
                for p in procs:
                    if not p.alive:
                        raise BenchError(f"{p.name} died during the idle window (status {p.status})")
            finally:
                for p in procs:
                    p.close()
            cpu = (end["cuadra-top"][0] - start["cuadra-top"][0]) / window * 100
            bpm = (end["cuadra-top"][1] - start["cuadra-top"][1]) / window * 60
            data["cpu"].append(cpu)
            data["bpm"].append(bpm)
            data["hwm"].append(hwm)
            data["polls"].append(polls / window * 60)
            if ht:
                data["htop_cpu"].append((end["htop"][0] - start["htop"][0]) / window * 100)
                data["htop_bpm"].append((end["htop"][1] - start["htop"][1]) / window * 60)
        sec = "2. Idle cost"
        samples = f"runs of {seconds:.0f} s"
        if HTOP:
            self.add("idle.htop_cpu", sec, "htop -d 50: CPU, % of one core", "%", data["htop_cpu"], samples=samples)
            self.add("idle.htop_bpm", sec, "htop -d 50: bytes to the terminal per minute", "B/min",
                     data["htop_bpm"], samples=samples)
        self.add("idle.cpu", sec, "cuadra-top --interval 5: CPU, % of one core", "%", data["cpu"],
                 baseline="idle.htop_cpu" if HTOP else None, target="< 1%", limit=1.0, samples=samples)
        self.add("idle.bpm", sec, "cuadra-top --interval 5: bytes to the terminal per minute", "B/min",
                 data["bpm"], baseline="idle.htop_bpm" if HTOP else None,
                 target="<= htop" if HTOP else "<= htop (no htop: unchecked)",
                 limit=1.0 if HTOP else None, on="ratio", samples=samples)
        self.add("idle.polls", sec, "cuadra-top: polls of the API per minute (check: 12 expected)", "/min",
                 data["polls"], samples=samples)
        self.add("memory.idle_hwm", "3. Memory", f"cuadra-top, 1 org: peak RSS after {seconds:.0f}+ s at --interval 5",
                 "MiB", data["hwm"], baseline="memory.floor_hwm", target="<= 80 MiB", limit=80, samples=samples)

    def memory(self) -> None:
        seconds = self.args.mem_seconds
        eprint(f"[3/4] memory: {self.args.mem_runs} x {seconds:.0f} s, {MEM_ORGS} orgs at --interval 1 (overview)")
        names = [f"mem-{i:02d}" for i in range(1, MEM_ORGS + 1)]
        cfg = self.write_config("memory", self.sim_main, names)
        data: dict[str, list] = {"hwm": [], "cpu": [], "bpm": [], "polls": []}
        for _ in range(self.args.mem_runs):
            p = self.pty([CUADRA_TOP, "--config", cfg, "--interval", "1"], "cuadra-top")
            try:
                wait_for(p, lambda: overview_table_shown(p) and p.screen.find("%", range(3, ROWS)) is not None, 30,
                         "overview data")
                t0, c0, b0 = now(), p.cpu_seconds(), p.nbytes
                r0 = self.sim_main.request_count()
                run_for([p], seconds)
                window = now() - t0
                data["cpu"].append((p.cpu_seconds() - c0) / window * 100)
                data["bpm"].append((p.nbytes - b0) / window * 60)
                data["polls"].append((self.sim_main.request_count() - r0) / window / MEM_ORGS)
                data["hwm"].append(p.proc_status()["VmHWM"] / 1024)
                if not p.alive:
                    raise BenchError("cuadra-top died during the memory run")
            finally:
                p.close()
        sec, samples = "3. Memory", f"runs of {seconds:.0f} s"
        self.add("memory.busy_hwm", sec, f"cuadra-top, {MEM_ORGS} orgs, --interval 1: peak RSS after {seconds:.0f} s",
                 "MiB", data["hwm"], baseline="memory.floor_hwm", target="<= 80 MiB", limit=80, samples=samples)
        self.add("memory.busy_cpu", sec, f"  same run: CPU, % of one core", "%", data["cpu"], samples=samples)
        self.add("memory.busy_bpm", sec, f"  same run: bytes to the terminal per minute", "B/min", data["bpm"],
                 samples=samples)
        self.add("memory.busy_polls", sec, f"  same run: polls per org per second (1 expected)", "/s",
                 data["polls"], samples=samples)
        self.memory_per_org()

    def memory_per_org(self) -> None:
        """RSS of the real program at 1, 40 and 200 orgs, run side by side (the same moments,
        the same load) through the same keys, once settled: (RSS at N - RSS at 1) / (N - 1)
        is what each org beyond the first costs."""
        seconds, ns = self.args.per_org_seconds, PER_ORG_NS
        base = ns[0]
        eprint(f"      memory per org: {self.args.per_org_runs} x {seconds:.0f} s, {', '.join(map(str, ns))} orgs side "
               f"by side at --interval {PER_ORG_INTERVAL}, a key a second")
        configs = {n: self.write_config(f"per-org-{n}", self.sim_scale, [org_name(i) for i in range(1, n + 1)])
                   for n in ns}
        rss: dict[int, list[float]] = {n: [] for n in ns}
        for _ in range(self.args.per_org_runs):
            procs: dict[int, PtyProc] = {}
            try:
                for n in ns:
                    procs[n] = self.pty([CUADRA_TOP, "--config", configs[n], "--interval", PER_ORG_INTERVAL],
                                        f"cuadra-top ({orgs(n)})")
                for n, p in procs.items():
                    wait_for(list(procs.values()), (lambda p=p: p.screen.find(ORG_DATA_MARKER) is not None) if n == 1
                             else (lambda p=p: overview_table_shown(p) and p.screen.find("%", range(3, ROWS)) is not None),
                             120, f"first data ({orgs(n)})")
                everyone = list(procs.values())
                run_for(everyone, 2.0)
                t0 = now()
                taken: dict[int, list[float]] = {n: [] for n in ns}
                next_key, next_sample, k = t0, t0 + max(seconds - 15, 0), 0
                while now() - t0 < seconds:
                    run_for(everyone, 0.1)
                    if now() >= next_key:
                        for p in everyone:
                            p.send(PER_ORG_KEYS[k % len(PER_ORG_KEYS)])
                        k, next_key = k + 1, next_key + 1.0
                    if now() >= next_sample:  # the last 15 s, once a second
                        next_sample += 1.0
                        for n, p in procs.items():
                            taken[n].append(p.proc_status()["VmRSS"] / 1024)
                for n, p in procs.items():
                    if not p.alive:
                        raise BenchError(f"cuadra-top with {orgs(n)} died during the memory-per-org run")
                    rss[n].append(sorted(taken[n])[len(taken[n]) // 2])
            finally:
                for p in procs.values():
                    p.close()
        sec, samples = "3. Memory", f"runs of {seconds:.0f} s"
        for n in ns:
            self.add(f"memory.settled.{n}", sec, f"cuadra-top, {orgs(n)}, --interval {PER_ORG_INTERVAL}: RSS after "
                     f"{seconds:.0f} s of keys (memory-per-org runs)", "MiB", rss[n],
                     baseline=f"memory.settled.{base}" if n != base else None, samples=samples)
        for n in ns[1:]:
            per_org = [(big - small) / (n - base) for big, small in zip(rss[n], rss[base])]
            self.add(f"memory.per_org.{n}", sec, f"memory per additional org, {n} orgs: (RSS at {n} - RSS at {base}) "
                     f"/ {n - base}", "MiB/org", per_org, target=f"<= {PER_ORG_LIMIT:g} MiB", limit=PER_ORG_LIMIT,
                     samples=samples)

    # -- 4. scale --------------------------------------------------------------------------------
    def scale(self) -> None:
        ns = self.args.scale_n
        eprint(f"[4/4] scale: {', '.join(map(str, ns))} orgs, {SCALE_LATENCY * 1000:.0f} ms added latency")
        spec = self.home / "scale-spec.json"
        spec.write_text(json.dumps([{"name": n, "url": self.sim_scale.base_url, "token": o.token}
                                    for n, o in self.sim_scale.orgs.items()]))
        base = ns[0]
        self.scale_fetch_all(ns, spec, base)
        self.scale_once(ns, base)
        self.scale_overview_rows(ns, spec, base)
        self.scale_keys(ns, base)

    def scale_fetch_all(self, ns, spec: Path, base: int) -> None:
        sec = "4a. Scale: one full refresh"
        for n in ns:
            cold, warm = [], []
            for _ in range(self.args.runs):
                out = run_worker([PYTHON, "-m", "bench.worker", "fetch-all", spec, n, 3], self.env, timeout=120)
                if out["ok_cold"] != n or out["ok_warm_last"] != n:
                    raise BenchError(f"fetch_all of {orgs(n)}: only {out['ok_cold']}/{out['ok_warm_last']} ok: "
                                     f"{out['errors']}")
                cold.append(out["cold"])
                warm.append(sorted(out["warm"])[len(out["warm"]) // 2])
            target = dict(target="<= 2 s", limit=2.0) if n == 500 else {}
            self.add(f"scale.fetch_cold.{n}", sec, f"Fleet.fetch_all(), {orgs(n)}, cold (new connections)", "s",
                     cold, baseline=f"scale.fetch_cold.{base}" if n != base else None, **target)
            self.add(f"scale.fetch_warm.{n}", sec, f"Fleet.fetch_all(), {orgs(n)}, warm (pooled connections)", "s",
                     warm, baseline=f"scale.fetch_warm.{base}" if n != base else None, **target)

    def scale_once(self, ns, base: int) -> None:
        sec = "4a. Scale: one full refresh"
        for n in ns:
            cfg = self.write_config(f"scale-{n}", self.sim_scale, [org_name(i) for i in range(1, n + 1)])
            walls = []
            runs = self.args.runs + (1 if n == ns[0] else 0)
            for r in range(runs):
                p = self.pty([CUADRA_TOP, "--config", cfg, "--once"], "cuadra-top --once")
                p.log = bytearray()
                try:
                    wait_for(p, lambda: not p.alive and p.eof, 60, f"--once with {orgs(n)} to exit")
                finally:
                    p.close(quit_keys=None)
                lines = sum(1 for line in p.log.decode(errors="replace").splitlines() if line.startswith("org-"))
                if p.status != 0 or lines != n:
                    raise BenchError(f"--once with {orgs(n)}: exit {p.status}, {lines} org lines:\n"
                                     f"{p.log.decode(errors='replace')[-1500:]}")
                if n == ns[0] and r == 0:
                    continue  # warm-up
                walls.append(p.exited_at - p.started)
            target = dict(target="<= 2 s", limit=2.0) if n == 500 else {}
            self.add(f"scale.once.{n}", sec, f"cuadra-top --once, {orgs(n)}: process start to exit (pty)", "s",
                     walls, baseline=f"scale.once.{base}" if n != base else None, **target)

    def scale_overview_rows(self, ns, spec: Path, base: int) -> None:
        sec = "4c. Scale: overview render (in-process)"
        for n in ns:
            first, unchanged, one, every = [], [], [], []
            for _ in range(self.args.runs):
                out = run_worker([PYTHON, "-m", "bench.worker", "overview-rows", spec, n, 5], self.env, timeout=300)
                first.append(out["first"])
                med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
                unchanged.append(med(out["unchanged"]))
                one.append(med(out["one_changed"]))
                every.append(med(out["all_changed"]))
            b = (lambda kind: f"scale.sync_{kind}.{base}" if n != base else None)
            ms = (lambda xs: [x * 1000 for x in xs])  # noqa: E731
            self.add(f"scale.sync_first.{n}", sec, f"OverviewTable.update_rows(), {orgs(n)}, first (adds the rows)", "ms",
                     ms(first), baseline=b("first"))
            self.add(f"scale.sync_unchanged.{n}", sec, f"OverviewTable.update_rows(), {orgs(n)}, nothing changed", "ms",
                     ms(unchanged), baseline=b("unchanged"))
            self.add(f"scale.sync_one.{n}", sec, f"OverviewTable.update_rows(), {orgs(n)}, one org changed", "ms",
                     ms(one), baseline=b("one"))
            self.add(f"scale.sync_all.{n}", sec, f"OverviewTable.update_rows(), {orgs(n)}, every org changed", "ms",
                     ms(every), baseline=b("all"))

    def scale_keys(self, ns, base: int) -> None:
        """Key press to screen update, with every org polling at --interval 1."""
        sec = "4b. Scale: key press to screen update, all orgs polling every 1 s"
        presses = self.args.presses
        kinds = {"open": "`]` in the overview: open org 1", "next": "`]` on an org: next org",
                 "overview": "`o` on an org: overview with every row"}
        # The floor: the same harness and key path on the minimal Textual app.
        floor = []
        for _ in range(max(1, self.args.runs // 2)):
            p = self.pty([PYTHON, BENCH_DIR / "floor_app.py", "--marker", "ready"], "floor")
            try:
                wait_for(p, lambda: p.screen.find("ready") is not None, 30, "floor app")
                for i in range(1, presses + 1):
                    run_for([p], self.rng.uniform(0.2, 0.5))
                    t = now()
                    p.send(b"n")
                    floor.append(wait_for(p, lambda: p.screen.find(f"count {i} ") is not None
                                          or p.screen.row(0).rstrip().endswith(f"count {i}"), 15,
                                          f"floor count {i}", step=0.002) - t)
            finally:
                p.close()
        self.add("keys.floor", sec, "floor app: key to label change", "ms", [x * 1000 for x in floor],
                 samples="presses", short="floor app")

        for n in ns:
            cfg = self.write_config(f"scale-{n}", self.sim_scale, [org_name(i) for i in range(1, n + 1)])
            got: dict[str, list[float]] = {k: [] for k in kinds}
            cpu, hwm, polls, timeouts = [], [], [], 0
            for _ in range(self.args.key_runs):
                p = self.pty([CUADRA_TOP, "--config", cfg, "--interval", "1"], "cuadra-top")
                try:
                    header = lambda: p.screen.row(0)  # noqa: E731
                    on_overview = lambda: (OVERVIEW_TITLE.format(n=n) in header()  # noqa: E731
                                           and overview_table_shown(p))
                    showing = lambda name: ORG_TITLE.format(name=name) in header()  # noqa: E731
                    if n == 1:
                        wait_for(p, lambda: p.screen.find(ORG_DATA_MARKER) is not None, 60, "first data (1 org)")
                        state = "org1"
                    else:
                        wait_for(p, lambda: on_overview() and p.screen.find("%", range(3, ROWS)) is not None, 120,
                                 f"first data in the overview ({orgs(n)})")
                        state = "overview"
                    run_for([p], 3.0)  # every org polled a few times: steady state
                    t0, c0, r0 = now(), p.cpu_seconds(), self.sim_scale.request_count()
                    for _ in range(presses):
                        run_for([p], self.rng.uniform(0.25, 0.75))
                        if state == "overview":
                            kind, key, done, state = "open", b"]", lambda: showing(org_name(1)), "org1"
                        elif state == "org1" and n > 1:
                            kind, key, done, state = "next", b"]", lambda: showing(org_name(2)), "org2"
                        else:
                            kind, key, done, state = "overview", b"o", on_overview, "overview"
                        t = now()
                        p.send(key)
                        try:
                            got[kind].append(wait_for(p, done, 15, f"{kind} ({orgs(n)})", step=0.002) - t)
                        except BenchError:
                            if not p.alive:
                                raise
                            timeouts += 1
                            got[kind].append(15.0)
                            wait_for(p, done, 60, f"{kind} ({orgs(n)}), late")
                    window = now() - t0
                    cpu.append((p.cpu_seconds() - c0) / window * 100)
                    polls.append((self.sim_scale.request_count() - r0) / window / n)
                    hwm.append(p.proc_status()["VmHWM"] / 1024)
                finally:
                    p.close(grace=10)
            for kind, label in kinds.items():
                if got[kind]:
                    self.add(f"keys.{kind}.{n}", sec, f"{label}, {orgs(n)}", "ms", [x * 1000 for x in got[kind]],
                             baseline=f"keys.{kind}.{base}" if n != base and f"keys.{kind}.{base}" in self.figures
                             else "keys.floor",
                             target="< 100 ms", limit=100, samples="presses")
            self.add(f"keys.cpu.{n}", sec, f"  while pressing keys, {orgs(n)}: cuadra-top CPU, % of one core", "%",
                     cpu, baseline=f"keys.cpu.{base}" if n != base else None, samples="runs")
            self.add(f"keys.polls.{n}", sec, f"  while pressing keys, {orgs(n)}: polls per org per second (1 wanted)",
                     "/s", polls, samples="runs")
            self.add(f"memory.scale_hwm.{n}", "3. Memory", f"cuadra-top, {orgs(n)} at --interval 1: peak RSS "
                     "(key-press runs)", "MiB", hwm, baseline=f"memory.scale_hwm.{base}" if n != base else None,
                     samples="runs")
            if timeouts:
                self.notes.append(f"{orgs(n)}: {timeouts} key presses got no screen update within 15 s "
                                  "(counted as 15 s)")

    # -- 5. the status line (bench/status.py) ---------------------------------------------------
    def status(self) -> None:
        from bench.status import measure

        measure(self)

    # -- the run ---------------------------------------------------------------------------------
    def exporter(self) -> None:
        """Issue 12's figures (bench/exporter.py): their own section of RESULTS.md."""
        quick = self.args.quick
        ns = self.args.exporter_n or ((10, 100) if quick else exporter_bench.NS)
        scrapes = 20 if quick else exporter_bench.SCRAPES
        interval = 10.0 if quick else exporter_bench.INTERVAL
        rows, notes = exporter_bench.measure_all(ns, interval, scrapes)
        self.exporter_section = exporter_bench.section(rows, machine_info(), interval, notes, scrapes)
        if notes:
            raise BenchError("; ".join(notes))

    def run(self) -> int:
        started = datetime.now(timezone.utc)
        t0 = time.monotonic()
        info = machine_info()
        eprint(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
               f"Textual {info['textual']}; load {info['loadavg_at_start']}")
        self.start_simulators()
        status = 0
        try:
            for name in self.args.only:
                t = time.monotonic()
                try:
                    getattr(self, name)()
                except BenchError as exc:
                    status = 1
                    self.errors.append(f"{name}: {exc}")
                    eprint(f"!! {name}: {exc}")
                except Exception as exc:  # a harness bug: report it, keep the other sections
                    status = 1
                    self.errors.append(f"{name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                    eprint(f"!! {name}: {traceback.format_exc()}")
                self.timings[name] = time.monotonic() - t
        finally:
            kill_all_children()
            self.stop_simulators()
            shutil.rmtree(self.home, ignore_errors=True)
        results = {
            "date": started.isoformat(timespec="seconds"),
            "mode": "quick" if self.args.quick else "full",
            "duration_s": round(time.monotonic() - t0, 1),
            "section_durations_s": {k: round(v, 1) for k, v in self.timings.items()},
            "machine": info,
            "loadavg_at_end": loadavg(),
            "settings": {
                "runs": self.args.runs, "idle_runs": self.args.idle_runs, "idle_seconds": self.args.idle_seconds,
                "mem_runs": self.args.mem_runs, "mem_seconds": self.args.mem_seconds, "key_runs": self.args.key_runs,
                "per_org_runs": self.args.per_org_runs, "per_org_seconds": self.args.per_org_seconds,
                "per_org_ns": list(PER_ORG_NS),
                "presses": self.args.presses, "scale_n": list(self.args.scale_n), "terminal": f"{COLS}x{ROWS}",
                "scale_latency_s": SCALE_LATENCY,
                "command": " ".join([".venv/bin/python -m bench", *sys.argv[1:]]),
            },
            "figures": list(self.figures.values()),
            "notes": self.notes,
            "errors": self.errors,
        }
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        previous = (out / "RESULTS.md").read_text() if (out / "RESULTS.md").exists() else ""
        (out / "RESULTS.md").write_text(report.markdown(results))
        exporter_bench.carry_section(out / "RESULTS.md", self.exporter_section or previous)
        eprint(f"done in {results['duration_s']:.0f} s: {out / 'RESULTS.md'}, {out / 'results.json'}")
        return status


SECTIONS = ("startup", "idle", "memory", "scale", "exporter", "status")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer runs, short windows")
    parser.add_argument("--runs", type=int, help="runs per figure (default 5; quick 2)")
    parser.add_argument("--idle-runs", type=int, help="idle runs (default 3; quick 1)")
    parser.add_argument("--idle-seconds", type=float, help="idle window (default 120; quick 20)")
    parser.add_argument("--mem-runs", type=int, help="10-org memory runs (default 3; quick 1)")
    parser.add_argument("--mem-seconds", type=float, help="10-org memory run length (default 60; quick 15)")
    parser.add_argument("--per-org-runs", type=int, help="memory-per-org runs (default 3; quick 1)")
    parser.add_argument("--per-org-seconds", type=float, help="memory-per-org run length (default 60; quick 30)")
    parser.add_argument("--key-runs", type=int, help="key-press runs per org count (default 3; quick 1)")
    parser.add_argument("--presses", type=int, help="key presses per run (default 15; quick 6)")
    parser.add_argument("--scale-n", type=lambda s: [int(x) for x in s.split(",")],
                        help="org counts for the scale figures (default 1,10,100,500; the first is the baseline)")
    parser.add_argument("--exporter-n", type=lambda s: [int(x) for x in s.split(",")],
                        help="org counts of the exporter figures (default 10,100,1000,5000; quick 10,100)")
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(SECTIONS),
                        help=f"sections to run, comma-separated: {','.join(SECTIONS)}")
    parser.add_argument("--out", default=str(BENCH_DIR), help="where RESULTS.md and results.json go (default bench/)")
    parser.add_argument("--max-minutes", type=float, default=60, help="abort the whole run after this long")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {"runs": (5, 2), "idle_runs": (3, 1), "idle_seconds": (120.0, 20.0), "mem_runs": (3, 1),
                "mem_seconds": (60.0, 15.0), "per_org_runs": (3, 1), "per_org_seconds": (60.0, 30.0),
                "key_runs": (3, 1), "presses": (15, 6),
                "scale_n": (list(SCALE_NS), list(SCALE_NS))}
    for key, (full, fast) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, fast if quick else full)
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    if max(args.scale_n) > max(SCALE_NS) or min(args.scale_n) < 1:
        parser.error(f"--scale-n: 1..{max(SCALE_NS)}")
    return args


def _timeout(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt("--max-minutes reached")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not CUADRA_TOP.exists():
        eprint(f"{CUADRA_TOP} not found: run `make test` (or pip install -e .) first")
        return 2
    install_cleanup()
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(int(args.max_minutes * 60))
    try:
        return Bench(args).run()
    except KeyboardInterrupt as exc:
        eprint(f"interrupted ({exc}); children killed, nothing written")
        return 130
    finally:
        signal.alarm(0)
        kill_all_children()


if __name__ == "__main__":
    sys.exit(main())
