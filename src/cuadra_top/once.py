"""Scriptable mode (``--once``): fetch every org once, print a table or JSON, exit 0/1.

For cron and monitoring: one line per org, or ``{"orgs": [...]}`` with the usage exactly as
the API sent it. A failed org still gets its line; the others are not held back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cuadra_top import exit_codes
from cuadra_top import format as fmt
from cuadra_top import glyphs
from cuadra_top.clock import iso_utc
from cuadra_top.api.models import Credits, Storage, Usage
from cuadra_top.config import Settings
from cuadra_top.redaction import redact
from cuadra_top.state.alerts import assess, check_summary
from cuadra_top.state.fleet import Fleet, OrgResult
from cuadra_top.state.trends import Trends

if TYPE_CHECKING:
    from cuadra_top.state.monitor import AlertNotice

COLUMNS = ("ORG", "PLAN", "CREDITS USED / LIMIT", "AVAILABLE", "STORAGE USED / LIMIT", "PERIOD LEFT")


def quota_cell(quota: Credits | Storage, amount: Callable[[int | None], str], over: bool = False) -> str:
    """'7,500 / 50,000 (15.0%)', '1.0 GiB / unlimited', '12.0 TiB / 1.0 MiB (>9999%) OVER'."""
    limit = None if quota.unlimited else amount(quota.limit)
    cell = fmt.used_of(amount(quota.used), limit)
    if quota.unlimited:
        return cell
    cell = f"{cell} ({fmt.percent(quota.fraction)})"
    return f"{cell} OVER" if over or (quota.fraction or 0) > 1 else cell


def credits_cell(usage: Usage) -> str:
    return quota_cell(usage.credits, fmt.thousands, over=usage.credits.in_overage)


def storage_cell(usage: Usage) -> str:
    return quota_cell(usage.storage, fmt.iec_bytes)


def available_cell(usage: Usage) -> str:
    credits = usage.credits
    total = credits.total_available_now
    if total is not None:
        return fmt.thousands(total)
    if credits.unlimited:
        return fmt.UNLIMITED
    return fmt.thousands(credits.available_now)


def table_row(result: OrgResult, now: datetime) -> tuple[str, ...]:
    if result.fetched is None:
        assert result.error is not None
        return (result.name, "ERROR", result.error.message, "", "", "")
    usage = result.fetched.usage
    return (
        result.name,
        usage.plan.label,
        credits_cell(usage),
        available_cell(usage),
        storage_cell(usage),
        fmt.time_left(usage.credits.period_end, now),
    )


def render_table(results: Sequence[OrgResult], now: datetime | None = None, *, encoding: str | None = None) -> str:
    """Aligned columns; an error row spans the rest of its line so its message stays whole.
    Each cell is one line with no control character (an org name from the config may hold a
    newline or an escape sequence). ``encoding``: the output's, when it may not carry every character: each cell is fitted to
    it (:func:`cuadra_top.glyphs.fit_text`) before the columns are measured."""
    now = now or datetime.now(timezone.utc)
    rows = [tuple(glyphs.fit_text(fmt.printable(cell), encoding) for cell in table_row(r, now)) for r in results]
    ok_rows = [row for row, r in zip(rows, results) if r.ok]
    widths = [max(len(COLUMNS[i]), *(len(row[i]) for row in ok_rows)) if ok_rows else len(COLUMNS[i])
              for i in range(len(COLUMNS))]
    widths[0] = max(widths[0], *(len(row[0]) for row in rows)) if rows else widths[0]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip()]
    for row, result in zip(rows, results):
        if result.ok:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        else:
            lines.append(f"{row[0].ljust(widths[0])}  ERROR: {row[2]}")
    return "\n".join(lines) + "\n"


def json_org(result: OrgResult, trends: Trends | None = None) -> dict[str, Any]:
    """One org of ``--json``. A failed org is ``stale``, with the time of its last good data
    from the history when there is one."""
    fetched = result.fetched
    last_at = fetched.fetched_at if fetched else None
    if fetched is None and trends is not None:
        last_at = trends.last_good.get(result.name)
    forecast = trends.forecast_for(result.name) if trends is not None else None
    return {
        "name": result.name,
        "ok": result.ok,
        "fetched_at": iso_utc(last_at),
        "stale": not result.ok,
        "usage": fetched.raw if fetched else None,
        "error": result.error.as_dict() if result.error else None,
        "forecast": forecast.as_json() if forecast else None,
    }


def render_json(results: Sequence[OrgResult], trends: Trends | None = None, *, encoding: str | None = None) -> str:
    """``encoding``: the output's; one that is not a UTF gets every non-ASCII character as a
    ``\\u`` escape (the same JSON to a parser)."""
    orgs = [json_org(r, trends) for r in results]
    ascii_only = encoding is not None and not glyphs.carries_unicode(encoding)
    text = json.dumps({"orgs": orgs}, indent=2, ensure_ascii=ascii_only)
    # json.dumps escapes C0 in strings but leaves DEL, C1 and the bidi overrides as they are;
    # outside the strings there is nothing but ASCII and newlines.
    return fmt.escape_controls(text, keep_newlines=True) + "\n"


def check(results: Sequence[OrgResult], settings: Settings, trends: Trends | None) -> tuple[str, int]:
    """Monitoring-plugin mode: one line, exit 0 OK / 1 WARNING / 2 CRITICAL / 3 UNKNOWN."""
    assessments = []
    for result in results:
        usage = result.fetched.usage if result.fetched else None
        forecast = trends.forecast_for(result.name) if trends is not None and usage else None
        error = result.error.message if result.error else None
        level, messages = assess(result.name, usage, forecast, settings.thresholds_for(result.name), error=error)
        assessments.append((result.name, level, messages))
    code, line = check_summary(assessments)
    return fmt.printable(line) + "\n", code


def alert_events(results: Sequence[OrgResult], settings: Settings, trends: Trends | None, fleet: Fleet,
                 now: datetime | None = None) -> list[AlertNotice]:
    """The alerts of one run, for ``--once --notify``, judged by the same engine as the TUI and
    ``watch`` against the alert state in the history: a crossing an earlier run, the TUI or the
    watcher already told is not told again (without a history every run tells what it sees).
    Reads and writes SQLite: call it off the event loop."""
    from cuadra_top.state.alert_engine import AlertEngine, HistoryAlertStore, series_for
    from cuadra_top.state.alerts import STOPPING_KINDS, Health, data_findings, health_findings
    from cuadra_top.state.monitor import AlertNotice  # only --notify needs it

    now = now or datetime.now(timezone.utc)
    engine = AlertEngine(HistoryAlertStore(lambda: trends.history if trends is not None else None))
    policy = settings.alert_policy
    events = []
    for result in results:
        name = result.name
        if result.fetched is not None:
            usage = result.fetched.usage
            forecast = trends.forecast_for(name) if trends is not None else None
            findings = data_findings(name, usage, forecast, settings.thresholds_for(name), now, policy)
            findings += health_findings(name, Health(), now, policy)  # it answered: both recover
            end = usage.credits.period_end
        elif result.error is not None and result.error.kind in STOPPING_KINDS:
            stopped = Health(failures=1, stopped=True, error=result.error.message, error_kind=result.error.kind)
            findings = [f for f in health_findings(name, stopped, now, policy) if f.rule == "stopped"]
            end = None
        else:  # one failed run says nothing about how long fetches have been failing
            continue
        for notice in engine.judge(name, series_for(name, trends, fleet), findings, now, end):
            events.append(AlertNotice(notice, first_sighting=True, claimed=True))
    return events


async def run_once(
    fleet: Fleet,
    names: Sequence[str],
    *,
    as_json: bool,
    settings: Settings | None = None,
    trends: Trends | None = None,
    check_mode: bool = False,
    encoding: str | None = None,
    alerts: list[AlertNotice] | None = None,
) -> tuple[str, int]:
    """Fetch ``names`` concurrently, record them; return (text to print, exit code).
    ``encoding``: the output's, for one that may not carry every character. With ``alerts``,
    the run's alert events are appended to it (``--once --notify``)."""
    if trends is not None:
        await trends.load(names, fleet.series_keys(names))
    results = await fleet.fetch_all(names)
    if trends is not None:
        for result in results:
            await trends.record(result)
        await trends.flush()
        await trends.thin_history()  # a cron job may be the only writer: keep the file bounded
    if alerts is not None:
        alerts.extend(await asyncio.to_thread(alert_events, results, settings or Settings(), trends, fleet))
    if check_mode:
        text, code = check(results, settings or Settings(), trends)
        text = glyphs.fit_text(text, encoding)
    else:
        text = render_json(results, trends, encoding=encoding) if as_json else render_table(results, encoding=encoding)
        code = exit_codes.OK if all(r.ok for r in results) else exit_codes.FAILED
    return redact(text), code
