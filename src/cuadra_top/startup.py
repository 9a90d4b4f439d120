"""The cyclic garbage collector is paused while the program starts.

Start-up builds a large graph of long-lived objects (Textual, pydantic, httpx and their
modules), and the collector, triggered by allocation counts, walks it again and again: about
60 ms of a 550 ms start to first data (A/B, 15 alternating runs). ``main`` pauses it; the TUI
resumes it once the first data is on screen, freezing what start-up built so later collections
skip it (a monitor open for days collects only what it allocates afterwards); every other path
resumes it when ``main`` returns.
"""

from __future__ import annotations

import gc

_paused = False


def pause_gc() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_gc(*, freeze: bool = False) -> None:
    """Turn collection back on, if ``pause_gc`` turned it off; ``freeze``: move every object
    alive now to the permanent generation (for the long-running TUI only)."""
    global _paused
    if not _paused:
        return
    _paused = False
    if freeze:
        gc.freeze()
    gc.enable()
