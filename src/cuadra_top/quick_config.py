"""The config, read quickly: the paths that must not wait for the full loader's pydantic.

``cuadra-top status`` (tmux runs it every few seconds) and the TUI's first frame read the
config with the standard library's TOML parser, without validating it in full: only what
they need, checked as far as they use it. Anything this reader does not expect raises
:class:`NeedsFullConfig`, and the caller takes the full loader's path, which says what is
wrong in its one line, as elsewhere. ``cuadra-top config validate`` checks everything.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cuadra_top import APP_NAME
from cuadra_top.thresholds import Thresholds

DEFAULT_API_URL = "https://api.cuadra.ai"
"""As ``cuadra_top.api.client.DEFAULT_API_URL`` (a test keeps them equal): importing that
module would import httpx."""


class NeedsFullConfig(Exception):
    """The quick reader met something it does not check: the full loader must say what."""


@dataclass
class QuickOrg:
    """What the quick paths need of one org's config."""

    name: str
    api_url: str
    identity: str | None
    """``client:<id>`` / ``org:<claim>``, '' for an opaque token (keyed by name); None when it
    cannot be known without running or unlocking something (token_command, keyring)."""
    thresholds: Thresholds


@dataclass
class QuickConfig:
    orgs: list[QuickOrg]
    refresh_interval: float
    history: bool
    path: Path | None
    theme: str | None = None
    """The TUI's first frame wears it (see ``cuadra_top.tui.first_start``)."""


def read_config(cli_path: str | None, environ: Mapping[str, str]) -> QuickConfig:
    """The orgs and settings the quick paths need; NeedsFullConfig for anything unexpected."""
    if cli_path or environ.get("CUADRA_TOP_CONFIG"):
        path = Path(cli_path or environ["CUADRA_TOP_CONFIG"]).expanduser()
    else:
        import platformdirs

        path = platformdirs.user_config_path(APP_NAME) / "config.toml"
    if not path.is_file():
        if cli_path or environ.get("CUADRA_TOP_CONFIG"):
            raise NeedsFullConfig  # the loader's "no such config file"
        return QuickConfig(_env_orgs(environ), 30.0, True, None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise NeedsFullConfig from None
    interval = _number(data.get("refresh_interval", 30.0))
    history = data.get("history", True)
    if not isinstance(history, bool) or not 1 <= interval <= 86400:
        raise NeedsFullConfig
    defaults = Thresholds(_number(data.get("warn_percent", 80.0)), _number(data.get("critical_percent", 95.0)),
                          _flag(data.get("warn_on_projected_exhaustion", True)))
    tables = data.get("org", [])
    if not isinstance(tables, list):
        raise NeedsFullConfig
    orgs = [_org(table, defaults, environ) for table in tables]
    if len({org.name for org in orgs}) != len(orgs):
        raise NeedsFullConfig
    theme = data.get("theme")
    return QuickConfig(orgs, interval, history, path, theme if isinstance(theme, str) else None)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise NeedsFullConfig
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise NeedsFullConfig
    return value


def _org(table: Any, defaults: Thresholds, environ: Mapping[str, str]) -> QuickOrg:
    if not isinstance(table, dict) or not isinstance(table.get("name"), str) or not table["name"]:
        raise NeedsFullConfig
    api_url = table.get("api_url", DEFAULT_API_URL)
    if not isinstance(api_url, str):
        raise NeedsFullConfig
    warn = _number(table["warn_percent"]) if "warn_percent" in table else defaults.warn_percent
    critical = _number(table["critical_percent"]) if "critical_percent" in table else defaults.critical_percent
    projected = (_flag(table["warn_on_projected_exhaustion"]) if "warn_on_projected_exhaustion" in table
                 else defaults.warn_on_projected_exhaustion)
    thresholds = Thresholds(warn, max(critical, warn), projected)
    return QuickOrg(table["name"], api_url.rstrip("/"), _identity(table, environ), thresholds)


def _identity(table: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """As the credential would tell it (``Credential.identity``), without building it."""
    from cuadra_top.api.claims import token_identity

    if isinstance(table.get("client_id"), str):
        return f"client:{table['client_id']}"
    if table.get("token_command") or table.get("token_keyring"):
        return None
    token = table.get("token")
    if isinstance(table.get("token_env"), str):
        token = environ.get(table["token_env"], "")
    elif token is None:  # no credential in the table: the environment's
        if environ.get("CUADRA_TOKEN", "").strip():
            token = environ["CUADRA_TOKEN"]
        elif environ.get("CUADRA_CLIENT_ID", "").strip():
            return f"client:{environ['CUADRA_CLIENT_ID'].removesuffix(chr(10))}"
    if not isinstance(token, str):
        raise NeedsFullConfig
    return token_identity(token.removesuffix("\n")) or ""


def _env_orgs(environ: Mapping[str, str]) -> list[QuickOrg]:
    """No config file: the ``default`` org of the environment, as the loader makes it."""
    if not (environ.get("CUADRA_TOKEN", "").strip() or environ.get("CUADRA_CLIENT_ID", "").strip()):
        return []
    api_url = environ.get("CUADRA_API_URL") or DEFAULT_API_URL
    return [QuickOrg("default", api_url.rstrip("/"), _identity({}, environ), Thresholds())]
