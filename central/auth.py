"""Edge authentication: a bearer API key, known to central only by its SHA-256, maps to one edge."""

import hashlib
import hmac
from collections.abc import Iterable

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


class NotAuthorized(AuthError):
    """A known edge writing a site other than its own (HTTP 403)."""


def key_sha256(key: str) -> str:
    """Lowercase hex SHA-256 of an API key, as written in the registry's `key_sha256`."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class EdgeAuthenticator:
    """Maps bearer keys to registry edges and checks which site an edge may write."""

    def __init__(self, edges: Iterable[Edge]) -> None:
        self._edges = tuple(edges)

    def authenticate(self, key: str | None) -> Edge:
        """The edge holding `key`; raise NotAuthenticated for a missing or unknown key."""
        if not key:
            raise MissingKey("missing API key: send 'Authorization: Bearer <edge key>'")
        digest = key_sha256(key)
        found: Edge | None = None
        # compare_digest against every edge, without stopping early, so that the time taken
        # says nothing about how close a guess came to a stored hash.
        for edge in self._edges:
            if hmac.compare_digest(digest, edge.key_sha256):
                found = edge
        if found is None:
            raise UnknownKey("unknown API key: no edge of the registry holds it")
        return found

    @staticmethod
    def authorize(edge: Edge, site: str) -> None:
        """Raise NotAuthorized unless `edge` may write readings of `site`."""
        if site != edge.site:
            raise NotAuthorized(f"edge {edge.id!r} may write only site {edge.site!r}, not {site!r}")
