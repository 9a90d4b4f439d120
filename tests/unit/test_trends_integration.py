"""History and forecast as the user meets them: --once records, --json forecasts, --check
exits like a monitoring plugin, the TUI alerts once per crossing."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from cuadra_top.api.models import parse_usage
from cuadra_top.cli import main
from cuadra_top.simulator import Fault
from cuadra_top.state.fleet import OrgResult
from cuadra_top.state.history import History, default_history_path, sample_of
from cuadra_top.state.trends import DENSE_STEP, Trends, Window, recording
from cuadra_top.tui.screenshots import FROZEN_AT
from conftest import sim_config_file
from trends_support import (  # what the unit and the TUI tests of this topic share
    key_of,
)


USAGE = {
    "storage": {"used": 100, "limit": 1000},
    "credits": {"used": 100, "limit": 1000, "periodStart": "2026-11-01T00:00:00Z",
                "periodEnd": "2026-11-30T23:59:59Z"},
    "plan": {"tier": "pro"},
}


def usage(used: int, period: tuple[str, str] = ("2026-11-01T00:00:00Z", "2026-11-30T23:59:59Z")):
    doc = json.loads(json.dumps(USAGE))
    doc["credits"]["used"] = used
    doc["credits"]["periodStart"], doc["credits"]["periodEnd"] = period
    return parse_usage(doc)


def test_window_stays_small_and_keeps_the_newest_exact():
    window = Window([])
    start = datetime(2026, 11, 10, tzinfo=timezone.utc)
    for i in range(14 * 24 * 120):  # two weeks of 30 s polls
        window.add(sample_of("a", start + timedelta(seconds=30 * i), usage(i)))
    assert window.samples[-1].credits_used == 14 * 24 * 120 - 1
    assert len(window.samples) < 300
    day = [s for s in window.samples if window.samples[-1].at - s.at <= timedelta(hours=24)]
    assert len(day) >= 24 * 6 - 2  # one per DENSE_STEP over the last day
    gaps = [b.at - a.at for a, b in zip(day, day[1:-1])]
    assert min(gaps) >= DENSE_STEP


def test_window_restarts_at_a_new_period():
    window = Window([])
    start = datetime(2026, 11, 30, 22, tzinfo=timezone.utc)
    for i in range(20):
        window.add(sample_of("a", start + timedelta(minutes=10 * i), usage(1000 + i)))
    window.add(sample_of("a", start + timedelta(hours=5), usage(3, ("2026-12-01T00:00:00Z", "2026-12-31T23:59:59Z"))))
    assert [s.credits_used for s in window.samples] == [3]


def test_window_never_holds_two_accounts_that_share_a_name():
    """Issue 10, defect 9: two accounts' samples in one series (two runs named ``default``)
    arrive in turns; the window (what the sparkline and the TUI's forecast see) restarts at
    each change of account, so it only ever holds the newest account's samples."""
    start = datetime(2026, 11, 10, tzinfo=timezone.utc)
    window = Window([])
    for i in range(40):
        low = i % 3 != 2  # two of A's, one of B's, and so on
        used = 7_500 + i if low else 2_000_000 + i
        window.add(sample_of("default", start + timedelta(minutes=15 * i), usage(used)))
        if i >= 3:  # from the first time A reports after B (A, A, B alone look like a burst)
            assert len({s.credits_used >= 2_000_000 for s in window.samples}) == 1, i


def test_window_restarts_at_another_limit_or_plan():
    window = Window([])
    start = datetime(2026, 11, 10, tzinfo=timezone.utc)
    for i in range(5):
        window.add(sample_of("a", start + timedelta(minutes=10 * i), usage(100 + i)))
    upgraded = USAGE | {"credits": {**USAGE["credits"], "used": 105, "limit": 5_000}}
    window.add(sample_of("a", start + timedelta(minutes=50), parse_usage(upgraded)))
    assert [s.credits_used for s in window.samples] == [105]
    enterprise = USAGE | {"credits": {**USAGE["credits"], "used": 106, "limit": 5_000}, "plan": {"tier": "ent"}}
    window.add(sample_of("a", start + timedelta(minutes=60), parse_usage(enterprise)))
    assert [s.credits_used for s in window.samples] == [106]


async def test_recording_wraps_fetch_into_history(tmp_path):
    history = History(tmp_path / "h.sqlite3")
    trends = Trends(history, lambda: FROZEN_AT)
    from cuadra_top.api.client import Fetched

    fetched = Fetched(usage(10), dict(USAGE), FROZEN_AT, 0.01)

    async def fetch(name: str) -> OrgResult:
        return OrgResult(name, fetched, None, FROZEN_AT)

    result = await recording(fetch, trends)("a")
    assert result.fetched is fetched
    assert trends.series("a") == [10.0]  # in memory at once; on disk when the writer gets to it
    await trends.flush()
    assert [s.credits_used for s in history.samples("a")] == [10]
    history.close()


async def test_samples_are_written_in_batches_and_none_is_lost_at_close(tmp_path, monkeypatch):
    """Hundreds of orgs polling every second: one commit per batch, not one per sample."""
    history = History(tmp_path / "h.sqlite3")
    trends = Trends(history, lambda: FROZEN_AT)
    from cuadra_top.api.client import Fetched

    batches: list[int] = []
    write = history.record_many
    monkeypatch.setattr(history, "record_many", lambda records: (batches.append(len(records)), write(records)))
    for i in range(200):
        fetched = Fetched(usage(i), dict(USAGE), FROZEN_AT + timedelta(seconds=i), 0.01)
        await trends.record(OrgResult(f"org-{i % 50}", fetched, None, FROZEN_AT))
    await trends.flush()
    # each org answered at t, t+50, t+100, t+150 s: t and t+100 went to disk (a minute apart), t+50
    # was replaced by t+100 while held, and t+150, the newest, was held until the flush
    assert sum(batches) == 150 and len(batches) < 10
    written = [s.at - FROZEN_AT for s in history.samples("org-7")]
    assert written == [timedelta(seconds=7 + 50 * k) for k in (0, 2, 3)]
    for i in range(3):  # recorded, not yet written, when the app closes
        fetched = Fetched(usage(i), dict(USAGE), FROZEN_AT + timedelta(hours=1, seconds=i), 0.01)
        await trends.record(OrgResult("late", fetched, None, FROZEN_AT))
    trends.close()
    # the first, and the newest of its minute (held back, written at close); not the one between
    assert [s.credits_used for s in History(tmp_path / "h.sqlite3").samples("late")] == [0, 2]


def test_once_records_history_and_no_history_does_not(tmp_path, sim, capsys):
    config = sim_config_file(tmp_path, sim, ["alpha"])
    assert main(["--once", "--config", config]) == 0
    assert main(["--once", "--config", config]) == 0
    path = default_history_path()
    with History(path) as history:
        assert len(history.samples(key_of(sim, "alpha"), name="alpha")) == 2
    assert main(["--once", "--no-history", "--config", config]) == 0
    with History(path) as history:
        assert len(history.samples(key_of(sim, "alpha"), name="alpha")) == 2
    capsys.readouterr()


def test_json_forecast_from_history(tmp_path, start_sim, make_org, capsys):
    sim = start_sim([make_org("alpha", burn_per_hour=0.0)], clock=time.time)
    config = sim_config_file(tmp_path, sim, ["alpha"])
    # Six hours of samples in the history, as a cron job would have left them.
    now = datetime.now(timezone.utc)
    if now - timedelta(hours=7) < now.replace(day=1, hour=0, minute=0, second=0, microsecond=0):
        pytest.skip("the simulator's billing period began less than 7 hours ago")
    body = sim.usage_for("alpha")
    with History(default_history_path()) as history:
        for step in range(72, 0, -1):
            past = parse_usage({**body, "credits": {**body["credits"], "used": body["credits"]["used"] - 10 * step}})
            history.record(key_of(sim, "alpha"), now - timedelta(minutes=5 * step), past, name="alpha")
    capsys.readouterr()
    assert main(["--once", "--json", "--config", config]) == 0
    org = json.loads(capsys.readouterr().out)["orgs"][0]
    assert org["stale"] is False
    forecast = org["forecast"]
    assert set(forecast) >= {"burn_rate_per_day", "credits_exhausted_at", "total_exhausted_at",
                             "storage_full_at", "basis_hours"}
    assert forecast["burn_rate_per_day"] == pytest.approx(10 * 12 * 24, rel=0.2)
    assert forecast["basis_hours"] >= 5.9
    assert forecast["credits_exhausted_at"].endswith("Z")


def test_failed_org_in_json_is_stale_with_its_last_good_time(tmp_path, sim, capsys):
    config = sim_config_file(tmp_path, sim, ["alpha"])
    assert main(["--once", "--config", config]) == 0
    sim.set_fault("alpha", Fault(status=503))
    capsys.readouterr()
    assert main(["--once", "--json", "--config", config]) == 1
    org = json.loads(capsys.readouterr().out)["orgs"][0]
    assert org["ok"] is False and org["stale"] is True
    assert org["fetched_at"] is not None and org["usage"] is None


@pytest.mark.parametrize(
    "used, expected_code, expected_word",
    [(1_000, 0, "OK"), (8_500, 1, "WARNING"), (9_800, 2, "CRITICAL")],
)
def test_check_exit_codes(tmp_path, start_sim, make_org, used, expected_code, expected_word, capsys):
    sim = start_sim([make_org("alpha", credits_used_at_start=used, burn_per_hour=0.0)])
    config = sim_config_file(tmp_path, sim, ["alpha"])
    code = main(["--once", "--check", "--config", config])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == expected_code
    assert len(out) == 1 and out[0].startswith(f"CUADRA {expected_word} - ")


def test_check_unknown_when_an_org_fails_and_thresholds_per_org(tmp_path, start_sim, make_org, capsys):
    sim = start_sim([make_org("alpha", credits_used_at_start=8_500, burn_per_hour=0.0),
                     make_org("beta", burn_per_hour=0.0)])
    config = sim_config_file(tmp_path, sim, ["alpha", "beta"])
    sim.set_fault("beta", Fault(status=500))
    assert main(["--check", "--config", config]) == 3
    assert capsys.readouterr().out.startswith("CUADRA UNKNOWN - beta: server error 500")
    sim.set_fault("beta", None)
    # A per-org threshold above the usage makes alpha OK.
    text = open(config).read().replace('name = "alpha"', 'name = "alpha"\nwarn_percent = 90')
    open(config, "w").write(text)
    assert main(["--check", "--config", config]) == 0


async def test_a_history_left_for_later_is_opened_by_load_and_keeps_early_samples(tmp_path):
    """The TUI opens the history file in a thread after the screen is up: its integrity check
    reads the whole file. Samples from before then are kept and written once it is open."""
    path = tmp_path / "h.sqlite3"
    trends = Trends(None, lambda: FROZEN_AT, open_later=path)
    from cuadra_top.api.client import Fetched

    fetched = Fetched(usage(10), dict(USAGE), FROZEN_AT, 0.01)
    await trends.record(OrgResult("a", fetched, None, FROZEN_AT))
    assert trends.history is None and not path.exists()  # nothing on the disk yet
    assert trends.series("a") == [10.0]
    await trends.load(["a"])
    await trends.flush()
    assert trends.history is not None
    assert [s.credits_used for s in History(path).samples("a")] == [10]
    trends.close()


def test_a_history_closed_before_it_was_opened_still_gets_its_samples(tmp_path):
    path = tmp_path / "h.sqlite3"
    trends = Trends(None, lambda: FROZEN_AT, open_later=path)
    from cuadra_top.api.client import Fetched

    fetched = Fetched(usage(12), dict(USAGE), FROZEN_AT, 0.01)
    asyncio.run(trends.record(OrgResult("a", fetched, None, FROZEN_AT)))
    trends.close()  # the user quit before the history was read
    assert [s.credits_used for s in History(path).samples("a")] == [12]


async def test_a_fast_poll_writes_one_sample_a_minute_and_keeps_every_one_in_memory(tmp_path):
    """A 1 s interval must not write 86,400 rows a day per org: one a minute reaches the disk."""
    from cuadra_top.api.client import Fetched
    from cuadra_top.state.trends import HISTORY_STEP

    history = History(tmp_path / "h.sqlite3")
    trends = Trends(history, lambda: FROZEN_AT + timedelta(minutes=10))
    for second in range(600):
        fetched = Fetched(usage(second), dict(USAGE), FROZEN_AT + timedelta(seconds=second), 0.01)
        await trends.record(OrgResult("fast", fetched, None, FROZEN_AT))
    assert trends.windows["fast"].samples[-1].credits_used == 599  # the screen has the newest at once
    await trends.flush()
    on_disk = history.samples("fast")
    assert len(on_disk) == 600 // int(HISTORY_STEP.total_seconds()) + 1  # one a minute, and the newest
    assert on_disk[-1].credits_used == 599
    trends.close()


async def test_an_org_sqlite_cannot_store_costs_only_its_own_samples(tmp_path):
    """Issue 10, defect 1, through Trends: the batch writer must not lose the other orgs."""
    from cuadra_top.api.client import Fetched

    history = History(tmp_path / "h.sqlite3")
    trends = Trends(history, lambda: FROZEN_AT)
    for minute in range(3):
        at = FROZEN_AT + timedelta(minutes=minute)
        for name, used, limit in (("huge", 2**70, 2**71), ("fine", 10 + minute, 1000)):
            doc = {**USAGE, "credits": {**USAGE["credits"], "used": used, "limit": limit}}
            fetched = Fetched(parse_usage(doc), doc, at, 0.01)
            await trends.record(OrgResult(name, fetched, None, at))
        await trends.flush()
    assert [s.credits_used for s in history.samples("fine")] == [10, 11, 12]
    assert history.samples("huge") == []
    assert trends.series("huge")[-1] == float(2**70)  # still on screen, just not in the file
    assert len(trends.warnings) == 1 and "'huge'" in trends.warnings[0] and "credits.used" in trends.warnings[0]
    trends.close()


def test_once_records_the_other_orgs_and_warns_about_one_too_big(tmp_path, start_sim, make_org, capsys):
    """Issue 10, defect 1, end to end: two --once runs, one org at credits.used = 2**70."""
    sim = start_sim([make_org("huge", credits_used_at_start=2**70, credit_limit=2**71), make_org("fine")])
    config = sim_config_file(tmp_path, sim, ["huge", "fine"])
    for _ in range(2):
        capsys.readouterr()
        assert main(["--once", "--config", config]) == 0
        err = capsys.readouterr().err
        warned = [line for line in err.splitlines() if "'huge'" in line]
        assert len(warned) == 1 and "credits.used" in warned[0] and warned[0].startswith("cuadra-top: warning:"), err
    with History(default_history_path()) as history:
        assert len(history.samples(key_of(sim, "fine"), name="fine")) == 2
        assert history.samples(key_of(sim, "huge"), name="huge") == []


KEY_A = "https://api.cuadra.ai org:acct-a"


KEY_B = "https://api.cuadra.ai org:acct-b"


def answer(name: str, used: int, at: datetime, key: str | None) -> OrgResult:
    from cuadra_top.api.client import Fetched

    return OrgResult(name, Fetched(usage(used), dict(USAGE), at, 0.01), None, at, key=key)


async def test_two_runs_named_default_on_two_accounts_forecast_each_from_its_own(tmp_path):
    """Issue 10, defect 9: two cron runs, both 'default', one per account, every 15 minutes.
    Keyed by account, each run's forecast is its own account's rate (10 credits a quarter)."""
    path = tmp_path / "h.sqlite3"
    for i in range(6):
        at = FROZEN_AT + timedelta(minutes=15 * i)
        for key, base in ((KEY_A, 100), (KEY_B, 900)):
            trends = Trends(History(path), lambda: at)
            await trends.load(["default"], {"default": key})
            await trends.record(answer("default", base + 10 * i, at, key))
            await trends.flush()
            result = trends.forecast_for("default")
            assert result is not None
            if i >= 1:
                assert result.burn_rate_per_day == pytest.approx(10 * 4 * 24), (i, key)
            trends.close()
    with History(path) as history:
        assert [s.credits_used for s in history.samples(KEY_A, name="default")] == [100 + 10 * i for i in range(6)]


async def test_a_key_first_known_from_an_answer_brings_its_history(tmp_path):
    """A token_command's identity is known after its first run: the org is loaded without a
    key, and its first answer brings the key and that series' past. An answer with another
    account's key (the command now prints another account's token) starts the window over."""
    history = History(tmp_path / "h.sqlite3")
    for minute in (0, 10, 20):
        history.record(KEY_A, FROZEN_AT + timedelta(minutes=minute), usage(100 + minute), name="cmd")
    trends = Trends(history, lambda: FROZEN_AT + timedelta(hours=1))
    await trends.load(["cmd"], {"cmd": None})
    assert trends.series("cmd") == []
    await trends.record(answer("cmd", 130, FROZEN_AT + timedelta(minutes=30), KEY_A))
    await trends.flush()
    assert trends.series("cmd") == [100.0, 110.0, 120.0, 130.0]
    await trends.record(answer("cmd", 5, FROZEN_AT + timedelta(minutes=40), KEY_B))
    await trends.flush()
    assert trends.series("cmd") == [5.0]
    assert [s.credits_used for s in history.samples(KEY_A, name="cmd")] == [100, 110, 120, 130]
    assert [s.credits_used for s in history.samples(KEY_B, name="cmd")] == [5]
    trends.close()


async def test_an_org_loaded_by_name_moves_to_the_key_its_answers_bring(tmp_path):
    """A caller that does not pass keys to ``load`` still ends up on the right series."""
    history = History(tmp_path / "h.sqlite3")
    history.record(KEY_A, FROZEN_AT, usage(100), name="acme")
    history.record("acme", FROZEN_AT + timedelta(minutes=5), usage(999_999), name="acme")  # a bare-name series
    trends = Trends(history, lambda: FROZEN_AT + timedelta(hours=1))
    await trends.load(["acme"])
    assert trends.series("acme") == [999_999.0]
    await trends.record(answer("acme", 120, FROZEN_AT + timedelta(minutes=20), KEY_A))
    await trends.flush()
    assert trends.series("acme") == [100.0, 120.0]
    trends.close()

