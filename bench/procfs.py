"""What /proc says about a process a benchmark measures (Linux): its CPU time and memory."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid``, all its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()  # from field 3 (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mib(pid: int, table: str, names: Iterable[str]) -> dict[str, float]:
    """The ``Name:  N kB`` lines ``names`` of ``/proc/<pid>/<table>`` (``status``: VmRSS, VmHWM;
    ``smaps_rollup``: Rss, Pss), in MiB; a name the kernel does not give is left out."""
    wanted = set(names)
    found = {}
    for line in Path(f"/proc/{pid}/{table}").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in wanted:
            found[name] = int(rest.split()[0]) / 1024
    return found
