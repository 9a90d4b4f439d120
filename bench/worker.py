"""In-process measurements, run in a child process so the simulator (in the bench process) and the
code being timed do not share one interpreter lock.

    python -m bench.worker fetch-all SPEC N REPEAT
    python -m bench.worker overview-rows SPEC N REPEAT

SPEC is a JSON file: a list of {"name", "url", "token"} (the simulator's orgs). Prints one JSON
object on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from pydantic import SecretStr

from cuadra_top.config import OrgConfig
from cuadra_top.state.fleet import Fleet


def org_configs(spec_path: str, n: int) -> list[OrgConfig]:
    spec = json.loads(Path(spec_path).read_text())[:n]
    if len(spec) < n:
        raise SystemExit(f"spec has {len(spec)} orgs, {n} wanted")
    return [OrgConfig(name=o["name"], api_url=o["url"], token=SecretStr(o["token"])) for o in spec]


async def fetch_all(spec: str, n: int, repeat: int) -> dict:
    """One cold full refresh (fresh Fleet: new connections), then ``repeat`` warm ones."""
    orgs = org_configs(spec, n)
    out: dict = {"n": n}
    async with Fleet(orgs, {}) as fleet:
        t = time.perf_counter()
        results = await fleet.fetch_all()
        out["cold"] = time.perf_counter() - t
        out["ok_cold"] = sum(r.ok for r in results)
        errors = [f"{r.name}: {r.error}" for r in results if not r.ok][:3]
        warm = []
        for _ in range(repeat):
            t = time.perf_counter()
            results = await fleet.fetch_all()
            warm.append(time.perf_counter() - t)
            errors += [f"{r.name}: {r.error}" for r in results if not r.ok][:3]
        out["warm"] = warm
        out["ok_warm_last"] = sum(r.ok for r in results)
        out["errors"] = errors[:5]
    return out


async def overview_rows(spec: str, n: int, repeat: int) -> dict:
    """Time ``OverviewTable.update_rows`` for N org states with real data, in a headless Textual
    app: every row given each time, as the screen's clock tick gives them."""
    from textual.app import App, ComposeResult

    from cuadra_top.state.poller import OrgState
    from cuadra_top.thresholds import Thresholds
    from cuadra_top.tui.overview import OverviewTable

    orgs = org_configs(spec, n)
    async with Fleet(orgs, {}) as fleet:
        results = await fleet.fetch_all()
    if not all(r.ok for r in results):
        raise SystemExit(f"{sum(not r.ok for r in results)} of {n} fetches failed")
    states = [OrgState(r.name, fetched=r.fetched, version=1) for r in results]
    thresholds = Thresholds()

    def rows() -> list:
        return [(number, state, None, thresholds) for number, state in enumerate(states, 1)]

    class SyncApp(App[None]):
        def compose(self) -> ComposeResult:
            yield OverviewTable([state.name for state in states], id="overview")

    out: dict = {"n": n}
    now = datetime.now(timezone.utc)
    app = SyncApp()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(OverviewTable)
        t = time.perf_counter()
        table.update_rows(rows(), now, 1.0)
        out["first"] = time.perf_counter() - t
        await pilot.pause()
        out["first_and_idle"] = time.perf_counter() - t

        def timed(prepare) -> list[float]:
            samples = []
            for i in range(repeat):
                prepare(i)
                given = rows()
                t = time.perf_counter()
                table.update_rows(given, now, 1.0)
                samples.append(time.perf_counter() - t)
            return samples

        out["unchanged"] = timed(lambda i: None)
        await pilot.pause()

        def one_changed(i: int) -> None:
            state = states[(i * 7919) % n]
            state.paused = not state.paused  # its Status cell changes

        out["one_changed"] = timed(one_changed)
        await pilot.pause()

        def all_changed(i: int) -> None:
            for state in states:
                state.paused = not state.paused

        out["all_changed"] = timed(all_changed)
        await pilot.pause()
        rows = table.row_count
    out["rows"] = rows
    return out


def main(argv: list[str]) -> int:
    task, spec, n, repeat = argv[0], argv[1], int(argv[2]), int(argv[3])
    if task == "fetch-all":
        result = asyncio.run(fetch_all(spec, n, repeat))
    elif task == "overview-rows":
        result = asyncio.run(overview_rows(spec, n, repeat))
    else:
        raise SystemExit(f"unknown task {task}")
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
