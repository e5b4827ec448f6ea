"""A damaged buffer file (cut short, overwritten pages, not a database) and a disk that is full."""

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from edge.buffer import Buffer, NewReading, PendingRow
from edge.errors import BufferWriteError

PAGE_BYTES = 4096


def reading(seq: int, device: str = "scale-1", boot: str = "b1") -> NewReading:
    body = {"device": device, "boot": boot, "seq": seq, "pad": "x" * 200}
    return NewReading(device, boot, seq, json.dumps(body))


def seqs(rows: list[PendingRow]) -> list[int]:
    return [row.seq for row in rows]


async def fill(path: Path, count: int) -> None:
    async with Buffer(path) as buffer:
        for start in range(0, count, 500):
            await buffer.commit([reading(i) for i in range(start, min(count, start + 500))])
        await buffer.add_counters(dropped_overflow=7)
    # A clean close checkpoints the WAL into the main file: the damage below hits real data.
    assert not path.with_name(path.name + "-wal").exists()


def damaged_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.damaged-*"))


async def test_a_file_cut_short_keeps_its_readable_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "buffer.sqlite3"
    await fill(path, 3000)
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.truncate(size // 2)  # power loss on storage that lied about its flush

    with caplog.at_level(logging.ERROR, logger="edge.buffer"):
        async with Buffer(path) as buffer:
            rows = await buffer.oldest(10**6)
            stats = await buffer.stats()
            # The buffer works as before: new readings are taken.
            outcome = await buffer.commit([reading(10_000)])
            assert outcome.persisted == 1
    kept = seqs(rows)
    assert 0 < len(kept) < 3000
    assert kept == sorted(kept), "salvaged readings keep their order"
    assert len(set(kept)) == len(kept)
    assert all(json.loads(row.record_json)["seq"] == row.seq for row in rows)
    counters = stats.counters
    assert counters["buffer_recoveries"] == 1
    assert counters["salvaged_readings"] == len(kept)
    assert counters["dropped_overflow"] == 7, "counters of the damaged file carry over"
    [aside] = damaged_files(path)
    assert aside.stat().st_size == size // 2, "the damaged file is kept for an operator"
    messages = [record.getMessage() for record in caplog.records]
    assert any("damaged" in m and "set aside" in m for m in messages)


async def test_overwritten_pages_in_the_middle_lose_only_those_pages(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    await fill(path, 3000)
    pages = path.stat().st_size // PAGE_BYTES
    with path.open("r+b") as file:
        for page in (pages // 3, pages // 2):
            file.seek(page * PAGE_BYTES)
            file.write(b"\xa5" * PAGE_BYTES)

    async with Buffer(path) as buffer:
        kept = seqs(await buffer.oldest(10**6))
        counters = (await buffer.stats()).counters
    # Roughly 15 rows of 250 bytes per page: two pages cost some tens of readings, not thousands.
    assert 3000 - 200 <= len(kept) < 3000
    assert kept == sorted(kept)
    assert counters["salvaged_readings"] == len(kept)
    assert len(damaged_files(path)) == 1


async def test_a_file_that_is_not_a_database_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    path.write_bytes(b"this is not SQLite" * 500)
    async with Buffer(path) as buffer:
        assert await buffer.pending_count() == 0
        counters = (await buffer.stats()).counters
        assert buffer.recovered_from is not None
    assert counters["buffer_recoveries"] == 1
    assert counters["salvaged_readings"] == 0
    assert len(damaged_files(path)) == 1


async def test_a_sound_file_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    await fill(path, 100)
    async with Buffer(path) as buffer:
        assert buffer.recovered_from is None
        assert (await buffer.stats()).counters["buffer_recoveries"] == 0
    assert damaged_files(path) == []


async def test_a_full_disk_refuses_the_commit_and_keeps_the_buffer_usable(tmp_path: Path) -> None:
    """SQLite's max_page_count is a disk that is full; deleting rows frees space again."""
    path = tmp_path / "buffer.sqlite3"
    async with Buffer(path) as buffer:
        await buffer.commit([reading(i) for i in range(100)])

        def limit_pages() -> None:  # on the buffer's own worker thread, which owns the connection
            connection = buffer._db()
            (used,) = connection.execute("PRAGMA page_count").fetchone()
            connection.execute(f"PRAGMA max_page_count={used + 2}")

        await buffer._call(limit_pages)
        with pytest.raises(BufferWriteError, match="disk refused"):
            await buffer.commit([reading(i) for i in range(1000, 1500)])
        # Nothing of the refused transaction is visible; what was there still is.
        assert await buffer.pending_count() == 100
        assert seqs(await buffer.oldest(1000)) == list(range(100))
        # Space freed (here: rows uploaded and deleted): the same commit goes through.
        deleted = await buffer.delete_confirmed([row.id for row in await buffer.oldest(100)])
        assert deleted == 100
        outcome = await buffer.commit([reading(i) for i in range(1000, 1010)])
        assert outcome.persisted == 10
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
