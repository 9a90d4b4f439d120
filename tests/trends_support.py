"""Shared by tests/unit/test_trends_integration.py and tests/tui/test_trends_tui.py."""

from __future__ import annotations


def key_of(sim, name: str) -> str:
    """The history key --once and the TUI use for the simulator's org ``name``."""
    from pydantic import SecretStr

    from cuadra_top.api.auth import StaticToken
    from cuadra_top.state.identity import series_key

    key = series_key(sim.base_url, StaticToken(SecretStr(sim.orgs[name].token)), name)
    assert key is not None
    return key

