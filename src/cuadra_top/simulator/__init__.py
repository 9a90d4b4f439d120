"""A local stand-in for the Cuadra Usage API, for demo mode and tests.

The real API cannot be reached from here, so the product talks to this
simulator over real HTTP on loopback, through its real client.
"""

from .faults import Fault
from .orgs import DemoOrg, demo_orgs
from .server import RequestRecord, Simulator

__all__ = ["DemoOrg", "Fault", "RequestRecord", "Simulator", "demo_orgs"]
