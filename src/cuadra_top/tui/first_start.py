"""A returning user's first frame: the answers the history kept, before the config is validated.

The config's full loader imports pydantic, and the monitor's screen its models: together a
third of what a bare Textual app takes to start. A returning user need not wait for them to
see where their orgs stood: the config is read here as ``cuadra-top status`` reads it (the
standard library's TOML parser; anything it does not expect, and the full path is taken), the
newest stored answer of each org is read from the history, and only their numbers are shown,
marked as from history with their age. The monitor's screen replaces this one a moment later
(``CuadraTopApp``'s first start), once the config has passed the full loader.

Nothing the API sent is shown here but numbers: a text (a plan's name) could carry a secret
that only the full loader knows to mask.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from cuadra_top import format as fmt


@dataclass
class Glance:
    """What the first frame shows: the configured orgs and the answers the history kept."""

    names: list[str]
    """The configured orgs, in the config's order."""
    stored: dict[str, tuple[datetime, dict[str, Any]]]
    """Each org's newest stored answer (when, and the usage as JSON), where there is one."""
    start_org: str | None = None
    theme: str | None = None
    live: set[str] = field(default_factory=set)
    """The orgs whose ``stored`` answer is now their first live one."""
    """The config's theme, as the quick reading found it."""


def glance(cli_path: str | None, start_org: str | None, environ: Mapping[str, str]) -> Glance | None:
    """The orgs and their stored answers, read quickly; None when the first frame cannot be
    drawn this way (a config the quick reader does not take, no history, nothing stored):
    the app then starts as it always has."""
    from cuadra_top.state.history import History, default_history_path
    from cuadra_top.state.identity import site
    from cuadra_top.quick_config import NeedsFullConfig, read_config

    try:
        config = read_config(cli_path, environ)
    except NeedsFullConfig:
        return None
    names = [org.name for org in config.orgs]
    if not config.history or not names or (start_org is not None and start_org not in names):
        return None
    path = default_history_path()
    if not path.is_file():
        return None
    wanted = [(org.name, site(org.api_url)) for org in config.orgs if start_org in (None, org.name)]
    peek = History(path, read_only=True)
    try:
        stored = peek.latest(wanted)
    except Exception:  # noqa: BLE001 - a damaged file: the full start says what is wrong with it
        return None
    finally:
        peek.close()
    if not stored:
        return None
    return Glance(names, stored, start_org, config.theme)


def count(body: Mapping[str, Any], part: str, key: str) -> int | None:
    """A non-negative whole number at ``body[part][key]``, or None: the stored JSON is read
    without the models, so anything else is not shown."""
    section = body.get(part)
    value = section.get(key) if isinstance(section, Mapping) else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def quota(body: Mapping[str, Any], part: str, shown) -> tuple[str, str, str]:
    """``used``, ``limit`` and the share used, as the panes word them (a limit of 0 or null:
    unlimited; one that cannot be read: '—')."""
    used, limit = count(body, part, "used"), count(body, part, "limit")
    section = body.get(part)
    sent = section.get("limit") if isinstance(section, Mapping) else None
    if limit == 0 or (sent is None and isinstance(section, Mapping)):  # 0 or null: the API's unlimited
        return shown(used), fmt.UNLIMITED, ""
    if used is None or limit is None:
        return shown(used), shown(limit), ""
    try:
        share = used / limit
    except OverflowError:  # a count past a float's range: as the panes, far over
        share = math.inf
    return shown(used), shown(limit), fmt.percent(share)


def org_lines(glance: Glance, name: str, now: datetime) -> Text:
    """One org's numbers (stored, or live once its first answer came), a line each, as its
    panes word them."""
    text = Text(no_wrap=True, overflow="ellipsis")
    at, body = glance.stored[name]
    for label, part, shown in (("Credits", "credits", fmt.thousands), ("Storage", "storage", fmt.iec_bytes)):
        used, limit, share = quota(body, part, shown)
        text.append(f"{label:<9}", style="bold")
        text.append(f"used {used}   limit {limit}" + (f"   {share}" if share else "") + "\n")
    source = "live" if name in glance.live else "from history"
    text.append(f"{source} · {fmt.age((now - at).total_seconds())}", style="italic")
    return text


def org_row(glance: Glance, name: str, width: int, now: datetime) -> Text:
    """One line of many orgs: the name, then its credits and their age, stored (the header
    says so) or live."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{fmt.printable(name)[:width]:<{width}}  ", style="bold")
    if name not in glance.stored:
        text.append("no stored answer yet", style="dim")
        return text
    at, body = glance.stored[name]
    used, limit, share = quota(body, "credits", fmt.thousands)
    text.append(f"credits {used} / {limit}" + (f"  {share}" if share else ""))
    live = " · live" if name in glance.live else ""
    text.append(f"  {fmt.age((now - at).total_seconds())}{live}", style="italic")
    return text


ROWS_SHOWN = 100
"""Orgs listed at most: more than a terminal holds; the monitor's overview follows at once."""


class GlanceScreen(Screen):
    """The first frame: the stored numbers, until the monitor's screen replaces it."""

    DEFAULT_CSS = """
    GlanceScreen #glance { padding: 1 2; height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
    GlanceScreen #starting { padding: 0 2; color: $text-muted; }
    """

    def __init__(self, glance: Glance, now: datetime) -> None:
        super().__init__()
        self.glance = glance
        self.now = now

    @property
    def shown(self) -> list[str]:
        glance = self.glance
        return [glance.start_org] if glance.start_org is not None else glance.names[:ROWS_SHOWN]

    def compose(self) -> ComposeResult:
        header, body = self._texts()
        yield Static(header, id="header")
        yield Static(body, id="glance")
        yield Static("starting…", id="starting")

    def _texts(self) -> tuple[Text, Text]:
        glance, shown = self.glance, self.shown
        if len(shown) == 1:
            title, body = fmt.printable(shown[0]), org_lines(glance, shown[0], self.now)
        else:
            title = f"{len(glance.names) if glance.start_org is None else 1} organizations"
            width = min(max(len(fmt.printable(name)) for name in shown), 32)
            body = Text("\n", no_wrap=True).join(org_row(glance, name, width, self.now) for name in shown)
        live = all(name in glance.live for name in shown)
        source = "live" if live else "from history" if not glance.live else "from history, updating"
        return Text.assemble(("cuadra-top", "bold"), f" · {title} · ", (source, "italic")), body

    def show_live(self, name: str, at: datetime, body: dict[str, Any]) -> None:
        """An org's first live answer (the monitor validated it), shown here until the
        monitor's screen takes over: its numbers need not wait for that screen's widgets."""
        self.glance.stored[name] = (at, body)
        self.glance.live.add(name)
        self.now = at
        header, text = self._texts()
        self.query_one("#header", Static).update(header)
        self.query_one("#glance", Static).update(text)
