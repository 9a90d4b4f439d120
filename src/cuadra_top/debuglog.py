"""The ``--log FILE`` debug log: requests, statuses, timings, backoff decisions, never a secret.

Every line passes through :func:`cuadra_top.redaction.redact` before it is written.
Without ``--log`` nothing is logged anywhere.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

from cuadra_top.format import printable
from cuadra_top.redaction import redact

LOGGER_NAME = "cuadra_top"
SYSTEM_PATHS = ("/dev/", "/proc/")
"""Paths opened as they are (links followed, modes left alone): only the system makes links there."""


def logger(name: str) -> logging.Logger:
    """A child of the app's logger; silent unless ``--log`` set a handler."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


class RedactingFilter(logging.Filter):
    """Formats the record itself, redacts the result (tracebacks included) and neutralises its
    control characters (an org name holding a newline would forge a log line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = printable(redact(record.getMessage()))  # one line, whatever names it quotes
        record.args = ()
        if record.exc_info:
            record.exc_text = printable(redact(logging.Formatter().formatException(record.exc_info)),
                                        keep_newlines=True)
            record.exc_info = None
        return True


class _OwnedStreamHandler(logging.StreamHandler):
    """A StreamHandler that closes its stream (the log file it was given) when closed."""

    def close(self) -> None:
        try:
            self.acquire()
            try:
                self.flush()
                self.stream.close()
            finally:
                self.release()
        finally:
            super().close()


def setup_debug_log(path: str | os.PathLike[str]) -> None:
    """Send the app's debug log to ``path``, appending. The file is made 0600 even if it
    existed (it names hosts and timings); a symbolic link is refused, not followed (in a
    shared directory it could point at any file of the user's). Raises OSError."""
    target = Path(path).expanduser()
    if str(target).startswith(SYSTEM_PATHS):
        # /dev/stderr, /proc/self/fd/3: links the system made, to something already open.
        fd = os.open(target, os.O_WRONLY | os.O_APPEND)
        mine = False
    else:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP and target.is_symlink():
                raise OSError(errno.ELOOP, "it is a symbolic link, which the log does not follow") from None
            raise
        mine = True
    try:
        if mine and stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)  # the file itself, opened above: no race with a swapped path
        stream = os.fdopen(fd, "a", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise
    handler = _OwnedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger(LOGGER_NAME)
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    root.propagate = False


_said: set[str] = set()
"""The kinds of ignored error already said on stderr: a finalizer failing every second says it once."""


def report_ignored_error(unraisable: Any) -> None:
    """``sys.unraisablehook``: an error Python cannot raise (in a finalizer, a callback of the
    collector) goes to the ``--log`` file, traceback and all, redacted like every
    line of it; stderr gets one line the first time each kind is seen, with no traceback and no
    message (either could quote a secret). Under the TUI, Textual keeps stderr off the screen,
    so the log is where it can be read. Never raises: Python would only report that too."""
    try:
        kind = getattr(unraisable.exc_type, "__name__", "error")
        try:
            where = repr(unraisable.object) if unraisable.object is not None else "Python"
        except Exception:  # an object whose __repr__ fails too
            where = f"a {type(unraisable.object).__name__} object"
        logger("ignored").error("%s: %s", unraisable.err_msg or "Exception ignored in", where,
                                exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback))
        if kind not in _said:
            _said.add(kind)
            print(f"cuadra-top: an error was ignored ({printable(kind)}); the details go to --log FILE",
                  file=sys.stderr, flush=True)
    except Exception:
        pass


logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())
