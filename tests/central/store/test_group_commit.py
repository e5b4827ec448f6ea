"""The SQLite store's group commit and multi-row inserts, on real files.

Batches waiting for the writer together share one transaction (a savepoint each) and one COMMIT;
each caller still gets its own outcome or its own error, and the stored result is the one that
writing the batches one after the other would give.
"""

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import cast

import pytest

from central.store import BatchToStore, StoreUnavailable
from central.store.sqlite import SqliteStore, _insert_rows
from contract import CardRecord, ReadingRecord

WAIT_S = 10.0


def cards(device: str, count: int, first_seq: int = 0) -> list[ReadingRecord]:
    return [
        CardRecord(
            device=device,
            boot="b1",
            seq=seq,
            device_time_ms=1_000 + seq,
            received_ms=1_001 + seq,
            person="ab" * 8,
        )
        for seq in range(first_seq, first_seq + count)
    ]


def batch(readings: list[ReadingRecord], batch_id: str) -> BatchToStore:
    return BatchToStore(
        site="s1", edge="edge-s1", batch_id=batch_id, received_ms=9, readings=readings
    )


async def write_as_one_group(store: SqliteStore, batches: list[BatchToStore]) -> list[object]:
    """Hold the writer thread until every batch waits, then let them go: one group."""
    release = threading.Event()
    held = asyncio.get_running_loop().run_in_executor(store._writer, release.wait, WAIT_S)
    writes = [asyncio.ensure_future(store.write_batch(b)) for b in batches]
    await asyncio.sleep(0)  # every write_batch has queued its batch
    assert len(store._pending) == len(batches)
    release.set()
    assert await held
    return list(await asyncio.gather(*writes, return_exceptions=True))


async def test_a_group_counts_a_resend_within_it_like_consecutive_writes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    first = cards("cr1", 300)
    overlap = cards("cr1", 300, first_seq=200)  # 100 of them are in `first`
    async with SqliteStore(path) as store:
        results = await write_as_one_group(
            store, [batch(first, "a"), batch(overlap, "b"), batch(first, "c")]
        )
    outcomes = [(r.accepted, r.duplicates) for r in results]  # type: ignore[attr-defined]
    assert outcomes == [(300, 0), (200, 100), (0, 300)]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 500
        (counted,) = conn.execute("SELECT SUM(duplicates) FROM duplicate_counts").fetchone()
    assert counted == 400


async def test_a_failing_batch_fails_alone_and_the_group_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    # no site: SQLite refuses the batch's statements (NOT NULL) in the middle of the group
    failing = BatchToStore(
        site=cast(str, None), edge="edge-s1", batch_id="bad", received_ms=9,
        readings=cards("cr2", 5),
    )  # fmt: skip
    async with SqliteStore(path) as store:
        results = await write_as_one_group(
            store, [batch(cards("cr1", 10), "a"), failing, batch(cards("cr3", 7), "c")]
        )
        assert isinstance(results[1], StoreUnavailable)
        assert "NOT NULL" in str(results[1])
        good = [r for i, r in enumerate(results) if i != 1]
        assert [(r.accepted, r.duplicates) for r in good] == [(10, 0), (7, 0)]  # type: ignore[attr-defined]
        # the store goes on: the next write works
        again = await store.write_batch(batch(cards("cr2", 5), "fixed"))
    assert (again.accepted, again.duplicates) == (5, 0)
    with sqlite3.connect(path) as conn:
        devices = dict(conn.execute("SELECT device, COUNT(*) FROM readings GROUP BY device"))
    assert devices == {"cr1": 10, "cr2": 5, "cr3": 7}


async def test_group_size_is_capped(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "c.sqlite3", group_commit_max_batches=2) as store:
        results = await write_as_one_group(
            store, [batch(cards(f"cr{n}", 3), f"b{n}") for n in range(5)]
        )
    assert [(r.accepted, r.duplicates) for r in results] == [(3, 0)] * 5  # type: ignore[attr-defined]


def test_group_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="group_commit_max_batches"):
        SqliteStore(tmp_path / "c.sqlite3", group_commit_max_batches=0)


@pytest.mark.parametrize("variable_limit", [None, 20])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 17, 511, 512, 513, 1000, 1537])
def test_multi_row_inserts_match_executemany(count: int, variable_limit: int | None) -> None:
    """Same rows, same order, a repeated key keeps its first copy, as executemany does."""
    rows = [(f"d{n % 7}", n // 7, f"v{n}") for n in range(count)]
    rows += rows[: count // 3]  # repeats, with other values: ignored
    rows += [(r[0], r[1], "changed") for r in rows[: count // 5]]
    results = []
    for insert in ("executemany", "multi-row"):
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE TABLE readings (device, seq, value, at_ms, PRIMARY KEY (device, seq))")
        if variable_limit is not None:  # an SQLite built with a low limit: smaller statements
            conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variable_limit)
        if insert == "executemany":
            conn.executemany("INSERT OR IGNORE INTO readings VALUES (?, ?, ?, 42)", rows)
        else:
            _insert_rows(conn, rows, (42,), "readings", "device, seq, value", "at_ms")
        results.append(conn.execute("SELECT rowid, * FROM readings ORDER BY rowid").fetchall())
        conn.close()
    assert results[0] == results[1]
    assert len(results[0]) == count
