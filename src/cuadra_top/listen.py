"""Where a server of ours listens (``cuadra-top exporter``, ``cuadra-top web``): ``--listen
HOST:PORT``, loopback unless told otherwise.

No heavy import here: the CLI parses ``--listen`` with it before anything is loaded.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
EXPORTER_PORT = 10870
"""Past the Prometheus default port allocations (9100-9999 is full; allocations go on from
10000): see the README, section Prometheus exporter."""
WEB_PORT = 10871
"""``cuadra-top web``: the exporter's neighbour, so both can run on one machine as they come."""


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: whatever it resolves to, assume the network

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, port: int | None = None, tls: bool = False, path: str = "/metrics") -> str:
        host = f"[{self.host}]" if ":" in self.host else (self.host or "0.0.0.0")
        return f"{'https' if tls else 'http'}://{host}:{self.port if port is None else port}{path}"


def parse_listen(text: str, example_port: int = EXPORTER_PORT) -> Listen:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` (every interface, as the official exporters
    read it); raises ValueError with the fix (its examples on ``example_port``)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:{example_port}, or :{example_port} for every "
                         "interface)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: put an IPv6 address in brackets, e.g. [::1]:{example_port}")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise ValueError(f"{text!r}: {port!r} is not a port number from 0 to 65535")
    return Listen(host, number)
