"""Textual's ``query_one`` answers, dropped when the tree below a node changes
(:func:`cuadra_top.tui.textual_memory.drop_stale_query_answers`): attacked where the tree changes
most, as the workaround is a wrapper of Textual's private ``NodeList.updated``. Every query keeps
answering the widgets of the moment, no node keeps an answer it can no longer be asked for, and
the wrapper neither doubles Textual's count nor trips over a node that is gone."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gc
import importlib
import importlib.util
import tracemalloc
from fractions import Fraction
from functools import lru_cache

from rich.color import Color as RichColor
from rich.color import ColorSystem
from rich.style import Style as RichStyle
from rich.terminal_theme import MONOKAI
from textual._node_list import NodeList
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.css.scalar import Scalar
from textual.dom import DOMNode
from textual.filter import ANSIToTruecolor
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import Input, Static

from cuadra_top.tui.screenshots import frozen_app, wait_for_data
from cuadra_top.tui.textual_memory import (
    GEOMETRY_CACHES,
    SMALL_GEOMETRY,
    TEXTS_MEASURED,
    bound_geometry_caches,
    bound_textual_caches,
    render_ansi_by_looks,
)


def test_applied_twice_it_wraps_textual_once():
    """Every app applies it (tests run many apps in one process): a wrapper of the wrapper would
    walk each tree once more per change, for every app started. Each change still moves the
    node's counter and its ancestors' by one, as Textual's own ``updated`` does."""
    assert bound_textual_caches()
    wrapped = NodeList.updated
    assert bound_textual_caches()
    assert NodeList.updated is wrapped
    render_ansi = Strip.__dict__["render_ansi"]
    assert bound_textual_caches()
    assert Strip.__dict__["render_ansi"] is render_ansi
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


def kept_by(work: Callable[[], object]) -> int:
    """Bytes still held once ``work()`` is over and its garbage collected: what caches kept."""
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def at_every_cell(**looks: object) -> Iterator[RichStyle]:
    """One look as Textual draws it at every cell of a 120x40 screen: its place in its meta."""
    for x in range(120):
        for y in range(40):
            yield RichStyle(**looks, meta={"offset": (x, y)})


LOOKS = [
    {}, {"bold": True}, {"bold": False}, {"dim": True, "italic": True},
    {"underline": True, "strike": True, "reverse": True}, {"blink": True, "conceal": True},
    {"underline2": True, "frame": True, "encircle": True, "overline": True},
    {"color": "red"}, {"color": "bright_blue", "bgcolor": "black"}, {"color": "color(200)"},
    {"color": "#10a0ff", "bgcolor": "#ffffff", "bold": True}, {"color": "default", "bgcolor": "default"},
    {"bgcolor": "rgb(1,2,3)", "italic": False}, {"color": "#10a0fe"},
]
"""Every attribute, set and unset, and colours of every kind: standard, 256, true, default."""


def test_a_style_s_codes_are_rich_s_own_for_any_place_and_colour_system():
    """Cached by its looks (:func:`render_ansi_by_looks`), a style still renders exactly as Rich
    renders it: each colour system in turn asks the same looks again, and a place on the screen
    in the style's meta changes nothing."""
    assert bound_textual_caches()
    for system in [ColorSystem.TRUECOLOR, ColorSystem.STANDARD, ColorSystem.EIGHT_BIT, ColorSystem.TRUECOLOR]:
        for looks in LOOKS:
            expected = RichStyle(**looks).render("x", color_system=system)
            for place in [None, (0, 0), (119, 39), (7, 5)]:
                style = RichStyle(**looks, meta=None if place is None else {"offset": place})
                assert Strip.render_style(style, "x", system) == expected, (system, looks, place)
                assert Strip.render_style(style, "x", system) == expected, "asked again"


def test_a_look_drawn_at_every_cell_of_the_screen_is_kept_once():
    """Textual draws each span with its place on the screen in its style's meta, and cached the
    codes by the whole style: one look drawn at every cell of a 120x40 screen kept 4800 styles
    (over a MiB), and the monitor's changing numbers added such entries for hours."""
    assert bound_textual_caches()
    Strip.render_style(RichStyle(color="#203040", bgcolor="#000010"), "x", ColorSystem.TRUECOLOR)
    kept = kept_by(lambda: [Strip.render_style(style, "x", ColorSystem.TRUECOLOR)
                            for style in at_every_cell(color="#203040", bgcolor="#000010")])
    assert kept < 32 * 1024, f"one look at 4800 places kept {kept / 1024:.0f} KiB"


def test_a_textual_whose_render_ansi_changed_is_left_as_it_is(monkeypatch):
    """Another Textual (fixed upstream, or renamed) keeps its own method: nothing is wrapped
    that this module does not know."""
    own = classmethod(lambda cls, style, color_system: "1")
    monkeypatch.setattr(Strip, "render_ansi", own)
    assert not render_ansi_by_looks()
    assert Strip.__dict__["render_ansi"] is own
    assert not bound_textual_caches()


def test_textual_s_geometry_caches_keep_what_a_screen_reuses():
    """Region sums and cuts and resolved CSS sizes (:data:`GEOMETRY_CACHES`) filled caches of 4096
    entries each for hours in the soak; bounded, their answers are still Textual's."""
    assert bound_textual_caches()
    for module, owner, name in GEOMETRY_CACHES:
        method = getattr(getattr(importlib.import_module(module), owner), name)
        assert method.cache_info().maxsize <= SMALL_GEOMETRY, name
    a, b = Region(0, 0, 10, 10), Region(5, 5, 10, 10)
    assert a.intersection(b) == Region(5, 5, 5, 5) and a.union(b) == Region(0, 0, 15, 15)
    assert a.grow((1, 2, 3, 4)) == Region(-4, -1, 16, 14) and a.shrink((1, 2, 3, 4)) == Region(4, 1, 4, 6)
    assert Scalar.parse("50%").resolve(Size(80, 24), Size(120, 40)) == Fraction(40)
    assert Scalar.parse("1fr").resolve(Size(80, 24), Size(120, 40), Fraction(7, 2)) == Fraction(7, 2)


def test_regions_met_once_by_the_thousand_keep_a_screen_s_worth():
    """Every intersection of a window sliding over a screen is a new key: Textual kept 4096 of
    them, about 1.5 MiB for the four region caches. Now at most SMALL_GEOMETRY each."""
    assert bound_textual_caches()
    screen = Region(0, 0, 120, 40)

    def sums_and_cuts() -> None:
        for step in range(5000):
            window = Region(step % 97, step % 31, 20 + step % 53, 5 + step % 11)
            screen.intersection(window), screen.union(window)
            window.grow((step % 3, 1, 0, step % 5)), window.shrink((1, step % 4, 0, 1))

    kept = kept_by(sums_and_cuts)
    assert kept < 4 * SMALL_GEOMETRY * 400, f"20000 region sums and cuts kept {kept / 1024:.0f} KiB"


def test_a_geometry_cache_already_small_stays_as_it_is(monkeypatch):
    """Only ever made smaller: a Textual that keeps fewer is not given more."""
    small = lru_cache(16)(Region.intersection.__wrapped__)
    monkeypatch.setattr(Region, "intersection", small)
    assert bound_geometry_caches()
    assert Region.intersection is small


def test_the_width_of_texts_drawn_once_is_kept_for_a_screen_s_worth():
    """Textual measures every text it draws through Rich's cache of widths, which kept 4096:
    each changing number is a new text, so it filled for 20 minutes. Bounded, every module that
    measures uses the bounded cache, and the widths are still right (wide and zero-width
    characters included)."""
    assert bound_textual_caches()
    from rich import cells, segment
    from textual import _cells, content

    for measure in (cells.cached_cell_len, segment.cached_cell_len, _cells.cell_len, content.cell_len):
        assert measure.cache_info().maxsize <= TEXTS_MEASURED
    assert [_cells.cell_len(text) for text in ("", "abc", "日本", "e\u0301", "\u200b", "org-1 · 85%")] == [0, 3, 4, 1, 0, 11]
    assert cells.cell_len("x" * 600) == 600  # past Rich's own limit for the cache
    kept = kept_by(lambda: [_cells.cell_len(f"{n * 7919:,} credits") for n in range(20000)])
    assert kept < TEXTS_MEASURED * 300, f"20000 texts measured kept {kept / 1024:.0f} KiB"


def pristine(module_name: str):
    """A module of Textual executed afresh: its functions are Textual's own, unpatched."""
    module = importlib.import_module(module_name)
    spec = importlib.util.spec_from_file_location(f"pristine_{module_name}", module.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    return fresh


def test_system_colours_become_true_colours_as_textual_turns_them():
    """Wrapped to cache only what it changes, the filter still answers as Textual's own, for
    system, 256 and true colours, dim or not, with a place on the screen or not."""
    assert bound_textual_caches()
    theme = pristine("textual.filter")
    own = theme.ANSIToTruecolor(MONOKAI)
    ours = ANSIToTruecolor(MONOKAI)
    for background in (RichColor.parse("#000000"), RichColor.parse("#f0f0f0")):
        for looks in LOOKS + [{"color": "red", "dim": True}, {"color": "#102030", "dim": True},
                              {"bgcolor": "blue", "dim": True}, {"dim": True}]:
            for place in (None, (3, 4)):
                style = RichStyle(**looks, meta=None if place is None else {"offset": place})
                assert ours.truecolor_style(style, background) == own.truecolor_style(style, background), looks


def test_true_colours_drawn_at_every_cell_are_not_kept():
    """Styles already in true colours come back unchanged, and Textual cached each of them with
    its place on the screen: 1024 styles churning all the time. Now none is kept."""
    assert bound_textual_caches()
    background = RichColor.parse("#000010")
    ours = ANSIToTruecolor(MONOKAI)
    unchanged = [0]

    def convert() -> None:
        unchanged[0] = sum(ours.truecolor_style(style, background) is style
                           for style in at_every_cell(color="#203040", bgcolor="#000010"))

    kept = kept_by(convert)
    assert unchanged == [4800]
    assert kept < 32 * 1024, f"4800 true-colour styles kept {kept / 1024:.0f} KiB"
