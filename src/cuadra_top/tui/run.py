"""Start the TUI: the connection pools are built while Textual is imported."""

from __future__ import annotations

import dataclasses
import sys
from concurrent.futures import ThreadPoolExecutor

from cuadra_top.tui.options import TuiOptions


def run_tui(options: TuiOptions) -> int:
    from cuadra_top.state.fleet import Fleet

    if options.fleet is not None:
        return _run_app(options)
    # OpenSSL reads the CA store for the TLS context without holding the GIL, so on two cores
    # building the pools in a thread while Textual is imported is free.
    with ThreadPoolExecutor(1, thread_name_prefix="fleet") as builder:
        fleet = builder.submit(Fleet.from_settings, options.settings, options.environ)
        return _run_app(dataclasses.replace(options, fleet=fleet))


def _run_app(options: TuiOptions) -> int:
    from cuadra_top.tui.factory import make_app

    app = make_app(options)
    app.run(mouse=options.mouse)
    if app.crashed:
        print(f"cuadra-top: internal error in the TUI ({app.crashed}); please report it, "
              "with the output of --log FILE", file=sys.stderr)
        return 1
    return app.return_code or 0
