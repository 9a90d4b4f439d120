"""cuadra-top with its start-up phases marked; run by ``bench/timeline.py``, not by hand.

It wraps a few functions from the outside (nothing in ``src/`` knows about it); the harness
quits it (``q``) once the live data is on screen; the marks (name, ms since this file's first line) go as one
JSON line to ``$TIMELINE_OUT``. Modules are wrapped when they are first imported, so that the
marking itself imports nothing earlier than cuadra-top would.
"""

import time

T0 = time.perf_counter()

import atexit  # noqa: E402
import importlib.abc  # noqa: E402
import importlib.machinery  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

MARKS: list[tuple[str, float]] = []
STORED, LIVE = os.environ["TIMELINE_STORED"], os.environ["TIMELINE_LIVE"]


def mark(name: str) -> None:
    if name not in (m[0] for m in MARKS):
        MARKS.append((name, round((time.perf_counter() - T0) * 1000, 1)))


def _write() -> None:
    with open(os.environ["TIMELINE_OUT"], "a") as out:
        out.write(json.dumps(MARKS) + "\n")


atexit.register(_write)


def wrap_fleet(module) -> None:
    build, fetch = module.Fleet.from_settings.__func__, module.Fleet.fetch

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

    module.Fleet.from_settings = classmethod(from_settings)
    module.Fleet.fetch = timed_fetch


def wrap_driver(module) -> None:
    """The driver's ``write``: the first frame, the stored answer and the live one on screen."""
    write = module.LinuxDriver.write

    def marked_write(self, data):
        write(self, data)
        if len(data) > 500:
            mark("first frame")
        if STORED in data:
            mark("stored answer on screen")
        if LIVE in data:
            mark("live data on screen")

    module.LinuxDriver.write = marked_write


def wrap_monitor(module) -> None:
    start = module.Monitor.start

    async def marked_start(self):
        mark("monitor started")
        await start(self)

    module.Monitor.start = marked_start


WRAPS = {
    "pydantic": (None, "pydantic imported"),
    "cuadra_top.config": (None, "config imported"),
    "textual.app": (None, "textual imported"),
    "cuadra_top.tui.app": (None, "tui imported"),
    "cuadra_top.state.monitor": (wrap_monitor, None),
    "textual.drivers.linux_driver": (wrap_driver, None),
    "httpx": (None, "httpx imported"),
    "cuadra_top.state.fleet": (wrap_fleet, None),
}


class _Marked(importlib.abc.MetaPathFinder):
    """Marks the moment a module has finished importing, and wraps it, wherever it is imported."""

    def find_spec(self, name, path, target=None):
        if name not in WRAPS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module
            wrap, label = WRAPS[name]

            def marked(module):
                exec_module(module)
                if label:
                    mark(label)
                if wrap:
                    wrap(module)

            spec.loader.exec_module = marked
        return spec


sys.meta_path.insert(0, _Marked())

from cuadra_top.startup import pause_gc  # noqa: E402

pause_gc()  # as cli.main() does first
import cuadra_top.cli as cli  # noqa: E402

mark("cli imported")
sys.exit(cli.main(sys.argv[1:]))
