"""Read access: bearer tokens with a role (viewer of a site, viewer of a region, admin).

Tokens are created with `canteen-central keys create-token` and stored as SHA-256 in the
credentials table; `CENTRAL_ADMIN_TOKEN_SHA256` adds one bootstrap admin token from settings (the
demo harness uses it). Which sites a token may read is decided here, against the registry.
"""

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from central.auth import (
    MissingKey,
    NotAuthorized,
    RevokedKey,
    UnknownKey,
    key_sha256,
    revoked_reason,
)
from central.credentials import READ_ROLES, CredentialStore, Role
from central.registry import Registry, Site

BOOTSTRAP_ADMIN = "bootstrap-admin"


@dataclass(frozen=True, slots=True)
class Reader:
    """Who is reading: a token's or a user's name, role and scope (site id, `key:value` region
    tag, or '')."""

    name: str
    role: Role
    scope: str = ""
    kind: str = "token"  # 'token' (Authorization: Bearer) or 'user' (a sign-in session)

    def may_read(self, site: Site) -> bool:
        if self.role is Role.ADMIN:
            return True
        if self.role is Role.SITE:
            return site.id == self.scope
        if self.role is Role.REGION:
            key, _, value = self.scope.partition(":")
            return site.region.get(key) == value
        return False

    def visible_sites(self, registry: Registry) -> list[Site]:
        """The registry's sites this reader may see, in registry order."""
        return [site for site in registry.sites.values() if self.may_read(site)]

    def check_site(self, registry: Registry, site_id: str) -> None:
        """Raise NotAuthorized (403, naming the site) unless this reader may read `site_id`.

        An admin asking for an unknown site passes (the route answers 404); anybody else is told
        403, so that a scoped token cannot probe which site ids exist.
        """
        if self.role is Role.ADMIN:
            return
        site = registry.site(site_id)
        if site is None or not self.may_read(site):
            raise NotAuthorized(
                f"{self.kind} {self.name!r} ({self.describe()}) may not read site {site_id[:64]!r}"
            )

    def check_region(self, registry: Registry, region: str) -> None:
        """Raise NotAuthorized unless this reader may read every site of `region` (`key:value`).

        A region viewer may ask for its own region or any region inside it (a city of its
        province); a site viewer may ask for a region that holds only its site. An empty or
        unknown region is 403 for scoped readers, for the same reason as an unknown site.
        """
        if self.role is Role.ADMIN:
            return
        key, _, value = region.partition(":")
        members = [site for site in registry.sites.values() if site.region.get(key) == value]
        if not members or not all(self.may_read(site) for site in members):
            raise NotAuthorized(
                f"{self.kind} {self.name!r} ({self.describe()}) may not read region {region[:64]!r}"
            )

    def describe(self) -> str:
        if self.role is Role.ADMIN:
            return "admin"
        if self.role is Role.SITE:
            return f"viewer of site {self.scope}"
        return f"viewer of region {self.scope}"


class ReadAuthenticator:
    """Maps bearer read tokens to Readers: the credentials table, then the bootstrap admin hash."""

    def __init__(
        self, credentials: CredentialStore | None, admin_token_sha256: Iterable[str] = ()
    ) -> None:
        self._credentials = credentials
        self._admin_hashes = tuple(h.lower() for h in admin_token_sha256)

    def authenticate(self, token: str | None) -> Reader:
        """The reader holding `token`; raise NotAuthenticated. Blocking (one SQLite lookup)."""
        if not token:
            raise MissingKey("missing read token: send 'Authorization: Bearer <token>'")
        digest = key_sha256(token)
        if self._credentials is not None:
            stored = self._credentials.by_secret_sha256(digest)
            if stored is not None:
                if stored.role not in READ_ROLES:
                    raise UnknownKey("this is an edge API key, not a read token")
                if stored.revoked_ms is not None:
                    raise RevokedKey(revoked_reason(f"read token {stored.id!r}", stored.revoked_ms))
                return Reader(name=stored.id, role=stored.role, scope=stored.scope)
        found = False
        for admin_hash in self._admin_hashes:
            found |= hmac.compare_digest(digest, admin_hash)
        if found:
            return Reader(name=BOOTSTRAP_ADMIN, role=Role.ADMIN)
        raise UnknownKey("unknown read token")
