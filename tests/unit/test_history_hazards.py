"""The history file as other processes and people treat it: connections that fail at their
first read, a file replaced or removed under a running monitor, a thin that must not hold
other writers off, a status line asking for an org the file does not hold."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from test_history import NOW, usage

from cuadra_top.state.history import History


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[sqlite3.Connection]:
    """Every SQLite connection made while the test runs (kept alive here, so that only an
    explicit close closes them, not the garbage collector)."""
    made: list[sqlite3.Connection] = []
    connect = sqlite3.connect

    def tracking(*args, **kwargs):
        conn = connect(*args, **kwargs)
        made.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", tracking)
    return made


def is_open(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:  # "Cannot operate on a closed database"
        return False
    return True


@pytest.mark.parametrize("read_only", [False, True])
def test_a_connection_that_fails_at_its_first_read_is_closed(db: Path, connections, read_only: bool):
    """The page-cache PRAGMA is the first statement of every connection, and it reads the
    file's schema: on a file that is no database it raises, and that connection was left
    open (for the garbage collector, or for as long as anything kept the traceback)."""
    db.write_bytes(b"this is not a database " * 500)
    history = History(db, read_only=read_only)
    assert history.warnings  # said: moved aside (writer), or left as it is (reader)
    history.close()
    assert connections, "no connection was made; the test proved nothing"
    assert [conn for conn in connections if is_open(conn)] == []


def companions(db: Path) -> list[Path]:
    return [Path(f"{db}{suffix}") for suffix in ("", "-wal", "-shm")]


@pytest.mark.parametrize("how", ["moved aside by another process", "deleted"])
def test_a_monitor_whose_file_is_replaced_records_into_the_new_one(db: Path, how: str):
    """A TUI runs for days; meanwhile a cron run finds the file damaged and moves it aside
    (what ``History`` itself does), or the user deletes it to start over. SQLite keeps
    writing to the file it has open: every later sample of the TUI went to the file moved
    aside, or to a deleted one, and no one was told."""
    running = History(db)
    running.record("o", NOW, usage(used=1))
    expected = [2]
    if how == "deleted":
        for path in companions(db):
            path.unlink(missing_ok=True)
    else:
        for path in companions(db):
            if path.exists():
                path.replace(path.with_name(path.name.replace("history", "history.corrupt-x")))
        with History(db) as cron:
            cron.record("o", NOW + timedelta(minutes=5), usage(used=5))
        expected = [2, 5]
    running.record("o", NOW + timedelta(minutes=1), usage(used=2))
    assert [s.credits_used for s in running.samples("o")] == expected
    assert running.enabled and len(running.warnings) == 1 and "replaced or removed" in running.warnings[0]
    running.close()
    with History(db, read_only=True) as later:
        assert [s.credits_used for s in later.samples("o")] == expected
