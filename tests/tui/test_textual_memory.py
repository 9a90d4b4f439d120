"""Textual's ``query_one`` answers, dropped when the tree below a node changes
(:func:`cuadra_top.tui.textual_memory.drop_stale_query_answers`): attacked where the tree changes
most, as the workaround is a wrapper of Textual's private ``NodeList.updated``. Every query keeps
answering the widgets of the moment, no node keeps an answer it can no longer be asked for, and
the wrapper neither doubles Textual's count nor trips over a node that is gone."""

from __future__ import annotations

import gc

from textual._node_list import NodeList
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.widgets import Input, Static

from cuadra_top.tui.screenshots import frozen_app, wait_for_data
from cuadra_top.tui.textual_memory import bound_textual_caches


def test_applied_twice_it_wraps_textual_once():
    """Every app applies it (tests run many apps in one process): a wrapper of the wrapper would
    walk each tree once more per change, for every app started. Each change still moves the
    node's counter and its ancestors' by one, as Textual's own ``updated`` does."""
    assert bound_textual_caches()
    wrapped = NodeList.updated
    assert bound_textual_caches()
    assert NodeList.updated is wrapped
    root, child = DOMNode(), DOMNode()
    child._parent = root
    before = (root._nodes._updates, child._nodes._updates)
    child._nodes.updated()
    assert (root._nodes._updates, child._nodes._updates) == (before[0] + 1, before[1] + 1)


def test_a_list_whose_node_is_gone_still_counts():
    """A ``NodeList`` holds its node weakly: once the node is collected, moving its counter
    clears nothing and raises nothing."""
    bound_textual_caches()
    node = DOMNode()
    children = node._nodes
    del node
    gc.collect()
    children.updated()
    assert children._updates == 1


class Tree(App[None]):
    def compose(self) -> ComposeResult:
        with Vertical(id="box"):
            yield Static("one", id="item", classes="item")


async def test_query_one_answers_the_widgets_of_the_moment():
    """Removed, mounted again under the same id, hidden, shown, recomposed: each query answers
    the widget on screen now, never one it answered before the change."""
    app = Tree()
    async with app.run_test() as pilot:
        box = app.query_one("#box", Vertical)
        first = app.query_one("#item", Static)
        assert box.query_one(".item") is first and app.query_one(Static) is first
        await first.remove()
        second = Static("two", id="item", classes="item")
        await box.mount(second)
        assert app.query_one("#item") is second and box.query_one(".item") is second
        assert app.query_one(Static) is second
        second.display = False
        await pilot.pause()
        assert app.query_one("#item") is second
        third = Static("three", classes="item")
        await box.mount(third, before=second)
        assert box.query_one(".item") is third
        await app.recompose()
        fresh = app.query_one("#item", Static)
        assert fresh is not second and fresh.is_attached and app.query_one("#box").query_one(".item") is fresh


def stale_answers(app: App) -> list[str]:
    """Answers any node keeps that its counter has moved past, or that are no longer on it."""
    found = []
    for screen in app.screen_stack:
        for node in [app, screen, *screen.walk_children(with_self=False)]:
            for key in list(node._query_one_cache.keys()):
                answer = node._query_one_cache.get(key)
                if key[0] != node._nodes._updates or answer is None or not answer.is_attached:
                    found.append(f"{node!r}: {key[1]!r} -> {answer!r}")
    return found


async def test_no_node_keeps_an_answer_from_before_its_last_change(sim, tmp_path, isolated_env):
    """The monitor's own changes of its tree: orgs in turn, the tabs, the overview, the help and
    Add organization screens over it and gone again; after each, no stale answer anywhere."""
    app = frozen_app(sim, start_org="acme-free", config_target=tmp_path / "config.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_data(app, pilot.pause)
        steps = ["right_square_bracket", "a", "v", "h", "u", "right_square_bracket", "o", "1",
                 "question_mark", "escape", "left_square_bracket"]
        for key in steps:
            await pilot.press(key)
            await pilot.pause()
            assert stale_answers(app) == [], f"after {key!r}"
        app.action_add_org()
        await pilot.pause()
        app.screen.query_one(Input).value = "robot"
        await pilot.pause()
        assert stale_answers(app) == [], "on Add organization"
        await pilot.press("escape")
        await pilot.pause()
        assert stale_answers(app) == [], "after Add organization"
        assert app.screen is app.main_screen and app.is_running
