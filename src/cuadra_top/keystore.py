"""Secrets in the operating system's credential store, through the ``keyring`` library.

One entry per organization: service ``cuadra-top``, user name ``<org name>@<api_url>`` (the
org's ``name`` and ``api_url`` from its ``[[org]]`` table, the URL without a trailing slash),
holding the org's token (``token_keyring = true``) or its OAuth client secret
(``client_secret_keyring = true``). The URL is part of the name so that two configs that both
call an org ``default`` on different APIs never read each other's secret; renaming the org or
changing its URL by hand therefore needs ``auth login`` again.

``keyring`` costs ~60 ms to import and ~80 ms to pick its backend, so it is imported here, in
the functions, only when a keyring credential is used; start-up never pays for it. A usable
backend is one keyring would really store into: not its ``fail`` backend (none found) nor its
``null`` one (switched off), and of positive priority. Nothing here ever falls back to another
place: without a backend the caller says so and offers the other ways.
"""

from __future__ import annotations

SERVICE = "cuadra-top"


class KeyringUnavailable(Exception):
    """The keyring cannot be used here (no backend, locked, refused); the message says why in
    one line, never with the secret."""


def entry_name(org_name: str, api_url: str) -> str:
    """The keyring user name of an org's secret (see the module's docstring)."""
    return f"{org_name}@{api_url.rstrip('/')}"


def backend_problem() -> str | None:
    """Why no secret can be stored here (one line), or None when a usable backend exists."""
    try:
        import keyring
        from keyring.backends import fail, null
    except Exception as exc:  # a broken install must read as "no keyring", not a traceback
        return f"the keyring library cannot be loaded ({type(exc).__name__})"
    try:
        backend = keyring.get_keyring()
        priority = type(backend).priority
    except Exception as exc:
        return f"the OS keyring cannot be reached ({_reason(exc)})"
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return ("no OS keyring is available here (no Secret Service, Keychain or Credential Manager; "
                "usual in an SSH session without D-Bus or in a container)")
    try:
        usable = float(priority) > 0
    except (TypeError, ValueError):
        usable = False
    if not usable:
        return f"the OS keyring backend {_backend_name(backend)} is not usable (priority {priority})"
    return None


def backend_name() -> str:
    """The backend's name for messages ('SecretService Keyring', 'macOS Keyring')."""
    import keyring

    return _backend_name(keyring.get_keyring())


def store(org_name: str, api_url: str, secret: str) -> None:
    """Keep ``secret`` for the org; raises KeyringUnavailable."""
    problem = backend_problem()
    if problem:
        raise KeyringUnavailable(problem)
    import keyring

    try:
        keyring.set_password(SERVICE, entry_name(org_name, api_url), secret)
    except Exception as exc:
        raise KeyringUnavailable(f"the OS keyring refused to store the secret ({_reason(exc, secret)})") from None


def load(org_name: str, api_url: str) -> str | None:
    """The org's secret, or None when the keyring has no entry for it; raises KeyringUnavailable."""
    problem = backend_problem()
    if problem:
        raise KeyringUnavailable(problem)
    import keyring

    try:
        return keyring.get_password(SERVICE, entry_name(org_name, api_url))
    except Exception as exc:
        raise KeyringUnavailable(f"the OS keyring could not be read ({_reason(exc)})") from None


def delete(org_name: str, api_url: str) -> bool:
    """Remove the org's secret; False when there was none. Raises KeyringUnavailable."""
    problem = backend_problem()
    if problem:
        raise KeyringUnavailable(problem)
    import keyring
    from keyring.errors import PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, entry_name(org_name, api_url))
    except PasswordDeleteError:
        return False
    except Exception as exc:
        raise KeyringUnavailable(f"the OS keyring could not delete the entry ({_reason(exc)})") from None
    return True


def _backend_name(backend: object) -> str:
    return str(getattr(type(backend), "name", type(backend).__name__))


def _reason(exc: BaseException, secret: str | None = None) -> str:
    """The exception's kind and message (backends name the item, not the secret; were one to
    echo it, it is masked here)."""
    text = str(exc)
    if secret:
        text = text.replace(secret, "********")
    text = " ".join(text.split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
