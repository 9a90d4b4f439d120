"""End to end, against a real Prometheus (Debian's prometheus package: `make e2e-deps`).

The simulator, ``cuadra-top exporter`` (its own process, with a history seeded for the
forecast) and Prometheus (a temporary config scraping every second, the shipped rules with
their ``for:`` shortened) run together; then, through Prometheus' HTTP API: every metric family
is there with the values the API sent, the overage rule fires for the org in overage and only
for it, every PromQL expression of the Grafana dashboard returns data, and ``promtool check
rules`` / ``promtool check metrics`` pass. Every process runs in its own process group and is
killed whatever happens. Without the binaries the tests are skipped (saying how to get them),
unless CUADRA_TOP_E2E=require, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import small_org
from cuadra_top import __version__
from cuadra_top.api.models import parse_usage
from cuadra_top.config import build_credential
from cuadra_top.simulator import Fault, Simulator
from cuadra_top.simulator.orgs import TIB, month_start
from cuadra_top.state.history import History
from cuadra_top.state.identity import series_key
from e2e_support import Group, need
from exporter_support import org_config

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "cuadra.rules.yml"
DASHBOARD = ROOT / "contrib" / "grafana" / "cuadra-top.json"
FAMILIES = (
    "cuadra_up", "cuadra_credits_used", "cuadra_credits_limit", "cuadra_credits_available",
    "cuadra_credits_purchased_balance", "cuadra_credits_total_available", "cuadra_credits_overage",
    "cuadra_credits_in_overage", "cuadra_credits_hard_cap", "cuadra_storage_used_bytes", "cuadra_storage_limit_bytes",
    "cuadra_billing_period_start_timestamp_seconds", "cuadra_billing_period_end_timestamp_seconds", "cuadra_org_info",
    "cuadra_seats", "cuadra_credits_per_seat", "cuadra_credits_burn_rate_per_second",
    "cuadra_credits_exhaustion_timestamp_seconds", "cuadra_last_success_timestamp_seconds",
    "cuadra_fetch_duration_seconds", "cuadra_fetch_errors_total", "cuadra_exporter_build_info",
)
HISTORY = 7200.0
"""Seconds of history seeded before the exporter starts (the forecast needs 10 minutes)."""


def binaries() -> tuple[str, str]:
    return need(("prometheus", "promtool"), "Debian's prometheus package")  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def e2e_orgs():
    return [
        small_org("steady", credit_limit=50_000, credits_used_at_start=10_000),
        small_org("overage", tier="enterprise", plan_name="Enterprise", credit_limit=500_000,
                  credits_used_at_start=520_000, burn_per_hour=2_400.0, storage_limit=1 * TIB, admin=True,
                  seats=40, credits_per_seat=12_500),
        small_org("capped", credit_limit=20_000, credits_used_at_start=19_000, burn_per_hour=450.0, admin=True,
                  purchased_balance=2_500, seats=8, credits_per_seat=2_500, hard_cap=True),
        small_org("unlimited", tier="free", plan_name="Free", credit_limit=None, storage_limit=None),
        small_org("erratic"),
    ]


def wait(condition, what: str, timeout: float = 60.0, every: float = 0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.children: list[Group] = []
        self.sim: Simulator | None = None

    def query(self, promql: str) -> list[dict]:
        response = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": promql}, timeout=10)
        body = response.json()
        assert body["status"] == "success", (promql, body)
        return body["data"]["result"]

    def values(self, promql: str, label: str = "org") -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(promql)}

    def close(self) -> None:
        for child in reversed(self.children):
            child.stop()
        if self.sim is not None:
            self.sim.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    prometheus, _ = binaries()
    now = time.time()
    into_period = now - month_start(now)
    if into_period < HISTORY / 6 + 600:
        pytest.skip("the billing period began minutes ago: too little of it for a seeded history; run it later")
    history_span = min(HISTORY, into_period - 60)
    tmp = tmp_path_factory.mktemp("e2e")
    stack = Stack(tmp)
    try:
        # The simulator: its orgs began history_span ago, and its clock then stops at `now`,
        # so every value the API sends during the test is the one usage_for() tells.
        clock = {"t": now - history_span}
        sim = stack.sim = Simulator(e2e_orgs(), seed=7, clock=lambda: clock["t"]).start()
        clock["t"] = now
        sim.set_fault("erratic", Fault(status=503, times=3))
        stack.sim_time = now

        data = tmp / "data"
        history = History(data / "cuadra-top" / "history.sqlite3")
        records = []
        for org in sim.orgs:
            key = series_key(sim.base_url, build_credential(org_config(sim, org), {}), org)
            for at in range(int(now - history_span), int(now - 60), 600):
                usage = parse_usage(sim.usage_for(org, now=at))
                records.append((key, org, datetime.fromtimestamp(at, timezone.utc), usage))
        history.record_many(records)
        history.close()

        config = tmp / "config.toml"
        config.write_text("refresh_interval = 1\n" + "".join(
            f'[[org]]\nname = "{n}"\napi_url = "{sim.base_url}"\ntoken = "{n}-token"\n' for n in sim.orgs))
        config.chmod(0o600)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "XDG_DATA_HOME": str(data),
               "XDG_CONFIG_HOME": str(tmp / "xdg-config")}
        exporter = Group([sys.executable, "-m", "cuadra_top", "--config", str(config), "exporter",
                          "--listen", "127.0.0.1:0"], tmp / "exporter.log", env=env)
        stack.children.append(exporter)
        line = wait(lambda: re.search(r"org\(s\) on (http://\S+)", exporter.text()), "the exporter", 30)
        stack.metrics_url = line.group(1)
        stack.exporter_target = stack.metrics_url.split("//")[1].split("/")[0]

        rules = yaml.safe_load(RULES.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "1s"
        (tmp / "rules.yml").write_text(yaml.safe_dump(rules))
        (tmp / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(tmp / "rules.yml")],
            "scrape_configs": [{"job_name": "cuadra-top", "static_configs": [{"targets": [stack.exporter_target]}]}],
        }))
        port = free_port()
        stack.prometheus = f"http://127.0.0.1:{port}"
        stack.children.append(Group([prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                                     f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                                    tmp / "prometheus.log"))
        wait(lambda: httpx.get(f"{stack.prometheus}/-/ready", timeout=2).status_code == 200, "Prometheus ready", 60)
        wait(lambda: stack.values("cuadra_up").get("erratic") == 1 and len(stack.values("cuadra_up == 1")) == 5,
             "every org up in Prometheus", 60)
        wait(lambda: stack.values("cuadra_fetch_errors_total").get("erratic") == 3, "the errors counted", 30)
        yield stack
    finally:
        stack.close()
        if sys.exc_info()[0] is not None:
            for child in stack.children:
                print(f"--- {child.log.name}\n{child.text()[-3000:]}", file=sys.stderr)


def iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_every_family_reaches_prometheus_with_the_values_the_api_sent(stack):
    sim = stack.sim
    for family in FAMILIES:
        assert stack.query(family), f"{family} is not in Prometheus"
    bodies = {org: sim.usage_for(org) for org in sim.orgs}

    def expect(family: str, pick) -> None:
        wanted = {org: float(v) for org, body in bodies.items() if (v := pick(body)) is not None}
        assert stack.values(family) == wanted, family

    expect("cuadra_credits_used", lambda b: b["credits"]["used"])
    expect("cuadra_credits_limit", lambda b: b["credits"]["limit"])
    expect("cuadra_credits_available", lambda b: b["credits"]["available"])
    expect("cuadra_credits_purchased_balance", lambda b: b["credits"].get("purchasedBalance"))
    expect("cuadra_credits_total_available", lambda b: b["credits"].get("totalAvailable"))
    expect("cuadra_credits_overage", lambda b: b["credits"]["overageCredits"])
    expect("cuadra_credits_in_overage", lambda b: int(b["credits"]["isInOverage"]))
    expect("cuadra_credits_hard_cap", lambda b: int(b["credits"]["hardCap"]))
    expect("cuadra_storage_used_bytes", lambda b: b["storage"]["used"])
    expect("cuadra_storage_limit_bytes", lambda b: b["storage"]["limit"])
    expect("cuadra_billing_period_start_timestamp_seconds", lambda b: iso(b["credits"]["periodStart"]))
    expect("cuadra_billing_period_end_timestamp_seconds", lambda b: iso(b["credits"]["periodEnd"]))
    expect("cuadra_seats", lambda b: (b.get("seats") or {}).get("count"))
    expect("cuadra_credits_per_seat", lambda b: (b.get("seats") or {}).get("creditsPerSeat"))
    expect("cuadra_up", lambda b: 1)
    info = {(r["metric"]["org"], r["metric"]["tier"], r["metric"]["plan"], r["metric"]["billing_cycle"])
            for r in stack.query("cuadra_org_info")}
    assert info == {(org, b["plan"]["tier"], b["plan"]["name"], b["plan"]["billingCycle"]) for org, b in bodies.items()}
    assert stack.values("cuadra_fetch_errors_total", "kind") == {"server": 3}
    assert stack.values("cuadra_exporter_build_info", "version").keys() == {__version__}
    ages = stack.values("time() - cuadra_last_success_timestamp_seconds")
    assert ages.keys() == set(sim.orgs) and all(0 <= age < 30 for age in ages.values()), ages
    assert all(0 < v < 10 for v in stack.values("cuadra_fetch_duration_seconds").values())
    # The forecast, from the seeded history: a rate where credits burn, the chain of the capped org
    rates = stack.values("cuadra_credits_burn_rate_per_second")
    assert {"steady", "overage", "capped"} <= rates.keys() and all(v > 0 for v in rates.values()), rates
    pools = {(r["metric"]["org"], r["metric"]["pool"]) for r in stack.query("cuadra_credits_exhaustion_timestamp_seconds")}
    assert {("capped", "subscription"), ("capped", "purchased"), ("capped", "hard_cap"), ("steady", "subscription")} <= pools


def test_the_overage_rule_fires_for_the_org_in_overage_only(stack):
    def firing(alert: str) -> set[str]:
        body = httpx.get(f"{stack.prometheus}/api/v1/alerts", timeout=10).json()
        return {a["labels"].get("org", "") for a in body["data"]["alerts"]
                if a["labels"]["alertname"] == alert and a["state"] == "firing"}

    assert wait(lambda: firing("CuadraCreditsInOverage"), "the overage alert", 30) == {"overage"}
    assert wait(lambda: firing("Cuadra402Projected"), "the 402 alert", 30) == {"capped"}
    assert "steady" not in firing("CuadraCreditsCritical")


def test_every_dashboard_expression_returns_data(stack):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    variable = dashboard["templating"]["list"][0]
    assert variable["name"] == "org"
    assert stack.query(variable["query"]["query"].replace("label_values(cuadra_up, org)", "cuadra_up"))
    assert len(exprs) >= 8
    for expr in exprs:
        promql = expr.replace("$org", ".*")
        assert stack.query(promql), f"no data for the dashboard's {expr!r}"


def test_promtool_passes_the_rules_and_the_metrics(stack):
    _, promtool = binaries()
    rules = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    metrics = httpx.get(stack.metrics_url, timeout=10).text
    checked = subprocess.run([promtool, "check", "metrics"], input=metrics, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), \
        checked.stdout + checked.stderr
