"""The exporter behind its web configuration file (the exporter-toolkit format): basic auth with
bcrypt hashes, TLS, client certificates with allowed SANs, headers; one-line errors for what
cannot be used, never quoting a hash; and the command line: SIGTERM, SIGHUP, a busy port, the
warning when it listens beyond loopback without protection."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
import pytest

from conftest import sim_config_file, small_org
from cuadra_top.listen import Listen, parse_listen
from cuadra_top.webconfig import WebConfigError, load_web_config
from exporter_support import make_certificates, orgs_in, parse, service_for

HASH = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(4)).decode()


@pytest.fixture
def wsim(start_sim, clock):
    return start_sim([small_org("plain"), small_org("other")], clock=clock)


def web_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return path


async def test_basic_auth_with_bcrypt_hashes(wsim, tmp_path):
    path = web_file(tmp_path, f"basic_auth_users:\n  prometheus: '{HASH}'\n  y-user: '$2y${HASH[4:]}'\n")
    service = service_for(wsim, ["plain"], web_config=path)
    await service.start()
    url = f"http://127.0.0.1:{service.port}/metrics"
    try:
        async with httpx.AsyncClient() as client:
            none = await client.get(url)
            wrong = await client.get(url, auth=("prometheus", "nope"))
            stranger = await client.get(url, auth=("nobody", "s3cret-pass"))
            right = await client.get(url, auth=("prometheus", "s3cret-pass"))
            again = await client.get(url, auth=("prometheus", "s3cret-pass"))  # from the cache
            htpasswd_style = await client.get(url, auth=("y-user", "s3cret-pass"))
            landing = await client.get(f"http://127.0.0.1:{service.port}/")
    finally:
        await service.stop()
    assert [r.status_code for r in (none, wrong, stranger, landing)] == [401] * 4
    assert none.headers["www-authenticate"].startswith("Basic")
    assert [r.status_code for r in (right, again, htpasswd_style)] == [200] * 3
    assert "cuadra_up" in right.text
    for response in (none, wrong, stranger):
        assert "s3cret" not in response.text and HASH not in response.text


async def test_tls_and_client_certificates_with_allowed_sans(wsim, tmp_path):
    certs = make_certificates(tmp_path)
    path = web_file(tmp_path, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
                              "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"
                              "  client_allowed_sans: [prometheus.example]\n"
                              "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n")
    service = service_for(wsim, ["plain"], web_config=path)
    await service.start()
    url = f"https://127.0.0.1:{service.port}/metrics"
    assert service.url == url

    def client(name: str | None) -> httpx.AsyncClient:
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        if name:
            context.load_cert_chain(certs / f"{name}.pem", certs / f"{name}.key")
        return httpx.AsyncClient(verify=context)

    try:
        async with client("client") as allowed:
            ok = await allowed.get(url)
        for name in (None, "other"):  # no certificate; a certificate from the CA with another SAN
            async with client(name) as refused:
                with pytest.raises((httpx.TransportError, ssl.SSLError)):
                    await refused.get(url)
        async with httpx.AsyncClient() as plain:  # plain HTTP on the TLS port
            with pytest.raises((httpx.TransportError, ssl.SSLError)):
                await plain.get(f"http://127.0.0.1:{service.port}/metrics")
        # a client that connects and never says anything holds no one up
        silent = socket.create_connection(("127.0.0.1", service.port))
        async with client("client") as allowed:
            ok_again = await allowed.get(url)
        silent.close()
    finally:
        await service.stop()
    assert ok.status_code == ok_again.status_code == 200
    assert ok.headers["x-content-type-options"] == "nosniff"
    assert orgs_in(parse(ok.text)) == {"plain"}


async def test_a_renewed_certificate_or_a_new_user_needs_no_restart(wsim, tmp_path):
    path = web_file(tmp_path, f"basic_auth_users:\n  first: '{HASH}'\n")
    service = service_for(wsim, ["plain"], web_config=path)
    service.web.recheck = 0
    await service.start()
    url = f"http://127.0.0.1:{service.port}/metrics"
    try:
        async with httpx.AsyncClient() as client:
            before = await client.get(url, auth=("second", "s3cret-pass"))
            path.write_text(f"basic_auth_users:\n  first: '{HASH}'\n  second: '{HASH}'\n")
            os.utime(path, ns=(time.time_ns() + 10**9,) * 2)
            after = await client.get(url, auth=("second", "s3cret-pass"))
            path.write_text("basic_auth_users: [broken\n")  # a broken edit keeps the last good config
            os.utime(path, ns=(time.time_ns() + 2 * 10**9,) * 2)
            kept = await client.get(url, auth=("second", "s3cret-pass"))
    finally:
        await service.stop()
    assert (before.status_code, after.status_code, kept.status_code) == (401, 200, 200)


@pytest.mark.parametrize("text, says", [
    ("tls_server_config:\n  cert_file: server.pem\n", "tls_server_config.key_file: missing"),
    ("tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n", "tls_server_config.cert_file: no such file"),
    ("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
     "tls_server_config.cipher_suites: not supported by cuadra-top"),
    ("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n",
     "RequireAnyClientCert (a certificate taken without verification) is not supported"),
    ("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS9\n",
     "tls_server_config.min_version: 'TLS9' is not one of"),
    ("tls_server_config:\n  cert_file: server.pem\n  key_file: ca.key\n",
     "the certificate and key cannot be used together"),
    (f"basic_auth_users:\n  alice: 'plain-text-password'\n", "basic_auth_users.alice: not a bcrypt hash; make one with"),
    ("basic_auth_user:\n  alice: x\n", "basic_auth_user: unknown key"),
    ("rate_limit:\n  interval: 1s\n", "rate_limit: not supported by cuadra-top"),
    ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
     "http_server_config.headers.X-Frame-Options: 'allow' is not one of deny, sameorigin"),
    ("basic_auth_users: [broken\n", "not valid YAML at line"),
], ids=lambda v: v.split("\n")[0][:40] if "\n" in v else v[:30])
def test_a_web_config_that_cannot_be_used_says_so_in_one_line(tmp_path, text, says):
    make_certificates(tmp_path)
    path = web_file(tmp_path, text)
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    message = str(caught.value)
    assert says in message and str(path) in message
    assert "\n" not in message and "plain-text-password" not in message


def test_inline_certificates_and_relative_paths(tmp_path):
    certs = make_certificates(tmp_path / "certs")
    inline = (certs / "server.pem").read_text(), (certs / "server.key").read_text()
    indent = lambda pem: "\n".join("    " + line for line in pem.splitlines())  # noqa: E731
    text = f"tls_server_config:\n  cert: |\n{indent(inline[0])}\n  key: |\n{indent(inline[1])}\n"
    assert load_web_config(web_file(tmp_path, text)).ssl_context is not None
    relative = web_file(certs, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n")
    config = load_web_config(relative)
    assert config.ssl_context is not None and not config.authenticates


@pytest.mark.parametrize("text, listen", [
    ("127.0.0.1:9999", Listen("127.0.0.1", 9999)), (":10870", Listen("", 10870)),
    ("[::1]:80", Listen("::1", 80)), ("localhost:1", Listen("localhost", 1)),
])
def test_listen_addresses(text, listen):
    assert parse_listen(text) == listen
    assert parse_listen(text).loopback == (listen.host in ("127.0.0.1", "::1", "localhost"))


@pytest.mark.parametrize("text, says", [("10870", "is not HOST:PORT"), ("::1:80", "in brackets"),
                                        ("host:http", "is not a port number"), ("h:70000", "is not a port number")])
def test_bad_listen_addresses(text, says):
    with pytest.raises(ValueError, match=says):
        parse_listen(text)


# -- the command line --------------------------------------------------------------------------

class Running:
    """``cuadra-top exporter`` in its own process group, killed whatever happens."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "cuadra_top", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True,
                                     env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"),
                                          **(env or {})})
        self.first_lines = ""

    def url(self, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            self.first_lines += line
            if " org(s) on " in line:
                return line.rsplit(" ", 1)[1].strip()
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError(f"the exporter did not start: {self.first_lines}{self.proc.stderr.read()}")

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def test_the_command_serves_reloads_on_sighup_and_exits_cleanly_on_sigterm(wsim, tmp_path, isolated_env):
    config = sim_config_file(tmp_path, wsim, ["plain", "other"])
    with Running("exporter", "--config", str(config), "--listen", "127.0.0.1:0", "--no-history") as running:
        url = running.url()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")

        def orgs() -> set[str]:
            return {o for o in orgs_in(parse(httpx.get(url, timeout=5).text))}

        deadline = time.monotonic() + 10
        while parse(httpx.get(url, timeout=5).text).get(("cuadra_up", frozenset({("org", "other")}))) != 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        sim_config_file(tmp_path, wsim, ["plain"])
        os.kill(running.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while orgs() != {"plain"}:
            assert time.monotonic() < deadline, orgs()
            time.sleep(0.1)
        started = time.monotonic()
        os.kill(running.proc.pid, signal.SIGTERM)
        code = running.proc.wait(10)
        err = running.proc.stderr.read()
    assert code == 0
    assert time.monotonic() - started < 5
    assert "config reloaded: 1 org(s)" in err and "Traceback" not in err


def test_a_busy_port_is_one_line_and_exit_2(wsim, tmp_path, isolated_env):
    config = sim_config_file(tmp_path, wsim, ["plain"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "cuadra_top", "exporter", "--config", str(config),
                                 "--listen", f"127.0.0.1:{port}", "--no-history"], capture_output=True, text=True,
                                timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")})
    assert result.returncode == 2
    assert result.stderr.strip() == (f"cuadra-top: cannot listen on 127.0.0.1:{port} (Address already in use); "
                                     "choose another address with --listen")


@pytest.mark.parametrize("argv, says", [
    (["exporter", "--listen", "nope"], "is not HOST:PORT"),
    (["--once", "exporter"], "drop --once"),
    (["exporter", "--web.config.file", "/nonexistent/web.yml"], "/nonexistent/web.yml: no such file"),
])
def test_usage_errors_are_one_line(argv, says, wsim, tmp_path, isolated_env):
    config = sim_config_file(tmp_path, wsim, ["plain"])
    result = subprocess.run([sys.executable, "-m", "cuadra_top", "--config", str(config), *argv],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")})
    assert result.returncode == 2
    assert says in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr


def test_beyond_loopback_without_protection_it_warns(wsim, tmp_path, isolated_env):
    config = sim_config_file(tmp_path, wsim, ["plain"])
    with Running("exporter", "--config", str(config), "--listen", "0.0.0.0:0", "--no-history") as running:
        running.url()
        os.kill(running.proc.pid, signal.SIGTERM)
        running.proc.wait(10)
        err = running.first_lines + running.proc.stderr.read()
    assert "without authentication: anyone who reaches it reads every org's usage" in err
    assert running.proc.returncode == 0


def test_checking_the_web_config_parses_no_yaml_until_a_file_changes(tmp_path, monkeypatch):
    """The check runs on the accept loop, once a second under scrapes: a few stat calls, not a
    YAML parse. A renewed certificate (the file that names it unchanged) is still seen."""
    import yaml

    from cuadra_top.webconfig import WebConfigSource

    certs = make_certificates(tmp_path)
    path = web_file(tmp_path, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n")
    source = WebConfigSource(path, recheck=0)
    parsed = []
    real = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda *a, **kw: parsed.append(1) or real(*a, **kw))
    first = source.current()
    for _ in range(5):
        assert source.current() is first
    assert parsed == []
    os.utime(certs / "server.pem", ns=(time.time_ns() + 10**9,) * 2)
    renewed = source.current()
    assert renewed is not first and renewed.ssl_context is not None
    assert source.current() is renewed
    assert len(parsed) == 1  # the file read again, once
