"""Configuration: a TOML file of global settings and one ``[[org]]`` table per organization.

Where it is: ``--config PATH``, else ``$CUADRA_TOP_CONFIG``, else
``platformdirs.user_config_path("cuadra-top")/config.toml``. With no file, the environment
(``CUADRA_TOKEN`` or ``CUADRA_CLIENT_ID``/``CUADRA_CLIENT_SECRET``) gives one org named
``default``. Every error names the file, the key and the fix, in one line.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cuadra_top.api.auth import (
    DEFAULT_TOKEN_URL,
    TOKEN_RULE,
    VISIBLE_ASCII,
    ClientCredentials,
    CommandToken,
    Credential,
    StaticToken,
    header_value_problem,
    without_trailing_newline,
)
from cuadra_top.api.client import DEFAULT_API_URL
from cuadra_top.api.errors import InsecureURL, TLSConfigError
from cuadra_top.api.http import CA_FILE_FIX, Timeouts, ca_file_problem, check_tls_environment, check_url
from cuadra_top import APP_NAME, glyphs  # noqa: F401 - APP_NAME: importers of config use it
from cuadra_top.format import printable
from cuadra_top.display_time import zone_named
from cuadra_top.redaction import MASK, remember_secret
from cuadra_top.thresholds import AlertPolicy, Thresholds

CLIENT_ID_RULE = f"a client_id is {VISIBLE_ASCII}"


class ConfigError(Exception):
    """A config problem the user must fix; the message is one line that says how."""


def default_config_path() -> Path:
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeoutTable(_Strict):
    connect: float = Field(5.0, gt=0, le=300)
    read: float = Field(15.0, gt=0, le=300)


class OrgConfig(_Strict):
    """One organization and its credential (exactly one way of getting a token)."""

    name: str = Field(min_length=1, max_length=200)
    api_url: str = DEFAULT_API_URL
    token: SecretStr | None = None
    token_env: str | None = None
    token_command: str | None = None
    token_keyring: bool = False
    """The token is in the OS keyring (``cuadra_top.keystore``), put there by ``auth login``."""
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_env: str | None = None
    client_secret_keyring: bool = False
    token_url: str | None = None
    warn_percent: float | None = Field(None, gt=0, le=1000)
    critical_percent: float | None = Field(None, gt=0, le=1000)
    warn_on_projected_exhaustion: bool | None = None

    @field_validator("api_url", "token_url")
    @classmethod
    def _secure_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            return check_url(value, info.field_name or "api_url")
        except InsecureURL as exc:
            raise ValueError(exc.message) from None

    @field_validator("token")
    @classmethod
    def _usable_token(cls, value: SecretStr | None) -> SecretStr | None:
        """Refused here, named by key and never echoed: httpx would refuse it at every send."""
        if value is None:
            return None
        token = without_trailing_newline(value.get_secret_value())
        remember_secret(token)
        problem = header_value_problem(token)
        if problem:
            raise ValueError(f"it {problem}; {TOKEN_RULE}")
        return SecretStr(token)

    @field_validator("client_id")
    @classmethod
    def _usable_client_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = header_value_problem(value)
        if problem:
            raise ValueError(f"it {problem}; {CLIENT_ID_RULE}")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> OrgConfig:
        chosen = [k for k in ("token", "token_env", "token_command", "token_keyring", "client_id") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(f"give one credential, not {' and '.join(chosen)}")
        secrets = [k for k in ("client_secret", "client_secret_env", "client_secret_keyring") if getattr(self, k)]
        if secrets and not self.client_id:
            raise ValueError(f"{secrets[0]} needs client_id")
        if len(secrets) > 1:
            raise ValueError(f"give one of client_secret, client_secret_env and client_secret_keyring, "
                             f"not {' and '.join(secrets)}")
        return self

    @property
    def holds_secret(self) -> bool:
        return bool(self.token or self.client_secret)


URL_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://\S*")
"""What an apprise URL looks like (``slack://...``, ``ntfys://...``); whether apprise knows
it is checked where apprise is loaded (``cuadra_top.notify.channels``), not here: ``--once``
and the TUI's start must not pay for importing it."""
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s'\"]*")


def masked_url(url: str) -> str:
    """``slack://********``: the scheme says which service, the rest may be a secret."""
    match = re.match(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://", url)
    return f"{match.group(0)}{MASK}" if match else MASK


def mask_urls_in(text: str) -> str:
    """``text`` (a command line) with every URL in it masked, as by :func:`masked_url`."""
    return _URL_IN_TEXT.sub(lambda m: masked_url(m.group(0)), text)


class NotifyConfig(_Strict):
    """One ``[[notify]]`` channel: apprise URLs (each one a secret), from the file, an
    environment variable or a command, and which alerts go there."""

    name: str | None = Field(None, min_length=1, max_length=200)
    urls: list[SecretStr] | None = None
    urls_env: str | None = None
    urls_command: str | None = None
    min_level: Literal["warning", "critical"] = "warning"
    orgs: list[str] | None = None
    recovered: bool = True
    """Also send the "recovered" notice when an alert resolves."""

    @field_validator("urls", mode="before")
    @classmethod
    def _one_url_is_a_list(cls, value: Any) -> Any:
        """``urls = "ntfys://..."`` is taken as a list of one."""
        return [value] if isinstance(value, str) else value

    @field_validator("urls")
    @classmethod
    def _url_shaped(cls, value: list[SecretStr] | None) -> list[SecretStr] | None:
        """Each URL is registered as a secret first, so no error or log line can show it."""
        if value is None:
            return None
        urls = [url.get_secret_value().strip() for url in value]
        for url in urls:
            remember_secret(url)
        if not urls:
            raise ValueError('is empty; give one or more apprise URLs, like ["ntfys://ntfy.sh/my-topic"]')
        for number, url in enumerate(urls, 1):
            if not URL_SHAPE.fullmatch(url):
                raise ValueError(f"entry {number} is not an apprise URL (like slack://... or ntfys://...; "
                                 "its value is not shown); see the README's Notifications")
        return [SecretStr(url) for url in urls]

    @model_validator(mode="after")
    def _one_source(self) -> NotifyConfig:
        chosen = [key for key in ("urls", "urls_env", "urls_command") if getattr(self, key) is not None]
        if len(chosen) > 1:
            raise ValueError(f"give one of urls, urls_env or urls_command, not {' and '.join(chosen)}")
        if not chosen:
            raise ValueError('no URL; add urls = ["..."] (apprise URLs), urls_env or urls_command')
        return self

    def label(self, number: int) -> str:
        """``[[notify]] #2 ('ops')``: how messages name the channel (its number from 1)."""
        return f"[[notify]] #{number}" + (f" ({self.name!r})" if self.name else "")


class Settings(_Strict):
    """The whole file."""

    refresh_interval: float = Field(30.0, ge=1, le=86400)
    theme: str | None = None
    warn_percent: float = Field(80.0, gt=0, le=1000)
    critical_percent: float = Field(95.0, gt=0, le=1000)
    warn_on_projected_exhaustion: bool = True
    alert_hysteresis: float = Field(2.0, ge=0, le=50)
    """Percentage points under its threshold before a percent alert re-arms."""
    alert_402_horizon: float = Field(24.0, gt=0, le=24 * 90)
    """Hours: 402 errors (hard cap) projected within this many are critical."""
    alert_failing_intervals: int = Field(5, ge=1, le=10_000)
    """Refresh intervals of failed fetches before the org's failing alert."""
    bell: bool = True
    """Ring the terminal bell on an alert (the TUI)."""
    terminal_notify: Literal["auto", "osc9", "osc777", "osc99", "off"] = "auto"
    """A desktop notification by escape sequence on an alert (the TUI); auto: as the terminal
    advertises (see ``cuadra_top.notify.terminal``)."""
    history: bool = True
    timezone: str | None = None
    """Show times in this zone (an IANA name, UTC or local); None: ``TZ``, else the system's."""
    timeout: float | TimeoutTable = Field(15.0)
    ca_bundle: str | None = None
    org: list[OrgConfig] = Field(default_factory=list)
    notify: list[NotifyConfig] = Field(default_factory=list)

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float | TimeoutTable) -> float | TimeoutTable:
        if isinstance(value, (int, float)) and not 0 < value <= 300:
            raise ValueError("timeout must be between 0 and 300 seconds")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_named(value)  # an UnknownZone is a ValueError: one line naming the key
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _usable_ca_bundle(cls, value: str | None) -> str | None:
        """Checked now, so `config validate` catches it, not the first fetch."""
        if value is None:
            return None
        path = str(Path(value).expanduser())
        problem = ca_file_problem(path)
        if problem:
            raise ValueError(f"{path}: {problem}; {CA_FILE_FIX}, or remove the key")
        return path

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.critical_percent < self.warn_percent:
            raise ValueError("critical_percent must not be below warn_percent")
        seen: set[str] = set()
        for org in self.org:
            if org.name in seen:
                raise ValueError(f"two orgs are named {org.name!r}; names must be unique")
            seen.add(org.name)
        for number, channel in enumerate(self.notify, 1):
            unknown = [name for name in channel.orgs or () if name not in seen]
            if unknown:
                known = ", ".join(sorted(seen)) or "none"
                raise ValueError(f"{channel.label(number)} key orgs: no org named {unknown[0]!r}; "
                                 f"configured: {known}")
        return self

    @property
    def alert_policy(self) -> AlertPolicy:
        return AlertPolicy(hysteresis_points=self.alert_hysteresis,
                           hard_cap_horizon=timedelta(hours=self.alert_402_horizon),
                           failing_intervals=self.alert_failing_intervals)

    def thresholds_for(self, name: str) -> Thresholds:
        """The org's alert thresholds: its own keys where set, else the global ones."""
        return self.thresholds_of(next((o for o in self.org if o.name == name), None))

    def thresholds_of(self, org: OrgConfig | None) -> Thresholds:
        """``org``'s own thresholds over the global ones (an org read afresh from the file, too)."""

        def pick(key: str):
            own = getattr(org, key, None) if org else None
            return own if own is not None else getattr(self, key)

        warn, critical = pick("warn_percent"), pick("critical_percent")
        return Thresholds(warn, max(critical, warn), pick("warn_on_projected_exhaustion"))

    @property
    def timeouts(self) -> Timeouts:
        if isinstance(self.timeout, TimeoutTable):
            return Timeouts(connect=self.timeout.connect, read=self.timeout.read)
        return Timeouts(read=float(self.timeout))


@dataclass
class LoadedConfig:
    """Settings plus where they came from, and any warnings to print (once) to stderr."""

    settings: Settings
    path: Path | None
    source: Literal["file", "env", "demo", "none"]
    warnings: list[str] = field(default_factory=list)

    @property
    def orgs(self) -> list[OrgConfig]:
        return list(self.settings.org)


def resolve_path(cli_path: str | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The config path and whether the user named it explicitly (then it must exist)."""
    if cli_path:
        return Path(cli_path).expanduser(), True
    if environ.get("CUADRA_TOP_CONFIG"):
        return Path(environ["CUADRA_TOP_CONFIG"]).expanduser(), True
    return default_config_path(), False


def load_config(cli_path: str | None = None, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load the config file, or fall back to the environment. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    path, explicit = resolve_path(cli_path, environ)
    if path.is_file():
        loaded = load_file(path, environ)
    elif explicit:
        raise ConfigError(NO_SUCH_FILE.format(path=path))
    else:
        settings = settings_from_env(environ)
        loaded = LoadedConfig(settings, None, "env" if settings.org else "none")
    check_tls(loaded.settings, environ)
    return loaded


NO_SUCH_FILE = "{path}: no such config file; create it (see the README's Configuration) or drop --config"


def load_settings(cli_path: str | None, environ: Mapping[str, str]) -> Settings:
    """The config file's settings alone (defaults without one), for commands that never reach
    the API (``history``): no credential from the environment, no TLS check can stop them."""
    path, explicit = resolve_path(cli_path, environ)
    if path.is_file():
        return load_file(path, environ).settings
    if explicit:
        raise ConfigError(NO_SUCH_FILE.format(path=path))
    return Settings()


def check_tls(settings: Settings, environ: Mapping[str, str]) -> None:
    """SSL_CERT_FILE / SSL_CERT_DIR that cannot serve are a ConfigError (one line naming the
    variable), unless ``ca_bundle`` overrides them; ``ca_bundle`` itself is checked with the
    rest of the file."""
    if settings.ca_bundle is None:
        try:
            check_tls_environment(environ)
        except TLSConfigError as exc:
            raise ConfigError(exc.message) from None


def read_text(path: Path) -> str:
    """The file as text; a ConfigError that says what it is when it is not UTF-8 text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.__class__.__name__}); check its permissions") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{path}: is UTF-16 text; save it as UTF-8")
    if b"\x00" in data:
        raise ConfigError(f"{path}: is not a text file (binary data); the config is a TOML text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text; save it as UTF-8") from None


def load_file(path: Path, environ: Mapping[str, str]) -> LoadedConfig:
    text = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    settings = validate_settings(data, path)
    for org in settings.org:  # known from now on: no message or log line may show them
        for secret in (org.token, org.client_secret):
            remember_secret(secret.get_secret_value() if secret else None)
    warnings = []
    warning = permission_warning(path, settings)
    if warning:
        warnings.append(warning)
    return LoadedConfig(settings, path, "file", warnings)


def check_credentials(loaded: LoadedConfig, environ: Mapping[str, str],
                      names: Sequence[str] | None = None) -> None:
    """Build the credential of every org (or of ``names``) once, so a missing variable fails
    now, in one line, not at the first poll. Only the orgs a run polls need theirs."""
    where = loaded.path or "environment"
    for org in loaded.settings.org:
        if names is None or org.name in names:
            build_credential(org, environ, where)


def reload_org(path: Path, name: str, environ: Mapping[str, str]) -> OrgConfig:
    """One org's table read afresh from the file (a token fixed while the monitor runs), its
    credential checked; raises ConfigError naming what is wrong now."""
    loaded = load_file(path, environ)
    org = next((org for org in loaded.settings.org if org.name == name), None)
    if org is None:
        raise ConfigError(f"{path}: org {name!r} is no longer in the config; restart cuadra-top to apply")
    build_credential(org, environ, path)
    return org


def validate_settings(data: dict[str, Any], path: Path | str) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_config_error(exc, data)}") from None


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = OrgConfig if loc and loc[0] == "org" else Settings
    if loc and loc[0] == "notify":
        model = NotifyConfig
    if loc and loc[0] == "timeout":
        model = TimeoutTable
    return list(model.model_fields)


def _where(loc: tuple[Any, ...], data: Mapping[str, Any]) -> str:
    """`org #2 ("acme") key token_url` from a pydantic location."""
    if len(loc) >= 2 and loc[0] in ("org", "notify") and isinstance(loc[1], int):
        tables = data.get(loc[0]) or []
        table = tables[loc[1]] if isinstance(tables, list) and loc[1] < len(tables) else None
        name = table.get("name") if isinstance(table, dict) else None
        label = f"[[{loc[0]}]] #{loc[1] + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
        rest = [str(p) for p in loc[2:] if not str(p).startswith(("function-", "TimeoutTable", "float"))]
        if len(rest) == 2 and isinstance(loc[-1], int):  # an entry of a list: urls[2]
            rest = [f"{rest[0]}[{loc[-1] + 1}]"]
        return f"{label} key {'.'.join(rest)}" if rest else label
    parts = [str(p) for p in loc if not str(p).startswith(("function-", "TimeoutTable", "float"))]
    return f"key {'.'.join(parts)}" if parts else "top level"


def describe_config_error(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """One line: where, what, and the fix."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    where = _where(loc, data)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _known_keys(loc[:-1]), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(_known_keys(loc[:-1]))}"
        return f"{where}: unknown key; {hint}"
    if kind == "missing":
        return f"{where}: required key is missing; add it"
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc and message.startswith("[["):
        return message  # it names its table itself
    return f"{where}: {message}"


def settings_from_env(environ: Mapping[str, str]) -> Settings:
    """No config file: one org named ``default`` from the environment, or none."""
    org: dict[str, Any] = {"name": "default"}
    if environ.get("CUADRA_API_URL"):
        org["api_url"] = environ["CUADRA_API_URL"]
    if environ.get("CUADRA_TOKEN", "").strip():
        org["token_env"] = "CUADRA_TOKEN"
    elif environ.get("CUADRA_CLIENT_ID", "").strip():
        org["client_id"] = env_client_id(environ, "environment")
        org["client_secret_env"] = "CUADRA_CLIENT_SECRET"
    else:
        return Settings()
    settings = validate_settings({"org": [org]}, "environment")
    build_credential(settings.org[0], environ, "environment")
    return settings


def build_credential(org: OrgConfig, environ: Mapping[str, str], where: Path | str = "config") -> Credential:
    """The credential object for an org; raises ConfigError when its secret cannot be had."""

    def from_env(name: str, key: str, *, token: bool = False) -> SecretStr:
        raw = environ.get(name, "")
        if raw.strip() and token:
            value = without_trailing_newline(raw)
            remember_secret(value)
            problem = header_value_problem(value)
            if problem:
                raise ConfigError(f"{where}: org {org.name!r}: ${name} {problem}; {TOKEN_RULE}")
            return SecretStr(value)
        if raw.strip():
            return SecretStr(raw.strip())
        if looks_like_env_name(name):
            raise ConfigError(f"{where}: org {org.name!r}: {key} names ${name}, which is not set; export it")
        remember_secret(name)  # perhaps the secret itself, put there by mistake: never echo it
        if ENV_NAME.fullmatch(name):  # a variable name, but shaped like a token
            raise ConfigError(f"{where}: org {org.name!r}: {key} must name an environment variable that "
                              "is set (like ACME_TOKEN); its value is not shown, as it looks like a secret")
        raise ConfigError(f"{where}: org {org.name!r}: {key} must name an environment variable "
                          "(like ACME_TOKEN), not hold the secret itself")

    if org.token:
        return StaticToken(org.token)
    if org.token_env:
        return StaticToken(from_env(org.token_env, "token_env", token=True), describe=f"${org.token_env}")
    if org.token_command:
        return CommandToken(org.token_command)
    if org.token_keyring:
        return StaticToken(from_keyring(org, "token_keyring", where), describe="token in the OS keyring")
    token_url = org.token_url or environ.get("CUADRA_AUTH_URL") or DEFAULT_TOKEN_URL
    if org.client_id:
        if org.client_secret:
            secret = org.client_secret
        elif org.client_secret_keyring:
            secret = from_keyring(org, "client_secret_keyring", where)
        else:
            secret = from_env(org.client_secret_env or "CUADRA_CLIENT_SECRET", "client_secret_env")
        try:
            return ClientCredentials(org.client_id, secret, token_url)
        except InsecureURL as exc:
            raise ConfigError(f"{where}: org {org.name!r}: {exc.message}") from None
    # No credential in the file: fall back to the environment's.
    if environ.get("CUADRA_TOKEN", "").strip():
        return StaticToken(from_env("CUADRA_TOKEN", "the environment", token=True), describe="$CUADRA_TOKEN")
    if environ.get("CUADRA_CLIENT_ID", "").strip():
        secret = from_env("CUADRA_CLIENT_SECRET", "the environment")
        return ClientCredentials(env_client_id(environ, where), secret, token_url)
    raise ConfigError(
        f"{where}: org {org.name!r} has no credential; add token, token_env, token_command "
        "or client_id + client_secret"
    )


def from_keyring(org: OrgConfig, key: str, where: Path | str) -> SecretStr:
    """The org's secret from the OS keyring (``keyring`` is imported only now); a ConfigError
    that says what to do when there is none, or no keyring."""
    from cuadra_top import keystore

    entry = f"service {keystore.SERVICE!r}, user {keystore.entry_name(org.name, org.api_url)!r}"
    try:
        secret = keystore.load(org.name, org.api_url)
    except keystore.KeyringUnavailable as exc:
        raise ConfigError(f"{where}: org {org.name!r}: {key} is set but {exc}; use token_env, token_command "
                          "or client_secret_env here instead") from None
    if not secret:
        raise ConfigError(f"{where}: org {org.name!r}: {key} is set but the OS keyring has no entry ({entry}); "
                          f"run: cuadra-top auth login --name {shlex.quote(org.name)}") from None
    secret = without_trailing_newline(secret)
    remember_secret(secret)
    problem = header_value_problem(secret) if key == "token_keyring" else None
    if problem:
        raise ConfigError(f"{where}: org {org.name!r}: the token in the OS keyring {problem}; {TOKEN_RULE}; "
                          f"run: cuadra-top auth login --name {shlex.quote(org.name)}")
    return SecretStr(secret)


def env_client_id(environ: Mapping[str, str], where: Path | str) -> str:
    """``CUADRA_CLIENT_ID``, less a trailing newline; a ConfigError naming it if unusable."""
    value = without_trailing_newline(environ["CUADRA_CLIENT_ID"])
    problem = header_value_problem(value)
    if problem:
        raise ConfigError(f"{where}: $CUADRA_CLIENT_ID {problem}; {CLIENT_ID_RULE}")
    return value


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_TOKEN_LIKE_PART = re.compile(r"(?=.*[0-9])(?:.{16,}|(?=.*[a-z])(?=.*[A-Z]).*)")


def looks_like_env_name(name: str) -> bool:
    """A name ``token_env`` may be shown with: letters, digits and underscores, not starting
    with a digit (``ACME_TOKEN``, ``acme_token``), and not shaped like a token itself: no
    underscore-separated part that holds digits and is long (``ghp_<40 hex>``) or mixes
    cases (``sk_live_51H8xYz...``). Anything else there is likely the secret, never echoed."""
    if not ENV_NAME.fullmatch(name):
        return False
    return not any(_TOKEN_LIKE_PART.fullmatch(part) for part in name.split("_"))


def permission_warning(path: Path, settings: Settings) -> str | None:
    """Like ssh: a file holding a secret must not be readable by group or others."""
    if not any(org.holds_secret for org in settings.org) and not any(n.urls for n in settings.notify):
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"warning: {path} holds a secret and is readable by others "
            f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    return None


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\"}


def toml_string(text: str, *, encoding: str | None = None) -> str:
    """``text`` as a TOML basic string that reads back as ``text``: quotes and backslashes
    escaped, and every character a terminal would act on (see :func:`printable`: C0, DEL, C1,
    line separators, bidi overrides) as a ``\\u`` escape, so printing it moves no cursor and
    retitles no window. ``encoding``: the output's; a character it cannot carry is escaped
    too. A lone surrogate (an undecodable byte in the environment) cannot be TOML: U+FFFD."""
    out = []
    for char in text:
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif 0xD800 <= ord(char) <= 0xDFFF:
            out.append("\\ufffd")
        elif printable(char) != char or (encoding is not None and glyphs.fit_text(char, encoding) != char):
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any, encoding: str | None) -> str:
    if isinstance(value, SecretStr):
        return f'"{MASK}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, BaseModel):
        inner = ", ".join(f"{k} = {_toml_value(v, encoding)}" for k, v in value)
        return "{ " + inner + " }"
    return toml_string(str(value), encoding=encoding)


def render_masked(loaded: LoadedConfig, *, encoding: str | None = None) -> str:
    """The effective configuration as TOML with every secret masked (`config show`).
    ``encoding``: the output's; what it cannot carry is escaped (still the same values)."""
    where = str(loaded.path) if loaded.path else {"env": "the environment", "none": "nothing"}.get(
        loaded.source, loaded.source)
    where = printable(where.encode("utf-8", "replace").decode("utf-8"))  # a TOML comment holds no controls
    lines = [f"# effective configuration, from {glyphs.fit_text(where, encoding)}"]
    for key, value in loaded.settings:
        if key in ("org", "notify") or value is None:
            continue
        lines.append(f"{key} = {_toml_value(value, encoding)}")
    for org in loaded.settings.org:
        lines.append("")
        lines.append("[[org]]")
        for key, value in org:
            if value is None:
                continue
            if key.endswith("_env") and not looks_like_env_name(str(value)):
                value = SecretStr(str(value))  # a secret put where a variable name belongs
            lines.append(f"{key} = {_toml_value(value, encoding)}")
    for channel in loaded.settings.notify:
        lines.append("")
        lines.append("[[notify]]")
        for key, value in channel:
            if value is None:
                continue
            if key == "urls":
                shown = ", ".join(_toml_value(masked_url(url.get_secret_value()), encoding) for url in value)
                lines.append(f"urls = [{shown}]")
                continue
            if key == "orgs":
                lines.append(f"orgs = [{', '.join(_toml_value(name, encoding) for name in value)}]")
                continue
            if key == "urls_env" and not looks_like_env_name(str(value)):
                value = SecretStr(str(value))  # a URL put where a variable name belongs
            if key == "urls_command":
                value = mask_urls_in(str(value))
            lines.append(f"{key} = {_toml_value(value, encoding)}")
    return "\n".join(lines) + "\n"
