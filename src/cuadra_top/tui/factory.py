"""One way to build the app, for ``run_tui``, the screenshots and the tests alike."""

from __future__ import annotations

from cuadra_top.state.monitor import Monitor
from cuadra_top.tui.app import CuadraTopApp, Watched
from cuadra_top.tui.options import TuiOptions

__all__ = ["TuiOptions", "make_app", "watched"]


def watched(options: TuiOptions) -> Watched:
    """The monitor of ``options``, and what comes with it (the ``[[notify]]`` channels)."""
    monitor = Monitor(
        options.settings, options.fleet, options.trends, options.now,
        environ=options.environ, interval=options.interval, rng=options.rng, reload_org=options.reload_org,
        tls=options.tls,
    )
    delivery = None
    if options.deliver and options.settings.notify:
        from cuadra_top.notify.service import NotifyService

        delivery = NotifyService(options.settings, options.environ, options.config_path or "config")
    return Watched(monitor, config_path=options.config_path, start_org=options.start_org,
                   persist_theme=options.persist_theme, delivery=delivery, config_target=options.config_target)


def make_app(options: TuiOptions) -> CuadraTopApp:
    parts = watched(options)
    return CuadraTopApp(
        parts.monitor, config_path=parts.config_path, start_org=parts.start_org, theme=options.theme,
        persist_theme=parts.persist_theme, now=options.now, environ=options.environ, delivery=parts.delivery,
        config_target=parts.config_target,
    )
