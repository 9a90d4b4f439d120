"""Long soak: the real program in a pseudo-terminal for half an hour or more; its RSS over time.

    .venv/bin/python soak/long.py --minutes 30      # make soak-long

``.venv/bin/cuadra-top`` (importing the sources of this checkout) runs on a 120x40 pty, as a
person would run it, against the API simulator (in this process, on 127.0.0.1) with 40
organizations at ``--interval 5``, with its history file, in a clean temporary home. Every
10 s or so a key is pressed (] [ o s r p u v a h , . 1-9, the arrows, + and -, ? and Esc; a pause, a
slower interval or the help screen is undone a few seconds later; never q; the run starts
with each of them once, see TOUR), and every minute
a few orgs' answers start failing (5xx, 429 with Retry-After, slow, malformed) while the
others recover, so the error paths run too. The program's VmRSS is read from /proc every 5 s;
the series is printed per minute.

Verdict: the program must stay alive, and its RSS must show no positive trend in the second
half of the run (the first half is start-up and caches filling to their bounds): the
least-squares slope of the per-minute medians of the second half must not exceed
``--limit`` MiB per hour (default 2; see LIMIT for why).

Exit status: 0 when it holds; 1 when the program died or the run could not be made; 2 when
the RSS still grows.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    CUADRA_TOP,
    BenchError,
    PtyProc,
    child_env,
    install_cleanup,
    kill_all_children,
    now,
    run_for,
    scratch_dir,
    wait_for,
)

MIB = 1024 * 1024
GIB = 1024 * MIB
LIMIT = 2.0
"""MiB per hour of RSS growth over the second half that fails the run. 2 MiB/h is 48 MiB a
day: a monitor meant to stay open for weeks that grew so would be defective. A lower limit
cannot be told from the allocator: RSS moves in steps (a 256 KiB arena of pymalloc, a page
of malloc), and in a 15-minute half one step of a quarter MiB in its middle already reads as
1.5 MiB/h. Per-minute medians take out the moments of work in flight (a redraw, a burst of
answers) before the fit; a longer run (--minutes 60) sees smaller leaks."""
SAMPLE_EVERY = 5.0
KEYS: list[tuple[str, bytes]] = [
    ("]", b"]"), ("[", b"["), ("o", b"o"), ("s", b"s"), ("r", b"r"), ("p", b"p"), ("u", b"u"), ("v", b"v"),
    ("a", b"a"), *((str(n), str(n).encode()) for n in range(1, 10)), ("down", b"\x1b[B"), ("up", b"\x1b[A"),
    ("+", b"+"), ("-", b"-"), ("?", b"?"), ("h", b"h"), (",", b","), (".", b"."),
]
UNDO = {"p": ("p", b"p", 3.0), "+": ("-", b"-", 2.0), "?": ("esc", b"\x1b", 3.0)}
"""Keys whose effect is undone a moment later, so the run keeps polling at the asked pace."""
TOUR = True
"""The run starts with every key once, a second or so apart: what a key shows for the first
time (the help screen, the raw tab, a sort) costs memory once, a step of RSS; met for the
first time late in a random run, that step would read as growth in the second half."""


def make_orgs(count: int, rng: random.Random):
    """Orgs of every kind the screens show: limited and unlimited, admin, client credentials,
    names wider than ASCII."""
    from cuadra_top.simulator import DemoOrg

    orgs = []
    for i in range(count):
        limit = rng.choice([1_000, 20_000, 500_000, None])
        kw: dict = {}
        if i % 5 == 0:
            kw.update(client_id=f"long-client-{i}", client_secret=f"long-secret-{i}-{rng.getrandbits(64):x}")
        if i % 7 == 0:
            kw.update(admin=True, seats=rng.randint(1, 50), credits_per_seat=rng.randint(100, 20_000),
                      purchased_balance=rng.randint(0, 100_000))
        orgs.append(DemoOrg(
            name=f"long-{i:02d}-{rng.choice(['acme', 'globex', 'initech', '组织', 'ünïcode'])}",
            token=f"long-token-{i}-{rng.getrandbits(64):x}", tier=rng.choice(["free", "pro", "enterprise"]),
            plan_name=rng.choice(["Free", "Pro", "Enterprise"]), credit_limit=limit,
            storage_limit=rng.choice([100 * MIB, 10 * GIB, None]),
            credits_used_at_start=rng.randint(0, (limit or 100_000) // 2),
            storage_used_at_start=rng.randint(0, 50 * MIB), burn_per_hour=rng.uniform(0, 2_000),
            storage_growth_per_hour=rng.uniform(0, 10 * MIB), rate_limit_per_minute=10**6, **kw,
        ))
    return orgs


def write_config(home: Path, sim, orgs) -> Path:
    lines = []
    for org in orgs:
        lines += ["[[org]]", f"name = {json.dumps(org.name, ensure_ascii=False)}", f'api_url = "{sim.base_url}"']
        if org.client_id:
            lines += [f'token_url = "{sim.auth_url}"', f'client_id = "{org.client_id}"',
                      f'client_secret = "{org.client_secret}"']
        else:
            lines.append(f'token = "{org.token}"')
        lines.append("")
    path = home / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)
    return path


def rotate_faults(sim, names: list[str], rng: random.Random, share: float) -> list[str]:
    """Clear every fault, arm new ones on ``share`` of the orgs; what was armed, in words."""
    from cuadra_top.simulator import Fault

    makers = [lambda: Fault(status=rng.choice([500, 502, 503])), lambda: Fault(status=429, retry_after=10),
              lambda: Fault(latency=rng.uniform(0.5, 2.0)), lambda: Fault(body="malformed"),
              lambda: Fault(status=503, probability=0.5)]
    for name in names:
        sim.set_fault(name, None)
    armed = []
    for name in rng.sample(names, round(len(names) * share)):
        fault = rng.choice(makers)()
        sim.set_fault(name, fault)
        armed.append(f"{name}: {fault}")
    return armed


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per hour."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var * 3600


def per_minute(samples: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(middle of the minute, median RSS) for every minute that has samples."""
    minutes: dict[int, list[float]] = {}
    for t, rss in samples:
        minutes.setdefault(int(t // 60), []).append(rss)
    return [(m * 60 + 30.0, statistics.median(v)) for m, v in sorted(minutes.items())]


def run(args: argparse.Namespace) -> int:
    from cuadra_top.simulator import Simulator
    from cuadra_top.simulator import server as sim_server

    sim_server._Server.request_queue_size = 1024  # as the bench: no SYN drops on the simulator's side
    rng = random.Random(args.seed)
    orgs = make_orgs(args.orgs, rng)
    sim = Simulator(orgs=orgs, seed=args.seed).start()
    home = scratch_dir("soak-long")
    config = write_config(home, sim, orgs)
    seconds = args.minutes * 60
    argv = [str(CUADRA_TOP), "--config", str(config), "--interval", f"{args.interval:g}"]
    print(f"soak-long: {args.minutes:g} min, {args.orgs} orgs, --interval {args.interval:g}, a key every "
          f"~{args.keys_every:g} s, RSS every {SAMPLE_EVERY:g} s; limit {args.limit:g} MiB/h over the second half",
          flush=True)
    p = PtyProc(argv, child_env(home), 120, 40, cwd=str(home), name="cuadra-top").start()
    samples: list[tuple[float, float]] = []
    events: list[tuple[float, str]] = []
    keys = 0
    died = None
    try:
        if args.orgs == 1:  # one org opens on its own view
            wait_for(p, lambda: p.screen.find("used ") is not None, 60, "the org's data")
        else:
            wait_for(p, lambda: "organizations" in p.screen.row(0) and p.screen.find("%", range(3, 40)) is not None,
                     60, "the overview with data")
        t0 = now()
        next_sample, next_key, next_faults, next_print = t0, t0 + 1, t0 + 60, t0 + 60
        undo: list[tuple[float, bytes]] = []
        tour = list(KEYS) if TOUR else []  # every key once, before the random ones
        cpu0 = p.cpu_seconds()
        print(f"{'min':>5} {'RSS MiB':>8} {'(min':>6} {'max)':>6} {'HWM':>6} {'CPU %':>6} {'threads':>7} "
              f"{'keys':>5} {'polls':>6}", flush=True)
        last_cpu, last_print = cpu0, t0
        while (elapsed := now() - t0) < seconds:
            run_for([p], 0.25)
            if not p.alive:
                died = f"cuadra-top exited (status {p.status}) after {elapsed:.0f} s; screen:\n{p.screen.text()}"
                break
            t = now()
            if t >= next_sample:
                next_sample += SAMPLE_EVERY
                samples.append((t - t0, p.proc_status()["VmRSS"] / 1024))
            for due, data in [u for u in undo if u[0] <= t]:
                p.send(data)
                undo.remove((due, data))
            if t >= next_key:
                label, data = tour.pop(0) if tour else rng.choice(KEYS)
                if label in UNDO and any(d == UNDO[label][1] for _, d in undo):
                    label, data = "]", b"]"  # its undo is still pending
                p.send(data)
                keys += 1
                events.append((round(t - t0, 1), label))
                if label in UNDO:
                    undo.append((t + UNDO[label][2], UNDO[label][1]))
                next_key = t + (max(UNDO.get(label, ("", b"", 1.0))[2] + 0.5, 1.0) if tour
                                else rng.uniform(0.8, 1.2) * args.keys_every)
            if t >= next_faults:
                next_faults += 60
                armed = rotate_faults(sim, list(sim.orgs), rng, args.fault_share)
                events.append((round(t - t0, 1), "faults: " + "; ".join(armed)))
            if t >= next_print:
                next_print += 60
                minute = [rss for s, rss in samples if s >= t - t0 - 60]
                status = p.proc_status()
                cpu = p.cpu_seconds()
                print(f"{(t - t0) / 60:5.0f} {statistics.median(minute):8.1f} {min(minute):6.1f} {max(minute):6.1f} "
                      f"{status['VmHWM'] / 1024:6.1f} {(cpu - last_cpu) / (t - last_print) * 100:6.2f} "
                      f"{status['Threads']:7d} {keys:5d} {sim.request_count():6d}", flush=True)
                last_cpu, last_print = cpu, t
        cpu_total = p.cpu_seconds() - cpu0 if p.alive else None
        wall = now() - t0
    except BenchError as exc:
        print(f"VERDICT: FAIL: {exc}")
        return 1
    finally:
        for name in list(sim.orgs):
            sim.set_fault(name, None)
        p.close(grace=10)
        kill_all_children()
        sim.stop()
    if died:
        print(f"VERDICT: FAIL: {died}")
        return 1
    return verdict(args, samples, wall, cpu_total, keys, events)


def verdict(args: argparse.Namespace, samples: list[tuple[float, float]], wall: float, cpu: float | None,
            keys: int, events: list[tuple[float, str]]) -> int:
    half = wall / 2
    second = [s for s in samples if s[0] >= half]
    minutes = per_minute(second)
    slope = slope_per_hour(minutes)
    raw_slope = slope_per_hour(second)
    whole = slope_per_hour(per_minute(samples))
    first_minute = [rss for t, rss in samples if t < 60]
    print()
    print("soak-long summary")
    print("-" * 78)
    print(f"run              {wall / 60:.1f} min, {args.orgs} orgs, --interval {args.interval:g}, {keys} keys"
          + (f", CPU {cpu / wall * 100:.2f}% of one core" if cpu is not None else ""))
    print(f"RSS              first minute {statistics.median(first_minute):.1f} MiB, at half "
          f"{second[0][1]:.1f} MiB, end {samples[-1][1]:.1f} MiB, peak {max(r for _, r in samples):.1f} MiB")
    print(f"second half      {len(second)} samples, {len(minutes)} minutes: median {statistics.median(r for _, r in second):.1f} "
          f"MiB, min {min(r for _, r in second):.1f}, max {max(r for _, r in second):.1f}")
    print(f"slope            second half {slope:+.2f} MiB/h (per-minute medians; {raw_slope:+.2f} on every "
          f"sample); whole run {whole:+.2f} MiB/h")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "minutes": args.minutes, "orgs": args.orgs, "interval": args.interval, "keys": keys,
            "wall_s": round(wall, 1), "cpu_s": cpu, "limit_mib_per_hour": args.limit,
            "slope_second_half_mib_per_hour": slope, "slope_second_half_raw_mib_per_hour": raw_slope,
            "slope_whole_mib_per_hour": whole, "samples": [(round(t, 1), round(r, 2)) for t, r in samples],
            "events": events,
        }, indent=1) + "\n")
    if slope > args.limit:
        print(f"VERDICT: FAIL: RSS still grows in the second half: {slope:+.2f} MiB/h (limit {args.limit:g})")
        return 2
    print(f"VERDICT: OK: the program stayed up; RSS flat in the second half ({slope:+.2f} MiB/h, "
          f"limit {args.limit:g})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30, help="how long to run (default 30)")
    parser.add_argument("--orgs", type=int, default=40, help="simulated organizations (default 40)")
    parser.add_argument("--interval", type=float, default=5, help="cuadra-top's --interval (default 5)")
    parser.add_argument("--keys-every", type=float, default=10, help="seconds between keys, about (default 10)")
    parser.add_argument("--fault-share", type=float, default=0.1,
                        help="share of orgs failing at a time, rotated every minute (default 0.1)")
    parser.add_argument("--limit", type=float, default=LIMIT, help=f"MiB/h over the second half (default {LIMIT:g})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the series, the figures, and each key and fault rotation "
                                       "with its time (to tell what came before a step of RSS) to this file")
    args = parser.parse_args(argv)
    if not CUADRA_TOP.exists():
        print(f"{CUADRA_TOP} not found: run `make test` (or pip install -e .) first", file=sys.stderr)
        return 1
    if args.minutes < 2:
        parser.error("--minutes: at least 2 (the verdict reads the second half per minute)")
    install_cleanup()
    started = time.monotonic()
    try:
        return run(args)
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc}) after {(time.monotonic() - started) / 60:.1f} min; children killed")
        return 130


if __name__ == "__main__":
    sys.exit(main())
