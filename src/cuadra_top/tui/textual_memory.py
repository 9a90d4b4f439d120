"""What Textual keeps of widgets that are gone: not their rendered lines.

Textual (8.x, and its main branch as of mid-2026) caches ``StylesCache.get_inner_outer`` (the
two background styles of a pair of colours) with ``functools.lru_cache`` on the method, so each
key holds a widget's whole ``StylesCache``: every line the widget rendered, with the strips cut
from them. A widget that is removed stays pinned there for 1024 more calls
(Textualize/textual#6665). Every notification is two new widgets (13-70 KiB of lines): a monitor
showing a few alerts a minute grew by megabytes an hour, for hours, until that cache was full.

The styles depend on the colours alone, so they are cached here by the colours: the same
answers, and no widget in any key. Another Textual that changed the method is left as it is.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

COLOUR_PAIRS_KEPT = 1024
"""As many as Textual kept: pairs of colours, a few hundred bytes each."""


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
