"""Proxies from the environment: a dead proxy is named as such (credentials masked), not blamed
on the API host, and loopback (the simulator, the demo) never goes through a proxy."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from cuadra_top.api.auth import StaticToken
from cuadra_top.api.client import UsageClient
from cuadra_top.api.errors import NetworkError, ProxyConfigError
from cuadra_top.api.http import Timeouts, make_http_client
from cuadra_top.cli import main
from cuadra_top.simulator import Simulator

REMOTE = "https://api.cuadra-top-px.invalid"
PASSWORD = "pr0xy-pa55word"
VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def proxy_env(monkeypatch):
    """Clear every proxy variable (either case); return a setter."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)

    def set_proxy(url: str, *names: str) -> None:
        for name in names or ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, url)
            monkeypatch.setenv(name.lower(), url)

    return set_proxy


async def fetch(url: str, token: str = "alpha-token"):
    async with make_http_client(Timeouts(connect=2, read=5)) as http:
        return await UsageClient(http, StaticToken(SecretStr(token)), url).fetch()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_never_goes_through_the_proxy(sim, proxy_env, closed_port, host):
    proxy_env(f"http://user:{PASSWORD}@127.0.0.1:{closed_port}")
    url = sim.base_url.replace("127.0.0.1", host)
    assert (await fetch(url)).raw == sim.usage_for("alpha")


async def test_other_loopback_addresses_skip_the_proxy_too(proxy_env, closed_port, make_org, clock):
    proxy_env(f"http://127.0.0.1:{closed_port}")
    with Simulator([make_org("alpha")], host="127.0.0.2", clock=clock) as other:
        assert (await fetch(other.base_url)).raw == other.usage_for("alpha")


async def test_a_dead_proxy_is_named_not_the_api_host(proxy_env, closed_port):
    proxy_env(f"http://user:{PASSWORD}@127.0.0.1:{closed_port}")
    with pytest.raises(NetworkError) as info:
        await fetch(REMOTE)
    message = info.value.message
    assert f"proxy http://********@127.0.0.1:{closed_port} (from HTTPS_PROXY)" in message
    assert f"connection refused by 127.0.0.1:{closed_port}" in message
    assert "refused by api.cuadra-top-px.invalid" not in message
    assert "NO_PROXY" in message and "\n" not in message
    assert PASSWORD not in message and "user:" not in message


async def test_a_proxy_that_does_not_resolve_is_named(proxy_env):
    proxy_env("http://proxy.cuadra-top-proxy.invalid:3128", "HTTPS_PROXY")
    with pytest.raises(NetworkError) as info:
        await fetch(REMOTE)
    assert "proxy http://proxy.cuadra-top-proxy.invalid:3128 (from HTTPS_PROXY)" in info.value.message
    assert "DNS lookup failed for proxy.cuadra-top-proxy.invalid" in info.value.message


@pytest.mark.parametrize("no_proxy", ["*", "api.cuadra-top-px.invalid", ".cuadra-top-px.invalid"])
async def test_no_proxy_is_still_honoured(proxy_env, closed_port, monkeypatch, no_proxy):
    proxy_env(f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    monkeypatch.setenv("no_proxy", no_proxy)
    with pytest.raises(NetworkError) as info:
        await fetch(REMOTE)
    message = info.value.message  # went direct: the API host's own DNS failure
    assert "proxy http" not in message and "via proxy" not in message
    assert message == "DNS lookup failed for api.cuadra-top-px.invalid"


@pytest.mark.parametrize(("url", "words"), [("ftp://proxy.example:21", "not an http://, https:// or socks5:// URL"),
                                             ("socks5://proxy.example:1080", "SOCKS proxies need httpx[socks]")])
def test_a_proxy_httpx_cannot_use_is_a_setup_error(proxy_env, url, words):
    if "socks" in url:
        try:
            import socksio  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("socksio is installed: SOCKS proxies work")
    proxy_env(url, "HTTPS_PROXY")
    with pytest.raises(ProxyConfigError) as info:
        make_http_client()
    assert info.value.message.startswith(f"HTTPS_PROXY={url}: {words}")
    assert info.value.kind == "config"


def test_once_with_an_unusable_proxy_exits_2_in_one_line(proxy_env, capsys, isolated_env):
    proxy_env("ftp://user:secret-pw@proxy.example:21", "HTTPS_PROXY")
    assert main(["--demo", "--once", "--no-history"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTPS_PROXY=ftp://********@proxy.example:21" in err
    assert "secret-pw" not in err


def test_the_demo_works_with_a_dead_proxy_set(proxy_env, closed_port, capsys, isolated_env):
    """The issue's case: the demo's loopback simulator was sent through the proxy."""
    proxy_env(f"http://127.0.0.1:{closed_port}")
    assert main(["--demo", "--once", "--no-history"]) in (0, 1)  # the demo's flaky org may fail on its own
    out = capsys.readouterr().out
    assert "proxy" not in out
    assert not [line for line in out.splitlines() if "ERROR" in line and not line.startswith("flaky-labs")], out
