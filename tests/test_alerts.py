"""Alert levels, once-per-crossing notifications and the monitoring-plugin summary line."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cuadra_top.api.models import parse_usage
from cuadra_top.state.alerts import Alert, AlertTracker, Level, assess, check_summary
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


def test_alert_fires_once_per_upward_crossing_and_rearms():
    tracker = AlertTracker()
    fired = [tracker.update("nimbus-pro", usage(p), None, DEFAULT) for p in (70, 85, 86, 70, 85)]
    assert [len(alerts) for alerts in fired] == [0, 1, 0, 0, 1]
    assert fired[1] == [Alert("nimbus-pro", Level.WARNING, "nimbus-pro: credits at 85.0% (warn at 80%)")]


def test_critical_after_warning_fires_again_and_rearms_at_the_lower_level():
    tracker = AlertTracker()
    assert [a.level for a in tracker.update("o", usage(85), None, DEFAULT)] == [Level.WARNING]
    assert [a.level for a in tracker.update("o", usage(96), None, DEFAULT)] == [Level.CRITICAL]
    assert tracker.update("o", usage(97), None, DEFAULT) == []
    assert tracker.update("o", usage(90), None, DEFAULT) == []  # down to warning: no new alert
    assert [a.level for a in tracker.update("o", usage(96), None, DEFAULT)] == [Level.CRITICAL]


def test_metrics_and_orgs_are_tracked_separately():
    tracker = AlertTracker()
    assert len(tracker.update("a", usage(85), None, DEFAULT)) == 1
    assert len(tracker.update("b", usage(85), None, DEFAULT)) == 1
    alerts = tracker.update("a", usage(85, 85), None, DEFAULT)
    assert [a.message for a in alerts] == ["a: storage at 85.0% (warn at 80%)"]
    assert tracker.update("a", None, None, DEFAULT) == []  # a failed fetch changes nothing
    assert tracker.update("a", usage(85, 85), None, DEFAULT) == []
    tracker.forget("a")
    assert len(tracker.update("a", usage(85, 85), None, DEFAULT)) == 2


def test_projection_alert_fires_once():
    tracker = AlertTracker()
    soon = projection(timedelta(days=3, hours=2))
    first = tracker.update("nimbus-pro", usage(40), soon, DEFAULT, now=NOW)
    assert first == [Alert("nimbus-pro", Level.WARNING,
                           "nimbus-pro: credits projected to run out in 3d 2h, before the period ends")]
    assert tracker.update("nimbus-pro", usage(41), soon, DEFAULT, now=NOW) == []
    assert tracker.update("nimbus-pro", usage(42), projection(None), DEFAULT, now=NOW) == []
    assert len(tracker.update("nimbus-pro", usage(43), soon, DEFAULT, now=NOW)) == 1


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
