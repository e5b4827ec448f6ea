"""Transactions on a connection opened with isolation_level=None (central's SQLite stores)."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT around the block (COMMIT returns after the WAL fsync with
    synchronous=FULL: persisted before the caller acknowledges); ROLLBACK when the block raises
    anything, a cancellation included."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read snapshot across the block's statements (a deferred BEGIN ... COMMIT)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")
