"""`cuadra-top history` against what a careless or hostile user, environment or history throws
at it (issue 13): dates at the ends of time, zones that name nothing, org names that are
terminal escapes or spreadsheet formulas, a history file that is damaged, locked or huge, and
a reader that stops reading. Each gets one clear line, a documented fallback, or the rows,
never a traceback."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from control_chars_support import HOSTILE, assert_clean
from pty_session import child_env
from test_history_export import OCT, every, run, truth, write_default

from cuadra_top.state.history import History, default_history_path

from cuadra_top import format as fmt
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


# -- a reader that stops reading ---------------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["--daily"], ["--format", "csv"], ["--format", "json"],
                                  ["--daily", "--format", "csv"]])
def test_piped_into_head_it_stops_quietly(argv, tmp_path):
    """``cuadra-top history | head``: no BrokenPipeError, no 'internal error', the code a shell
    gives any tool a closed pipe ends (141); the output long enough to outrun the pipe's buffer."""
    import os
    import subprocess
    import sys

    import cuadra_top

    write_default([truth(at) for at in every(OCT[0], OCT[0] + timedelta(days=1100), timedelta(hours=6))])
    child = subprocess.Popen([sys.executable, "-m", "cuadra_top", "history", *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=child_env(tmp_path, XDG_DATA_HOME=os.environ["XDG_DATA_HOME"],
                                           PYTHONPATH=str(Path(cuadra_top.__file__).parents[1])))
    assert child.stdout is not None and child.stdout.readline()
    child.stdout.close()  # as head does after its lines
    _, err = child.communicate(timeout=60)
    assert err.decode() == ""
    assert child.returncode == 141


# -- org names that are escapes, formulas, reversed or wide ---------------------------------------


FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2", "@SUM(A1)", "\tx", "\uff1dcmd|'/c calc'!A1",
            "\uff0b1", "\uff0d1", "\uff20x"]
WIDE = "宽字符宽字符宽字符宽字符宽字符"
NAMES = [*HOSTILE, *FORMULAS, WIDE, "plain"]


def hostile_history() -> list[str]:
    records = []
    for number, name in enumerate(NAMES):
        records += [truth(at, key=f"k-{number}", name=name)
                    for at in every(OCT[0], OCT[0] + timedelta(hours=4), timedelta(hours=1))]
    write_default(records)
    return NAMES


@pytest.mark.parametrize("daily", [False, True])
def test_hostile_names_reach_no_terminal_and_the_json_keeps_them(daily, capsys):
    names = hostile_history()
    flag = ["--daily"] if daily else []
    code, out, err = run(capsys, *flag)
    assert code == 0 and err == ""
    assert_clean(out, "table")
    assert f"{WIDE} · series" in out
    code, out, err = run(capsys, *flag, "--format", "json")
    assert code == 0 and err == ""
    assert_clean(out, "json")
    rows = json.loads(out)["days" if daily else "samples"]
    assert {row["org"] for row in rows} == set(names)  # the same strings to a parser


@pytest.mark.parametrize("daily", [False, True])
def test_csv_runs_no_formula_and_carries_no_control_character(daily, capsys):
    hostile_history()
    code, out, err = run(capsys, *(["--daily"] if daily else []), "--format", "csv")
    assert code == 0 and err == ""
    assert_clean(out, "csv")  # a newline inside a quoted cell is CSV, not a terminal trick
    rows = list(csv.DictReader(io.StringIO(out)))
    orgs = {row["org"] for row in rows}
    starts = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
    for name in FORMULAS:
        shown = fmt.printable(name)  # a tab, like any control character, is U+FFFD as on screen
        assert ("'" + shown if shown.startswith(starts) else shown) in orgs  # text to the spreadsheet
    assert "plain" in orgs and WIDE in orgs
    assert not any(org.startswith(starts) for org in orgs)
    for row in rows:  # the figures stay plain numbers: machine-readable
        assert row["credits_used"] == "" or int(row["credits_used"]) >= 0


# -- a history file that is damaged, locked or older -------------------------------------------


def files_beside(path) -> dict[str, bytes]:
    """The history and anything beside it, but for SQLite's WAL companions (which any reader
    of a WAL database may create)."""
    return {entry.name: entry.read_bytes() for entry in path.parent.iterdir()
            if entry.is_file() and not entry.name.endswith(("-wal", "-shm"))}


def test_a_file_that_is_no_database_is_said_and_left_where_it_is(capsys):
    path = default_history_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(range(256)) * 20)
    before = files_beside(path)
    code, out, err = run(capsys)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"cuadra-top: warning: history database {path} is damaged (DatabaseError: file is not a database); left as "
        "it is (the monitor moves a damaged history aside and starts afresh when it next opens it)",
        f"cuadra-top: cannot read the history at {path}; see the warning above"]
    assert files_beside(path) == before  # nothing moved aside, nothing created: this command only reads


def test_a_damaged_page_found_while_reading_is_said_and_the_file_left_as_it_is(capsys):
    write_default([truth(at) for at in every(OCT[0], OCT[0] + timedelta(days=10), timedelta(minutes=10))])
    path = default_history_path()
    data = bytearray(path.read_bytes())
    for page in range(2, len(data) // 4096):  # the header page is sound: the damage shows on reading
        data[page * 4096:page * 4096 + 8] = b"\xab" * 8
    path.write_bytes(bytes(data))
    before = files_beside(path)
    code, out, err = run(capsys, "--daily")
    assert code == 1 and out == ""
    assert "is damaged (DatabaseError: database disk image is malformed); left as it is" in err
    assert files_beside(path) == before


def test_a_writer_holding_the_lock_does_not_hold_up_the_export(capsys):
    """The monitor, or any other writer, in the middle of a transaction: the export reads the
    last committed samples at once instead of waiting 5 s and failing."""
    import sqlite3
    import time

    write_default([truth(at) for at in every(OCT[0], OCT[0] + timedelta(days=2), timedelta(hours=1))])
    writer = sqlite3.connect(default_history_path(), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM samples")  # not committed: the export still sees every sample
        started = time.monotonic()
        code, out, err = run(capsys, "--format", "csv")
        assert (code, err) == (0, "") and len(out.splitlines()) == 1 + 48
        assert time.monotonic() - started < 2
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# -- a huge history ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_histories(tmp_path_factory) -> dict[int, Path]:
    """Histories of 4 and 8 days a minute apart (5,760 and 11,520 samples)."""
    paths = {}
    for days in (4, 8):
        paths[days] = tmp_path_factory.mktemp("long") / "history.sqlite3"
        with History(paths[days]) as history:
            history.record_many([truth(at) for at in every(OCT[0], OCT[0] + timedelta(days=days), timedelta(minutes=1))])
    return paths


@pytest.mark.parametrize("daily", [False, True])
def test_the_export_of_a_long_history_a_minute_apart_holds_about_a_day_of_it(daily, long_histories):
    """A year of samples a minute apart is half a million rows (600 MB of Python objects when
    read at once): the export streams them, so twice the history costs no more memory.
    (Measured on a year of one org: `history --daily` 3.4 s and 46 MB of RSS, was 6.5 s and
    595 MB; the sample listing 6 s and 45 MB, was 7 s and 653 MB.)"""
    import tracemalloc

    from cuadra_top.display_time import UTC as UTC_ZONE
    from cuadra_top.history_cmd import HistoryRequest, run_history

    def peak(days: int) -> int:
        request = HistoryRequest(path=long_histories[days], zone=UTC_ZONE, now=OCT[0] + timedelta(days=60),
                                 daily=daily, format="csv")
        with open(os.devnull, "w") as sink:
            tracemalloc.start()
            try:
                assert run_history(request, sink, pytest.fail) == 0
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    short, long = peak(4), peak(8)
    assert long < 1.3 * short, f"{short} -> {long} bytes"


def test_a_stdout_that_fails_at_the_last_flush_costs_no_traceback(monkeypatch):
    """A terminal gone (EIO) or a non-blocking pipe full (EAGAIN) when main() flushes what is
    left: nothing more can be said there, and the run's own exit code stands."""
    import sys

    from cuadra_top.cli import main

    class Gone(io.StringIO):
        def flush(self) -> None:
            raise OSError(5, "Input/output error")

    write_default([truth(OCT[0])])
    monkeypatch.setattr(sys, "stdout", Gone())
    assert main(["history"]) == 0
