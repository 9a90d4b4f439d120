"""``cuadra-top auth login | status | logout``: the command-line face of :mod:`onboarding`.

Only the parser is built at import: the work (pydantic, httpx, keyring) is imported when an
``auth`` command runs, so every other command's start-up never pays for it.

``login`` asks for what it is not given (in a terminal; the secret without echo) or takes it
all from flags and the secret from stdin (``--with-token``, ``--with-secret``), checks the
credential live, and only then keeps the secret and writes the ``[[org]]`` table. Prompts and
progress go to stderr, results to stdout. Exit codes: 0 done, 1 the live check failed (or,
for ``status``, an org does not work), 2 a usage or config mistake; nothing is saved unless
everything worked.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cuadra_top import exit_codes
from cuadra_top.clock import iso_utc
from cuadra_top.redaction import redact

if TYPE_CHECKING:
    from cuadra_top.onboarding import NewOrg

MAX_SECRET_BYTES = 64 * 1024


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``auth`` command and its three actions (dests prefixed: the top level has --org)."""
    auth = commands.add_parser("auth", help="log in to an org, check credentials, log out")
    actions = auth.add_subparsers(dest="auth_action", metavar="ACTION", required=True)
    login = actions.add_parser(
        "login", help="add an org: check its credential live, keep the secret, write the config",
        description="Add an organization. In a terminal it asks for what the flags leave out; in a script, "
                    "give --name and the secret on stdin (--with-token or --with-secret). The secret goes "
                    "into the OS keyring; where there is none, choose --token-env/--secret-env, "
                    "--token-command or --insecure-storage.")
    login.add_argument("--name", help="the org's display name in cuadra-top")
    login.add_argument("--api-url", help="API base URL (default https://api.cuadra.ai)")
    login.add_argument("--client-id", help="OAuth client ID (client credentials; recommended for tools)")
    login.add_argument("--token-url", help="OAuth token URL (default https://auth.cuadra.ai/v1/oauth2/token)")
    login.add_argument("--with-token", action="store_true", help="read a bearer token from stdin")
    login.add_argument("--with-secret", action="store_true", help="read the client secret from stdin")
    login.add_argument("--token-env", metavar="VAR", help="the token is in this environment variable (kept there)")
    login.add_argument("--secret-env", metavar="VAR",
                       help="the client secret is in this environment variable (kept there)")
    login.add_argument("--token-command", metavar="CMD", help="this command prints the token (kept as the source)")
    login.add_argument("--insecure-storage", action="store_true",
                       help="write the secret into the config file (mode 0600) instead of the OS keyring")
    login.add_argument("--replace", action="store_true", help="replace the credential of an org of that name")
    status = actions.add_parser("status", help="per org: where its credential comes from, and whether it works now")
    status.add_argument("--org", dest="auth_org", metavar="NAME", help="only this org")
    status.add_argument("--json", dest="auth_json", action="store_true", help="JSON instead of text")
    logout = actions.add_parser("logout", help="remove an org from the config, and its secret from the keyring")
    logout.add_argument("auth_name", metavar="NAME", help="the org to remove")
    for action in (login, status, logout):  # after the action too, where people type it
        action.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                            help="config file (default: see `cuadra-top config path`)")


def run(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> int:
    """Dispatch ``auth ACTION``; a LoginError is one line on stderr."""
    from cuadra_top.onboarding import LoginError

    try:
        if args.auth_action == "login":
            return login(args, environ)
        if args.auth_action == "status":
            return status(args, environ)
        return logout(args, environ)
    except LoginError as exc:
        print(f"cuadra-top: {exc.message}", file=sys.stderr)
        return exit_codes.USAGE if exc.usage else exit_codes.FAILED


# -- login ------------------------------------------------------------------------------------


class Prompter:
    """Questions on the terminal: answers by ``input``, the secret by ``getpass`` (no echo)."""

    def __init__(self, ask: Callable[[str], str] = input, secret: Callable[[str], str] | None = None,
                 out: TextIO | None = None) -> None:
        if secret is None:
            import getpass

            secret = getpass.getpass
        self._ask, self._secret = ask, secret
        self.out = out or sys.stderr

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def ask(self, question: str, default: str | None = None) -> str:
        while True:
            self.out.write(f"{question}{f' [{default}]' if default else ''}: ")
            self.out.flush()
            answer = self._ask("").strip()
            if answer or default is not None:
                return answer or (default or "")
            self.say("  (an answer is needed; Ctrl-C stops without saving anything)")

    def choose(self, question: str, options: list[tuple[str, str]], default: str) -> str:
        """One of ``options`` (key, label) by its number or key."""
        for number, (_, label) in enumerate(options, 1):
            self.say(f"  {number}) {label}")
        keys = [key for key, _ in options]
        while True:
            answer = self.ask(question, str(keys.index(default) + 1)).lower()
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return keys[int(answer) - 1]
            if answer in keys:
                return answer
            self.say(f"  choose 1 to {len(options)}")

    def secret(self, question: str) -> str:
        while True:
            value = self._secret(f"{question} (input is not shown): ")
            if value.strip():
                return value.strip()
            self.say("  (nothing was entered; Ctrl-C stops without saving anything)")


def config_target(args: argparse.Namespace, environ: Mapping[str, str]) -> Path:
    from cuadra_top.config import resolve_path

    return resolve_path(args.config, environ)[0]


def login(args: argparse.Namespace, environ: Mapping[str, str], prompter: Prompter | None = None,
          stdin: TextIO | None = None) -> int:
    """Add one org; ``prompter`` (tests) answers as a terminal would, else stdin's terminal does."""
    import asyncio

    from cuadra_top.onboarding import save, settings_at, verify

    stdin = stdin or sys.stdin
    path = config_target(args, environ)
    settings = settings_at(path, environ)  # an existing config must be valid before it is changed
    piped = args.with_token or args.with_secret
    interactive = prompter is not None or (not piped and _is_terminal(stdin))
    prompter = prompter or Prompter()
    new = describe_new_org(args, settings, environ, prompter if interactive else None, stdin)
    prompter.say(f"checking {new.name} at {new.api_url} ...")
    checked_with, checked = asyncio.run(verify(new, settings, environ))
    print(f"ok: {new.name}: {checked.summary()}")
    save(new, path)
    where = {"keyring": "the secret is in the OS keyring",
             "config": f"the secret is in {path} (mode 0600)",
             "env": f"the secret stays in ${new.env_name}",
             "command": "the token comes from token_command"}[new.storage]
    print(f"saved: org {new.name!r} in {path}; {where}")
    if not settings.org and (environ.get("CUADRA_TOKEN", "").strip() or environ.get("CUADRA_CLIENT_ID", "").strip()):
        print("note: with a config file, the environment's credential no longer makes the org 'default'; "
              "keep it with: cuadra-top auth login --name default --token-env CUADRA_TOKEN", file=sys.stderr)
    return exit_codes.OK


def describe_new_org(args: argparse.Namespace, settings, environ: Mapping[str, str], prompter: Prompter | None,
                     stdin: TextIO) -> NewOrg:
    """The new org from the flags, asking for the rest when ``prompter`` (a terminal)."""
    from cuadra_top.api.auth import DEFAULT_TOKEN_URL
    from cuadra_top.api.client import DEFAULT_API_URL
    from cuadra_top.onboarding import LoginError, NewOrg

    _check_flags(args)
    taken = {org.name for org in settings.org}
    name = args.name
    if name is None:
        if prompter is None:
            raise LoginError("give --name (the secret comes on stdin with --with-token or --with-secret)", usage=True)
        name = prompter.ask("Organization name (as cuadra-top shows it)")
    replace = bool(args.replace)
    if name in taken and not replace:
        if prompter is None or prompter.ask(f"{name!r} is already configured; replace its credential? (y/N)",
                                            "n").lower() not in ("y", "yes"):
            raise LoginError(f"an org named {name!r} is already configured; choose another --name, "
                             "or pass --replace", usage=True)
        replace = True
    api_url = args.api_url or (prompter.ask("API URL", DEFAULT_API_URL) if prompter else DEFAULT_API_URL)
    kind = "client" if args.client_id or args.with_secret or args.secret_env else (
        "token" if args.with_token or args.token_env or args.token_command else None)
    if kind is None:
        if prompter is None:
            raise LoginError("give the secret on stdin with --with-token (a bearer token) or --with-secret "
                             "(with --client-id), or name its source with --token-env, --secret-env or "
                             "--token-command", usage=True)
        kind = prompter.choose("Credential", [("client", "OAuth client credentials (recommended for tools)"),
                                              ("token", "a bearer token")], "client")
    new = NewOrg(name=name, api_url=api_url.strip(), kind=kind, replace=replace)  # type: ignore[arg-type]
    if kind == "client":
        new.client_id = args.client_id or (prompter.ask("Client ID") if prompter else None)
        if not new.client_id:
            raise LoginError("--with-secret needs --client-id", usage=True)
        new.token_url = args.token_url or environ.get("CUADRA_AUTH_URL") or (
            prompter.ask("OAuth token URL", DEFAULT_TOKEN_URL)
            if prompter and new.api_url.rstrip("/") != DEFAULT_API_URL else None)
    choose_storage(new, args, environ, prompter, stdin)
    return new


def choose_storage(new: NewOrg, args: argparse.Namespace, environ: Mapping[str, str], prompter: Prompter | None,
                   stdin: TextIO) -> None:
    """Where the secret comes from now and where it is kept: as the flags say, else the keyring
    when it works, else the user picks one of the other ways (never a silent fallback)."""
    from pydantic import SecretStr

    from cuadra_top.onboarding import KEYRING_FALLBACKS, LoginError, keyring_problem

    what = "client secret" if new.kind == "client" else "token"
    if args.token_env or args.secret_env:
        new.storage, new.env_name = "env", args.token_env or args.secret_env
        return
    if args.token_command:
        new.storage, new.command = "command", args.token_command
        return
    if args.insecure_storage:
        new.storage = "config"
    else:
        problem = keyring_problem()
        if problem is None:
            new.storage = "keyring"
        elif prompter is None:
            raise LoginError(f"{problem}; {KEYRING_FALLBACKS} (nothing was saved)", usage=True)
        else:
            prompter.say(f"The {what} cannot go into the OS keyring: {problem}.")
            options = [("env", f"an environment variable holds it (the config names the variable)"),
                       *([("command", "a command prints it (a password manager, say)")] if new.kind == "token" else []),
                       ("config", "write it into the config file, readable only by you (mode 0600)")]
            new.storage = prompter.choose("Where should it come from", options, "env")  # type: ignore[assignment]
            if new.storage == "env":
                new.env_name = prompter.ask("Environment variable name")
                return
            if new.storage == "command":
                new.command = prompter.ask("Command that prints the token")
                return
    if args.with_token or args.with_secret:
        new.secret = SecretStr(read_secret(stdin, what))
    elif prompter is not None:
        new.secret = SecretStr(prompter.secret("Client secret" if new.kind == "client" else "Token"))
    else:
        raise LoginError(f"give the {what} on stdin with {'--with-secret' if new.kind == 'client' else '--with-token'}",
                         usage=True)


def read_secret(stdin: TextIO, what: str) -> str:
    """The secret piped on stdin: its one line, less the newline (``echo``, files end with one)."""
    from cuadra_top.api.auth import without_trailing_newline
    from cuadra_top.onboarding import LoginError

    if _is_terminal(stdin):
        raise LoginError(f"--with-{'secret' if what == 'client secret' else 'token'} reads the {what} from stdin; "
                         "pipe it in (e.g. from a password manager), or leave the flag out to be asked", usage=True)
    data = stdin.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        raise LoginError(f"stdin holds more than {MAX_SECRET_BYTES // 1024} KiB; pipe only the {what}", usage=True)
    value = without_trailing_newline(data)
    if not value.strip():
        raise LoginError(f"stdin was empty; pipe the {what} into cuadra-top auth login", usage=True)
    return value


def _check_flags(args: argparse.Namespace) -> None:
    from cuadra_top.onboarding import LoginError

    sources = [flag for flag, given in (("--with-token", args.with_token), ("--with-secret", args.with_secret),
                                        ("--token-env", args.token_env), ("--secret-env", args.secret_env),
                                        ("--token-command", args.token_command)) if given]
    if len(sources) > 1:
        raise LoginError(f"give one source of the secret, not {' and '.join(sources)}", usage=True)
    if args.client_id and (args.with_token or args.token_env or args.token_command):
        raise LoginError(f"{sources[0]} is for a bearer token; with --client-id use --with-secret or --secret-env",
                         usage=True)
    if args.insecure_storage and (args.token_env or args.secret_env or args.token_command):
        raise LoginError("--insecure-storage writes the secret itself; it does not go with "
                         f"{sources[0]}", usage=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- status -----------------------------------------------------------------------------------


def status(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    import json

    from cuadra_top.config import load_config
    from cuadra_top.onboarding import LoginError, check_org, credential_source

    loaded = load_config(args.config, environ)
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    orgs = loaded.orgs
    if args.auth_org:
        orgs = [org for org in orgs if org.name == args.auth_org]
        if not orgs:
            names = ", ".join(o.name for o in loaded.orgs) or "none"
            raise LoginError(f"no org named {args.auth_org!r}; configured: {names}", usage=True)
    if not orgs:
        raise LoginError(f"no organizations configured; add one with: cuadra-top auth login "
                         f"(the config goes to {loaded.path or config_target(args, environ)})", usage=True)

    async def check_all():
        return await asyncio.gather(*(check_org(org, loaded.settings, environ) for org in orgs))

    results = asyncio.run(check_all())
    rows = []
    for org, checked in zip(orgs, results):
        source = credential_source(org, environ)
        usage = checked.fetched.usage if checked.fetched else None
        rows.append({
            "name": org.name,
            "api_url": org.api_url,
            "credential": {"kind": source.kind, "source": source.where, **source.detail},
            "ok": checked.ok,
            "plan": {"tier": usage.plan.tier, "name": usage.plan.name} if usage else None,
            "admin": checked.admin if usage else None,
            "access_token_expires_at": iso_utc(checked.expires_at),
            "error": checked.error.as_dict() if checked.error else None,
        })
        rows[-1]["_source"] = str(source)
        rows[-1]["_summary"] = checked.summary()
    if args.auth_json:
        clean = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
        sys.stdout.write(redact(json.dumps({"orgs": clean}, indent=2)) + "\n")
    else:
        lines = []
        for row in rows:
            mark = "ok" if row["ok"] else "FAILED"
            lines.append(f"{row['name']}: {mark}")
            lines.append(f"  credential: {row['_source']}")
            lines.append(f"  api: {row['api_url']}")
            if row["ok"]:
                lines.append(f"  sees: {row['_summary']}")
            else:
                lines.append(f"  error: {row['error']['message']}")
            if row["access_token_expires_at"]:
                lines.append(f"  access token expires: {row['access_token_expires_at']}")
        sys.stdout.write(redact("\n".join(lines)) + "\n")
    return exit_codes.OK if all(row["ok"] for row in rows) else exit_codes.FAILED


# -- logout -----------------------------------------------------------------------------------


def logout(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from cuadra_top.onboarding import remove_org

    path = config_target(args, environ)
    org = remove_org(path, args.auth_name)
    kept = " and its secret from the OS keyring" if org.token_keyring or org.client_secret_keyring else ""
    print(f"removed org {org.name!r} from {path}{kept}")
    if org.token_env or org.client_secret_env or org.token_command:
        source = f"${org.token_env or org.client_secret_env}" if not org.token_command else "its token_command"
        print(f"note: the secret itself ({source}) is untouched; revoke it in the Cuadra dashboard if it is no "
              "longer needed")
    return exit_codes.OK


