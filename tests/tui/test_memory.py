"""Memory by design: what a long run or a large fleet keeps is bounded, whatever the run's length.

Each test measures through public interfaces (tracemalloc around the public calls) what one
consumer keeps once it has been fed far more than it should hold: the overview's rendering,
the trend window of an org with a month of history, a poller's record of its decisions.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
from collections.abc import Awaitable, Callable

import pytest
from datetime import datetime, timedelta, timezone

from textual.app import App, ComposeResult

from cuadra_top.api.client import Fetched
from cuadra_top.api.models import parse_usage
from cuadra_top.api.errors import ServerError
from cuadra_top.state.fleet import OrgResult
from cuadra_top.state.history import History, sample_of
from cuadra_top.state.poller import OrgPoller, OrgState
from cuadra_top.state.trends import Trends
from cuadra_top.thresholds import Thresholds
from cuadra_top.tui.help import HelpScreen
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.screenshots import frozen_app, wait_for_data

UTC = timezone.utc
NOW = datetime(2026, 5, 31, 12, tzinfo=UTC)
KIB = 1024
MIB = 1024 * KIB


def usage(used: int, storage: int = 10**9):
    return parse_usage({
        "storage": {"used": storage, "limit": 5 * 10**10},
        "credits": {"used": used, "limit": 10**6, "available": 10**6 - used,
                    "periodStart": "2026-05-01T00:00:00Z", "periodEnd": "2026-05-31T23:59:59Z"},
        "plan": {"tier": "pro", "name": "Pro"},
    })


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def kept_after(warm_up: Awaitable[None], measured: Callable[[], Awaitable[None]]) -> int:
    """Bytes still held after ``measured()``, counted from the end of ``warm_up`` (what fills
    once, the first renders and Textual's small caches, is not what is measured)."""
    tracemalloc.start()
    try:
        await warm_up
        before = traced()
        await measured()
        return traced() - before
    finally:
        tracemalloc.stop()


async def test_the_overview_keeps_no_more_renders_than_a_few_screens():
    """DataTable caches up to 1000 rendered rows and lines and 10000 cells, keyed by its update
    count: after every change they are all stale, yet kept until evicted. An overview whose
    orgs answer every few seconds filled them (10+ MiB) over a run: that must not grow."""
    names = [f"org-{i:03d}" for i in range(1, 41)]
    states = [OrgState(name, fetched=Fetched(usage(1_000 * i), {}, NOW, 0.1)) for i, name in enumerate(names, 1)]
    thresholds = Thresholds()

    class OverviewApp(App[None]):
        def compose(self) -> ComposeResult:
            yield OverviewTable(names, id="overview")

    app = OverviewApp()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(OverviewTable)

        async def rounds(count: int, start: int) -> None:
            for i in range(start, start + count):
                for state in states:
                    state.paused = (i + names.index(state.name)) % 2 == 0  # every Status cell changes
                table.update_rows([(n, s, None, thresholds) for n, s in enumerate(states, 1)],
                                  NOW + timedelta(seconds=i), 5.0)
                table.move_cursor(row=i % len(names))
                await pilot.pause()

        grown = await kept_after(rounds(10, 0), lambda: rounds(80, 10))  # the warm-up: rows, columns, first renders
    assert grown < 1 * MIB, f"the overview grew {grown / MIB:.1f} MiB over 80 redraws of 40 rows"


def month_of_samples(day: int) -> list:
    """One day of one sample a minute, of a month that started on 2026-05-01 (NOW is the 31st)."""
    start = datetime(2026, 5, 1, tzinfo=UTC)
    minutes = range(day * 24 * 60, min((day + 1) * 24 * 60, 30 * 24 * 60 + 12 * 60))
    return [sample_of("acme", start + timedelta(minutes=m), usage(1_000 + m, 10**9 + 1_000 * m)) for m in minutes]


@pytest.mark.parametrize("source", ["answers", "history"])
async def test_a_month_of_samples_keeps_a_small_window_per_org(source, tmp_path):
    """The window of an org with a month of samples (one a minute, thinned to one per 10
    minutes for the last day and one per 3 hours before: ~380) is what a fleet of hundreds of
    orgs multiplies. Whether the samples came from answers (each parses its own period,
    plan and limits) or from the history file, they share what does not change."""
    history = None
    if source == "history":
        history = History(tmp_path / "history.sqlite3")
        for day in range(31):
            history.record_many([("acme-key", "acme", s.at, usage(s.credits_used, s.storage_used))
                                 for s in month_of_samples(day)])
    trends = Trends(history, lambda: NOW)
    await asyncio.to_thread(lambda: None)  # the executor's thread, which the history reads use, is not the window
    tracemalloc.start()
    try:
        before = traced()
        if history is None:
            for day in range(31):  # a day at a time, as answers bring them
                trends.add_samples("acme", month_of_samples(day))
        else:
            await trends.load(["acme"], {"acme": "acme-key"})
        kept = traced() - before
        count = len(trends.windows["acme"].samples)
    finally:
        tracemalloc.stop()
        if history is not None:
            history.close()
    assert 300 <= count <= 450, count
    assert kept < 120 * KIB, f"{count} samples take {kept / KIB:.0f} KiB ({kept / count:.0f} B each)"


async def test_a_poller_keeps_a_short_record_of_its_decisions():
    """The delays are kept for the tests and the soak; a poller of months of polls (or of a
    long outage, every backoff a float of its own) keeps a few dozen of them, not thousands."""

    polls = 0

    async def fetch(name: str) -> OrgResult:
        nonlocal polls
        polls += 1
        if polls % 2:
            return OrgResult(name, None, ServerError("down", status=503), NOW)
        return OrgResult(name, Fetched(usage(1_000), {}, NOW, 0.0), None, NOW)

    poller = OrgPoller("acme", fetch, 0.0)
    task = asyncio.create_task(poller.run())
    try:
        while polls < 300:
            await asyncio.sleep(0)
            if poller.state.failures and poller.state.next_poll_at:
                poller.refresh_now()  # skip the backoff: the record is what is tested
        kept = len(poller.delays)
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=2)
    assert kept <= 64, f"{kept} delays kept after {polls} polls"


async def test_the_help_screen_opened_again_and_again_keeps_one_set_of_renders(sim):
    """Textual keeps the rendered lines of up to 1024 widgets in a global cache after they are
    gone. A help screen built anew at every ? left its lines there each time (~65 KiB): in a
    long run that was the RSS that kept growing. One help screen, shown again, holds one set."""
    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_data(app, pilot.pause)

        async def help_and_back(times: int) -> None:
            for _ in range(times):
                await pilot.press("question_mark")
                await pilot.pause()
                assert isinstance(app.screen, HelpScreen)
                await pilot.press("escape")
                await pilot.pause()

        app.monitor.pause(True)  # no answers meanwhile: the help screen is what is measured
        grown = await kept_after(help_and_back(10), lambda: help_and_back(40))  # the first fill small caches
    assert grown < 256 * KIB, f"40 more openings of the help screen kept {grown / KIB:.0f} KiB"


async def test_the_help_screen_shown_again_wears_the_theme_of_the_moment(sim):
    """The one help screen is kept between openings: a theme chosen meanwhile still shows."""
    from textual.color import Color
    from textual.containers import VerticalScroll

    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_data(app, pilot.pause)
        backgrounds = []
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await pilot.pause()
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            backgrounds.append(app.screen.query_one(VerticalScroll).styles.background)
            assert backgrounds[-1] == Color.parse(app.get_css_variables()["surface"]), theme
            await pilot.press("escape")
            await pilot.pause()
    assert backgrounds[0] != backgrounds[1]


async def test_notifications_shown_and_gone_leave_nothing_behind(sim):
    """Each notification is two new widgets. Textual caches a pair of styles per colour pair
    with ``lru_cache`` on a method of each widget's StylesCache, so every line a toast drew
    stayed pinned for 1024 more calls after it was gone (13 KiB a toast here, Textualize/textual
    #6665): with a few alerts a minute the soak's RSS grew megabytes an hour. Toasts that come
    and go keep next to nothing (48 KiB for these 40, the caches of their texts)."""
    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for_data(app, pilot.pause)

        async def toasts(rounds: int, start: int) -> None:
            for i in range(start, start + rounds):
                for j in range(4):  # a few at a time, as a fault rotation brings them
                    app.notify(f"acme-free: the server answered 503 ({i}.{j}); retry in {i % 60} s · last data kept",
                               severity="error", timeout=0.2)
                await pilot.pause(0.1)  # mounted and drawn
                await pilot.pause(0.3)  # gone, each at the end of its own time

        app.monitor.pause(True)  # no answers meanwhile: the toasts are what is measured
        grown = await kept_after(toasts(3, 0), lambda: toasts(10, 3))  # the first fill small caches
    assert grown < 128 * KIB, f"40 notifications shown and gone kept {grown / KIB:.0f} KiB"


async def test_orgs_shown_in_turn_again_and_again_keep_no_stale_query_answers(sim):
    """Textual remembers each ``query_one`` answer per node under a counter of changes to the
    tree below it; showing or hiding a part of a pane moves that counter, so every answer from
    before can never be asked for again, yet each stayed until 1024 newer ones pushed it out.
    Orgs of every kind shown in turn hide and show a pane's parts each time: the screen, the org
    view and its panes each kept up to 1024 dead answers, which took the soak's half hour to
    fill (691 KiB for these 800 switches). Now each change drops them: 151 KiB here, the
    caches of the texts drawn."""
    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_data(app, pilot.pause)
        app.monitor.pause(True)  # no answers meanwhile: the switching is what is measured

        async def switch(times: int) -> None:
            for _ in range(times):
                await pilot.press("right_square_bracket")
                await pilot.pause()

        grown = await kept_after(switch(len(app.monitor.names) * 3), lambda: switch(800))
    assert grown < 256 * KIB, f"800 switches between orgs kept {grown / KIB:.0f} KiB"


def record_the_minute_s_work(monkeypatch, steps: list[str], *, collect: bool = False) -> None:
    """The TUI's memory timer at 0.1 s, with its two steps recorded in ``steps`` and the trim
    not done; the collection neither, unless ``collect``: a real full collection in this test
    process (unfrozen, thousands of tests' objects) takes longer than the timer, so a count of
    timer ticks would measure the collector."""
    from cuadra_top import heap
    from cuadra_top.tui import app as app_module

    monkeypatch.setattr(app_module, "HEAP_TRIM_EVERY", 0.1)
    monkeypatch.setattr(heap, "give_back_free_memory", lambda: bool(steps.append("trim")) or True)
    if not collect:
        monkeypatch.setattr(gc, "collect", lambda generation=2: steps.append("collect") or 0)


async def test_the_tui_gives_the_heap_s_free_pages_back_as_it_runs(sim, monkeypatch):
    """What the C heap freed goes back to the system on a timer (:mod:`cuadra_top.heap`): the
    soak's RSS crept up without it."""
    steps: list[str] = []
    record_the_minute_s_work(monkeypatch, steps)
    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        before = steps.count("trim")
        await asyncio.sleep(0.55)
        assert steps.count("trim") - before >= 3


async def test_the_tui_collects_cycles_before_giving_the_heap_back(sim, monkeypatch):
    """A full collection on the same timer, just before each trim: the app freezes start-up's
    objects and leaves collection to allocation counts, which seldom reach the oldest
    generation, so cycles stay there for long, and a page they hold cannot go back."""
    steps: list[str] = []
    record_the_minute_s_work(monkeypatch, steps)
    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        steps.clear()
        await asyncio.sleep(0.35)
    trims = [i for i, step in enumerate(steps) if step == "trim"]
    assert trims and all(i > 0 and steps[i - 1] == "collect" for i in trims), steps


async def test_the_tui_runs_on_where_the_c_heap_cannot_be_reached(sim, monkeypatch):
    """A Python built without ``_ctypes`` (pyenv without libffi's headers): giving the heap back
    does nothing there, and the monitor, its timer firing, keeps running."""
    import cuadra_top
    from cuadra_top import heap
    from cuadra_top.tui import app as app_module

    monkeypatch.setattr(app_module, "HEAP_TRIM_EVERY", 0.1)
    monkeypatch.delitem(sys.modules, heap.__name__)  # imported afresh by the timer, as in a new process
    # The import afresh binds the package's attribute to the new module: put both back after,
    # or a later test patching ``cuadra_top.heap`` patches a module the app no longer imports.
    monkeypatch.setattr(cuadra_top, "heap", heap)
    monkeypatch.setitem(sys.modules, "ctypes", None)
    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        await asyncio.sleep(0.35)
        await pilot.pause()
        assert app.is_running and app.return_code is None


async def test_a_gc_callback_that_raises_stops_neither_the_timer_nor_the_app(sim, monkeypatch):
    """A ``gc.callbacks`` entry, as a third-party library could add one, that raises at every
    collection: CPython reports it as unraisable (on ``sys.stderr``, which the running app
    captures) and the collection returns; the trim still follows each of the timer's
    collections, and the monitor runs on."""
    steps: list[str] = []
    reported: list[BaseException | None] = []

    def raising(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            steps.append("collect")
        raise RuntimeError("a library's gc callback failed")

    record_the_minute_s_work(monkeypatch, steps, collect=True)
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: reported.append(unraisable.exc_value))
    app = frozen_app(sim, start_org="acme-free")
    gc.freeze()  # the real collection, over what came since, as in the app (start-up frozen)
    gc.callbacks.append(raising)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_data(app, pilot.pause)
            steps.clear()
            await asyncio.sleep(0.45)
            await pilot.pause()
            assert app.is_running and app.return_code is None
    finally:
        gc.callbacks.remove(raising)
        gc.unfreeze()
    trims = [i for i, step in enumerate(steps) if step == "trim"]
    assert len(trims) >= 2 and all(steps[i - 1] == "collect" for i in trims if i > 0), steps
    assert reported and all(isinstance(exc, RuntimeError) for exc in reported)


async def test_the_timer_firing_in_a_slow_start_up_keeps_the_collector_paused_until_it_is_over(sim, monkeypatch):
    """The first answers slower than the timer (a timer shortened for the test: at 60 s it
    comes long after ``STARTUP_GRACE``): the timer's collections run with the collector
    paused, and leave it so; start-up still ends as it should, the collector back on with
    what start-up built frozen."""
    from cuadra_top import startup
    from cuadra_top.simulator import Fault
    from cuadra_top.tui import app as app_module

    seen: list[bool] = []
    steps: list[str] = []
    record_the_minute_s_work(monkeypatch, steps)
    monkeypatch.setattr(gc, "collect", lambda generation=2: seen.append(gc.isenabled()) or 0)
    monkeypatch.setattr(app_module, "STARTUP_GRACE", 30.0)  # start-up ends with the first answer
    for name in sim.orgs:
        sim.set_fault(name, Fault(latency=1.0))
    app = frozen_app(sim, start_org="acme-free")
    assert gc.isenabled()
    startup.pause_gc()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await asyncio.sleep(0.5)  # the answer is on its way
            assert seen and not any(seen), seen
            assert not gc.isenabled()
            await app.monitor.wait_answered(5)
            for _ in range(50):
                await pilot.pause(0.05)
                if gc.isenabled():
                    break
            assert gc.isenabled() and gc.get_freeze_count() > 0
            seen.clear()
            await asyncio.sleep(0.3)
            assert seen and all(seen), seen
    finally:
        startup.resume_gc()
        gc.enable()
        gc.unfreeze()
