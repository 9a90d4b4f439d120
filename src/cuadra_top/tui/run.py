"""Start the TUI (placeholder until the TUI lands: prints the --once table)."""

from __future__ import annotations


def run_tui(args, loaded) -> int:
    from cuadra_top.cli import once

    return once(args, loaded)
