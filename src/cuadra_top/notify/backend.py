"""Everything that touches apprise: loading it, judging a URL, and one blocking send.

apprise (with its plugins, about 0.3 s) is imported on first use, never when this module is
imported, so ``--once``, ``--check`` and the TUI's start do not pay for it. Sends are
blocking (apprise's synchronous ``notify``) and meant to run in a thread of their own
(:mod:`cuadra_top.notify.delivery` does that, with its own timeout): the asset here keeps
apprise from using its own thread pools, whose threads would hold up the interpreter's exit
behind a webhook that never answers.

Every URL, and each part of it that apprise marks private (tokens, passwords), is registered
with :func:`cuadra_top.redaction.remember_secret` before anything can show it; apprise's own
log lines go to the ``--log`` file through the same redaction, never to the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from cuadra_top.api.http import is_loopback
from cuadra_top.debuglog import LOGGER_NAME, logger
from cuadra_top.format import printable
from cuadra_top.redaction import redact, remember_secret
from cuadra_top.state.alerts import Level, Notice, NoticeKind

log = logger("notify.apprise")

_lock = threading.Lock()
_apprise: Any = None
_asset: Any = None
_captures: dict[int, list[logging.LogRecord]] = {}
"""Per thread: apprise's log records while that thread judges or sends a URL."""

UNKNOWN_URL = ("apprise cannot use this URL: an unknown service, or a part missing or malformed; "
               "check it against the service's page in apprise's documentation")


class _Forward(logging.Handler):
    """apprise's log, passed on to our logger (the ``--log`` file, redacted) instead of
    Python's last-resort stderr. While a thread judges or sends a URL its records are held
    back instead: they are passed on once the URL's secrets are registered, and they give
    the reason of a failure."""

    def emit(self, record: logging.LogRecord) -> None:
        held = _captures.get(threading.get_ident())
        if held is not None:
            held.append(record)
        else:
            _pass_on(record)


def _pass_on(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a plugin's bad format string must not break delivery
        message = str(record.msg)
    log.log(max(record.levelno, logging.DEBUG), "%s", message)


def load() -> Any:
    """The apprise module, imported once (thread-safe), its log routed into ours."""
    global _apprise, _asset
    with _lock:
        if _apprise is None:
            import apprise

            source = logging.getLogger("apprise")
            source.addHandler(_Forward())
            source.propagate = False
            source.setLevel(logging.getLogger(LOGGER_NAME).getEffectiveLevel())
            _asset = apprise.AppriseAsset(
                async_mode=False,  # the calling thread sends: no pool of apprise's own
                service_timeout=0,  # the timeout is delivery's (a thread that never joins the exit)
                storage_mode="memory",  # nothing written to disk
                secure_logging=True,
            )
            _apprise = apprise
    return _apprise


@contextlib.contextmanager
def _captured() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    _captures[threading.get_ident()] = records
    try:
        yield records
    finally:
        _captures.pop(threading.get_ident(), None)


def _reason(records: list[logging.LogRecord], fallback: str, *, first: bool = False) -> str:
    """The last (or ``first``) thing apprise complained about, on one line, redacted."""
    records = [record for record in records if record.levelno >= logging.WARNING]
    for record in records if first else reversed(records):
        try:
            text = record.getMessage()
        except Exception:
            continue
        text = printable(" ".join(redact(text).split())).rstrip(".")
        if text:
            return text if len(text) <= 200 else text[:199] + "…"
    return fallback


def _names(protocol: Any) -> tuple[str, ...]:
    if not protocol:
        return ()
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _instantiate(url: str) -> tuple[Any, list[logging.LogRecord]]:
    """The plugin for ``url`` (or None), its secrets registered before apprise's log lines
    about it are passed on; those lines, to find the reason of a failure in."""
    apprise = load()
    # apprise's detail reaches the --log file when there is one (set up after the first load, too).
    logging.getLogger("apprise").setLevel(logging.getLogger(LOGGER_NAME).getEffectiveLevel())
    remember_url(url)
    with _captured() as records:
        plugin = apprise.Apprise.instantiate(url, asset=_asset)
    remember_url(url, plugin)
    for record in records:
        _pass_on(record)
    return plugin, records


def remember_url(url: str, plugin: Any = None) -> None:
    """Register ``url`` and its private parts as secrets: apprise's own ``privacy`` view
    says which fields are (tokens, passwords, keys); custom headers and query parameters of
    the generic webhooks (``json://...?-X-Token=...``) are taken as secrets too, and so is
    every form of the URL apprise may log (its canonical form, the http(s) URL it posts to,
    each without its query), since a webhook's path is often its secret."""
    forms = {url, unquote(url)}
    if plugin is not None:
        with contextlib.suppress(Exception):
            forms.update({plugin.url(privacy=False), plugin.url(privacy=True)})
        host, port = getattr(plugin, "host", None), getattr(plugin, "port", None)
        path = getattr(plugin, "fullpath", None) or ""
        if isinstance(host, str) and host:
            netloc = f"{host}:{port}" if port else host
            forms.update({f"http://{netloc}{path}", f"https://{netloc}{path}"})
    for form in list(forms):
        forms.add(form.split("?")[0])
    for form in forms:
        remember_secret(form)
    if plugin is None:
        return
    try:
        shown, hidden = plugin.url_fields(privacy=False), plugin.url_fields(privacy=True)
    except Exception:  # an apprise without url_fields: every long part of the URL
        parts = urlsplit(url)
        for part in [parts.username, parts.password, *parts.path.split("/"), *parts.query.split("&")]:
            remember_secret(unquote(part or "").partition("=")[2] or unquote(part or ""))
        return
    for key, value in shown.items():
        if key in ("params", "headers", "payload") and isinstance(value, dict):
            for item in value.values():
                remember_secret(str(item))
        elif hidden.get(key) != value:
            for item in value if isinstance(value, (list, tuple, set)) else [value]:
                remember_secret(str(item))


def transport_problem(plugin: Any) -> str | None:
    """Why this URL must not be used, or None: a plain (unencrypted) transport to a host
    that is not loopback, or certificate checks turned off. The project refuses plain http
    except for loopback; the fix names the encrypted scheme."""
    cls = type(plugin)
    plain, secure = _names(cls.protocol), _names(cls.secure_protocol)
    try:
        canonical = plugin.url(privacy=True).partition("://")[0].lower()
    except Exception:
        canonical = str(getattr(plugin, "schema", "")).lower()
    host = str(getattr(plugin, "host", "") or "")
    insecure_mode = str(getattr(plugin, "secure_mode", "")).lower() == "insecure"
    plain_only = bool(plain) and not secure and not str(getattr(cls, "notify_url", "")).startswith("https://")
    unencrypted = (canonical in plain and bool(secure)) or insecure_mode or plain_only
    if unencrypted and host and not is_loopback(host):
        if canonical in plain and secure:
            index = plain.index(canonical) if len(plain) == len(secure) else 0
            fix = f"use {secure[index]}:// (encrypted)"
        elif insecure_mode:
            fix = "drop mode=insecure"
        else:
            fix = "this service has no encrypted form; use another"
        return (f"refusing {canonical}://, which sends unencrypted, to {host}: {fix} "
                "(unencrypted is allowed only to a loopback host)")
    if getattr(plugin, "verify_certificate", True) is False and host and not is_loopback(host):
        return "refusing verify=no: certificates are always verified; remove it"
    return None


def check(url: str) -> str | None:
    """None when apprise can deliver to ``url`` and the project allows it; else why not, in
    one line that never shows the URL. Imports apprise (blocking: call it in a thread)."""
    plugin, records = _instantiate(url)
    if plugin is None:
        reason = _reason(records, "")
        return f"{UNKNOWN_URL} ({_reason(records, '', first=True)})" if reason else UNKNOWN_URL
    return transport_problem(plugin)


NOTIFY_TYPES = {Level.WARNING: "warning", Level.CRITICAL: "failure"}


def notify_type(notice: Notice) -> str:
    if notice.kind is NoticeKind.RECOVERED:
        return "success"
    if notice.kind is NoticeKind.TEST:
        return "info"
    return NOTIFY_TYPES.get(notice.level, "warning")


def send(url: str, notice: Notice, timeout: float) -> str | None:
    """Deliver ``notice`` to ``url`` once (blocking); None on success, else why not (one
    line, redacted). The plugin's own socket timeouts are capped at ``timeout``, so a
    thread left behind by a webhook that never answers ends on its own."""
    plugin, records = _instantiate(url)
    if plugin is None:
        return UNKNOWN_URL
    for attribute in ("socket_connect_timeout", "socket_read_timeout"):
        current = getattr(plugin, attribute, None)
        if isinstance(current, (int, float)) and current > timeout:
            setattr(plugin, attribute, timeout)
    apprise = load()
    sender = apprise.Apprise(asset=_asset)
    sender.add(plugin)
    with _captured() as records:
        result = sender.notify(body=notice.message, title=notice.title, notify_type=notify_type(notice),
                               body_format="text")
    for record in records:
        _pass_on(record)
    if result:
        return None
    status = getattr(getattr(result, "status", None), "name", "failure").lower()
    logs = [entry for service in _services(result) for entry in _logs(service)]
    if logs:
        text = printable(" ".join(redact(logs[-1]).split())).rstrip(".")
        return text if len(text) <= 200 else text[:199] + "…"
    return _reason(records, f"apprise reported {status}")


def _services(result: Any) -> list[Any]:
    try:
        return list(result)
    except TypeError:
        return []


def _logs(service: Any) -> list[str]:
    try:
        return [entry.message for entry in service.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    except Exception:
        return []
