"""``cuadra-top status``: one short line for a tmux status bar or a shell prompt.

    nimbus 84% ⚠ 12h · acme 35%

tmux runs it every few seconds, so the usual path reads only the local history (SQLite, with
the standard library) and the config (``tomllib``): no pydantic, httpx, keyring or Textual,
well under 100 ms. An org whose newest stored sample is older than its refresh interval (at
least :data:`HISTORY_STEP`: the history keeps one sample a minute) is fetched live, with a
short timeout, and the answer recorded; only that path loads the HTTP stack.

Per org: the share of credits used, a mark at the warn (⚠) or critical (‼) threshold or when
the credits are projected to run out before the period resets, and then when they run out
(the overview's "Runs out"). ``~`` before the figure: it is older than two refresh intervals
(the API could not be reached). ``?``: no figure at all. Where the output's encoding cannot
carry ⚠, ‼ or ·, ASCII stands in (``!``, ``!!``, ``|``). ``--format`` is applied to each org
(:data:`FIELDS`); the orgs are joined by the separator.

The config is read without validating it in full (:mod:`cuadra_top.quick_config`: the full
loader imports pydantic); anything that reader does not expect sends it to the full loader,
whose one-line error is then reported, as elsewhere, with exit 2. ``cuadra-top config validate`` checks everything.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cuadra_top import exit_codes
from cuadra_top import format as fmt
from cuadra_top.quick_config import NeedsFullConfig, QuickConfig, QuickOrg, read_config
from cuadra_top.thresholds import Band, Thresholds

HISTORY_STEP = 60.0
"""As ``cuadra_top.state.trends.HISTORY_STEP``: the history keeps at most one sample a minute
per org, so a sample up to this old is as fresh as the history can be."""
FRESH_SLACK = 10.0
"""Seconds on top of the refresh interval before a stored sample counts as old: the poller's
jitter and the write's own delay."""
STALE_AFTER = 2
"""Refresh intervals after which a figure is shown as stale (``~``), like the TUI's STALE."""
CONNECT_TIMEOUT, READ_TIMEOUT = 2.0, 3.0
FETCH_DEADLINE = 6.0
"""The whole live fetch of an old org (token and usage): tmux waits for the line."""
HISTORY_WINDOW = timedelta(days=32)
DENSE_SPAN, DENSE_STEP, SPARSE_STEP = timedelta(hours=24), timedelta(minutes=10), timedelta(hours=3)
"""What the forecast reads, as the monitor's window (``cuadra_top.state.trends``)."""
DAY_MARGIN = timedelta(hours=1)
LINE_STEP = timedelta(minutes=30)
"""The last day at one sample per half hour: the same least-squares rate as the monitor's
10-minute window to within a rounding, at a third of the work (a third of status's time went
into turning samples into objects)."""
MIN_SPAN = timedelta(minutes=10)
"""As ``cuadra_top.state.forecast.MIN_SPAN``: less than this in the last day, and the month is read."""

UNICODE = {"warn": "⚠", "critical": "‼", "separator": " · ", "unlimited": "∞"}
ASCII = {"warn": "!", "critical": "!!", "separator": " | ", "unlimited": "inf"}
DEFAULT_FORMAT = "{name} {stale}{percent}{flags}"
FIELDS = {
    "name": "the org's name",
    "percent": "credits used, in percent of the limit ('84%'; '∞' unlimited; '?' no figure)",
    "flags": "' ⚠ 12h' at a threshold or before a projected run-out; '' otherwise",
    "mark": "'⚠' (warn), '‼' (critical or over), or ''",
    "runs_out": "time until credits run out before the reset ('12h'), or ''",
    "level": "ok, warn, critical, over, unlimited or unknown",
    "stale": "'~' when the figure is older than two refresh intervals, else ''",
    "age": "age of the figure ('3m'), or ''",
    "used": "credits used ('42,100')",
    "limit": "the credit limit ('50,000'; 'unlimited')",
    "plan": "the plan tier ('pro')",
}


@dataclass
class Figure:
    """One org's line, from its newest sample and its forecast."""

    name: str
    fraction: float | None = None
    has_data: bool = False
    unlimited: bool = False
    used: int | None = None
    limit: int | None = None
    plan: str | None = None
    at: datetime | None = None
    runs_out: float | None = None
    """Seconds until the first step that matters before the reset (forecast), or None."""
    band: Band = Band.NONE


def _full_config(cli_path: str | None, environ: Mapping[str, str]) -> QuickConfig:
    """What the full loader makes of the config (raises its ConfigError)."""
    from cuadra_top.config import load_config

    loaded = load_config(cli_path, environ)
    settings = loaded.settings
    orgs = [QuickOrg(org.name, org.api_url, None, settings.thresholds_of(org)) for org in settings.org]
    return QuickConfig(orgs, settings.refresh_interval, settings.history, loaded.path)


# -- the history -------------------------------------------------------------------------------


def _series_key(org: QuickOrg, history) -> str | None:
    from cuadra_top.state.identity import site

    if org.identity is None:
        return history.newest_series(org.name, site(org.api_url))
    return f"{site(org.api_url)} {org.identity or 'name:' + org.name}"


def figures_from_history(orgs: Sequence[QuickOrg], history, now: datetime) -> dict[str, Figure]:
    from cuadra_top.state.forecast import forecast

    found: dict[str, Figure] = {}
    for org in orgs:
        key = _series_key(org, history) if history is not None else None
        samples = _samples(history, key, org.name, now) if key else []
        figure = Figure(org.name)
        if samples:
            _fill(figure, samples[-1], org.thresholds)
            _judge(figure, forecast(samples, now), org.thresholds, now)
        found[org.name] = figure
    return found


def _samples(history, key: str, name: str, now: datetime) -> list:
    """The samples the forecast needs: its rate window (the last day, :data:`LINE_STEP` apart,
    read with the index), or, when that holds too little to go on, the month the monitor reads."""
    recent = now - DENSE_SPAN - DAY_MARGIN
    samples = history.sampled(key, recent, recent, LINE_STEP, SPARSE_STEP, name=name)
    if len(samples) >= 2 and samples[-1].at - samples[0].at >= MIN_SPAN:
        return samples
    return history.sampled(key, now - HISTORY_WINDOW, now - DENSE_SPAN, DENSE_STEP, SPARSE_STEP, name=name)


def _fill(figure: Figure, sample, thresholds: Thresholds) -> None:
    figure.has_data = True
    figure.used, figure.limit, figure.plan, figure.at = (sample.credits_used, sample.credits_limit,
                                                         sample.plan_tier, sample.at)
    figure.unlimited = sample.credits_limit is None
    if not figure.unlimited:
        try:
            figure.fraction = sample.credits_used / sample.credits_limit
        except OverflowError:
            figure.fraction = math.inf
    figure.band = thresholds.band(figure.fraction)


def _judge(figure: Figure, prediction, thresholds: Thresholds, now: datetime) -> None:
    step = prediction.first_that_matters(now) if prediction is not None else None
    if step is not None and figure.band is not Band.OVER:  # over the limit already: nothing to count down
        figure.runs_out = (step.at - now).total_seconds()
        if thresholds.warn_on_projected_exhaustion and figure.band in (Band.OK, Band.UNLIMITED, Band.NONE):
            figure.band = Band.WARN


# -- live, for old figures ---------------------------------------------------------------------


def refresh(names: Sequence[str], cli_path: str | None, environ: Mapping[str, str], history_path: Path | None,
            now: datetime) -> tuple[dict[str, Any], list[str]]:
    """Fetch ``names`` now (short timeouts), record the answers in the history; returns each
    org's samples-to-be (name -> Sample) and one-line problems. Loads the HTTP stack."""
    import asyncio

    from cuadra_top.api.http import Timeouts
    from cuadra_top.config import ConfigError, build_credential, load_config
    from cuadra_top.state.fleet import Fleet
    from cuadra_top.state.history import History, sample_of

    loaded = load_config(cli_path, environ)
    problems: list[str] = []
    orgs = []
    for org in loaded.settings.org:
        if org.name in names:
            try:
                build_credential(org, environ, loaded.path or "environment")
            except ConfigError as exc:
                problems.append(str(exc))
                continue
            orgs.append(org)
    if not orgs:
        return {}, problems

    async def fetch_all():
        fleet = Fleet(orgs, environ, timeouts=Timeouts(CONNECT_TIMEOUT, READ_TIMEOUT),
                      ca_bundle=loaded.settings.ca_bundle, fetch_deadline=FETCH_DEADLINE)
        async with fleet:
            return await fleet.fetch_all()

    results = asyncio.run(fetch_all())
    fresh = {r.name: sample_of(r.name, r.fetched.fetched_at, r.fetched.usage) for r in results if r.fetched}
    problems += [f"{r.name}: {r.error.message}" for r in results if r.error is not None]
    if history_path is not None and fresh:
        history = History(history_path)
        try:
            history.record_many([(r.key or r.name, r.name, r.fetched.fetched_at, r.fetched.usage)
                                 for r in results if r.fetched is not None])
        finally:
            history.close()
    return fresh, problems


# -- the line ----------------------------------------------------------------------------------


def symbols_for(stream) -> dict[str, str]:
    """Unicode marks where the stream's encoding carries them, else ASCII (a stream of text
    with no encoding, like StringIO, carries anything)."""
    encoding = getattr(stream, "encoding", None)
    if encoding is None:
        return UNICODE
    try:
        "".join(UNICODE.values()).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return UNICODE


def fields_of(figure: Figure, interval: float, now: datetime, symbols: Mapping[str, str]) -> dict[str, str]:
    if not figure.has_data:
        return {"name": figure.name, "percent": "?", "flags": "", "mark": "", "runs_out": "", "level": "unknown",
                "stale": "", "age": "", "used": "", "limit": "", "plan": ""}
    if figure.unlimited:
        percent = symbols["unlimited"]
    elif figure.fraction is None or not math.isfinite(figure.fraction):
        percent = ">9999%"
    else:
        percent = f"{min(figure.fraction * 100, 9999):.0f}%"
    mark = {Band.WARN: symbols["warn"], Band.CRITICAL: symbols["critical"], Band.OVER: symbols["critical"]}.get(
        figure.band, "")
    runs_out = fmt.duration(figure.runs_out, precision=1) if figure.runs_out is not None else ""
    flags = "".join(f" {part}" for part in (mark, runs_out if mark else "") if part)
    age = (now - figure.at).total_seconds() if figure.at else None
    return {
        "name": figure.name, "percent": percent, "flags": flags, "mark": mark, "runs_out": runs_out,
        "level": figure.band.value, "stale": "~" if age is not None and age > STALE_AFTER * interval else "",
        "age": fmt.duration(age, precision=1) if age is not None else "", "used": fmt.thousands(figure.used),
        "limit": fmt.UNLIMITED if figure.unlimited else fmt.thousands(figure.limit), "plan": figure.plan or "",
    }


def check_format(template: str) -> str | None:
    """Why ``template`` cannot be used (one line), or None."""
    import string

    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"--format {template!r}: {exc}; write fields as {{name}}, and a brace as {{{{ or }}}}"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            return f"--format: unknown field {{{name}}}; fields: {', '.join(FIELDS)}"
    return None


def render(figures: Sequence[Figure], template: str, interval: float, now: datetime,
           symbols: Mapping[str, str]) -> str:
    parts = [template.format_map(fields_of(figure, interval, now, symbols)) for figure in figures]
    return fmt.printable(symbols["separator"].join(parts))


# -- the command -------------------------------------------------------------------------------


def main(cli_path: str | None, org_name: str | None, template: str | None,
         environ: Mapping[str, str] = os.environ) -> int:
    """``cuadra-top status``: :func:`run`, with a config or connection setting that cannot work
    reported in one line (exit 2), as every command does."""
    try:
        return run(cli_path, org_name, template, environ)
    except Exception as exc:
        from cuadra_top.api.errors import SetupError
        from cuadra_top.config import ConfigError

        if isinstance(exc, ConfigError):
            message = str(exc)
        elif isinstance(exc, SetupError):
            message = exc.message
        else:
            raise
        print(f"cuadra-top: {message}", file=sys.stderr)
        return exit_codes.USAGE


def run(cli_path: str | None, org_name: str | None, template: str | None,
        environ: Mapping[str, str] = os.environ, out=None, clock: Callable[[], float] = time.time) -> int:
    """Print the line; 0 when every org has a figure, 1 when one has none, 2 on a mistake.
    ``clock``: epoch seconds (tests move it)."""
    out = out or sys.stdout
    template = template if template is not None else DEFAULT_FORMAT
    problem = check_format(template)
    if problem:
        print(f"cuadra-top: {problem}", file=sys.stderr)
        return exit_codes.USAGE
    try:
        config = read_config(cli_path, environ)
    except NeedsFullConfig:
        config = _full_config(cli_path, environ)  # raises the loader's ConfigError, or reads it right
    orgs = config.orgs
    if org_name is not None:
        orgs = [org for org in orgs if org.name == org_name]
        if not orgs:
            names = ", ".join(org.name for org in config.orgs) or "none"
            print(f"cuadra-top: no org named {org_name!r}; configured: {names}", file=sys.stderr)
            return exit_codes.USAGE
    if not orgs:
        print("cuadra-top: no organizations configured; add one with: cuadra-top auth login", file=sys.stderr)
        return exit_codes.USAGE
    now = datetime.fromtimestamp(clock(), timezone.utc)
    history_path = None
    history = None
    if config.history:
        from cuadra_top.state.history import History, default_history_path

        history_path = default_history_path()
        history = History(history_path, read_only=True)
    try:
        figures = figures_from_history(orgs, history, now)
    finally:
        if history is not None:
            history.close()
    fresh_for = max(config.refresh_interval, HISTORY_STEP) + FRESH_SLACK
    old = [org.name for org in orgs
           if figures[org.name].at is None or (now - figures[org.name].at).total_seconds() > fresh_for]
    if old:
        fresh, problems = refresh(old, cli_path, environ, history_path, now)
        for message in problems:
            _log_problem(message)
        if fresh:
            updated = _refigured([org for org in orgs if org.name in fresh], history_path, fresh, now)
            figures.update(updated)
    out.write(render([figures[org.name] for org in orgs], template, config.refresh_interval, now,
                     symbols_for(out)) + "\n")
    return exit_codes.OK if all(figure.has_data for figure in figures.values()) else exit_codes.FAILED


def _refigured(orgs: Sequence[QuickOrg], history_path: Path | None, fresh: Mapping[str, Any],
               now: datetime) -> dict[str, Figure]:
    """The figures of orgs just fetched: from the history they were recorded in (so the
    forecast has them), or from the answer alone without a history."""
    from cuadra_top.state.forecast import forecast
    from cuadra_top.state.history import History

    figures: dict[str, Figure] = {}
    if history_path is not None:
        history = History(history_path, read_only=True)
        try:
            figures = figures_from_history(orgs, history, now)
        finally:
            history.close()
    for org in orgs:
        figure = figures.get(org.name)
        if figure is None or not figure.has_data or figure.at is None or figure.at < fresh[org.name].at:
            figure = Figure(org.name)
            _fill(figure, fresh[org.name], org.thresholds)
            _judge(figure, forecast([fresh[org.name]], now), org.thresholds, now)
            figures[org.name] = figure
    return figures


def _log_problem(message: str) -> None:
    """A failed live fetch: the line still shows the last figure (or ``?``); why goes to stderr
    (which tmux does not show) and to the debug log."""
    from cuadra_top.debuglog import logger
    from cuadra_top.redaction import redact

    message = redact(message)
    print(f"cuadra-top: status: {message}", file=sys.stderr)
    logger("status").warning("%s", message)
