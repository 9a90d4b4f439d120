"""The help screen: every key the app answers to, read from the live bindings."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def binding_rows(bindings: Iterable[Binding], key_display) -> list[tuple[str, str]]:
    """(keys, what they do), one row per description: keys that do the same thing share a row."""
    rows: dict[str, list[str]] = {}
    for binding in bindings:
        if not binding.description or binding.system:
            continue
        shown = binding.key_display or key_display(binding)
        keys = rows.setdefault(binding.description, [])
        if shown not in keys:
            keys.append(shown)
    return [(" ".join(keys), description) for description, keys in rows.items()]


class HelpScreen(ModalScreen[None]):
    """Lists the app's and the overview's bindings, plus the command palette."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; padding: 0 1; background: $surface;
    }
    """

    def __init__(self, bindings: Iterable[Binding]) -> None:
        super().__init__()
        self._listed = list(bindings)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for keys, description in binding_rows(self._listed, self.app.get_key_display):
            table.add_row(keys, description)
        table.add_row("ctrl+p", "Command palette: switch org by name, theme, refresh, pause")
        table.add_row("escape ? q", "Close this help")
        scroll = VerticalScroll(Static(table, id="help-keys"))
        scroll.border_title = "cuadra-top keys"
        yield scroll


HELP_SCREEN = "help"


def open_help(app: App, bindings: Iterable[Binding]) -> None:
    """Show the help screen: built on first use, then the same one each time.

    Textual keeps the rendered lines of up to 1024 widgets in a global cache (keyed by each
    widget's style cache) after the widgets are gone; a help screen built anew at every ?
    left a full screen of its lines there, ~130 KiB each time. An installed screen is kept
    when closed and shown again, restyled for the theme of the moment."""
    if not app.is_screen_installed(HELP_SCREEN):
        app.install_screen(HelpScreen(bindings), HELP_SCREEN)
    app.push_screen(HELP_SCREEN)
