"""Times for people in the display zone (issue 13, Time): UTC arithmetic, local display.

Every formatter is checked under UTC, a half-hour zone (Asia/Kolkata, +05:30), a zone whose
clocks change inside a billing period (Europe/Berlin, last Sunday of October) and one that is
both (America/St_Johns, -03:30/-02:30, first Sunday of November).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cuadra_top import display_time
from cuadra_top import format as fmt
from cuadra_top.cli import main
from cuadra_top.config import ConfigError, load_config
from cuadra_top.display_time import UnknownZone, display_zone, resolve_zone, set_display_zone, zone_named

UTC = timezone.utc
ZONES = ["UTC", "Asia/Kolkata", "Europe/Berlin", "America/St_Johns"]
SUMMER = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # a Saturday; Berlin and St John's on summer time
WINTER = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)  # a Monday; both on standard time
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("zone, summer, winter, summer_day", [
    ("UTC", "2026-10-24 12:00 UTC", "2026-11-30 18:30 UTC", "Sat 12:00 UTC"),
    ("Asia/Kolkata", "2026-10-24 17:30 IST", "2026-12-01 00:00 IST", "Sat 17:30 IST"),
    ("Europe/Berlin", "2026-10-24 14:00 CEST", "2026-11-30 19:30 CET", "Sat 14:00 CEST"),
    ("America/St_Johns", "2026-10-24 09:30 NDT", "2026-11-30 15:00 NST", "Sat 09:30 NDT"),
])
def test_moments_read_in_the_display_zone_with_its_abbreviation(zone, summer, winter, summer_day):
    set_display_zone(zone_named(zone))
    assert fmt.short_date(SUMMER) == summer
    assert fmt.short_date(WINTER) == winter
    assert fmt.day_time(SUMMER) == summer_day
    # whatever offset the API sent, the same instant reads the same
    india = timezone(timedelta(hours=5, minutes=30))
    assert fmt.short_date(WINTER.astimezone(india)) == winter
    assert fmt.short_date(WINTER.replace(tzinfo=None)) == winter  # naive: UTC, as the models read it


@pytest.mark.parametrize("zone", ZONES)
def test_durations_and_countdowns_do_not_depend_on_the_zone(zone):
    set_display_zone(zone_named(zone))
    end = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)
    assert fmt.time_left(end, end - timedelta(days=8, hours=3)) == "8d 3h"  # across Berlin's 25 h day


@pytest.mark.parametrize("zone", ZONES)
def test_formatters_never_raise_at_the_ends_of_time(zone):
    set_display_zone(zone_named(zone))
    for value in (datetime.min, datetime.max, datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC),
                  datetime.max.replace(tzinfo=timezone(timedelta(hours=-14)))):
        assert isinstance(fmt.short_date(value), str) and isinstance(fmt.day_time(value), str)


@pytest.mark.parametrize("zone, day, hours", [
    ("Europe/Berlin", date(2026, 10, 25), 25), ("Europe/Berlin", date(2026, 3, 29), 23),
    ("America/St_Johns", date(2026, 11, 1), 25), ("Asia/Kolkata", date(2026, 10, 25), 24),
    ("UTC", date(2026, 10, 25), 24),
])
def test_calendar_days_are_found_in_utc_and_may_be_23_or_25_hours(zone, day, hours):
    shown = zone_named(zone)
    start, end = shown.day_start(day), shown.day_start(day + timedelta(days=1))
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
    assert end - start == timedelta(hours=hours)
    assert shown.day_of(start) == day and shown.day_of(end - timedelta(microseconds=1)) == day


def test_a_day_that_starts_at_a_clock_change_starts_at_the_change():
    """Santiago moves its clocks at midnight: 2026-09-06 00:00 does not exist there."""
    santiago = zone_named("America/Santiago")
    start = santiago.day_start(date(2026, 9, 6))
    assert start == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)  # 23:59:59 -04 is followed by 01:00 -03
    assert santiago.day_start(date(2026, 9, 7)) - start == timedelta(hours=23)
    assert santiago.day_of(start) == date(2026, 9, 6)
    assert santiago.day_of(start - timedelta(seconds=1)) == date(2026, 9, 5)


def test_without_a_zone_set_times_read_in_utc_whatever_tz_says():
    """Library use (and the screenshots) read the same on every machine: only the CLI sets a zone."""
    probe = ("from datetime import datetime, timezone; from cuadra_top import format as f; "
             "print(f.short_date(datetime(2026, 11, 30, 18, 30, tzinfo=timezone.utc)))")
    env = {**os.environ, "TZ": "Asia/Kolkata", "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.strip() == "2026-11-30 18:30 UTC", result.stderr


def test_the_flag_wins_over_the_config_which_wins_over_tz():
    env = {"TZ": "America/St_Johns"}
    assert resolve_zone("Asia/Kolkata", "Europe/Berlin", env).name == "Asia/Kolkata"
    assert resolve_zone(None, "Europe/Berlin", env).name == "Europe/Berlin"
    assert resolve_zone(None, None, env).name == "America/St_Johns"
    assert resolve_zone(None, None, {"TZ": ":Asia/Kolkata"}).name == "Asia/Kolkata"
    assert resolve_zone(None, None, {"TZ": "/usr/share/zoneinfo/Europe/Berlin"}).name == "Europe/Berlin"
    assert resolve_zone("utc", None, env) == display_time.UTC


def test_a_tz_rule_without_an_iana_name_is_read_as_the_c_library_reads_it(monkeypatch):
    monkeypatch.setenv("TZ", "XST-5:30")
    time.tzset()
    try:
        zone = resolve_zone(None, None, os.environ)
        assert zone.tz is None and zone.name == "XST-5:30"
        set_display_zone(zone)
        assert fmt.short_date(WINTER) == "2026-12-01 00:00 XST"
        assert zone.day_start(date(2026, 12, 1)) == datetime(2026, 11, 30, 18, 30, tzinfo=UTC)
        assert resolve_zone("local", "Europe/Berlin", os.environ).name == "XST-5:30"  # --timezone local
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("tz", ["Nowhere/Foo", "Europe/Berln", "ABC", "../../etc/passwd", "/etc/passwd", ":/dev/zero",
                                "/nonexistent", ":/etc", "Europe/Berlin\x1b[31m", "a\x07b", "Euro\u202epe", pytest.param("x" * 5000, id="5000 x")])
def test_a_tz_that_names_no_zone_is_shown_as_utc_and_said_once(tz, monkeypatch, capsys):
    """The C library reads such a TZ as UTC under a made-up abbreviation ('Europe' for
    Europe/Berln): the times would be UTC labelled as if local. They are UTC, called UTC,
    with a one-line warning that names TZ and what to do."""
    zone = resolve_zone(None, None, {"TZ": tz})
    assert zone.name == "UTC" and zone.localize(WINTER).utcoffset() == timedelta(0)
    assert zone.problem is not None and zone.problem.startswith("TZ=") and "\n" not in zone.problem
    assert len(zone.problem) < 300  # a line one can read, however long TZ is
    assert "names no time zone, so times are shown in UTC; set TZ to an IANA name" in zone.problem
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f or c == "\u202e" for c in zone.problem)
    assert resolve_zone("local", None, {"TZ": tz}).problem == zone.problem  # --timezone local reads TZ too
    assert resolve_zone("Asia/Kolkata", None, {"TZ": tz}).problem is None  # TZ not used: nothing to say
    monkeypatch.setenv("TZ", tz)
    assert main(["history"]) == 1  # no history yet: the warning comes first, in one line
    assert capsys.readouterr().err.splitlines()[0] == f"cuadra-top: warning: {zone.problem}"
    assert display_zone() == display_time.UTC


@pytest.mark.parametrize("tz, name, offset", [
    ("", "UTC", 0), (":", "UTC", 0), ("EST5EDT", "EST5EDT", -5 * 60), ("XST-5:30", "XST-5:30", 330),
    ("<+0530>-5:30", "<+0530>-5:30", 330), ("CET-1CEST,M3.5.0,M10.5.0/3", "CET-1CEST,M3.5.0,M10.5.0/3", 60),
])
def test_a_tz_the_c_library_reads_is_used_as_it_reads_it(tz, name, offset, monkeypatch):
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        zone = resolve_zone(None, None, os.environ)
        assert zone.problem is None and zone.name == name
        assert zone.localize(WINTER).utcoffset() == timedelta(minutes=offset)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_tz_naming_a_zone_file_reads_the_file(tmp_path):
    import zoneinfo

    source = next(Path(root, "Asia", "Kolkata") for root in zoneinfo.TZPATH if Path(root, "Asia", "Kolkata").is_file())
    copy = tmp_path / "kolkata.tzif"
    copy.write_bytes(source.read_bytes())
    zone = resolve_zone(None, None, {"TZ": f":{copy}"})
    assert zone.problem is None and zone.name == str(copy)
    assert zone.localize(WINTER).strftime("%H:%M %Z") == "00:00 IST"


@pytest.mark.parametrize("rule", ["<+0530>-5:30", "EST5", "CET-1CEST,M3.5.0,M10.5.0/3"])
def test_a_posix_rule_given_as_the_flag_or_key_says_where_it_works(rule):
    with pytest.raises(UnknownZone) as error:
        resolve_zone(rule, None, {})
    assert str(error.value) == (f"--timezone: {rule!r} is a POSIX TZ rule, which only the TZ variable takes; here "
                                "use an IANA name such as Europe/Berlin, America/New_York or UTC (or local)")


@pytest.mark.parametrize("name", ["Europe/Berln", "europe/berlin", "Mars/Olympus", "", "../etc/passwd", "/etc/passwd",
                                  "zone.tab", "Europe", "a\0b", "x" * 300])
def test_an_unknown_zone_is_one_line_naming_the_flag_or_key(name):
    with pytest.raises(UnknownZone) as flag_error:
        resolve_zone(name, None, {})
    with pytest.raises(UnknownZone) as key_error:
        resolve_zone(None, name, {})
    for error, where in ((flag_error, "--timezone: "), (key_error, "timezone: ")):
        message = str(error.value)
        assert message.startswith(where) and "\n" not in message and "IANA name" in message
        assert len(message) < 300
    if name.lower().startswith("europe/b"):
        assert "did you mean 'Europe/Berlin'?" in str(flag_error.value)


def test_the_config_key_is_checked_with_the_file(tmp_path, isolated_env):
    config = tmp_path / "config.toml"
    config.write_text('timezone = "Europe/Berln"\n')
    with pytest.raises(ConfigError) as error:
        load_config(str(config), {})
    assert str(error.value).startswith(f"{config}: key timezone: unknown time zone 'Europe/Berln'")
    config.write_text('timezone = "Asia/Kolkata"\n')
    assert load_config(str(config), {}).settings.timezone == "Asia/Kolkata"


# -- the CLI sets the zone once, for the whole run ---------------------------------------------


def _config(tmp_path: Path, sim, extra: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'{extra}[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    config.chmod(0o600)
    return config


@pytest.mark.parametrize("flag, key, tz, expected", [
    ("Asia/Kolkata", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata"),
    (None, "Europe/Berlin", "America/St_Johns", "Europe/Berlin"),
    (None, None, "America/St_Johns", "America/St_Johns"),
])
def test_once_shows_times_in_flag_then_config_then_tz(flag, key, tz, expected, sim, tmp_path, isolated_env,
                                                       monkeypatch, capsys):
    monkeypatch.setenv("TZ", tz)
    config = _config(tmp_path, sim, f'timezone = "{key}"\n' if key else "")
    argv = ["--config", str(config), "--no-history", *(["--timezone", flag] if flag else []), "--once"]
    assert main(argv) == 0
    assert display_zone().name == expected
    assert fmt.short_date(WINTER) == zone_named(expected).localize(WINTER).strftime("%Y-%m-%d %H:%M %Z")


def test_json_stays_in_utc_whatever_the_zone(sim, tmp_path, isolated_env, capsys):
    config = _config(tmp_path, sim)
    assert main(["--config", str(config), "--no-history", "--timezone", "Asia/Kolkata", "--once", "--json"]) == 0
    [org] = json.loads(capsys.readouterr().out)["orgs"]
    assert org["fetched_at"].endswith("Z")


def test_a_bad_timezone_flag_is_a_usage_error_in_one_line(sim, tmp_path, isolated_env, capsys):
    config = _config(tmp_path, sim)
    assert main(["--config", str(config), "--timezone", "Europe/Berln", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--timezone: unknown time zone 'Europe/Berln'; did you mean" in err
    assert main(["--config", str(config), "--timezone", "Nowhere", "--check"]) == 3  # the plugin contract
    out = capsys.readouterr().out
    assert out.startswith("CUADRA UNKNOWN - config error: --timezone: unknown time zone") and out.count("\n") == 1
