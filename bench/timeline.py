"""Where cuadra-top's start-up time goes: the median moment of each phase, over several runs.

    .venv/bin/python -m bench.timeline [RUNS]

Runs ``cuadra-top --org`` on the real pty harness against the simulator, as ``make bench``
does for the first useful frame and the first live data (an answer of 41,900 credits stored
in the history before each run, the API then answering 42,100), with the phases marked from
inside the process by wrapping a few functions (``bench/_timeline_child.py``; nothing in
``src/`` knows about it). Times are milliseconds from the child's first line of Python (the
interpreter's own start comes before), so they explain the bench's figures rather than
reproduce them.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BENCH_DIR, PYTHON, PtyProc, child_env, install_cleanup, store_answer, wait_for  # noqa: E402

STORED_USED, LIVE = 41_900, "used 42,100"
GIB = 1 << 30


def main(argv: list[str]) -> int:
    from cuadra_top.simulator import DemoOrg, Simulator

    runs = int(argv[0]) if argv else 9
    install_cleanup()
    home = Path(tempfile.mkdtemp(prefix="cuadra-top-timeline-"))
    sim = Simulator(orgs=[DemoOrg(
        name="bench-startup", token="bench-startup-token", tier="pro", plan_name="Pro", credit_limit=50_000,
        storage_limit=50 * GIB, credits_used_at_start=42_100, storage_used_at_start=20 * GIB, burn_per_hour=0.0,
        storage_growth_per_hour=1, rate_limit_per_minute=10**7)], seed=1).start()
    try:
        config = home / "config.toml"
        config.write_text(f'[[org]]\nname = "bench-startup"\napi_url = "{sim.base_url}"\n'
                          'token = "bench-startup-token"\n')
        config.chmod(0o600)
        out = home / "marks.jsonl"
        env = child_env(home, {"TIMELINE_OUT": str(out), "TIMELINE_STORED": f"{STORED_USED:,}",
                               "TIMELINE_LIVE": LIVE.split()[-1]})  # the numbers: styles split the text
        walls = []
        for _ in range(runs + 1):  # the first is a warm-up
            store_answer(sim, "bench-startup", config, env, home, STORED_USED)
            p = PtyProc([str(PYTHON), str(BENCH_DIR / "_timeline_child.py"), "--config", str(config),
                         "--org", "bench-startup"], env, 120, 40, cwd=str(home), name="cuadra-top").start()
            try:
                walls.append(wait_for(p, lambda: p.screen.find(LIVE) is not None, 30, "live data") - p.started)
            finally:
                p.close()  # q: the marks are written as it exits
        runs_marks = [json.loads(line) for line in out.read_text().splitlines()][1:]
        phases: dict[str, list[float]] = {}
        for marks in runs_marks:
            for name, at in marks:
                phases.setdefault(name, []).append(at)
        print(f"{runs} runs; process start to live credits on screen (harness): median "
              f"{statistics.median(walls[1:]) * 1000:.0f} ms")
        print(f"{'phase':<24} {'median ms':>9}   (from the child's first line of Python)")
        for name, values in sorted(phases.items(), key=lambda item: statistics.median(item[1])):
            print(f"{name:<24} {statistics.median(values):>9.0f}")
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
