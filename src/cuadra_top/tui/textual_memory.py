"""What Textual keeps that no frame can use again: bounded here, where Textual keeps it for long.

Textual's and Rich's caches are bounded, but some only after a long run: they hold entries that
can never be read again (a widget that is gone, an answer from before a change), or keys that
are new for hours (a style's place on the screen, a region of the moment, a changing number's
text). The monitor's memory grew for the whole of the 30-minute soak, megabytes an hour, before
they were full; a probe that emptied every such cache each minute held flat. Each is worked around
here, in one place: keyed by what the answer depends on, or bounded to what a screen reuses; each
workaround leaves another Textual that changed the code alone.

The rendered lines of widgets that are gone
-------------------------------------------

Textual (8.x, and its main branch as of mid-2026) caches ``StylesCache.get_inner_outer`` (the
two background styles of a pair of colours) with ``functools.lru_cache`` on the method, so each
key holds a widget's whole ``StylesCache``: every line the widget rendered, with the strips cut
from them. A widget that is removed stays pinned there for 1024 more calls
(Textualize/textual#6665). Every notification is two new widgets (13-70 KiB of lines): a monitor
showing a few alerts a minute grew by megabytes an hour, for hours, until that cache was full.

The styles depend on the colours alone, so they are cached here by the colours: the same
answers, and no widget in any key. Another Textual that changed the method is left as it is.

Answers to ``query_one`` from before the last change of the tree
----------------------------------------------------------------

``DOMNode.query_one`` remembers its answers in a cache of 1024 per node, keyed by a counter of
changes to the node's children that also counts every change below them: a widget mounted or
removed, or one shown or hidden (``display``). Once the counter moves, no key holding an older
count can be asked again, yet each such answer stays until 1024 newer ones push it out. The
monitor shows and hides parts of a pane as orgs change and toasts come and go, so every query of
the screen, the org view and its panes added an entry: 10 nodes filling to 1024 each took the
whole half hour of the soak. When the counter moves, the answers it made stale are dropped now.

The ANSI codes of every style drawn at every place on the screen
----------------------------------------------------------------

``Strip.render_ansi`` caches the escape codes of a style in a cache of 16384, keyed by the whole
Rich style. Since text selection came to Textual, each span of text drawn carries its place on
the screen in its style's meta (``{"offset": (x, y)}``), so the same colours drawn at another
cell are another key: every number that changes width, every org shown in turn, every row that
scrolls added entries, about 50 a minute in the soak, for hours before the cache was full. The
codes depend on the colours, the attributes and the colour system alone; they are cached by
those now, a few hundred looks at most.

Geometry met once
-----------------

Textual caches the sums and cuts of regions (``Region.intersection``, ``union``, ``grow``,
``shrink``) and the sizes its CSS resolves to (``Scalar.resolve``) in caches of 4096 each. The
compositor asks them with the regions of the moment: a toast sliding in, a row scrolled, a number
one cell wider moves every region after it, so the keys are new for hours while the same few
hundred are asked again frame after frame. In the soak they grew by 10 to 35 entries a minute
each, about 280 bytes an entry, and none was full after half an hour. They are bounded to what a
screen reuses (SMALL_GEOMETRY), which they fill in minutes: org switching, tabs and scrolling for
8 minutes kept the same hit rates (99.3 to 99.8%) at 256 entries as at 4096.

The width of every text drawn
-----------------------------

Textual measures each text it draws with Rich's ``cached_cell_len``, which keeps 4096 widths. The
monitor's numbers change with every answer, so the texts are new all the time: about 200 a
minute, a few hundred bytes each, filling it only after 20 minutes of the soak. It keeps
TEXTS_MEASURED now, full within the first minute, and a text it has forgotten is measured again
in microseconds.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

COLOUR_PAIRS_KEPT = 1024
"""As many as Textual kept: pairs of colours, a few hundred bytes each."""
LOOKS_KEPT = 1024
"""Looks (colours, attributes, colour system) whose ANSI codes are kept: a theme draws a few
dozen, a session that tries every theme a few hundred. Past it they are all dropped at once, which
costs less on every call than keeping their ages (196 against Textual's 452 ns a call, measured on
4800 fresh styles)."""


SMALL_GEOMETRY = 256
"""Entries kept by each of Textual's geometry caches (GEOMETRY_CACHES): what a screen reuses."""
GEOMETRY_CACHES = (
    ("textual.geometry", "Region", "intersection"),
    ("textual.geometry", "Region", "union"),
    ("textual.geometry", "Region", "grow"),
    ("textual.geometry", "Region", "shrink"),
    ("textual.css.scalar", "Scalar", "resolve"),
)
"""(module, class, method): Textual's caches of geometry that fill for hours (4096 each). Its
caches of 1024 (``overlaps``, ``contains_region``, ``translate``) are left: full within 10
minutes of the soak, or far from full after 30."""


def bound_textual_caches() -> bool:
    """The workarounds below; idempotent. True when all apply to this Textual."""
    applied = [release_gone_widgets(), drop_stale_query_answers(), render_ansi_by_looks(),
               convert_system_colours_only(), bound_geometry_caches(), bound_text_widths()]
    return all(applied)


def bound_geometry_caches() -> bool:
    """Keep at most SMALL_GEOMETRY entries in each of GEOMETRY_CACHES; idempotent, and never a
    cache made larger. True when each is (now) so bounded."""
    import importlib

    bounded = True
    for module, owner_name, name in GEOMETRY_CACHES:
        owner = getattr(importlib.import_module(module), owner_name, None)
        method = None if owner is None else owner.__dict__.get(name)
        smaller = _at_most(method, SMALL_GEOMETRY)
        if smaller is None:
            bounded = False  # not the cached method this works around: fixed or changed upstream
        elif smaller is not method:
            setattr(owner, name, smaller)
    return bounded


def _at_most(cached: Any, size: int) -> Any | None:
    """``cached``'s function in a ``functools`` cache of ``size``; ``cached`` itself when it keeps
    no more already; None when it is not such a cache."""
    info, compute = getattr(cached, "cache_info", None), getattr(cached, "__wrapped__", None)
    if not (callable(info) and callable(compute)):
        return None
    kept = info().maxsize
    return cached if kept is not None and kept <= size else lru_cache(size)(compute)


def drop_stale_query_answers() -> bool:
    """Clear a node's ``query_one`` answers whenever its change counter moves; idempotent.
    True when Textual's ``NodeList.updated`` is (now) the one that does so."""
    from textual._node_list import NodeList

    method = NodeList.__dict__.get("updated")
    if getattr(method, "_drops_stale_answers", False):
        return True
    if not callable(method) or not _counts_updates(NodeList):
        return False  # not the counter this works around: fixed or changed upstream
    counted = method

    def updated(self: NodeList) -> None:
        counted(self)
        # The counters moved are this list's node's and every ancestor's: their answers are stale.
        node = None if self._parent is None else self._parent()
        while node is not None:
            answers = getattr(node, "_query_one_cache", None)
            if answers:
                answers.clear()
            node = node._parent

    updated._drops_stale_answers = True  # type: ignore[attr-defined]
    updated.__doc__ = counted.__doc__
    NodeList.updated = updated  # type: ignore[method-assign]
    return True


def _counts_updates(node_list: type) -> bool:
    """Whether this Textual keys ``query_one`` answers by ``NodeList._updates``, which this
    module assumes: a fresh list counts from 0 and ``updated()`` moves it."""
    try:
        probe = node_list()
        before = probe._updates
        probe.updated()
        return probe._updates == before + 1
    except Exception:
        return False


def release_gone_widgets() -> bool:
    """Cache ``StylesCache.get_inner_outer`` by its colours, not by the widget; idempotent.
    True when Textual's method is (now) the one cached by the colours."""
    from textual._styles_cache import StylesCache

    method = StylesCache.__dict__.get("get_inner_outer")
    if getattr(method, "_by_colours", False):
        return True
    if not (callable(method) and hasattr(method, "cache_info") and hasattr(method, "__wrapped__")):
        return False  # not the cached method this works around: fixed or changed upstream
    compute = method.__wrapped__  # type: ignore[attr-defined]

    @lru_cache(COLOUR_PAIRS_KEPT)
    def by_colours(base_background: Any, background: Any) -> Any:
        return compute(StylesCache, base_background, background)  # its body never reads its first argument

    def get_inner_outer(self: StylesCache, base_background: Any, background: Any) -> Any:
        return by_colours(base_background, background)

    get_inner_outer._by_colours = True  # type: ignore[attr-defined]
    get_inner_outer.cache_info = by_colours.cache_info  # type: ignore[attr-defined]
    get_inner_outer.__doc__ = compute.__doc__
    StylesCache.get_inner_outer = get_inner_outer  # type: ignore[method-assign]
    return True


def render_ansi_by_looks() -> bool:
    """Cache ``Strip.render_ansi`` by what the codes depend on, not by the whole style (whose
    meta holds its place on the screen); idempotent. True when Textual's method is (now) the one
    cached by the looks."""
    from textual.strip import Strip

    method = Strip.__dict__.get("render_ansi")
    function = getattr(method, "__func__", None)
    if getattr(function, "_by_looks", False):
        return True
    compute = getattr(function, "__wrapped__", None)
    if not (isinstance(method, classmethod) and hasattr(function, "cache_info") and callable(compute)):
        return False  # not the cached method this works around: fixed or changed upstream
    if not _has_looks():
        return False
    codes: dict[tuple[Any, ...], str] = {}

    def render_ansi(cls: type[Strip], style: Any, color_system: Any) -> str:
        looks = (style._color, style._bgcolor, style._attributes & style._set_attributes, color_system)
        ansi = codes.get(looks)
        if ansi is None:
            if len(codes) >= LOOKS_KEPT:
                codes.clear()  # a screen draws a few dozen looks: start again, no ages to keep
            ansi = codes[looks] = compute(cls, style, color_system)
        style._ansi = ansi  # as Textual's does: the next render of this style asks no cache
        return ansi

    render_ansi._by_looks = True  # type: ignore[attr-defined]
    render_ansi.looks_kept = codes.__len__  # type: ignore[attr-defined]
    render_ansi.__doc__ = compute.__doc__
    Strip.render_ansi = classmethod(render_ansi)  # type: ignore[method-assign, assignment]
    return True


def _has_looks() -> bool:
    """Whether Rich's ``Style`` keeps its colours and attributes where Textual's
    ``render_ansi`` reads them, the only inputs of the codes besides the colour system."""
    from rich.style import Style

    try:
        style = Style(color="red", bold=True)
        return style._color is not None and bool(style._attributes & style._set_attributes) and style._bgcolor is None
    except AttributeError:
        return False


TEXTS_MEASURED = 1024
"""Texts whose width in cells Rich keeps (it kept 4096, full only after 20 minutes of the soak)."""


def bound_text_widths() -> bool:
    """Keep at most TEXTS_MEASURED widths in Rich's ``cached_cell_len``, which Textual measures
    every text it draws with; idempotent. Every module of Rich and Textual holding the function
    is given the bounded one. True when it is (now) so bounded."""
    import sys

    from rich import cells

    cached = cells.cached_cell_len
    bounded = _at_most(cached, TEXTS_MEASURED)
    if bounded is None:
        return False  # not the cached function this works around: changed upstream
    if bounded is cached:
        return True  # bounded already: every module holds it
    for name, module in list(sys.modules.items()):
        if module is not None and name.partition(".")[0] in ("rich", "textual"):
            for attr, value in list(vars(module).items()):
                if value is cached:
                    setattr(module, attr, bounded)
    return True


def convert_system_colours_only() -> bool:
    """Let ``ANSIToTruecolor.truecolor_style`` cache only the styles it changes (system colours,
    dim text); the others, which it returns as they are, are returned at once; idempotent. True
    when Textual's method is (now) so wrapped."""
    from textual.filter import ANSIToTruecolor

    method = ANSIToTruecolor.__dict__.get("truecolor_style")
    if getattr(method, "_system_colours_only", False):
        return True
    if not (callable(method) and callable(getattr(method, "cache_info", None))):
        return False  # not the cached method this works around: fixed or changed upstream
    cached = method

    def truecolor_style(self: ANSIToTruecolor, style: Any, background: Any) -> Any:
        color, bgcolor = style.color, style.bgcolor
        if ((color is None or color.triplet is not None) and (bgcolor is None or bgcolor.triplet is not None)
                and not (color is not None and style.dim)):
            return style  # what Textual answers for a style with nothing to change
        return cached(self, style, background)

    truecolor_style._system_colours_only = True  # type: ignore[attr-defined]
    truecolor_style.cache_info = cached.cache_info  # type: ignore[attr-defined]
    truecolor_style.__doc__ = cached.__doc__
    ANSIToTruecolor.truecolor_style = truecolor_style  # type: ignore[method-assign]
    return True
