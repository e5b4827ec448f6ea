"""Credentials managed by `canteen-central keys`: edge API keys and read tokens, stored hashed.

They live in the `credentials` table of central's SQLite database (CENTRAL_SQLITE_PATH), beside
the readings, so that the CLI can create and revoke them while central runs: central looks each
presented secret up per request, so a revocation takes effect on the next request.

Only the lowercase hex SHA-256 of a secret is stored. Secrets are 256 random bits from the
`secrets` module, so a fast hash is enough: there is nothing to guess that a slow hash would
protect (unlike passwords chosen by people).
"""

import hashlib
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from central import sqlite_file
from central.errors import CentralError
from contract.topics import ID_PATTERN

SECRET_BYTES = 32  # 256 bits of randomness
_ID_RE = re.compile(f"^{ID_PATTERN}$")
# A region scope is one tag of the registry's `region` table, `key:value` (province:Zhejiang).
_REGION_RE = re.compile(r"^[^:\s][^:]{0,63}:[^:\s].{0,127}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (
    id TEXT NOT NULL,              -- edge id, or the name of a read token
    kind TEXT NOT NULL,            -- 'edge' or 'read'
    role TEXT NOT NULL,            -- 'edge', 'site', 'region' or 'admin'
    scope TEXT NOT NULL,           -- the edge's site, the viewer's site or region tag, '' for admin
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER,            -- NULL while the credential is valid
    note TEXT NOT NULL DEFAULT ''
);
-- One valid credential per id; revoked ones stay as a record (and to refuse their secret).
CREATE UNIQUE INDEX IF NOT EXISTS credentials_active_id ON credentials (id)
    WHERE revoked_ms IS NULL;
"""


class CredentialError(CentralError):
    """A credential cannot be created, found or revoked; `reason` says why."""


class Role(StrEnum):
    """What a credential may do."""

    EDGE = "edge"  # write readings of its one site (POST /ingest)
    SITE = "site"  # read one site
    REGION = "region"  # read every site whose registry region has the tag key:value
    ADMIN = "admin"  # read every site


READ_ROLES = (Role.SITE, Role.REGION, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Credential:
    """One row of the credentials table (never the secret itself)."""

    id: str
    role: Role
    scope: str
    secret_sha256: str
    created_ms: int
    revoked_ms: int | None = None
    note: str = ""

    @property
    def kind(self) -> str:
        return "edge" if self.role is Role.EDGE else "read"

    @property
    def revoked(self) -> bool:
        return self.revoked_ms is not None


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A freshly created credential and its secret, which is shown once and never stored."""

    credential: Credential
    secret: str


def secret_sha256(secret: str) -> str:
    """Lowercase hex SHA-256 of a key or token, as stored (and as the registry's key_sha256)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def check_scope(role: Role, scope: str) -> str:
    """The scope a role needs: a site id for edge and site, `key:value` for region, '' for admin."""
    if role in (Role.EDGE, Role.SITE):
        if not _ID_RE.match(scope):
            raise CredentialError(f"site id {scope!r} must be 1-64 letters, digits, '-' or '_'")
    elif role is Role.REGION:
        if not _REGION_RE.match(scope):
            raise CredentialError(
                f"region {scope!r} must be one registry region tag 'key:value', "
                "e.g. province:Zhejiang"
            )
    elif scope:
        raise CredentialError("an admin token has no scope")
    return scope


class CredentialStore(sqlite_file.FileStore):
    """`with CredentialStore(path) as store:` the credentials table of central's SQLite file.

    Thread-safe: one connection behind a lock (central calls it from worker threads; lookups are
    one indexed SELECT).
    """

    _schema = _SCHEMA
    _error = CredentialError
    _name = "credentials database"

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000, read_only: bool = False) -> None:
        super().__init__(path, busy_timeout_ms=busy_timeout_ms)
        # Read-only: opens an existing file without writing to it; creates no file or table.
        self.read_only = read_only

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            return super()._connect()
        if not self.path.is_file():
            raise CredentialError(f"no database at {self.path}")
        try:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,  # guarded by self._lock
            )
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'credentials'"
            ).fetchone()
        except sqlite3.Error as exc:
            raise CredentialError(f"cannot read credentials database {self.path}: {exc}") from exc
        if found is None:
            conn.close()
            raise CredentialError(
                f"{self.path} holds no credentials table (not central's database?)"
            )
        return conn

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    # --- lookups (central, per request) -------------------------------------------------------

    def by_secret_sha256(self, digest: str) -> Credential | None:
        """The credential (valid or revoked) whose secret hashes to `digest`."""
        rows = self._query(f"{_SELECT} WHERE secret_sha256 = ?", (digest.lower(),))
        return _credential(rows[0]) if rows else None

    def has_id(self, credential_id: str) -> bool:
        """Whether any credential, valid or revoked, was ever created under this id."""
        return bool(self._query("SELECT 1 FROM credentials WHERE id = ? LIMIT 1", (credential_id,)))

    def all(self) -> list[Credential]:
        return [_credential(row) for row in self._query(f"{_SELECT} ORDER BY created_ms, id")]

    # --- management (the CLI) -----------------------------------------------------------------

    def create(
        self, credential_id: str, role: Role, scope: str = "", *, note: str = ""
    ) -> NewSecret:
        """A new credential with a fresh secret; refuse an id that already has a valid one."""
        if not _ID_RE.match(credential_id):
            raise CredentialError(f"id {credential_id!r} must be 1-64 letters, digits, '-' or '_'")
        check_scope(role, scope)
        secret = new_secret()
        credential = Credential(
            id=credential_id,
            role=role,
            scope=scope,
            secret_sha256=secret_sha256(secret),
            created_ms=time.time_ns() // 1_000_000,
            note=note,
        )
        self._insert(credential)
        return NewSecret(credential=credential, secret=secret)

    def add_revoked(self, credential_id: str, role: Role, scope: str, digest: str) -> Credential:
        """Record a secret known only by its hash (a registry edge key) as revoked."""
        now_ms = time.time_ns() // 1_000_000
        credential = Credential(
            id=credential_id,
            role=role,
            scope=check_scope(role, scope),
            secret_sha256=digest.lower(),
            created_ms=now_ms,
            revoked_ms=now_ms,
            note="registry key, revoked",
        )
        self._insert(credential)
        return credential

    def _insert(self, credential: Credential) -> None:
        with self._connection() as conn:
            try:
                conn.execute(
                    "INSERT INTO credentials "
                    "(id, kind, role, scope, secret_sha256, created_ms, revoked_ms, note) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        credential.id,
                        credential.kind,
                        credential.role.value,
                        credential.scope,
                        credential.secret_sha256,
                        credential.created_ms,
                        credential.revoked_ms,
                        credential.note,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise CredentialError(
                    f"{credential.id!r} already has a valid credential (or this secret is "
                    "known already); revoke it first"
                ) from exc

    def revoke(self, credential_id: str) -> Credential:
        """Revoke the valid credential of `credential_id`; CredentialError if there is none."""
        now_ms = time.time_ns() // 1_000_000
        with self._connection() as conn:
            row = conn.execute(
                f"UPDATE credentials SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL "
                f"RETURNING {_COLUMNS}",
                (now_ms, credential_id),
            ).fetchone()
        if row is None:
            raise CredentialError(f"no valid credential with id {credential_id!r}")
        return _credential(row)


_COLUMNS = "id, role, scope, secret_sha256, created_ms, revoked_ms, note"
_SELECT = f"SELECT {_COLUMNS} FROM credentials"


def _credential(row: tuple[object, ...]) -> Credential:
    credential_id, role, scope, digest, created_ms, revoked_ms, note = row
    return Credential(
        id=str(credential_id),
        role=Role(str(role)),
        scope=str(scope),
        secret_sha256=str(digest),
        created_ms=int(str(created_ms)),
        revoked_ms=None if revoked_ms is None else int(str(revoked_ms)),
        note=str(note),
    )
