"""Opening central's small SQLite stores (credentials, users, alert acknowledgements).

They share central's database file with the readings store, so they open it the same way: WAL
(readers and the CLI never block central's writer), synchronous=FULL (a change is durable when the
call returns), autocommit (each store runs its own transactions), one connection guarded by the
store's own lock. `FileStore` is that lifecycle; each store names itself in its own typed error.
"""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Self

from central.errors import CentralError


def connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection to `path`, its folder created; raises OSError or sqlite3.Error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return sqlite3.connect(
        path,
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        check_same_thread=False,  # guarded by the store's lock
    )


def prepare(conn: sqlite3.Connection, busy_timeout_ms: int, schema: str) -> None:
    """The pragmas every store uses and its schema; on an error the connection is closed."""
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.executescript(schema)
    except sqlite3.Error:
        conn.close()
        raise


class FileStore:
    """`with Store(path) as store:` one connection to central's SQLite file behind a lock.

    A subclass sets its schema, its error type and the name it has in errors ('users database'),
    and reaches the connection through `_connection()`.
    """

    _schema: ClassVar[str]
    _error: ClassVar[type[CentralError]]
    _name: ClassVar[str]

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> Self:
        self._conn = self._connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = connect(self.path, self.busy_timeout_ms)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(f"cannot open {self._name} {self.path}: {exc}") from exc
        try:
            prepare(conn, self.busy_timeout_ms, self._schema)
        except sqlite3.Error as exc:
            raise self._error(f"{self._name} {self.path}: {exc}") from exc
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """The open connection, under the lock; a sqlite3 error becomes the store's error."""
        with self._lock:
            if self._conn is None:
                raise self._error(f"{self._name} {self.path} is not open")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise self._error(f"{self._name} {self.path}: {exc}") from exc
