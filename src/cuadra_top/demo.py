"""The built-in demo: the simulator on a free loopback port and a config pointing at it.

Nothing here reads or writes the user's config or data.
"""

from __future__ import annotations

from pydantic import SecretStr

from cuadra_top.config import LoadedConfig, OrgConfig, Settings
from cuadra_top.simulator import DemoOrg, Simulator


def demo_org_config(org: DemoOrg, sim: Simulator) -> OrgConfig:
    """Client credentials where the demo org has them (the OAuth path), else its token."""
    if org.client_id and org.client_secret:
        return OrgConfig(
            name=org.name,
            api_url=sim.base_url,
            client_id=org.client_id,
            client_secret=SecretStr(org.client_secret),
            token_url=sim.auth_url,
        )
    return OrgConfig(name=org.name, api_url=sim.base_url, token=SecretStr(org.token))


def demo_config(sim: Simulator, **settings: object) -> LoadedConfig:
    orgs = [demo_org_config(org, sim) for org in sim.orgs.values()]
    return LoadedConfig(Settings(org=orgs, **settings), None, "demo")  # type: ignore[arg-type]


def start_demo(seed: int | None = None) -> Simulator:
    return Simulator(seed=seed).start()
