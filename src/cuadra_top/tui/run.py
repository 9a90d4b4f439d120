"""Start the TUI."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cuadra_top.tui.app import CuadraTopApp
    from cuadra_top.tui.first_start import Glance
    from cuadra_top.tui.options import TuiOptions


def run_tui(options: TuiOptions) -> int:
    """Run the app until it ends. The answers the history kept are read before it starts, so
    its first frame shows them (rather than an empty frame, then a second one: a whole
    render more before anything useful is on screen). The connection pools are not built
    here: the monitor builds them once that frame is drawn (see ``CuadraTopApp``), so their
    work and the HTTP stack's imports never hold it up. Their TLS context, though, is built
    now, in a thread, while Textual is imported: OpenSSL reads the CA store without the GIL
    (~15 ms that neither the first frame nor the pools then wait for)."""
    from cuadra_top.api.http import tls_context

    with ThreadPoolExecutor(1, thread_name_prefix="tls") as early:
        tls = early.submit(tls_context, options.settings.ca_bundle, options.environ)
        from cuadra_top.tui.factory import make_app

        app = make_app(dataclasses.replace(options, tls=tls))
        app.monitor.load_cached_now()
        app.run(mouse=options.mouse)
    return ended(app)


def run_tui_first(glance: Glance, prepare: Callable[[], tuple[TuiOptions, Sequence[str]]], *,
                  theme: str | None, mouse: bool) -> int:
    """Run the app of a returning user: its first frame shows ``glance`` (the stored answers,
    read without the config's full validation); ``prepare`` then loads the config in full
    (raising ``StartFailed``; its warnings are shown as toasts) and the monitor's screen takes
    over. ``StartFailed`` is raised again once the terminal is restored, for the command line."""
    from cuadra_top.clock import utc_now
    from cuadra_top.tui.app import CuadraTopApp, FirstStart, Watched
    from cuadra_top.tui.first_start import GlanceScreen

    with ThreadPoolExecutor(1, thread_name_prefix="tls") as early:

        def finish() -> Watched:
            from cuadra_top.api.http import tls_context
            from cuadra_top.tui.factory import watched

            options, warnings = prepare()
            tls = early.submit(tls_context, options.settings.ca_bundle, options.environ)
            parts = watched(dataclasses.replace(options, tls=tls))
            parts.monitor.load_cached_now()  # in the monitor's first frame too
            return dataclasses.replace(parts, warnings=list(warnings))

        app = CuadraTopApp(None, theme=theme, first=FirstStart(GlanceScreen(glance, utc_now()), finish, glance.theme))
        app.run(mouse=mouse)
    if app.start_error is not None:
        raise app.start_error
    return ended(app)


def ended(app: CuadraTopApp) -> int:
    """The app's exit code; a crash said in one line (the details are in the ``--log`` file)."""
    if app.crashed:
        print(f"cuadra-top: internal error in the TUI ({app.crashed}); please report it, "
              "with the output of --log FILE", file=sys.stderr)
        return 1
    return app.return_code or 0
