"""The header line and the status line of one organization, as text from its state."""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len, set_cell_size
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


NAME_KEPT = 12
"""A long org name is cut to make room for the rest of the header, down to this many cells;
below that the plan, the age and the interval give way first. The marker always stays."""


def ellipsize(text: str, cells: int) -> str:
    """``text`` cut to ``cells`` terminal cells, with … when cut (wide characters count two)."""
    if cell_len(text) <= cells:
        return text
    if cells <= 1:
        return "…"[:max(cells, 0)]
    return set_cell_size(text, cells - 1).rstrip() + "…"


def header_text(state: OrgState, now: datetime, interval: float, position: tuple[int, int],
                width: int | None = None) -> Text:
    """``[2/4] nimbus-pro · Pro (pro) · 12 s ago · every 30s · STALE``; within ``width`` cells
    the name is ellipsized and the details give way, never the STALE/ERROR marker."""
    index, total = position
    prefix = f"[{index}/{total}] " if total > 1 else ""
    details: list[tuple[str, str]] = []
    if state.fetched is not None:
        details.append((f" · {state.fetched.usage.plan.label}", ""))
        details.append((f" · {fmt.age(state.age(now))}", ""))
    elif state.cached is not None:  # an earlier run's answer, until the first live one: never as live
        details.append((f" · {state.cached.usage.plan.label}", ""))
        details.append((f" · from history · {fmt.age((now - state.cached.fetched_at).total_seconds())}", "italic"))
    details.append((f" · every {fmt.interval(interval)}", "dim"))
    status = state.status(now, interval)
    marker = MARKERS.get(status)
    if marker and status is Status.STALE:
        marker = f"STALE {fmt.duration(state.age(now), precision=2)}"
    tail = f"  {marker} " if marker else ""
    name = fmt.printable(state.name)  # measured as it will be shown
    if width is not None:
        budget = max(width - 2, 1)  # the header's padding

        def room() -> int:
            return budget - cell_len(prefix) - sum(cell_len(d) for d, _ in details) - cell_len(tail)

        while room() < min(cell_len(name), NAME_KEPT) and details:
            details.pop(0)  # the plan first, then the age, then the interval
        name = ellipsize(name, max(room(), 1))
    text = Text(no_wrap=True, overflow="ellipsis")
    if prefix:
        text.append(prefix, style="dim")
    text.append(name, style="bold")
    for detail, style in details:
        text.append(detail, style=style)
    if marker:
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
        # The action first: at 80 columns the end of a long API message is cut off.
        if error.kind == "config":
            return f"polling stopped: fix the config, then r · {error.message}"
        return f"polling stopped: r retries · {error.message}"
    retry = state.retry_in(now)
    suffix = f" · retry in {fmt.wait(retry)}" if retry is not None else ""
    kept = " · last data kept" if state.fetched is not None else ""
    return f"{error.message}{suffix}{kept}"
