"""Alert levels, once-per-crossing notifications and the monitoring-plugin summary line."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cuadra_top.api.models import parse_usage
from cuadra_top.state.alert_engine import AlertEngine, MemoryAlertStore
from cuadra_top.state.alerts import (
    Health,
    Level,
    Notice,
    NoticeKind,
    assess,
    check_summary,
    data_findings,
    health_findings,
)
from cuadra_top.thresholds import Thresholds
from cuadra_top.state.forecast import Forecast

UTC = timezone.utc
NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
END = datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC)
DEFAULT = Thresholds()


def usage(credit_percent: float = 10.0, storage_percent: float = 10.0, *, credit_limit: int | None = 1000,
          storage_limit: int | None = 1000):
    used = round(credit_percent * (credit_limit or 1000) / 100)
    stored = round(storage_percent * (storage_limit or 1000) / 100)
    return parse_usage({
        "storage": {"used": stored, "limit": storage_limit},
        "credits": {"used": used, "limit": credit_limit, "periodStart": "2026-04-01T00:00:00Z",
                    "periodEnd": "2026-04-30T23:59:59Z"},
        "plan": {"tier": "pro"},
    })


def projection(runs_out_in: timedelta | None, end: datetime | None = END) -> Forecast:
    at = NOW + runs_out_in if runs_out_in is not None else None
    return Forecast(1000.0, 900.0, at, None, None, None, 6.0, end, None if at else "no consumption in the last 24 h")


def test_below_every_threshold_is_ok():
    assert assess("a", usage(50, 50), projection(None), DEFAULT, now=NOW) == (Level.OK, [])


def test_credit_and_storage_levels_take_the_worst():
    assert assess("nimbus-pro", usage(84.2), None, DEFAULT) == (
        Level.WARNING, ["nimbus-pro: credits at 84.2% (warn at 80%)"])
    level, messages = assess("nimbus-pro", usage(84.2, 97), None, DEFAULT)
    assert level is Level.CRITICAL
    assert messages == ["nimbus-pro: credits at 84.2% (warn at 80%)", "nimbus-pro: storage at 97.0% (critical at 95%)"]
    assert assess("x", usage(112), None, Thresholds(warn_percent=70, critical_percent=92.5))[1] == [
        "x: credits at 112.0%, over the limit (critical at 92.5%)"]


@pytest.mark.parametrize("limit", [0, None])
def test_unlimited_is_ok(limit):
    u = parse_usage({"storage": {"used": 10**12, "limit": limit}, "credits": {"used": 10**9, "limit": limit},
                     "plan": {"tier": "enterprise"}})
    assert assess("big", u, None, DEFAULT) == (Level.OK, [])


def test_a_failed_fetch_is_unknown_with_the_error():
    assert assess("flaky-labs", None, None, DEFAULT, error="server error 503") == (
        Level.UNKNOWN, ["flaky-labs: server error 503"])
    assert assess("flaky-labs", None, None, DEFAULT, error="line one\nline two")[1] == ["flaky-labs: line one line two"]


def test_projected_exhaustion_before_the_period_end_warns():
    level, messages = assess("nimbus-pro", usage(40), projection(timedelta(days=3, hours=2, minutes=5)), DEFAULT, now=NOW)
    assert level is Level.WARNING
    assert messages == ["nimbus-pro: credits projected to run out in 3d 2h, before the period ends"]
    # after the period end: no warning; switched off: no warning; critical stays critical
    assert assess("n", usage(40), projection(timedelta(days=30)), DEFAULT, now=NOW) == (Level.OK, [])
    off = Thresholds(warn_on_projected_exhaustion=False)
    assert assess("n", usage(40), projection(timedelta(days=3)), off, now=NOW) == (Level.OK, [])
    assert assess("n", usage(96), projection(timedelta(days=1)), DEFAULT, now=NOW)[0] is Level.CRITICAL
    # no known period end: nothing to compare with, no projection warning
    assert assess("n", usage(40), projection(timedelta(days=3), end=None), DEFAULT, now=NOW) == (Level.OK, [])


def test_used_up_credits_are_critical_not_a_projection():
    level, messages = assess("n", usage(100), projection(timedelta(hours=-2)), DEFAULT, now=NOW)
    assert level is Level.CRITICAL and messages == ["n: credits at 100.0% (critical at 95%)"]


class Judge:
    """The engine as a long-running monitor uses it, one org's answers in a row."""

    def __init__(self, store=None) -> None:
        self.engine = AlertEngine(store or MemoryAlertStore())

    def __call__(self, org: str, u, forecast=None, thresholds=DEFAULT, *, now=NOW, series=None) -> list[Notice]:
        findings = data_findings(org, u, forecast, thresholds, now)
        return self.engine.judge(org, series or f"key:{org}", findings, now, END)


def test_alert_fires_once_per_upward_crossing_and_rearms_below_the_margin():
    judge = Judge()
    fired = [judge("nimbus-pro", usage(p)) for p in (70, 85, 86, 70, 85)]
    assert [len(notices) for notices in fired] == [0, 1, 0, 1, 1]  # raised, recovered, raised again
    raised = fired[1][0]
    assert (raised.level, raised.kind, raised.rule) == (Level.WARNING, NoticeKind.RAISED, "credits")
    assert raised.message == "nimbus-pro: credits at 85.0% (warn at 80%); the period resets in 20d 11h"
    recovered = fired[3][0]
    assert recovered.kind is NoticeKind.RECOVERED and recovered.level is Level.WARNING
    assert recovered.message.startswith("nimbus-pro: credits back to 70.0%, under 78% (warn at 80%)")


def test_a_value_oscillating_around_a_threshold_raises_one_alert():
    """Hysteresis: 79.5, 80.5, 79.0, 80.2, 78.5 ... stays one alert until under 78%."""
    judge = Judge()
    notices = [n for p in (79.5, 80.5, 79.0, 80.2, 78.5, 81.0, 78.1, 80.0) for n in judge("o", usage(p))]
    assert [(n.kind, n.level) for n in notices] == [(NoticeKind.RAISED, Level.WARNING)]
    later = judge("o", usage(77.9))
    assert [n.kind for n in later] == [NoticeKind.RECOVERED]


def test_critical_after_warning_fires_again_and_rearms_at_the_lower_level():
    judge = Judge()
    assert [n.level for n in judge("o", usage(85))] == [Level.WARNING]
    assert [n.level for n in judge("o", usage(96))] == [Level.CRITICAL]
    assert judge("o", usage(97)) == []
    assert judge("o", usage(94)) == []  # within the margin of 95: still critical, nothing said
    assert judge("o", usage(90)) == []  # down to warning, quietly: critical re-armed
    assert [n.level for n in judge("o", usage(96))] == [Level.CRITICAL]


def test_the_first_judgement_already_past_counts_as_a_crossing():
    """A cron job that starts on a bad day must still tell someone."""
    judge = Judge()
    assert [n.level for n in judge("a", usage(96, 85))] == [Level.CRITICAL, Level.WARNING]


def test_metrics_and_orgs_are_judged_separately():
    judge = Judge()
    assert len(judge("a", usage(85))) == 1
    assert len(judge("b", usage(85))) == 1
    notices = judge("a", usage(85, 85))
    assert [n.message.split(";")[0] for n in notices] == ["a: storage at 85.0% (warn at 80%)"]
    assert judge("a", usage(85, 85)) == []


def test_two_processes_on_one_history_raise_an_alert_once(tmp_path):
    """The TUI and a cron run share the history's alert state: one notice per crossing."""
    from cuadra_top.state.alert_engine import HistoryAlertStore
    from cuadra_top.state.history import History

    path = tmp_path / "h.sqlite3"
    tui, cron = History(path), History(path)
    in_tui, in_cron = Judge(HistoryAlertStore(lambda: tui)), Judge(HistoryAlertStore(lambda: cron))
    assert len(in_cron("acme", usage(85))) == 1  # cron saw it first: cron tells
    assert in_tui("acme", usage(86)) == []  # the TUI finds it told
    assert in_tui("acme", usage(70))[0].kind is NoticeKind.RECOVERED
    assert in_cron("acme", usage(70)) == []
    tui.close()
    restarted = Judge(HistoryAlertStore(lambda: History(path)))
    assert restarted("acme", usage(70)) == []  # a restart remembers: nothing new to say
    assert len(restarted("acme", usage(90))) == 1
    cron.close()


def test_projection_alert_fires_once():
    judge = Judge()
    soon = projection(timedelta(days=3, hours=2))
    first = judge("nimbus-pro", usage(40), soon)
    assert [n.message.split(";")[0] for n in first] == [
        "nimbus-pro: credits projected to run out in 3d 2h, before the period ends"]
    assert judge("nimbus-pro", usage(41), soon) == []
    assert judge("nimbus-pro", usage(42), projection(timedelta(days=25))) != []  # clear past the reset: recovered
    assert len(judge("nimbus-pro", usage(43), soon)) == 1


def test_health_rules_failing_and_stopped():
    engine = AlertEngine()
    since = NOW - timedelta(minutes=11)
    failing = health_findings("f", Health(failures=6, failing_since=since, error="server error 503",
                                          error_kind="server", interval=120), NOW)
    notices = engine.judge("f", "key:f", failing, NOW, END)
    assert [(n.rule, n.level) for n in notices] == [("failing", Level.WARNING)]
    assert notices[0].message.startswith("f: fetches failing for 11m (6 in a row): server error 503")
    young = health_findings("g", Health(failures=2, failing_since=NOW - timedelta(minutes=3), error="x",
                                        error_kind="server", interval=120), NOW)
    assert engine.judge("g", "key:g", young, NOW, END) == []  # under 5 intervals: not yet
    stopped = health_findings("f", Health(failures=7, failing_since=since, stopped=True,
                                          error="credential rejected (401)", error_kind="auth"), NOW)
    notices = engine.judge("f", "key:f", stopped, NOW, END)
    assert {(n.rule, n.kind) for n in notices} == {("stopped", NoticeKind.RAISED), ("failing", NoticeKind.RECOVERED)}
    assert [n.level for n in notices if n.rule == "stopped"] == [Level.CRITICAL]
    fine = health_findings("f", Health(), NOW)
    assert [(n.rule, n.kind) for n in engine.judge("f", "key:f", fine, NOW, END)] == [("stopped", NoticeKind.RECOVERED)]


def test_overage_and_402_rules():
    over = parse_usage({"storage": {"used": 1, "limit": 10}, "plan": {"tier": "pro"},
                        "credits": {"used": 1200, "limit": 1000, "overageCredits": 200, "isInOverage": True,
                                    "hardCap": False, "periodEnd": "2026-04-30T23:59:59Z"}})
    assert [(f.rule, f.level) for f in data_findings("o", over, None, DEFAULT, NOW) if f.rule == "overage"] == [
        ("overage", Level.WARNING)]
    from cuadra_top.state.forecast import Pool, Transition

    def capped(hours: float) -> Forecast:
        at = NOW + timedelta(hours=hours)
        return Forecast(1000.0, 900.0, at, at, None, None, 6.0, END, None,
                        transitions=(Transition(Pool.HARD_CAP, at, 500, True),))

    cap = parse_usage({"storage": {"used": 1, "limit": 10}, "plan": {"tier": "pro"},
                       "credits": {"used": 500, "limit": 1000, "purchasedBalance": 100, "hardCap": True,
                                   "periodEnd": "2026-04-30T23:59:59Z"}})
    judge = Judge()
    notices = [n for n in judge("cap", cap, capped(30)) if n.rule == "hard_cap"]
    assert notices == []  # beyond the 24 h horizon
    notices = [n for n in judge("cap", cap, capped(20)) if n.rule == "hard_cap"]
    assert [(n.level, n.kind) for n in notices] == [(Level.CRITICAL, NoticeKind.RAISED)]
    assert "402 errors projected in 20h" in notices[0].message and "within the 1d horizon" in notices[0].message
    assert [n for n in judge("cap", cap, capped(24.5)) if n.rule == "hard_cap"] == []  # within the margin
    assert [n.kind for n in judge("cap", cap, capped(26)) if n.rule == "hard_cap"] == [NoticeKind.RECOVERED]


def test_check_summary_ok():
    assert check_summary([("a", Level.OK, []), ("b", Level.OK, []), ("c", Level.OK, [])]) == (0, "CUADRA OK - 3 orgs ok")
    assert check_summary([("a", Level.OK, [])]) == (0, "CUADRA OK - 1 org ok")


def test_check_summary_warning_and_critical_list_the_problems_worst_first():
    warn = ("nimbus-pro", Level.WARNING, ["nimbus-pro: credits at 84.2% (warn at 80%)"])
    assert check_summary([("a", Level.OK, []), warn]) == (1, "CUADRA WARNING - nimbus-pro: credits at 84.2% (warn at 80%)")
    crit = ("big", Level.CRITICAL, ["big: credits at 99.0% (critical at 95%)", "big: storage at 96.0% (critical at 95%)"])
    code, line = check_summary([warn, ("a", Level.OK, []), crit])
    assert code == 2
    assert line == ("CUADRA CRITICAL - big: credits at 99.0% (critical at 95%); big: storage at 96.0% (critical at 95%); "
                    "nimbus-pro: credits at 84.2% (warn at 80%)")


def test_check_summary_critical_outranks_unknown_and_names_both():
    """Defect 11: an unreachable org must not hide another org's CRITICAL (it was UNKNOWN, 3)."""
    crit = ("big", Level.CRITICAL, ["big: credits at 99.0% (critical at 95%)"])
    unknown = ("flaky-labs", Level.UNKNOWN, ["flaky-labs: server error 503"])
    code, line = check_summary([unknown, crit])
    assert code == 2
    assert line == "CUADRA CRITICAL - big: credits at 99.0% (critical at 95%); flaky-labs: server error 503"
    warn = ("nimbus-pro", Level.WARNING, ["nimbus-pro: credits at 84.2% (warn at 80%)"])
    code, line = check_summary([warn, unknown])
    assert code == 3  # an org nobody can see outranks a warning
    assert line == "CUADRA UNKNOWN - flaky-labs: server error 503; nimbus-pro: credits at 84.2% (warn at 80%)"
    assert check_summary([("x", Level.WARNING, [])]) == (1, "CUADRA WARNING - x: WARNING")
    assert check_summary([]) == (3, "CUADRA UNKNOWN - no orgs to check")


def test_assess_feeds_check_summary():
    results = [("nimbus-pro", *assess("nimbus-pro", usage(84.2), None, DEFAULT)),
               ("flaky-labs", *assess("flaky-labs", None, None, DEFAULT, error="server error 503"))]
    code, line = check_summary(results)
    assert code == 3 and "\n" not in line
    assert line == "CUADRA UNKNOWN - flaky-labs: server error 503; nimbus-pro: credits at 84.2% (warn at 80%)"


def test_a_forecast_that_cannot_tell_leaves_a_402_alert_where_it_is():
    """A restarted watcher's first answer comes before its history is read: 'too few samples'
    is not 'no 402 projected', and must not recover the alert (it was told again after)."""
    from cuadra_top.state.forecast import TOO_FEW, Pool, Transition

    cap = parse_usage({"storage": {"used": 1, "limit": 10}, "plan": {"tier": "pro"},
                       "credits": {"used": 500, "limit": 1000, "purchasedBalance": 100, "hardCap": True,
                                   "periodEnd": "2026-04-30T23:59:59Z"}})
    at = NOW + timedelta(hours=5)
    projected = Forecast(1000.0, 900.0, at, at, None, None, 6.0, END, None,
                         transitions=(Transition(Pool.HARD_CAP, at, 500, True),))
    unknown = Forecast(None, None, None, None, None, None, 0.0, END, TOO_FEW)
    judge = Judge()
    assert [n.kind for n in judge("cap", cap, projected) if n.rule == "hard_cap"] == [NoticeKind.RAISED]
    assert [n for n in judge("cap", cap, unknown) if n.rule == "hard_cap"] == []  # nothing to say, either way
    assert [n for n in judge("cap", cap, projected) if n.rule == "hard_cap"] == []  # still the one crossing
