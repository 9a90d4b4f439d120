"""Alerts raised once per crossing, recovered once, and remembered across processes.

The engine keeps where each alert stands (per account and rule: 0 armed, 1 warning, 2
critical) and moves it with the rules' findings and their hysteresis: a finding above the
stored level raises it (a notice); a finding back at OK with the figure clear of the margin
re-arms it (a recovery notice); anything between lowers it quietly. The levels live in a store:
the history database when there is one, so the TUI, a cron ``--once --notify`` and ``watch``
share them (the process that moves an alert is the one that delivers it: ``claimed``) and a
restart raises nothing again; in memory otherwise. The first judgement of an account that has
no stored level counts as a crossing: a cron job that starts on a bad day still tells someone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from cuadra_top import format as fmt
from cuadra_top.state.alerts import Finding, Level, Notice, NoticeKind
from cuadra_top.state.history import History


class AlertStore(Protocol):
    def levels(self, series: str) -> dict[str, int] | None:
        """Every stored level of the series (None: the store cannot answer now)."""

    def move(self, series: str, rule: str, org: str, decide: Callable[[int | None], int],
             at: datetime) -> tuple[int | None, int] | None:
        """Apply ``decide`` to the stored level atomically; (old, new) if it moved, (level,
        level) if it stood, None if the store failed."""


class MemoryAlertStore:
    """Levels in this process only (no history: ``--no-history``, the demo)."""

    def __init__(self) -> None:
        self._levels: dict[tuple[str, str], int] = {}

    def levels(self, series: str) -> dict[str, int] | None:
        return {rule: level for (key, rule), level in self._levels.items() if key == series}

    def move(self, series: str, rule: str, org: str, decide: Callable[[int | None], int],
             at: datetime) -> tuple[int | None, int] | None:
        old = self._levels.get((series, rule))
        new = decide(old)
        self._levels[(series, rule)] = new
        return old, new


class HistoryAlertStore:
    """Levels in the history database, shared by every process using it; falls back to memory
    while the history is not open (yet) or has switched itself off."""

    def __init__(self, history: Callable[[], History | None]) -> None:
        self._history = history
        self._memory = MemoryAlertStore()

    def levels(self, series: str) -> dict[str, int] | None:
        history = self._history()
        if history is None or not history.enabled:
            return self._memory.levels(series)
        return history.alert_levels(series)

    def move(self, series: str, rule: str, org: str, decide: Callable[[int | None], int],
             at: datetime) -> tuple[int | None, int] | None:
        history = self._history()
        if history is None or not history.enabled:
            return self._memory.move(series, rule, org, decide, at)
        moved = history.move_alert(series, rule, org, decide, at)
        if moved is None and not history.enabled:  # it failed for good just now
            return self._memory.move(series, rule, org, decide, at)
        return moved


def series_for(name: str, trends: object | None, fleet: object | None) -> str:
    """The account an org's alert state belongs to, as its history (never the secret): the
    trends' key, else the credential's, else the org's name. The TUI, --once and watch agree."""
    key = getattr(trends, "keys", {}).get(name) if trends is not None else None
    if key is None and fleet is not None:
        key = fleet.series_key(name)  # type: ignore[attr-defined]
    return key or f"name:{name}"


def next_level(old: int, finding: Finding) -> int:
    """Where an alert at ``old`` goes with ``finding``: up at once; down only as far as the
    hysteresis lets go (a figure still within the margin holds its level)."""
    level, holds = int(finding.level), int(finding.holds)
    if level >= old:
        return level
    return max(level, min(old, holds))


class AlertEngine:
    """Turns findings into notices, once per crossing. ``judge`` may touch the store (SQLite):
    call it off the event loop; ``needs_judging`` tells, from memory alone, when to."""

    def __init__(self, store: AlertStore | None = None) -> None:
        self.store = store or MemoryAlertStore()
        self._known: dict[str, dict[str, int]] = {}

    def needs_judging(self, series: str, findings: Iterable[Finding]) -> bool:
        known = self._known.get(series)
        if known is None:
            return True
        return any(next_level(known.get(f.rule, 0), f) != known.get(f.rule, 0) for f in findings)

    def judge(self, org: str, series: str, findings: Iterable[Finding], now: datetime,
              period_end: datetime | None = None) -> list[Notice]:
        """The notices this call claims: the alerts it moved up (raised) or back to 0 (recovered)."""
        known = self._known.get(series)
        if known is None:
            known = self._known[series] = dict(self.store.levels(series) or {})
        notices: list[Notice] = []
        for finding in findings:
            stored_before = known.get(finding.rule)
            if next_level(stored_before or 0, finding) == (stored_before or 0) and stored_before is not None:
                continue
            moved = self.store.move(series, finding.rule, org, lambda old: next_level(old or 0, finding), now)
            if moved is None:
                continue  # the store failed: nothing is claimed, the next answer tries again
            old, new = moved
            known[finding.rule] = new
            if old == new or (old is None and new == 0):
                continue
            if new > (old or 0):
                notices.append(Notice(org, finding.rule, Level(new), NoticeKind.RAISED,
                                      _with_reset(finding.message, period_end, now), now))
            elif new == 0:
                notices.append(Notice(org, finding.rule, Level(old or 0), NoticeKind.RECOVERED,
                                      _with_reset(finding.recovery, period_end, now), now))
        return notices

    def forget(self, series: str) -> None:
        """Read the series' levels from the store again at its next judgement."""
        self._known.pop(series, None)


def _with_reset(message: str, period_end: datetime | None, now: datetime) -> str:
    """Every notice says when the period resets (when the API said)."""
    if period_end is None:
        return message
    if period_end <= now:
        return f"{message}; the period has ended"
    return f"{message}; the period resets in {fmt.duration((period_end - now).total_seconds(), precision=2)}"
