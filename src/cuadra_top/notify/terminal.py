"""The terminal's own alert, which works over SSH: a desktop notification by escape sequence
and the bell.

Three escape sequences exist and terminals support different ones: OSC 9 (iTerm2, ConEmu),
OSC 777 (``notify;title;body``: urxvt, foot, WezTerm, Ghostty, VTE terminals such as GNOME
Terminal) and OSC 99 (kitty's protocol). ``terminal_notify = "auto"`` picks one from what
the environment advertises (:data:`AUTO_TABLE`, the README's table), or none. Under tmux the
sequence is wrapped for passthrough (tmux needs ``set -g allow-passthrough on``).

Text from outside (an org name, an API message) is put inside the sequence: every control
character is neutralised first, since one ESC or BEL would end the sequence early and let the
rest reach the terminal as commands.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Mapping
from typing import Literal

from cuadra_top.config import Settings
from cuadra_top.format import printable
from cuadra_top.state.alerts import NoticeKind
from cuadra_top.state.monitor import AlertNotice, MonitorEvent

Flavor = Literal["osc9", "osc777", "osc99"]
Setting = Literal["auto", "osc9", "osc777", "osc99", "off"]

ESC, BEL, ST = "\x1b", "\x07", "\x1b\\"
TITLE_MAX = 100
BODY_MAX = 500
"""Characters kept of each: terminals cap an OSC sequence (some at 4 KiB), and a desktop
notification shows a line or two."""

AUTO_TABLE: tuple[tuple[str, Flavor], ...] = (
    ("KITTY_WINDOW_ID set, or TERM=xterm-kitty", "osc99"),
    ("TERM_PROGRAM=iTerm.app, LC_TERMINAL=iTerm2 or ITERM_SESSION_ID set", "osc9"),
    ("TERM_PROGRAM=WezTerm, WEZTERM_PANE set, or TERM=wezterm", "osc777"),
    ("TERM_PROGRAM=ghostty, GHOSTTY_RESOURCES_DIR set, or TERM=xterm-ghostty", "osc777"),
    ("TERM=foot*", "osc777"),
    ("TERM=rxvt-unicode*", "osc777"),
    ("VTE_VERSION set (GNOME Terminal, Tilix, Terminator, ...)", "osc777"),
    ("ConEmuPID set (ConEmu, Cmder)", "osc9"),
)
"""What ``auto`` chooses, first match wins; anything else (or TERM=dumb, or GNU screen
without tmux) gets no escape sequence, only the bell. Documented in the README."""


def choose_flavor(setting: str, environ: Mapping[str, str]) -> Flavor | None:
    """The escape sequence to use, or None: ``off``, or ``auto`` on a terminal that
    advertises none of them."""
    if setting == "off":
        return None
    if setting in ("osc9", "osc777", "osc99"):
        return setting  # type: ignore[return-value]
    term = environ.get("TERM", "")
    program = environ.get("TERM_PROGRAM", "")
    if term == "dumb" or (environ.get("STY") and not environ.get("TMUX")):
        return None  # no terminal to speak of; GNU screen would swallow or mangle it
    if environ.get("KITTY_WINDOW_ID") or term == "xterm-kitty":
        return "osc99"
    if program == "iTerm.app" or environ.get("LC_TERMINAL") == "iTerm2" or environ.get("ITERM_SESSION_ID"):
        return "osc9"
    if program == "WezTerm" or environ.get("WEZTERM_PANE") or term == "wezterm":
        return "osc777"
    if program == "ghostty" or environ.get("GHOSTTY_RESOURCES_DIR") or term == "xterm-ghostty":
        return "osc777"
    if term.startswith(("foot", "rxvt-unicode")) or environ.get("VTE_VERSION"):
        return "osc777"
    if environ.get("ConEmuPID"):
        return "osc9"
    return None


def clean(text: str, limit: int) -> str:
    """``text`` safe inside an OSC sequence: one line, no control character (C0, DEL, C1 and
    the Unicode line separators become U+FFFD), at most ``limit`` characters."""
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


_ids = itertools.count(1)


def sequence(flavor: Flavor, title: str, body: str) -> str:
    """The escape sequence that shows ``title`` and ``body`` as a desktop notification."""
    title, body = clean(title, TITLE_MAX), clean(body, BODY_MAX)
    if flavor == "osc9":
        # One text; a leading digit would read as a ConEmu sub-command (9;1 = sleep).
        text = f"{title}: {body}"
        return f"{ESC}]9;{'' if not text[:1].isdigit() else ' '}{text}{BEL}"
    if flavor == "osc777":
        # Fields are separated by ';', so none may appear inside one.
        return f"{ESC}]777;notify;{title.replace(';', ',')};{body.replace(';', ',')}{BEL}"
    # kitty: base64 payloads (e=1), the title first (d=0: more to come), then the body.
    ident = f"cuadra-top-{next(_ids)}"
    encoded_title = base64.b64encode(title.encode()).decode()
    encoded_body = base64.b64encode(body.encode()).decode()
    return (f"{ESC}]99;i={ident}:d=0:e=1;{encoded_title}{ST}"
            f"{ESC}]99;i={ident}:d=1:e=1:p=body;{encoded_body}{ST}")


def tmux_passthrough(text: str) -> str:
    """``text`` wrapped so tmux passes it to the outer terminal (each ESC doubled)."""
    return f"{ESC}Ptmux;{text.replace(ESC, ESC + ESC)}{ST}"


def for_terminal(flavor: Flavor, title: str, body: str, environ: Mapping[str, str]) -> str:
    """The sequence, wrapped for tmux when running inside it."""
    text = sequence(flavor, title, body)
    return tmux_passthrough(text) if environ.get("TMUX") else text


class TerminalNotifier:
    """A monitor subscriber for a front end with a terminal: for each alert a person has not
    already seen on screen (not a first sighting), the desktop notification (as
    ``terminal_notify`` says) and the bell (``bell``). Settings are read at each alert, so a
    change applies at once."""

    def __init__(
        self,
        write: Callable[[str], None],
        bell: Callable[[], None],
        settings: Callable[[], Settings],
        environ: Mapping[str, str],
    ) -> None:
        self._write = write
        self._bell = bell
        self._settings = settings
        self._environ = environ

    def __call__(self, event: MonitorEvent) -> None:
        if not isinstance(event, AlertNotice) or event.first_sighting:
            return
        settings = self._settings()
        notice = event.notice
        flavor = choose_flavor(settings.terminal_notify, self._environ)
        if flavor is not None:
            self._write(for_terminal(flavor, notice.title, notice.message, self._environ))
        if settings.bell and notice.kind is not NoticeKind.RECOVERED:
            self._bell()
