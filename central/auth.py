"""Edge authentication: a bearer API key, known to central only by its SHA-256, maps to one edge.

Two sources of edge keys, checked in this order (docs/security.md, "Precedence"):

1. the credentials table (`canteen-central keys create-edge`): a revoked key is refused, a valid
   one names its edge and site;
2. the registry's [[edges]] entries (bootstrap): accepted only while the credentials table holds
   nothing for that edge id, so that creating or revoking a key for an edge in the table replaces
   or ends its registry key without editing the registry.
"""

import hashlib
import hmac
from collections.abc import Collection, Iterable
from datetime import UTC, datetime

from central.credentials import CredentialStore, Role
from central.errors import CentralError
from central.registry import Edge


class AuthError(CentralError):
    """Base class of refused requests."""


class NotAuthenticated(AuthError):
    """No key, or a key no edge of the registry holds (HTTP 401)."""


class MissingKey(NotAuthenticated):
    """The request carries no bearer key."""


class UnknownKey(NotAuthenticated):
    """The bearer key matches no edge."""


class RevokedKey(NotAuthenticated):
    """The bearer key was revoked with `canteen-central keys revoke`."""


class BadSignature(NotAuthenticated):
    """An upload whose signature is missing, stale or wrong (contract/signing.py)."""


class NotAuthorized(AuthError):
    """A known edge writing a site other than its own, or a reader outside its scope (HTTP 403)."""


def key_sha256(key: str) -> str:
    """Lowercase hex SHA-256 of an API key, as written in the registry's `key_sha256`."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def revoked_reason(what: str, revoked_ms: int) -> str:
    when = datetime.fromtimestamp(revoked_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{what} was revoked at {when}"


class EdgeAuthenticator:
    """Maps bearer keys to edges (credentials table, then registry) and checks their one site."""

    def __init__(
        self,
        edges: Iterable[Edge],
        credentials: CredentialStore | None = None,
        sites: Collection[str] | None = None,
    ) -> None:
        self._edges = tuple(edges)
        self._credentials = credentials
        self._sites = sites

    def authenticate(self, key: str | None) -> Edge:
        """The edge holding `key`; raise NotAuthenticated for a missing, unknown or revoked key.

        Blocking (one SQLite lookup): call it from a worker thread in async code.
        """
        if not key:
            raise MissingKey("missing API key: send 'Authorization: Bearer <edge key>'")
        digest = key_sha256(key)
        if self._credentials is not None:
            stored = self._credentials.by_secret_sha256(digest)
            if stored is not None:
                if stored.role is not Role.EDGE:
                    raise UnknownKey("this is a read token, not an edge API key")
                if stored.revoked_ms is not None:
                    raise RevokedKey(
                        revoked_reason(f"the API key of edge {stored.id!r}", stored.revoked_ms)
                    )
                if self._sites is not None and stored.scope not in self._sites:
                    raise NotAuthorized(
                        f"edge {stored.id!r} is for site {stored.scope!r}, which the registry "
                        "does not list"
                    )
                return Edge(id=stored.id, site=stored.scope, key_sha256=stored.secret_sha256)
        found: Edge | None = None
        # compare_digest against every edge, without stopping early, so that the time taken
        # says nothing about how close a guess came to a stored hash.
        for edge in self._edges:
            if hmac.compare_digest(digest, edge.key_sha256):
                found = edge
        if found is None:
            raise UnknownKey("unknown API key: no edge of the registry holds it")
        if self._credentials is not None and self._credentials.has_id(found.id):
            raise RevokedKey(
                f"the registry key of edge {found.id!r} is superseded: the edge has a key "
                "managed with `canteen-central keys` (or it was revoked there)"
            )
        return found

    @staticmethod
    def authorize(edge: Edge, site: str) -> None:
        """Raise NotAuthorized unless `edge` may write readings of `site`."""
        if site != edge.site:
            raise NotAuthorized(f"edge {edge.id!r} may write only site {edge.site!r}, not {site!r}")
