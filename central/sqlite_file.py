"""Opening central's small SQLite stores (credentials, users, alert acknowledgements).

They share central's database file with the readings store, so they open it the same way: WAL
(readers and the CLI never block central's writer), synchronous=FULL (a change is durable when the
call returns), autocommit (each store runs its own transactions), one connection guarded by the
store's own lock. Errors are left to each store, which names itself in its typed error.
"""

import sqlite3
from pathlib import Path


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
