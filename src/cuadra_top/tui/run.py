"""Start the TUI."""

from __future__ import annotations

import dataclasses
import sys
from concurrent.futures import ThreadPoolExecutor

from cuadra_top.api.http import tls_context
from cuadra_top.tui.options import TuiOptions


def run_tui(options: TuiOptions) -> int:
    """Run the app until it ends. The answers the history kept are read before it starts, so
    its first frame shows them (rather than an empty frame, then a second one: a whole
    render more before anything useful is on screen). The connection pools are not built
    here: the monitor builds them once that frame is drawn (see ``CuadraTopApp``), so their
    work and the HTTP stack's imports never hold it up. Their TLS context, though, is built
    now, in a thread, while Textual is imported: OpenSSL reads the CA store without the GIL
    (~15 ms that neither the first frame nor the pools then wait for)."""
    with ThreadPoolExecutor(1, thread_name_prefix="tls") as early:
        tls = early.submit(tls_context, options.settings.ca_bundle, options.environ)
        from cuadra_top.tui.factory import make_app

        app = make_app(dataclasses.replace(options, tls=tls))
        app.monitor.load_cached_now()
        app.run(mouse=options.mouse)
    if app.crashed:
        print(f"cuadra-top: internal error in the TUI ({app.crashed}); please report it, "
              "with the output of --log FILE", file=sys.stderr)
        return 1
    return app.return_code or 0
