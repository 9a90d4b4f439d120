"""Command line: parse arguments, load the config, and hand over to the TUI or a one-shot mode.

The rule here: nothing the user does produces a traceback. Config and usage errors print one
line and exit 2; fetch failures are per org and exit 1; secrets are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from collections.abc import Sequence
from typing import NoReturn

from cuadra_top import __version__, exit_codes, glyphs
from cuadra_top.startup import pause_gc, resume_gc

DESCRIPTION = """\
Live terminal monitor for the Cuadra AI Usage API: credits, storage and plan of
one or more organizations, refreshed on their own. Without flags it opens the
TUI on the orgs in your config file.
"""

EPILOG = """\
commands:
  config path|show|validate  where the config file is, the effective config
                             (secrets masked), or check it
  auth login|status|logout   add an org (checked live, secret in the OS keyring),
                             check every org's credential, or remove an org
  status [--org N] [--format T]
                             one short line for a tmux status bar or a prompt,
                             from the local history
  simulate [--port P]        run the built-in API simulator in the foreground
  notify test [--channel N]  send a test notice to each [[notify]] channel
  watch [--json]             no screen: poll, record and deliver alerts until
                             SIGTERM (for systemd or a container)
  history [--org NAME] [--since DATE] [--until DATE] [--daily] [--format table|csv|json]
                             the local history (samples, or per-day figures), no API calls
  exporter [--listen HOST:PORT] [--web.config.file PATH]
                             serve every org's figures to Prometheus at /metrics
  web [--listen HOST:PORT] [--web.config.file PATH] [--max-sessions N] [--public-url URL]
                             the TUI in a browser, one session per tab

examples:
  cuadra-top --demo                    try it on simulated organizations
  cuadra-top --once                    one line per org, for scripts
  cuadra-top --once --json --org acme  the raw usage of one org as JSON
  cuadra-top --once --notify           for cron: deliver this run's alerts
  cuadra-top --demo web                the demo in a browser: http://127.0.0.1:10871/

environment:
  CUADRA_TOP_CONFIG   config file path (like --config)
  CUADRA_TOKEN        bearer token when there is no config file (org "default")
  CUADRA_CLIENT_ID, CUADRA_CLIENT_SECRET
                      OAuth client credentials instead of a token
  CUADRA_API_URL      API base URL for the "default" org
  CUADRA_AUTH_URL     OAuth token URL
  NO_COLOR            no colours in the TUI
  TZ                  the time zone times are shown in (unless --timezone or timezone)

exit codes: 0 all orgs fetched, 1 one or more orgs failed, 2 usage or config error.
See the README for the config file format.
"""

NO_ORGS = (
    "no organizations configured. Add one with `cuadra-top auth login`, or try `cuadra-top --demo` "
    "to see it on simulated data, or set CUADRA_TOKEN, or write {path} (see the README, section Configuration)."
)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 1 <= value <= 86400:
        raise argparse.ArgumentTypeError("must be between 1 and 86400 seconds")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number from 0 to 65535")
    return value


COMMANDS = ("config", "auth", "status", "simulate", "exporter", "web", "notify", "watch", "history")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line. Without a command word (the TUI, ``--once``) the parser is built
    without the commands' own (a third of a first frame's extra work over Textual's own is in
    building them); whatever it does not take (and any ``-h``) goes to the whole parser, so
    the errors and the help are its own."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(arg in COMMANDS or arg.startswith(("-h", "--h")) for arg in argv):
        quick = build_parser(with_commands=False)
        quick.error = _refuse  # type: ignore[method-assign]  # the whole parser says it, with its usage
        try:
            args, rest = quick.parse_known_args(argv)
        except _Refused:
            rest = argv
        if not rest:
            return args
    return build_parser().parse_args(argv)


class _Refused(Exception):
    pass


def _refuse(message: str) -> NoReturn:
    raise _Refused(message)


def build_parser(with_commands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cuadra-top",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cuadra-top {__version__}")
    parser.add_argument("--config", metavar="PATH", help="config file (default: see `cuadra-top config path`)")
    parser.add_argument("--demo", action="store_true", help="run on the built-in simulator's demo orgs")
    parser.add_argument("--once", action="store_true", help="fetch every org once, print a table, exit")
    parser.add_argument("--json", action="store_true", help="with --once: print JSON instead of a table")
    parser.add_argument("--check", action="store_true",
                        help="with --once: one status line, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    parser.add_argument("--org", metavar="NAME", help="only this org (--once, watch), or start on it (TUI)")
    parser.add_argument("--interval", metavar="SECONDS", type=positive_seconds,
                        help="refresh interval for this run (overrides refresh_interval)")
    parser.add_argument("--theme", metavar="NAME", help="theme for this run (overrides the config)")
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    parser.add_argument("--log", metavar="FILE", help="write a debug log (secrets redacted) to FILE")
    parser.add_argument("--no-history", action="store_true", help="do not record or read the local usage history")
    parser.add_argument("--notify", action="store_true",
                        help="with --once: deliver this run's alerts to the [[notify]] channels")
    parser.add_argument("--timezone", metavar="ZONE",
                        help="show times in this zone (Europe/Berlin, UTC, local); default: the config's, else TZ")
    # How `cuadra-top web` starts the TUI of one browser session: it writes no config (no Add
    # organization, a theme chosen lasts for the tab), and in the demo joins the web server's
    # simulator. Not for people: hidden.
    parser.add_argument("--web-session", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--demo-shared", metavar="SPEC", help=argparse.SUPPRESS)

    if not with_commands:
        parser.set_defaults(command=None)
        return parser
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    config = commands.add_parser("config", help="config path | show | validate")
    config.add_argument("action", choices=("path", "show", "validate"))
    from cuadra_top import auth_cli

    auth_cli.add_parser(commands)
    status = commands.add_parser("status", help="one short line for a tmux status bar or a shell prompt")
    status.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file (as before the command)")
    status.add_argument("--org", dest="status_org", metavar="NAME", help="only this org")
    status.add_argument("--format", dest="status_format", metavar="TEMPLATE",
                        help="per-org template, e.g. '{name} {percent}{flags}' (see the README)")
    simulate = commands.add_parser("simulate", help="run the API simulator in the foreground")
    simulate.add_argument("--port", type=port_number, default=8787, help="port on 127.0.0.1 (default 8787, 0 = any)")
    simulate.add_argument("--seed", type=int, default=None, help="random seed for repeatable usage")
    exporter = commands.add_parser("exporter", help="serve every org's figures to Prometheus at /metrics")
    exporter.add_argument("--listen", metavar="HOST:PORT", type=listen_address, default=None,
                          help="address to serve on (default 127.0.0.1:10870; :PORT = every interface)")
    exporter.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                          help="config file (as before the command)")
    exporter.add_argument("--web.config.file", dest="web_config_file", metavar="PATH", default=None,
                          help="TLS and basic auth, in the web configuration format of the Prometheus exporters")
    exporter.add_argument("--interval", metavar="SECONDS", type=positive_seconds, default=argparse.SUPPRESS,
                          help="seconds between polls of each org (as before the command)")
    exporter.add_argument("--no-history", action="store_true", default=argparse.SUPPRESS,
                          help="no local history, so no forecast (as before the command)")
    add_web_parser(commands)
    notify = commands.add_parser("notify", help="notify test [--channel N]: a test notice to each channel")
    notify.add_argument("action", choices=("test",))
    notify.add_argument("--channel", type=channel_number, metavar="N", help="only the Nth [[notify]] table")
    watch = commands.add_parser("watch", help="no screen: poll, record and deliver alerts until SIGTERM")
    watch.add_argument("--json", dest="watch_json", action="store_true", help="JSON lines instead of text")
    history = commands.add_parser(
        "history", help="the local history as a table, CSV or JSON (no API calls)",
        description="The stored samples, or per-day figures (--daily), from the local history, without "
                    "calling the API. Dates are days in the display zone; CSV and JSON times are UTC.")
    # SUPPRESS: after `history` these two do not reset what was given before it
    history.add_argument("--org", metavar="NAME", default=argparse.SUPPRESS, help="only this org (by name)")
    history.add_argument("--timezone", metavar="ZONE", default=argparse.SUPPRESS, help="as above")
    history.add_argument("--since", metavar="DATE", help="from this day (YYYY-MM-DD) or ISO 8601 time")
    history.add_argument("--until", metavar="DATE", help="through this day (YYYY-MM-DD) or ISO 8601 time")
    history.add_argument("--daily", action="store_true",
                         help="per-day figures: credits used that day, credits and storage at its end, its period")
    history.add_argument("--format", choices=("table", "csv", "json"), default="table",
                         help="table (default), csv or json")
    return parser


def add_web_parser(commands) -> None:
    from cuadra_top.listen import WEB_PORT

    web = commands.add_parser(
        "web", help="the TUI in a browser, one session per tab",
        description="Serve the TUI to browsers: each tab runs its own session of it, with the same config and "
                    "history. Loopback only, unless the web config sets up basic auth or TLS.")
    web.add_argument("--listen", metavar="HOST:PORT", type=web_listen_address, default=None,
                     help=f"address to serve on (default 127.0.0.1:{WEB_PORT}; :PORT = every interface)")
    web.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file (as before the command)")
    web.add_argument("--web.config.file", dest="web_config_file", metavar="PATH", default=None,
                     help="TLS and basic auth, in the web configuration format of the Prometheus exporters")
    web.add_argument("--max-sessions", type=session_count, default=None, metavar="N",
                     help="browser sessions (app processes) at once (default 10)")
    web.add_argument("--public-url", type=public_url, default=None, metavar="URL",
                     help="the URL browsers use, behind a reverse proxy (default: relative to the page)")
    web.add_argument("--insecure-no-auth", action="store_true",
                     help="serve beyond loopback without basic auth or TLS (warned about at every start)")


def listen_address(text: str, example_port: int | None = None):
    from cuadra_top.listen import EXPORTER_PORT, parse_listen

    try:
        return parse_listen(text, example_port or EXPORTER_PORT)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def web_listen_address(text: str):
    from cuadra_top.listen import WEB_PORT

    return listen_address(text, WEB_PORT)


def session_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of sessions from 1 to 1000")
    return value


def public_url(text: str) -> str:
    """An ``http(s)://`` URL without a user or password (it is shown and put in the page)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL (e.g. https://team.example/cuadra/)")
    if parts.username is not None or parts.password is not None:
        raise argparse.ArgumentTypeError("must not carry a user name or password (browsers log in with basic auth)")
    if parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r}: give the URL of the page, without ?query or #fragment")
    return text


def say(text: object, file=None) -> None:
    """Print one line of ours: whatever it quotes (an org name, a path, a URL from the config or
    the environment) with its control characters neutralised, so it stays one line and moves
    no cursor (:func:`cuadra_top.format.printable`)."""
    from cuadra_top.format import printable

    print(printable(str(text)), file=file or sys.stdout)


def channel_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a channel number (1 for the first [[notify]] table)")
    return value


def fail(message: str, code: int = exit_codes.USAGE) -> int:
    say(f"cuadra-top: {message}", sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    pause_gc()
    glyphs.guard(sys.stdout)  # an output that cannot carry a symbol gets an ASCII stand-in, not a crash
    glyphs.guard(sys.stderr)
    python_s_hook, sys.unraisablehook = sys.unraisablehook, _report_ignored_error
    try:
        code = _main(argv)
    except BrokenPipeError:
        return reader_gone()
    finally:
        sys.unraisablehook = python_s_hook
        resume_gc()
    try:
        sys.stdout.flush()  # here, where a reader that has gone can still be told apart
    except BrokenPipeError:
        return reader_gone()
    except (OSError, ValueError):  # a terminal gone or a stdout closed: nothing more can be said there
        pass
    return code


def _report_ignored_error(unraisable: object) -> None:
    """An error in a finalizer or a collector's callback: to the log, never a traceback on the
    terminal (the logging module is imported only if one happens)."""
    from cuadra_top.debuglog import report_ignored_error

    report_ignored_error(unraisable)


def reader_gone() -> int:
    """Whoever read stdout has stopped (``| head``): stop writing, say nothing, and leave the
    interpreter nothing to flush at exit (its own flush would print a BrokenPipeError)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (captured in tests)
        pass
    return exit_codes.READER_GONE


def _main(argv: Sequence[str] | None) -> int:
    args = parse_arguments(argv)
    if args.log:
        from cuadra_top.debuglog import setup_debug_log

        try:
            setup_debug_log(args.log)
        except OSError as exc:
            return fail(f"cannot write the log file {args.log}: {exc.strerror}; choose another path")
    try:
        return dispatch(args)
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        return reader_gone()
    except Exception as exc:  # the promise: no traceback ever reaches the user
        from cuadra_top.debuglog import logger

        logger("cli").exception("internal error")
        return fail(f"internal error ({type(exc).__name__}); please report it, with --log FILE output",
                    exit_codes.FAILED)


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "status":  # first: its usual path must not import the config's pydantic
        from cuadra_top import status_line

        return status_line.main(args.config, args.status_org, args.status_format, os.environ)
    if args.check:
        args.once = True
    watching = args.command == "watch"
    if watching and (args.once or args.json):
        return fail("watch runs until stopped; drop --once/--check (and put --json after watch)")
    if args.json and not args.once:
        return fail("--json goes with --once")
    if args.notify and not args.once:
        return fail("--notify goes with --once (the TUI and `watch` always deliver)")
    if args.json and args.check:
        return fail("--check prints one status line; drop --json")
    if args.command == "simulate":
        return simulate(args.port, args.seed)
    if args.command == "exporter" and (args.once or args.json):
        return fail("the exporter serves until it is stopped; drop --once, --check and --json")
    if args.command == "web" and (args.once or args.json):
        return fail("web serves until it is stopped; drop --once, --check and --json")
    try:
        if args.command == "config":
            return config_command(args)
        if args.command == "notify":
            return notify_command(args)
        if args.command == "history":
            return history_command(args)
        if args.command == "auth":
            from cuadra_top import auth_cli

            return auth_cli.run(args, os.environ)
        if args.demo_shared:
            return run_shared_demo(args)
        if args.demo:
            return run_demo(args)
        return run_configured(args)
    except config_errors() as exc:  # UnknownZone: --timezone (the key is checked with the file)
        if args.check:
            # A monitoring plugin's contract: one line on stdout, UNKNOWN (Nagios reads 2 as CRITICAL).
            from cuadra_top.state.alerts import Level

            say(f"CUADRA UNKNOWN - config error: {exc}")
            return int(Level.UNKNOWN)
        return fail(str(exc))
    except setup_error() as exc:  # CA or proxy settings that cannot work, found building the fleet
        return fail(exc.message)


def config_errors() -> tuple[type[Exception], ...]:
    """What a config, or ``--timezone``, gets wrong. Imported when one is raised (an except
    clause is evaluated then): the config's module imports pydantic, which a returning user's
    first frame does not wait for."""
    from cuadra_top.config import ConfigError
    from cuadra_top.display_time import UnknownZone

    return ConfigError, UnknownZone


def setup_error() -> type[Exception]:
    from cuadra_top.api.errors import SetupError

    return SetupError


def config_command(args: argparse.Namespace) -> int:
    import asyncio  # here, not at start-up: `status` must not pay for it

    from cuadra_top.config import check_credentials, load_config, render_masked, resolve_path

    if args.action == "path":
        path, _ = resolve_path(args.config, os.environ)
        say(path)
        return exit_codes.OK
    loaded = load_config(args.config, os.environ)
    for warning in loaded.warnings:
        say(warning, sys.stderr)
    check_credentials(loaded, os.environ)  # every org's: this is the command that checks them all
    if args.action == "show":
        sys.stdout.write(render_masked(loaded, encoding=sys.stdout.encoding))
        return exit_codes.OK
    if not loaded.orgs:
        return fail(NO_ORGS.format(path=loaded.path or resolve_path(args.config, os.environ)[0]))
    where = loaded.path or "the environment"
    channels = ""
    if loaded.settings.notify:  # apprise checks every URL: the one command that loads it to check
        from cuadra_top.notify.channels import resolve_strictly

        targets = asyncio.run(resolve_strictly(loaded.settings, os.environ, where))
        channels = f"; {len(loaded.settings.notify)} notify channel(s), {len(targets)} URL(s)"
    say(f"ok: {where}: {len(loaded.orgs)} org(s): {', '.join(o.name for o in loaded.orgs)}{channels}")
    return exit_codes.OK


def notify_command(args: argparse.Namespace) -> int:
    """``notify test``: a test notice to each channel, and what each one answered."""
    import asyncio  # here, not at start-up: `status` must not pay for it

    from cuadra_top.config import load_config, resolve_path
    from cuadra_top.notify.service import send_trials
    from cuadra_top.redaction import redact

    loaded = load_config(args.config, os.environ)
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    where = loaded.path or resolve_path(args.config, os.environ)[0]
    channels = loaded.settings.notify
    if not channels:
        return fail(f"{where}: no [[notify]] channels; add one (see the README, section Notifications)")
    if args.channel is not None and args.channel > len(channels):
        return fail(f"{where}: no [[notify]] #{args.channel}; there are {len(channels)} channel(s)")
    numbers = [args.channel] if args.channel is not None else None
    outcomes = asyncio.run(send_trials(loaded.settings, os.environ, where, numbers=numbers))
    for outcome in outcomes:
        print(redact(f"{outcome.target.label}: {'sent' if outcome.ok else f'FAILED: {outcome.error}'}"))
    failed = sum(not outcome.ok for outcome in outcomes)
    if failed:
        print(f"cuadra-top: {failed} of {len(outcomes)} failed", file=sys.stderr)
    return exit_codes.FAILED if failed else exit_codes.OK


def run_configured(args: argparse.Namespace) -> int:
    first = run_first_start(args)
    if first is not None:
        return first
    from cuadra_top.config import load_config, resolve_path

    loaded = load_config(args.config, os.environ)
    for warning in loaded.warnings:
        say(warning, sys.stderr)
    if not loaded.orgs and not (args.org is None and not args.once and interactive_terminal()):
        return fail(NO_ORGS.format(path=resolve_path(args.config, os.environ)[0]))
    return run_loaded(args, loaded)  # no orgs in a terminal: the TUI opens on Add organization


def run_first_start(args: argparse.Namespace) -> int | None:
    """The TUI of a returning user, its first frame drawn from the history before the config
    is loaded in full (see :mod:`cuadra_top.tui.first_start`); None when that cannot be done
    (another command, no terminal, nothing stored, a config only the full loader reads)."""
    if args.command is not None or args.once or args.no_history or args.web_session or not interactive_terminal():
        return None
    from cuadra_top.tui.first_start import glance

    seen = glance(args.config, args.org, os.environ)
    if seen is None:
        return None
    from cuadra_top.tui.app import StartFailed
    from cuadra_top.tui.run import run_tui_first

    warnings: list[str] = []

    def prepare():
        """What the full start checks, as the first frame stands (said after it, in one line)."""
        from cuadra_top.config import check_credentials, load_config, resolve_path

        try:
            loaded = load_config(args.config, os.environ)
            warnings.extend(loaded.warnings)
            names = [org.name for org in loaded.orgs]
            if not names:
                raise StartFailed(NO_ORGS.format(path=resolve_path(args.config, os.environ)[0]), exit_codes.USAGE)
            if args.org and args.org not in names:
                raise StartFailed(f"no org named {args.org!r}; configured: {', '.join(names)}", exit_codes.USAGE)
            zone = use_display_zone(args, loaded.settings, say_problem=False)  # the app shows it
            if zone.problem:
                warnings.append(f"cuadra-top: warning: {zone.problem}")
            check_credentials(loaded, os.environ, names)
            return tui_options(args, loaded, make_trends(args, loaded, open_later=True)), loaded.warnings
        except config_errors() as exc:
            raise StartFailed(str(exc), exit_codes.USAGE) from None
        except setup_error() as exc:
            raise StartFailed(exc.message, exit_codes.USAGE) from None

    try:
        return run_tui_first(seen, prepare, theme=args.theme, mouse=not args.no_mouse)
    except StartFailed as failed:
        return fail(str(failed), failed.code)
    finally:
        for warning in warnings:  # where the screen does not hide them, as when said before it
            say(warning, sys.stderr)


def interactive_terminal() -> bool:
    """Someone at a terminal (stdin and stdout), who can fill in the Add organization screen."""
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def run_demo(args: argparse.Namespace) -> int:
    from cuadra_top.demo import demo_config, start_demo

    sim = start_demo()
    try:
        with tempfile.TemporaryDirectory(prefix="cuadra-top-demo-") as scratch:  # the demo's own history
            args.demo_history = Path(scratch) / "history.sqlite3"
            return run_loaded(args, demo_config(sim), demo_sim=sim)
    finally:
        sim.stop()


def run_shared_demo(args: argparse.Namespace) -> int:
    """A session of ``cuadra-top --demo web``: the demo of the simulator the web server runs."""
    from cuadra_top.demo import SharedDemo, join_demo

    try:
        shared = SharedDemo.parse(args.demo_shared)
    except ValueError as exc:
        return fail(f"--demo-shared: {exc}")
    loaded, model = join_demo(shared)
    with tempfile.TemporaryDirectory(prefix="cuadra-top-demo-") as scratch:  # this session's own history
        args.demo_history = Path(scratch) / "history.sqlite3"
        return run_loaded(args, loaded, demo_sim=model)


def run_loaded(args: argparse.Namespace, loaded, demo_sim=None) -> int:
    from cuadra_top.config import check_credentials

    use_display_zone(args, loaded.settings)
    if args.command == "exporter":
        return exporter(args, loaded, demo_sim)
    if args.command == "web":
        return web(args, loaded)
    names = [org.name for org in loaded.orgs]
    if args.org and args.org not in names:
        return fail(f"no org named {args.org!r}; configured: {', '.join(names)}")
    chosen = [args.org] if args.org and (args.once or args.command == "watch") else names
    check_credentials(loaded, os.environ, chosen)  # only the orgs this run polls need theirs
    if args.command == "watch":
        return watch(args, loaded, demo_sim)
    trends = make_trends(args, loaded, demo_sim, open_later=not args.once)
    if args.once:
        return once(args, loaded, chosen, trends)
    from cuadra_top.tui.run import run_tui

    return run_tui(tui_options(args, loaded, trends))


def tui_options(args: argparse.Namespace, loaded, trends):
    """What the command line decides about one run of the TUI."""
    from cuadra_top.tui.options import TuiOptions

    return TuiOptions(
        loaded.settings,
        environ=os.environ,
        config_path=loaded.path if loaded.source == "file" else None,
        start_org=args.org,
        interval=args.interval,
        theme=args.theme,
        persist_theme=args.theme is None and not args.web_session,
        trends=trends,
        reload_org=org_reloader(loaded),
        mouse=not args.no_mouse,
        config_target=None if args.web_session else config_target(args, loaded),
    )


def use_display_zone(args: argparse.Namespace, settings, *, say_problem: bool = True):
    """Times for people in ``--timezone``, else the config's ``timezone``, else ``TZ``, else
    the system's zone: set once, for the whole run (the TUI, --once, history)."""
    from cuadra_top.display_time import resolve_zone, set_display_zone

    zone = resolve_zone(args.timezone, settings.timezone, os.environ)
    if zone.problem and say_problem:
        say(f"cuadra-top: warning: {zone.problem}", sys.stderr)
    set_display_zone(zone)
    return zone


def history_command(args: argparse.Namespace) -> int:
    """``cuadra-top history``: reads the local history only (no credentials, no network)."""
    from cuadra_top.clock import utc_now
    from cuadra_top.config import load_settings
    from cuadra_top.history_cmd import HistoryError, HistoryRequest, run_history
    from cuadra_top.state.history import default_history_path

    if args.demo:
        return fail("the demo keeps no history; drop --demo to read the one the monitor records")
    settings = load_settings(args.config, os.environ)
    zone = use_display_zone(args, settings)
    request = HistoryRequest(
        path=default_history_path(), zone=zone, now=utc_now(), org=args.org, since=args.since, until=args.until,
        daily=args.daily, format=args.format, recording_off=not settings.history,
    )
    try:
        return run_history(request, sys.stdout, lambda warning: print(f"cuadra-top: warning: {warning}",
                                                                      file=sys.stderr))
    except HistoryError as exc:
        return fail(exc.message, exc.code)


def config_target(args: argparse.Namespace, loaded):
    """Where the TUI's Add organization writes: the config file, existing or not. Not for the
    demo, nor when the org comes from the environment (a new file would hide that org)."""
    if loaded.source not in ("file", "none"):
        return None
    from cuadra_top.config import resolve_path

    return loaded.path or resolve_path(args.config, os.environ)[0]


def org_reloader(loaded):
    """For ``r`` on an org stopped by a credential error: its table read afresh from the file."""
    if loaded.source != "file" or loaded.path is None:
        return None
    from functools import partial

    from cuadra_top.config import reload_org

    return partial(reload_org, loaded.path, environ=os.environ)


def make_trends(args: argparse.Namespace, loaded, demo_sim=None, *, open_later: bool = False):
    """The user's history, or none (``--no-history``, ``history = false``, the demo); the demo
    gets a day of samples walked back from its orgs' burn rates instead."""
    from cuadra_top.clock import utc_now
    from cuadra_top.state.trends import open_trends

    use_history = loaded.source != "demo" and not args.no_history and loaded.settings.history
    trends = open_trends(use_history, utc_now, open_later=open_later)
    for warning in trends.warnings:
        say(f"cuadra-top: warning: {warning}", sys.stderr)
    if demo_sim is not None and getattr(args, "demo_history", None) is not None and not args.once:
        from cuadra_top.demo import seed_history
        from cuadra_top.state.history import History
        from cuadra_top.state.trends import Trends

        # Its own history in a temporary directory, seeded with a period and a half: the
        # History tab and the forecast have something to show at once; nothing of the user's.
        base_url = loaded.orgs[0].api_url if loaded.orgs else ""
        return Trends(History(seed_history(args.demo_history, demo_sim, base_url, utc_now())), utc_now)
    if demo_sim is not None:
        from cuadra_top.demo import backfill

        backfill(trends, demo_sim, utc_now())
    elif not use_history:
        return None  # no history: no forecast, no last good data (``--json`` says null)
    return trends


def once(args: argparse.Namespace, loaded, names: list[str], trends) -> int:
    import asyncio

    from cuadra_top.once import run_once
    from cuadra_top.state.fleet import Fleet

    warned = len(trends.warnings) if trends is not None else 0  # make_trends printed those
    resume_gc()  # start-up is over: the fetches are the work

    async def go() -> tuple[str, int]:
        targets = await notify_targets(loaded) if args.notify else None  # a bad channel: exit 2 first
        alerts: list | None = [] if targets is not None else None
        async with Fleet.from_settings(loaded.settings, os.environ, names=names) as fleet:
            text, code = await run_once(fleet, names, as_json=args.json, settings=loaded.settings, trends=trends,
                                        check_mode=args.check, alerts=alerts,
                                        encoding=sys.stdout.encoding)
        if targets is not None and alerts is not None:
            from cuadra_top.notify.service import deliver_once

            summary = await deliver_once(alerts, targets, on_report=print_report)
            if summary.undelivered:
                print(f"cuadra-top: {summary.undelivered} notice(s) not delivered in time", file=sys.stderr)
            if not summary.ok and code == exit_codes.OK and not args.check:
                code = exit_codes.FAILED
        return text, code

    try:
        text, code = asyncio.run(go())
    finally:
        if trends is not None:
            trends.close()
            for warning in trends.warnings[warned:]:  # what the run itself ran into (a sample not stored)
                say(f"cuadra-top: warning: {warning}", sys.stderr)
    sys.stdout.write(text)
    return code


def exporter(args: argparse.Namespace, loaded, demo_sim=None) -> int:
    """``cuadra-top exporter``: poll every org, serve /metrics until SIGTERM (SIGHUP reloads)."""

    from cuadra_top.config import ConfigError, check_credentials, load_config
    from cuadra_top.exporter.run import ExporterOptions, ExporterService, ListenError
    from cuadra_top.listen import DEFAULT_HOST, EXPORTER_PORT, Listen
    from cuadra_top.webconfig import WebConfigError
    from cuadra_top.state.monitor import Monitor

    if args.org:
        return fail("the exporter serves every org of its config; drop --org (shard a fleet with one config "
                    "per exporter)")
    check_credentials(loaded, os.environ)

    def monitor_for(config) -> Monitor:
        trends = make_trends(args, config, demo_sim, open_later=True)
        return Monitor(config.settings, None, trends, environ=os.environ, interval=args.interval,
                       reload_org=org_reloader(config), judge_alerts=False)

    def reload():
        fresh = load_config(args.config, os.environ)
        for warning in fresh.warnings:
            print(warning, file=sys.stderr)
        if not fresh.orgs:
            raise ConfigError("the config now has no organizations; keeping the previous ones")
        check_credentials(fresh, os.environ)
        return fresh

    from pathlib import Path

    options = ExporterOptions(
        loaded, args.listen or Listen(DEFAULT_HOST, EXPORTER_PORT), monitor_for,
        web_config=Path(args.web_config_file) if args.web_config_file else None,
        reload=reload if loaded.source == "file" else None,
    )
    return serve(lambda: ExporterService(options), WebConfigError, ListenError)


def serve(build, refused, failed) -> int:
    """A server of ours (the exporter, web) until SIGTERM or SIGINT: ``build`` it (``refused``:
    a one-line error, e.g. its web config), then run it (``failed``: a one-line error, e.g. a
    busy port)."""
    import asyncio  # here, not at start-up: `status` must not pay for it

    try:
        service = build()
    except refused as exc:
        return fail(str(exc))
    resume_gc()  # a daemon: start-up is over
    try:
        asyncio.run(service.run_until_signalled())
    except failed as exc:
        return fail(str(exc))
    return exit_codes.OK


def web(args: argparse.Namespace, loaded) -> int:
    """``cuadra-top web``: serve the TUI to browsers until SIGTERM; each tab runs
    ``cuadra-top --web-session`` with this run's config and options."""
    from pathlib import Path

    from cuadra_top.config import check_credentials
    from cuadra_top.listen import DEFAULT_HOST, WEB_PORT, Listen
    from cuadra_top.web.run import DEFAULT_MAX_SESSIONS, WebError, WebOptions, WebService
    from cuadra_top.webconfig import WebConfigError

    names = [org.name for org in loaded.orgs]
    if args.org and args.org not in names:
        return fail(f"no org named {args.org!r}; configured: {', '.join(names)}")
    if not names:  # nobody adds an org from a browser: it would write this machine's config
        from cuadra_top.config import resolve_path

        return fail(NO_ORGS.format(path=resolve_path(args.config, os.environ)[0]))
    check_credentials(loaded, os.environ)  # a missing secret fails here, not in every tab
    sim = None
    argv = [sys.executable, "-m", "cuadra_top", "--web-session", *session_options(args, loaded)]
    if loaded.source == "demo":
        from cuadra_top.demo import start_shared_demo

        sim, shared = start_shared_demo()
        argv += ["--demo-shared", str(shared)]
    try:
        options = WebOptions(
            args.listen or Listen(DEFAULT_HOST, WEB_PORT), argv,
            web_config=Path(args.web_config_file) if args.web_config_file else None,
            max_sessions=args.max_sessions or DEFAULT_MAX_SESSIONS, public_url=args.public_url,
            insecure_no_auth=args.insecure_no_auth,
            what="the demo" if sim is not None else f"{len(names)} org(s)",
        )
        return serve(lambda: WebService(options), (WebConfigError, WebError), WebError)
    finally:
        if sim is not None:
            sim.stop()


def session_options(args: argparse.Namespace, loaded) -> list[str]:
    """What a browser session's TUI is told: this run's config file and options."""
    from pathlib import Path

    options = []
    if loaded.source == "file" and loaded.path is not None:
        options += ["--config", str(Path(loaded.path).resolve())]
    for flag, value in (("--interval", args.interval), ("--theme", args.theme), ("--timezone", args.timezone),
                        ("--org", args.org)):
        if value is not None:
            options += [flag, str(value)]
    for flag, on in (("--no-history", args.no_history), ("--no-mouse", args.no_mouse)):
        if on:
            options.append(flag)
    return options


async def notify_targets(loaded) -> list:
    """The run's delivery targets, every URL checked; a ConfigError when there are none."""
    from cuadra_top.config import ConfigError
    from cuadra_top.notify.channels import resolve_strictly

    where = loaded.path or "the environment"
    if not loaded.settings.notify:
        raise ConfigError(f"{where}: --notify, but no [[notify]] channels; add one (see the README, "
                          "section Notifications) or drop --notify")
    return await resolve_strictly(loaded.settings, os.environ, where)


def print_report(report) -> None:
    """A channel that fails (once) or works again, on stderr."""
    print(f"cuadra-top: {report.message}", file=sys.stderr, flush=True)


def watch(args: argparse.Namespace, loaded, demo_sim=None) -> int:
    """``watch``: the monitor without a screen, until SIGTERM or SIGINT."""
    import asyncio  # here, not at start-up: `status` must not pay for it

    from cuadra_top.watch import run_watch

    trends = make_trends(args, loaded, demo_sim, open_later=True)
    resume_gc()  # start-up is over
    where = loaded.path or "the environment"
    return asyncio.run(run_watch(loaded.settings, os.environ, where, trends=trends, interval=args.interval,
                                 names=[args.org] if args.org else None, as_json=args.watch_json))


def simulate(port: int, seed: int | None) -> int:
    from cuadra_top.simulator import Simulator

    try:
        sim = Simulator(port=port, seed=seed).start()
    except OSError as exc:
        return fail(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); try --port 0")
    print(f"Cuadra API simulator on {sim.base_url}")
    print(f"  usage:  GET  {sim.base_url}/v1/usage")
    print(f"  tokens: POST {sim.auth_url}")
    print("demo credentials (simulated, not secrets):")
    for org in sim.orgs.values():
        line = f"  {org.name:<20} token={org.token}"
        if org.client_id:
            line += f"  client_id={org.client_id} client_secret={org.client_secret}"
        print(line)
    print(f"try: CUADRA_API_URL={sim.base_url} CUADRA_TOKEN={next(iter(sim.orgs.values())).token} cuadra-top --once")
    print("Ctrl-C stops it.", flush=True)
    try:
        import threading

        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return exit_codes.OK
