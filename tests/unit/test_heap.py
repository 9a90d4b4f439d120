"""The C heap's free pages go back to the system (glibc), so a TUI open for weeks holds its RSS."""

from __future__ import annotations

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
