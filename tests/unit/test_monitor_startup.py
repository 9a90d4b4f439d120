"""The monitor's start-up order: the first answers before the history is read, and alerts
judged only against the history's levels (issue 13's first live data)."""

from __future__ import annotations

import random
import time

from cuadra_top.clock import utc_now
from cuadra_top.config import OrgConfig, Settings
from cuadra_top.simulator import Fault
from cuadra_top.state import monitor as monitor_module
from cuadra_top.state.history import default_history_path
from cuadra_top.state.monitor import AlertNotice, Monitor, OrgChanged
from cuadra_top.state.trends import Trends
from conftest import wait_until


def org(sim, name: str) -> OrgConfig:
    return OrgConfig(name=name, api_url=sim.base_url, token=f"{name}-token")


def monitor_of(sim, names: list[str]) -> Monitor:
    """A monitor as the TUI makes it: its history opened by the first ``load``."""
    trends = Trends(None, utc_now, open_later=default_history_path())
    return Monitor(Settings(org=[org(sim, name) for name in names]), None, trends, environ={},
                   rng=random.Random(0))


async def test_the_history_is_read_once_the_first_answers_are_in(start_sim, make_org, isolated_env):
    """Read alongside the first request, the history shared the CPU with it and its redraw took
    the first live answer's frame: it is opened only after that answer, even a slow one."""
    sim = start_sim([make_org("alpha")])
    sim.set_fault("alpha", Fault(latency=0.3))
    monitor = monitor_of(sim, ["alpha"])
    history_at_first_answer: list[object] = []

    def on_event(event) -> None:
        if isinstance(event, OrgChanged) and event.state.fetched is not None and not history_at_first_answer:
            history_at_first_answer.append(monitor.trends.history)

    monitor.subscribe(on_event)
    await monitor.start()
    try:
        assert history_at_first_answer == [None]  # not opened while the request was under way
        assert monitor.trends.history is not None  # start still returns with it read
        assert len(monitor.trends.windows["alpha"].samples) >= 1
    finally:
        await monitor.stop()


async def test_an_org_that_does_not_answer_holds_the_history_back_a_moment_only(start_sim, make_org,
                                                                               isolated_env, monkeypatch):
    monkeypatch.setattr(monitor_module, "FIRST_ANSWERS_WAIT", 0.3)
    sim = start_sim([make_org("alpha"), make_org("silent")])
    sim.set_fault("silent", Fault(hang=True))
    monitor = monitor_of(sim, ["alpha", "silent"])
    started = time.monotonic()
    await monitor.start()
    try:
        assert 0.25 <= time.monotonic() - started < 5
        assert monitor.trends.history is not None
        assert monitor.state_of("silent").fetched is None and monitor.state_of("silent").error is None
    finally:
        await monitor.stop()


async def test_a_monitor_stopped_while_waiting_for_the_first_answers_ends_its_start(start_sim, make_org,
                                                                                  isolated_env):
    import asyncio

    sim = start_sim([make_org("silent")])
    sim.set_fault("silent", Fault(hang=True))
    monitor = monitor_of(sim, ["silent"])
    starting = asyncio.ensure_future(monitor.start())
    await wait_until(lambda: monitor.poller("silent") is not None and monitor.poller("silent").state.in_flight)
    await monitor.stop()
    await asyncio.wait_for(starting, 0.5)  # well before FIRST_ANSWERS_WAIT


async def test_a_crossing_raised_before_a_restart_is_not_raised_again_by_the_first_answer(start_sim, make_org,
                                                                                         isolated_env):
    """The first answer now comes before the history is read; its alerts wait for the levels
    the history holds (here: the critical one the previous run raised and delivered)."""
    sim = start_sim([make_org("hot", credits_used_at_start=9_800)])  # 98%: critical
    notices: list[list[AlertNotice]] = []
    for _run in range(2):
        monitor = monitor_of(sim, ["hot"])
        seen: list[AlertNotice] = []
        monitor.subscribe(lambda event, seen=seen: seen.append(event) if isinstance(event, AlertNotice) else None)
        await monitor.start()
        try:
            assert await monitor.wait_answered()
            await wait_until(lambda: monitor.alerts.needs_judging(monitor.series_of("hot"),
                                                                  monitor.findings("hot")) is False)
        finally:
            await monitor.stop()
        notices.append(seen)
    assert [n.notice.rule for n in notices[0]] and all(n.claimed for n in notices[0])  # the first run raised it
    assert notices[1] == []  # the restart knows it was raised: not again


async def test_an_alert_being_judged_when_the_monitor_stops_is_still_emitted(start_sim, make_org, isolated_env,
                                                                             monkeypatch):
    """A judgement claims its notices in the history (shared by every run of the account, so
    no other will send them): a stop in the middle of one waits for it, and what it claimed
    reaches the subscribers (the delivery) rather than nobody."""
    import threading

    sim = start_sim([make_org("hot", credits_used_at_start=9_800)])  # 98%: critical
    monitor = monitor_of(sim, ["hot"])
    judging, release = threading.Event(), threading.Event()
    judge = monitor.alerts.judge

    def slow_judge(*args, **kw):
        judging.set()
        release.wait(5)  # the store is slow: the stop comes meanwhile
        return judge(*args, **kw)

    monkeypatch.setattr(monitor.alerts, "judge", slow_judge)
    seen: list[AlertNotice] = []
    monitor.subscribe(lambda event: seen.append(event) if isinstance(event, AlertNotice) else None)
    await monitor.start()
    await wait_until(judging.is_set)
    threading.Timer(0.3, release.set).start()
    await monitor.stop()
    assert [n.notice.org for n in seen] and all(n.claimed for n in seen)
