"""The web configuration file every official Prometheus exporter shares (``--web.config.file``),
read by both of cuadra-top's servers (``exporter`` and ``web``), and the basic auth it sets up.

The format is the Prometheus exporter-toolkit's: ``tls_server_config`` (a certificate and key,
as files or inline; client certificates), ``http_server_config.headers``, ``basic_auth_users``
(bcrypt hashes). What cuadra-top cannot honour exactly with Python's ``ssl`` module
(``cipher_suites``, ``curve_preferences``, ``RequireAnyClientCert``, ``rate_limit``, ...) is
refused with a one-line error instead of being ignored: a security setting must never be
silently dropped. Relative paths are relative to the file, as in the toolkit. Like the toolkit,
the file is read again when it (or a certificate it names) changes, so a renewed certificate or
a new user needs no restart; a change that breaks it keeps the last good version, with a
warning. Hashes and inline keys are secrets: no message ever quotes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import ssl
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cuadra_top.debuglog import logger

log = logger("webconfig")

TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
               "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
UNSUPPORTED_CLIENT_AUTH = {"RequestClientCert", "RequireAnyClientCert"}
"""Go's "take a client certificate without verifying it": Python's ssl always verifies one."""
TLS_KEYS = {"cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type", "client_ca_file",
            "client_allowed_sans", "min_version", "max_version", "prefer_server_cipher_suites"}
TLS_UNSUPPORTED = {"cipher_suites": "Go cipher suite names", "curve_preferences": "Go curve names"}
HEADERS = {"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "X-XSS-Protection",
           "Strict-Transport-Security"}
HEADER_VALUES = {"X-Frame-Options": {"deny", "sameorigin"}, "X-Content-Type-Options": {"nosniff"}}
BCRYPT = re.compile(r"^\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}$")
MAKE_HASH = "make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
AUTH_CACHE_SIZE = 256
DUMMY_HASH = b"$2b$10$3euPcmQFCiblsZeEu5s7p.9OVHgeHWFDk9nhMqZ0m/3pd/lhwZgES"
"""Checked against when the user is unknown, so a wrong name takes as long as a wrong password."""


class WebConfigError(Exception):
    """The file cannot be used; the message is one line that names the file, the key and the fix."""


@dataclass(frozen=True)
class WebConfig:
    """One good reading of the file (or none: plain HTTP, no authentication)."""

    ssl_context: ssl.SSLContext | None = None
    client_cert_required: bool = False
    allowed_sans: frozenset[str] = frozenset()
    headers: tuple[tuple[str, str], ...] = ()
    users: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def authenticates(self) -> bool:
        """Every request must prove who it is (basic auth or a verified client certificate)."""
        return bool(self.users) or self.client_cert_required


NONE = WebConfig()


def load_web_config(path: Path) -> WebConfig:
    """Read and check ``path``; raises WebConfigError."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WebConfigError(f"{path}: no such file; fix --web.config.file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise WebConfigError(f"{path}: cannot read it ({reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise WebConfigError(f"{path}: not valid YAML{where}; see the exporter-toolkit web configuration format") \
            from None
    return _parse(path, data if data is not None else {})


def _fail(path: Path, key: str, message: str) -> WebConfigError:
    return WebConfigError(f"{path}: {key}: {message}")


def _mapping(path: Path, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _fail(path, key, "must be a mapping of names to values")
    return value


def _string(path: Path, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, key, "must be a string")
    return value


def _parse(path: Path, data: Any) -> WebConfig:
    top = _mapping(path, "the file", data)
    known = {"tls_server_config", "http_server_config", "basic_auth_users"}
    for key in top:
        if key == "rate_limit":
            raise _fail(path, key, "not supported by cuadra-top; rate-limit in a reverse proxy, or remove it")
        if key not in known:
            raise _fail(path, key, f"unknown key; expected one of {', '.join(sorted(known))}")
    tls = _tls(path, _mapping(path, "tls_server_config", top.get("tls_server_config")))
    headers = _headers(path, _mapping(path, "http_server_config", top.get("http_server_config")))
    users = _users(path, _mapping(path, "basic_auth_users", top.get("basic_auth_users")))
    context, required, sans = tls if tls is not None else (None, False, frozenset())
    return WebConfig(context, required, sans, headers, users)


def _file(path: Path, key: str, value: Any) -> Path:
    name = _string(path, key, value)
    if not name:
        raise _fail(path, key, "is empty; give a file name")
    found = Path(name) if os.path.isabs(name) else path.parent / name
    if not found.is_file():
        raise _fail(path, key, f"no such file: {found}")
    return found


def _tls(path: Path, tls: dict[str, Any]) -> tuple[ssl.SSLContext, bool, frozenset[str]] | None:
    if not tls:
        return None
    key_name = "tls_server_config"
    for key in tls:
        if key in TLS_UNSUPPORTED:
            raise _fail(path, f"{key_name}.{key}", f"not supported by cuadra-top (it takes {TLS_UNSUPPORTED[key]}; "
                        "OpenSSL's defaults apply); remove it")
        if key not in TLS_KEYS:
            raise _fail(path, f"{key_name}.{key}", f"unknown key; expected one of {', '.join(sorted(TLS_KEYS))}")
    for inline, file in (("cert", "cert_file"), ("key", "key_file"), ("client_ca", "client_ca_file")):
        if tls.get(inline) and tls.get(file):
            raise _fail(path, f"{key_name}.{inline}", f"give {inline} or {file}, not both")
    if not (tls.get("cert") or tls.get("cert_file")):
        raise _fail(path, f"{key_name}.cert_file", "missing; TLS needs a certificate (cert_file or cert)")
    if not (tls.get("key") or tls.get("key_file")):
        raise _fail(path, f"{key_name}.key_file", "missing; TLS needs a private key (key_file or key)")

    auth = _string(path, f"{key_name}.client_auth_type", tls.get("client_auth_type", "NoClientCert"))
    if auth in UNSUPPORTED_CLIENT_AUTH:
        raise _fail(path, f"{key_name}.client_auth_type", f"{auth} (a certificate taken without verification) is "
                    "not supported by cuadra-top; use RequireAndVerifyClientCert with client_ca_file")
    if auth not in CLIENT_AUTH:
        raise _fail(path, f"{key_name}.client_auth_type", f"{auth!r} is not one of {', '.join(CLIENT_AUTH)}")
    sans = tls.get("client_allowed_sans") or []
    if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
        raise _fail(path, f"{key_name}.client_allowed_sans", "must be a list of strings")
    if sans and auth != "RequireAndVerifyClientCert":
        raise _fail(path, f"{key_name}.client_allowed_sans", "needs client_auth_type: RequireAndVerifyClientCert")
    versions = {}
    for key, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        name = tls.get(key, default)
        if name not in TLS_VERSIONS:
            raise _fail(path, f"{key_name}.{key}", f"{name!r} is not one of {', '.join(TLS_VERSIONS)}")
        versions[key] = TLS_VERSIONS[name]
    if versions["min_version"] > versions["max_version"]:
        raise _fail(path, f"{key_name}.min_version", "is above max_version")
    prefer = tls.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise _fail(path, f"{key_name}.prefer_server_cipher_suites", "must be true or false")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = versions["min_version"]
    context.maximum_version = versions["max_version"]
    if prefer:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    _load_chain(path, context, tls)
    context.verify_mode = CLIENT_AUTH[auth]
    if context.verify_mode != ssl.CERT_NONE:
        try:
            if tls.get("client_ca_file"):
                context.load_verify_locations(cafile=str(_file(path, f"{key_name}.client_ca_file",
                                                               tls["client_ca_file"])))
            elif tls.get("client_ca"):
                context.load_verify_locations(cadata=_string(path, f"{key_name}.client_ca", tls["client_ca"]))
            else:
                context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        except (ssl.SSLError, ValueError):
            raise _fail(path, f"{key_name}.client_ca_file", "holds no usable CA certificate (PEM)") from None
    return context, auth == "RequireAndVerifyClientCert", frozenset(sans)


def _load_chain(path: Path, context: ssl.SSLContext, tls: dict[str, Any]) -> None:
    """The server's certificate and key, from files or inline PEM (written to a private
    temporary file for the moment it takes OpenSSL to read it: ``ssl`` reads files only)."""
    key_name = "tls_server_config"
    temporary: list[str] = []
    try:
        def as_file(inline: str, file: str) -> str:
            if tls.get(file):
                return str(_file(path, f"{key_name}.{file}", tls[file]))
            fd, name = tempfile.mkstemp(prefix="cuadra-top-tls-")  # 0600
            temporary.append(name)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(_string(path, f"{key_name}.{inline}", tls[inline]))
            return name

        cert, key = as_file("cert", "cert_file"), as_file("key", "key_file")
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError:
            raise _fail(path, key_name, "the certificate and key cannot be used together (not PEM, or the key "
                        "does not match the certificate)") from None
    finally:
        for name in temporary:
            os.unlink(name)


def _headers(path: Path, http: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    for key in http:
        if key not in ("http2", "headers"):
            raise _fail(path, f"http_server_config.{key}", "unknown key; expected http2 or headers")
    if "http2" in http and not isinstance(http["http2"], bool):
        raise _fail(path, "http_server_config.http2", "must be true or false")  # HTTP/1.1 is served either way
    headers = []
    for name, value in _mapping(path, "http_server_config.headers", http.get("headers")).items():
        key = f"http_server_config.headers.{name}"
        if name not in HEADERS:
            raise _fail(path, key, f"not a header the format allows ({', '.join(sorted(HEADERS))})")
        value = _string(path, key, value)
        allowed = HEADER_VALUES.get(name)
        if allowed is not None and value.lower() not in allowed:
            raise _fail(path, key, f"{value!r} is not one of {', '.join(sorted(allowed))}")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise _fail(path, key, "holds a control character")
        if value:
            headers.append((name, value))
    return tuple(headers)


def _users(path: Path, users: dict[str, Any]) -> dict[str, bytes]:
    if not users:
        return {}
    import bcrypt  # noqa: F401  (checked here, so a missing install fails at start, not at a scrape)

    found = {}
    for name, hashed in users.items():
        key = f"basic_auth_users.{name}"
        if not name or ":" in name:
            raise _fail(path, "basic_auth_users", "a user name is empty or holds ':'")
        if not isinstance(hashed, str) or not BCRYPT.match(hashed):
            raise _fail(path, key, f"not a bcrypt hash; {MAKE_HASH}")
        found[name] = hashed.encode("ascii")
    return found


class BasicAuth:
    """bcrypt checks with a small cache of the credentials that passed (bcrypt costs ~100 ms by
    design; Prometheus sends the same credentials every scrape). Keys are digests, never the
    password itself."""

    def __init__(self, size: int = AUTH_CACHE_SIZE) -> None:
        self._passed: OrderedDict[bytes, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def check(self, header: str | None, users: dict[str, bytes] | Any) -> bool:
        import bcrypt

        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        hashed = users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), hashed or b"", password.encode()))).digest()
        with self._lock:
            if hashed is not None and key in self._passed:
                self._passed.move_to_end(key)
                return True
        ok = bcrypt.checkpw(password.encode(), hashed or DUMMY_HASH) and hashed is not None
        if ok:
            with self._lock:
                self._passed[key] = None
                while len(self._passed) > self._size:
                    self._passed.popitem(last=False)
        return ok


class WebConfigSource:
    """The current web configuration: the file read again when it, or a file it names,
    changes (checked at most every ``recheck`` seconds); without a file, plain HTTP."""

    def __init__(self, path: Path | None, recheck: float = 1.0, program: str = "exporter") -> None:
        self.path = path
        self.recheck = recheck
        self.program = program
        """Which server's warnings these are (``exporter``, ``web``)."""
        self._lock = threading.Lock()
        self._config = load_web_config(path) if path is not None else NONE
        self._own: tuple[str, int, int] | None = None
        self._named: list[Path] = []
        self._signature = self._stat()
        self._checked = time.monotonic()

    def current(self) -> WebConfig:
        if self.path is None or time.monotonic() - self._checked < self.recheck:
            return self._config
        with self._lock:
            if time.monotonic() - self._checked >= self.recheck:
                self._checked = time.monotonic()
                signature = self._stat()
                if signature != self._signature:
                    self._signature = signature
                    try:
                        self._config = load_web_config(self.path)
                        log.info("web config %s read again", self.path)
                    except WebConfigError as exc:
                        log.warning("%s; keeping the previous web config", exc)
                        warn(f"{exc}; keeping the previous web config", self.program)
        return self._config

    def _stat(self) -> tuple[tuple[str, int, int], ...]:
        """mtime and size of the file and of the files it names (certificates, CA). Which
        files it names is read again only when the file itself changed: a check is a few
        stat calls, not a YAML parse (it runs on the accept loop, once a second under scrapes)."""
        if self.path is None:
            return ()
        own = _signature_of(self.path)
        if own != self._own:
            self._own = own
            self._named = self._named_files()
        return (own, *(_signature_of(item) for item in self._named))

    def _named_files(self) -> list[Path]:
        assert self.path is not None
        paths = []
        try:
            import yaml

            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
            tls = data.get("tls_server_config") or {} if isinstance(data, dict) else {}
            for key in ("cert_file", "key_file", "client_ca_file"):
                if isinstance(tls, dict) and isinstance(tls.get(key), str) and tls[key]:
                    paths.append(Path(tls[key]) if os.path.isabs(tls[key]) else self.path.parent / tls[key])
        except Exception:  # unreadable now: its own signature changes, and loading it says why
            pass
        return paths


def _signature_of(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
        return str(path), st.st_mtime_ns, st.st_size
    except OSError:
        return str(path), -1, -1


def warn(message: str, program: str = "exporter") -> None:
    print(f"cuadra-top {program}: warning: {message}", file=sys.stderr, flush=True)
