"""The time zone times are shown in, and how a moment reads for people.

All arithmetic stays in UTC (:mod:`cuadra_top.clock`); only what people read is converted, at
the last moment. The zone is process-wide, set once at start-up by the CLI from ``--timezone``,
else the config's ``timezone``, else ``TZ``, else the system's zone (:func:`resolve_zone`). Until
something sets it, it is UTC: library use and the screenshots (``TZ=UTC``) read the same on every
machine. ``--json`` and exports never use it: they stay in UTC ISO 8601.

Calendar days (the history's per-day figures) are days of this zone: :meth:`DisplayZone.day_start`
gives the UTC instant a day begins, so a day is 23, 24 or 25 hours long (or 24.5 at Lord Howe)
and every sum over days stays in UTC arithmetic.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

ZONE_HINT = "use an IANA name such as Europe/Berlin, America/New_York or UTC (or local)"
_LOCALTIME = "/etc/localtime"
_TZ_NAME = r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)"
_TZ_OFFSET = r"[+-]?\d{1,2}(?::\d{1,2}){0,2}"
_TZ_RULE = r"(?:J\d{1,3}|\d{1,3}|M\d{1,2}\.\d\.\d)(?:/[+-]?\d{1,3}(?::\d{1,2}){0,2})?"
POSIX_TZ = re.compile(rf"{_TZ_NAME}{_TZ_OFFSET}(?:{_TZ_NAME}(?:{_TZ_OFFSET})?(?:,{_TZ_RULE},{_TZ_RULE})?)?")
"""A POSIX ``TZ`` rule (``XST-5:30``, ``<+0530>-5:30``, ``CET-1CEST,M3.5.0,M10.5.0/3``): what
the C library reads when ``TZ`` is no zone file. Anything else it reads as UTC, silently, under
an abbreviation made of the text's first letters (``TZ=Europe/Berln``: 'Europe')."""
_TZIF_MAGIC = b"TZif"


class UnknownZone(ValueError):
    """A zone name that names no zone; the message is one line that says what to use."""


@dataclass(frozen=True)
class DisplayZone:
    """A zone to show times in: an IANA zone, or (``tz`` None) the system's own local time as
    the C library reads it (a ``TZ`` rule such as ``CET-1CEST,M3.5.0,M10.5.0/3`` that has no
    IANA name, or a system without a zone database)."""

    tz: tzinfo | None
    name: str
    problem: str | None = field(default=None, compare=False)
    """Why this is not the zone asked for (``TZ`` that names nothing, read as UTC): a warning
    for the user, once, in one line."""

    def localize(self, value: datetime) -> datetime:
        """``value`` (naive: UTC, as the models read it) as an aware time in this zone."""
        moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
        return moment.astimezone(self.tz)  # None: the system's zone, for that very instant

    def day_of(self, value: datetime) -> date:
        """The calendar day, in this zone, that ``value`` falls on."""
        return self.localize(value).date()

    def day_start(self, day: date) -> datetime:
        """The UTC instant ``day`` begins in this zone. Where midnight does not exist (a clock
        change at 00:00), the day begins at the change."""
        return self.wall_time(datetime.combine(day, time()))

    def wall_time(self, naive: datetime) -> datetime:
        """The UTC instant of the wall-clock time ``naive`` in this zone (in a repeated hour,
        the first; in a skipped one, the offset from before the change)."""
        if self.tz is None:
            return naive.astimezone(timezone.utc)  # naive.astimezone reads it as local time
        return naive.replace(tzinfo=self.tz).astimezone(timezone.utc)


UTC = DisplayZone(timezone.utc, "UTC")
_current = UTC


def display_zone() -> DisplayZone:
    """The zone times are shown in now (UTC until the CLI sets one)."""
    return _current


def set_display_zone(zone: DisplayZone) -> None:
    global _current
    _current = zone


def zone_named(name: str, environ: Mapping[str, str] | None = None) -> DisplayZone:
    """The zone called ``name``: an IANA name, ``UTC``, or ``local`` (the system's zone, from
    ``environ``'s ``TZ``). Raises UnknownZone with a one-line message (a close name when
    there is one)."""
    key = name.strip()
    if key.lower() == "local":
        return system_zone(os.environ if environ is None else environ)
    zone = _iana(key)
    if zone is not None:
        return zone
    if POSIX_TZ.fullmatch(key):
        raise UnknownZone(f"{_quoted(name)} is a POSIX TZ rule, which only the TZ variable takes; here {ZONE_HINT}")
    raise UnknownZone(f"unknown time zone {_quoted(name)}; {_suggestion(key)}")


def _quoted(value: str, limit: int = 60) -> str:
    """``value`` as repr shows it (escapes for what is not printable), cut short when long: an
    error line must stay a line one can read."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + "…"


def _suggestion(key: str) -> str:
    try:
        known = available_timezones()
    except OSError:  # pragma: no cover - a zone database that cannot even be listed
        known = set()
    by_case = {zone.lower(): zone for zone in known}
    close = [by_case[key.lower()]] if key.lower() in by_case else difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}? Or {ZONE_HINT}" if close else ZONE_HINT


def resolve_zone(flag: str | None, configured: str | None, environ: Mapping[str, str],
                 *, flag_name: str = "--timezone", key_name: str = "timezone") -> DisplayZone:
    """The zone to show times in: ``flag``, else ``configured``, else ``TZ``, else the
    system's. An unknown name is an UnknownZone naming where it came from."""
    for value, where in ((flag, flag_name), (configured, key_name)):
        if value is not None:
            try:
                return zone_named(value, environ)
            except UnknownZone as exc:
                raise UnknownZone(f"{where}: {exc}") from None
    return system_zone(environ)


def system_zone(environ: Mapping[str, str]) -> DisplayZone:
    """The system's zone: ``TZ`` when set (:func:`tz_zone`), else ``/etc/localtime``'s zone,
    else whatever the C library makes of the system (``tz`` None)."""
    tz = environ.get("TZ")
    if tz is not None:
        return tz_zone(tz)
    return _zone_key(os.path.realpath(_LOCALTIME)) or DisplayZone(None, "local")


def tz_zone(tz: str) -> DisplayZone:
    """``TZ`` as the C library reads it, minus its silence: empty (or ``:``) is UTC; an IANA
    name, or a path into a zone directory, is that zone; another zone file (``:/etc/localtime``)
    is read as one; a POSIX rule (:data:`POSIX_TZ`) is the C library's reading of it. Anything
    else (a misspelt name, a path to no zone file) would be UTC under a made-up abbreviation:
    it is shown as UTC, called UTC, with a ``problem`` that says so and what to do."""
    rule = tz.removeprefix(":")
    if not rule.strip():
        return UTC
    zone = _zone_key(rule) or (_zone_file(rule) if rule.startswith("/") else None)
    if zone is not None:
        return zone
    if POSIX_TZ.fullmatch(rule):
        return DisplayZone(None, rule)
    return DisplayZone(UTC.tz, "UTC", problem=(  # repr escapes every control character TZ may hold
        f"TZ={_quoted(tz)} names no time zone, so times are shown in UTC; set TZ to an IANA "
        "name such as Europe/Berlin (or use --timezone, or timezone in the config)"))


def _zone_file(path: str) -> DisplayZone | None:
    """The zone in the TZif file at ``path`` (not a FIFO or a device: opening one could block
    or never end), or None."""
    try:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as file:
            if file.read(len(_TZIF_MAGIC)) != _TZIF_MAGIC:
                return None
            file.seek(0)
            return DisplayZone(ZoneInfo.from_file(file, key=path), path)
    except (OSError, ValueError):
        return None


def _zone_key(text: str) -> DisplayZone | None:
    """A DisplayZone for an IANA name (or a path into a zone directory), or None."""
    if text.startswith("/"):
        head, marker, text = text.rpartition("zoneinfo/")
        if not marker:
            return None
    return _iana(text)


def _iana(key: str) -> DisplayZone | None:
    """The IANA zone ``key`` (``UTC`` in any case), or None."""
    if key.upper() == "UTC":
        return UTC
    if not key:
        return None
    try:
        return DisplayZone(ZoneInfo(key), key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _in_zone(value: datetime) -> datetime:
    """``value`` in the display zone; in UTC (or as it is) when the zone cannot hold it (the
    ends of datetime's range, where an offset would overflow)."""
    try:
        return _current.localize(value)
    except (OverflowError, OSError, ValueError):
        pass
    try:
        return value.astimezone(timezone.utc) if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return value


def _abbreviation(value: datetime) -> str:
    """'CET', 'IST', 'NDT', '+04' (zones without letters), 'UTC'."""
    name = value.tzname()
    if name:
        return name
    offset = value.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}" if minutes % 60 else f"{sign}{minutes // 60:02d}"


def moment(value: datetime) -> str:
    """'2026-11-30 19:30 CET': a date and time in the display zone, with its abbreviation."""
    local = _in_zone(value)
    return f"{local:%Y-%m-%d %H:%M} {_abbreviation(local)}"


def weekday_moment(value: datetime) -> str:
    """'Tue 14:20 CET': a moment within the next days, in the display zone."""
    local = _in_zone(value)
    return f"{local:%a %H:%M} {_abbreviation(local)}"
