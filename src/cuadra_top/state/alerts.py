"""Threshold levels per org, alerts that fire once per crossing, and a monitoring-plugin line.

``assess`` is stateless (for ``--once``/cron checks: exit code and one line); ``AlertTracker``
remembers the last level per org and metric so a long-running monitor notifies once when a
value crosses a threshold upwards, not on every poll, and again after it has dropped back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import IntEnum, StrEnum

from cuadra_top import format as fmt
from cuadra_top.api.models import Usage
from cuadra_top.state.forecast import Forecast
from cuadra_top.thresholds import Band, Thresholds


class Level(IntEnum):
    """Monitoring-plugin states; the value is the exit code (see SEVERITY for the ranking)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


SEVERITY = {Level.OK: 0, Level.WARNING: 1, Level.UNKNOWN: 2, Level.CRITICAL: 3}
"""Which state a summary takes: an org we cannot see outranks a warning, but a known
CRITICAL must never hide behind another org's UNKNOWN."""


@dataclass(frozen=True)
class Alert:
    org: str
    level: Level
    message: str


class NoticeKind(StrEnum):
    RAISED = "raised"
    RECOVERED = "recovered"
    TEST = "test"


@dataclass(frozen=True)
class Notice:
    """One thing to tell a person: an alert raised once per crossing, its recovery, or a test.
    What every channel delivers (apprise, the terminal, a toast, a line of ``watch``)."""

    org: str
    rule: str
    """What was judged: credits, storage, subscription, purchased, overage, hard_cap, failing,
    stopped (or "test")."""
    level: Level
    """WARNING or CRITICAL; for a recovery, the level it recovered from."""
    kind: NoticeKind
    message: str
    """One line naming the org, the figure, the threshold and when the period resets."""
    at: datetime

    @property
    def title(self) -> str:
        """'cuadra-top: acme CRITICAL' / 'cuadra-top: acme recovered'."""
        what = "recovered" if self.kind is NoticeKind.RECOVERED else (
            "test" if self.kind is NoticeKind.TEST else self.level.name)
        return f"cuadra-top: {self.org} {what}"

    def as_json(self) -> dict[str, object]:
        return {"org": self.org, "rule": self.rule, "level": self.level.name.lower(), "kind": self.kind.value,
                "message": self.message, "at": self.at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")}


_Finding = tuple[str, Level, str | None]
"""(metric, level, message or None when OK)."""


def _threshold(value: float) -> str:
    return f"{value:g}%"


def _percent_finding(org: str, metric: str, fraction: float | None, thresholds: Thresholds) -> _Finding:
    """Level of one used/limit fraction; an unlimited metric (None) is always OK."""
    band = thresholds.band(fraction)
    shown = fmt.percent(fraction)
    if band in (Band.OVER, Band.CRITICAL):
        over = ", over the limit" if band is Band.OVER else ""
        limit = _threshold(thresholds.critical_percent)
        return metric, Level.CRITICAL, f"{org}: {metric} at {shown}{over} (critical at {limit})"
    if band is Band.WARN:
        return metric, Level.WARNING, f"{org}: {metric} at {shown} (warn at {_threshold(thresholds.warn_percent)})"
    return metric, Level.OK, None


def _projection_finding(
    org: str, usage: Usage, forecast: Forecast | None, thresholds: Thresholds, now: datetime
) -> _Finding:
    """WARNING when the credits are projected to run out before the period resets.

    Credits already used up are the percentage check's business (CRITICAL), not a projection.
    """
    if (
        not thresholds.warn_on_projected_exhaustion
        or forecast is None
        or not forecast.runs_out_before_period_end
        or forecast.credits_exhausted_at is None
        or usage.credits.unlimited
        or (usage.credits.fraction or 0) >= 1
    ):
        return "projection", Level.OK, None
    left = fmt.duration((forecast.credits_exhausted_at - now).total_seconds(), precision=2)
    when = "soon" if left in ("ended", "<1m", "0m") else f"in {left}"
    return "projection", Level.WARNING, f"{org}: credits projected to run out {when}, before the period ends"


def _findings(
    org: str, usage: Usage, forecast: Forecast | None, thresholds: Thresholds, now: datetime | None
) -> list[_Finding]:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return [
        _percent_finding(org, "credits", usage.credits.fraction, thresholds),
        _percent_finding(org, "storage", usage.storage.fraction, thresholds),
        _projection_finding(org, usage, forecast, thresholds, now),
    ]


def assess(
    org: str,
    usage: Usage | None,
    forecast: Forecast | None,
    thresholds: Thresholds,
    *,
    error: str | None = None,
    now: datetime | None = None,
) -> tuple[Level, list[str]]:
    """The org's worst level and a message per problem (none when OK).

    ``usage`` None means the fetch failed: UNKNOWN, with ``error`` as the message.
    """
    if usage is None:
        return Level.UNKNOWN, [f"{org}: {_one_line(error or 'no usage data')}"]
    findings = _findings(org, usage, forecast, thresholds, now)
    level = max((lvl for _, lvl, _ in findings), default=Level.OK)
    return Level(level), [message for _, _, message in findings if message]


class AlertTracker:
    """Remembers each org's last level per metric so an alert fires once per crossing (upwards),
    and re-arms when the value drops back below."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], Level] = {}

    def update(
        self,
        org: str,
        usage: Usage | None,
        forecast: Forecast | None,
        thresholds: Thresholds,
        *,
        now: datetime | None = None,
    ) -> list[Alert]:
        """New alerts only. A failed fetch (``usage`` None) changes nothing: no data, no crossing."""
        if usage is None:
            return []
        alerts = []
        for metric, level, message in _findings(org, usage, forecast, thresholds, now):
            previous = self._last.get((org, metric), Level.OK)
            self._last[(org, metric)] = level
            if level > previous and message:
                alerts.append(Alert(org, level, message))
        return alerts

    def forget(self, org: str) -> None:
        """Drop an org's memory (removed from the config): its next crossing fires afresh."""
        for key in [key for key in self._last if key[0] == org]:
            del self._last[key]


def check_summary(assessments: Iterable[tuple[str, Level, list[str]]]) -> tuple[int, str]:
    """Exit code (the worst level) and one status line, monitoring-plugin style.

    Problems are listed worst first; no orgs at all is UNKNOWN, since nothing was checked.
    """
    assessments = list(assessments)
    if not assessments:
        return int(Level.UNKNOWN), "CUADRA UNKNOWN - no orgs to check"
    worst = max((Level(level) for _, level, _ in assessments), key=SEVERITY.__getitem__)
    if worst is Level.OK:
        count = len(assessments)
        return int(worst), f"CUADRA OK - {count} org{'s' if count != 1 else ''} ok"
    problems = sorted((a for a in assessments if a[1] != Level.OK), key=lambda a: -SEVERITY[Level(a[1])])
    parts = []
    for org, level, messages in problems:
        parts.extend([_one_line(m) for m in messages] or [f"{org}: {Level(level).name}"])
    return int(worst), f"CUADRA {worst.name} - {'; '.join(parts)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
