"""Thresholds, and the one classifier of a used/limit fraction against them.

Gauges, the overview, alerts, ``--check`` and ``--once`` all ask :meth:`Thresholds.band`, so an
org at 85% with ``warn_percent = 50, critical_percent = 60`` reads CRIT everywhere, not WARN on
the screen and CRITICAL in the alerts. Knows nothing of Textual or of the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Band(StrEnum):
    """Where a fraction stands. OVER (past the limit) is always at least critical."""

    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    OVER = "over"
    UNLIMITED = "unlimited"
    NONE = "none"
    """No number to judge (an infinite or undefined fraction)."""


BAND_WORD = {Band.WARN: "WARN", Band.CRITICAL: "CRIT", Band.OVER: "OVER"}
"""The level in words, so a gauge reads without colour (NO_COLOR, 16 colours)."""


@dataclass(frozen=True)
class Thresholds:
    """One org's thresholds in percent (its own keys where set, else the global ones)."""

    warn_percent: float = 80.0
    critical_percent: float = 95.0
    warn_on_projected_exhaustion: bool = True

    def band(self, fraction: float | None) -> Band:
        """Classify used/limit; None means unlimited."""
        if fraction is None:
            return Band.UNLIMITED
        if not math.isfinite(fraction):
            return Band.OVER if fraction > 0 else Band.NONE
        percent = fraction * 100
        if percent > 100:
            return Band.OVER
        if percent >= self.critical_percent:
            return Band.CRITICAL
        if percent >= self.warn_percent:
            return Band.WARN
        return Band.OK


NEVER = Thresholds(math.inf, math.inf, False)
"""For bars that are not quotas (time passed in the period, seats vs the plan): never a level."""


@dataclass(frozen=True)
class AlertPolicy:
    """The knobs of the rules that are not per-org thresholds (config keys ``alert_*``)."""

    hysteresis_points: float = 2.0
    """A percent alert re-arms only this many points below its threshold."""
    time_margin: timedelta = timedelta(hours=1)
    """A projected alert re-arms only once the projection is this far past its limit."""
    hard_cap_horizon: timedelta = timedelta(hours=24)
    """402 errors projected within this horizon are critical."""
    failing_intervals: int = 5
    """Fetches failing for longer than this many refresh intervals raise ``failing``."""
