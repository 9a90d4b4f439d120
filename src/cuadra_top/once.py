"""Scriptable mode (``--once``): fetch every org once, print a table or JSON, exit 0/1.

For cron and monitoring: one line per org, or ``{"orgs": [...]}`` with the usage exactly as
the API sent it. A failed org still gets its line; the others are not held back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cuadra_top import exit_codes
from cuadra_top import format as fmt
from cuadra_top.clock import iso_utc
from cuadra_top.api.models import Credits, Storage, Usage
from cuadra_top.config import Settings
from cuadra_top.redaction import redact
from cuadra_top.state.alerts import AlertTracker, Notice, NoticeKind, assess, check_summary
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


def render_table(results: Sequence[OrgResult], now: datetime | None = None) -> str:
    """Aligned columns; an error row spans the rest of its line so its message stays whole."""
    now = now or datetime.now(timezone.utc)
    rows = [table_row(r, now) for r in results]
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


def render_json(results: Sequence[OrgResult], trends: Trends | None = None) -> str:
    orgs = [json_org(r, trends) for r in results]
    return json.dumps({"orgs": orgs}, indent=2, ensure_ascii=False) + "\n"


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
    return line + "\n", code


def alert_events(results: Sequence[OrgResult], settings: Settings, trends: Trends | None,
                 now: datetime | None = None) -> list[AlertNotice]:
    """The alerts of one run, for ``--once --notify``: every org already past a threshold is a
    first sighting, claimed by this run.

    Until the alert engine keeps its state in the history, each run claims every alert it
    sees; the engine is to decide ``claimed`` instead (a crossing sent by an earlier run, the
    TUI or ``watch`` is not claimed again)."""
    from cuadra_top.state.monitor import AlertNotice  # only --notify needs it (the pollers with it)

    now = now or datetime.now(timezone.utc)
    events = []
    for result in results:
        if result.fetched is None:
            continue
        forecast = trends.forecast_for(result.name) if trends is not None else None
        for alert in AlertTracker().update(result.name, result.fetched.usage, forecast,
                                           settings.thresholds_for(result.name), now=now):
            notice = Notice(alert.org, "threshold", alert.level, NoticeKind.RAISED, alert.message, now)
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
    alerts: list[AlertNotice] | None = None,
) -> tuple[str, int]:
    """Fetch ``names`` concurrently, record them; return (text to print, exit code). With
    ``alerts``, the run's alert events are appended to it (``--once --notify``)."""
    if trends is not None:
        await trends.load(names, fleet.series_keys(names))
    results = await fleet.fetch_all(names)
    if trends is not None:
        for result in results:
            await trends.record(result)
        await trends.flush()
        await trends.thin_history()  # a cron job may be the only writer: keep the file bounded
    if alerts is not None:
        alerts.extend(alert_events(results, settings or Settings(), trends))
    if check_mode:
        text, code = check(results, settings or Settings(), trends)
    else:
        text = render_json(results, trends) if as_json else render_table(results)
        code = exit_codes.OK if all(r.ok for r in results) else exit_codes.FAILED
    return redact(text), code
