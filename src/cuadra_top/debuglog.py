"""The ``--log FILE`` debug log: requests, statuses, timings, backoff decisions, never a secret.

Every line passes through :func:`cuadra_top.redaction.redact` before it is written.
Without ``--log`` nothing is logged anywhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cuadra_top.redaction import redact

LOGGER_NAME = "cuadra_top"


def logger(name: str) -> logging.Logger:
    """A child of the app's logger; silent unless ``--log`` set a handler."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


class RedactingFilter(logging.Filter):
    """Formats the record itself and redacts the result (tracebacks included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_debug_log(path: str | os.PathLike[str]) -> None:
    """Send the app's debug log to ``path`` (created 0600: it names hosts and timings)."""
    target = Path(path).expanduser()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger(LOGGER_NAME)
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    root.propagate = False


logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())
