"""What a scrape shows of one org: an immutable snapshot taken on the monitor's event loop.

The HTTP threads never touch the monitor's live objects: each change of an org (an answer, an
error) replaces its :class:`OrgView` as a whole, so a scrape reads a consistent set of values
without a lock and without ever waiting on a poll. Strings that become label values pass
through :func:`~cuadra_top.redaction.redact` here, once, not on every scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cuadra_top.api.models import Usage
from cuadra_top.redaction import redact
from cuadra_top.state.forecast import Forecast
from cuadra_top.state.poller import OrgState


@dataclass(frozen=True)
class OrgView:
    name: str
    up: bool
    """The last poll succeeded."""
    usage: Usage | None = None
    """The last good answer (kept through errors), or None before the first one."""
    fetched_at: float | None = None
    """Epoch seconds of the last good answer."""
    fetch_seconds: float | None = None
    """How long the last good answer took."""
    errors: tuple[tuple[str, int], ...] = ()
    """Failed fetches per error kind, since the start."""
    forecast: Forecast | None = None
    plan_labels: tuple[str, str, str] | None = None
    """tier, plan, billing cycle (redacted, for ``cuadra_org_info``)."""


def view_of(state: OrgState, forecast: Forecast | None, previous: OrgView | None = None) -> OrgView:
    """The org as ``state`` tells it. A state with no answer yet (a monitor just started by a
    reload) keeps the ``previous`` view's last values, so a reload leaves no gap in them."""
    fetched = state.fetched
    if fetched is None and previous is not None and previous.usage is not None:
        # nothing known yet: all as before; an error: down, with the last values
        return replace(previous, up=previous.up and state.error is None,
                       errors=tuple(sorted(state.fetch_errors.items())))
    usage = fetched.usage if fetched is not None else None
    labels = None
    if usage is not None:
        plan = usage.plan
        cycle = plan.billing_cycle or usage.credits.billing_period or ""
        labels = (redact(plan.tier), redact(plan.name or plan.tier), redact(cycle))
    return OrgView(
        name=redact(state.name),
        up=fetched is not None and state.error is None,
        usage=usage,
        fetched_at=fetched.fetched_at.timestamp() if fetched is not None else None,
        fetch_seconds=fetched.elapsed if fetched is not None else None,
        errors=tuple(sorted(state.fetch_errors.items())),
        forecast=forecast if usage is not None else None,
        plan_labels=labels,
    )


def waiting(name: str) -> OrgView:
    """An org that has not answered yet (or whose monitor is being replaced)."""
    return OrgView(name=redact(name), up=False)
