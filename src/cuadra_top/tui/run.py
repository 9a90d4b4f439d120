"""Start the TUI from parsed arguments and a loaded config."""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from cuadra_top.config import LoadedConfig

if TYPE_CHECKING:
    from cuadra_top.state.fleet import Fleet


def run_tui(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from cuadra_top.state.fleet import Fleet

    # The connection pools are built in a thread while Textual is imported: OpenSSL reads the
    # CA store for the TLS context without holding the GIL, so on two cores that is free.
    with ThreadPoolExecutor(1, thread_name_prefix="fleet") as builder:
        fleet = builder.submit(Fleet.from_settings, loaded.settings, os.environ)
        return _run_app(args, loaded, fleet)


def _run_app(args: argparse.Namespace, loaded: LoadedConfig, fleet: Future[Fleet]) -> int:
    from cuadra_top.cli import make_trends
    from cuadra_top.tui.app import CuadraTopApp

    app = CuadraTopApp(
        loaded.settings,
        environ=os.environ,
        config_path=loaded.path if loaded.source == "file" else None,
        start_org=args.org,
        interval=args.interval,
        theme=args.theme,
        persist_theme=args.theme is None,
        trends=make_trends(args, loaded, open_later=True),
        fleet=fleet,
    )
    app.run(mouse=not args.no_mouse)
    if app.crashed:
        print(f"cuadra-top: internal error in the TUI ({app.crashed}); please report it, "
              "with the output of --log FILE", file=sys.stderr)
        return 1
    return app.return_code or 0
