"""Alert rules: what each org's figures say, levels for a monitoring plugin, and notices.

Every rule turns one org's data into a :class:`Finding`: the level the figure has now, the
level it still *holds* under hysteresis (a raised alert stays up until the figure is clear of
its threshold by a margin, so a value oscillating around it raises one alert, not many), and
the words. ``assess`` is the stateless reading (``--check``: exit code and one line); the
engine (:mod:`cuadra_top.state.alert_engine`) remembers where each alert stands and turns the
findings into :class:`Notice`\\s, once per crossing.

Rules: ``credits`` and ``storage`` over the warn/critical percent (over the limit is always
critical); ``subscription`` credits and the ``purchased`` balance projected to run out before
the reset; ``overage`` entered; ``hard_cap``: 402 errors projected within a horizon; ``failing``
fetches for longer than N intervals; ``stopped`` on a credential, permission or URL error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import IntEnum, StrEnum

from cuadra_top import format as fmt
from cuadra_top.api.models import Usage
from cuadra_top.state.forecast import Forecast, Pool
from cuadra_top.thresholds import AlertPolicy, Band, Thresholds


class Level(IntEnum):
    """Monitoring-plugin states; the value is the exit code (see SEVERITY for the ranking)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


SEVERITY = {Level.OK: 0, Level.WARNING: 1, Level.UNKNOWN: 2, Level.CRITICAL: 3}
"""Which state a summary takes: an org we cannot see outranks a warning, but a known
CRITICAL must never hide behind another org's UNKNOWN."""

RULES = ("credits", "storage", "subscription", "purchased", "overage", "hard_cap", "failing", "stopped")
DATA_RULES = RULES[:6]
"""The rules judged from an answer; a failed fetch leaves them where they stand."""


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
    """What was judged: one of RULES (or "test")."""
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


@dataclass(frozen=True)
class Finding:
    rule: str
    level: Level
    """What the figure says now (OK, WARNING, CRITICAL)."""
    holds: Level
    """The highest level an alert already raised keeps (the figure is within the margin)."""
    message: str
    """The short line (``--check``); empty when OK."""
    recovery: str = ""
    """The line of a recovery notice."""


@dataclass(frozen=True)
class Health:
    """What the poller knows beyond the data: failures in a row and whether it stopped."""

    failures: int = 0
    failing_since: datetime | None = None
    stopped: bool = False
    error: str | None = None
    error_kind: str | None = None
    interval: float = 30.0


def _threshold(value: float) -> str:
    return f"{value:g}%"


def _percent(org: str, rule: str, fraction: float | None, thresholds: Thresholds, margin: float) -> Finding:
    """One used/limit fraction against the org's thresholds; unlimited (None) is always OK."""
    band = thresholds.band(fraction)
    lowered = Thresholds(thresholds.warn_percent - margin, thresholds.critical_percent - margin)
    holds = _level_of(lowered.band(fraction))
    shown = fmt.percent(fraction)
    level = _level_of(band)
    if band in (Band.OVER, Band.CRITICAL):
        over = ", over the limit" if band is Band.OVER else ""
        message = f"{org}: {rule} at {shown}{over} (critical at {_threshold(thresholds.critical_percent)})"
    elif band is Band.WARN:
        message = f"{org}: {rule} at {shown} (warn at {_threshold(thresholds.warn_percent)})"
    else:
        message = ""
    recovery = (f"{org}: {rule} back to {shown}, under {_threshold(thresholds.warn_percent - margin)} "
                f"(warn at {_threshold(thresholds.warn_percent)})")
    return Finding(rule, level, holds, message, recovery)


def _level_of(band: Band) -> Level:
    if band in (Band.OVER, Band.CRITICAL):
        return Level.CRITICAL
    return Level.WARNING if band is Band.WARN else Level.OK


def _in(seconds: float) -> str:
    left = fmt.duration(seconds, precision=2)
    return "soon" if left in ("ended", "<1m", "0m") else f"in {left}"


def _projection(org: str, rule: str, what: str, at: datetime | None, end: datetime | None, now: datetime,
                policy: AlertPolicy, enabled: bool) -> Finding | None:
    """WARNING while ``what`` is projected to run out before the period resets; None when there
    is nothing to judge (no projection: too few samples, unlimited, no reset known)."""
    if at is None or end is None:
        return None
    before = enabled and now < at < end
    holds = enabled and now < at < end + policy.time_margin
    message = f"{org}: {what} projected to run out {_in((at - now).total_seconds())}, before the period ends" \
        if before else ""
    recovery = f"{org}: {what} no longer projected to run out before the reset"
    return Finding(rule, Level.WARNING if before else Level.OK, Level.WARNING if holds else Level.OK, message,
                   recovery)


def data_findings(org: str, usage: Usage, forecast: Forecast | None, thresholds: Thresholds,
                  now: datetime, policy: AlertPolicy = AlertPolicy()) -> list[Finding]:
    """What one answer says, rule by rule (only the rules that can be judged from it)."""
    now = now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    margin = policy.hysteresis_points
    found = [
        _percent(org, "credits", usage.credits.fraction, thresholds, margin),
        _percent(org, "storage", usage.storage.fraction, thresholds, margin),
    ]
    exhausted = usage.credits.unlimited or (usage.credits.fraction or 0) >= 1
    if forecast is not None and not exhausted:  # used up is the percent rule's business
        subscription = _projection(org, "subscription", "credits", forecast.credits_exhausted_at,
                                   forecast.period_end, now, policy, thresholds.warn_on_projected_exhaustion)
        if subscription is not None:
            found.append(subscription)
    if forecast is not None and usage.credits.purchased_balance:
        purchased = _projection(org, "purchased", "the purchased balance", forecast.total_exhausted_at,
                                forecast.period_end, now, policy, thresholds.warn_on_projected_exhaustion)
        if purchased is not None:
            found.append(purchased)
    if not usage.credits.unlimited:
        over = usage.credits.overage_credits if usage.credits.overage_credits is not None else (
            usage.credits.overage if usage.credits.is_in_overage else 0)
        in_overage = bool(usage.credits.is_in_overage) or over > 0
        message = f"{org}: in overage, {fmt.thousands(over)} credits over the limit" if in_overage else ""
        level = Level.WARNING if in_overage else Level.OK
        found.append(Finding("overage", level, level, message, f"{org}: no longer in overage"))
    if forecast is not None and usage.credits.hard_cap:
        finding = _hard_cap(org, forecast, now, policy)
        if finding is not None:
            found.append(finding)
    return found


def _hard_cap(org: str, forecast: Forecast, now: datetime, policy: AlertPolicy) -> Finding | None:
    """CRITICAL when 402 errors are projected within the horizon (or have begun); None when the
    forecast cannot tell (too few samples: a monitor's first answer before its history is
    read), which must leave a raised alert where it is, not recover it."""
    step = forecast.transition(Pool.HARD_CAP)
    if step is None and forecast.burn_rate_per_day is None:
        return None
    recovery = f"{org}: no 402 errors projected within {fmt.duration(policy.hard_cap_horizon.total_seconds())}"
    if step is None or not step.before_reset:
        return Finding("hard_cap", Level.OK, Level.OK, "", recovery)
    horizon = fmt.duration(policy.hard_cap_horizon.total_seconds())
    within = step.at <= now + policy.hard_cap_horizon
    holds = step.at <= now + policy.hard_cap_horizon + policy.time_margin
    if step.at <= now:
        message = f"{org}: 402 errors now: hard cap, every credit is spent"
    else:
        message = (f"{org}: 402 errors projected {_in((step.at - now).total_seconds())} "
                   f"({fmt.day_time(step.at)}): hard cap, within the {horizon} horizon")
    return Finding("hard_cap", Level.CRITICAL if within else Level.OK, Level.CRITICAL if holds else Level.OK,
                   message if within else "", recovery)


STOPPING_KINDS = ("auth", "permission", "not_found", "config")


def health_findings(org: str, health: Health, now: datetime, policy: AlertPolicy = AlertPolicy()) -> list[Finding]:
    """What the polling itself says: fetches failing too long, or stopped on a credential."""
    stopped = health.stopped and health.error_kind in STOPPING_KINDS
    why = " ".join((health.error or "").split())
    found = [Finding("stopped", Level.CRITICAL if stopped else Level.OK, Level.CRITICAL if stopped else Level.OK,
                     f"{org}: polling stopped: {why}" if stopped else "", f"{org}: polling works again")]
    failing = False
    if health.failures and health.failing_since is not None and not stopped:
        failing = now - health.failing_since > timedelta(seconds=policy.failing_intervals * health.interval)
    span = fmt.duration((now - health.failing_since).total_seconds(), precision=2) if health.failing_since else ""
    found.append(Finding("failing", Level.WARNING if failing else Level.OK, Level.WARNING if failing else Level.OK,
                         f"{org}: fetches failing for {span} ({health.failures} in a row): {why}" if failing else "",
                         f"{org}: fetches succeed again"))
    return found


def assess(
    org: str,
    usage: Usage | None,
    forecast: Forecast | None,
    thresholds: Thresholds,
    *,
    error: str | None = None,
    now: datetime | None = None,
    policy: AlertPolicy = AlertPolicy(),
) -> tuple[Level, list[str]]:
    """The org's worst level and a message per problem (none when OK), with no memory.

    ``usage`` None means the fetch failed: UNKNOWN, with ``error`` as the message.
    """
    if usage is None:
        return Level.UNKNOWN, [f"{org}: {_one_line(error or 'no usage data')}"]
    findings = data_findings(org, usage, forecast, thresholds, now or datetime.now(timezone.utc), policy)
    level = max((finding.level for finding in findings), default=Level.OK)
    return Level(level), [finding.message for finding in findings if finding.level is not Level.OK]


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
