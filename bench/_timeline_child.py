"""cuadra-top with its start-up phases marked; run by ``bench/timeline.py``, not by hand.

It wraps a few functions from the outside and exits after the first frame with data; the
marks (name, ms since this file's first line) go as one JSON line to ``$TIMELINE_OUT``.
"""

import time

T0 = time.perf_counter()

import atexit  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

MARKS: list[tuple[str, float]] = []


def mark(name: str) -> None:
    MARKS.append((name, round((time.perf_counter() - T0) * 1000, 1)))


def _write() -> None:
    with open(os.environ["TIMELINE_OUT"], "a") as out:
        out.write(json.dumps(MARKS) + "\n")


atexit.register(_write)

from cuadra_top.startup import pause_gc  # noqa: E402

pause_gc()  # as cli.main() does first
import cuadra_top.cli as cli  # noqa: E402

mark("cli imported")
import cuadra_top.tui.run as run  # noqa: E402  (imports the config module: pydantic, httpx, models)

mark("config imported")
_run_tui, _run_app = run.run_tui, run._run_app


def run_tui(*args, **kwargs):
    mark("config read")
    import cuadra_top.state.fleet as fleet

    build, fetch = fleet.Fleet.from_settings.__func__, fleet.Fleet.fetch

    def from_settings(cls, *a, **k):
        mark("pools: start")
        built = build(cls, *a, **k)
        mark("pools: built")
        return built

    async def timed_fetch(self, name):
        mark("fetch: start")
        result = await fetch(self, name)
        mark("fetch: answer")
        return result

    fleet.Fleet.from_settings = classmethod(from_settings)
    fleet.Fleet.fetch = timed_fetch
    return _run_tui(*args, **kwargs)


def run_app(*args, **kwargs):
    import textual.app  # noqa: F401

    mark("textual imported")
    import textual.drivers.linux_driver as driver

    from cuadra_top.tui import app as tui_app

    mark("tui imported")
    cls = tui_app.CuadraTopApp
    on_mount, render_usage, write = cls.on_mount, cls._render_usage, driver.LinuxDriver.write

    def marked_mount(self):
        mark("mounted")
        on_mount(self)

    def marked_render(self, state, now):
        render_usage(self, state, now)
        if state.fetched is not None and not getattr(self, "_timeline_done", False):
            self._timeline_done = True
            mark("data rendered")
            self.call_after_refresh(lambda: (mark("data on screen"), self.exit()))

    first: list[bool] = []

    def marked_write(self, data):
        if len(data) > 500 and not first:
            first.append(True)
            mark("first frame")
        write(self, data)

    cls.on_mount, cls._render_usage, driver.LinuxDriver.write = marked_mount, marked_render, marked_write
    return _run_app(*args, **kwargs)


run.run_tui, run._run_app = run_tui, run_app
sys.exit(cli.main(sys.argv[1:]))
