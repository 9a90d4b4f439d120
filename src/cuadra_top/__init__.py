"""cuadra-top: a terminal monitor for the Cuadra AI Usage API."""

import sys as _sys

__version__ = "0.1.0"
APP_NAME = "cuadra-top"
"""The name of its config, data and cache directories (here: the TUI's first frame must not
import the config's pydantic to know it)."""

# httpx imports its own command-line client at import time whenever click, pygments and rich
# are installed (Textual brings rich): ~40 ms of every start, and rich on paths that must not
# load it (--once, --check, status). A None entry makes that optional import fail fast, so
# httpx falls back to its stub; cuadra-top never uses the httpx command.
_sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
