"""One place that knows every secret, so every output can be scrubbed of them.

Credentials register each secret they hold or learn (static tokens, client secrets, access
tokens, a ``token_command``'s output) with :func:`remember_secret`. :func:`redact` replaces
each of them, and anything shaped like a bearer token or a secret-bearing field, with a mask.
Error messages, ``--once`` output and the debug log all pass through it.
"""

from __future__ import annotations

import re

MASK = "********"
_SECRETS: set[str] = set()
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"(?i)(\"?(?:client_secret|access_token|refresh_token|authorization)\"?\s*[:=]\s*\"?)[^\s\"',;}]+"),
)


def remember_secret(value: str | None) -> None:
    """Register a secret; short strings are ignored (masking "ab" everywhere would garble text)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
