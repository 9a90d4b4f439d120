"""The panes of one organization: credits, storage, plan and period, admin, raw JSON.

Each pane renders a ``Usage`` it is given and nothing else; none of them fetches or polls.
Text is updated only when it changed, so an idle screen sends nothing to the terminal.
"""

from __future__ import annotations

import json
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from cuadra_top import format as fmt
from cuadra_top.api.models import Usage, ratio
from cuadra_top.redaction import redact
from cuadra_top.state.forecast import Forecast
from cuadra_top.thresholds import NEVER, Thresholds
from cuadra_top.tui.gauge import Gauge


class Line(Static):
    """A Static that skips the redraw when its text did not change. What it shows has no
    control characters, whatever it quotes (an org name, an error naming a URL)."""

    DEFAULT_CSS = "Line { height: auto; width: 1fr; }"

    _shown: str | Text | None = None

    def show(self, content: str | Text) -> None:
        if content != self._shown:
            self._shown = content
            self.update(_printable(content))


def _printable(content: str | Text) -> str | Text:
    """:func:`fmt.printable`, for a Text too: each character is replaced by one, so its
    styles stay where they were."""
    if isinstance(content, str):
        return fmt.printable(content)
    plain = fmt.printable(content.plain)
    if plain != content.plain:
        content = content.copy()
        content.plain = plain
    return content


Item = tuple[str, str]


def layout_pairs(items: list[Item], width: int, sep: str = "  ") -> list[Text]:
    """Lay ``label value`` pairs out in as few lines as ``width`` allows, never splitting a pair."""
    lines: list[Text] = []
    line = Text(no_wrap=True, overflow="ellipsis")
    for label, value in items:
        cell_len = len(label) + 1 + len(value)
        if line.cell_len and line.cell_len + len(sep) + cell_len > width:
            lines.append(line)
            line = Text(no_wrap=True, overflow="ellipsis")
        if line.cell_len:
            line.append(sep)
        line.append(f"{label} ", style="dim")
        line.append(value, style="bold")
    if line.cell_len or not lines:
        lines.append(line)
    return lines


class Pairs(Widget):
    """Label/value pairs that wrap between pairs (never inside one) to fit the pane width."""

    DEFAULT_CSS = "Pairs { height: auto; width: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._items: list[Item] = []

    def show(self, *items: Item) -> None:
        if list(items) == self._items:
            return
        width = max(self.size.width, 1)
        relayout = len(layout_pairs(list(items), width)) != len(layout_pairs(self._items, width))
        self._items = list(items)
        self.refresh(layout=relayout)  # a new number is a repaint; only a new height is a relayout

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(layout_pairs(self._items, max(width, 1)))

    def render(self) -> Text:
        return Text("\n").join(layout_pairs(self._items, max(self.size.width, 1)))


class Pane(Vertical):
    """A bordered box with a title; subclasses fill it from a Usage."""

    DEFAULT_CSS = """
    Pane { height: auto; border: round $primary 60%; padding: 0 1; }
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = title


class CreditsPane(Pane):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Credits", id=id)

    def compose(self) -> ComposeResult:
        yield Gauge(id="credits-gauge")
        yield Pairs(id="credits-numbers")
        yield Pairs(id="credits-balance")
        yield Line(id="credits-overage")
        with Horizontal(id="credits-trend"):
            yield Static("used this period ", id="trend-label")
            yield Sparkline([], id="credits-sparkline")
        yield Line(id="credits-forecast")

    def show_trend(self, series: list[float], forecast: Forecast | None, now: datetime) -> None:
        """The sparkline of credits used over the period, and when they run out at this rate."""
        sparkline = self.query_one("#credits-sparkline", Sparkline)
        if list(sparkline.data or []) != series:
            sparkline.data = series
        self.query_one("#credits-trend").display = len(series) >= 2
        text = forecast.chain(now) if forecast else "no forecast yet: waiting for samples"
        line = self.query_one("#credits-forecast", Line)
        line.set_class(bool(forecast and forecast.first_that_matters(now)), "-alert")
        line.show(text)

    def show(self, usage: Usage, thresholds: Thresholds) -> None:
        credits = usage.credits
        self.query_one("#credits-gauge", Gauge).set(credits.fraction, thresholds=thresholds)
        limit = fmt.UNLIMITED if credits.unlimited else fmt.thousands(credits.limit)
        available = fmt.UNLIMITED if credits.unlimited else fmt.thousands(credits.available_now)
        self.query_one("#credits-numbers", Pairs).show(
            ("used", fmt.thousands(credits.used)), ("limit", limit), ("available", available)
        )
        balance = self.query_one("#credits-balance", Pairs)
        if credits.purchased_balance is not None or credits.total_available is not None:
            balance.display = True
            balance.show(("purchased", fmt.thousands(credits.purchased_balance)),
                         ("total available", fmt.thousands(credits.total_available_now)))
        else:
            balance.display = False
        overage = self.query_one("#credits-overage", Line)
        notes = []
        if credits.in_overage:
            notes.append(f"IN OVERAGE: {fmt.thousands(credits.overage)} credits over the limit")
        if credits.hard_cap:
            notes.append("hard cap: 402 errors once the limit and the purchased balance are spent")
        overage.display = bool(notes)
        overage.set_class(credits.in_overage, "-alert")
        overage.show("; ".join(notes))


class StoragePane(Pane):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Storage", id=id)

    def compose(self) -> ComposeResult:
        yield Gauge(id="storage-gauge")
        yield Pairs(id="storage-numbers")
        yield Pairs(id="storage-growth")

    def show_trend(self, forecast: Forecast | None, now: datetime) -> None:
        growth = self.query_one("#storage-growth", Pairs)
        rate = forecast.storage_growth_per_day if forecast else None
        growth.display = rate is not None
        if rate is None:
            return
        items = [("grows", f"{fmt.iec_bytes(rate)}/day")]
        if forecast and forecast.storage_full_at:
            items.append(("full in", fmt.duration((forecast.storage_full_at - now).total_seconds(), precision=2)))
        growth.show(*items)

    def show(self, usage: Usage, thresholds: Thresholds) -> None:
        storage = usage.storage
        self.query_one("#storage-gauge", Gauge).set(storage.fraction, thresholds=thresholds)
        limit = fmt.UNLIMITED if storage.unlimited else fmt.iec_bytes(storage.limit)
        free = "" if storage.unlimited else fmt.iec_bytes(max((storage.limit or 0) - storage.used, 0))
        items = [("used", fmt.iec_bytes(storage.used)), ("limit", limit)]
        if free:
            items.append(("free", free))
        self.query_one("#storage-numbers", Pairs).show(*items)


class PlanPane(Pane):
    """Plan and billing period; the countdown changes on the minute, never every second."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Plan & billing period", id=id)

    def compose(self) -> ComposeResult:
        yield Pairs(id="plan-line")
        yield Pairs(id="period-line")
        yield Gauge(words=False, thresholds=NEVER, suffix="passed", id="period-gauge")

    def show(self, usage: Usage, now: datetime) -> None:
        plan, credits = usage.plan, usage.credits
        self.query_one("#plan-line", Pairs).show(
            ("tier", plan.tier), ("plan", plan.name or plan.tier), ("billing", plan.billing_cycle or "—"),
            ("period", credits.billing_period or "—"),
        )
        self.query_one("#period-line", Pairs).show(
            ("from", fmt.short_date(credits.period_start)), ("to", fmt.short_date(credits.period_end))
        )
        gauge = self.query_one("#period-gauge", Gauge)
        end = credits.period_end
        if end is not None and end <= now:  # the API has not rolled the period over yet
            when = f"ended {fmt.duration((now - end).total_seconds(), precision=2)} ago"
            when = "ended" if when == "ended <1m ago" else when
        else:
            when = f"resets in {fmt.time_left(end, now)}"
        gauge.set(fmt.period_fraction(credits.period_start, end, now), suffix=f"passed · {when}")


class AdminPane(Pane):
    """Seats and purchased balance: only an admin credential's response carries them."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Admin: seats and balance", id=id)

    def compose(self) -> ComposeResult:
        yield Pairs(id="admin-seats")
        yield Pairs(id="admin-balance")
        yield Line(id="admin-implied")
        yield Gauge(words=False, thresholds=NEVER, suffix="of the plan limit", id="admin-gauge")

    def show(self, usage: Usage) -> None:
        admin = usage.admin
        if admin is None:
            return
        self.query_one("#admin-seats", Pairs).show(
            ("seats", fmt.thousands(admin.seat_count)), ("credits per seat", fmt.thousands(admin.credits_per_seat))
        )
        self.query_one("#admin-balance", Pairs).show(
            ("purchased balance", fmt.thousands(admin.purchased_balance)),
            ("total available", fmt.thousands(usage.credits.total_available_now)),
        )
        seat_credits = admin.seat_credits
        limit = None if usage.credits.unlimited else usage.credits.limit
        if seat_credits is None:
            implied = "seats x credits per seat: not sent"
            share = None
        elif limit is None:
            implied = f"seats x credits per seat = {fmt.thousands(seat_credits)} (plan limit: unlimited)"
            share = None
        else:
            share = ratio(seat_credits, limit)
            relation = "matches" if seat_credits == limit else ("exceeds" if seat_credits > limit else "is below")
            implied = (f"seats x credits per seat = {fmt.thousands(seat_credits)}, "
                       f"{relation} the plan limit of {fmt.thousands(limit)}")
        self.query_one("#admin-implied", Line).show(implied)
        gauge = self.query_one("#admin-gauge", Gauge)
        gauge.display = share is not None
        gauge.set(share)


class RawView(VerticalScroll):
    """The last response exactly as the API sent it, unknown fields included."""

    DEFAULT_CSS = "RawView { height: 1fr; } RawView > Static { width: auto; }"

    def compose(self) -> ComposeResult:
        yield Line(id="raw-unknown")
        yield Static(id="raw-json")

    _raw: dict | None = None

    def show(self, raw: dict, usage: Usage) -> None:
        if raw is self._raw:
            return
        self._raw = raw
        unknown = usage.unknown_fields
        note = ("fields cuadra-top does not know: " + ", ".join(unknown)) if unknown else "all fields known"
        for rounded in usage.notes:  # "credits.used 500.5 rounded to 501"
            note += f"\n{rounded}"
        self.query_one("#raw-unknown", Line).show(Text(redact(fmt.printable(note, keep_newlines=True)),
                                                       style="dim italic"))
        text = json.dumps(raw, indent=2, ensure_ascii=False)  # escapes C0 controls, not C1 ones
        # As sent, but for any secret in it: an API may echo the token in any field.
        self.query_one("#raw-json", Static).update(Text(redact(fmt.printable(text, keep_newlines=True))))
