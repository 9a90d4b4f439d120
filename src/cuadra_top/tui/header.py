"""The header line and the status line of one organization, as text from its state."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from cuadra_top import format as fmt
from cuadra_top.state.poller import OrgState, Status

MARKERS = {
    Status.PAUSED: "PAUSED",
    Status.STALE: "STALE",
    Status.ERROR: "ERROR",
    Status.STOPPED: "STOPPED",
    Status.LOADING: "loading…",
}


def header_text(state: OrgState, now: datetime, interval: float, position: tuple[int, int]) -> Text:
    """``[2/4] nimbus-pro · Pro (pro) · 12 s ago · every 30s · STALE``."""
    index, total = position
    text = Text(no_wrap=True, overflow="ellipsis")
    if total > 1:
        text.append(f"[{index}/{total}] ", style="dim")
    text.append(state.name, style="bold")
    if state.fetched is not None:
        text.append(f" · {state.fetched.usage.plan.label}")
        text.append(f" · {fmt.age(state.age(now))}")
    text.append(f" · every {fmt.interval(interval)}", style="dim")
    status = state.status(now, interval)
    marker = MARKERS.get(status)
    if marker:
        if status is Status.STALE:
            marker = f"STALE {fmt.duration(state.age(now), precision=2)}"
        text.append(" ")
        text.append(f" {marker} ", style="reverse bold")
    return text


def status_text(state: OrgState, now: datetime) -> str:
    """The one-line cause of trouble, or '' when all is well."""
    if state.paused:
        return "paused: p resumes"
    error = state.error
    if error is None:
        return ""
    if state.stopped:
        return f"{error.message} · polling stopped: r retries"
    retry = state.retry_in(now)
    suffix = f" · retry in {fmt.wait(retry)}" if retry is not None else ""
    kept = " · last data kept" if state.fetched is not None else ""
    return f"{error.message}{suffix}{kept}"
