"""From ``[[notify]]`` tables to delivery targets: each apprise URL, wherever it comes from
(``urls``, ``urls_env``, ``urls_command``), checked by apprise and registered as a secret.

A target is one URL of one channel, so a channel with a Slack and an ntfy URL is delivered,
retried and reported per URL: a failing Slack never re-sends to ntfy. Every message names
the channel and the entry (``[[notify]] #2 ('ops') urls[1] (slack://********)``), never the
URL.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cuadra_top.api.command import CommandFailed, exit_problem, run_configured
from cuadra_top.config import URL_SHAPE, ConfigError, NotifyConfig, Settings, looks_like_env_name, masked_url
from cuadra_top.redaction import redact, remember_secret
from cuadra_top.state.alerts import SEVERITY, Level, Notice, NoticeKind

URLS_COMMAND_TIMEOUT = 10.0
MAX_URLS_OUTPUT = 64 * 1024
_SEPARATORS = re.compile(r"\s+|,(?=\s*[A-Za-z][A-Za-z0-9+.-]{0,31}://)")
"""Between URLs in ``urls_env`` and a command's output: whitespace, or a comma before the
next ``scheme://`` (a comma inside a URL, as in ``?to=a@x.org,b@y.org``, stays)."""


@dataclass(frozen=True)
class Target:
    """One apprise URL of one ``[[notify]]`` channel, and which notices it wants."""

    number: int
    """The channel's place among the ``[[notify]]`` tables, from 1 (``notify test --channel``)."""
    channel: str
    """``[[notify]] #2 ('ops')``."""
    entry: str
    """``urls[1]``, ``urls_env[1]``, ``urls_command[1]``."""
    url: str = field(repr=False)
    min_level: Level = Level.WARNING
    orgs: frozenset[str] | None = None
    recovered: bool = True

    @property
    def label(self) -> str:
        """How every message names it: the channel, the entry, the scheme (the rest masked)."""
        return f"{self.channel} {self.entry} ({masked_url(self.url)})"

    def wants(self, notice: Notice) -> bool:
        """A test always; else the org must be one of ``orgs`` and the level at least
        ``min_level`` (a recovery: the level it recovered from), recoveries if ``recovered``."""
        if notice.kind is NoticeKind.TEST:
            return True
        if self.orgs is not None and notice.org not in self.orgs:
            return False
        if notice.kind is NoticeKind.RECOVERED and not self.recovered:
            return False
        return SEVERITY.get(notice.level, 0) >= SEVERITY[self.min_level]


@dataclass
class Resolved:
    """The usable targets, and a one-line problem per URL or channel that is not."""

    targets: list[Target]
    problems: list[str]


def split_urls(text: str) -> list[str]:
    return [part for part in _SEPARATORS.split(text.strip()) if part]


async def resolve(
    settings: Settings,
    environ: Mapping[str, str],
    where: Path | str = "config",
    *,
    numbers: Collection[int] | None = None,
) -> Resolved:
    """The targets of every channel (or of ``numbers``), each URL checked by apprise (imported
    in a thread, so an event loop with a screen on it keeps answering)."""
    resolved = Resolved([], [])
    for number, channel in enumerate(settings.notify, 1):
        if numbers is not None and number not in numbers:
            continue
        label = channel.label(number)
        try:
            entries = await _urls_of(channel, environ)
        except ConfigError as exc:
            resolved.problems.append(redact(f"{where}: {label} {exc}"))
            continue
        for entry, url in entries:
            target = Target(number, label, entry, url, Level[channel.min_level.upper()],
                            frozenset(channel.orgs) if channel.orgs is not None else None, channel.recovered)
            problem = "is not an apprise URL (like slack://... or ntfys://...)" if not URL_SHAPE.fullmatch(url) \
                else await asyncio.to_thread(_check, url)
            if problem:
                resolved.problems.append(redact(f"{where}: {target.label}: {problem}"))
            else:
                resolved.targets.append(target)
    return resolved


async def resolve_strictly(settings: Settings, environ: Mapping[str, str], where: Path | str = "config",
                           *, numbers: Collection[int] | None = None) -> list[Target]:
    """:func:`resolve`, raising a ConfigError with the first problem (the one-shot commands
    and ``watch``: a channel that cannot work is a config error, exit 2)."""
    resolved = await resolve(settings, environ, where, numbers=numbers)
    if resolved.problems:
        more = len(resolved.problems) - 1
        raise ConfigError(resolved.problems[0] + (f" (and {more} more problem{'s' if more > 1 else ''})"
                                                  if more else ""))
    return resolved.targets


def _check(url: str) -> str | None:
    from cuadra_top.notify import backend

    return backend.check(url)


async def _urls_of(channel: NotifyConfig, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(entry, URL) pairs of one channel; raises ConfigError (its text after the label)."""
    if channel.urls is not None:
        return [(f"urls[{i}]", url.get_secret_value()) for i, url in enumerate(channel.urls, 1)]
    if channel.urls_env is not None:
        return [(f"urls_env[{i}]", url) for i, url in enumerate(_from_env(channel.urls_env, environ), 1)]
    assert channel.urls_command is not None
    return [(f"urls_command[{i}]", url) for i, url in enumerate(await _from_command(channel.urls_command), 1)]


def _from_env(name: str, environ: Mapping[str, str]) -> list[str]:
    raw = environ.get(name, "")
    if raw.strip():
        remember_secret(raw.strip())
        urls = split_urls(raw)
        for url in urls:
            remember_secret(url)
        return urls
    if looks_like_env_name(name):
        raise ConfigError(f"key urls_env names ${name}, which is not set; export it (one or more apprise URLs)")
    remember_secret(name)  # perhaps the URL itself, put there by mistake: never echo it
    raise ConfigError("key urls_env must name an environment variable (like OPS_NOTIFY_URLS) that holds "
                      "the URLs, not hold a URL itself; its value is not shown")


async def _from_command(command: str) -> list[str]:
    """The URLs a command prints (run like ``token_command``: its own process group, a
    timeout, an output cap, stdin closed)."""
    what = "key urls_command"
    try:
        done = await run_configured(command, what=what, prints="the URLs", timeout=URLS_COMMAND_TIMEOUT,
                                    max_stdout=MAX_URLS_OUTPUT)
    except CommandFailed as exc:
        raise ConfigError(str(exc)) from None
    output = done.stdout.decode(errors="replace")
    remember_secret(output.strip())
    urls = split_urls(output)
    for url in urls:
        remember_secret(url)
    problem = exit_problem(done, what)
    if problem:
        raise ConfigError(problem)
    if not urls:
        raise ConfigError(f"{what} printed nothing; it must print one or more apprise URLs")
    return urls
