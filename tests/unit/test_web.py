"""``cuadra-top web`` over real HTTP and websockets, without a browser (tests/e2e/test_web_e2e.py
has the browser): every route behind the check, the exposure rules, the session cap, a session's
process ended with its websocket (and killed when it will not quit), Host and Origin, the page
(relative URLs, the app's title, no secret), and the command line.

Most tests run the server in this process with a small stand-in for the TUI
(:data:`web_support.STUB_APP`); those about the real TUI and the command line run
``cuadra-top web`` itself."""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import bcrypt
import httpx
import pytest

from cuadra_top.listen import Listen
from cuadra_top.web import server as web_server
from cuadra_top.web.run import WebError, WebOptions, WebService, exposure
from cuadra_top.webconfig import WebConfig
from exporter_support import make_certificates
from web_support import WebServer, alive, child_env, stub_argv
from conftest import wait_until

PASSWORD = "s3cret-pass"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
ROUTES = ["/", "/ws", "/static/js/textual.js", "/static/css/xterm.css", "/static/", "/download/abc", "/nope"]


def web_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return path


async def started(argv=None, **options) -> WebService:
    listen = options.pop("listen", Listen("127.0.0.1", 0))
    service = WebService(WebOptions(listen, argv or stub_argv(), **options))
    await service.start()
    return service


def base(service: WebService, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{service.port}"


async def first_text(websocket: aiohttp.ClientWebSocketResponse, timeout: float = 15.0) -> str:
    message = await websocket.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.BINARY, message
    return message.data.decode()


# -- every route behind the check -----------------------------------------------------------

async def test_without_credentials_every_route_is_refused_the_websocket_included(tmp_path):
    service = await started(web_config=web_file(tmp_path, f"basic_auth_users:\n  team: '{HASH}'\n"))
    try:
        async with httpx.AsyncClient(base_url=base(service)) as client:
            upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                       "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
            refused = {}
            for route in ROUTES:
                for auth in (None, ("team", "wrong"), ("nobody", PASSWORD)):
                    response = await client.get(route, auth=auth, headers=upgrade if route == "/ws" else None)
                    refused[(route, auth)] = response
            post = await client.post("/", content=b"x")
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(f"{base(service)}/ws")
    finally:
        await service.stop()
    assert {key: r.status_code for key, r in refused.items()} == {key: 401 for key in refused}
    assert all(r.headers["www-authenticate"].startswith("Basic realm=") for r in refused.values())
    assert post.status_code == 401 and caught.value.status == 401
    assert all(PASSWORD not in r.text and HASH not in r.text for r in refused.values())
    assert not service.server.sessions


async def test_with_credentials_the_page_the_files_and_a_session_work(tmp_path):
    service = await started(web_config=web_file(tmp_path, f"basic_auth_users:\n  team: '{HASH}'\n"))
    try:
        async with httpx.AsyncClient(base_url=base(service), auth=("team", PASSWORD)) as client:
            page = await client.get("/")
            script = await client.get("/static/js/textual.js")
            listing = await client.get("/static/")
        async with aiohttp.ClientSession(headers={"Authorization": aiohttp.encode_basic_auth("team", PASSWORD)}) as session:
            async with session.ws_connect(f"{base(service)}/ws?width=100&height=30") as websocket:
                ready = await first_text(websocket)
                (pid,) = await wait_until(lambda: {s.pid for s in service.server.sessions}, "a session")
                assert alive(pid)
            await wait_until(lambda: not alive(pid), "the session's process gone once its websocket closed")
    finally:
        await service.stop()
    assert page.status_code == script.status_code == 200
    assert "<title>cuadra-top</title>" in page.text and len(script.content) > 100_000
    assert listing.status_code in (403, 404)  # no directory listings
    assert ready == "stub ready 100x30"  # the size the page asked for


# -- exposure --------------------------------------------------------------------------------

@pytest.mark.parametrize("config, insecure, outcome", [
    (WebConfig(), False, "refused"),
    (WebConfig(), True, "--insecure-no-auth"),
    (WebConfig(users={"team": HASH.encode()}), False, "clear text"),
    (WebConfig(ssl_context=ssl.create_default_context()), False, "without authentication"),
    (WebConfig(ssl_context=ssl.create_default_context(), users={"team": HASH.encode()}), False, None),
])
def test_beyond_loopback_it_needs_auth_or_tls_or_says_insecure(config, insecure, outcome):
    for host in ("127.0.0.1", "::1", "localhost"):
        assert exposure(Listen(host, 1), config, insecure) is None
    for host in ("0.0.0.0", "", "192.0.2.7", "team.example"):
        if outcome == "refused":
            with pytest.raises(WebError, match="--insecure-no-auth"):
                exposure(Listen(host, 1), config, insecure)
        elif outcome is None:
            assert exposure(Listen(host, 1), config, insecure) is None
        else:
            assert outcome in exposure(Listen(host, 1), config, insecure)


async def test_a_web_config_that_drops_authentication_makes_an_exposed_server_refuse_everything(tmp_path):
    path = web_file(tmp_path, f"basic_auth_users:\n  team: '{HASH}'\n")
    service = await started(listen=Listen("0.0.0.0", 0), web_config=path)
    service.web.recheck = 0
    try:
        async with httpx.AsyncClient(base_url=base(service)) as client:
            before = await client.get("/", auth=("team", PASSWORD))
            path.write_text("{}\n")
            os.utime(path, ns=(time.time_ns() + 10**9,) * 2)
            after = [await client.get(route) for route in ROUTES]
    finally:
        await service.stop()
    assert before.status_code == 200
    assert {r.status_code for r in after} == {503}
    assert "no longer sets up authentication" in after[0].text


async def test_over_tls_a_renewed_certificate_is_served_without_a_restart(tmp_path):
    from exporter_support import openssl

    certs = make_certificates(tmp_path / "tls")
    path = web_file(certs, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n")
    service = await started(web_config=path)
    service.web.recheck = 0
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))

    async def served() -> tuple[str, int]:
        async with httpx.AsyncClient(verify=context) as client:
            async with client.stream("GET", f"https://127.0.0.1:{service.port}/") as response:
                peer = response.extensions["network_stream"].get_extra_info("ssl_object").getpeercert()
                return dict(item[0] for item in peer["subject"])["commonName"], response.status_code

    try:
        before = await served()
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                "server.key", "-out", "renewed.csr", "-subj", "/CN=renewed", cwd=certs)
        openssl("x509", "-req", "-in", "renewed.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-out", "server.pem", "-extfile", "server.ext", cwd=certs)
        os.utime(certs / "server.pem", ns=(time.time_ns() + 10**9,) * 2)
        after = await served()
    finally:
        await service.stop()
    assert service.url.startswith("https://")
    assert before == ("server", 200) and after == ("renewed", 200)


# -- Host and Origin -------------------------------------------------------------------------

async def test_on_loopback_another_host_name_is_refused_unless_it_is_the_public_url():
    service = await started()
    public = await started(public_url="https://team.example/cuadra/")
    try:
        async with httpx.AsyncClient() as client:
            answers = {host: (await client.get(f"{base(service)}/", headers={"Host": host})).status_code
                       for host in (f"127.0.0.1:{service.port}", f"localhost:{service.port}", "[::1]:1",
                                    "127.9.9.9", "rebound.example:80", "evil.localhost.example")}
            proxied = await client.get(f"{base(public)}/", headers={"Host": "team.example"})
            stranger = await client.get(f"{base(public)}/", headers={"Host": "other.example"})
    finally:
        await service.stop()
        await public.stop()
    assert answers == {f"127.0.0.1:{service.port}": 200, f"localhost:{service.port}": 200, "[::1]:1": 200,
                       "127.9.9.9": 200, "rebound.example:80": 403, "evil.localhost.example": 403}
    assert (proxied.status_code, stranger.status_code) == (200, 403)


async def test_a_page_of_another_site_cannot_open_a_session():
    service = await started()
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(f"{base(service)}/ws", headers={"Origin": "https://evil.example"})
            async with session.ws_connect(f"{base(service)}/ws",
                                          headers={"Origin": f"http://127.0.0.1:{service.port}"}) as websocket:
                assert (await first_text(websocket)).startswith("stub ready")
    finally:
        await service.stop()
    assert caught.value.status == 403


# -- the sessions ----------------------------------------------------------------------------

async def test_the_session_cap_holds_with_a_clear_page_and_frees_with_a_closed_tab():
    service = await started(max_sessions=2)
    url = base(service)
    try:
        async with aiohttp.ClientSession() as session:
            first = await session.ws_connect(f"{url}/ws")
            second = await session.ws_connect(f"{url}/ws")
            await first_text(first), await first_text(second)
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(f"{url}/ws")
            async with session.get(f"{url}/") as busy:
                busy_text, busy_status, retry = await busy.text(), busy.status, busy.headers.get("Retry-After")
            pids = {s.pid for s in service.server.sessions}
            await first.close()
            await wait_until(lambda: len(service.server.sessions) == 1, "one session left")
            async with session.get(f"{url}/") as page:
                page_status = page.status
            third = await session.ws_connect(f"{url}/ws")
            await first_text(third)
            await second.close()
            await third.close()
        await wait_until(lambda: not service.server.sessions, "every session ended")
    finally:
        await service.stop()
    assert caught.value.status == 503
    assert busy_status == 503 and retry == "30"
    assert "All 2 sessions are in use" in busy_text and "reload this page" in busy_text
    assert page_status == 200 and len(pids) == 2 and not any(alive(pid) for pid in pids)


async def test_a_session_that_will_not_quit_is_terminated_then_killed(monkeypatch):
    monkeypatch.setattr(web_server, "QUIT_GRACE", 0.5)
    monkeypatch.setattr(web_server, "TERM_GRACE", 0.5)
    service = await started(stub_argv("--stubborn"))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{base(service)}/ws") as websocket:
                await first_text(websocket)
                (pid,) = {s.pid for s in service.server.sessions}
        await wait_until(lambda: not alive(pid), "the stubborn session killed", timeout=10)
    finally:
        await service.stop()


async def test_stopping_the_server_ends_every_session():
    service = await started()
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(f"{base(service)}/ws") for _ in range(3)]
        for websocket in sockets:
            await first_text(websocket)
        pids = {s.pid for s in service.server.sessions}
        await service.stop()
        closed = [await websocket.receive(timeout=5) for websocket in sockets]
    assert len(pids) == 3 and not any(alive(pid) for pid in pids)
    assert all(message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) for message in closed)


# -- the page --------------------------------------------------------------------------------

async def test_the_page_uses_relative_urls_or_the_public_url_and_the_apps_title():
    from cuadra_top.tui.app import CuadraTopApp

    plain = await started()
    public = await started(public_url="https://team.example/cuadra/")
    try:
        async with httpx.AsyncClient() as client:
            page = (await client.get(f"{base(plain)}/")).text
            proxied = (await client.get(f"{base(public)}/", headers={"Host": "team.example"})).text
    finally:
        await plain.stop()
        await public.stop()
    assert f"<title>{CuadraTopApp.TITLE}</title>" in page
    assert re.findall(r'(?:href|src)="([^"]+)"', page) == ["static/css/xterm.css", "static/js/textual.js"]
    assert "url(\"static/fonts/" in page
    assert not re.search(r'(?:href|src)="[a-z]+:|url\("?[a-z]+:|@import', page)  # nothing from elsewhere
    assert 'new URL("ws", window.location.href)' in page and '"wss:"' in page
    assert 'data-session-websocket-url="wss://team.example/cuadra/ws"' in proxied
    assert 'href="https://team.example/cuadra/static/css/xterm.css"' in proxied


# -- the command line and the real TUI -------------------------------------------------------

def config_with_secrets(tmp_path: Path, sim) -> tuple[Path, list[str]]:
    secrets = ["tok-Zq81-alpha-secret", "cs-Vw27-client-secret", "hook-Pw55-password"]
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n'
        f'[[org]]\nname = "beta"\napi_url = "{sim.base_url}"\ntoken = "{secrets[0]}"\n'
        f'[[org]]\nname = "gamma"\napi_url = "{sim.base_url}"\nclient_id = "gamma-client"\n'
        f'client_secret = "{secrets[1]}"\ntoken_url = "{sim.auth_url}"\n'
        f'[[notify]]\nurls = ["json://user:{secrets[2]}@127.0.0.1:9/hook"]\n')
    config.chmod(0o600)
    return config, secrets


def test_the_real_tui_in_a_session_with_no_secret_in_the_page_or_the_websocket(sim, tmp_path, isolated_env):
    config, secrets = config_with_secrets(tmp_path, sim)
    server = WebServer(tmp_path, ["--config", str(config), "--no-history"])

    async def session() -> tuple[str, bytes]:
        async with aiohttp.ClientSession() as client:
            async with client.get(server.url) as page:
                text = await page.text()
            received = b""
            async with client.ws_connect(f"{server.url}ws?width=120&height=40") as websocket:
                deadline = time.monotonic() + 30
                while not all(name.encode() in received for name in ("alpha", "beta", "gamma")) or b"%" not in received:
                    assert time.monotonic() < deadline, received[-2000:]
                    message = await websocket.receive(timeout=30)
                    if message.type == aiohttp.WSMsgType.BINARY:
                        received += message.data
                await websocket.send_str('["stdin", "v"]')  # the Raw JSON tab of the first org
                end = time.monotonic() + 2
                while time.monotonic() < end:
                    try:
                        message = await websocket.receive(timeout=0.5)
                    except asyncio.TimeoutError:
                        continue
                    if message.type == aiohttp.WSMsgType.BINARY:
                        received += message.data
                (pid,) = server.sessions()
            return text, received, pid

    try:
        page, received, pid = asyncio.run(session())
        wait_until_gone = time.monotonic() + 15
        while alive(pid) and time.monotonic() < wait_until_gone:
            time.sleep(0.05)
        assert not alive(pid), "the session's TUI outlived its websocket"
        # the session ran the TUI of this config, told to write no config
        assert server.sessions() == set()
    finally:
        server.stop()
    for secret in secrets:
        assert secret not in page and secret.encode() not in received
    assert secrets[0] not in server.text() and secrets[1] not in server.text()


def run_web(tmp_path: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuadra_top", *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(tmp_path), cwd=tmp_path)


@pytest.mark.parametrize("args, message", [
    (["--demo", "web", "--listen", "0.0.0.0:0"], "refusing to serve every org's usage on 0.0.0.0:0 without basic "
                                                  "auth or TLS"),
    (["--demo", "web", "--public-url", "https://user:pw@team.example/"], "must not carry a user name or password"),
    (["--demo", "web", "--public-url", "ftp://team.example/"], "is not an http:// or https:// URL"),
    (["--demo", "web", "--max-sessions", "0"], "is not a number of sessions from 1 to 1000"),
    (["--demo", "web", "--listen", "nowhere"], "is not HOST:PORT (e.g. 127.0.0.1:10871"),
    (["--demo", "--org", "nobody", "web"], "no org named 'nobody'"),
    (["--demo", "--once", "web"], "web serves until it is stopped"),
    (["web"], "no organizations configured"),
    (["--demo", "web", "--web.config.file", "missing.yml"], "missing.yml: no such file"),
])
def test_what_cannot_be_served_is_one_line_and_exit_2(tmp_path, args, message):
    result = run_web(tmp_path, *args)
    assert result.returncode == 2, result
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 or result.stderr.startswith("usage:")


def test_a_busy_port_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_web(tmp_path, "--demo", "web", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert result.stderr == (f"cuadra-top: cannot listen on 127.0.0.1:{port} (Address already in use); "
                             "choose another address with --listen\n")


def test_insecure_no_auth_warns_at_every_start(tmp_path):
    for _ in range(2):
        server = WebServer(tmp_path, ["--demo"], ["--insecure-no-auth"], listen="0.0.0.0:0")
        server.stop()
        warning, start = server.text().splitlines()[:2]
        assert warning.startswith("cuadra-top web: warning: --insecure-no-auth: serving on 0.0.0.0:")
        assert "without authentication" in warning and start.startswith("cuadra-top web: the demo on http://")
    quiet = WebServer(tmp_path, ["--demo"], ["--insecure-no-auth"])  # on loopback there is nothing to warn about
    quiet.stop()
    assert "warning" not in quiet.text()


def test_the_demo_sessions_share_the_server_simulator(tmp_path):
    from cuadra_top.demo import SharedDemo, join_demo, start_shared_demo

    sim, shared = start_shared_demo(seed=5)
    try:
        assert SharedDemo.parse(str(shared)) == shared
        loaded, model = join_demo(SharedDemo.parse(str(shared)))
        assert {org.api_url for org in loaded.settings.org} == {sim.base_url}
        now = time.time() + 3600
        assert all(model.usage_for(name, now=now) == sim.usage_for(name, now=now) for name in sim.orgs)
    finally:
        sim.stop()
    for bad in ("http://192.0.2.1:80,1,2.0", "http://127.0.0.1:1,x,2", "http://127.0.0.1:1,1,nan", "nothing"):
        with pytest.raises(ValueError):
            SharedDemo.parse(bad)


@pytest.mark.parametrize("web_session", [False, True])
def test_a_browser_session_writes_no_config(tmp_path, isolated_env, monkeypatch, web_session):
    """Whoever has the page may watch, not change this machine's config: no Add organization,
    and a theme picked in the tab is not saved."""
    import cuadra_top.tui.run
    from cuadra_top.cli import main

    config = tmp_path / "config.toml"
    config.write_text('[[org]]\nname = "alpha"\napi_url = "http://127.0.0.1:9"\ntoken = "alpha-token"\n')
    config.chmod(0o600)
    seen = []
    monkeypatch.setattr(cuadra_top.tui.run, "run_tui", lambda options: seen.append(options) or 0)
    assert main(["--config", str(config), "--no-history", *(["--web-session"] if web_session else [])]) == 0
    (options,) = seen
    if web_session:
        assert options.config_target is None and options.persist_theme is False
    else:
        assert options.config_target == config and options.persist_theme is True
