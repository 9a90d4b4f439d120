"""Proxies from the environment, as httpx uses them, with two corrections.

httpx (``trust_env``) routes through ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` and
honours ``NO_PROXY``. This module mounts, under the very patterns httpx uses for those
variables, httpx proxy transports that (1) name their proxy, credentials masked, in the errors
they raise, so a dead proxy is not reported as "connection refused by api.cuadra.ai", and
(2) never send a loopback host (the simulator, the demo) through the proxy. The loopback hosts
are also mounted direct, which is the way httpx itself exempts ``NO_PROXY`` hosts.
"""

from __future__ import annotations

import re
import ssl
from urllib.parse import urlsplit
from urllib.request import getproxies

import httpx

from cuadra_top.api.errors import ProxyConfigError
from cuadra_top.api.http import is_loopback
from cuadra_top.redaction import MASK, remember_secret

PROXY_VARIABLES = (("http", "HTTP_PROXY"), ("https", "HTTPS_PROXY"), ("all", "ALL_PROXY"))
"""httpx's mount pattern ``<scheme>://`` for each proxy variable it reads (via urllib)."""
LOOPBACK_PATTERNS = ("all://localhost", "all://*.localhost", "all://127.0.0.1", "all://[::1]")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?(.*)@")


def masked_proxy(url: str) -> str:
    """``url`` as the user may see it: a ``user:password@`` in it becomes ``********@``
    (and both are registered as secrets, so no other output shows them either)."""
    match = _USERINFO.match(url)
    if match is None:
        return url.rstrip("/")
    userinfo = match.group(2)
    remember_secret(userinfo)
    remember_secret(userinfo.partition(":")[2])
    return (match.group(1) or "") + MASK + "@" + url[match.end():].rstrip("/")


def proxy_address(url: str) -> str:
    """``host:port`` of a proxy URL, for messages (no credentials)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    port = parts.port or {"https": 443}.get(parts.scheme, 80)
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ProxyFailure(httpx.ProxyError):
    """A request through a proxy failed; ``cause`` is httpx's own error."""

    def __init__(self, proxy: str, address: str, cause: httpx.TransportError, request: httpx.Request) -> None:
        super().__init__(f"via proxy {proxy}: {cause}", request=request)
        self.proxy = proxy
        """The proxy as shown: masked URL and the variable it came from."""
        self.address = address
        self.cause = cause


class ProxiedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport through one proxy, which names that proxy in its errors and sends
    loopback hosts direct."""

    def __init__(self, proxy_url: str, variable: str, *, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(proxy=proxy_url, verify=verify, limits=limits, trust_env=True)
        self.label = f"{masked_proxy(proxy_url)} (from {variable})"
        self.address = proxy_address(proxy_url)
        self._direct_args = {"verify": verify, "limits": limits}
        self._direct: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if is_loopback(request.url.host):
            # 127.0.0.2, [0::1] and the like, which the loopback mounts cannot spell.
            if self._direct is None:
                self._direct = httpx.AsyncHTTPTransport(**self._direct_args)  # type: ignore[arg-type]
            return await self._direct.handle_async_request(request)
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise ProxyFailure(self.label, self.address, exc, request) from exc

    async def aclose(self) -> None:
        await super().aclose()
        if self._direct is not None:
            await self._direct.aclose()


def proxy_mounts(verify: ssl.SSLContext, limits: httpx.Limits) -> dict[str, httpx.AsyncBaseTransport | None]:
    """Mounts for ``httpx.AsyncClient(trust_env=True)``: a :class:`ProxiedTransport` for each
    proxy variable set, under httpx's own pattern for it (so it replaces httpx's transport and
    keeps httpx's ``NO_PROXY`` handling), and loopback hosts direct. Raises ProxyConfigError
    for a proxy URL httpx cannot use."""
    proxies = getproxies()  # what httpx reads, the same way
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {pattern: None for pattern in LOOPBACK_PATTERNS}
    if "*" in (host.strip() for host in proxies.get("no", "").split(",")):
        return mounts  # NO_PROXY=*: httpx uses no proxy at all
    for scheme, variable in PROXY_VARIABLES:
        url = proxies.get(scheme)
        if not url:
            continue
        url = url if "://" in url else f"http://{url}"
        try:
            mounts[f"{scheme}://"] = ProxiedTransport(url, variable, verify=verify, limits=limits)
        except ImportError:
            raise ProxyConfigError(f"{variable}={masked_proxy(url)}: SOCKS proxies need httpx[socks], which is "
                                   "not installed; use an http:// proxy or unset it") from None
        except (ValueError, TypeError, httpx.InvalidURL) as exc:
            why = "not an http://, https:// or socks5:// URL" if "scheme" in str(exc).lower() else "not a valid URL"
            raise ProxyConfigError(f"{variable}={masked_proxy(url)}: {why}; fix it or unset it") from None
    return mounts
