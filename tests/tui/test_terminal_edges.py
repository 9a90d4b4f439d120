"""The TUI at the edges of the terminal and of the config: tiny and huge sizes, names in any
script and of any length, and fleets of 0, 1 and 50 organizations. Driven with Pilot against
the simulator, as in tests/test_tui.py."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest
from pydantic import SecretStr
from rich.cells import cell_len

from cuadra_top.cli import main
from cuadra_top.config import OrgConfig, Settings
from cuadra_top.simulator import DemoOrg, Fault, Simulator
from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.factory import TuiOptions
from cuadra_top.tui.factory import make_app as build_app
from cuadra_top.tui.help import HelpScreen
from cuadra_top.tui.overview import OverviewTable
from cuadra_top.tui.panes import Line
from conftest import wait_until

FROZEN = datetime(2026, 4, 15, 12, 0, 0, tzinfo=timezone.utc)

LONG_CJK = "组织-🚀-" * 20
COMBINING = "e\u0301\u0308a\u0323\u0307" * 12 + "-org"
RTL = "مؤسسة-שלום-" * 6 + "org"
ZWJ = "👨\u200d👩\u200d👧\u200d👦-family-" * 5
WIDE_NAMES = [LONG_CJK, COMBINING, RTL, ZWJ]


def demo_org(name: str, token: str, **kw) -> DemoOrg:
    base = dict(name=name, token=token, tier="pro", plan_name="Pro", credit_limit=10_000,
                storage_limit=10 * 1024**3, credits_used_at_start=8_500, storage_used_at_start=1024**3,
                burn_per_hour=100.0, storage_growth_per_hour=1024**2)
    base.update(kw)
    return DemoOrg(**base)


@pytest.fixture
def start(isolated_env):
    """start(names) -> (simulator, settings): one simulated org per name, tokens org-<i>-token."""
    sims: list[Simulator] = []

    def start(names: list[str], **org_kw) -> tuple[Simulator, Settings]:
        orgs = [demo_org(name, f"org-{i}-token", **org_kw) for i, name in enumerate(names)]
        sim = Simulator(orgs, seed=5, clock=lambda: FROZEN.timestamp()).start()
        sims.append(sim)
        settings = Settings(org=[OrgConfig(name=name, api_url=sim.base_url, token=SecretStr(f"org-{i}-token"))
                                 for i, name in enumerate(names)])
        return sim, settings

    yield start
    for sim in sims:
        sim.stop()
    for sim in sims:
        assert sim.errors == []


def make_app(settings: Settings, **kw) -> CuadraTopApp:
    app = build_app(TuiOptions(settings, environ={}, now=lambda: FROZEN, rng=random.Random(0), persist_theme=False, **kw))
    app.animation_level = "none"
    return app


def screen_lines(app: CuadraTopApp) -> list[str]:
    return ["".join(s.text for s in line) for line in app.screen._compositor.render_strips()]  # noqa: SLF001


def screen_text(app: CuadraTopApp) -> str:
    return "\n".join(screen_lines(app))


def header(app: CuadraTopApp) -> str:
    return str(app.query_one("#header", Line).render())


async def wait_for_data(app: CuadraTopApp, pilot) -> None:
    """Every org has answered and the overview (which batches updates) shows it."""
    def answered() -> bool:
        states = app.monitor.states()
        return len(states) == len(app.monitor.names) and all((s.fetched or s.error) and not s.in_flight for s in states)

    def overview_synced() -> bool:
        if not app.main_screen.showing_overview:
            return True
        table = app.query_one(OverviewTable)
        return table.row_count == len(app.monitor.names) and all(
            table.get_row(name)[-1] != "LOADING" for name in app.monitor.names)

    await wait_until(answered)
    await wait_until(overview_synced)
    await pilot.pause(0.1)


async def quiesce(app: CuadraTopApp, pilot) -> None:
    """No fetch under way and no overview update batched: safe to leave the app. (A batched
    overview sync that fires while the app shuts down crashes it: reported as a bug.)"""
    await wait_until(lambda: not any(s.in_flight for s in app.monitor.states())
                   and not getattr(app, "_overview_pending", False))
    await pilot.pause(0.1)


def assert_intact(app: CuadraTopApp, width: int, height: int) -> None:
    """The screen is exactly the terminal's size, the header is one line at the top and the
    footer is at the bottom."""
    lines = screen_lines(app)
    assert len(lines) == height
    assert all(cell_len(line) == width for line in lines), [cell_len(line) for line in lines]
    assert "Quit" in lines[-1] or "palette" in lines[-1]


# -- sizes -----------------------------------------------------------------------------------------


SMALL_SIZES = [(10, 5), (1, 1), (200, 3)]


async def test_tiny_terminals_and_back(start):
    """Overview, org view, help and palette at sizes down to 1x1, then back to 80x24 intact."""
    _, settings = start(["alpha", "beta", "gamma"], admin=True, seats=4, credits_per_seat=2_500, purchased_balance=10)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot)
        for view in ("overview", "org"):
            for size in SMALL_SIZES:
                await pilot.resize_terminal(*size)
                await pilot.pause()
                assert len(screen_lines(app)) == size[1], (view, size)
                if view == "org" and size == (1, 1):
                    await pilot.press("right_square_bracket", "v")  # keys still work at that size
                    app.main_screen.action_tab("admin")
            await pilot.press("right_square_bracket")  # overview -> the first org
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.resize_terminal(12, 6)
        await pilot.press("escape", "ctrl+p")
        await pilot.resize_terminal(3, 2)
        await pilot.press(*"al", "escape")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.press("2", "u")
        await pilot.pause()
        assert app.main_screen.current == "beta" and not app.main_screen.showing_overview
        assert_intact(app, 80, 24)
        text = screen_text(app)
        assert header(app).startswith("[2/3] beta") and "Credits" in text and "Storage" in text
        assert app.query_one("#usage-scroll").max_scroll_y == 0  # fits again, no scrolling needed
        await pilot.resize_terminal(400, 120)  # and a very large one
        await pilot.pause()
        assert app.main_screen.has_class("-wide")
        assert_intact(app, 400, 120)


# -- names in any script, of any length ----------------------------------------------------------


async def test_unicode_and_long_names(start):
    names = [*WIDE_NAMES, "plain"]
    _, settings = start(names)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot)
        assert_intact(app, 80, 24)
        table = app.query_one(OverviewTable)
        assert [str(row.key.value) for row in table.ordered_rows] == names
        head = screen_lines(app)[1]
        assert "Credits" in head and "Status" in head, head  # long names are cut, the columns stay
        assert "plain" in screen_text(app)
        for number, name in enumerate(names, 1):
            await pilot.press(str(number))
            await pilot.pause()
            assert app.main_screen.current == name
            assert_intact(app, 80, 24)
            top = screen_lines(app)[0]
            assert top.lstrip().startswith(f"[{number}/5] "), top  # one line: a long name is cut
            assert "Credits" in screen_text(app) and "85.0% WARN" in screen_text(app), name
        app.main_screen.action_tab("raw")  # and the raw view, help, palette take them too
        await pilot.press("question_mark", "escape", "ctrl+p", "o", "escape")
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert_intact(app, 120, 40)


def test_once_with_unicode_names(isolated_env, tmp_path, capsys):
    names = [LONG_CJK, COMBINING, RTL, ZWJ]
    orgs = [demo_org(name, f"u-{i}-token") for i, name in enumerate(names)]
    with Simulator(orgs, seed=1, clock=lambda: FROZEN.timestamp()) as sim:
        config = tmp_path / "config.toml"
        config.write_text("".join(f'[[org]]\nname = {json.dumps(name, ensure_ascii=False)}\napi_url = "{sim.base_url}"\n'
                                  f'token = "u-{i}-token"\n\n' for i, name in enumerate(names)))
        config.chmod(0o600)
        code = main(["--once", "--config", str(config)])
        out, err = capsys.readouterr()
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 1 + len(names)
    for name, line in zip(names, lines[1:]):
        assert line.startswith(name) and "85.0%" in line


async def test_opening_an_org_right_after_an_update_keeps_its_header(start):
    _, settings = start(["alpha", "beta"])
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot)
        assert app.main_screen.showing_overview
        app.monitor.pause(False)  # a change of every org, as their answers make, batched for the overview...
        app.main_screen.open_org("beta")  # ...and the user presses 2 before the 50 ms batch runs
        await pilot.pause(0.3)
        assert not app.main_screen.showing_overview
        assert header(app).startswith("[2/2] beta"), header(app)


# -- fleets of 0, 1 and 50 ---------------------------------------------------------------------


async def test_no_orgs(isolated_env):
    app = make_app(Settings())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "no organizations configured" in header(app)
        await pilot.press("1", "right_square_bracket", "r", "p", "a")
        assert "no organizations configured" in header(app)
        await pilot.press("question_mark", "escape", "o")
        for size in [(1, 1), (80, 24)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
        assert_intact(app, 80, 24)
        # (An empty overview after o reads "0 organizations"; either way it says there are none.)
        assert "no organizations configured" in header(app) or "0 organizations" in header(app)


async def test_one_org(start):
    sim, settings = start(["solo"])
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot)
        assert not app.main_screen.showing_overview  # one org: straight to it
        assert header(app).startswith("solo · Pro")  # no [1/1]
        await pilot.press("right_square_bracket")
        assert app.main_screen.current == "solo"
        await pilot.press("2")
        assert app.main_screen.current == "solo"
        await pilot.press("o")
        await wait_for_data(app, pilot)
        table = app.query_one(OverviewTable)
        assert app.main_screen.showing_overview and table.row_count == 1
        await pilot.press("enter")
        assert app.main_screen.current == "solo" and not app.main_screen.showing_overview
        before = sim.request_count()
        await pilot.press("r")
        await wait_until(lambda: sim.request_count() == before + 1)


FIFTY = [f"org-{i:02d}" for i in range(1, 51)]


@pytest.fixture
def fifty(start) -> tuple[Simulator, Settings]:
    return start(FIFTY)


async def test_fifty_orgs_in_the_tui(fifty):
    sim, settings = fifty
    sim.set_fault("org-25", Fault(status=503))  # one of them failing does not spoil the table
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot)
        assert len(sim.requests(path="/v1/usage")) == 50  # one each, none twice
        table = app.query_one(OverviewTable)
        assert app.main_screen.showing_overview and table.row_count == 50
        assert [str(row.key.value) for row in table.ordered_rows] == FIFTY
        assert table.get_row("org-25")[-1] == "ERROR"
        assert sum(1 for name in FIFTY if table.get_row(name)[-1] == "ok") == 49
        text = screen_text(app)
        assert "org-01" in text and "org-50" not in text  # more rows than the screen holds
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.cursor_row == 49 and table.scroll_y > 0
        assert "org-50" in screen_text(app) and "org-01" not in screen_text(app)
        await pilot.press("enter")
        assert app.main_screen.current == "org-50" and header(app).startswith("[50/50] org-50")
        await pilot.press("right_square_bracket")  # wraps around
        assert app.main_screen.current == "org-01" and header(app).startswith("[1/50] org-01")
        for number in range(1, 10):
            await pilot.press(str(number))
            assert app.main_screen.current == FIFTY[number - 1], number
        await pilot.press("right_square_bracket")
        assert app.main_screen.current == "org-10" and header(app).startswith("[10/50] org-10")
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.main_screen.current == "org-08"
        assert_intact(app, 80, 24)
        await quiesce(app, pilot)


def test_fifty_orgs_once(fifty, tmp_path, capsys):
    sim, settings = fifty
    config = tmp_path / "config.toml"
    config.write_text("".join(f'[[org]]\nname = "{org.name}"\napi_url = "{sim.base_url}"\ntoken = "org-{i}-token"\n\n'
                              for i, org in enumerate(settings.org)))
    config.chmod(0o600)
    code = main(["--once", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 51 and lines[0].startswith("ORG")
    assert [line.split()[0] for line in lines[1:]] == FIFTY
    assert all("ERROR" not in line and "85.0%" in line for line in lines[1:])
