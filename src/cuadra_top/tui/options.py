"""What one run of the TUI is given; importing this does not import Textual."""

from __future__ import annotations

import os
import random
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cuadra_top.clock import utc_now
from cuadra_top.config import Settings
from cuadra_top.state.monitor import FleetSource, OrgReloader
from cuadra_top.state.trends import Trends


@dataclass
class TuiOptions:
    """What the command line (or a test) decides about one run of the TUI."""

    settings: Settings
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    config_path: Path | None = None
    """The config file, to write the chosen theme back to (None: nothing is written)."""
    start_org: str | None = None
    interval: float | None = None
    theme: str | None = None
    persist_theme: bool = True
    now: Callable[[], datetime] = utc_now
    rng: random.Random | None = None
    trends: Trends | None = None
    fleet: FleetSource = None
    tls: Future[ssl.SSLContext] | None = None
    """The TLS context of ``settings``, being built elsewhere, for the pools (see ``run_tui``)."""
    reload_org: OrgReloader | None = None
    mouse: bool = True
    deliver: bool = True
    """Send alerts to the ``[[notify]]`` channels (off for screenshots and the demo's tests)."""
    config_target: Path | None = None
    """Where Add organization writes a new org (the config file, existing or not); None: the
    app offers no Add organization (the demo)."""
