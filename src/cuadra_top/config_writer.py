"""Changing the config file in place: the one way cuadra-top writes it (a theme chosen in the
app, an org added by ``auth login`` or removed by ``auth logout``).

The user's file is theirs: comments, order and formatting are kept (tomlkit edits the parsed
document, not a dump of the settings); the new text is written to a temporary file beside the
target and renamed over it, so a crash never leaves half a config; a config that is a symlink
(dotfiles) keeps being one, the file it points to is replaced, with its mode. A new file is
created with mode 0600 (it may hold a secret), in a directory created with mode 0700.

tomlkit is imported here, when something is written, never at start-up (about 10 ms).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

NEW_FILE_MODE = 0o600
NEW_DIR_MODE = 0o700

Document = Any
"""A ``tomlkit.TOMLDocument`` (not imported at module level, to keep start-up free of tomlkit)."""


def update_config(path: Path, change: Callable[[Document], bool | None], *,
                  check: Callable[[str], None] | None = None) -> bool:
    """Apply ``change`` to the parsed config at ``path`` (an empty document when the file does
    not exist yet) and write the result back atomically. ``change`` edits the document in
    place; returning False means nothing changed (nothing is written). ``check`` gets the new
    text before it is written and raises to refuse it (the file is then left as it was).
    Returns whether the file was written. Raises OSError for I/O problems and whatever
    ``check`` raises; tomlkit's parse errors surface as ValueError."""
    import tomlkit

    target = Path(path).expanduser()
    target = target.resolve() if target.is_symlink() or target.exists() else target.absolute()
    exists = target.exists()
    text = target.read_text(encoding="utf-8") if exists else ""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    if change(document) is False:
        return False
    new_text = tomlkit.dumps(document)
    if check is not None:
        check(new_text)
    mode = target.stat().st_mode & 0o777 if exists else NEW_FILE_MODE
    if not exists:
        target.parent.mkdir(mode=NEW_DIR_MODE, parents=True, exist_ok=True)
    write_atomically(target, new_text, mode)
    return True


def write_atomically(target: Path, text: str, mode: int) -> None:
    """``text`` into ``target`` by a temporary file in its directory and a rename; the
    temporary file has ``mode`` before it holds anything (mkstemp makes it 0600)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".config.", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
