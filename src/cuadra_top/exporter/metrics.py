"""The metric families, built afresh on every render of /metrics from the orgs' current views.

No global gauges: a family exists only for as long as one render holds it, so an org that
left the config leaves no stale series behind, and a value the API stopped sending (a limit
that became unlimited) disappears instead of freezing. Base units, ratios left to PromQL (see
contrib/prometheus/cuadra.rules.yml), names after the official naming guide. Every value is
cached: it comes from the org's last poll, never from a call made for the scrape, and reaches
the scrapes in a render made at most ``RENDER_EVERY`` seconds after that poll (``exposition``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from cuadra_top import __version__
from cuadra_top.exporter.exposition import RENDER_EVERY
from cuadra_top.exporter.views import OrgView

RENDERED = f" Served from a render made up to {RENDER_EVERY:g} s after the poll."
CACHED = " Cached: from the org's last successful poll (see cuadra_last_success_timestamp_seconds)." + RENDERED
SECONDS_PER_DAY = 86400.0


def _gauges() -> dict[str, GaugeMetricFamily]:
    def gauge(name: str, help_text: str, cached: bool = True) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, help_text + (CACHED if cached else RENDERED), labels=["org"])

    families = [
        gauge("cuadra_up", "1 when the last poll of the org succeeded, else 0.", cached=False),
        gauge("cuadra_credits_used", "Credits used in the current billing period."),
        gauge("cuadra_credits_limit", "Subscription credits of the billing period; absent when unlimited."),
        gauge("cuadra_credits_available", "Subscription credits left in the billing period."),
        gauge("cuadra_credits_purchased_balance",
              "Purchased credits left (they never expire); only when the API sends it (admin credentials)."),
        gauge("cuadra_credits_total_available",
              "Subscription plus purchased credits left; only when the API sends the purchased balance."),
        gauge("cuadra_credits_overage", "Credits used beyond the subscription and purchased credits."),
        gauge("cuadra_credits_in_overage", "1 when the org is in overage, else 0."),
        gauge("cuadra_credits_hard_cap",
              "1 when the plan has a hard cap (requests get 402 errors instead of overage), else 0."),
        gauge("cuadra_storage_used_bytes", "Storage used, in bytes."),
        gauge("cuadra_storage_limit_bytes", "Storage limit, in bytes; absent when unlimited."),
        gauge("cuadra_billing_period_start_timestamp_seconds", "Start of the current billing period (Unix time)."),
        gauge("cuadra_billing_period_end_timestamp_seconds", "End of the current billing period (Unix time)."),
        gauge("cuadra_seats", "Seats of the organization; only for admin credentials."),
        gauge("cuadra_credits_per_seat", "Credits per seat; only for admin credentials."),
        gauge("cuadra_credits_burn_rate_per_second",
              "Credits used per second, from the local history of the current billing period (a least-squares "
              "rate over the last 24 h); absent without enough history."),
        gauge("cuadra_last_success_timestamp_seconds",
              "When the org last answered (Unix time): how old every cached value of the org is.", cached=False),
        gauge("cuadra_fetch_duration_seconds", "How long the org's last successful poll took, in seconds.",
              cached=False),
    ]
    return {family.name: family for family in families}


def _value(view: OrgView) -> Iterator[tuple[str, float]]:
    """(family, value) of every gauge the org has now (absent values are left out)."""
    yield "cuadra_up", 1.0 if view.up else 0.0
    if view.fetched_at is not None:
        yield "cuadra_last_success_timestamp_seconds", view.fetched_at
    if view.fetch_seconds is not None:
        yield "cuadra_fetch_duration_seconds", view.fetch_seconds
    usage = view.usage
    if usage is None:
        return
    credits, storage = usage.credits, usage.storage
    yield "cuadra_credits_used", credits.used
    if not credits.unlimited:
        yield "cuadra_credits_limit", credits.limit  # type: ignore[misc]
    if credits.available_now is not None:
        yield "cuadra_credits_available", credits.available_now
    if credits.purchased_balance is not None:
        yield "cuadra_credits_purchased_balance", credits.purchased_balance
    if credits.total_available_now is not None:
        yield "cuadra_credits_total_available", credits.total_available_now
    yield "cuadra_credits_overage", credits.overage
    yield "cuadra_credits_in_overage", 1.0 if credits.in_overage else 0.0
    if credits.hard_cap is not None:
        yield "cuadra_credits_hard_cap", 1.0 if credits.hard_cap else 0.0
    yield "cuadra_storage_used_bytes", storage.used
    if not storage.unlimited:
        yield "cuadra_storage_limit_bytes", storage.limit  # type: ignore[misc]
    if credits.period_start is not None:
        yield "cuadra_billing_period_start_timestamp_seconds", credits.period_start.timestamp()
    if credits.period_end is not None:
        yield "cuadra_billing_period_end_timestamp_seconds", credits.period_end.timestamp()
    admin = usage.admin
    if admin is not None and admin.seat_count is not None:
        yield "cuadra_seats", admin.seat_count
    if admin is not None and admin.credits_per_seat is not None:
        yield "cuadra_credits_per_seat", admin.credits_per_seat
    forecast = view.forecast
    if forecast is not None and forecast.burn_rate_per_day is not None:
        yield "cuadra_credits_burn_rate_per_second", forecast.burn_rate_per_day / SECONDS_PER_DAY


def families(views: Sequence[OrgView]) -> Iterator[Metric]:
    """Every family for ``views`` (config order), fresh; families no org has are left out."""
    gauges = _gauges()
    info = InfoMetricFamily("cuadra_org", "The org's plan: tier, plan name and billing cycle, as the API "
                            "names them." + CACHED, labels=["org"])
    exhaustion = GaugeMetricFamily(
        "cuadra_credits_exhaustion_timestamp_seconds",
        "When each pool is projected to run out at the current burn rate (Unix time): subscription and "
        "purchased credits, then the start of overage or, with a hard cap, of 402 errors; absent when none "
        "is projected. Compare with cuadra_billing_period_end_timestamp_seconds." + CACHED,
        labels=["org", "pool"])
    errors = CounterMetricFamily("cuadra_fetch_errors", "Failed polls of the org since the exporter started, "
                                 "by error kind." + RENDERED, labels=["org", "kind"])
    for view in views:
        org = [view.name]
        for name, value in _value(view):
            gauges[name].add_metric(org, value)
        if view.plan_labels is not None:
            tier, plan, cycle = view.plan_labels
            info.add_metric(org, {"tier": tier, "plan": plan, "billing_cycle": cycle})
        if view.forecast is not None:
            for step in view.forecast.transitions:
                exhaustion.add_metric([view.name, step.kind.value], step.at.timestamp())
        for kind, count in view.errors:
            errors.add_metric([view.name, kind], count)
    build = GaugeMetricFamily("cuadra_exporter_build_info", "The exporter's version; always 1.", labels=["version"])
    build.add_metric([__version__], 1.0)
    for family in (*gauges.values(), info, exhaustion, errors, build):
        if family.samples:
            yield family


class CuadraCollector:
    """A prometheus_client collector over whatever ``source`` returns at render time."""

    def __init__(self, source: Callable[[], Sequence[OrgView]]) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return families(self.source())

    def describe(self) -> Iterable[Metric]:
        return ()  # unchecked collector: the families depend on the orgs of the moment
