"""Local history: round trips, thinning, damaged files, failures that must not raise, two writers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import schema_1_file  # the schema-1 SQL, verbatim

from cuadra_top.api.models import parse_usage
from cuadra_top.state import history as history_module
from cuadra_top.state.history import History, Sample, default_history_path

UTC = timezone.utc
PERIOD_START = datetime(2026, 11, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
NOW = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)


def usage(used: int = 7500, limit: int | None = 50000, *, purchased: int | None = None,
          storage: int = 1000, storage_limit: int | None = 10_000,
          start: datetime | None = PERIOD_START, end: datetime | None = PERIOD_END, **more: object):
    credits = {"used": used, "limit": limit, **more}
    if purchased is not None:
        credits["purchasedBalance"] = purchased
    if start is not None:
        credits["periodStart"] = start.isoformat()
    if end is not None:
        credits["periodEnd"] = end.isoformat()
    return parse_usage({"storage": {"used": storage, "limit": storage_limit}, "credits": credits,
                        "plan": {"tier": "pro"}})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "deep" / "er" / "history.sqlite3"


def test_default_path_is_in_the_user_data_dir():
    path = default_history_path()
    assert path.name == "history.sqlite3" and path.parent.name == "cuadra-top"


def test_round_trip_creates_parents_and_keeps_every_field(db: Path):
    h = History(db)
    assert h.enabled and h.warnings == [] and db.exists()
    at = datetime(2026, 11, 24, 20, 59, 58, 123456, tzinfo=UTC)
    h.record("nimbus", at, usage(purchased=100000))
    h.record("other", at, usage(used=1, limit=0, storage_limit=None, start=None, end=None))
    [sample] = h.samples("nimbus")
    assert sample == Sample("nimbus", at, 7500, 50000, 42500, 100000, 1000, 10_000, PERIOD_START, PERIOD_END, "pro")
    [other] = h.samples("other")
    assert other.credits_limit is None and other.storage_limit is None and other.credits_available is None
    assert other.period_start is None and other.period_end is None
    h.close()
    # reopened, the data is still there; closing twice and using after close are harmless
    h2 = History(db)
    assert len(h2.samples("nimbus")) == 1
    h2.close()
    h2.close()
    assert h2.samples("nimbus") == []


def test_file_is_wal_versioned_and_indexed(db: Path):
    History(db).close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == history_module.SCHEMA_VERSION
    indexes = {row[1]: row for row in conn.execute("PRAGMA index_list(samples)")}
    columns = [row[2] for row in conn.execute("PRAGMA index_info(samples_series_at)")]
    assert list(indexes) == ["samples_series_at"] and columns == ["series", "at"]
    conn.close()


def test_samples_are_oldest_first_and_since_filters(db: Path):
    h = History(db)
    times = [NOW - timedelta(minutes=m) for m in (5, 30, 0, 15)]
    for i, at in enumerate(times):
        h.record("o", at, usage(used=i))
    got = h.samples("o")
    assert [s.at for s in got] == sorted(times)
    assert [s.at for s in h.samples("o", since=NOW - timedelta(minutes=15))] == [
        NOW - timedelta(minutes=15), NOW - timedelta(minutes=5), NOW]
    naive = datetime(2026, 11, 24, 12, 0)
    h.record("naive", naive, usage())
    assert h.samples("naive")[0].at == naive.replace(tzinfo=UTC)


def test_thin_keeps_current_period_hourly_before_and_nothing_past_13_months(db: Path):
    h = History(db)
    rows = 0
    # the current period: every 5 minutes, all kept
    current = [PERIOD_START + timedelta(minutes=5 * i) for i in range(200)]
    # the previous period: 4 samples in each of 48 hours, only the last of each hour stays
    previous = [PERIOD_START - timedelta(days=10) + timedelta(hours=hour, minutes=minute)
                for hour in range(48) for minute in (1, 20, 40, 59)]
    ancient = [NOW - timedelta(days=400), NOW - timedelta(days=396)]
    for at in ancient + previous:
        h.record("o", at, usage(start=PERIOD_START - timedelta(days=30), end=PERIOD_START))
        rows += 1
    for at in current:
        h.record("o", at, usage())
        rows += 1
    deleted = h.thin(NOW)
    left = h.samples("o")
    assert deleted == 2 + 48 * 3 == rows - len(left)
    assert [s.at for s in left if s.at >= PERIOD_START] == current
    kept_before = [s.at for s in left if s.at < PERIOD_START]
    assert kept_before == [PERIOD_START - timedelta(days=10) + timedelta(hours=hour, minutes=59) for hour in range(48)]
    assert h.thin(NOW) == 0  # idempotent


def test_thin_without_period_keeps_the_last_31_days_per_org(db: Path):
    h = History(db)
    for minutes in range(0, 120, 10):  # 40 days ago: 12 samples over 2 hours -> 2 stay
        h.record("noperiod", NOW - timedelta(days=40) + timedelta(minutes=minutes), usage(start=None, end=None))
    for minutes in range(0, 120, 10):  # 20 days ago: within 31 days, all stay
        h.record("noperiod", NOW - timedelta(days=20) + timedelta(minutes=minutes), usage(start=None, end=None))
    h.record("untouched", NOW - timedelta(days=40), usage())
    h.record("untouched", NOW - timedelta(days=40, seconds=-1), usage())
    assert h.thin(NOW) == 10 + 1
    assert len(h.samples("noperiod")) == 2 + 12
    assert len(h.samples("untouched")) == 1


def _assert_moved_aside(db: Path, h: History) -> None:
    assert h.enabled
    assert len(h.warnings) == 1 and "damaged" in h.warnings[0] and "moved aside" in h.warnings[0]
    aside = [p for p in db.parent.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and str(aside[0]) in h.warnings[0]
    h.record("o", NOW, usage())
    assert len(h.samples("o")) == 1


def test_a_file_that_is_not_sqlite_is_moved_aside(db: Path):
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database, just some text\n" * 200)
    _assert_moved_aside(db, History(db))


def test_a_corrupt_sqlite_file_is_moved_aside(db: Path):
    h = History(db)
    for i in range(2000):
        h.record(f"org-{i % 7}", NOW - timedelta(seconds=i), usage(used=i))
    h.close()
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[page:len(data)] = os.urandom(len(data) - page)  # everything but the header page
    db.write_bytes(bytes(data))
    _assert_moved_aside(db, History(db))


def test_a_foreign_sqlite_schema_is_moved_aside(db: Path):
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    _assert_moved_aside(db, History(db))


@pytest.mark.parametrize("version", [-1, 1, 2, 3, history_module.SCHEMA_VERSION])
def test_our_version_with_wrong_columns_or_a_version_we_never_wrote_is_moved_aside(db: Path, version: int):
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE samples (org TEXT, at REAL)")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    _assert_moved_aside(db, History(db))


def test_a_newer_schema_is_left_alone_and_history_is_off(db: Path):
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE samples2 (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    h = History(db)
    assert not h.enabled and "newer" in h.warnings[0]
    assert db.read_bytes() == before and not any(".corrupt-" in p.name for p in db.parent.iterdir())


def test_when_the_directory_cannot_be_created_history_is_off_and_silent(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    h = History(blocker / "history.sqlite3")
    assert not h.enabled and len(h.warnings) == 1 and "history is off" in h.warnings[0]
    h.record("o", NOW, usage())
    assert h.samples("o") == [] and h.thin(NOW) == 0
    h.close()


def test_when_moving_aside_fails_history_is_off(db: Path, monkeypatch: pytest.MonkeyPatch):
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 1000)

    def refuse(*args: object) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(history_module.os, "replace", refuse)
    h = History(db)
    assert not h.enabled and "could not be replaced" in h.warnings[0] and "read-only" in h.warnings[0]
    h.record("o", NOW, usage())
    assert db.read_bytes() == b"garbage" * 1000


def test_errors_while_running_warn_once_then_give_up_without_raising(db: Path):
    h = History(db)
    other = sqlite3.connect(db)
    other.execute("DROP TABLE samples")
    other.commit()
    other.close()
    for _ in range(history_module.GIVE_UP_AFTER - 1):
        h.record("o", NOW, usage())
    assert h.enabled and len(h.warnings) == 1 and "record failed" in h.warnings[0]
    assert h.samples("o") == []  # the tenth failure
    assert not h.enabled and "gave up" in h.warnings[-1]
    assert h.thin(NOW) == 0


def test_a_value_sqlite_cannot_store_does_not_raise(db: Path):
    h = History(db)
    h.record("o", NOW, usage(used=2**70, limit=2**71))
    assert h.enabled and h.warnings and h.samples("o") == []
    h.record("o", NOW, usage())
    assert len(h.samples("o")) == 1


def test_two_histories_on_one_file_interleave(db: Path):
    a, b = History(db), History(db)
    for i in range(100):
        (a if i % 2 else b).record("shared", NOW + timedelta(seconds=i), usage(used=i))
        if i % 10 == 0:
            (b if i % 2 else a).thin(NOW + timedelta(seconds=i))
    assert [s.credits_used for s in a.samples("shared")] == list(range(100))
    assert [s.credits_used for s in b.samples("shared")] == list(range(100))
    assert a.warnings == b.warnings == []


WRITER = textwrap.dedent("""
    import sys
    import time
    from datetime import datetime, timedelta, timezone
    from pathlib import Path
    from cuadra_top.api.models import parse_usage
    from cuadra_top.state.history import History
    h = History(Path(sys.argv[1]))
    u = parse_usage({"storage": {"used": 1, "limit": 2}, "credits": {"used": 3, "limit": 4}, "plan": {"tier": "pro"}})
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(300):
        h.record("child", start + timedelta(seconds=i), u)
        time.sleep(0.0005)  # give the other writer a chance to get in between
    h.close()
    print("\\n".join(h.warnings) or "ok")
""")


def test_another_process_writing_at_the_same_time(db: Path):
    parent = History(db)
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "ready"
    child.stdin.write("go\n")
    child.stdin.flush()
    for i in range(300):
        parent.record("parent", NOW + timedelta(seconds=i), usage(used=i))
        time.sleep(0.0005)
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0 and out.strip() == "ok"
    assert len(parent.samples("parent")) == 300
    assert len(parent.samples("child")) == 300
    assert parent.warnings == []
    conn = sqlite3.connect(db)
    writers = [row[0] for row in conn.execute("SELECT org FROM samples ORDER BY rowid")]
    conn.close()
    switches = sum(1 for a, b in zip(writers, writers[1:]) if a != b)
    assert switches > 2, "the two writers did not overlap; the test proved nothing"


def test_sampled_reads_one_sample_per_step_newest_first_in_each(db: Path):
    """What the TUI loads at start: the window's spacing, picked by SQLite, not every sample."""
    h = History(db)
    start = NOW - timedelta(days=2)
    h.record_many([("o", "o", start + timedelta(minutes=m), usage(used=m)) for m in range(0, 2 * 24 * 60 + 1)])
    h.record("other", NOW, usage(used=1))
    dense_since = NOW - timedelta(hours=24)
    got = h.sampled("o", start, dense_since, timedelta(minutes=10), timedelta(hours=3))
    ats = [s.at for s in got]
    assert ats == sorted(ats) and got[-1].at == NOW  # the newest sample is always there
    dense = [s for s in got if s.at >= dense_since]
    sparse = [s for s in got if s.at < dense_since]
    assert 144 <= len(dense) <= 146 and 8 <= len(sparse) <= 10
    assert all(s.org == "o" for s in got)
    assert all(s.credits_used % 10 == 9 for s in dense[:-1])  # the last minute of each 10-minute step
    assert all(s.credits_used % 180 == 179 for s in sparse)  # the last minute of each 3-hour step
    h.close()


def test_one_bad_row_never_loses_the_rest_of_its_batch(db: Path, caplog: pytest.LogCaptureFixture):
    """Issue 10, defect 1: one org reporting credits.used = 2**70 made the history record no
    sample for any org. Every value SQLite cannot store (beyond signed 64 bits, in any column),
    and any row SQLite refuses for another reason, costs only its own sample, with one warning."""
    h = History(db)
    batch = [(org, org, at, u) for org, at, u in [
        ("good", NOW, usage(used=1)),
        ("huge", NOW, usage(used=2**70, limit=2**71)),
        ("edge", NOW, usage(used=2**63 - 1, limit=None)),  # the largest value SQLite stores: kept
        ("big-storage", NOW, usage(storage=2**63, storage_limit=None)),
        ("big-purchase", NOW, usage(purchased=2**64)),
        ("bad-\udc80-name", NOW, usage()),  # a lone surrogate: SQLite cannot encode it
        ("also-good", NOW, usage(used=2)),
    ]]
    with caplog.at_level("WARNING", logger="cuadra_top"):
        h.record_many(batch)
        h.record_many(batch)  # the next poll: the same problems, no new warnings
    assert h.enabled
    assert [s.credits_used for s in h.samples("good")] == [1, 1]
    assert [s.credits_used for s in h.samples("also-good")] == [2, 2]
    assert [s.credits_used for s in h.samples("edge")] == [2**63 - 1] * 2
    for org in ("huge", "big-storage", "big-purchase"):
        assert h.samples(org) == []
    assert len(h.warnings) == 4, h.warnings
    assert any("'huge'" in w and "credits.used" in w for w in h.warnings)
    assert any("'big-storage'" in w and "storage.used" in w for w in h.warnings)
    assert any("'big-purchase'" in w and "credits.purchasedBalance" in w for w in h.warnings)
    assert any("bad-" in w for w in h.warnings)
    logged = [r.getMessage() for r in caplog.records if r.name == "cuadra_top.history"]
    assert logged == h.warnings  # each in the debug log, once
    h.close()


# -- schema 2: series keys, and the migration from schema 1 (issue 10, defect 9) ----------------

KEY_A = "https://api.cuadra.ai org:acct-a"
KEY_B = "https://api.cuadra.ai org:acct-b"


def v1_file(db: Path, rows: list[tuple[str, datetime, int]]) -> None:
    schema_1_file(db, [(org, at, used, 50000, None, None, 1000, 10000, PERIOD_START, PERIOD_END)
                       for org, at, used in rows])


def test_samples_of_one_name_in_two_series_never_mix(db: Path):
    """Two configs call different accounts 'default': each reads only its own samples."""
    h = History(db)
    for minute in range(4):
        at = NOW + timedelta(minutes=minute)
        h.record(KEY_A, at, usage(used=100 + minute), name="default")
        h.record(KEY_B, at, usage(used=2_000_000 + minute), name="default")
    assert [s.credits_used for s in h.samples(KEY_A, name="default")] == [100, 101, 102, 103]
    assert [s.credits_used for s in h.samples(KEY_B, name="default")] == [2_000_000 + m for m in range(4)]
    assert {s.org for s in h.samples(KEY_A, name="default")} == {"default"}  # the name, for display
    dense = NOW - timedelta(hours=1)
    assert [s.credits_used for s in h.sampled(KEY_A, NOW - timedelta(days=1), dense, timedelta(seconds=1),
                                              timedelta(hours=3), name="default")] == [100, 101, 102, 103]
    h.close()


def test_a_schema_1_file_is_migrated_in_place_and_its_samples_stay_with_their_org(db: Path):
    v1_file(db, [("default", NOW - timedelta(minutes=30), 90), ("default", NOW - timedelta(minutes=20), 95),
                       ("other", NOW - timedelta(minutes=20), 5)])
    h = History(db)
    assert h.enabled and h.warnings == []
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == history_module.SCHEMA_VERSION
    assert [row[1] for row in conn.execute("PRAGMA table_info(samples)")] == list(history_module._COLUMNS)  # noqa: SLF001
    conn.close()
    # the old rows are the past of every series of an org of that name, whatever its key
    h.record(KEY_A, NOW, usage(used=100), name="default")
    old_and_new = h.samples(KEY_A, name="default")
    assert [s.credits_used for s in old_and_new] == [90, 95, 100]
    assert old_and_new[0].plan_tier is None and old_and_new[-1].plan_tier == "pro"
    assert [s.credits_used for s in h.samples(KEY_B, name="default")] == [90, 95]
    assert [s.credits_used for s in h.samples(KEY_B, name="other")] == [5]
    assert h.thin(NOW) == 0
    h.close()
    again = History(db)  # opened again: nothing to migrate, nothing lost
    assert again.warnings == [] and len(again.samples(KEY_A, name="default")) == 3
    again.close()


def test_a_migration_that_fails_leaves_the_schema_1_file_as_it_was(db: Path, monkeypatch: pytest.MonkeyPatch):
    v1_file(db, [("default", NOW, 90)])
    before = sqlite3.connect(db).execute("SELECT * FROM samples").fetchall()
    monkeypatch.setattr(history_module, "_MIGRATE_FROM_1", (*history_module._MIGRATE_FROM_1, "SELECT * FROM nowhere"))  # noqa: SLF001
    h = History(db)
    assert not h.enabled and "history is off" in h.warnings[0]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT * FROM samples").fetchall() == before
    conn.close()
    monkeypatch.undo()
    assert [s.credits_used for s in History(db).samples(KEY_A, name="default")] == [90]


SCHEMA_2 = """
CREATE TABLE samples (
    series TEXT NOT NULL, org TEXT NOT NULL, at REAL NOT NULL, credits_used INTEGER NOT NULL,
    credits_limit INTEGER, credits_available INTEGER, purchased_balance INTEGER,
    storage_used INTEGER NOT NULL, storage_limit INTEGER, period_start REAL, period_end REAL, plan_tier TEXT
);
CREATE INDEX samples_series_at ON samples (series, at);
PRAGMA user_version = 2;
"""


def old_history(db: Path, schema: str, *rows: tuple[str, tuple[object, ...]]) -> None:
    """A history file as an older cuadra-top left it: ``schema`` run, then each (SQL, parameters)."""
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.executescript(schema)
    for sql, parameters in rows:
        conn.execute(sql, parameters)
    conn.commit()
    conn.close()


def test_a_schema_2_file_gains_the_hard_cap_and_the_alert_state(db: Path):
    """Schema 3 (issue 11): the hard cap and overage of each sample, and where each alert stands."""
    old_history(db, SCHEMA_2, ("INSERT INTO samples VALUES (?, 'acme', ?, 90, 100, 10, NULL, 5, NULL, NULL, NULL, 'pro')",
                               (KEY_A, NOW.timestamp())))
    h = History(db)
    assert h.enabled and h.warnings == []
    [old] = h.samples(KEY_A, name="acme")
    assert old.credits_used == 90 and old.hard_cap is None and old.overage_credits is None
    h.record(KEY_A, NOW + timedelta(minutes=1), usage(used=95, hardCap=True, overageCredits=0), name="acme")
    new = h.samples(KEY_A, name="acme")[-1]
    assert new.hard_cap is True and new.overage_credits == 0
    columns = [row[1] for row in sqlite3.connect(db).execute("PRAGMA table_info(samples)")]
    assert columns == list(history_module._COLUMNS)  # noqa: SLF001 - the same order as a new file
    h.close()


SCHEMA_3 = SCHEMA_2.replace("plan_tier TEXT\n", "plan_tier TEXT, hard_cap INTEGER, overage_credits INTEGER\n").replace(
    "PRAGMA user_version = 2;", """CREATE TABLE alert_state (
    series TEXT NOT NULL, rule TEXT NOT NULL, org TEXT NOT NULL, level INTEGER NOT NULL, since REAL NOT NULL,
    PRIMARY KEY (series, rule)
);
PRAGMA user_version = 3;""")


def test_a_schema_3_file_gains_the_newest_answers_and_keeps_its_samples_and_alerts(db: Path):
    """Schema 4 (issue 13): each account's newest answer, for the first screen."""
    old_history(db, SCHEMA_3,
                ("INSERT INTO samples VALUES (?, 'acme', ?, 90, 100, 10, NULL, 5, NULL, NULL, NULL, 'pro', 1, 0)",
                 (KEY_A, NOW.timestamp())),
                ("INSERT INTO alert_state VALUES (?, 'credits', 'acme', 1, ?)", (KEY_A, NOW.timestamp())))
    h = History(db)
    assert h.enabled and h.warnings == []
    [old] = h.samples(KEY_A, name="acme")
    assert old.credits_used == 90 and old.hard_cap is True and old.overage_credits == 0
    assert h.alert_levels(KEY_A) == {"credits": 1}
    h.record(KEY_A, NOW + timedelta(minutes=1), usage(used=95), name="acme")
    [(at, body)] = h.latest([("acme", KEY_A.split(" ")[0])]).values()
    assert at == NOW + timedelta(minutes=1) and body["credits"]["used"] == 95
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == history_module.SCHEMA_VERSION
    h.close()


def test_an_alert_moves_once_between_two_processes(db: Path):
    """Two histories on one file (a TUI and a cron run): only the first moves the alert."""
    first, second = History(db), History(db)
    raise_to_warning = lambda old: max(old or 0, 1)  # noqa: E731
    assert first.move_alert(KEY_A, "credits", "acme", raise_to_warning, NOW) == (None, 1)
    assert second.move_alert(KEY_A, "credits", "acme", raise_to_warning, NOW) == (1, 1)  # already there
    assert second.alert_levels(KEY_A) == {"credits": 1}
    assert second.move_alert(KEY_A, "credits", "acme", lambda old: 0, NOW) == (1, 0)
    assert first.move_alert(KEY_A, "credits", "acme", lambda old: 0, NOW) == (0, 0)
    assert first.alert_levels(KEY_B) == {}
    first.close()
    second.close()
    reopened = History(db)  # a restart remembers
    assert reopened.alert_levels(KEY_A) == {"credits": 0}
    reopened.close()


def sqlite_heap() -> int:
    """Bytes SQLite holds in this process now (``sqlite3_memory_used``), through the library
    the ``sqlite3`` module is linked with."""
    import ctypes
    import _sqlite3

    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):
        pytest.skip("this Python's SQLite does not export sqlite3_memory_used")
    used.restype = ctypes.c_int64
    return used()


@pytest.mark.parametrize("reader", ["writer", "read-only"])
def test_sqlite_s_memory_stays_bounded_as_the_file_grows(db: Path, reader: str):
    """A monitor writes every poll for weeks: SQLite's default page cache (2 MiB a
    connection) kept filling with the file, which a 30-minute soak of the TUI read as RSS
    growing 0.4 MiB an hour. Each connection keeps at most PAGE_CACHE_KIB of pages (this
    test saw 1.7 to 2 MiB of growth before, 0.1 MiB or less after)."""
    orgs = [f"org-{n}" for n in range(200)]
    h = History(db)
    h.record_many([(org, org, NOW, usage(used=1)) for org in orgs])
    reading = h if reader == "writer" else History(db, read_only=True)
    reading.samples(orgs[0])
    before = sqlite_heap()
    for poll in range(1, 250):
        h.record_many([(org, org, NOW + timedelta(seconds=5 * poll), usage(used=poll)) for org in orgs])
    assert db.stat().st_size + Path(f"{db}-wal").stat().st_size > 6 * 1024 * 1024, "too small a file to tell"
    for org in orgs:
        assert len(reading.samples(org)) == 250
    grown = sqlite_heap() - before
    assert grown < 2 * history_module.PAGE_CACHE_KIB * 1024, f"SQLite grew by {grown / 1024:.0f} KiB"
