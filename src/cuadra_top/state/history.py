"""Local usage history in SQLite, so burn rates survive restarts and cron runs add to them.

Storage format (schema version 2, kept in ``PRAGMA user_version``): one table ``samples``
with one row per successful fetch. ``series`` is the key of the account the sample belongs to
(:func:`cuadra_top.state.identity.series_key`: the API URL plus a stable identity, never a
secret), ``org`` the display name it had. Two orgs configured under one name but on different
accounts therefore never share a series, and a renamed org or a rotated token keeps its own.
Timestamps (``at``, ``period_start``, ``period_end``) are UTC epoch seconds stored as REAL:
they sort and compare as numbers, which keeps the range queries on the ``(series, at)`` index
and the hourly thinning simple. A credit or storage limit of 0 is stored as NULL, meaning
unlimited, the same as the API's null; ``plan_tier`` is kept so that the forecast can tell
another plan from the same series (see :class:`cuadra_top.state.forecast.SeriesBreaks`).

Schema 1 keyed samples by the org's name alone. A schema-1 file is migrated in place, in one
transaction: its rows get the series ``LEGACY_SERIES + name`` and are read along with every
series of an org of that name, so no one's history is lost on upgrade (the forecast's series
rule keeps two accounts in them apart). A file of a newer schema is left untouched.

The database runs in WAL mode with a 5 s busy timeout so a TUI and a cron ``--once`` can
share one file. The monitor must keep running whatever happens to this file, so no method
raises for I/O or SQLite errors: a damaged file is moved aside and recreated, and when even
that is impossible the history switches itself off (``enabled`` False) and says why in
``warnings``. A writer whose file was replaced or removed under it (another process moved it
aside as damaged, someone deleted it) opens the file at the path before its next operation.
A sample SQLite cannot store (a count beyond its signed 64-bit integers, a name it cannot
encode) is skipped on its own: the rest of its batch is written, and the skip is reported
once in ``warnings`` and in the debug log.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import platformdirs

from cuadra_top.redaction import redact


if TYPE_CHECKING:
    from cuadra_top.api.models import Usage

SCHEMA_VERSION = 4
LEGACY_SERIES = "schema-1 name:"
"""The series of rows from schema 1, which knew only the org's name: ``LEGACY_SERIES + name``.
No series key starts like this (keys start with the API URL)."""
BUSY_TIMEOUT_MS = 5000
PAGE_CACHE_KIB = 256
"""SQLite's page cache per connection. Its default, 2 MiB, fills as the file grows: a
monitor writing 40 orgs every 5 s grew it by 0.4 MiB an hour over its soak's half hour, and
would for hours more, a slope the soak takes for a leak. Reads here are range scans done
once and writes append, so the pages worth keeping are the B-trees' upper levels; the rest
comes from the system's file cache."""
THIN_CACHE_KIB = 8192
"""The page cache of ``thin``'s deletes, for each of their transactions only: a window of
a few hours of every org touches a few MiB of table and index pages, again and again (the
rows of all orgs are interleaved); under PAGE_CACHE_KIB a month's turn took 1.8x as long
(100 orgs: 24 s against 13 s with SQLite's default 2 MiB, and as fast from 2 to 16 MiB).
8 MiB covers a window of about 600 orgs; the pages are given back after each."""
WAL_KEEP_BYTES = 16 * 2**20
"""What a writer leaves of the WAL once it has been checkpointed (``journal_size_limit``).
SQLite reuses a WAL file and never shrinks it: after one big transaction (a schema-1
file's migration copies the table: 443 MiB for 100 orgs over a year) it stayed that big
for as long as any process kept the file open. A monitor's WAL is ~4 MiB (SQLite
checkpoints at 1000 pages), a month's thin writes a few more: this leaves those alone."""
RETENTION = timedelta(days=395)
"""Anything older than 13 months is deleted by ``thin()``."""
FULL_RESOLUTION_FALLBACK = timedelta(days=31)
"""How far back ``thin()`` keeps every sample when an org's period start is unknown."""
GIVE_UP_AFTER = 10
"""Consecutive failed operations after which the history stops trying (each may block 5 s)."""



def _log():
    """The history's debug logger, imported when something is logged: ``cuadra-top status``
    reads the history every few seconds, logs nothing, and need not load ``logging``."""
    from cuadra_top.debuglog import logger

    return logger("history")


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""What an SQLite INTEGER holds; the API's counts have no upper bound."""
_ROW_ERRORS = (
    OverflowError, ValueError, TypeError,
    sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.IntegrityError, sqlite3.DataError,
)
"""What SQLite (or binding a value for it) raises for one bad row, as opposed to the file or
the disk failing: such a row is skipped, the others of its batch are written."""
_DAMAGED_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
_V1_COLUMNS = (
    "org", "at", "credits_used", "credits_limit", "credits_available", "purchased_balance",
    "storage_used", "storage_limit", "period_start", "period_end",
)
_V2_COLUMNS = ("series", *_V1_COLUMNS, "plan_tier")
_COLUMNS = (*_V2_COLUMNS, "hard_cap", "overage_credits")
_SAMPLE_COLUMNS = _COLUMNS[1:]
"""What a read selects: everything but the series, which the caller asked for."""
_MAX_VARIABLES = 900
"""Rowids per ``IN (...)``: under SQLite's oldest limit on bound variables (999)."""
_TABLE = """
CREATE TABLE {name} (
    series TEXT NOT NULL,
    org TEXT NOT NULL,
    at REAL NOT NULL,
    credits_used INTEGER NOT NULL,
    credits_limit INTEGER,
    credits_available INTEGER,
    purchased_balance INTEGER,
    storage_used INTEGER NOT NULL,
    storage_limit INTEGER,
    period_start REAL,
    period_end REAL,
    plan_tier TEXT,
    hard_cap INTEGER,
    overage_credits INTEGER
)
"""
_INDEX = "CREATE INDEX samples_series_at ON samples (series, at)"
_ALERTS = """
CREATE TABLE alert_state (
    series TEXT NOT NULL,
    rule TEXT NOT NULL,
    org TEXT NOT NULL,
    level INTEGER NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (series, rule)
)
"""
"""Where each alert stands, per account and rule (0: armed, 1: warning, 2: critical), shared
by every process on this history: the TUI, a cron --once and the watcher raise an alert once
per crossing between them, and a restart does not raise it again."""
_LATEST = """
CREATE TABLE latest (
    series TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    at REAL NOT NULL,
    body TEXT NOT NULL
)
"""
"""Each account's newest answer, whole (the usage as JSON, any known secret masked): what a
monitor shows the instant it starts, marked as from history, until the first live answer."""
_CREATE = (_TABLE.format(name="samples"), _INDEX, _ALERTS, _LATEST)
_MIGRATE_FROM_1 = (
    _TABLE.format(name="samples_v2"),
    (f"INSERT INTO samples_v2 ({', '.join(_COLUMNS)}) "
     f"SELECT ? || org, {', '.join(_V1_COLUMNS)}, NULL, NULL, NULL FROM samples ORDER BY rowid", (LEGACY_SERIES,)),
    "DROP TABLE samples",  # and its (org, at) index
    "ALTER TABLE samples_v2 RENAME TO samples",
    _INDEX,
    _ALERTS,
    _LATEST,
)
"""Schema 1 to 4, statement by statement, inside the opening transaction: a copy rather
than ALTER TABLE ADD COLUMN, so that a migrated file has the same columns, in the same
order, as a new one (and rowid order, the tie-break of equal times, is kept)."""
_MIGRATE_FROM_2 = (
    "ALTER TABLE samples ADD COLUMN hard_cap INTEGER",
    "ALTER TABLE samples ADD COLUMN overage_credits INTEGER",
    _ALERTS,
    _LATEST,
)
"""Schema 2 to 4: the two new columns come last in a new file too, so ADD COLUMN keeps the
order; the alert state and the newest answers are tables of their own."""
_MIGRATE_FROM_3 = (_LATEST,)
"""Schema 3 to 4: the newest answer of each account, for an instant first screen."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sample:
    """One recorded fetch of one org (``org`` is its display name). Limits are None when unlimited.

    Slotted: an org's trend window holds up to ~400 of them (a month of history), and hundreds
    of orgs multiply that; without an instance dict each is ~50 bytes smaller."""

    org: str
    at: datetime
    credits_used: int
    credits_limit: int | None
    credits_available: int | None
    purchased_balance: int | None
    storage_used: int
    storage_limit: int | None
    period_start: datetime | None
    period_end: datetime | None
    plan_tier: str | None = None
    """None when unknown (samples recorded before the history kept it)."""
    hard_cap: bool | None = None
    """Whether the API stops with 402 once every credit is spent (None: not sent, or unknown)."""
    overage_credits: int | None = None
    """Credits spent beyond the limit and the purchased balance (None: not sent)."""


@dataclass(frozen=True)
class SeriesInfo:
    """One series of the file, as ``History.series_index`` lists it."""

    key: str
    names: tuple[str, ...]
    """The org names its samples were recorded under, the most recently used last."""
    samples: int
    first: datetime
    last: datetime

    @property
    def name(self) -> str:
        """The name it has now (its newest sample's)."""
        return self.names[-1]

    @property
    def legacy(self) -> bool:
        """Rows from schema 1, keyed by the org's name alone."""
        return self.key.startswith(LEGACY_SERIES)


def default_history_path() -> Path:
    return platformdirs.user_data_path("cuadra-top") / "history.sqlite3"


class _Damaged(Exception):
    """The file exists but is not a usable history database."""


class _Newer(Exception):
    """Written by a newer cuadra-top: left untouched rather than moved aside."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def _sqlite(target: str | Path, **options: Any) -> sqlite3.Connection:
    """A connection as every history connection is made: the busy timeout, usable from the
    worker threads the monitor reads and writes in, and a page cache of PAGE_CACHE_KIB."""
    conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, **options)
    try:
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")  # reads the schema: the file's first read
    except BaseException:  # not a database, damaged, unreadable: the caller says so; nothing stays open
        conn.close()
        raise
    return conn


def _file_identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` names now (device and inode), None when none does."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # the models treat naive times as UTC; so do we
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _check_columns(conn: sqlite3.Connection, expected: tuple[str, ...]) -> None:
    columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(samples)"))
    if columns != expected:
        raise _Damaged("the samples table has the wrong columns")


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a schema-``version`` file to SCHEMA_VERSION inside the open transaction, once it
    has that schema's columns. Each step is SQL, or SQL and its parameters."""
    migrations = {
        1: (_V1_COLUMNS, _MIGRATE_FROM_1),
        2: (_V2_COLUMNS, _MIGRATE_FROM_2),
        3: (_COLUMNS, _MIGRATE_FROM_3),
    }
    if version not in migrations:
        raise _Damaged(f"unknown schema version {version}")
    columns, steps = migrations[version]
    _check_columns(conn, columns)
    for step in steps:
        sql, parameters = (step, ()) if isinstance(step, str) else step
        conn.execute(sql, parameters)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _is_damage(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorname", "") in _DAMAGED_CODES


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")


class History:
    """Samples per org in one SQLite file; every method is a cheap no-op once disabled."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """``read_only``: open an existing file of this schema for reads only, without the
        integrity check, migration and WAL switch (the check reads the whole file: ~80 ms for
        a year of 50 orgs); what ``cuadra-top status`` needs, every few seconds, and what
        ``cuadra-top history`` reads with. Nothing is ever written, moved or created then:
        a writer holding the file's lock does not block the reads (WAL), and a damaged file
        is left where it is. A missing, older (``outdated``), newer, damaged or unreadable
        file gives a disabled history whose ``warnings`` say why (nothing is logged)."""
        self.path = Path(path)
        self.warnings: list[str] = []
        self.enabled = True
        self.outdated = False
        """Read-only, and the file has an older schema: only a read-write open migrates it."""
        self._read_only = read_only
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None
        """The file the writer's connection has open (see ``_replaced``)."""
        self._lock = threading.Lock()  # one connection, possibly used from worker threads
        self._failures = 0
        if read_only:
            self._open_read_only()
        else:
            self._open()

    # -- opening -------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect()
            return
        except _Damaged as exc:
            reason = str(exc)
        except sqlite3.Error as exc:
            if not _is_damage(exc):
                self._disable(f"history database {self.path} could not be opened ({_describe(exc)}); history is off")
                return
            reason = _describe(exc)
        except _Newer as exc:
            self._disable(
                f"history database {self.path} was written by a newer cuadra-top (schema {exc.version}); "
                "left untouched, history is off"
            )
            return
        except OSError as exc:
            self._disable(f"history database {self.path} could not be opened ({_describe(exc)}); history is off")
            return
        self._recover(reason)

    def _open_read_only(self) -> None:
        conn = None
        try:
            if self.path.is_file():
                conn = _sqlite(f"{self.path.absolute().as_uri()}?mode=ro", uri=True)
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == SCHEMA_VERSION:
                    self._conn, conn = conn, None
                elif version > SCHEMA_VERSION:
                    self.warnings.append(f"history database {self.path} was written by a newer cuadra-top "
                                         f"(schema {version}); left untouched")
                elif version > 0:
                    self.outdated = True
                else:
                    self.warnings.append(f"history database {self.path} holds no cuadra-top history")
        except (sqlite3.Error, OSError, ValueError) as exc:
            self.warnings.append(self._damaged(_describe(exc)) if _is_damage(exc) else
                                 f"history database {self.path} could not be read ({_describe(exc)})")
        finally:
            if conn is not None:
                conn.close()
        self.enabled = self._conn is not None

    def _damaged(self, reason: str) -> str:
        return (f"history database {self.path} is damaged ({reason}); left as it is (the monitor moves a "
                "damaged history aside and starts afresh when it next opens it)")

    def _connect(self) -> sqlite3.Connection:
        """Open, switch to WAL, create or check the schema; raises _Damaged for a bad file."""
        conn = _sqlite(self.path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_KEEP_BYTES}")
            # first read of the header (NOTADB shows here); a newer schema is left as it is, not even WAL'd
            if conn.execute("PRAGMA user_version").fetchone()[0] > SCHEMA_VERSION:
                raise _Newer(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")  # two processes creating or migrating a file must not race
            committed = False
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                    if tables:
                        raise _Damaged("it holds tables that are not cuadra-top history")
                    for statement in _CREATE:  # not executescript: it would commit early
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                elif version > SCHEMA_VERSION:
                    raise _Newer(version)
                elif version != SCHEMA_VERSION:
                    _migrate(conn, version)
                    _log().info("history %s migrated from schema %s to %s", self.path, version, SCHEMA_VERSION)
                _check_columns(conn, _COLUMNS)
                conn.execute("COMMIT")
                committed = True
            finally:
                if not committed and conn.in_transaction:
                    conn.execute("ROLLBACK")  # a half-done migration leaves the file as it was
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise _Damaged(f"integrity check failed: {problems[0]}")
            self._file = _file_identity(self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    def _recover(self, reason: str) -> None:
        """Move the damaged file (and its WAL/SHM companions) aside and start afresh."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%MZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        counter = 1
        while aside.exists():
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{counter}")
            counter += 1
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                companion = Path(f"{self.path}{suffix}")
                if companion.exists():
                    os.replace(companion, Path(f"{aside}{suffix}"))
            self._conn = self._connect()
        except (OSError, sqlite3.Error, _Damaged, _Newer) as exc:
            self._disable(
                f"history database {self.path} was damaged ({reason}) and could not be replaced "
                f"({_describe(exc)}); history is off"
            )
            return
        self.warnings.append(
            f"history database {self.path} was damaged ({reason}); moved aside to {aside} and started afresh"
        )

    def _disable(self, warning: str) -> None:
        self.enabled = False
        self._warn(warning)
        self._close_connection()

    def _close_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def _warn(self, warning: str) -> None:
        if warning not in self.warnings:  # a failing disk must not grow the list every poll
            self.warnings.append(warning)
            _log().warning("%s", warning)

    # -- running operations safely ---------------------------------------------------------

    def _replaced(self) -> bool:
        """Whether the path names another file than the one this writer has open, or none:
        another process moved it aside as damaged and started a new one, or someone deleted or
        restored it. SQLite would go on writing to the old file, where no one looks."""
        if self._read_only:  # a reader is short-lived, and an export reads one file to its end
            return False
        try:
            return _file_identity(self.path) != self._file
        except OSError:  # cannot tell (the directory unreadable): keep the file that works
            return False

    def _run(self, what: str, operation: Callable[[sqlite3.Connection], T], default: T) -> T:
        """Run ``operation`` under the lock; on failure warn, recover or give up, never raise.
        A writer whose file was replaced or removed first opens the one at the path now."""
        with self._lock:
            if self.enabled and self._conn is not None and self._replaced():
                self._close_connection()
                self._warn(f"history database {self.path} was replaced or removed while in use; "
                           "recording into the file now at that path")
                self._open()
            if not self.enabled or self._conn is None:
                return default
            try:
                result = operation(self._conn)
            except Exception as exc:  # noqa: BLE001 - the monitor must keep running, whatever this is
                if self._conn.in_transaction:
                    try:
                        self._conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if _is_damage(exc) and self._read_only:  # a reader moves nothing: it says so and stops
                    self.enabled = False
                    self.warnings.append(self._damaged(_describe(exc)))
                    self._close_connection()
                    return default
                if _is_damage(exc):
                    self._conn.close()
                    self._conn = None
                    self._recover(_describe(exc))
                    return default
                self._failures += 1
                if self._failures >= GIVE_UP_AFTER:
                    self._disable(f"history gave up after {self._failures} failures; last: {what}: {_describe(exc)}")
                else:
                    self._warn(f"history {what} failed: {_describe(exc)}")
                return default
            self._failures = 0
            return result

    # -- the interface ---------------------------------------------------------------------

    def record(self, key: str, at: datetime, usage: Usage, *, name: str | None = None) -> None:
        """One sample of series ``key`` for the org named ``name`` (``key`` when not given)."""
        self.record_many([(key, key if name is None else name, at, usage)])

    def record_many(self, records: Sequence[tuple[str, str, datetime, Usage]]) -> None:
        """Write ``(key, name, at, usage)`` samples in one transaction: hundreds of orgs
        polling every second would otherwise cost a commit (and a WAL sync) each. A sample
        SQLite cannot store is skipped with a warning; it never costs the rest of the batch."""
        if not self.enabled:
            return
        rows: list[tuple[Any, ...]] = []
        for key, org, at, usage in records:
            try:
                row = _row(key, sample_of(org, at, usage))
            except Exception as exc:  # noqa: BLE001 - one odd sample must not cost the others
                self._skipped(org, _describe(exc))
                continue
            too_big = _out_of_range(row)
            if too_big is not None:
                self._skipped(org, f"{too_big} is beyond SQLite's 64-bit integers")
            else:
                rows.append(row)
        if not rows:
            return
        refused: list[tuple[str, BaseException]] = []
        newest = _newest_answers(records, {row[0] for row in rows})

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN")
            conn.execute("SAVEPOINT batch")
            try:
                conn.executemany(_INSERT, rows)
            except _ROW_ERRORS:  # some row is bad: undo the batch, then write row by row
                conn.execute("ROLLBACK TO batch")
                for row in rows:
                    try:
                        conn.execute(_INSERT, row)
                    except _ROW_ERRORS as exc:
                        refused.append((row[_ORG], exc))
            conn.execute("RELEASE batch")
            for row in newest:  # a row SQLite refuses here was refused above too, and said so
                try:
                    conn.execute(_UPSERT_LATEST, row)
                except _ROW_ERRORS:
                    pass
            conn.execute("COMMIT")

        self._run("record", insert, None)
        for org, exc in refused:
            self._skipped(org, _describe(exc))

    def record_samples(self, samples: Sequence[tuple[str, Sample]]) -> None:
        """Write ``(key, sample)`` rows as they are, in one transaction (samples made rather
        than fetched: the demo's seeded past). Not for answers: see ``record_many``."""
        rows = [_row(key, sample) for key, sample in samples]

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN")
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")

        if rows:
            self._run("record", insert, None)

    def _skipped(self, org: str, why: str) -> None:
        """Once per org and reason (the value itself changes at every poll)."""
        self._warn(f"history cannot store the samples of org {org!r}: {why}; they are not recorded")

    def samples(self, key: str, since: datetime | None = None, *, name: str | None = None) -> list[Sample]:
        """Series ``key``'s samples, oldest first; only those at or after ``since`` when given.
        Schema-1 samples of the org named ``name`` (``key`` when not given) are part of it."""
        lower = _epoch(since) if since is not None else float("-inf")

        def select(conn: sqlite3.Connection) -> list[Sample]:
            rows = conn.execute(
                f"SELECT {', '.join(_SAMPLE_COLUMNS)} FROM samples WHERE series IN (?, ?) AND at >= ?"
                " ORDER BY at, rowid",
                (key, LEGACY_SERIES + (key if name is None else name), lower),
            ).fetchall()
            return [_sample(row) for row in rows]

        return self._run("read", select, [])

    def iter_samples(self, key: str, since: datetime | None = None, *, page: int = 2000) -> Iterator[Sample]:
        """Exactly series ``key``'s samples at or after ``since``, oldest first, read ``page``
        rows at a time (each read a short one, under the lock): an export of a year of samples
        a minute apart holds one page, not the year. Ends early, with a warning, if a read fails."""
        lower = _epoch(since) if since is not None else float("-inf")
        after: tuple[float, int] | None = None

        def select(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if after is None:
                return conn.execute(
                    f"SELECT rowid, {', '.join(_SAMPLE_COLUMNS)} FROM samples WHERE series = ? AND at >= ?"
                    " ORDER BY at, rowid LIMIT ?", (key, lower, page)).fetchall()
            return conn.execute(  # the (series, at) index holds the rowid too: no sort, no skipping
                f"SELECT rowid, {', '.join(_SAMPLE_COLUMNS)} FROM samples WHERE series = ? AND at >= ?"
                " AND (at > ? OR rowid > ?) ORDER BY at, rowid LIMIT ?", (key, after[0], after[0], after[1], page),
            ).fetchall()

        while True:
            rows = self._run("read", select, [])
            shared: dict[Any, Any] = {}
            for row in rows:
                yield _sample(row[1:], shared)
            if len(rows) < page:
                return
            after = (rows[-1][2], rows[-1][0])

    def series_index(self) -> list[SeriesInfo]:
        """Every series in the file with the names it was recorded under, its count of
        samples and their time span, ordered by its current name, then key (for an export
        that picks orgs by name; one scan of the table)."""

        def select(conn: sqlite3.Connection) -> list[SeriesInfo]:
            rows = conn.execute(
                "SELECT series, org, COUNT(*), MIN(at), MAX(at) FROM samples GROUP BY series, org"
                " ORDER BY series, MAX(at)"
            ).fetchall()
            found: dict[str, list[tuple[Any, ...]]] = {}
            for row in rows:
                found.setdefault(row[0], []).append(row)
            index = [
                SeriesInfo(key, tuple(row[1] for row in named), sum(row[2] for row in named),
                           _from_epoch(min(row[3] for row in named)),  # type: ignore[arg-type]
                           _from_epoch(max(row[4] for row in named)))  # type: ignore[arg-type]
                for key, named in found.items()
            ]
            return sorted(index, key=lambda info: (info.name, info.key))

        return self._run("read", select, [])

    def sampled(self, key: str, since: datetime, dense_since: datetime, dense_step: timedelta,
                sparse_step: timedelta, *, name: str | None = None) -> list[Sample]:
        """Series ``key``'s samples since ``since`` (with the schema-1 ones of ``name``, as in
        ``samples``), oldest first, at most one per ``dense_step`` from ``dense_since`` on and
        one per ``sparse_step`` before (the newest of each step). The history keeps every
        sample of the current period: at a 30 s interval that is 2,880 a day per org, which a
        monitor must not turn into Python objects at every start (10 orgs, three weeks: 5.5 s
        of CPU). SQLite picks them, with the (series, at) index."""
        dense_epoch = _epoch(dense_since)

        def select(conn: sqlite3.Connection) -> list[Sample]:
            # Which rows, from the (series, at) index alone (it holds the rowid): reading every
            # row of the period to keep one in ten was most of the cost; then just those rows.
            chosen = [row[0] for row in conn.execute(
                "SELECT rowid, MAX(at) FROM samples WHERE series IN (?, ?) AND at >= ?"
                " GROUP BY CASE WHEN at >= ? THEN CAST(at / ? AS INTEGER) ELSE -1 - CAST(at / ? AS INTEGER) END",
                (key, LEGACY_SERIES + (key if name is None else name), _epoch(since), dense_epoch,
                 dense_step.total_seconds(), sparse_step.total_seconds()),
            )]
            rows: list[tuple[Any, ...]] = []
            for start in range(0, len(chosen), _MAX_VARIABLES):
                part = chosen[start:start + _MAX_VARIABLES]
                rows += conn.execute(f"SELECT {', '.join(_SAMPLE_COLUMNS)} FROM samples"
                                     f" WHERE rowid IN ({', '.join('?' * len(part))})", part).fetchall()
            rows.sort(key=lambda row: row[1])  # by time: one row per step, so no two tie
            shared: dict[Any, Any] = {}
            return [_sample(row, shared) for row in rows]

        return self._run("read", select, [])

    def latest(self, orgs: Sequence[tuple[str, str]]) -> dict[str, tuple[datetime, dict[str, Any]]]:
        """The newest stored answer of each ``(name, site)`` org (its usage as JSON, and when),
        whatever its account: what a monitor shows at once while its first live answer comes."""

        def select(conn: sqlite3.Connection) -> dict[str, tuple[datetime, dict[str, Any]]]:
            found: dict[str, tuple[datetime, dict[str, Any]]] = {}
            for name, site in orgs:
                row = conn.execute(
                    "SELECT at, body FROM latest WHERE org = ? AND substr(series, 1, ?) = ? ORDER BY at DESC LIMIT 1",
                    (name, len(site) + 1, site + " ")).fetchone()
                if row is not None:
                    at = _from_epoch(row[0])
                    assert at is not None
                    try:
                        body = json.loads(row[1])
                    except ValueError:
                        continue
                    if isinstance(body, dict):  # an answer is an object: anything else was damaged
                        found[name] = (at, body)
            return found

        return self._run("read", select, {})

    def newest_series(self, name: str, site: str) -> str | None:
        """The series at ``site`` (the API URL part of a series key,
        :func:`cuadra_top.state.identity.site`) that the org named ``name`` answered in last:
        how an org finds its history when its identity cannot be known without its secret (a
        ``token_command``, a token in the keyring). From the newest answers (a row a series);
        for the series that have none (written before schema 4, or seeded), from each one's
        newest sample, an index seek apiece. Never a scan of the samples: for an org the file
        does not hold, ``cuadra-top status`` read the whole file at every run."""
        prefix = site + " "  # a site has no space: its series sort between prefix and site + "!"

        def select(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT series FROM latest WHERE org = ? AND substr(series, 1, ?) = ? ORDER BY at DESC LIMIT 1",
                (name, len(prefix), prefix),
            ).fetchone()
            if row is not None:
                return str(row[0])
            found: tuple[float, str] | None = None
            for series in _every_series(conn, prefix, site + "!"):
                org, at = conn.execute("SELECT org, at FROM samples WHERE series = ? ORDER BY at DESC, rowid DESC"
                                       " LIMIT 1", (series,)).fetchall()[0]
                if org == name and (found is None or at > found[0]):
                    found = (at, series)
            return None if found is None else found[1]

        return self._run("read", select, None)

    def thin(self, now: datetime) -> int:
        """Drop what a monitor no longer needs; returns the number of rows deleted.

        Every sample of a series' current period is kept (its newest sample's period start, or
        the last 31 days when unknown); before that only the last sample of each hour; nothing
        older than 395 days. Index range scans only.

        Other processes on the file wait at most BUSY_TIMEOUT_MS to write, then drop their
        samples, and this one's reads and writes wait for the lock of this object: so what is
        due is found with reads, series by series, and the write lock is taken only to delete,
        a few hours of samples at a time, with a pause after each for the others (a thin in
        one transaction held them off 4 s every hour for 500 orgs over a year, and 21 s at the
        turn of a month for 100). Hours, not series: the rows of all orgs are interleaved in
        the table, and a transaction per series wrote the month's pages once per org (5x slower).
        """
        now_epoch = _epoch(now)
        assert now_epoch is not None
        oldest = now_epoch - RETENTION.total_seconds()
        fallback = now_epoch - FULL_RESOLUTION_FALLBACK.total_seconds()
        expired: list[str] = []
        crowded: list[tuple[str, float, float]] = []
        for series in self._run("thin", _every_series, []):
            due = self._run("thin", lambda conn: _due(conn, series, oldest, fallback), None)
            if due is not None:
                has_expired, hours = due
                if has_expired:
                    expired.append(series)
                if hours is not None:
                    crowded.append((series, *hours))
        deleted = 0
        if expired:  # index range deletes: one short transaction
            deleted += self._run("thin", lambda conn: _delete_expired(conn, expired, oldest), 0)
        for spans in _thinning_windows(crowded):
            started = time.monotonic()
            deleted += self._run("thin", lambda conn: _thin_to_hours(conn, spans), 0)
            time.sleep((time.monotonic() - started) / 2)  # the lock is free: a writer waiting for it gets it
        return deleted

    def alert_levels(self, series: str) -> dict[str, int]:
        """Where each of the series' alerts stands now (rule -> level; absent: never judged)."""

        def select(conn: sqlite3.Connection) -> dict[str, int]:
            return dict(conn.execute("SELECT rule, level FROM alert_state WHERE series = ?", (series,)).fetchall())

        return self._run("read alerts", select, {})

    def move_alert(self, series: str, rule: str, org: str, decide: Callable[[int | None], int],
                   at: datetime) -> tuple[int | None, int] | None:
        """Move one alert in one IMMEDIATE transaction: ``decide(stored level or None)`` gives
        the new level, written if it differs. Returns (old, new): equal when it already stood
        there (another process got there first); None when the history is off or failing."""

        def move(conn: sqlite3.Connection) -> tuple[int | None, int] | None:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT level FROM alert_state WHERE series = ? AND rule = ?", (series, rule)).fetchone()
            old = None if row is None else int(row[0])
            new = decide(old)
            if new == old:
                conn.execute("COMMIT")
                return old, new
            conn.execute(
                "INSERT INTO alert_state (series, rule, org, level, since) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (series, rule) DO UPDATE SET org = excluded.org, level = excluded.level,"
                " since = excluded.since",
                (series, rule, org, new, _epoch(at)),
            )
            conn.execute("COMMIT")
            return old, new

        return self._run("record alerts", move, None)

    def close(self) -> None:
        with self._lock:
            self._close_connection()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_UPSERT_LATEST = (
    "INSERT INTO latest (series, org, at, body) VALUES (?, ?, ?, ?) ON CONFLICT (series) DO UPDATE SET"
    " org = excluded.org, at = excluded.at, body = excluded.body WHERE excluded.at >= latest.at"
)


def _newest_answers(records: Sequence[tuple[str, str, datetime, Usage]],
                    stored: set[str]) -> list[tuple[str, str, float | None, str]]:
    """The newest record of each series that is being stored, as ``latest`` rows: the usage
    as the API names it, any known secret masked (an API may echo one into any field)."""
    newest: dict[str, tuple[str, str, datetime, Usage]] = {}
    for record in records:
        key, _org, at, _usage = record
        if key in stored and (key not in newest or at >= newest[key][2]):
            newest[key] = record
    rows = []
    for key, org, at, usage in newest.values():
        try:
            body = redact(json.dumps(usage.model_dump(mode="json", by_alias=True), ensure_ascii=False))
        except (TypeError, ValueError):
            continue
        rows.append((key, org, _epoch(at), body))
    return rows


def _every_series(conn: sqlite3.Connection, lowest: str = "", below: str | None = None) -> list[str]:
    """Every series in the file (from ``lowest`` on, and before ``below`` when given), one
    index seek apiece: ``SELECT DISTINCT`` reads the whole index, 1.8 s for 500 orgs over a
    year."""
    bound, parameters = ("", ()) if below is None else (" AND series < ?", (below,))
    found: list[str] = []
    row = conn.execute(f"SELECT min(series) FROM samples WHERE series >= ?{bound}", (lowest, *parameters)).fetchall()[0]
    while row[0] is not None:
        found.append(row[0])
        row = conn.execute(f"SELECT min(series) FROM samples WHERE series > ?{bound}",
                           (row[0], *parameters)).fetchall()[0]
    return found


_DUE = """
SELECT EXISTS (SELECT 1 FROM samples WHERE series = ?1 AND at < ?2),
       (SELECT count(*) > count(DISTINCT CAST(at / 3600 AS INTEGER)) FROM samples
        WHERE series = ?1 AND at >= ?2 AND at < ?3)
"""
_CROWDED_HOURS = """
SELECT min(hour), max(hour) FROM (SELECT CAST(at / 3600 AS INTEGER) AS hour FROM samples
                                  WHERE series = ?1 AND at >= ?2 AND at < ?3 GROUP BY hour HAVING count(*) > 1)
"""


def _due(conn: sqlite3.Connection, series: str, oldest: float,
         fallback: float) -> tuple[bool, tuple[float, float] | None]:
    """What ``thin`` would delete of ``series``, found with reads of the index alone (0.6 s
    for 500 orgs over a year when nothing is due): whether it has samples from before
    ``oldest``, and from when to when, before the span it keeps whole, it has hours with
    more than one sample (None: none)."""
    newest = conn.execute(
        "SELECT period_start FROM samples WHERE series = ? ORDER BY at DESC, rowid DESC LIMIT 1", (series,),
    ).fetchall()
    full_from = newest[0][0] if newest and newest[0][0] is not None else fallback
    [(expired, crowded)] = conn.execute(_DUE, (series, oldest, full_from)).fetchall()
    if not crowded:
        return bool(expired), None
    [(first, last)] = conn.execute(_CROWDED_HOURS, (series, oldest, full_from)).fetchall()
    return bool(expired), (first * 3600.0, min((last + 1) * 3600.0, full_from))


def _delete_expired(conn: sqlite3.Connection, expired: list[str], oldest: float) -> int:
    conn.execute("BEGIN IMMEDIATE")
    deleted = sum(conn.execute("DELETE FROM samples WHERE series = ? AND at < ?", (series, oldest)).rowcount
                  for series in expired)
    conn.execute("COMMIT")
    return deleted


_THIN_ROWS = 36_000
"""About how many samples one of ``thin``'s transactions goes through, at one a minute an
org (the history's pace): 6 hours of 100 orgs, an hour of 600; well under a second of lock."""


def _thinning_windows(crowded: list[tuple[str, float, float]]) -> Iterator[list[tuple[str, float, float]]]:
    """``(series, from, to)`` spans of whole hours (but the last, which ends at ``to``), a few
    hours of every series at a time, oldest first: one transaction each."""
    if not crowded:
        return
    step = 3600.0 * max(1, min(_THIN_ROWS // (60 * len(crowded)), 24 * 31))
    window = min(lower for _, lower, _ in crowded)  # a whole hour: no hour's samples straddle two windows
    last = max(upper for _, _, upper in crowded)
    while window < last:
        spans = [(series, max(window, lower), min(window + step, upper))
                 for series, lower, upper in crowded if max(window, lower) < min(window + step, upper)]
        if spans:
            yield spans
        window += step


_THIN_TO_HOURS = """
DELETE FROM samples WHERE series = ?1 AND at >= ?2 AND at < ?3 AND rowid NOT IN (
    SELECT rowid FROM (
        SELECT rowid, row_number() OVER (
            PARTITION BY CAST(at / 3600 AS INTEGER) ORDER BY at DESC, rowid DESC
        ) AS rank
        FROM samples WHERE series = ?1 AND at >= ?2 AND at < ?3
    ) WHERE rank = 1
)
"""
"""Of series ?1's samples from ?2 (a whole hour) to ?3, all but the newest of each hour."""


def _thin_to_hours(conn: sqlite3.Connection, spans: list[tuple[str, float, float]]) -> int:
    conn.execute(f"PRAGMA cache_size = -{THIN_CACHE_KIB}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        deleted = sum(conn.execute(_THIN_TO_HOURS, span).rowcount for span in spans)
        conn.execute("COMMIT")
    finally:
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
    return deleted


_INSERT = f"INSERT INTO samples ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_ORG = _COLUMNS.index("org")
_INTEGER_FIELDS = {
    _COLUMNS.index(column): field for column, field in (
        ("credits_used", "credits.used"), ("credits_limit", "credits.limit"),
        ("credits_available", "credits.available"), ("purchased_balance", "credits.purchasedBalance"),
        ("storage_used", "storage.used"), ("storage_limit", "storage.limit"),
        ("overage_credits", "credits.overageCredits"),
    )
}
"""Row position -> the field as the API spells it, for the warning."""


def sample_of(org: str, at: datetime, usage: Usage) -> Sample:
    """What the history and the forecast keep of one fetch (the one place that maps a Usage)."""
    credits, storage = usage.credits, usage.storage
    return Sample(
        org=org, at=at, credits_used=credits.used, credits_limit=credits.limit or None,
        credits_available=credits.available_now, purchased_balance=credits.purchased_balance,
        storage_used=storage.used, storage_limit=storage.limit or None,
        period_start=credits.period_start, period_end=credits.period_end, plan_tier=usage.plan.tier,
        hard_cap=credits.hard_cap, overage_credits=credits.overage_credits,
    )


def _row(key: str, sample: Sample) -> tuple[Any, ...]:
    return (
        key, sample.org, _epoch(sample.at), sample.credits_used, sample.credits_limit, sample.credits_available,
        sample.purchased_balance, sample.storage_used, sample.storage_limit,
        _epoch(sample.period_start), _epoch(sample.period_end), sample.plan_tier,
        None if sample.hard_cap is None else int(sample.hard_cap), sample.overage_credits,
    )


def _out_of_range(row: tuple[Any, ...]) -> str | None:
    """The first field of ``row`` that no SQLite INTEGER holds, or None."""
    for index, field in _INTEGER_FIELDS.items():
        value = row[index]
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            return field
    return None


_REPEATED_COLUMNS = (0, 3, 5, 7, 8, 9, 10)
"""Columns whose value rarely changes along a series: org, limits, purchased balance, period
and plan (see :func:`_sample`)."""
_PERIOD_COLUMNS = (8, 9)


def _sample(row: tuple[Any, ...], shared: dict[Any, Any] | None = None) -> Sample:
    """A Sample from the ``_SAMPLE_COLUMNS`` of a row.

    ``shared``, one dict for the rows of one read: the values of the columns that repeat
    along a series become one object each (SQLite hands out a new one per row), so the
    hundreds of samples of a window hold one name, one period and one set of limits."""
    at = _from_epoch(row[1])
    assert at is not None
    if shared is None:
        values = list(row)
        values[8], values[9] = _from_epoch(row[8]), _from_epoch(row[9])
    else:
        values = list(row)
        for index in _REPEATED_COLUMNS:
            key = (index, row[index])
            value = shared.get(key)
            if value is None and row[index] is not None:
                value = shared[key] = _from_epoch(row[index]) if index in _PERIOD_COLUMNS else row[index]
            values[index] = value
    return Sample(
        org=values[0], at=at, credits_used=values[2], credits_limit=values[3], credits_available=values[4],
        purchased_balance=values[5], storage_used=values[6], storage_limit=values[7],
        period_start=values[8], period_end=values[9], plan_tier=values[10],
        hard_cap=None if row[11] is None else bool(row[11]), overage_credits=row[12],
    )
