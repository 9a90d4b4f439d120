"""Command line: parse arguments, load the config, and hand over to the TUI or a one-shot mode.

The rule here: nothing the user does produces a traceback. Config and usage errors print one
line and exit 2; fetch failures are per org and exit 1; secrets are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cuadra_top import __version__, exit_codes
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

examples:
  cuadra-top --demo                    try it on simulated organizations
  cuadra-top --once                    one line per org, for scripts
  cuadra-top --once --json --org acme  the raw usage of one org as JSON

environment:
  CUADRA_TOP_CONFIG   config file path (like --config)
  CUADRA_TOKEN        bearer token when there is no config file (org "default")
  CUADRA_CLIENT_ID, CUADRA_CLIENT_SECRET
                      OAuth client credentials instead of a token
  CUADRA_API_URL      API base URL for the "default" org
  CUADRA_AUTH_URL     OAuth token URL
  NO_COLOR            no colours in the TUI

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


def build_parser() -> argparse.ArgumentParser:
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
    parser.add_argument("--org", metavar="NAME", help="only this org (--once), or start on it (TUI)")
    parser.add_argument("--interval", metavar="SECONDS", type=positive_seconds,
                        help="refresh interval for this run (overrides refresh_interval)")
    parser.add_argument("--theme", metavar="NAME", help="theme for this run (overrides the config)")
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    parser.add_argument("--log", metavar="FILE", help="write a debug log (secrets redacted) to FILE")
    parser.add_argument("--no-history", action="store_true", help="do not record or read the local usage history")

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
    return parser


def fail(message: str, code: int = exit_codes.USAGE) -> int:
    print(f"cuadra-top: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    pause_gc()
    try:
        return _main(argv)
    finally:
        resume_gc()


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
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
    except Exception as exc:  # the promise: no traceback ever reaches the user
        from cuadra_top.debuglog import logger

        logger("cli").exception("internal error")
        return fail(f"internal error ({type(exc).__name__}); please report it, with --log FILE output",
                    exit_codes.FAILED)


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "status":  # first: its usual path must not import the config's pydantic
        from cuadra_top import status_line

        return status_line.main(args.config, args.status_org, args.status_format, os.environ)
    from cuadra_top.api.errors import SetupError
    from cuadra_top.config import ConfigError

    if args.check:
        args.once = True
    if args.json and not args.once:
        return fail("--json goes with --once")
    if args.json and args.check:
        return fail("--check prints one status line; drop --json")
    if args.command == "simulate":
        return simulate(args.port, args.seed)
    try:
        if args.command == "config":
            return config_command(args)
        if args.command == "auth":
            from cuadra_top import auth_cli

            return auth_cli.run(args, os.environ)
        if args.demo:
            return run_demo(args)
        return run_configured(args)
    except ConfigError as exc:
        if args.check:
            # A monitoring plugin's contract: one line on stdout, UNKNOWN (Nagios reads 2 as CRITICAL).
            from cuadra_top.state.alerts import Level

            print(f"CUADRA UNKNOWN - config error: {exc}")
            return int(Level.UNKNOWN)
        return fail(str(exc))
    except SetupError as exc:  # CA or proxy settings that cannot work, found building the fleet
        return fail(exc.message)


def config_command(args: argparse.Namespace) -> int:
    from cuadra_top.config import check_credentials, load_config, render_masked, resolve_path

    if args.action == "path":
        path, _ = resolve_path(args.config, os.environ)
        print(path)
        return exit_codes.OK
    loaded = load_config(args.config, os.environ)
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    check_credentials(loaded, os.environ)  # every org's: this is the command that checks them all
    if args.action == "show":
        sys.stdout.write(render_masked(loaded))
        return exit_codes.OK
    if not loaded.orgs:
        return fail(NO_ORGS.format(path=loaded.path or resolve_path(args.config, os.environ)[0]))
    where = loaded.path or "the environment"
    print(f"ok: {where}: {len(loaded.orgs)} org(s): {', '.join(o.name for o in loaded.orgs)}")
    return exit_codes.OK


def run_configured(args: argparse.Namespace) -> int:
    from cuadra_top.config import load_config, resolve_path

    loaded = load_config(args.config, os.environ)
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    if not loaded.orgs and not (args.org is None and not args.once and interactive_terminal()):
        return fail(NO_ORGS.format(path=resolve_path(args.config, os.environ)[0]))
    return run_loaded(args, loaded)  # no orgs in a terminal: the TUI opens on Add organization


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
        return run_loaded(args, demo_config(sim), demo_sim=sim)
    finally:
        sim.stop()


def run_loaded(args: argparse.Namespace, loaded, demo_sim=None) -> int:
    from cuadra_top.config import check_credentials

    names = [org.name for org in loaded.orgs]
    if args.org and args.org not in names:
        return fail(f"no org named {args.org!r}; configured: {', '.join(names)}")
    chosen = [args.org] if args.org and args.once else names
    check_credentials(loaded, os.environ, chosen)  # only the orgs this run polls need theirs
    trends = make_trends(args, loaded, demo_sim, open_later=not args.once)
    if args.once:
        return once(args, loaded, chosen, trends)
    from cuadra_top.tui.options import TuiOptions
    from cuadra_top.tui.run import run_tui

    return run_tui(TuiOptions(
        loaded.settings,
        environ=os.environ,
        config_path=loaded.path if loaded.source == "file" else None,
        start_org=args.org,
        interval=args.interval,
        theme=args.theme,
        persist_theme=args.theme is None,
        trends=trends,
        reload_org=org_reloader(loaded),
        mouse=not args.no_mouse,
        config_target=config_target(args, loaded),
    ))


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
        print(f"cuadra-top: warning: {warning}", file=sys.stderr)
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
        async with Fleet.from_settings(loaded.settings, os.environ, names=names) as fleet:
            return await run_once(fleet, names, as_json=args.json, settings=loaded.settings, trends=trends,
                                  check_mode=args.check)

    try:
        text, code = asyncio.run(go())
    finally:
        if trends is not None:
            trends.close()
            for warning in trends.warnings[warned:]:  # what the run itself ran into (a sample not stored)
                print(f"cuadra-top: warning: {warning}", file=sys.stderr)
    sys.stdout.write(text)
    return code


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
