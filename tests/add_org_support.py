"""Shared by tests/unit/test_add_org.py and tests/tui/test_add_org_tui.py."""

from __future__ import annotations

from cuadra_top.config import OrgConfig


def org(sim, name: str, **kw) -> OrgConfig:
    return OrgConfig(name=name, api_url=sim.base_url, token=f"{name}-token", **kw)

