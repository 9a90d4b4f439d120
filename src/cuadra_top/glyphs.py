"""Which symbols an output can carry. A UTF carries every character and is left alone; any
other encoding (``LC_ALL=C`` without Python's UTF-8 mode, ``PYTHONIOENCODING=ascii`` or
``latin-1``) keeps the characters it has and gets ASCII stand-ins for the rest.

Text (stdout, stderr): '—' is '-', '…' is '...', '⏎' is 'enter', and a character with no
stand-in (a name in another script) is its ``\\uXXXX`` escape, which stays unambiguous and
reads back as the same value in TOML and JSON strings. :func:`guard` makes a stream do this
the moment it fails to encode, so no print anywhere can die of an UnicodeEncodeError.

The terminal screen (:func:`fit_cells`): each stand-in as many cells wide as what it stands
for, so what Textual laid out stays in place: box lines are '-', '|' and '+', blocks '#', a
shaded block ':' (a chart's partly sampled day, apart from a full one), braille dots and
quadrant blocks '.' (the charts' lines),
'é' is 'e', a wide character '??'.
"""

from __future__ import annotations

import codecs
import unicodedata
from typing import Any

TEXT_ERRORS = "cuadra-top-ascii"
"""The error handler :func:`guard` gives a stream: ASCII stand-ins for what it cannot encode."""
CELL_ERRORS = "cuadra-top-cells"
"""The same for the terminal screen: as many ASCII characters as the character takes cells."""

_TEXT = {
    "\u2014": "-", "\u2013": "-", "\u2012": "-", "\u2010": "-", "\u2212": "-",
    "\u00b7": "-", "\u2022": "*", "\u2026": "...", "\u23ce": "enter",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ",
    "\u2588": "#", "\u2591": ".", "\ufffd": "?", "\u00d7": "x", "\u2192": "->", "\u2190": "<-",
}
"""Stand-ins in running text, where a symbol may take more room than it did."""

_CELL = {
    "\u2014": "-", "\u2013": "-", "\u00b7": "-", "\u2026": ".", "\u23ce": ">", "\u2022": "*",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ", "\ufffd": "?",
    "\u2588": "#", "\u2593": "#", "\u2592": ":", "\u2591": ".", "\u2580": "\"", "\u2594": "-",
    "\u2581": "_", "\u2582": ".", "\u2583": "-", "\u2584": "~", "\u2585": "=", "\u2586": "+", "\u2587": "*",
    "\u258f": "|", "\u258e": "|", "\u258d": "|", "\u258c": "|", "\u258b": "#", "\u258a": "#", "\u2589": "#",
    "\u2590": "|", "\u2595": "|", "\u25b6": ">", "\u25c0": "<", "\u25b2": "^", "\u25bc": "v",
    "\u25b8": ">", "\u25be": "v", "\u2192": ">", "\u2190": "<", "\u2191": "^", "\u2193": "v",
    "\u2714": "+", "\u2713": "+", "\u2716": "x", "\u00d7": "x", "\U0001f50e": "> ",
}
"""Stand-ins on the screen, one cell for one cell (eighth blocks: the sparkline's rising ramp;
the shades apart from the full block, so a chart's shaded bars stay apart from its full ones)."""


def carries_unicode(encoding: str | None) -> bool:
    """Whether text in ``encoding`` can hold any character: a UTF (None: unknown, so no)."""
    if not encoding:
        return False
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def fit_text(text: str, encoding: str | None) -> str:
    """``text`` as an output in ``encoding`` can carry it: what it can encode kept, stand-ins
    (:func:`ascii_text`) for the rest; None or a UTF: ``text`` itself."""
    return _fit(text, encoding, TEXT_ERRORS)


def fit_cells(text: str, encoding: str | None) -> str:
    """``text`` for a terminal screen in ``encoding``: like :func:`fit_text`, but each stand-in
    as wide as what it stands for (:func:`ascii_cells`), so nothing on the line moves."""
    return _fit(text, encoding, CELL_ERRORS)


def _fit(text: str, encoding: str | None, errors: str) -> str:
    if encoding is None or text.isascii() or carries_unicode(encoding):
        return text
    return text.encode(encoding, errors).decode(encoding)


def ascii_text(text: str) -> str:
    """``text`` in ASCII for running text: stand-ins for the symbols, escapes for the rest."""
    if text.isascii():
        return text
    return "".join(c if c.isascii() else _TEXT.get(c) or _escape(c) for c in text)


def _cell_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _braille(char: str) -> str | None:
    """'.' for a braille cell with dots (the charts' lines), ' ' for the empty one."""
    code = ord(char)
    return None if not 0x2800 <= code <= 0x28FF else " " if code == 0x2800 else "."


def _quadrant(char: str) -> str | None:
    """'.' for a quadrant block (U+2596-259F: the charts' lines drawn in quarter blocks)."""
    return "." if 0x2596 <= ord(char) <= 0x259F else None


def _box_line(char: str) -> str | None:
    """'-', '|' or '+' for a box-drawing character, by its Unicode name."""
    name = unicodedata.name(char, "")
    if not name.startswith("BOX DRAWINGS"):
        return None
    across = any(word in name for word in ("HORIZONTAL", "LEFT", "RIGHT"))
    down = any(word in name for word in ("VERTICAL", "UP", "DOWN"))
    return "+" if across == down else ("-" if across else "|")


def _cell(char: str) -> str:
    stand_in = _CELL.get(char) or _box_line(char) or _braille(char) or _quadrant(char)
    if stand_in is not None:
        return stand_in
    width = _cell_width(char)
    base = unicodedata.normalize("NFKD", char)[:1]  # 'é' is 'e'
    return base if width == 1 and base.isascii() and base.isprintable() else "?" * width


def ascii_cells(text: str) -> str:
    """``text`` in ASCII, each character replaced by as many ASCII characters as it takes cells."""
    if text.isascii():
        return text
    return "".join(c if c.isascii() else _cell(c) for c in text)


def _handler(stand_in):
    def handle(error: UnicodeError) -> tuple[str, int]:
        if not isinstance(error, UnicodeEncodeError):
            raise error
        return stand_in(error.object[error.start:error.end]), error.end

    return handle


codecs.register_error(TEXT_ERRORS, _handler(ascii_text))
codecs.register_error(CELL_ERRORS, _handler(ascii_cells))


def guard(stream: Any) -> None:
    """Make ``stream`` write ASCII stand-ins for what its encoding lacks (lone surrogates from
    undecodable arguments included) instead of raising; its UTF-8 output is not touched."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None and getattr(stream, "errors", None) != TEXT_ERRORS:
        try:
            reconfigure(errors=TEXT_ERRORS)
        except (ValueError, OSError):  # closed, or not a text stream after all
            pass
