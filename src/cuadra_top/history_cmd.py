"""``cuadra-top history``: the local history as a table, CSV or JSON, without calling the API.

Either the stored samples, or (``--daily``) per-day figures by the rule of
:mod:`cuadra_top.state.daily`. The history is kept per series (one account), and ``--org``
picks by display name: when several accounts were recorded under one name, each is its own
series, shown separately and told apart by the ``series`` column (an API URL and identity,
never a secret). Tables are for people: times in the display zone, thousands separators.
CSV and JSON are for programs and spreadsheets: UTC ISO 8601 times, plain numbers, empty
cells (``null``) where nothing is known, one row per sample or per day. Bad input is a
:class:`HistoryError`: one line, and the exit code the CLI should return.
"""

from __future__ import annotations

import csv
import heapq
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, takewhile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from cuadra_top import exit_codes
from cuadra_top import format as fmt
from cuadra_top.clock import iso_utc
from cuadra_top.display_time import DisplayZone, moment
from cuadra_top.state.daily import MAX_GAP, Day, DayStatus, iter_daily
from cuadra_top.state.history import History, Sample, SeriesInfo

FORMATS = ("table", "csv", "json")
SAMPLE_FIELDS = (
    "org", "series", "at", "credits_used", "credits_limit", "credits_available", "purchased_balance",
    "overage_credits", "storage_used", "storage_limit", "plan_tier", "hard_cap", "period_start", "period_end",
)
DAY_FIELDS = (
    "org", "series", "date", "status", "samples", "covered_hours", "credits_used", "credits_used_end",
    "credits_limit", "storage_used_end", "storage_limit", "end_at", "period_start", "period_end",
    "day_start", "day_end",
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""A text cell starting like this is a formula to a spreadsheet (the fullwidth ＝＋－＠ too,
which some locales read as the ASCII ones): CSV writes it after a quote mark, the usual
defence (an org name or a plan tier the API sent must not run as a formula)."""
_MAX_NAMES_SHOWN = 20
_FIRST_MOMENT = datetime.min.replace(tzinfo=timezone.utc)
_LAST_MOMENT = datetime.max.replace(tzinfo=timezone.utc)


class HistoryError(Exception):
    """What went wrong, in one line, and the exit code for it."""

    def __init__(self, message: str, code: int = exit_codes.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class HistoryRequest:
    path: Path
    zone: DisplayZone
    now: datetime
    org: str | None = None
    since: str | None = None
    until: str | None = None
    daily: bool = False
    format: str = "table"
    recording_off: bool = False
    """``history = false`` in the config: said when there is no history file."""


@dataclass(frozen=True)
class _Range:
    start: datetime | None
    end: datetime | None
    """Exclusive: the start of the day after an ``--until`` date."""
    since_text: str | None = None
    until_text: str | None = None
    zone: str = "UTC"

    def describe(self) -> str:
        """In the user's own words: 'from 2026-03-01 through 2026-03-31 (Europe/Berlin)'."""
        parts = [f"from {self.since_text}" if self.since_text else "",
                 f"through {self.until_text}" if self.until_text else ""]
        text = " ".join(part for part in parts if part)
        return f"{fmt.printable(text)} ({self.zone})" if text else "at all"


def _with_legacy(index: list[SeriesInfo]) -> list[tuple[SeriesInfo, list[str]]]:
    """Each series with the keys its samples are read from: schema-1 rows (keyed by name) go
    with the one series of that name, as the monitor reads them; with several, or none, they
    are a series of their own (whose account they were is unknown)."""
    keys = {info.key: [info.key] for info in index if not info.legacy}
    alone: list[SeriesInfo] = []
    for legacy in (info for info in index if info.legacy):
        owners = [info for info in index if not info.legacy and legacy.name in info.names]
        if len(owners) == 1:
            keys[owners[0].key].insert(0, legacy.key)
        else:
            alone.append(legacy)
    return [(info, keys[info.key]) if not info.legacy else (info, [info.key])
            for info in index if not info.legacy or info in alone]


def run_history(request: HistoryRequest, out: TextIO, warn: Callable[[str], None]) -> int:
    """Write the export to ``out``; raises HistoryError for anything the user must change."""
    if request.format not in FORMATS:
        raise HistoryError(f"--format {request.format!r}: use one of {', '.join(FORMATS)}", exit_codes.USAGE)
    span = _range(request)
    if not request.path.is_file():  # never create one: this command only reads
        off = " (history = false in the config turns recording off)" if request.recording_off else ""
        raise HistoryError(f"no history at {request.path} yet: the monitor and --once record it as they run{off}")
    history = History(request.path, read_only=True)  # moves, creates and waits for nothing
    if history.outdated:  # an older schema: migrated as the monitor would migrate it, then read
        history = History(request.path)
    with history:
        for warning in history.warnings:
            warn(warning)
        if not history.enabled:
            raise HistoryError(f"cannot read the history at {request.path}; see the warning above")
        seen = len(history.warnings)

        def check_reads() -> None:
            """A read that failed returned nothing: say so, rather than 'no samples'."""
            if len(history.warnings) > seen:
                for warning in history.warnings[seen:]:
                    warn(warning)
                raise HistoryError(f"reading the history at {request.path} failed; see the warning above")

        index = history.series_index()
        check_reads()
        if not index:
            raise HistoryError(f"the history at {request.path} holds no samples yet")
        chosen = _choose(_with_legacy(index), request.org, request.path)
        if request.org is not None and len(chosen) > 1:
            warn(f"org {fmt.printable(repr(request.org))} has {len(chosen)} series in the history (accounts "
                 "recorded under one name); each is shown separately, told apart by its series")
        margin = MAX_GAP + timedelta(days=1)  # a day's first stretch starts before the day
        read_from = _earlier(span.start, margin) if request.daily else span.start
        export = _Export(request, span, out)
        for info, keys in chosen:  # streamed: a history may hold millions of rows, a year a minute apart
            samples = _read(history, keys, read_from)
            if request.daily:
                rows: Iterator[Any] = iter_daily(samples, request.zone, now=request.now, since=span.start,
                                                 until=span.end)
            else:
                rows = takewhile(lambda s: span.end is None or s.at < span.end, samples)
            export.add(info, rows)
            check_reads()
    if not export.started:  # nothing was written: the error is the whole answer
        raise HistoryError(_nothing_in(span, [info for info, _ in chosen], request.org))
    export.finish()
    return exit_codes.OK


def _read(history: History, keys: list[str], since: datetime | None) -> Iterator[Sample]:
    """The samples stored under ``keys`` at or after ``since``, oldest first, page by page
    (a schema-1 series and the one it goes with merged by time)."""
    streams = [history.iter_samples(key, since) for key in keys]
    return streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda s: s.at)


def _earlier(moment_: datetime | None, by: timedelta) -> datetime | None:
    """``by`` before ``moment_``; None (from the first sample) where that is before year 1."""
    try:
        return None if moment_ is None else moment_ - by
    except OverflowError:
        return None


def _range(request: HistoryRequest) -> _Range:
    start = _bound(request.since, "--since", request.zone, end=False)
    end = _bound(request.until, "--until", request.zone, end=True)
    if start is not None and end is not None and start >= end:
        raise HistoryError(f"--since {fmt.printable(str(request.since))} is not before --until "
                           f"{fmt.printable(str(request.until))}: the range is empty", exit_codes.USAGE)
    return _Range(start, end, request.since, request.until, request.zone.name)


def _bound(text: str | None, flag: str, zone: DisplayZone, *, end: bool) -> datetime | None:
    """A date (YYYY-MM-DD, a day of ``zone``: its start, or for ``--until`` the start of the
    next day) or an ISO 8601 time (naive: a wall time of ``zone``; ``--until`` includes it).
    A bound past either end of what a datetime holds (year 1, year 9999, with an offset or a
    zone pushing it over) is read as what it means: before or after every sample."""
    if text is None:
        return None
    stripped = text.strip()
    try:
        day = date.fromisoformat(stripped) if _DATE.fullmatch(stripped) else None
        value = datetime.fromisoformat(stripped) if day is None else None
    except ValueError:
        raise HistoryError(
            f"{flag} {fmt.printable(repr(text))}: not a date; use YYYY-MM-DD (a day in {fmt.printable(zone.name)}) "
            "or an ISO 8601 time such as 2026-04-01T09:00 (in that zone) or 2026-04-01T07:00Z",
            exit_codes.USAGE) from None
    try:
        if day is not None:
            return zone.day_start(day + timedelta(days=1) if end else day)
        assert value is not None
        moment_ = zone.wall_time(value) if value.tzinfo is None else value.astimezone(timezone.utc)
        return moment_ + timedelta(microseconds=1) if end else moment_
    except (OverflowError, OSError, ValueError):
        late = (day or value).year > 1  # type: ignore[union-attr]
        if late:  # after every sample: --since starts after them all, --until has no limit
            return None if end else _LAST_MOMENT
        return _FIRST_MOMENT if end else None


def _choose(index: list[tuple[SeriesInfo, list[str]]], org: str | None,
            path: Path) -> list[tuple[SeriesInfo, list[str]]]:
    if org is None:
        return index
    chosen = [(info, keys) for info, keys in index if org in info.names]
    if chosen:
        return chosen
    names = sorted({info.name for info, _ in index})
    shown = ", ".join(fmt.printable(repr(name)) for name in names[:_MAX_NAMES_SHOWN])
    more = f" and {len(names) - _MAX_NAMES_SHOWN} more" if len(names) > _MAX_NAMES_SHOWN else ""
    raise HistoryError(f"no org named {fmt.printable(repr(org))} in the history at {path}; it has {shown}{more}",
                       exit_codes.USAGE)


def _nothing_in(span: _Range, chosen: Sequence[SeriesInfo], org: str | None) -> str:
    first, last = min(info.first for info in chosen), max(info.last for info in chosen)
    whose = f"of org {fmt.printable(repr(org))}" if org is not None else "in the history"
    held = "its samples run" if org is not None else "they run"
    return f"no samples {whose} {span.describe()}; {held} from {moment(first)} to {moment(last)}"


# -- rows ------------------------------------------------------------------------------------


def sample_row(info: SeriesInfo, sample: Sample) -> dict[str, Any]:
    """One sample as an export row: UTC ISO times, numbers as numbers, None where not sent."""
    return {
        "org": sample.org, "series": info.key, "at": iso_utc(sample.at),
        "credits_used": sample.credits_used, "credits_limit": sample.credits_limit,
        "credits_available": sample.credits_available, "purchased_balance": sample.purchased_balance,
        "overage_credits": sample.overage_credits, "storage_used": sample.storage_used,
        "storage_limit": sample.storage_limit, "plan_tier": sample.plan_tier, "hard_cap": sample.hard_cap,
        "period_start": iso_utc(sample.period_start), "period_end": iso_utc(sample.period_end),
    }


def day_row(info: SeriesInfo, day: Day) -> dict[str, Any]:
    """One day as an export row (``date`` is the calendar day of the display zone; the UTC
    instants it spans are ``day_start`` and ``day_end``)."""
    return {
        "org": info.name, "series": info.key, "date": day.day.isoformat(), "status": day.status.value,
        "samples": day.samples, "covered_hours": round(day.covered.total_seconds() / 3600, 2),
        "credits_used": day.credits_used, "credits_used_end": day.credits_used_end,
        "credits_limit": day.credits_limit, "storage_used_end": day.storage_used_end,
        "storage_limit": day.storage_limit, "end_at": iso_utc(day.end_at),
        "period_start": iso_utc(day.period_start), "period_end": iso_utc(day.period_end),
        "day_start": iso_utc(day.start), "day_end": iso_utc(day.end),
    }


class _Export:
    """Writes one series after another; nothing at all until the first has rows, so that an
    empty result can still be an error with nothing on stdout."""

    def __init__(self, request: HistoryRequest, span: _Range, out: TextIO) -> None:
        self.request, self.span, self.out = request, span, out
        self.kind = "days" if request.daily else "samples"
        self.fields = DAY_FIELDS if request.daily else SAMPLE_FIELDS
        self.started = False
        self._writer = csv.writer(out, lineterminator="\n")

    def _rows(self, info: SeriesInfo, rows: Iterable[Any]) -> Iterable[dict[str, Any]]:
        make = day_row if self.request.daily else sample_row
        return (make(info, row) for row in rows)

    def add(self, info: SeriesInfo, stream: Iterator[Any]) -> None:
        """Write one series' rows as they come; nothing at all when there are none."""
        head = next(stream, None)
        if head is None:
            return
        rows = chain((head,), stream)
        request, out, first = self.request, self.out, not self.started
        self.started = True
        if request.format == "json":
            if first:
                head = {"kind": self.kind, "timezone": request.zone.name, "since": iso_utc(self.span.start),
                        "until": iso_utc(self.span.end)}
                out.write(_json(head, indent=2)[:-2] + f',\n  "{self.kind}": [\n')
            for row in self._rows(info, rows):
                out.write(("    " if first else ",\n    ") + _json(row))
                first = False
        elif request.format == "csv":
            if first:
                self._writer.writerow(self.fields)
            for row in self._rows(info, rows):
                self._writer.writerow([_csv_cell(row[field]) for field in self.fields])
        else:
            table = _day_table if request.daily else _sample_table
            if not first:
                out.write("\n")
            for line in table(info, rows, request.zone):  # line by line: a reader may stop at any
                out.write(line + "\n")

    def finish(self) -> None:
        if self.request.format == "json":
            self.out.write("\n  ]\n}\n")


def _json(value: Any, indent: int | None = None) -> str:
    """JSON whose strings hold no character that acts on a terminal: json.dumps escapes C0,
    and DEL, C1, the bidi controls and the line separators become ``\\u`` escapes too (the
    same string to a parser), as ``--once --json`` writes them."""
    return fmt.escape_controls(json.dumps(value, indent=indent, ensure_ascii=False), keep_newlines=True)


def _csv_cell(value: Any) -> str:
    """Empty for None, true/false, plain numbers; text with its control characters as U+FFFD
    (a newline stays: the writer quotes it), and text that a spreadsheet would run as a formula
    after a leading quote mark."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = fmt.printable(str(value), keep_newlines=True)
    return "'" + text if text.startswith(_FORMULA_START) else text


# -- tables ----------------------------------------------------------------------------------


def _heading(info: SeriesInfo, zone: DisplayZone, what: str) -> str:
    return f"{fmt.printable(info.name)} · series {fmt.printable(info.key)} · {what} in {fmt.printable(zone.name)}"


def _period_line(sample_or_day: Any, tier: str | None = None) -> str:
    start, end = sample_or_day.period_start, sample_or_day.period_end
    text = f"period {fmt.short_date(start)} to {fmt.short_date(end)}" if start or end else "period unknown"
    return f"── {text}{f' · {fmt.printable(tier)}' if tier else ''} ──"


def _limit(value: int | None) -> str:
    return fmt.thousands(value) if value is not None else fmt.UNLIMITED


def _sample_table(info: SeriesInfo, samples: Iterable[Sample], zone: DisplayZone) -> Iterator[str]:
    yield _heading(info, zone, "times")
    yield f"{'time':<22} {'credits used':>13} {'limit':>11} {'purchased':>11} {'storage':>11} {'limit':>11}"
    terms: tuple[Any, ...] | None = None
    for sample in samples:
        now_terms = (sample.period_start, sample.period_end, sample.plan_tier)
        if now_terms != terms:
            yield _period_line(sample, sample.plan_tier)
            terms = now_terms
        storage_limit = fmt.iec_bytes(sample.storage_limit) if sample.storage_limit is not None else fmt.UNLIMITED
        yield (
            f"{fmt.short_date(sample.at):<22} {fmt.thousands(sample.credits_used):>13} "
            f"{_limit(sample.credits_limit):>11} {fmt.thousands(sample.purchased_balance):>11} "
            f"{fmt.iec_bytes(sample.storage_used):>11} {storage_limit:>11}"
        )


def _day_table(info: SeriesInfo, days: Iterable[Day], zone: DisplayZone) -> Iterator[str]:
    yield _heading(info, zone, "days")
    yield f"{'day':<14} {'used that day':>13} {'used at end':>13} {'limit':>11} {'storage at end':>14}  note"
    period: tuple[Any, ...] | None = None
    for day in days:
        if day.status is not DayStatus.NO_SAMPLES and (day.period_start, day.period_end) != period:
            yield _period_line(day)
            period = (day.period_start, day.period_end)
        limit = _limit(day.credits_limit) if day.credits_used_end is not None else "—"
        yield (
            f"{day.day:%a %Y-%m-%d} {fmt.thousands(day.credits_used):>13} {fmt.thousands(day.credits_used_end):>13} "
            f"{limit:>11} {fmt.iec_bytes(day.storage_used_end):>14}  {_note(day)}".rstrip()
        )


def _note(day: Day) -> str:
    """What a person must know to read the row: the status, a day that is not 24 hours long,
    end figures from before the day's end."""
    notes: list[str] = []
    hours = day.length.total_seconds() / 3600
    if day.status is DayStatus.INCOMPLETE:
        notes.append(f"incomplete: {_hours(day.covered.total_seconds() / 3600)} of {_hours(hours)} h known")
    elif day.status is not DayStatus.COMPLETE:
        notes.append(day.status.value)
    elif hours != 24:
        notes.append(f"{_hours(hours)} h day")
    if day.end_at is not None and day.end_at != day.end:
        notes.append(f"end figures at {fmt.short_date(day.end_at).split(' ', 1)[1]}")
    return "; ".join(notes)


def _hours(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"
