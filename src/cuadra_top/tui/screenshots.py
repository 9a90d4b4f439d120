"""Screenshots of the demo with a frozen clock: ``python -m cuadra_top.tui.screenshots DIR``.

The same frozen set-up serves the snapshot tests, so what the README shows is what the tests
check. Nothing here depends on the wall clock, the user's config or the machine's theme files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path

from cuadra_top.demo import backfill, demo_config, seed_history
from cuadra_top.simulator import Fault, Simulator, demo_orgs
from cuadra_top.state.history import History
from cuadra_top.state.trends import Trends
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.screen import OVERVIEW_COALESCE, UPDATE_BATCH

FROZEN_AT = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)


def frozen_simulator(at: datetime = FROZEN_AT) -> Simulator:
    """The demo orgs on a stopped clock; the flaky org behaves, so every run is the same."""
    orgs = [dataclasses.replace(org, flaky=False) for org in demo_orgs()]
    return Simulator(orgs, seed=7, clock=lambda: at.timestamp()).start()


def frozen_app(sim: Simulator, at: datetime = FROZEN_AT, **options: object) -> CuadraTopApp:
    """The app on the frozen demo, with a day of backfilled samples (no history on disk);
    ``options``: any other :class:`TuiOptions` field (``start_org``, ``now``, ...)."""
    loaded = demo_config(sim)
    trends = Trends(None, lambda: at)
    backfill(trends, sim, at)
    base: dict[str, object] = {"environ": {}, "now": lambda: at, "rng": random.Random(0), "trends": trends}
    return make_app(TuiOptions(loaded.settings, **{**base, **options}))  # type: ignore[arg-type]


async def wait_for_data(app: CuadraTopApp, pause: Callable[[], Awaitable[None]], timeout: float = 10.0) -> None:
    """Wait until every org has answered (data or error), then let the screen settle."""
    await app.monitor.wait_answered(timeout)
    await pause()
    await asyncio.sleep(2 * (UPDATE_BATCH + OVERVIEW_COALESCE))  # let the batched updates be drawn
    await pause()
    app.clear_notifications()
    await pause()


SHOTS: dict[str, tuple[tuple[int, int], dict[str, object], tuple[str, ...]]] = {
    "overview": ((80, 24), {}, ()),
    "org-120x40": ((120, 40), {"start_org": "nimbus-pro"}, ()),
    "org-80x24": ((80, 24), {"start_org": "nimbus-pro"}, ()),
    "admin": ((80, 24), {"start_org": "globex-enterprise"}, ("a",)),
    "error": ((80, 24), {"start_org": "nimbus-pro"}, ("r",)),
    "history": ((120, 40), {"start_org": "nimbus-pro", "history": True}, ("h",)),
}
"""name -> (terminal size, app options, keys pressed once the data is in). ``history``: the
demo's seeded history (a period and a half, as ``make demo`` has) instead of a day of samples."""


async def take(name: str, directory: Path) -> Path:
    size, options, keys = SHOTS[name]
    options = dict(options)
    sim = frozen_simulator()
    try:
        with tempfile.TemporaryDirectory(prefix="cuadra-top-shot-") as scratch:
            if options.pop("history", False):
                path = seed_history(Path(scratch) / "history.sqlite3", sim, sim.base_url, FROZEN_AT)
                options["trends"] = Trends(History(path), lambda: FROZEN_AT)
            app = frozen_app(sim, **options)
            async with app.run_test(size=size) as pilot:
                await wait_for_data(app, pilot.pause)
                if name == "error":
                    sim.set_fault("nimbus-pro", Fault(status=503))
                for key in keys:
                    await pilot.press(key)
                await wait_for_data(app, pilot.pause)
                if "h" in keys:
                    await wait_for_history(app, pilot.pause)
                path = directory / f"{name}.svg"
                app.save_screenshot(filename=path.name, path=str(directory))
                return path
    finally:
        sim.stop()


async def wait_for_history(app: CuadraTopApp, pause: Callable[[], Awaitable[None]], timeout: float = 10.0) -> None:
    """Wait until the History tab's charts are drawn (the history is read in a thread)."""
    for _ in range(int(timeout / 0.05)):
        if app.main_screen.query("#history-credits"):
            break
        await asyncio.sleep(0.05)
    await pause()
    await asyncio.sleep(0.2)
    await pause()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    directory = Path(argv[0] if argv else "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    for name in SHOTS:
        print(asyncio.run(take(name, directory)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
