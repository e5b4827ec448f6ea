"""Whether the SQLite store's file is still the one central opened, and can still be written.

A SQLite connection keeps writing into the file it opened even after that file was deleted or
replaced under it: every commit "succeeds" into an inode nobody will ever open again, and after
the next restart the data is gone (issue 13: central answered 200 to 20 batches after
`central.sqlite3` was deleted, the edge deleted its copies, the readings were lost). So the store
compares the device and inode of the path with those of the file it opened:

- after every COMMIT, before any batch of it is answered (persist before acknowledge: a commit
  into a lost file is answered 503 and the edge keeps its copy), and before writing at all;
- on every GET /health and every `CENTRAL_STORE_CHECK_INTERVAL_S` (central/store_monitor.py).

A lost file (deleted, replaced) is final for this process: every write is answered 503 until
central is restarted on a restored file (docs/faults.md says how to save what was written into
the deleted file). A failed write that is about the disk (full, I/O error, read-only) is a
transient failure: /health reports it until a later write, or the periodic probe write, succeeds
again. A file whose mode no longer allows writing (the open connection still writes, a restart
would not) is reported until its mode allows writing again. Each change is logged once, at ERROR
when it goes wrong. Locks held too long (SQLITE_BUSY) are not a health matter: that write alone
is answered 503.
"""

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from central.store.base import HEALTHY, StoreHealth
from central.store.sqlite_tx import transaction

logger = logging.getLogger(__name__)

# Errors that say nothing about the file or the disk: another writer held the lock too long.
_NOT_HEALTH = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_INTERRUPT"})

# The probe write: PROBE_BYTES allocated and committed (the WAL grows by as much, as with a
# batch), then freed: more than a full upload batch takes (about 0.3 MB for 1,000 readings with
# their indexes), so that a disk with a few pages left is not taken for one that has room again.
PROBE_BYTES = 1024 * 1024
PROBE_SCHEMA = """
CREATE TABLE IF NOT EXISTS health_probe (id INTEGER PRIMARY KEY, at_ms INTEGER, pad BLOB);
"""


def is_health_error(exc: sqlite3.Error) -> bool:
    """Whether a failed write says something about the file or the disk (full, I/O, read-only)."""
    return getattr(exc, "sqlite_errorname", None) not in _NOT_HEALTH


class StoreFileHealth:
    """The health of one SQLite store file, kept by its writer thread, read from anywhere."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None
        self._lost: str | None = None  # final: the file is not the one opened
        self._failure: str | None = None  # until a write succeeds again
        # The file's mode forbids writing: the open connection still writes, but a restart would
        # open it read-only. Set and cleared by `check` alone.
        self._unwritable: str | None = None
        self._lock = threading.Lock()

    def opened(self) -> None:
        """Writer thread, right after the connection opened the file: remember which file."""
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)

    @property
    def lost(self) -> str | None:
        """Why the file is no longer the one opened, or None."""
        return self._lost

    def current(self) -> StoreHealth:
        reason = self._lost or self._failure or self._unwritable
        return HEALTHY if reason is None else StoreHealth(ok=False, reason=reason)

    def check_identity(self) -> str | None:
        """Compare the path with the opened file; mark the file lost (final) if it differs."""
        if self._lost is not None or self._identity is None:
            return self._lost
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            problem = "was deleted while central was running"
        except OSError as exc:
            problem = f"cannot be checked ({exc})"
        else:
            if (st.st_dev, st.st_ino) == self._identity:
                return None
            problem = "was replaced by another file while central was running"
        with self._lock:
            if self._lost is None:
                self._lost = (
                    f"store file {self.path} {problem}: writes would go into a file central no"
                    " longer finds; every write is refused (503) until central is restarted on"
                    " a restored file"
                )
                logger.error("sqlite store: %s", self._lost)
        return self._lost

    def write_failed(self, exc: sqlite3.Error) -> None:
        """A write failed: a failure of the file or disk until a write succeeds again."""
        if is_health_error(exc):
            self._fail(f"store file {self.path} refuses writes: {exc}")

    def write_succeeded(self) -> None:
        if self._failure is not None:
            with self._lock:
                was, self._failure = self._failure, None
            if was is not None:
                logger.warning("sqlite store %s: writes succeed again (was: %s)", self.path, was)

    def check(self, conn: sqlite3.Connection | None) -> StoreHealth:
        """Writer thread: identity, writability, and while failing a probe write on `conn`."""
        if self.check_identity() is not None:
            return self.current()
        writable = os.access(self.path, os.W_OK)
        if not writable and self._unwritable is None:
            self._unwritable = (
                f"store file {self.path} is not writable (its mode or a read-only file system):"
                " central could not write it after a restart"
            )
            logger.error("sqlite store: %s", self._unwritable)
        elif writable and self._unwritable is not None:
            self._unwritable = None
            logger.warning("sqlite store %s: the file is writable again", self.path)
        if self._failure is not None and conn is not None:
            try:
                self._probe(conn)
            except sqlite3.Error as exc:
                self.write_failed(exc)
            else:
                self.write_succeeded()
        return self.current()

    def _fail(self, reason: str) -> None:
        with self._lock:
            was, self._failure = self._failure, reason
        if was is None:
            logger.error("sqlite store: %s; ingest answers 503 until writes succeed", reason)

    @staticmethod
    def _probe(conn: sqlite3.Connection) -> None:
        with transaction(conn):
            conn.execute(
                "INSERT INTO health_probe (at_ms, pad) VALUES (?, zeroblob(?))",
                (time.time_ns() // 1_000_000, PROBE_BYTES),
            )
            conn.execute("DELETE FROM health_probe")
