"""History and forecast as the user meets them: --once records, --json forecasts, --check
exits like a monitoring plugin, the TUI alerts once per crossing.

The TUI half (the rest is in tests/unit/test_trends_integration.py)."""

from __future__ import annotations

from cuadra_top.state.history import History
from cuadra_top.state.trends import Trends
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.screenshots import FROZEN_AT, frozen_app, wait_for_data
from conftest import sim_config_file
from trends_support import (  # what the unit and the TUI tests of this topic share
    key_of,
)


async def test_tui_alerts_once_per_crossing_and_rings_the_bell(monkeypatch):
    from cuadra_top.tui.screenshots import frozen_simulator

    sim = frozen_simulator()
    try:
        app = frozen_app(sim, start_org="acme-free")
        app.monitor.update_settings(app.monitor.settings.model_copy(update={"bell": True}))
        rings, toasts = [], []
        monkeypatch.setattr(app, "bell", lambda: rings.append(1))
        notify = app.notify
        monkeypatch.setattr(app, "notify", lambda message, **kw: (toasts.append(message), notify(message, **kw)))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_data(app, pilot.pause)
            assert rings == []  # the first answers set the baseline: no burst of alerts at start

            async def refresh() -> None:
                await pilot.press("r")
                await pilot.pause(0.3)
                await wait_for_data(app, pilot.pause)

            # acme-free uses 35% of its credits and 37% of its storage: lower the threshold under both.
            app.monitor.update_settings(app.monitor.settings.model_copy(update={"warn_percent": 30.0}))
            await refresh()
            assert len(rings) == 2, toasts
            # every notice says when the period resets (issue 11)
            assert "acme-free: credits at 35.0% (warn at 30%); the period resets in 6d 11h" in toasts
            assert "acme-free: storage at 37.0% (warn at 30%); the period resets in 6d 11h" in toasts
            await refresh()
            assert len(rings) == 2  # still over: no second alert
            app.monitor.update_settings(app.monitor.settings.model_copy(update={"warn_percent": 80.0}))
            await refresh()  # back under: re-armed
            app.monitor.update_settings(app.monitor.settings.model_copy(update={"warn_percent": 30.0}))
            await refresh()
            assert len(rings) == 4
    finally:
        sim.stop()


async def test_the_tui_shows_a_damaged_history_it_opened_late(sim, tmp_path):
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    app = frozen_app(sim, start_org="nimbus-pro", trends=Trends(None, lambda: FROZEN_AT, open_later=path))
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(50):
            await pilot.pause(0.05)
            if app.monitor.trends.history is not None:
                break
        await pilot.pause()
        messages = list(app.notices)
        assert any("damaged" in m and "moved aside" in m for m in messages), messages
        assert sum("damaged" in m for m in messages) == 1  # once, not at every look


async def test_the_tui_shows_a_sample_it_could_not_store_once(tmp_path, start_sim, make_org, monkeypatch):
    """Issue 10, defect 1, in the TUI: the other org is recorded, the skip is a toast, once."""
    import random

    from cuadra_top.config import load_config
    from cuadra_top.tui import app as app_module

    monkeypatch.setattr(app_module, "WARNINGS_EVERY", 0.1)
    sim = start_sim([make_org("huge", credits_used_at_start=2**70, credit_limit=2**71), make_org("fine")])
    loaded = load_config(sim_config_file(tmp_path, sim, ["huge", "fine"]), {})
    history = History(tmp_path / "h.sqlite3")
    app = make_app(TuiOptions(loaded.settings, environ={}, rng=random.Random(0),
                              trends=Trends(history, lambda: FROZEN_AT)))
    toasts = app.notices
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_data(app, pilot.pause)
        for _ in range(3):  # more rounds of answers: the same skip, no new toast
            await pilot.press("r")
            await wait_for_data(app, pilot.pause)
        await pilot.pause(0.3)
    with History(tmp_path / "h.sqlite3") as reopened:  # the app closed its own at exit
        assert reopened.samples(key_of(sim, "fine"), name="fine")
        assert not reopened.samples(key_of(sim, "huge"), name="huge")
    skipped = [t for t in toasts if "'huge'" in t and "credits.used" in t]
    assert len(skipped) == 1, toasts

