"""Sealed dates and the pruning of raw readings in the SQLite store (central/retention.py says
when and why). Functions over a connection, run in the store's threads (central.store.sqlite).

A site's dates up to `through` (kpi_sealed) are sealed: their rollups are final. The readings
whose device and receive times both lie before `keep_from_ms`, the load start of the first date
after the horizon, are read by no later date's load (central.store.sqlite `_RANGE`) and are
deleted, in short transactions of a bounded number of rows, except the few that later loads still
look back to (kpi_sealed_keep): each meter's last reading before the horizon (the nearest
reading before a load) and each raw kitchen bin's last stable readings before it (the reference
of its first step; the trusted one by device time and the wrong-clock one by receive time, as
`_SELECT_RAW_SCALE_BEFORE` picks them). So every load of a date after the horizon reads exactly
what it read before pruning, and its rollup is built the same.
"""

import sqlite3
from collections.abc import Iterable
from datetime import date

from central.kpi.clocks import ClockRule
from central.store.sqlite_tx import transaction

SCHEMA = """
-- The last sealed local date of a site and the load start of the date after it (epoch ms):
-- readings with both times before it are pruned (central/retention.py).
CREATE TABLE IF NOT EXISTS kpi_sealed (
    site TEXT PRIMARY KEY,
    through TEXT NOT NULL,
    keep_from_ms INTEGER NOT NULL
);
-- Readings before keep_from_ms that the loads of later dates still read: never pruned.
CREATE TABLE IF NOT EXISTS kpi_sealed_keep (
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    boot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (site, device, boot, seq)
);
"""

# The horizon of a site as an ISO date ('' when nothing is sealed: every date compares greater).
HORIZON = "COALESCE((SELECT through FROM kpi_sealed WHERE site = ?), '')"

_NOT_CURRENT = """
SELECT local_date FROM kpi_rollup
WHERE site = ? AND local_date > ? AND local_date <= ?
  AND (pending_ms IS NOT NULL OR config IS NOT ? OR entry IS NULL)
ORDER BY local_date LIMIT 1
"""

_TRUSTED = (
    "(? = 0 OR COALESCE(clock_trusted, 0) = 1"
    " OR (device_time_ms >= received_ms - ? AND device_time_ms <= received_ms + ?))"
)
# Each loop below finds the latest row, then every row tied with it (a load's LIMIT 1 may pick
# any of them).
_METER_LAST = """
SELECT device_time_ms FROM readings INDEXED BY readings_site_time
WHERE site = ? AND device_time_ms < ? AND device = ? AND kind = 'meter'
ORDER BY device_time_ms DESC LIMIT 1
"""
_METER_AT = """
SELECT boot, seq FROM readings
WHERE site = ? AND device = ? AND kind = 'meter' AND device_time_ms = ?
"""
_RAW_TRUSTED_LAST = f"""
SELECT device_time_ms FROM readings INDEXED BY readings_raw_scale
WHERE site = ? AND device = ? AND gross_g IS NOT NULL AND stable = 1
  AND device_time_ms < ? AND received_ms < ? AND {_TRUSTED}
ORDER BY device_time_ms DESC LIMIT 1
"""
_RAW_TRUSTED_AT = f"""
SELECT boot, seq FROM readings INDEXED BY readings_raw_scale
WHERE site = ? AND device = ? AND gross_g IS NOT NULL AND stable = 1
  AND device_time_ms = ? AND received_ms < ? AND {_TRUSTED}
"""
_RAW_WRONG_LAST = f"""
SELECT received_ms FROM readings INDEXED BY readings_site_received
WHERE site = ? AND received_ms < ? AND device = ? AND gross_g IS NOT NULL AND stable = 1
  AND device_time_ms < ? AND NOT {_TRUSTED}
ORDER BY received_ms DESC LIMIT 1
"""
_RAW_WRONG_AT = f"""
SELECT boot, seq FROM readings INDEXED BY readings_site_received
WHERE site = ? AND received_ms = ? AND device = ? AND gross_g IS NOT NULL AND stable = 1
  AND device_time_ms < ? AND NOT {_TRUSTED}
"""

_PRUNABLE_READINGS = """
FROM readings AS r INDEXED BY readings_site_time
WHERE r.site = ?1 AND r.device_time_ms < ?2 AND r.received_ms < ?2 AND NOT EXISTS (
    SELECT 1 FROM kpi_sealed_keep AS k
    WHERE k.site = r.site AND k.device = r.device AND k.boot = r.boot AND k.seq = r.seq)
"""
_PRUNABLE_DUPLICATE_COUNTS = "FROM duplicate_counts WHERE site = ?1 AND local_date <= ?2"
_PRUNABLE_EDGE_DUPLICATES = """
FROM edge_duplicates WHERE site = ?1 AND device_time_ms < ?2
  AND COALESCE(received_ms, device_time_ms) < ?2
"""


def sealed_through(conn: sqlite3.Connection, site: str) -> date | None:
    row = conn.execute("SELECT through FROM kpi_sealed WHERE site = ?", (site,)).fetchone()
    return None if row is None else date.fromisoformat(row[0])


def first_rollup_date(conn: sqlite3.Connection, site: str) -> date | None:
    """The site's earliest rollup date; None without one, or when the site has a reading
    attributed before it by both times (written by a central older than rollups)."""
    row = conn.execute("SELECT MIN(local_date) FROM kpi_rollup WHERE site = ?", (site,)).fetchone()
    if row[0] is None:
        return None
    first = date.fromisoformat(row[0])
    earliest = conn.execute(
        "SELECT MIN(device_time_ms) FROM readings WHERE site = ?", (site,)
    ).fetchone()[0]
    if earliest is not None:
        # a write marks at least the local date of each reading's device time (a date's load
        # holds the whole date): a reading more than a day before the first rollup date's UTC
        # midnight was never marked
        day_ms = 86_400_000
        first_ms = (first.toordinal() - date(1970, 1, 1).toordinal()) * day_ms
        if earliest < first_ms - day_ms:
            return None
    return first


def keepers(
    conn: sqlite3.Connection,
    site: str,
    keep_from_ms: int,
    meters: Iterable[str],
    raw_bins: Iterable[str],
    clock: ClockRule,
) -> list[tuple[str, str, int]]:
    """The (device, boot, seq) of the readings before `keep_from_ms` that later loads read."""
    trust = (int(clock.enabled), clock.max_delay_ms, clock.future_tolerance_ms)
    out: list[tuple[str, str, int]] = []
    for device in sorted(set(meters)):
        found = conn.execute(_METER_LAST, (site, keep_from_ms, device)).fetchone()
        if found is not None:
            tied = conn.execute(_METER_AT, (site, device, found[0])).fetchall()
            out += [(device, boot, seq) for boot, seq in tied]
    for device in sorted(set(raw_bins)):
        last = (site, device, keep_from_ms, keep_from_ms, *trust)
        found = conn.execute(_RAW_TRUSTED_LAST, last).fetchone()
        if found is not None:
            params = (site, device, found[0], keep_from_ms, *trust)
            out += [(device, boot, seq) for boot, seq in conn.execute(_RAW_TRUSTED_AT, params)]
        if clock.enabled:
            wrong = (site, keep_from_ms, device, keep_from_ms, *trust)
            found = conn.execute(_RAW_WRONG_LAST, wrong).fetchone()
            if found is not None:
                params = (site, found[0], device, keep_from_ms, *trust)
                out += [(device, boot, seq) for boot, seq in conn.execute(_RAW_WRONG_AT, params)]
    return out


def seal(
    conn: sqlite3.Connection,
    site: str,
    through: date,
    config: str,
    keep_from_ms: int,
    keep: Iterable[tuple[str, str, int]],
) -> bool:
    """In one write transaction: seal the site's dates up to `through` when every rollup after
    the old horizon up to it is current under `config`; False (nothing changed) when one is not."""
    with transaction(conn):
        was = sealed_through(conn, site)
        if was is not None and was >= through:
            return True
        after = "" if was is None else was.isoformat()
        stale = conn.execute(_NOT_CURRENT, (site, after, through.isoformat(), config)).fetchone()
        if stale is not None:
            return False  # nothing written: the transaction commits nothing
        conn.execute("DELETE FROM kpi_sealed_keep WHERE site = ?", (site,))
        conn.executemany(
            "INSERT OR IGNORE INTO kpi_sealed_keep (site, device, boot, seq) VALUES (?, ?, ?, ?)",
            [(site, *key) for key in keep],
        )
        conn.execute(
            "INSERT INTO kpi_sealed (site, through, keep_from_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (site) DO UPDATE SET through = excluded.through,"
            " keep_from_ms = excluded.keep_from_ms",
            (site, through.isoformat(), keep_from_ms),
        )
    return True


def _horizon(conn: sqlite3.Connection, site: str) -> tuple[str, int] | None:
    row = conn.execute(
        "SELECT through, keep_from_ms FROM kpi_sealed WHERE site = ?", (site,)
    ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def prune_step(conn: sqlite3.Connection, site: str, max_rows: int) -> tuple[int, int, int]:
    """Delete at most `max_rows` prunable rows of the site in one transaction: readings, then
    duplicate counts of sealed dates, then the edge-duplicate keys of sealed dates."""
    horizon = _horizon(conn, site)
    if horizon is None:
        return 0, 0, 0
    through, keep_from_ms = horizon
    deleted = []
    left = max_rows
    with transaction(conn):
        for table, where, bound in (
            ("readings", _PRUNABLE_READINGS, keep_from_ms),
            ("duplicate_counts", _PRUNABLE_DUPLICATE_COUNTS, through),
            ("edge_duplicates", _PRUNABLE_EDGE_DUPLICATES, keep_from_ms),
        ):
            if left <= 0:
                deleted.append(0)
                continue
            alias = "r." if table == "readings" else ""
            done = conn.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT {alias}rowid {where} LIMIT ?3)",
                (site, bound, left),
            ).rowcount
            deleted.append(done)
            left -= done
    return deleted[0], deleted[1], deleted[2]


def prunable(
    conn: sqlite3.Connection, site: str, through: date | None, keep_from_ms: int | None
) -> tuple[int, int, int]:
    """The rows a horizon of `through` (load start `keep_from_ms`) makes prunable, or the
    current horizon's when None (a dry run; keepers of a new horizon are not subtracted)."""
    if through is None or keep_from_ms is None:
        horizon = _horizon(conn, site)
        if horizon is None:
            return 0, 0, 0
        day, bound = horizon
    else:
        day, bound = through.isoformat(), keep_from_ms
    counts = [
        conn.execute(f"SELECT COUNT(*) {where}", (site, value)).fetchone()[0]
        for where, value in (
            (_PRUNABLE_READINGS, bound),
            (_PRUNABLE_DUPLICATE_COUNTS, day),
            (_PRUNABLE_EDGE_DUPLICATES, bound),
        )
    ]
    return counts[0], counts[1], counts[2]
