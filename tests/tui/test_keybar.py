"""The key bar: the keys that work where the focus is, on one line that fits the terminal."""

from __future__ import annotations

import pytest
from textual.binding import Binding

from cuadra_top.tui.app import CuadraTopApp
from cuadra_top.tui.keybar import Key, KeyBar, fit, keys_of
from cuadra_top.tui.screenshots import frozen_app, wait_for_data


@pytest.fixture
def sim(frozen_sim):
    return frozen_sim  # this file's tests run on the frozen demo (conftest's ``sim`` is another)


def display(binding: Binding) -> str:
    return binding.key.upper()


def test_keys_are_listed_once_per_action_with_quit_help_and_palette_last():
    bindings = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("Q", "quit", "Quit again"),
        Binding("x", "hidden", "Hidden", show=False),
        Binding("r", "refresh", "Refresh"),
    ]
    keys = keys_of(bindings, display, palette=Binding("ctrl+p", "command_palette", "palette"))
    assert keys == [Key("R", "Refresh", False), Key("?", "Help", True), Key("Q", "Quit", True),
                    Key("CTRL+P", "Palette", True)]


def test_fit_drops_trailing_keys_but_keeps_help_and_palette():
    keys = [Key("q", "Quit", False), Key("r", "Refresh", False), Key("p", "Pause", False),
            Key("?", "Help", True), Key("^p", "Palette", True)]
    assert fit(keys, 200) == keys
    # "q Quit  r Refresh" (17) + "  ? Help  ^p Palette" (20) = 37 cells: p Pause no longer fits
    assert fit(keys, 37) == [keys[0], keys[1], keys[3], keys[4]]
    assert fit(keys, 36) == [keys[0], keys[3], keys[4]]
    assert fit(keys, 5) == [keys[3], keys[4]]  # too narrow for anything: the kept ones still come


async def test_the_bar_follows_the_focus_and_fits_80_columns(sim):
    app = frozen_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        bar = app.query_one(KeyBar)
        shown = bar.shown
        assert "s Sort" in shown and "Open" in shown  # the overview's own keys while it has the focus
        assert shown.endswith("q Quit  ? Help  ^p Palette") and len(shown) <= 78
        await pilot.press("enter")
        await pilot.pause()
        shown = bar.shown
        assert "s Sort" not in shown and "r Refresh" in shown
        assert shown.endswith("q Quit  ? Help  ^p Palette") and len(shown) <= 78
        await pilot.resize_terminal(160, 30)
        await pilot.pause()
        wide = bar.shown
        assert "+ Slower" in wide and "- Faster" in wide and "p Pause" in wide


async def test_focus_changes_do_not_grow_the_dom(sim):
    """Textual 8.2.8's Footer kept every replaced key widget alive: the bar has no children."""
    app: CuadraTopApp = frozen_app(sim)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        await pilot.press("o", "o")
        await pilot.pause()
        before = len(list(app.screen.walk_children()))
        for _ in range(10):
            await pilot.press("o")
        await pilot.pause()
        assert len(list(app.screen.walk_children())) == before
        assert not app.query_one(KeyBar).children
