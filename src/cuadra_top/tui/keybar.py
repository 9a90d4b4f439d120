"""The key bar: one line at the bottom listing the keys that work where the focus is.

It reads the same ``Binding``s as Textual's ``Footer`` (the screen's active bindings, so the
overview's own keys appear while it has the focus), but draws them as one piece of text rather
than one widget per key. Textual 8.2.8's Footer rebuilt a dozen styled widgets on every focus
change: about 130 ms of CPU before the first data at start-up, 20-60 ms on every key that moves
the focus, and a leak of the replaced widgets (found by ``make soak``). It also ran off the edge
at 80 columns; this bar drops the keys that do not fit and always keeps help and the palette.
"""

from __future__ import annotations

from typing import NamedTuple

from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget

SEPARATOR = "  "
KEPT = ("quit", "help")
"""Actions whose keys stay on the bar however narrow it is (with the command palette's)."""


class Key(NamedTuple):
    key: str
    description: str
    keep: bool
    """Kept when the line is too narrow for every key (quit, help and the command palette)."""


def keys_of(bindings: list[Binding], key_display, palette: Binding | None = None) -> list[Key]:
    """The keys to list, in binding order, one per action; the ones to keep at the end."""
    seen: set[str] = set()
    shown: list[Key] = []
    kept: list[Key] = []
    for binding in bindings:
        if not binding.show or binding.action in seen:
            continue
        seen.add(binding.action)
        key = Key(binding.key_display or key_display(binding), binding.description, binding.action in KEPT)
        (kept if key.keep else shown).append(key)
    if palette is not None:
        kept.append(Key(key_display(palette), "Palette", True))
    return shown + kept


def fit(keys: list[Key], width: int) -> list[Key]:
    """As many keys as fit in ``width`` cells, in order; the kept ones always, at the end."""
    kept = [k for k in keys if k.keep]
    budget = width - sum(_width(k) for k in kept) - len(SEPARATOR) * len(kept)
    fitted: list[Key] = []
    for key in keys:
        if key.keep:
            continue
        cost = _width(key) + (len(SEPARATOR) if fitted else 0)
        if cost > budget:
            break
        fitted.append(key)
        budget -= cost
    return fitted + kept


def _width(key: Key) -> int:
    return len(key.key) + 1 + len(key.description)


class KeyBar(Widget):
    """The keys of the focused widget and its ancestors, on one line that fits the width."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        padding: 0 1;
        background: $footer-background;
        color: $footer-description-foreground;
    }
    KeyBar > .keybar--key {
        color: $footer-key-foreground;
        text-style: bold;
    }
    """
    COMPONENT_CLASSES = {"keybar--key"}

    _keys: list[Key] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is not self.screen:
            return
        active = screen.active_bindings
        bindings = [binding for (_node, binding, enabled, _tip) in active.values() if enabled]
        palette = None
        if self.app.ENABLE_COMMAND_PALETTE and self.app.COMMAND_PALETTE_BINDING in active:
            palette = active[self.app.COMMAND_PALETTE_BINDING][1]
        keys = keys_of(bindings, self.app.get_key_display, palette)
        if keys != self._keys:
            self._keys = keys
            self.refresh()

    @property
    def shown(self) -> str:
        """The line as text, for tests and the screen reader in all of us."""
        return self.render().plain

    def render(self) -> Content:
        key_style = self.get_visual_style("keybar--key", partial=True)
        parts: list[Content | str] = []
        for key in fit(self._keys, self.content_size.width):
            if parts:
                parts.append(SEPARATOR)
            parts += [Content.styled(key.key, key_style), " ", key.description]
        return Content.assemble(*parts)
