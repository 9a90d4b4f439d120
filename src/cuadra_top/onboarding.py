"""Adding an organization: check its credential live, keep its secret, write its ``[[org]]``.

``cuadra-top auth login`` (prompts or flags) and the TUI's Add organization screen are two
faces of this module: both describe the new org as a :class:`NewOrg`, :func:`verify` it with
the client code the monitor polls with (one ``GET /v1/usage``, and for OAuth one token
request), and :func:`save` it: the secret into the OS keyring (or wherever the user chose),
then the table into the config file, which keeps its comments and order. Nothing is saved
when the check fails. ``auth status`` and ``auth logout`` use :func:`check_org`,
:func:`credential_source` and :func:`remove_org`.

A secret goes where the user said, never silently elsewhere: the keyring when it has a usable
backend; else an environment variable or a command (the config names them), or the literal in
the config file (mode 0600) only when asked for in so many words (``--insecure-storage``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr, ValidationError

from cuadra_top import format as fmt
from cuadra_top import keystore
from cuadra_top.api.auth import DEFAULT_TOKEN_URL, ClientCredentials
from cuadra_top.api.client import DEFAULT_API_URL, Fetched
from cuadra_top.api.errors import (
    ApiError,
    AuthError,
    ConfigProblem,
    NetworkError,
    NotFound,
    PermissionDenied,
    SetupError,
)
from cuadra_top.api.http import Timeouts
from cuadra_top.config import (
    ConfigError,
    OrgConfig,
    Settings,
    describe_config_error,
    load_file,
    validate_settings,
)
from cuadra_top.config_writer import update_config
from cuadra_top.redaction import redact, remember_secret
from cuadra_top.state.fleet import Fleet

Kind = Literal["client", "token"]
Storage = Literal["keyring", "config", "env", "command"]

CREDENTIAL_KEYS = ("api_url", "token", "token_env", "token_command", "token_keyring", "client_id",
                   "client_secret", "client_secret_env", "client_secret_keyring", "token_url")
"""What a new login replaces in an org's table; anything else there (thresholds) is kept."""
CHECK_TIMEOUTS = Timeouts(connect=5.0, read=15.0)
KEYRING_FALLBACKS = ("keep the secret in an environment variable (--token-env / --secret-env), have a command "
                     "print it (--token-command), or write it into the config file, readable only by you, "
                     "with --insecure-storage")


class LoginError(Exception):
    """The new org cannot be added as described; the message (one line, no secret) says why and
    what to do. ``usage``: a mistake in what was asked for (exit 2), not a failed check (1)."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


@dataclass
class NewOrg:
    """An organization as the user described it, before anything is saved."""

    name: str
    api_url: str = DEFAULT_API_URL
    kind: Kind = "token"
    client_id: str | None = None
    token_url: str | None = None
    secret: SecretStr | None = None
    """The token or client secret itself (None when it comes from ``env_name`` or ``command``)."""
    storage: Storage = "keyring"
    env_name: str | None = None
    command: str | None = None
    replace: bool = False
    """Replace the credential of an org of that name already configured (else refused)."""

    def table(self) -> dict[str, Any]:
        """The ``[[org]]`` keys written to the config (never the secret unless ``config``)."""
        table: dict[str, Any] = {"name": self.name}
        if self.api_url.rstrip("/") != DEFAULT_API_URL:
            table["api_url"] = self.api_url.rstrip("/")
        if self.kind == "client":
            table["client_id"] = self.client_id
            if self.token_url and self.token_url != DEFAULT_TOKEN_URL:
                table["token_url"] = self.token_url
            key = "client_secret"
        else:
            key = "token"
        if self.storage == "keyring":
            table[f"{key}_keyring"] = True
        elif self.storage == "env":
            table[f"{key}_env"] = self.env_name
        elif self.storage == "command":
            table["token_command"] = self.command
        else:
            table[key] = self.secret.get_secret_value() if self.secret else ""
        return table

    def checked_config(self) -> OrgConfig:
        """The org as the check runs it: the secret in hand (not yet in the keyring), else as
        the table says. Raises LoginError (usage) naming the key that is wrong."""
        table = self.table()
        if self.storage == "keyring":
            key = "client_secret" if self.kind == "client" else "token"
            del table[f"{key}_keyring"]
            table[key] = self.secret.get_secret_value() if self.secret else ""
        return org_config(table)


def org_config(table: Mapping[str, Any]) -> OrgConfig:
    """One validated org; LoginError with the config loader's one-line reason otherwise."""
    try:
        return OrgConfig.model_validate(dict(table))
    except ValidationError as exc:
        reason = describe_config_error(exc, {"org": [dict(table)]}).replace("[[org]] #1 ", "")
        raise LoginError(redact(reason), usage=True) from None


@dataclass
class Checked:
    """What one live request showed about an org's credential."""

    name: str
    fetched: Fetched | None
    error: ApiError | None
    expires_at: datetime | None = None
    """For OAuth client credentials: when the access token it got expires."""

    @property
    def ok(self) -> bool:
        return self.fetched is not None

    @property
    def admin(self) -> bool:
        return self.fetched is not None and self.fetched.usage.admin is not None

    def summary(self) -> str:
        """'Pro (pro) · credits 7,500 / 50,000 used (15.0%), 42,500 available · admin'."""
        if self.fetched is None:
            return ""
        usage = self.fetched.usage
        credits = usage.credits
        limit = fmt.UNLIMITED if credits.unlimited else fmt.thousands(credits.limit)
        used = f"credits {fmt.thousands(credits.used)} / {limit} used"
        if not credits.unlimited:
            used += f" ({fmt.percent(credits.fraction)})"
        available = credits.total_available_now if credits.total_available_now is not None else credits.available_now
        parts = [usage.plan.label, used + (f", {fmt.thousands(available)} available" if available is not None else "")]
        parts.append("admin credential" if self.admin else "not an admin credential")
        return " · ".join(parts)


async def check_org(org: OrgConfig, settings: Settings, environ: Mapping[str, str],
                    timeouts: Timeouts | None = None) -> Checked:
    """One live request for ``org``, through the fleet as the monitor makes it. A credential
    that cannot be built (an unset variable, no keyring entry) is a failed check, not a crash."""
    try:
        fleet = Fleet([org], environ, timeouts=timeouts or settings.timeouts, ca_bundle=settings.ca_bundle)
    except ConfigError as exc:  # the secret cannot be had now (an unset variable, no keyring entry)
        return Checked(org.name, None, ConfigProblem(str(exc)))
    except SetupError as exc:  # CA or proxy settings that cannot work
        return Checked(org.name, None, exc)
    async with fleet:
        result = await fleet.fetch(org.name)
        credential = fleet.clients[org.name].credential
    expires = credential.expires_at if isinstance(credential, ClientCredentials) else None
    return Checked(org.name, result.fetched, result.error, expires)


def advice(error: ApiError, org: OrgConfig) -> str:
    """The check's failure for someone adding the org: what the API said and what to do."""
    if isinstance(error, PermissionDenied):
        scope = error.missing_scope or "usage:read"
        said = error.detail or error.title or "permission denied"
        return (f"the credential is valid but may not read usage (403: {said}); give it the {scope} scope "
                "in the Cuadra dashboard (Settings, API Access) and try again")
    if isinstance(error, AuthError):
        said = error.detail or error.title or "no details"
        if error.message.startswith("token endpoint"):
            return (f"the token endpoint refused the client credentials ({error.status}: {said}); check the "
                    "client ID and secret, and the token URL (nothing was saved)")
        if error.status == 401:
            return f"the API refused the token (401: {said}); check the token and try again (nothing was saved)"
        return f"{error.message} (nothing was saved)"
    if isinstance(error, NotFound):
        return (f"nothing answers at {org.api_url}/v1/usage (404); check the API URL "
                f"(the default is {DEFAULT_API_URL})")
    if isinstance(error, NetworkError):
        return f"{error.message}; check the API URL ({org.api_url}) and your network"
    return error.message


async def verify(new: NewOrg, settings: Settings, environ: Mapping[str, str] = os.environ) -> tuple[OrgConfig, Checked]:
    """Check the new org live; raises LoginError (with :func:`advice`) when it does not work.
    Returns the config it was checked with (the secret in hand) and what the check saw."""
    if new.secret is not None:
        remember_secret(new.secret.get_secret_value())
    org = new.checked_config()
    checked = await check_org(org, settings, environ, CHECK_TIMEOUTS)
    if checked.error is not None:
        raise LoginError(advice(checked.error, org))
    return org, checked


def keyring_problem() -> str | None:
    """Why the OS keyring cannot take a secret here, or None when it can."""
    return keystore.backend_problem()


def settings_at(path: Path, environ: Mapping[str, str]) -> Settings:
    """The settings of the config file at ``path``, or the defaults when there is none yet."""
    if path.is_file():
        return load_file(path, environ).settings
    return Settings()


def save(new: NewOrg, path: Path) -> None:
    """Keep the secret (keyring) and write the org's table into the config at ``path``. If the
    config cannot be written, the keyring is put back as it was. When a login replaces an org
    whose secret was in the keyring under another entry (or now lives elsewhere), that entry
    is removed. Raises LoginError."""
    table = new.table()
    old = configured_org(path, new.name) if new.replace else None
    previous: str | None = None
    if new.storage == "keyring":
        assert new.secret is not None
        try:
            previous = keystore.load(new.name, new.api_url)
            keystore.store(new.name, new.api_url, new.secret.get_secret_value())
        except keystore.KeyringUnavailable as exc:
            raise LoginError(f"{exc}; {KEYRING_FALLBACKS}") from None
    try:
        write_org(path, table, replace=new.replace)
    except BaseException:
        if new.storage == "keyring":
            try:
                if previous is None:
                    keystore.delete(new.name, new.api_url)
                else:
                    keystore.store(new.name, new.api_url, previous)
            except keystore.KeyringUnavailable:
                pass
        raise
    if old is not None and (old.token_keyring or old.client_secret_keyring):
        same_entry = new.storage == "keyring" and keystore.entry_name(old.name, old.api_url) == keystore.entry_name(
            new.name, new.api_url)
        if not same_entry:
            try:
                keystore.delete(old.name, old.api_url)
            except keystore.KeyringUnavailable:
                pass  # the config no longer points at it; nothing reads it


def configured_org(path: Path, name: str) -> OrgConfig | None:
    """The org of that name in the config file at ``path``, if any."""
    if not path.is_file():
        return None
    return next((org for org in load_file(path, os.environ).settings.org if org.name == name), None)


def write_org(path: Path, table: Mapping[str, Any], *, replace: bool = False) -> None:
    """Add the ``[[org]]`` table (or, with ``replace``, swap the credential keys of the org of
    that name, keeping its other keys and comments). Raises LoginError."""
    import tomlkit

    name = table["name"]

    def change(document) -> None:
        orgs = document.get("org")
        if orgs is None:
            orgs = tomlkit.aot()
            document.append("org", orgs)
        existing = next((entry for entry in orgs if entry.get("name") == name), None)
        if existing is not None:
            if not replace:
                raise LoginError(f"{path}: an org named {name!r} is already configured; choose another name, "
                                 "or replace its credential (--replace)", usage=True)
            for key in CREDENTIAL_KEYS:
                if key in existing:
                    del existing[key]
            for key, value in table.items():
                if key != "name":
                    existing[key] = value
            return
        entry = tomlkit.table() if isinstance(orgs, tomlkit.items.AoT) else tomlkit.inline_table()
        entry.update(table)
        orgs.append(entry)

    _update(path, change)


def remove_org(path: Path, name: str) -> OrgConfig:
    """Remove the org's table from the config and its secret from the keyring; returns the org
    as it was configured. Raises LoginError (usage) when there is no such org, or a message
    about the keyring entry it could not remove (the table is gone by then)."""
    loaded = load_file(path, os.environ) if path.is_file() else None
    orgs = loaded.settings.org if loaded else []
    org = next((o for o in orgs if o.name == name), None)
    if org is None:
        names = ", ".join(o.name for o in orgs) or "none"
        raise LoginError(f"no org named {name!r} in {path}; configured: {names}", usage=True)

    def change(document) -> None:
        orgs = document["org"]
        index = next(i for i, entry in enumerate(orgs) if entry.get("name") == name)
        del orgs[index]
        if not len(orgs):
            del document["org"]

    _update(path, change)
    if org.token_keyring or org.client_secret_keyring:
        try:
            keystore.delete(org.name, org.api_url)
        except keystore.KeyringUnavailable as exc:
            raise LoginError(f"removed org {name!r} from {path}, but its keyring entry "
                             f"(service {keystore.SERVICE!r}, user {keystore.entry_name(org.name, org.api_url)!r}) "
                             f"stays: {exc}") from None
    return org


def _update(path: Path, change) -> None:
    """One change to the config, checked as the loader would check it before it is written."""

    def check(text: str) -> None:
        try:
            validate_settings(tomllib.loads(text), path)
        except ConfigError as exc:
            raise LoginError(redact(str(exc)), usage=True) from None

    try:
        update_config(path, change, check=check)
    except OSError as exc:
        raise LoginError(f"{path}: cannot write it ({exc.strerror or type(exc).__name__}); "
                         "check the directory's permissions (nothing was saved)") from None
    except ValueError as exc:
        raise LoginError(redact(str(exc)), usage=True) from None


@dataclass
class Source:
    """Where an org's credential comes from, for people (never the secret)."""

    kind: str
    """``token`` or ``client_credentials``."""
    where: str
    """'the OS keyring', 'config file', '$ACME_TOKEN', 'token_command', 'environment'."""
    detail: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.kind == "client_credentials":
            return f"OAuth client credentials ({self.detail.get('client_id', '?')}), secret {self.where}"
        return f"token {self.where}"


def credential_source(org: OrgConfig, environ: Mapping[str, str] = os.environ) -> Source:
    """Where ``org``'s credential comes from, as ``auth status`` shows it."""
    keyring_entry = {"keyring_service": keystore.SERVICE, "keyring_user": keystore.entry_name(org.name, org.api_url)}
    if org.client_id:
        detail = {"client_id": org.client_id}
        if org.client_secret_keyring:
            return Source("client_credentials", "in the OS keyring", {**detail, **keyring_entry})
        if org.client_secret:
            return Source("client_credentials", "in the config file", detail)
        variable = org.client_secret_env or "CUADRA_CLIENT_SECRET"
        return Source("client_credentials", f"from ${variable}", detail)
    if org.token_keyring:
        return Source("token", "in the OS keyring", keyring_entry)
    if org.token:
        return Source("token", "in the config file")
    if org.token_env:
        return Source("token", f"from ${org.token_env}")
    if org.token_command:
        return Source("token", "printed by token_command")
    if environ.get("CUADRA_CLIENT_ID", "").strip() and not environ.get("CUADRA_TOKEN", "").strip():
        return Source("client_credentials", "from $CUADRA_CLIENT_SECRET", {"client_id": "$CUADRA_CLIENT_ID"})
    return Source("token", "from $CUADRA_TOKEN")
