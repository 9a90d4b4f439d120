"""The exporter's /metrics, checked value by value against the JSON the simulator sent, parsed
with prometheus_client's own parser: unlimited, overage, admin fields, a failing org (up 0, its
last values kept), an org removed from the config (its series gone), hostile names and
answers, OpenMetrics negotiation, and a scrape that never waits on a poll."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from conftest import small_org
from cuadra_top import __version__
from cuadra_top.simulator import Fault
from exporter_support import loaded_for, orgs_in, parse, samples_of, samples_once, scrape, service_for, value


def exporter_orgs():
    return [
        small_org("plain"),
        small_org("unlimited", credit_limit=None, storage_limit=None),
        small_org("over", credit_limit=1_000, credits_used_at_start=1_500),
        small_org("admin", admin=True, purchased_balance=2_500, seats=8, credits_per_seat=2_500, hard_cap=True),
        small_org("failing"),
    ]


@pytest.fixture
def xsim(start_sim, clock):
    return start_sim(exporter_orgs(), clock=clock)


def iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def started(service):
    await service.start()
    assert await service.exporter.monitor.wait_answered(10)
    return service


async def test_every_value_is_the_one_the_api_sent(xsim):
    service = await started(service_for(xsim, ["plain", "unlimited", "over", "admin"]))
    try:
        samples = await samples_of(service)
    finally:
        await service.stop()
    for org in ("plain", "unlimited", "over", "admin"):
        body = xsim.usage_for(org)
        credits, storage = body["credits"], body["storage"]
        assert value(samples, "cuadra_up", org=org) == 1
        assert value(samples, "cuadra_credits_used", org=org) == credits["used"]
        assert value(samples, "cuadra_credits_limit", org=org) == credits["limit"]  # None: absent
        assert value(samples, "cuadra_credits_available", org=org) == credits["available"]
        assert value(samples, "cuadra_credits_overage", org=org) == credits["overageCredits"]
        assert value(samples, "cuadra_credits_in_overage", org=org) == float(credits["isInOverage"])
        assert value(samples, "cuadra_credits_hard_cap", org=org) == float(credits["hardCap"])
        assert value(samples, "cuadra_credits_purchased_balance", org=org) == credits.get("purchasedBalance")
        assert value(samples, "cuadra_credits_total_available", org=org) == credits.get("totalAvailable")
        assert value(samples, "cuadra_storage_used_bytes", org=org) == storage["used"]
        assert value(samples, "cuadra_storage_limit_bytes", org=org) == storage["limit"]
        assert value(samples, "cuadra_billing_period_start_timestamp_seconds", org=org) == iso(credits["periodStart"])
        assert value(samples, "cuadra_billing_period_end_timestamp_seconds", org=org) == iso(credits["periodEnd"])
        plan = body["plan"]
        assert value(samples, "cuadra_org_info", org=org, tier=plan["tier"], plan=plan["name"],
                     billing_cycle=plan["billingCycle"]) == 1
        seats = body.get("seats") or {}
        assert value(samples, "cuadra_seats", org=org) == seats.get("count")
        assert value(samples, "cuadra_credits_per_seat", org=org) == seats.get("creditsPerSeat")
        assert value(samples, "cuadra_last_success_timestamp_seconds", org=org) == pytest.approx(time.time(), abs=30)
        assert 0 < value(samples, "cuadra_fetch_duration_seconds", org=org) < 10
    assert value(samples, "cuadra_credits_limit", org="unlimited") is None
    assert value(samples, "cuadra_storage_limit_bytes", org="unlimited") is None
    assert value(samples, "cuadra_credits_in_overage", org="over") == 1
    assert value(samples, "cuadra_credits_purchased_balance", org="admin") == 2_500
    assert value(samples, "cuadra_seats", org="admin") == 8
    assert value(samples, "cuadra_exporter_build_info", version=__version__) == 1
    assert not any(name.startswith("cuadra_fetch_errors") for name, _ in samples)  # no error yet


async def test_a_failing_org_is_down_with_its_last_values_and_their_time(xsim):
    service = await started(service_for(xsim, ["plain", "failing"], render_every=0.2))
    try:
        before = await samples_of(service)
        xsim.set_fault("failing", Fault(status=503))
        monitor = service.exporter.monitor
        monitor.refresh(["failing"])
        await until(lambda: monitor.state_of("failing").error is not None)
        after = await samples_once(service, lambda s: value(s, "cuadra_up", org="failing") == 0)
        monitor.refresh(["failing"])  # a second failure of the same kind: the counter counts
        await until(lambda: monitor.state_of("failing").failures == 2)
        again = await samples_once(service, lambda s: value(s, "cuadra_fetch_errors_total", org="failing",
                                                             kind="server") == 2)
    finally:
        await service.stop()
    assert value(after, "cuadra_up", org="failing") == 0
    assert value(after, "cuadra_up", org="plain") == 1
    for name in ("cuadra_credits_used", "cuadra_credits_limit", "cuadra_storage_used_bytes",
                 "cuadra_last_success_timestamp_seconds", "cuadra_billing_period_end_timestamp_seconds"):
        assert value(after, name, org="failing") == value(before, name, org="failing") is not None, name
    assert value(after, "cuadra_fetch_errors_total", org="failing", kind="server") == 1
    assert value(again, "cuadra_fetch_errors_total", org="failing", kind="server") == 2
    assert value(again, "cuadra_fetch_errors_total", org="plain", kind="server") is None


async def test_an_org_removed_from_the_config_leaves_no_series(xsim):
    names = ["plain", "over", "admin"]
    service = await started(service_for(xsim, names, reload=lambda: loaded_for(xsim, ["plain", "admin"])))
    try:
        before = await samples_of(service)
        xsim.set_fault("admin", Fault(latency=0.5))  # its first answer after the reload comes later
        assert await service.reload()
        right_after = await samples_of(service)  # before the new monitor's first answers
        assert await service.exporter.monitor.wait_answered(10)
        settled = await samples_of(service)
    finally:
        await service.stop()
    assert orgs_in(before) == set(names)
    assert orgs_in(right_after) == orgs_in(settled) == {"plain", "admin"}
    # the orgs that stay keep their values through the reload, up included: no gap in their series
    for name in ("cuadra_credits_used", "cuadra_up", "cuadra_last_success_timestamp_seconds"):
        assert value(right_after, name, org="admin") == value(before, name, org="admin") is not None, name
    assert value(settled, "cuadra_up", org="plain") == 1


async def test_a_config_that_breaks_on_reload_keeps_the_orgs_it_had(xsim, capsys):
    from cuadra_top.config import ConfigError

    def broken():
        raise ConfigError("config.toml: [[org]] #1 key tokn: unknown key")

    service = await started(service_for(xsim, ["plain"], reload=broken))
    try:
        assert not await service.reload()
        samples = await samples_of(service)
    finally:
        await service.stop()
    assert value(samples, "cuadra_up", org="plain") == 1
    assert "config not reloaded: config.toml: [[org]] #1 key tokn: unknown key" in capsys.readouterr().err


async def test_openmetrics_when_the_scraper_asks_for_it(xsim):
    service = await started(service_for(xsim, ["plain"]))
    try:
        om = await scrape(service, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        text = await scrape(service)
    finally:
        await service.stop()
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(om.text)}
    assert families["cuadra_org"].type == "info"
    assert families["cuadra_credits_used"].samples[0].value == xsim.usage_for("plain")["credits"]["used"]
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")


async def test_the_forecast_is_exported_per_pool(start_sim, clock):
    """Burn rate and the chain's projected times, once the history has two samples 10 min apart."""
    from cuadra_top.state.trends import Trends

    from cuadra_top.listen import Listen
    from cuadra_top.exporter.run import ExporterOptions, ExporterService
    from cuadra_top.state.monitor import Monitor

    sim = start_sim([small_org("capped", credit_limit=10_000, credits_used_at_start=9_000, admin=True,
                               purchased_balance=500, hard_cap=True, burn_per_hour=600.0)], clock=clock)
    wall = {"now": datetime.fromtimestamp(clock(), tz=timezone.utc)}
    trends = Trends(None, lambda: wall["now"])
    options = ExporterOptions(loaded_for(sim, ["capped"]), Listen("127.0.0.1", 0),
                              lambda loaded: Monitor(loaded.settings, None, trends, lambda: wall["now"],
                                                     interval=3600, judge_alerts=False))
    service = await started(ExporterService(options))
    try:
        monitor = service.exporter.monitor
        for _ in range(3):
            clock.advance(600)
            wall["now"] = datetime.fromtimestamp(clock(), tz=timezone.utc)
            before = monitor.state_of("capped").requests
            monitor.refresh(["capped"])
            await until(lambda: monitor.state_of("capped").requests > before and
                        not monitor.state_of("capped").in_flight)
        samples = await samples_of(service)
        forecast = monitor.forecast_for("capped")
    finally:
        await service.stop()
    assert forecast is not None and forecast.burn_rate_per_day
    assert value(samples, "cuadra_credits_burn_rate_per_second", org="capped") == pytest.approx(
        forecast.burn_rate_per_day / 86400)
    pools = {dict(labels)["pool"]: v for (name, labels), v in samples.items()
             if name == "cuadra_credits_exhaustion_timestamp_seconds"}
    assert pools == {step.kind.value: step.at.timestamp() for step in forecast.transitions}
    assert {"subscription", "purchased", "hard_cap"} <= set(pools)


async def test_org_names_are_escaped_and_secrets_never_exported(start_sim, clock, monkeypatch):
    """A name with quotes, a backslash and a newline round-trips through the parser; a token
    the API echoes (here in the plan name) is masked in labels, and appears nowhere."""
    weird = 'we"ird\\org\nname'
    sim = start_sim([small_org(weird, token="weird-token"), small_org("echo")], clock=clock)
    body = sim.usage_for("echo")
    body["plan"]["name"] = "plan echo-token"
    sim.set_fault("echo", Fault(document=body))
    from pydantic import SecretStr

    from cuadra_top.config import LoadedConfig, OrgConfig, Settings
    from cuadra_top.listen import Listen
    from cuadra_top.exporter.run import ExporterOptions, ExporterService
    from exporter_support import monitors

    orgs = [OrgConfig(name=weird, api_url=sim.base_url, token=SecretStr("weird-token")),
            OrgConfig(name="echo", api_url=sim.base_url, token=SecretStr("echo-token"))]
    service = await started(ExporterService(ExporterOptions(LoadedConfig(Settings(org=orgs), None, "demo"),
                                                            Listen("127.0.0.1", 0), monitors())))
    try:
        response = await scrape(service)
        async with httpx.AsyncClient() as client:
            landing = await client.get(f"http://127.0.0.1:{service.port}/")
    finally:
        await service.stop()
    samples = parse(response.text)
    assert value(samples, "cuadra_up", org=weird) == 1
    assert value(samples, "cuadra_credits_used", org=weird) == sim.usage_for(weird)["credits"]["used"]
    assert value(samples, "cuadra_org_info", org="echo", tier="pro", plan="plan ********", billing_cycle="monthly") == 1
    for text in (response.text, landing.text):
        assert "echo-token" not in text and "weird-token" not in text
    assert landing.status_code == 200 and 'href="metrics"' in landing.text


async def test_a_hanging_org_never_delays_a_scrape(xsim):
    xsim.set_fault("failing", Fault(hang=True))
    service = service_for(xsim, ["plain", "failing"])
    await service.start()
    try:
        monitor = service.exporter.monitor
        await until(lambda: monitor.state_of("plain").fetched is not None)
        assert monitor.state_of("failing").in_flight
        started_at = time.perf_counter()
        samples = await samples_of(service)
        took = time.perf_counter() - started_at
    finally:
        xsim.set_fault("failing", None)
        await service.stop()
    assert took < 1.0
    assert value(samples, "cuadra_up", org="plain") == 1
    assert value(samples, "cuadra_up", org="failing") == 0


async def test_unknown_paths_are_404_and_the_landing_page_links_metrics(xsim):
    service = await started(service_for(xsim, ["plain"]))
    try:
        async with httpx.AsyncClient() as client:
            missing = await client.get(f"http://127.0.0.1:{service.port}/nope")
            landing = await client.get(f"http://127.0.0.1:{service.port}/")
    finally:
        await service.stop()
    assert missing.status_code == 404
    assert landing.headers["content-type"].startswith("text/html")


def test_fetch_errors_are_counted_per_kind_in_the_state(start_sim, clock):
    """The state layer's counter behind cuadra_fetch_errors_total: one key per error kind, never
    reset by a success (a counter), as many keys as kinds at most."""
    from cuadra_top.state.poller import OrgPoller

    async def go():
        sim = start_sim([small_org("x")], clock=clock)
        from cuadra_top.state.fleet import Fleet
        from exporter_support import org_config

        async with Fleet([org_config(sim, "x")], {}) as fleet:
            poller = OrgPoller("x", fleet.fetch, 3600)
            for fault in (Fault(status=500), Fault(status=503), Fault(status=429, retry_after=1), None,
                          Fault(body="malformed")):
                sim.set_fault("x", fault)
                await poller._poll()
            return poller.state

    state = asyncio.run(go())
    assert state.fetch_errors == {"server": 2, "rate_limited": 1, "protocol": 1}
    assert state.failures == 1  # the success in between reset the backoff, not the counter


async def test_a_monitor_that_does_not_judge_alerts_claims_none(start_sim, clock):
    """The exporter's monitor: no AlertNotice, so no crossing is claimed in the shared history
    (a `watch` still delivers it). The same monitor judging sees the crossing."""
    from cuadra_top.state.monitor import AlertNotice, Monitor

    sim = start_sim([small_org("hot", credit_limit=1_000, credits_used_at_start=990)], clock=clock)
    loaded = loaded_for(sim, ["hot"])
    seen: dict[bool, list] = {True: [], False: []}
    for judging in (False, True):
        monitor = Monitor(loaded.settings, None, None, interval=3600, judge_alerts=judging)
        monitor.subscribe(lambda event, judging=judging: seen[judging].append(event)
                          if isinstance(event, AlertNotice) else None)
        await monitor.start()
        assert await monitor.wait_answered(10)
        await asyncio.sleep(0.2)
        await monitor.stop()
    assert seen[False] == []
    assert seen[True], "the judging monitor should have raised the crossing"
