"""The bounded caches of :mod:`cuadra_top.tui.textual_memory` answer exactly as Textual's and
Rich's own: each is compared with the undecorated original on generated inputs (hypothesis) and on
the bytes a real app writes to the terminal, under every colour system. The originals are
Textual's own code: ``textual/strip.py`` loaded afresh, never patched, and the ``__wrapped__``
functions of the geometry and width caches."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import textwrap
from fractions import Fraction
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.css.scalar import Scalar, ScalarResolveError, Unit
from textual.geometry import Region, Size, Spacing
from textual.strip import Strip
from textual.widgets import Static

from cuadra_top.tui.screenshots import frozen_app, wait_for_data
from cuadra_top.tui.textual_memory import (
    LOOKS_KEPT,
    SMALL_GEOMETRY,
    bound_textual_caches,
)

QUICK = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def pristine_strip_module() -> ModuleType:
    """``textual/strip.py`` executed afresh: its ``Strip.render_ansi`` is Textual's own,
    whatever this process patched since."""
    import textual.strip

    spec = importlib.util.spec_from_file_location("pristine_textual_strip", textual.strip.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PRISTINE = pristine_strip_module().Strip
SYSTEMS = [ColorSystem.STANDARD, ColorSystem.EIGHT_BIT, ColorSystem.TRUECOLOR, ColorSystem.WINDOWS]
ATTRIBUTES = ["bold", "dim", "italic", "underline", "blink", "blink2", "reverse", "conceal",
              "strike", "underline2", "frame", "encircle", "overline"]

colours = st.one_of(
    st.none(),
    st.sampled_from(["red", "color(1)", "#800000", "rgb(128,0,0)", "bright_blue", "default",
                     "black", "white", "grey50", "color(8)", "color(15)", "color(16)", "color(255)"]),
    st.integers(0, 255).map(lambda n: f"color({n})"),
    st.tuples(*[st.integers(0, 255)] * 3).map(lambda rgb: "#{:02x}{:02x}{:02x}".format(*rgb)),
)


@st.composite
def styles(draw: st.DrawFn) -> Style:
    """Any style Textual may draw: colours of every kind, attributes set on or off, a link, a
    place on the screen in its meta, the null style, and styles summed with ``+``."""
    kind = draw(st.sampled_from(["plain", "null", "sum", "parsed"]))
    if kind == "null":
        return Style.null()
    if kind == "parsed":
        return Style.parse(draw(st.sampled_from(
            ["bold red on black", "not bold italic #102030", "reverse underline color(99) on default",
             "link https://example.com/a", "", "none", "strike dim on rgb(1,2,3)"])))

    def one() -> Style:
        return Style(
            color=draw(colours), bgcolor=draw(colours),
            link=draw(st.sampled_from([None, "https://example.com/usage", "file:///tmp/x y"])),
            meta=draw(st.sampled_from([None, {"offset": (0, 0)}, {"offset": (119, 39)}, {"@click": "app.bell"}])),
            **{name: draw(st.sampled_from([None, True, False])) for name in ATTRIBUTES},
        )

    if kind == "plain":
        return one()
    return one() + one() + draw(st.sampled_from([Style(), Style.null(), Style(bold=False)]))


def render_both(style: Style, text: str, system: ColorSystem) -> tuple[str, str]:
    """The output of the bounded ``Strip.render_style`` and of Textual's own, each starting from
    the same ``_ansi`` the style came with. (The codes each leaves on the style may differ: a hit
    in Textual's cache leaves an equal style's ``_ansi`` unset, the bounded one always sets it, as
    a miss in Textual's does.)"""
    preset = style._ansi
    ours = Strip.render_style(style, text, system)
    style._ansi = preset
    theirs = PRISTINE.render_style(style, text, system)
    style._ansi = preset
    return ours, theirs


@QUICK
@given(style=styles(), system=st.sampled_from(SYSTEMS), rendered_by_rich=st.sampled_from([None, *SYSTEMS]))
def test_any_style_renders_as_textual_renders_it(style, system, rendered_by_rich):
    """Links still get their OSC 8 around the codes, a style whose codes Rich already wrote
    (``_ansi`` set, possibly for another colour system) keeps them as Textual keeps them, and
    the same looks under another colour system are never given the first system's codes."""
    assert bound_textual_caches()
    if rendered_by_rich is not None and not style._null:
        style.render("x", color_system=rendered_by_rich)  # Rich fills the style's _ansi
    ours, theirs = render_both(style, "cuadra", system)
    assert ours == theirs
    fresh = style.copy() if not style._null else style
    fresh._ansi = None  # the same looks asked again, now from the bounded cache
    for other in SYSTEMS:
        assert render_both(fresh, "x", other)[0] == render_both(fresh, "x", other)[1], other


def test_a_named_colour_and_its_triplet_each_render_as_textual_renders_them():
    """``red`` (standard colour 1) and ``#800000`` are different looks with different codes; the
    cache must not answer one with the other's, in either order, under any colour system."""
    assert bound_textual_caches()
    for system in SYSTEMS:
        for order in (["red", "#800000", "color(1)", "rgb(128,0,0)"], ["rgb(128,0,0)", "color(1)", "#800000", "red"]):
            for name in order:
                ours, theirs = render_both(Style(color=name, bgcolor=name), "x", system)
                assert ours == theirs, (system, name)


def test_past_looks_kept_the_earlier_looks_are_still_right():
    """Asked for more looks than it keeps, the cache starts again mid-way: it never holds more
    than LOOKS_KEPT, and the looks it dropped are rendered right when asked again."""
    assert bound_textual_caches()
    looks = [Style(color=f"#{n % 256:02x}{n // 256:02x}07", bold=n % 2 == 0) for n in range(3 * LOOKS_KEPT + 7)]
    for style in looks:
        ours, theirs = render_both(style, "x", ColorSystem.TRUECOLOR)
        assert ours == theirs
        assert Strip.render_ansi.looks_kept() <= LOOKS_KEPT
    for style in looks[:50] + looks[-50:]:
        again = style.copy()
        again._ansi = None
        for system in SYSTEMS:
            ours, theirs = render_both(again, "x", system)
            assert ours == theirs, (style, system)


class Looks(App[None]):
    """A screen of every kind of span: colours, attributes, a link, a click action."""

    CSS = "Static { background: $panel; color: $text; } #warm { background: #402000; color: orange; }"

    def compose(self) -> ComposeResult:
        yield Static("[b]bold[/b] [i red]italic red[/] [underline on blue]under[/] [reverse]rev[/] [strike dim]gone[/]")
        yield Static("[link='https://example.com/usage']the usage API[/link] and [@click=app.bell]a bell[/]")
        yield Static(Text.from_markup("[#10a0ff on #ffffff]true colour[/] [color(200)]256[/] [bright_green]bright[/] "
                                      "[link=https://example.com/rich]rich link[/link] 日本語"), id="warm")


def every_style_reset(update) -> None:
    """Forget every code rendered for the update's strips, so a render asks ``render_ansi``."""
    for line in update.strips:
        for strip in line:
            strip._render_cache = None
            for segment in strip:
                if segment.style is not None:
                    segment.style._ansi = None


def terminal_bytes(update, system: str, render_ansi) -> str:
    """What Textual writes to a terminal of that colour system for the update, with that
    ``Strip.render_ansi``."""
    console = Console(file=io.StringIO(), color_system=system, force_terminal=True, width=120,
                      legacy_windows=False)
    every_style_reset(update)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Strip, "render_ansi", render_ansi)
        return update.render_segments(console)


async def assert_screen_bytes_are_textual_s(app: App) -> None:
    bounded = Strip.__dict__["render_ansi"]
    assert getattr(bounded.__func__, "_by_looks", False)
    own = PRISTINE.__dict__["render_ansi"]
    update = app.screen._compositor.render_update(full=True)
    update.strips = [list(line) for line in update.strips]  # rendered more than once
    for system in ["standard", "256", "truecolor", "windows"]:
        theirs = terminal_bytes(update, system, own)
        ours = terminal_bytes(update, system, bounded)
        again = terminal_bytes(update, system, bounded)  # now every look from the cache
        assert ours == theirs and again == theirs, system
        assert "\x1b[" in ours


async def test_a_real_screen_writes_the_bytes_textual_writes():
    """Textual's own frame of a screen with links, clicks, every attribute and colour kind, as the
    terminal would get it under every colour system: the same bytes, OSC 8 links included."""
    app = Looks()
    bound_textual_caches()
    async with app.run_test(size=(100, 12)) as pilot:
        await pilot.pause()
        await assert_screen_bytes_are_textual_s(app)
        update = app.screen._compositor.render_update(full=True)
        console = Console(file=io.StringIO(), color_system="truecolor", force_terminal=True, width=100)
        assert "\x1b]8;id=" in update.render_segments(console)


async def test_the_monitor_s_screens_write_the_bytes_textual_writes(sim, tmp_path, isolated_env):
    """The monitor itself, on its overview and an org: every byte as Textual would write it."""
    app = frozen_app(sim, start_org="acme-free", config_target=tmp_path / "config.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_data(app, pilot.pause)
        await assert_screen_bytes_are_textual_s(app)
        await pilot.press("v")
        await pilot.pause()
        await assert_screen_bytes_are_textual_s(app)


coordinates = st.one_of(st.integers(-50, 50), st.integers(-(2**62), 2**62))
regions = st.builds(Region, coordinates, coordinates, coordinates, coordinates)
margins = st.one_of(st.tuples(*[coordinates] * 4), st.builds(Spacing, *[coordinates] * 4))


def same_answer(cached, compute, *arguments):
    """The cached call answers as the undecorated one: the same value of the same type, or the
    same exception."""
    try:
        expected = compute(*arguments)
    except Exception as error:  # noqa: BLE001 - whatever Textual raises, the cache must raise
        with pytest.raises(type(error)) as raised:
            cached(*arguments)
        assert str(raised.value) == str(error)
        return
    got = cached(*arguments)
    assert got == expected and type(got) is type(expected)


@QUICK
@given(a=regions, b=regions, margin=margins)
def test_region_sums_and_cuts_are_textual_s(a, b, margin):
    """Negative, zero and huge sizes and places: each bounded region cache answers as Textual's
    undecorated method, asked once and asked again."""
    assert bound_textual_caches()
    for _ in range(2):
        same_answer(Region.intersection, Region.intersection.__wrapped__, a, b)
        same_answer(Region.union, Region.union.__wrapped__, a, b)
        same_answer(Region.grow, Region.grow.__wrapped__, a, margin)
        same_answer(Region.shrink, Region.shrink.__wrapped__, a, margin)
        assert a.intersection(b) == Region.intersection.__wrapped__(a, b)


sizes = st.builds(Size, st.integers(-100, 10**6), st.integers(-100, 10**6))


@QUICK
@given(value=st.one_of(st.integers(-1000, 1000).map(float), st.floats(-1e6, 1e6, allow_nan=False)),
       unit=st.sampled_from(list(Unit)), percent_unit=st.sampled_from(list(Unit)),
       size=sizes, viewport=sizes,
       fraction_unit=st.one_of(st.none(), st.fractions(min_value=-100, max_value=100, max_denominator=50)))
def test_resolved_sizes_are_textual_s(value, unit, percent_unit, size, viewport, fraction_unit):
    """Every unit, with and without a fraction unit: the same size, or the same
    ScalarResolveError for a size that has no dimension (auto)."""
    assert bound_textual_caches()
    scalar = Scalar(value, unit, percent_unit)
    for _ in range(2):
        same_answer(Scalar.resolve, Scalar.resolve.__wrapped__, scalar, size, viewport, fraction_unit)
        same_answer(Scalar.resolve, Scalar.resolve.__wrapped__, scalar, size, viewport)


def test_auto_still_raises_scalar_resolve_error():
    """An auto size has no dimension to resolve to: Textual raises, and raises again when asked
    again (an error is never remembered as an answer)."""
    assert bound_textual_caches()
    for _ in range(2):
        with pytest.raises(ScalarResolveError):
            Scalar.parse("auto").resolve(Size(80, 24), Size(120, 40))
        with pytest.raises(ScalarResolveError):
            Scalar(1.0, Unit.PERCENT, Unit.AUTO).resolve(Size(80, 24), Size(120, 40), Fraction(3))
    assert Scalar.resolve.cache_info().maxsize <= SMALL_GEOMETRY


@QUICK
@given(text=st.text(max_size=40))
def test_widths_are_rich_s(text):
    """Any text, control and combining characters, wide and zero-width ones: the bounded width
    is the one Rich computes."""
    assert bound_textual_caches()
    from rich import cells
    from textual import _cells

    for measure in (cells.cached_cell_len, _cells.cell_len, cells.cell_len):
        assert measure(text) == cells.cached_cell_len.__wrapped__(text)


WIDTHS_IN_A_FRESH_PROCESS = textwrap.dedent(
    """
    import sys, types
    from rich import cells
    original = cells.cached_cell_len
    foreign = types.ModuleType("textual_lookalike")
    foreign.cached_cell_len = lambda text, unicode_version="auto": -1  # another function, same name
    sys.modules["textual._lookalike"] = foreign
    from cuadra_top.tui.textual_memory import bound_text_widths, TEXTS_MEASURED
    assert "textual._cells" not in sys.modules and "textual.widgets._text_area" not in sys.modules
    assert bound_text_widths() and bound_text_widths()
    bounded = cells.cached_cell_len
    assert bounded is not original and bounded.cache_info().maxsize == TEXTS_MEASURED
    assert foreign.cached_cell_len("abc") == -1, "another function named cached_cell_len was replaced"
    # Imported only now, as Textual imports widgets lazily: each measures with the bounded one.
    import textual.widgets._text_area, textual.document._wrapped_document, textual.content
    import textual._compositor, textual._segment_tools, textual._wrap, rich.segment
    from cuadra_top.tui.app import CuadraTopApp
    holders = [(name, attr) for name, module in list(sys.modules.items()) if module is not None and name != "__main__"
               for attr, value in list(vars(module).items()) if value is original]
    assert holders == [], holders
    from textual import _cells
    assert _cells.cell_len is bounded and textual.content.cell_len is bounded
    assert textual.widgets._text_area.cell_len is bounded and rich.segment.cached_cell_len is bounded
    print("ok")
    """
)


def test_a_module_imported_after_the_bound_measures_with_the_bounded_widths():
    """In a process where Textual's widget modules come later (as they do, lazily): every
    module holding the width function holds the bounded one, none the 4096 one, and a function
    of another kind that only shares the name is left alone."""
    import cuadra_top

    source = str(__import__("pathlib").Path(cuadra_top.__file__).parents[1])
    done = subprocess.run([sys.executable, "-c", WIDTHS_IN_A_FRESH_PROCESS], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": source, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_every_app_started_keeps_the_same_bounded_caches():
    """Tests, and ``cuadra-top web``'s reconnects, start app after app in one process: each
    start leaves the bounded caches (and what they learnt) as they are, never wraps them again."""
    from rich import cells
    from textual import _cells

    assert bound_textual_caches()
    kept = [Region.intersection, Region.union, Region.grow, Region.shrink, Scalar.resolve,
            cells.cached_cell_len, Strip.__dict__["render_ansi"]]
    Region(0, 0, 3, 3).intersection(Region(1, 1, 3, 3))
    cells.cached_cell_len("learnt once")
    learnt = (Region.intersection.cache_info().currsize, cells.cached_cell_len.cache_info().currsize)
    for _ in range(3):
        assert bound_textual_caches()
    assert [Region.intersection, Region.union, Region.grow, Region.shrink, Scalar.resolve,
            cells.cached_cell_len, Strip.__dict__["render_ansi"]] == kept
    assert _cells.cell_len is cells.cached_cell_len
    assert (Region.intersection.cache_info().currsize, cells.cached_cell_len.cache_info().currsize) == learnt


def test_a_rich_whose_width_function_changed_is_left_as_it_is(monkeypatch):
    """A Rich whose ``cached_cell_len`` is no longer a cache (fixed or renamed upstream) keeps its
    own, and no module is handed anything."""
    from rich import cells
    from textual import _cells

    from cuadra_top.tui.textual_memory import bound_text_widths

    assert bound_textual_caches()
    before = _cells.cell_len

    def uncached(text: str, unicode_version: str = "auto") -> int:
        return len(text)

    monkeypatch.setattr(cells, "cached_cell_len", uncached)
    assert not bound_text_widths()
    assert cells.cached_cell_len is uncached and _cells.cell_len is before


def test_a_textual_whose_geometry_is_no_longer_cached_is_left_as_it_is(monkeypatch):
    """Region.union no longer cached upstream: it is not given a cache, the others still are."""
    from cuadra_top.tui.textual_memory import bound_geometry_caches

    plain = Region.union.__wrapped__
    monkeypatch.setattr(Region, "union", plain)
    assert not bound_geometry_caches()
    assert Region.union is plain and Region.intersection.cache_info().maxsize <= SMALL_GEOMETRY
