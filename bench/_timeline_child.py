"""cuadra-top with its start-up phases marked; run by ``bench/timeline.py``, not by hand.

It wraps a few functions from the outside and exits after the first frame with data; the
marks (name, ms since this file's first line) go as one JSON line to ``$TIMELINE_OUT``.
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
_run_tui = run.run_tui


class _MarkImported(importlib.abc.MetaPathFinder):
    """Marks the moment ``textual.app`` has finished importing, wherever it is imported from."""

    def find_spec(self, name, path, target=None):
        if name != "textual.app":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def marked(module):
                exec_module(module)
                mark("textual imported")

            spec.loader.exec_module = marked
        return spec


sys.meta_path.insert(0, _MarkImported())


def run_tui(*args, **kwargs):
    mark("config read")
    import cuadra_top.state.fleet as fleet
    import cuadra_top.tui.factory as factory

    build, fetch, make_app = fleet.Fleet.from_settings.__func__, fleet.Fleet.fetch, factory.make_app

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

    def marked_make_app(options):
        mark("tui imported")
        return mark_app(make_app(options))

    fleet.Fleet.from_settings = classmethod(from_settings)
    fleet.Fleet.fetch = timed_fetch
    factory.make_app = marked_make_app
    return _run_tui(*args, **kwargs)


def mark_app(app):
    """Marks the app's mount, its first frame and the first org view drawn with data, from
    public methods only (``on_mount``, ``OrgView.show``, the driver's ``write``)."""
    import textual.drivers.linux_driver as driver

    from cuadra_top.tui.org_view import OrgView

    cls = type(app)
    on_mount, show, write = cls.on_mount, OrgView.show, driver.LinuxDriver.write
    done: list[bool] = []

    def marked_mount(self):
        mark("mounted")
        on_mount(self)

    def marked_show(self, shown):
        show(self, shown)
        if shown.state.fetched is not None and not done:
            done.append(True)
            mark("data rendered")
            self.app.call_after_refresh(lambda: (mark("data on screen"), self.app.exit()))

    first: list[bool] = []

    def marked_write(self, data):
        if len(data) > 500 and not first:
            first.append(True)
            mark("first frame")
        write(self, data)

    cls.on_mount, OrgView.show, driver.LinuxDriver.write = marked_mount, marked_show, marked_write
    return app


run.run_tui = run_tui
sys.exit(cli.main(sys.argv[1:]))
