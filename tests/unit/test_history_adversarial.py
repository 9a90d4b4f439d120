"""`cuadra-top history` against what a careless or hostile user, environment or history throws
at it (issue 13): dates at the ends of time, zones that name nothing, org names that are
terminal escapes or spreadsheet formulas, a history file that is damaged, locked or huge, and
a reader that stops reading. Each gets one clear line, a documented fallback, or the rows,
never a traceback."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from test_history_export import OCT, every, run, truth, write_default

from cuadra_top.display_time import zone_named

UTC = timezone.utc


@pytest.fixture(autouse=True)
def _tz_utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


# -- --since and --until at the ends of time -------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["--since", "0001-01-01"],
    ["--since", "0001-01-01", "--timezone", "Asia/Kolkata"],  # its midnight is in year 0 in UTC
    ["--since", "0001-01-01T00:00+14:00"],
    ["--until", "9999-12-31"],  # through that day: the day after is past year 9999
    ["--until", "9999-12-31", "--timezone", "America/St_Johns"],
    ["--until", "9999-12-31T23:59:59.999999"],
    ["--since", "0001-01-01", "--until", "9999-12-31"],
])
@pytest.mark.parametrize("daily", [False, True])
def test_bounds_at_the_ends_of_time_mean_no_bound(argv, daily, capsys):
    times = every(OCT[0], OCT[0] + timedelta(days=2), timedelta(hours=1))
    write_default([truth(at) for at in times])
    code, out, err = run(capsys, *argv, *(["--daily"] if daily else []), "--format", "csv")
    assert (code, err) == (0, "")
    zone = zone_named(argv[argv.index("--timezone") + 1] if "--timezone" in argv else "UTC")
    assert len(out.splitlines()) == 1 + (len({zone.day_of(at) for at in times}) if daily else len(times))


@pytest.mark.parametrize("argv", [
    ["--since", "9999-12-31T23:59:59.999999-14:00"],  # after every sample there can be
    ["--until", "0001-01-01T00:00+14:00"],  # before every sample there can be
])
@pytest.mark.parametrize("daily", [False, True])
def test_bounds_beyond_the_ends_of_time_leave_nothing(argv, daily, capsys):
    write_default([truth(at) for at in every(OCT[0], OCT[0] + timedelta(days=2), timedelta(hours=1))])
    code, out, err = run(capsys, *argv, *(["--daily"] if daily else []))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("cuadra-top: no samples in the history ") and "they run from 2026-10-01 00:00 UTC" in err
