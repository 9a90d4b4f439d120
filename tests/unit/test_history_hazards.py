"""The history file as other processes and people treat it, at the size a year leaves it:
connections that fail at their first read, a file replaced or removed under a running
monitor, a thin that must not hold other writers off (nor crawl under the page-cache bound),
a status line asking for an org the file does not hold, a WAL one big transaction left big."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import schema_1_file
from test_history import KEY_A as KEY, NOW, usage

from cuadra_top.state import history as history_module
from cuadra_top.state.history import History, sample_of


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


def test_a_thin_with_nothing_to_delete_holds_no_writer_off(db: Path, monkeypatch: pytest.MonkeyPatch):
    """``thin`` runs hourly in every monitor. It took the write lock for its whole scan, 4 s
    for 500 orgs over a year (21 s at a month's turn for 100), though it mostly deletes
    nothing: a TUI, a watcher or an exporter sharing the file waits BUSY_TIMEOUT_MS to
    write, then drops that batch of samples. It now finds what is due with reads and takes
    the lock only to delete; here another process holds the lock all along, and a thin
    with nothing due neither waits for it nor fails."""
    monkeypatch.setattr(history_module, "BUSY_TIMEOUT_MS", 200)  # the lock is held: fail fast
    history = History(db)
    for org in ("a", "b"):
        history.record_many([(org, org, NOW - timedelta(days=40) + timedelta(hours=hour), usage(used=hour))
                             for hour in range(48)])  # the previous period, one an hour: thinned already
        history.record_many([(org, org, NOW - timedelta(minutes=minute), usage(used=minute))
                             for minute in range(120)])  # the current period, every minute: all kept
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert history.thin(NOW) == 0
        assert history.warnings == []
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert history.thin(NOW) == 0 and len(history.samples("a")) == 48 + 120
    history.close()


def test_a_thin_with_much_to_delete_lets_the_other_writers_in_between(db: Path, monkeypatch: pytest.MonkeyPatch):
    """At the turn of a month a thin deletes most of the last month (4 million rows for 100
    orgs: 20 s). It now deletes a few hours at a time, each in its own transaction, and
    pauses after each: another process (which would drop its samples after BUSY_TIMEOUT_MS)
    and this one's own monitor get the lock then, and find the thinning partly done."""
    orgs = ("a", "b", "c")
    before = NOW - timedelta(days=30)
    history = History(db)
    history.record_samples([(org, sample_of(org, before + timedelta(minutes=minute), usage(used=minute)))
                            for minute in range(2 * 24 * 60) for org in orgs])  # two days, every minute
    history.record_many([(org, org, NOW, usage(used=1)) for org in orgs])  # the current period has begun
    monkeypatch.setattr(history_module, "_THIN_ROWS", 6 * 60 * len(orgs), raising=False)  # 6 h a transaction: 8
    other = sqlite3.connect(db, timeout=0, isolation_level=None)  # another process: no waiting at all
    seen: list[int] = []
    pause = time.sleep

    def between(seconds: float) -> None:
        other.execute("BEGIN IMMEDIATE")  # raises "database is locked" unless the thin let go
        other.execute("INSERT INTO samples (series, org, at, credits_used, storage_used) VALUES ('x', 'x', ?, 1, 1)",
                      (NOW.timestamp() + len(seen),))
        other.execute("COMMIT")
        history.record("mine", NOW + timedelta(seconds=len(seen)), usage())  # this process, between two of its steps
        seen.append(other.execute("SELECT count(*) FROM samples WHERE org = 'a'").fetchone()[0])
        pause(seconds)

    monkeypatch.setattr(time, "sleep", between)  # the pause thin makes after each transaction
    assert history.thin(NOW) == len(orgs) * (2 * 24 * 60 - 48)
    other.close()
    assert len(seen) == 8 and seen == sorted(seen, reverse=True) and seen[0] > seen[-1] == 48 + 1  # partly, then done
    assert len(history.samples("mine")) == 8 and history.warnings == []
    history.close()


def bytes_read() -> int:
    """What this process has read so far (read and pread calls, from the page cache or not)."""
    try:
        with open("/proc/self/io") as io:
            return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))
    except OSError:
        pytest.skip("no /proc/self/io here")


SITE = "https://api.cuadra.ai"


def test_an_org_the_file_does_not_hold_is_looked_for_in_a_few_pages(db: Path):
    """``cuadra-top status`` (every few seconds in a tmux line) finds an org whose identity
    needs its secret (a token_command, the keyring) by name. It scanned the samples back
    from the newest: an org the file does not hold (not answered yet, or its command
    failing) cost a read of the whole table at every run, 0.65 s for 500 orgs over a year
    (11 s from a cold disk). Now the newest answers, then each series' newest sample."""
    orgs = [f"org-{n}" for n in range(40)]
    start = NOW - timedelta(days=20)
    with History(db) as history:
        history.record_samples([(f"{SITE} org:{org}", sample_of(org, start + timedelta(minutes=minute), usage()))
                                for minute in range(0, 20 * 24 * 60, 10) for org in orgs])  # seeded: no newest answer
        history.record_many([(f"{SITE} org:{org}", org, NOW, usage()) for org in orgs[:20]])
        history.record(f"{SITE} org:renamed", NOW, usage(), name="old-name")
        history.record(f"{SITE} org:renamed", NOW + timedelta(minutes=1), usage(), name="new-name")
    assert db.stat().st_size > 8 * 2**20, "too small a file to tell a scan from a look-up"
    with History(db, read_only=True) as status:
        before = bytes_read()
        assert status.newest_series("nobody", SITE) is None
        assert bytes_read() - before < 2**20
        assert status.newest_series("org-3", SITE) == f"{SITE} org:org-3"  # it has a newest answer
        assert status.newest_series("org-33", SITE) == f"{SITE} org:org-33"  # seeded only: its newest sample
        assert status.newest_series("org-33", "https://elsewhere.example") is None
        assert status.newest_series("new-name", SITE) == f"{SITE} org:renamed"
        assert bytes_read() - before < 2 * 2**20


def sqlite_memory() -> tuple[int, int]:
    """SQLite's bytes in use in this process now, and at most since the last call."""
    import ctypes
    import _sqlite3

    try:
        library = ctypes.CDLL(_sqlite3.__file__)
        used, highwater = library.sqlite3_memory_used, library.sqlite3_memory_highwater
    except (OSError, AttributeError):
        pytest.skip("this Python's SQLite does not export sqlite3_memory_used")
    used.restype = highwater.restype = ctypes.c_int64
    highwater.argtypes = [ctypes.c_int]
    return used(), highwater(1)


def test_thin_deletes_with_a_larger_page_cache_and_gives_it_back(db: Path):
    """A month's turn thinned under the 256 KiB bound took 1.8x as long as with SQLite's
    default (24 s against 13 s for 100 orgs): each window's pages no longer fit. Its
    deletes get THIN_CACHE_KIB, and the connection is back to the bound after each."""
    orgs = [f"org-{n}" for n in range(12)]
    before = NOW - timedelta(days=30)
    with History(db) as history:
        history.record_samples([(org, sample_of(org, before + timedelta(minutes=minute), usage(used=minute)))
                                for minute in range(2 * 24 * 60) for org in orgs])
        history.record_many([(org, org, NOW, usage(used=1)) for org in orgs])
    history = History(db)
    history.samples(orgs[0])
    start, _ = sqlite_memory()
    assert history.thin(NOW) == len(orgs) * (2 * 24 * 60 - 48)
    end, peak = sqlite_memory()
    assert peak - start > 4 * history_module.PAGE_CACHE_KIB * 1024, f"peaked at +{(peak - start) / 1024:.0f} KiB"
    assert end - start < 2 * history_module.PAGE_CACHE_KIB * 1024, f"kept +{(end - start) / 1024:.0f} KiB"
    history.close()


def test_a_big_transaction_leaves_no_big_wal_behind(db: Path, monkeypatch: pytest.MonkeyPatch):
    """A schema-1 file is migrated in one transaction, its whole table copied: the WAL grew
    as big as the file (443 MiB for 100 orgs over a year) and stayed that big for as long
    as any monitor kept the file open, weeks maybe (SQLite reuses a WAL, it never shrinks
    one). Writers now cut it back to WAL_KEEP_BYTES once it has been checkpointed."""
    monkeypatch.setattr(history_module, "WAL_KEEP_BYTES", 2**20, raising=False)
    start = NOW - timedelta(days=20)
    schema_1_file(db, [(f"org-{n}", start + timedelta(minutes=minute), minute, 50000, None, None, 1000, 10000,
                        None, None) for minute in range(0, 20 * 24 * 60, 10) for n in range(20)])
    wal = Path(f"{db}-wal")
    history = History(db)
    assert history.enabled and history.warnings == []
    assert wal.stat().st_size > 5 * 2**20, "the migration wrote too little to tell (SQLite checkpoints at 4 MiB)"
    history.record(KEY, NOW, usage(), name="org-1")  # the next write starts the WAL over
    assert wal.stat().st_size <= 2**20
    assert len(history.samples(KEY, name="org-1")) == 20 * 24 * 6 + 1
    history.close()
