"""Which account an org's samples belong to: its series key in the history.

Org names are for people and get reused (two configs both call their org ``default``). The
key is the API URL plus the credential's identity: ``client:<client_id>`` for OAuth client
credentials, ``org:<claim>`` for a JWT bearer token that carries an organization claim
(:mod:`cuadra_top.api.claims`). Never a secret, nor anything derived from one. A credential
with no identity (an opaque token) falls back to the org's name: a rotated token then keeps
its history, and the forecast's series rule keeps apart accounts that share a name.

A ``token_command``'s identity is known only once the command has run: until then the key is
None, and it is settled by the org's first successful fetch (``Fleet.fetch`` puts the key in
each ``OrgResult``; ``Trends`` then reads that series). If the command later prints a token
of another organization, the key changes with it and the org starts a new series.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from cuadra_top.api.auth import Credential


def series_key(api_url: str, credential: Credential, name: str) -> str | None:
    """The history key of the org ``name`` reached at ``api_url`` with ``credential``; None
    while the credential cannot tell its identity yet."""
    if not getattr(credential, "identity_settled", True):
        return None
    identity = getattr(credential, "identity", None)
    return f"{_site(api_url)} {identity or 'name:' + name}"


def site(api_url: str) -> str:
    """The part of every series key of ``api_url`` before the space and the identity."""
    return _site(api_url)


def _site(api_url: str) -> str:
    """The API URL without a trailing slash, user info, query or fragment; scheme and host in
    lower case. A space never occurs in it, so it cannot run into the identity."""
    parts = urlsplit(api_url.strip())
    host = parts.netloc.rpartition("@")[2].lower()
    return f"{parts.scheme.lower()}://{host}{parts.path.rstrip('/')}".replace(" ", "%20")
