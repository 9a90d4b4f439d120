"""The Add organization screen: ``cuadra-top auth login`` inside the app.

Opened at start when no org is configured (instead of exiting), and from the command palette.
It asks for the same things as ``auth login``, checks the credential live with the same code
(:mod:`cuadra_top.onboarding`), keeps the secret where the user chose (the OS keyring when it
works; else an environment variable or, said in so many words, the config file with mode
0600), writes the ``[[org]]`` table, and hands the org to the running monitor, which starts
polling it at once. A failed check keeps everything typed, with the API's answer and what to do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from cuadra_top.api.auth import DEFAULT_TOKEN_URL
from cuadra_top.api.client import DEFAULT_API_URL
from cuadra_top.onboarding import LoginError, NewOrg, keyring_problem, save, verify

KINDS = [("OAuth client credentials (recommended for tools)", "client"), ("A bearer token", "token")]
KEYRING = ("the OS keyring", "keyring")
ELSEWHERE = [("an environment variable (its name goes into the config)", "env"),
             ("the config file, readable only by you (mode 0600)", "config")]


class AddOrgScreen(ModalScreen[str | None]):
    """Dismissed with the new org's name once it is saved and polled, or None (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="addorg.cancel")]

    DEFAULT_CSS = """
    AddOrgScreen { align: center middle; }
    AddOrgScreen > VerticalScroll {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; padding: 0 1; background: $surface;
    }
    AddOrgScreen Label { margin-top: 1; color: $text-muted; }
    AddOrgScreen .-hidden { display: none; }
    AddOrgScreen #addorg-message { margin-top: 1; color: $warning; }
    AddOrgScreen #addorg-message.-error { color: $error; text-style: bold; }
    AddOrgScreen #addorg-buttons { height: auto; margin-top: 1; }
    AddOrgScreen Button { margin-right: 2; }
    """

    def __init__(self, config_path: Path, *, first: bool = False) -> None:
        super().__init__()
        self.config_path = config_path
        self.first = first
        self.keyring_problem: str | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        with VerticalScroll() as form:
            form.border_title = "Add organization"
            if self.first:
                yield Static("No organization is configured yet. Add one (Escape leaves the app empty; "
                             "ctrl+p, Add organization, brings this back).")
            yield Label("Name (as cuadra-top shows it)")
            yield Input(id="addorg-name", placeholder="acme")
            yield Label("API URL")
            yield Input(DEFAULT_API_URL, id="addorg-url")
            yield Label("Credential")
            yield Select(KINDS, value="client", allow_blank=False, id="addorg-kind")
            yield Label("Client ID", id="addorg-client-label")
            yield Input(id="addorg-client", placeholder="m2m_...")
            yield Label("OAuth token URL", id="addorg-token-url-label")
            yield Input(DEFAULT_TOKEN_URL, id="addorg-token-url")
            yield Label("Keep the secret in")
            yield Select([KEYRING, *ELSEWHERE], value="keyring", allow_blank=False, id="addorg-storage")
            yield Label("Environment variable", id="addorg-env-label", classes="-hidden")
            yield Input(id="addorg-env", placeholder="ACME_CUADRA_SECRET", classes="-hidden")
            yield Label("Client secret (not shown)", id="addorg-secret-label")
            yield Input(id="addorg-secret", password=True)
            yield Static("", id="addorg-message")
            with Horizontal(id="addorg-buttons"):
                yield Button("Check and add", variant="primary", id="addorg-add")
                yield Button("Cancel", id="addorg-cancel")

    def on_mount(self) -> None:
        self.query_one("#addorg-name", Input).focus()
        self._show_fields()
        self._probe_keyring()

    @work(thread=True, exclusive=True, group="keyring")
    def _probe_keyring(self) -> None:
        """Whether the OS keyring can take a secret (importing keyring and choosing its backend
        take ~150 ms: not on the event loop)."""
        problem = keyring_problem()
        self.app.call_from_thread(self._keyring_known, problem)

    def _keyring_known(self, problem: str | None) -> None:
        self.keyring_problem = problem
        if problem is None or not self.is_attached:
            return
        storage = self.query_one("#addorg-storage", Select)
        storage.set_options(ELSEWHERE)
        storage.value = "env"
        self._say(f"The secret cannot go into the OS keyring: {problem}. Choose where it comes from.")

    # -- the form -------------------------------------------------------------------------------
    @on(Select.Changed)
    def _changed(self) -> None:
        self._show_fields()

    def _show_fields(self) -> None:
        client = self.query_one("#addorg-kind", Select).value == "client"
        env = self.query_one("#addorg-storage", Select).value == "env"
        for widget_id in ("#addorg-client-label", "#addorg-client", "#addorg-token-url-label", "#addorg-token-url"):
            self.query_one(widget_id).set_class(not client, "-hidden")
        for widget_id in ("#addorg-env-label", "#addorg-env"):
            self.query_one(widget_id).set_class(not env, "-hidden")
        for widget_id in ("#addorg-secret-label", "#addorg-secret"):
            self.query_one(widget_id).set_class(env, "-hidden")
        self.query_one("#addorg-secret-label", Label).update("Client secret (not shown)" if client
                                                             else "Token (not shown)")

    def _value(self, widget_id: str) -> str:
        return self.query_one(widget_id, Input).value.strip()

    def new_org(self) -> NewOrg:
        """The org as the form describes it; LoginError naming what is missing."""
        name = self._value("#addorg-name")
        if not name:
            raise LoginError("give the organization a name", usage=True)
        kind = str(self.query_one("#addorg-kind", Select).value)
        storage = str(self.query_one("#addorg-storage", Select).value)
        new = NewOrg(name=name, api_url=self._value("#addorg-url") or DEFAULT_API_URL, kind=kind,  # type: ignore[arg-type]
                     storage=storage)  # type: ignore[arg-type]
        if kind == "client":
            new.client_id = self._value("#addorg-client")
            new.token_url = self._value("#addorg-token-url") or None
            if not new.client_id:
                raise LoginError("give the client ID", usage=True)
        if storage == "env":
            new.env_name = self._value("#addorg-env")
            if not new.env_name:
                raise LoginError("give the name of the environment variable that holds the secret", usage=True)
        else:
            secret = self.query_one("#addorg-secret", Input).value.strip()
            if not secret:
                raise LoginError(f"give the {'client secret' if kind == 'client' else 'token'}", usage=True)
            new.secret = SecretStr(secret)
        if name in self.app.monitor.names:
            raise LoginError(f"an org named {name!r} is already watched; choose another name", usage=True)
        return new

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#addorg-message", Static)
        message.update(text)
        message.set_class(error, "-error")

    # -- actions --------------------------------------------------------------------------------
    @on(Input.Submitted)
    @on(Button.Pressed, "#addorg-add")
    def _submit(self) -> None:
        if self.busy:
            return
        try:
            new = self.new_org()
        except LoginError as exc:
            self._say(exc.message, error=True)
            return
        self.busy = True
        self._say(f"checking {new.name} at {new.api_url} ...")
        self._add(new)

    @on(Button.Pressed, "#addorg-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="add")
    async def _add(self, new: NewOrg) -> None:
        """Check live, save, and hand the org to the monitor; a failure keeps the form as it is."""
        monitor = self.app.monitor
        try:
            checked_with, checked = await verify(new, monitor.settings, monitor.environ)
            await asyncio.to_thread(save, new, self.config_path)  # the keyring and the disk may block
        except LoginError as exc:
            self._say(exc.message, error=True)
            return
        finally:
            self.busy = False
        self.app.add_org(checked_with)
        self.app.notify(f"added {new.name}: {checked.summary()}", timeout=8)
        self.dismiss(new.name)
