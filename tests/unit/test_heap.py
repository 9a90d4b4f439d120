"""The C heap's free pages go back to the system (glibc), so a TUI open for weeks holds its RSS."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from cuadra_top import heap

PROGRAM = r"""
import sys
from cuadra_top.heap import give_back_free_memory

def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

blocks = [bytearray(4000) for _ in range(20_000)]  # 80 MB of C heap, past Python's small blocks
for i in range(20_000):
    blocks[i][0] = 1  # touched: resident
kept = blocks[::50]  # a few live on, pinning the heap around the holes, as a long run does
del blocks
held = rss_kib()
trimmed = give_back_free_memory()
print(trimmed, held, rss_kib(), len(kept))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_the_free_pages_between_live_blocks_go_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True)
    trimmed, held, after, _ = out.stdout.split()
    if trimmed != "True":
        pytest.skip("not glibc: nothing to give back with")
    assert int(held) - int(after) > 40_000, f"RSS {held} KiB before, {after} KiB after giving back"


def test_without_the_c_library_s_trim_it_says_so(monkeypatch):
    monkeypatch.setattr(heap, "_looked", True)
    monkeypatch.setattr(heap, "_trim", None)
    assert heap.give_back_free_memory() is False


def test_the_c_library_s_trim_is_found_without_starting_a_process(monkeypatch):
    """``ctypes.util.find_library`` runs ``/sbin/ldconfig -p`` (and ``gcc``, ``ld`` where that
    finds nothing): a fork of the TUI, its threads running, on the event loop. The symbols the
    process already has are enough."""
    import subprocess

    started: list[object] = []

    def no_process(*args: object, **kwargs: object) -> None:
        started.append(args[0] if args else kwargs.get("args"))
        raise OSError("no process may be started to find the C library")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    monkeypatch.setattr(heap, "_looked", False)
    monkeypatch.setattr(heap, "_trim", None)
    trimmed = heap.give_back_free_memory()
    assert started == []
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert trimmed is True  # glibc: found all the same


NO_CTYPES = """
import sys
sys.modules["ctypes"] = None  # a Python built without libffi: no _ctypes, no ctypes
from cuadra_top.heap import give_back_free_memory
print(give_back_free_memory())
"""


def test_a_python_without_ctypes_gives_nothing_back_and_says_so():
    """pyenv builds Python without ``_ctypes`` where libffi's headers are missing: the TUI
    imports this module on a timer, so an ImportError here would end the monitor a minute in."""
    out = subprocess.run([sys.executable, "-c", NO_CTYPES], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "False\n", out.stderr


def test_a_c_library_without_malloc_trim_gives_nothing_back(monkeypatch):
    """musl (Alpine) has no ``malloc_trim``: the lookup finds nothing and says so."""
    import ctypes

    class Musl:
        def __init__(self, name: object) -> None:
            assert name is None  # the process's own symbols

    monkeypatch.setattr(ctypes, "CDLL", Musl)
    monkeypatch.setattr(heap, "_looked", False)
    monkeypatch.setattr(heap, "_trim", None)
    assert heap.give_back_free_memory() is False
    assert heap.give_back_free_memory() is False  # looked up once


def test_off_linux_the_c_library_is_not_looked_at(monkeypatch):
    import ctypes

    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: pytest.fail("no C library looked up off Linux"))
    monkeypatch.setattr(heap, "_looked", False)
    monkeypatch.setattr(heap, "_trim", None)
    assert heap.give_back_free_memory() is False
