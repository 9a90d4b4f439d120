"""Theme files: the bundled ones in ``themes/`` and the user's in ``<config dir>/themes/``.

A theme file is TOML naming the fields of ``textual.theme.Theme``::

    name = "cuadra"
    primary = "#7c5cff"
    dark = true
    [variables]
    footer-key-foreground = "#7c5cff"

The chosen theme is written back into the config file with tomlkit, keeping its comments.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from textual.theme import Theme

from cuadra_top import APP_NAME

_THEME_FIELDS = {f.name for f in fields(Theme)}


def bundled_themes_dir() -> Path:
    """``themes/`` inside the wheel, or at the repository root in an editable install."""
    packaged = Path(__file__).resolve().parent.parent / "bundled_themes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "themes"


def user_themes_dir() -> Path:
    import platformdirs

    return platformdirs.user_config_path(APP_NAME) / "themes"


@dataclass(frozen=True)
class ThemeLoad:
    themes: list[Theme]
    problems: list[str]


def theme_from_file(path: Path) -> Theme:
    """Parse one theme file; raises ValueError with a one-line reason."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read theme ({exc})") from None
    unknown = set(data) - _THEME_FIELDS
    if unknown:
        raise ValueError(f"{path}: unknown theme keys {', '.join(sorted(unknown))}")
    if not isinstance(data.get("name"), str) or not isinstance(data.get("primary"), str):
        raise ValueError(f"{path}: a theme needs a name and a primary colour")
    for key in COLOUR_KEYS:
        if key in data:
            _check_colour(path, key, data[key])
    if "dark" in data and not isinstance(data["dark"], bool):
        raise ValueError(f"{path}: key dark: {data['dark']!r} is not true or false")
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ValueError(f"{path}: key variables: a table of strings, like footer-key-foreground = \"#7c5cff\"")
    try:
        theme = Theme(**data)
        theme.to_color_system().generate()  # what choosing it does: any other bad value shows now
    except Exception as exc:  # Theme validates lazily; report, never crash
        raise ValueError(f"{path}: invalid theme ({type(exc).__name__}: {exc})") from None
    return theme


COLOUR_KEYS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground", "background",
               "surface", "panel", "boost")
"""The fields of a Textual Theme that hold one colour each."""


def _check_colour(path: Path, key: str, value: object) -> None:
    """A theme colour must parse ('#ff8800', 'rgb(1,2,3)', 'red'): found at load, named with its
    key, rather than as an internal error when the theme is chosen."""
    from textual.color import Color, ColorParseError

    if not isinstance(value, str):
        raise ValueError(f"{path}: key {key}: {value!r} is not a colour; write it as \"#rrggbb\"")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{path}: key {key}: {value!r} is not a colour; write it as \"#rrggbb\"") from None


def load_themes(*directories: Path) -> ThemeLoad:
    """Every ``*.toml`` theme in the directories; a broken file is reported and skipped."""
    themes: list[Theme] = []
    problems: list[str] = []
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                themes.append(theme_from_file(path))
            except ValueError as exc:
                problems.append(str(exc))
    return ThemeLoad(themes, problems)


def save_theme_choice(config_path: Path, theme: str) -> None:
    """Set ``theme = "..."`` in the config file, keeping everything else (comments too), the
    way every config change is written (:func:`cuadra_top.config_writer.update_config`:
    atomic, through a symlink, mode kept)."""
    from cuadra_top.config_writer import update_config

    def choose(document) -> bool:
        if document.get("theme") == theme:
            return False
        document["theme"] = theme  # tomlkit places a new top-level key before the first table
        return True

    update_config(config_path, choose)
