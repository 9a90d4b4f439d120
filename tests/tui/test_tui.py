"""Behaviour of the TUI, driven with Pilot against the simulator on a frozen clock."""

from __future__ import annotations

import dataclasses
import os
import random
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import ContentSwitcher, TabbedContent

from cuadra_top.config import Settings
from cuadra_top.simulator import Fault, Simulator, demo_orgs
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.thresholds import Band, Thresholds
from cuadra_top.tui.gauge import gauge_line
from cuadra_top.tui.help import HelpScreen
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.panes import Line, layout_pairs
from cuadra_top.tui.screenshots import FROZEN_AT, frozen_app, wait_for_data

NAMES = ["acme-free", "nimbus-pro", "globex-enterprise", "flaky-labs", "initech-capped"]


@pytest.fixture
def sim(frozen_sim):
    return frozen_sim  # this file's tests run on the frozen demo (conftest's ``sim`` is another)


def screen_text(app: CuadraTopApp) -> str:
    """Everything visible, as plain text."""
    return "\n".join(
        "".join(segment.text for segment in line) for line in app.screen._compositor.render_strips()  # noqa: SLF001
    )


def header(app: CuadraTopApp) -> str:
    return app.main_screen.header_line


def status(app: CuadraTopApp) -> str:
    return app.main_screen.status_line


async def test_starts_on_overview_with_every_org(sim):
    app = frozen_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        assert app.query_one(ContentSwitcher).current == "overview"
        table = app.query_one(OverviewTable)
        assert [str(row.key.value) for row in table.ordered_rows] == NAMES
        text = screen_text(app)
        # at 80 columns Resets gives way to the sparkline (the names stay whole): see DROPPED_FIRST
        assert "84.2% WARN" in text and "OVER" in text and "24 h" in text and "Runs out" in text


async def test_org_switching_by_every_key_path(sim):
    app = frozen_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.press("enter")  # overview -> the org under the cursor
        assert app.main_screen.current == "acme-free" and not app.main_screen.showing_overview
        await pilot.press("right_square_bracket")
        assert app.main_screen.current == "nimbus-pro"
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.main_screen.current == "initech-capped"  # wraps around
        await pilot.press("3")
        assert app.main_screen.current == "globex-enterprise"
        assert "globex-enterprise" in header(app)
        await pilot.press("9")  # no ninth org: stays
        assert app.main_screen.current == "globex-enterprise"
        await pilot.press("o")
        assert app.main_screen.showing_overview
        await pilot.press("down", "down", "enter")
        assert app.main_screen.current == "globex-enterprise"
        app.main_screen.open_org("acme-free")  # what the command palette's "Org: acme-free" calls
        assert app.main_screen.current == "acme-free"
        commands = [command.title for command in app.get_system_commands(app.screen)]
        assert {f"Org: {name}" for name in NAMES} <= set(commands)


async def test_start_org_flag_opens_that_org(sim):
    app = frozen_app(sim, start_org="nimbus-pro")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        assert not app.main_screen.showing_overview
        assert header(app).startswith("[2/5] nimbus-pro · Pro · 0 s ago · every 30s")


async def test_the_overview_is_built_on_first_use_when_the_app_starts_on_an_org(sim):
    app = frozen_app(sim, start_org="nimbus-pro")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        assert not app.query(OverviewTable)  # not built at start: it costs start-up time
        await pilot.press("o")
        await pilot.pause()
        table = app.query_one(OverviewTable)
        assert app.main_screen.showing_overview and table.has_focus
        assert [str(row.key.value) for row in table.ordered_rows] == NAMES
        await pilot.press("o")
        assert app.main_screen.current == "nimbus-pro" and not app.main_screen.showing_overview
        await pilot.press("ctrl+p")
        await pilot.press(*"Overview")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.main_screen.showing_overview and len(app.query(OverviewTable)) == 1  # reused, not built twice


async def test_admin_tab_follows_the_data(sim):
    app = frozen_app(sim, start_org="globex-enterprise")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        tabs = app.query_one(TabbedContent)
        await pilot.press("a")
        assert tabs.active == "admin"
        text = screen_text(app)
        assert "seats 40" in text and "credits per seat 12,500" in text
        assert "matches the plan limit of 500,000" in text
        await pilot.press("1")  # acme-free: not an admin credential
        assert tabs.active == "usage"
        assert "Admin" not in screen_text(app).splitlines()[1]
        await pilot.press("a")
        assert tabs.active == "usage"


async def test_pause_resume_and_interval_keys(sim):
    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.press("p")
        assert app.monitor.paused and all(s.paused for s in app.monitor.states())
        assert "PAUSED" in header(app)
        before = sim.request_count("acme-free")
        await pilot.press("r")  # a refresh while paused does not poll
        await pilot.pause(0.3)
        assert sim.request_count("acme-free") == before
        await pilot.press("p")
        assert not app.monitor.paused and "PAUSED" not in header(app)
        await pilot.pause(0.3)
        assert sim.request_count("acme-free") == before + 1  # the forced refresh ran on resume
        await pilot.press("plus")
        assert app.monitor.interval == 60 and all(app.monitor.poller(n).interval == 60 for n in NAMES)
        assert "every 1m" in header(app)
        await pilot.press("minus", "minus", "minus")
        assert app.monitor.interval == 10
        for _ in range(5):
            await pilot.press("minus")
        assert app.monitor.interval == 5  # the floor


async def test_refresh_key_fetches_now(sim):
    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        before = sim.request_count("acme-free")
        await pilot.press("r")
        await wait_for_data(app, pilot.pause)
        assert sim.request_count("acme-free") == before + 1


async def test_an_error_keeps_the_last_data_on_screen(sim):
    app = frozen_app(sim, start_org="nimbus-pro")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        sim.set_fault("nimbus-pro", Fault(status=503))
        await pilot.press("r")
        await pilot.pause(0.3)
        await wait_for_data(app, pilot.pause)
        state = app.monitor.state_of("nimbus-pro")
        assert state.error is not None and state.fetched is not None
        assert "ERROR" in header(app)
        assert status(app).startswith("server error 503")
        assert "last data kept" in status(app)
        assert "84.2% WARN" in screen_text(app)


async def test_stale_data_is_marked_with_its_age(sim):
    clock = {"now": FROZEN_AT}
    app = frozen_app(sim, start_org="nimbus-pro", now=lambda: clock["now"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        sim.set_fault("nimbus-pro", Fault(status=503))
        clock["now"] = FROZEN_AT + timedelta(minutes=5)
        app.main_screen.tick()  # the clock tick, without waiting 5 s
        assert "STALE 5m" in header(app)
        await pilot.press("o")
        await pilot.pause()
        assert "STALE 5m" in screen_text(app)


async def test_help_screen_lists_every_key(sim):
    app = frozen_app(sim, start_org="acme-free")
    async with app.run_test(size=(80, 40)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for key, what in [("[", "Prev org"), ("]", "Next org"), ("o", "Overview"), ("r", "Refresh"),
                          ("p", "Pause"), ("+", "Slower"), ("-", "Faster"), ("q", "Quit"), ("a", "Admin"),
                          ("v", "Raw JSON"), ("s", "Sort"), ("ctrl+p", "Command palette")]:
            assert what in text, what
        assert "1 2 3 4 5 6 7 8 9" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_raw_view_shows_unknown_fields():
    org = dataclasses.replace(demo_orgs()[0], extra_fields={"restrictions": {"maxAgents": 3}})
    with Simulator([org], seed=1, clock=lambda: FROZEN_AT.timestamp()) as simulator:
        app = frozen_app(simulator)
        async with app.run_test(size=(80, 30)) as pilot:
            await wait_for_data(app, pilot.pause)
            await pilot.press("v")
            text = screen_text(app)
            assert "fields cuadra-top does not know: restrictions" in text
            assert '"maxAgents": 3' in text


async def test_overview_sorts(sim):
    app = frozen_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        table = app.query_one(OverviewTable)
        assert table.has_focus
        await pilot.press("s")  # by name
        assert table.sort_key == "org"
        assert [str(row.key.value) for row in table.ordered_rows] == sorted(NAMES)
        await pilot.press("s")  # by credits, highest first
        order = [str(row.key.value) for row in table.ordered_rows]
        assert order[:3] == ["globex-enterprise", "initech-capped", "nimbus-pro"]


async def test_resizing_never_crashes_and_small_screens_stay_usable(sim):
    app = frozen_app(sim, start_org="globex-enterprise")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_data(app, pilot.pause)
        assert app.main_screen.has_class("-wide")
        for size in [(80, 24), (60, 20), (20, 8), (200, 60), (80, 24)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
        assert not app.main_screen.has_class("-wide")
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        text = screen_text(app)
        assert "globex-enterprise" in text and "Credits" in text


async def test_all_three_panes_fit_80x24_without_scrolling(sim):
    app = frozen_app(sim, start_org="globex-enterprise")  # the tallest credits pane
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        scroll = app.query_one("#usage-scroll")
        assert scroll.max_scroll_y == 0
        text = screen_text(app)
        assert "Credits" in text and "Storage" in text and "resets in" in text


async def test_unknown_theme_falls_back_and_bundled_themes_load(sim):
    app = frozen_app(sim, theme="no-such-theme")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "cuadra"
        assert {"cuadra", "cuadra-high-contrast"} <= set(app.available_themes)


async def test_missing_bundled_themes_fall_back_to_textuals_own(sim, tmp_path, monkeypatch):
    """A damaged install (no theme files) still starts, with a warning, not an internal error."""
    import cuadra_top.tui.app as app_module

    monkeypatch.setattr(app_module, "bundled_themes_dir", lambda: tmp_path / "nothing-here")
    app = frozen_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        assert any("unknown theme 'cuadra'; using textual-dark" in n for n in app.notices)


async def test_theme_choice_is_written_back_keeping_comments(sim, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("# my settings\nrefresh_interval = 30  # seconds\n\n[[org]]\nname = \"a\"\ntoken = \"x\"\n")
    config.chmod(0o600)
    app = frozen_app(sim, config_path=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.theme = "cuadra-high-contrast"
        await pilot.pause()
    text = config.read_text()
    assert 'theme = "cuadra-high-contrast"' in text
    assert "# my settings" in text and "# seconds" in text
    assert (config.stat().st_mode & 0o777) == 0o600


async def test_user_theme_files_are_loaded(sim, tmp_path):
    themes = Path(os.environ["XDG_CONFIG_HOME"]) / "cuadra-top" / "themes"  # conftest's temp dir
    themes.mkdir(parents=True)
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#ff0000"\n')
    (themes / "broken.toml").write_text('name = "broken"\nprimry = "#ff0000"\n')
    app = frozen_app(sim, theme="mine")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "mine"


async def test_no_orgs_shows_a_message_not_a_crash():
    app = make_app(TuiOptions(Settings(), environ={}, rng=random.Random(0)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "no organizations configured" in header(app)
        await pilot.press("right_square_bracket", "o", "r", "p", "a")
        await pilot.pause(0.1)
        assert "no organizations configured" in header(app)  # the overview says so too


def test_gauge_levels_and_text():
    default = Thresholds(80, 95)
    assert default.band(None) is Band.UNLIMITED
    assert default.band(0.5) is Band.OK
    assert default.band(0.8) is Band.WARN
    assert default.band(0.95) is Band.CRITICAL
    assert default.band(1.2) is Band.OVER
    line = gauge_line(0.5, 20)
    assert line.bar == "█" * 7 + "░" * 7 and line.label == "50.0%"
    assert gauge_line(1.2, 20).label == "120.0% OVER"
    assert gauge_line(1.2, 20).bar == "█" * 8
    assert gauge_line(0.9, 30, Thresholds(80, 95)).label == "90.0% WARN"
    assert gauge_line(0.85, 30, Thresholds(50, 60)).label == "85.0% CRIT"  # the org's own thresholds
    assert gauge_line(None, 20).label == "unlimited" and gauge_line(None, 20).bar == ""
    assert gauge_line(0.001, 20).bar.startswith("█")  # a little use is visible


async def test_a_gauge_repaints_only_when_its_line_would_change(monkeypatch):
    """An idle monitor polls every few seconds; a value that draws the same line (62.013% and
    62.015% both read 62.0%) must send the terminal nothing."""
    from textual.app import App

    from cuadra_top.tui.gauge import Gauge

    class Host(App[None]):
        def compose(self):
            yield Gauge(id="g", suffix="passed")

    async with Host().run_test(size=(40, 3)) as pilot:
        gauge = pilot.app.query_one(Gauge)
        gauge.set(0.62013)
        await pilot.pause()
        repaints: list[bool] = []
        refresh = gauge.refresh
        monkeypatch.setattr(gauge, "refresh", lambda *a, **k: (repaints.append(True), refresh(*a, **k))[1])
        gauge.set(0.62015)
        gauge.set(0.62015, suffix="passed")
        assert repaints == [] and gauge.fraction == 0.62015  # kept, not drawn
        gauge.set(0.7)
        assert repaints == [True]
        gauge.set(0.7, suffix="passed · resets in 5d")
        assert len(repaints) == 2
        await pilot.pause()
        assert "70.0% passed · resets in 5d" in str(gauge.render())


def test_pairs_wrap_between_pairs_only():
    lines = layout_pairs([("used", "512,000"), ("limit", "500,000"), ("available", "0")], 30)
    assert [line.plain for line in lines] == ["used 512,000  limit 500,000", "available 0"]


async def test_updates_while_help_is_open_do_not_break_anything(sim):
    app = frozen_app(sim, start_org="nimbus-pro")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.press("question_mark")
        await pilot.pause()
        sim.set_fault("nimbus-pro", Fault(status=503))
        app.monitor.refresh(["nimbus-pro"])
        await pilot.pause(0.3)
        app.main_screen.tick()  # the clock tick, as if 5 s went by
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert "ERROR" in header(app)
        await pilot.press("o")
        await pilot.pause()
        app.monitor.refresh(["acme-free"])
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HelpScreen)


async def test_poller_changes_are_drawn_in_batches(sim, monkeypatch):
    """Hundreds of orgs answering at once make one redraw, not one per answer (which also kept
    key presses queued behind them)."""
    app = frozen_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        table = app.query_one(OverviewTable)
        calls: list[list[str]] = []
        update_rows = table.update_rows
        monkeypatch.setattr(table, "update_rows", lambda rows, *a: (calls.append(
            sorted(row[1].name for row in rows)), update_rows(rows, *a)))
        for _ in range(25):
            app.monitor.pause(False)  # a change of every org, as each answer makes
        await pilot.pause(0.3)
        assert calls == [sorted(NAMES)]  # 100 changes, one table update with each org once

        renders: list[str] = []
        await pilot.press("2")
        view = app.main_screen.org_view
        monkeypatch.setattr(view, "show", lambda shown: renders.append(shown.state.name))
        for _ in range(25):
            app.monitor.pause(False)
        await pilot.pause(0.3)
        assert renders == ["nimbus-pro"]  # only the org on screen is drawn, once


async def test_an_orgs_row_can_arrive_before_the_first_full_overview_sync():
    """Any org's answer may be the first thing the overview draws (found at 500 orgs)."""
    from cuadra_top.state.poller import OrgState

    from textual.app import App

    class Host(App[None]):
        def compose(self):
            yield OverviewTable(["alpha", "twelve-chars"])

    async with Host().run_test(size=(80, 10)) as pilot:
        table = pilot.app.query_one(OverviewTable)
        table.update_rows([(2, OrgState("twelve-chars"), None, Thresholds())], FROZEN_AT, 30.0)
        table.update_rows([(1, OrgState("alpha"), None, Thresholds())], FROZEN_AT, 30.0)
        await pilot.pause()
        assert [str(row.key.value) for row in table.ordered_rows] == ["alpha", "twelve-chars"]
        assert table.columns[table.ordered_columns[1].key].width == len("twelve-chars")


async def test_a_change_after_a_quiet_spell_is_drawn_without_waiting_for_the_batch(sim, monkeypatch):
    """The first data at start-up (or after a refresh) must not sit out the batching window."""
    app = frozen_app(sim, start_org="nimbus-pro")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.pause(0.2)  # a quiet spell: nothing changed for longer than a batch
        screen = app.main_screen
        renders: list[str] = []
        monkeypatch.setattr(screen.org_view, "show", lambda shown: renders.append(shown.state.name))
        timers: list[float] = []
        set_timer = screen.set_timer
        monkeypatch.setattr(screen, "set_timer",
                            lambda delay, *a, **k: (timers.append(delay), set_timer(delay, *a, **k))[1])
        app.monitor.pause(False)
        await pilot.pause()
        assert renders == ["nimbus-pro"] and timers == []  # drawn on the next turn of the loop, no timer


async def test_the_screen_knows_it_is_live_without_walking_every_widget(sim, monkeypatch):
    """``live`` guards every batch of changes, every tick and resize (15 times on the way to
    the first live data): it looks at the screen's own children, not at every widget of the
    tree (0.35-0.7 ms a call with an org view's 50 widgets, against 0.01 ms)."""
    app = frozen_app(sim, start_org="nimbus-pro")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_data(app, pilot.pause)
        screen = app.main_screen
        walked: list[object] = []
        walk = screen.walk_children
        monkeypatch.setattr(screen, "walk_children", lambda *args, **kw: walked.append(args) or walk(*args, **kw))
        assert screen.live
        assert walked == []


async def test_the_first_answer_is_drawn_at_once_after_the_change_that_sent_its_request(sim, monkeypatch):
    """Changes are gathered for UPDATE_BATCH after one is drawn; the shown org's first answer
    is not: it follows the change that said its request went out by the request's time only
    (a few ms here), and waiting out the batch held up the first live data (25-35 ms of a
    fast API's start-up). UPDATE_BATCH is made long here so that a wait shows."""
    import asyncio
    import time

    import cuadra_top.tui.screen as screen_module

    monkeypatch.setattr(screen_module, "UPDATE_BATCH", 5.0)
    app = frozen_app(sim, start_org="nimbus-pro")
    async with app.run_test(size=(120, 40)):
        deadline = time.monotonic() + 10
        while app.monitor.state_of("nimbus-pro").fetched is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        answered = time.monotonic()
        while "loading" in app.main_screen.header_line:
            assert time.monotonic() - answered < 2.0, "the first answer waited for the batch"
            await asyncio.sleep(0.01)


async def test_the_credits_chart_comes_after_the_first_live_frame(sim, monkeypatch):
    """Drawing the credits chart the first time (plotext's import, the chart: ~20 ms) waits a
    moment after the first live answer is drawn instead of going before its frame; made 1 s
    here so that the order shows."""
    import asyncio
    import time

    import cuadra_top.tui.screen as screen_module

    from cuadra_top.api.models import parse_usage
    from cuadra_top.state.history import sample_of
    from cuadra_top.state.trends import Trends

    monkeypatch.setattr(screen_module, "CHART_AFTER_FIRST_ANSWER", 1.0, raising=False)
    trends = Trends(None, lambda: FROZEN_AT)  # one sample an hour old: the first answer makes the line
    earlier = parse_usage(sim.usage_for("nimbus-pro", (FROZEN_AT - timedelta(hours=1)).timestamp()))
    trends.add_samples("nimbus-pro", [sample_of("nimbus-pro", FROZEN_AT - timedelta(hours=1), earlier)])
    app = frozen_app(sim, start_org="nimbus-pro", trends=trends)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 10
        while app.monitor.state_of("nimbus-pro").fetched is None or "loading" in app.main_screen.header_line:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await pilot.pause(0.3)
        assert not app.query("#usage-chart")
        while not app.query("#usage-chart"):
            assert time.monotonic() < deadline, "no chart"
            await asyncio.sleep(0.05)
