"""What a bearer token says about its organization, read without verifying it.

Only used to tell accounts apart in the local history, never to authorize anything: a JWT's
payload is base64url JSON that anyone holding the token can read. A token that is not a JWT,
or carries no organization claim, or anything malformed gives None, never an error.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

ORG_CLAIMS = (
    "org_id", "organization_id", "orgId", "organizationId", "org", "organization",
    "tenant_id", "tenantId", "tenant", "tid",
)
"""Claim names identity providers use for the organization (Auth0 ``org_id``, Azure ``tid``...),
in order of preference. A namespaced custom claim ending in one of them counts too
(``https://cuadra.ai/org_id``)."""
MAX_TOKEN_LENGTH = 16 * 1024
MAX_CLAIM_LENGTH = 256
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_NAMESPACE = re.compile(r"[/:#]")


def org_claim(token: str) -> str | None:
    """The organization claim of a JWT (a JWS: three dot-separated parts), or None."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return None
    parts = token.strip().split(".")
    if len(parts) != 3 or not _BASE64URL.fullmatch(parts[1]):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, RecursionError):  # not base64, not UTF-8, not JSON, absurdly nested
        return None
    if not isinstance(payload, dict):
        return None
    for claim in ORG_CLAIMS:
        value = _usable(payload.get(claim))
        if value is not None:
            return value
    for claim, raw in payload.items():
        if claim not in ORG_CLAIMS and _NAMESPACE.split(claim)[-1] in ORG_CLAIMS:
            value = _usable(raw)
            if value is not None:
                return value
    return None


def token_identity(token: str) -> str | None:
    """``org:<claim>`` for a JWT with an organization claim, else None."""
    claim = org_claim(token)
    return None if claim is None else f"org:{claim}"


def _usable(value: Any) -> str | None:
    """A claim value as an identity: a short printable string or an integer (or an object's
    ``id``, as some providers nest it); anything else is no identity."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_CLAIM_LENGTH or not value.isprintable():
        return None
    return value
