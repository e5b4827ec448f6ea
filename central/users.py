"""Dashboard users: passwords (argon2id), sign-in sessions and the lockout after failed sign-ins.

Everything lives in central's SQLite file (CENTRAL_SQLITE_PATH) beside the credentials table, so
that `canteen-central users` can add, reset and disable users while central runs; central looks
a session up on every request, so disabling a user or changing its password ends its sessions at
the next request.

Passwords are hashed with argon2id (argon2-cffi's PasswordHasher, RFC 9106's second recommended
parameter set: 64 MiB, 3 passes). A session id is 256 random bits: like the read tokens, only its
SHA-256 is stored (credentials.py explains why a fast hash is enough for random secrets).
"""

import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from central import sqlite_file
from central.credentials import READ_ROLES, CredentialError, Role, check_scope, secret_sha256
from central.errors import CentralError
from contract.topics import ID_PATTERN

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; this bounds the work per sign-in attempt
_NAME_RE = re.compile(f"^{ID_PATTERN}$")
# Seconds between two writes of a session's last use: the idle timeout is this coarse, and a
# burst of dashboard requests costs one UPDATE, not one per request.
TOUCH_INTERVAL_MS = 60_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,            -- 'site', 'region' or 'admin', as read tokens
    scope TEXT NOT NULL,           -- the site id, the region tag 'key:value', '' for admin
    password_hash TEXT NOT NULL,   -- argon2id, PHC string format
    created_ms INTEGER NOT NULL,
    password_changed_ms INTEGER NOT NULL,
    disabled_ms INTEGER            -- NULL while the user may sign in
);
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,    -- SHA-256 of the cookie's value; the value is never stored
    user TEXT NOT NULL REFERENCES users (name),
    created_ms INTEGER NOT NULL,
    last_used_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user);
-- Failed sign-ins per 'user:<name>' and per 'addr:<client address>' (lockout).
CREATE TABLE IF NOT EXISTS sign_in_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    locked_until_ms INTEGER
);
"""


class UserError(CentralError):
    """A user cannot be created, found or changed; `reason` says why."""


@dataclass(frozen=True, slots=True)
class User:
    """One row of the users table (never the password hash)."""

    name: str
    role: Role
    scope: str
    created_ms: int
    password_changed_ms: int
    disabled_ms: int | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_ms is not None


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """How long a session lasts: from sign-in (`max_age_s`) and since its last use (`idle_s`)."""

    max_age_s: float
    idle_s: float


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Failed sign-ins allowed per user name and per client address within `window_s`; one more
    locks that name or address out for `lockout_s`."""

    max_failures_per_user: int
    max_failures_per_address: int
    window_s: float
    lockout_s: float


def check_password(password: str) -> str:
    """The password if it is acceptable; UserError saying what is wrong otherwise."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise UserError(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    return password


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class UserStore(sqlite_file.FileStore):
    """`with UserStore(path) as users:` users, sessions and sign-in failures in central's SQLite.

    Thread-safe: one connection behind a lock. Hashing and verifying a password (~50 ms of CPU,
    64 MiB) happen outside the lock; call the blocking methods from a worker thread in async code.
    """

    _schema = _SCHEMA
    _error = UserError
    _name = "users database"

    def __init__(
        self,
        path: Path,
        *,
        hasher: PasswordHasher | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        busy_timeout_ms: int = 5000,
    ) -> None:
        super().__init__(path, busy_timeout_ms=busy_timeout_ms)
        self.hasher = hasher or PasswordHasher()
        self.clock_ms = clock_ms
        # Verified against when the user does not exist, so that an unknown name takes as long
        # as a wrong password (no user enumeration by timing); made at the first such sign-in.
        self._dummy_hash: str | None = None

    def _run(self, *statements: tuple[str, tuple[object, ...]]) -> list[tuple[object, ...]]:
        """Run statements in one transaction; the rows of the last one."""
        with self._connection() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                rows: list[tuple[object, ...]] = []
                for sql, params in statements:
                    rows = conn.execute(sql, params).fetchall()
                conn.execute("COMMIT")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return rows

    # --- management (the CLI) -----------------------------------------------------------------

    def add(self, name: str, role: Role, scope: str, password: str) -> User:
        """A new user; UserError when the name is taken or the password too short."""
        if not _NAME_RE.match(name):
            raise UserError(f"user name {name!r} must be 1-64 letters, digits, '-' or '_'")
        if role not in READ_ROLES:
            raise UserError(f"role {role.value!r} is not a reader's role")
        try:
            check_scope(role, scope)
        except CredentialError as exc:
            raise UserError(exc.reason) from exc
        password_hash = self.hasher.hash(check_password(password))
        now_ms = self.clock_ms()
        if self.get(name) is not None:
            raise UserError(f"user {name!r} exists already: use `users passwd` to reset it")
        self._run(
            (
                "INSERT INTO users (name, role, scope, password_hash, created_ms, "
                "password_changed_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (name, role.value, scope, password_hash, now_ms, now_ms),
            )
        )
        return User(name, role, scope, now_ms, now_ms)

    def set_password(self, name: str, password: str) -> User:
        """Reset a user's password: its sessions end and its lockout is lifted; it is enabled."""
        password_hash = self.hasher.hash(check_password(password))
        now_ms = self.clock_ms()
        rows = self._run(
            ("DELETE FROM sessions WHERE user = ?", (name,)),
            ("DELETE FROM sign_in_failures WHERE key = ?", (f"user:{name}",)),
            (
                "UPDATE users SET password_hash = ?, password_changed_ms = ?, disabled_ms = NULL "
                f"WHERE name = ? RETURNING {_COLUMNS}",
                (password_hash, now_ms, name),
            ),
        )
        if not rows:
            raise UserError(f"no user {name!r}")
        return _user(rows[0])

    def disable(self, name: str) -> User:
        """Refuse the user's sign-ins and end its sessions (the row stays, as a record)."""
        rows = self._run(
            ("DELETE FROM sessions WHERE user = ?", (name,)),
            (
                f"UPDATE users SET disabled_ms = ? WHERE name = ? AND disabled_ms IS NULL "
                f"RETURNING {_COLUMNS}",
                (self.clock_ms(), name),
            ),
        )
        if not rows:
            raise UserError(f"no enabled user {name!r}")
        return _user(rows[0])

    def get(self, name: str) -> User | None:
        rows = self._run((f"SELECT {_COLUMNS} FROM users WHERE name = ?", (name,)))
        return _user(rows[0]) if rows else None

    def all(self) -> list[User]:
        return [_user(r) for r in self._run((f"SELECT {_COLUMNS} FROM users ORDER BY name", ()))]

    # --- sign-in (central) --------------------------------------------------------------------

    def locked_for_s(self, name: str, address: str) -> float:
        """Seconds until `name` and `address` may try again (0: they may now)."""
        now_ms = self.clock_ms()
        rows = self._run(
            (
                "SELECT max(locked_until_ms) FROM sign_in_failures WHERE key IN (?, ?)",
                (f"user:{name}", f"addr:{address}"),
            )
        )
        until_ms = rows[0][0] if rows else None
        return max(0.0, (int(str(until_ms)) - now_ms) / 1000) if until_ms is not None else 0.0

    def verify(self, name: str, password: str) -> User | None:
        """The enabled user whose password this is, else None. Blocking (~50 ms of CPU)."""
        rows = self._run(
            (f"SELECT {_COLUMNS}, password_hash FROM users WHERE name = ?", (name,)),
        )
        if rows:
            stored = str(rows[0][-1])
        else:
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
            stored = self._dummy_hash
        try:
            self.hasher.verify(stored, password[:MAX_PASSWORD_CHARS])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        user = _user(rows[0][:-1])
        if user.disabled:
            return None
        if self.hasher.check_needs_rehash(stored):  # parameters raised since it was hashed
            self._run(
                (
                    "UPDATE users SET password_hash = ? WHERE name = ?",
                    (self.hasher.hash(password), name),
                )
            )
        return user

    def record_failure(self, name: str, address: str, policy: LockoutPolicy) -> float:
        """Count a failed sign-in for the name and the address; the lockout it starts (s, or 0)."""
        now_ms = self.clock_ms()
        window_ms = int(policy.window_s * 1000)
        lockout_ms = int(policy.lockout_s * 1000)
        locked_s = 0.0
        for key, limit in (
            (f"user:{name[:64]}", policy.max_failures_per_user),
            (f"addr:{address}", policy.max_failures_per_address),
        ):
            # A count older than the window, or whose lockout has passed, starts again at 1.
            # Stale rows of other names and addresses go first: the table stays as small as the
            # failures of one window (plus the locks still running).
            rows = self._run(
                (
                    "DELETE FROM sign_in_failures WHERE first_ms < ? AND "
                    "(locked_until_ms IS NULL OR locked_until_ms <= ?)",
                    (now_ms - window_ms, now_ms),
                ),
                (
                    "INSERT INTO sign_in_failures (key, failures, first_ms) VALUES (?, 1, ?) "
                    "ON CONFLICT (key) DO UPDATE SET "
                    "failures = CASE WHEN first_ms < ? OR locked_until_ms <= ? THEN 1 "
                    "ELSE failures + 1 END, "
                    "locked_until_ms = CASE WHEN first_ms < ? OR locked_until_ms <= ? THEN NULL "
                    "ELSE locked_until_ms END, "
                    "first_ms = CASE WHEN first_ms < ? OR locked_until_ms <= ? "
                    "THEN excluded.first_ms ELSE first_ms END "
                    "RETURNING failures",
                    (key, now_ms, *(now_ms - window_ms, now_ms) * 3),
                ),
            )
            failures = int(str(rows[0][0]))
            if failures > limit:
                self._run(
                    (
                        "UPDATE sign_in_failures SET locked_until_ms = ? WHERE key = ?",
                        (now_ms + lockout_ms, key),
                    )
                )
                locked_s = max(locked_s, policy.lockout_s)
        return locked_s

    def clear_failures(self, name: str) -> None:
        """A successful sign-in clears the user's count (the address's stays: it may be guessing
        other users' passwords)."""
        self._run(("DELETE FROM sign_in_failures WHERE key = ?", (f"user:{name}",)))

    def start_session(self, user: User, limits: SessionLimits) -> str:
        """A new session of `user`; the cookie value (shown once, stored only as SHA-256).
        Sessions past their limits are deleted first, so the table holds live sessions only."""
        session_id = secrets.token_urlsafe(32)
        now_ms = self.clock_ms()
        self._run(
            (
                "DELETE FROM sessions WHERE created_ms < ? OR last_used_ms < ?",
                (now_ms - int(limits.max_age_s * 1000), now_ms - int(limits.idle_s * 1000)),
            ),
            (
                "INSERT INTO sessions (id_sha256, user, created_ms, last_used_ms) "
                "VALUES (?, ?, ?, ?)",
                (secret_sha256(session_id), user.name, now_ms, now_ms),
            ),
        )
        return session_id

    def session_user(self, session_id: str, limits: SessionLimits) -> User | None:
        """The enabled user of a valid session (touching its last use), else None; an expired
        session is deleted."""
        digest = secret_sha256(session_id)
        now_ms = self.clock_ms()
        rows = self._run(
            (
                f"SELECT {_prefixed('u.')}, s.created_ms, s.last_used_ms FROM sessions s "
                "JOIN users u ON u.name = s.user WHERE s.id_sha256 = ?",
                (digest,),
            )
        )
        if not rows:
            return None
        *columns, created_ms, last_used_ms = rows[0]
        user = _user(tuple(columns))
        expired = (
            now_ms - int(str(created_ms)) > limits.max_age_s * 1000
            or now_ms - int(str(last_used_ms)) > limits.idle_s * 1000
        )
        if expired or user.disabled:
            self.end_session(session_id)
            return None
        if now_ms - int(str(last_used_ms)) >= TOUCH_INTERVAL_MS:
            self._run(
                ("UPDATE sessions SET last_used_ms = ? WHERE id_sha256 = ?", (now_ms, digest))
            )
        return user

    def end_session(self, session_id: str) -> None:
        self._run(("DELETE FROM sessions WHERE id_sha256 = ?", (secret_sha256(session_id),)))

    def sessions_of(self, name: str) -> int:
        rows = self._run(("SELECT count(*) FROM sessions WHERE user = ?", (name,)))
        return int(str(rows[0][0]))


_COLUMNS = "name, role, scope, created_ms, password_changed_ms, disabled_ms"


def _prefixed(prefix: str) -> str:
    return ", ".join(prefix + column.strip() for column in _COLUMNS.split(","))


def _user(row: tuple[object, ...]) -> User:
    name, role, scope, created_ms, changed_ms, disabled_ms = row
    return User(
        name=str(name),
        role=Role(str(role)),
        scope=str(scope),
        created_ms=int(str(created_ms)),
        password_changed_ms=int(str(changed_ms)),
        disabled_ms=None if disabled_ms is None else int(str(disabled_ms)),
    )
