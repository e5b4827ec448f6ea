"""The durable queue on a real SQLite file: persistence, identity, bounds, counters, crashes."""

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edge.buffer import Buffer, DeadLetter, DeviceStatus, NewReading, PendingRow, read_status
from edge.errors import EdgeBufferError
from edge.settings import OverflowPolicy


def reading(seq: int, device: str = "scale-1", boot: str = "b1") -> NewReading:
    return NewReading(device, boot, seq, json.dumps({"device": device, "boot": boot, "seq": seq}))


def seqs(rows: list[PendingRow]) -> list[int]:
    return [row.seq for row in rows]


async def test_persists_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    async with Buffer(path) as buffer:
        outcome = await buffer.commit([reading(i) for i in range(5)])
        assert (outcome.persisted, outcome.duplicates, outcome.received) == (5, 0, 5)
    async with Buffer(path) as buffer:
        rows = await buffer.oldest(10)
        assert seqs(rows) == [0, 1, 2, 3, 4]
        assert json.loads(rows[2].record_json)["seq"] == 2
        assert await buffer.pending_count() == 5


async def test_duplicates_are_absorbed_by_identity(tmp_path: Path) -> None:
    async with Buffer(tmp_path / "b.sqlite3") as buffer:
        await buffer.commit([reading(0), reading(1)])
        outcome = await buffer.commit(
            [reading(1), reading(1, boot="b2"), reading(1, device="scale-2"), reading(0)]
        )
        assert (outcome.persisted, outcome.duplicates) == (2, 2)
        rows = await buffer.oldest(10)
        assert [(r.device, r.boot, r.seq) for r in rows] == [
            ("scale-1", "b1", 0),
            ("scale-1", "b1", 1),
            ("scale-1", "b2", 1),
            ("scale-2", "b1", 1),
        ]
        counters = (await buffer.stats()).counters
        assert counters["duplicates"] == 2
        assert counters["persisted"] == 4


async def test_drop_oldest_keeps_the_newest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with Buffer(tmp_path / "b.sqlite3", max_readings=3) as buffer:
        await buffer.commit([reading(i) for i in range(2)])
        outcome = await buffer.commit([reading(i) for i in range(2, 6)])
        assert outcome.dropped_overflow == 3
        assert seqs(await buffer.oldest(10)) == [3, 4, 5]
        assert await buffer.pending_count() == 3
        assert (await buffer.stats()).counters["dropped_overflow"] == 3
    assert any(
        r.levelname == "WARNING" and "dropped 3 readings" in r.getMessage() for r in caplog.records
    )


async def test_drop_newest_refuses_new_but_counts_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    async with Buffer(path, max_readings=3, overflow_policy=OverflowPolicy.DROP_NEWEST) as buffer:
        await buffer.commit([reading(i) for i in range(2)])
        outcome = await buffer.commit([reading(2), reading(3), reading(4), reading(0)])
        assert (outcome.persisted, outcome.dropped_overflow, outcome.duplicates) == (1, 2, 1)
        assert seqs(await buffer.oldest(10)) == [0, 1, 2]
        # Room again after an upload: new readings are taken.
        rows = await buffer.oldest(1)
        assert await buffer.delete_confirmed([rows[0].id]) == 1
        await buffer.commit([reading(9)])
        assert seqs(await buffer.oldest(10)) == [1, 2, 9]
        assert (await buffer.stats()).counters["dropped_overflow"] == 2


async def test_delete_confirmed_deletes_exactly_those_rows(tmp_path: Path) -> None:
    async with Buffer(tmp_path / "b.sqlite3") as buffer:
        await buffer.commit([reading(i) for i in range(6)])
        rows = await buffer.oldest(6)
        deleted = await buffer.delete_confirmed([rows[1].id, rows[4].id], rejected=1)
        assert deleted == 2
        assert seqs(await buffer.oldest(10)) == [0, 2, 3, 5]
        counters = (await buffer.stats()).counters
        assert (counters["uploaded"], counters["rejected_by_central"]) == (2, 1)


async def test_dead_letters_are_bounded_and_truncated(tmp_path: Path) -> None:
    async with Buffer(
        tmp_path / "b.sqlite3", dead_letter_max_rows=3, dead_letter_max_payload_bytes=8
    ) as buffer:
        letters = [
            DeadLetter(i, f"canteen/s1/x/{i}/data", b"0123456789", f"r{i}") for i in range(5)
        ]
        await buffer.commit(dead_letters=letters[:2])
        await buffer.commit(dead_letters=letters[2:])
        stored = await buffer.dead_letters()
        assert [d["reason"] for d in stored] == ["r2", "r3", "r4"]
        assert all(d["payload"] == b"01234567" and d["payload_bytes"] == 10 for d in stored)
        stats = await buffer.stats(last_dead_letters=2)
        assert stats.dead_letters == 3
        assert stats.counters["dead_lettered"] == 5
        assert [d["reason"] for d in stats.last_dead_letters] == ["r4", "r3"]


async def test_device_status_upserts(tmp_path: Path) -> None:
    async with Buffer(tmp_path / "b.sqlite3") as buffer:
        await buffer.commit(statuses=[DeviceStatus("s1", "scale", "d1", "online", "b1", 10)])
        await buffer.commit(statuses=[DeviceStatus("s1", "scale", "d1", "offline", None, 20)])
        # a last will names no boot: the device's last known boot is kept
        assert await buffer.device_statuses() == [
            DeviceStatus("s1", "scale", "d1", "offline", "b1", 20)
        ]


def status(state: str, boot: str | None, received_ms: int, device: str = "d1") -> DeviceStatus:
    return DeviceStatus("s1", "meter", device, state, boot, received_ms, received_ms - 5)


async def test_status_changes_wait_in_the_outbox_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    async with Buffer(path) as buffer:
        outcome = await buffer.commit(
            statuses=[status("online", "b1", 10), status("online", "b1", 11)]
        )
        # the broker redelivers the retained status after a reconnect: not a change
        assert (outcome.status_updates, outcome.status_changes) == (2, 1)
        await buffer.commit(statuses=[status("offline", None, 20)])  # the last will
        await buffer.commit(statuses=[status("online", "b2", 30)])  # a new boot
        await buffer.commit(statuses=[status("online", "b2", 31)])
    # the edge restarts before central confirmed anything: the changes are still there
    assert read_status(path).pending_statuses == 3
    async with Buffer(path) as buffer:
        assert await buffer.pending_statuses_count() == 3
        changes = await buffer.oldest_statuses(10)
        assert [(c.state, c.boot, c.received_ms, c.device_time_ms) for c in changes] == [
            ("online", "b1", 10, 5),
            ("offline", "b1", 20, 15),  # the will's boot: the session it ended
            ("online", "b2", 30, 25),
        ]
        await buffer.delete_confirmed([], status_ids=[changes[0].id])
        assert [c.id for c in await buffer.oldest_statuses(10)] == [c.id for c in changes[1:]]
        counters = (await buffer.stats()).counters
    assert (counters["status_updates"], counters["status_changes"]) == (5, 3)
    assert read_status(path).pending_statuses == 2


async def test_status_outbox_keeps_the_newest_change_per_device_when_full(
    tmp_path: Path,
) -> None:
    async with Buffer(tmp_path / "b.sqlite3", status_outbox_max_rows=3) as buffer:
        for n in range(4):  # d1 flaps while central is down
            await buffer.commit(statuses=[status("online" if n % 2 else "offline", "b1", n)])
        await buffer.commit(statuses=[status("online", "b1", 100, device="d2")])
        kept = await buffer.oldest_statuses(10)
        assert [(c.device, c.state, c.received_ms) for c in kept] == [
            ("d1", "online", 3),
            ("d2", "online", 100),
        ]
        assert (await buffer.stats()).counters["status_changes_dropped"] == 3
        for n in range(3, 7):  # more devices than the bound: the oldest go
            await buffer.commit(statuses=[status("offline", "b1", 200 + n, device=f"d{n}")])
        assert [c.device for c in await buffer.oldest_statuses(10)] == ["d4", "d5", "d6"]
        assert await buffer.pending_statuses_count() == 3


async def test_counters_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    async with Buffer(path) as buffer:
        await buffer.commit([reading(0), reading(0)], [DeadLetter(1, "t", b"x", "bad")])
        await buffer.add_counters(upload_failures=2)
        with pytest.raises(ValueError, match="unknown counters"):
            await buffer.add_counters(no_such_counter=1)
    async with Buffer(path) as buffer:
        await buffer.commit([reading(1)])
        counters = (await buffer.stats()).counters
    assert counters["received"] == 4
    assert counters["persisted"] == 2
    assert counters["duplicates"] == 1
    assert counters["dead_lettered"] == 1
    assert counters["upload_failures"] == 2
    # The CLI reads the same numbers from the file, read-only.
    status = read_status(path)
    assert status.counters == counters
    assert (status.pending, status.dead_letters) == (2, 1)
    assert status.last_dead_letters[0]["reason"] == "bad"


async def test_unusable_buffer_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(EdgeBufferError, match="not open"):
        await Buffer(tmp_path / "b.sqlite3").oldest(1)
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as connection:
        connection.execute("PRAGMA user_version=99")
    connection.close()
    with pytest.raises(EdgeBufferError, match="newer"):
        async with Buffer(newer):
            pass
    with pytest.raises(EdgeBufferError, match="no buffer file"):
        read_status(tmp_path / "missing.sqlite3")


WRITER = """
import asyncio, json, sys
from pathlib import Path
from edge.buffer import Buffer, NewReading

async def main() -> None:
    async with Buffer(Path(sys.argv[1])) as buffer:
        seq = 0
        while True:
            batch = [NewReading("d", "b", seq + i, json.dumps({"seq": seq + i})) for i in range(50)]
            await buffer.commit(batch)
            seq += 50
            print(seq, flush=True)  # committed: on disk

asyncio.run(main())
"""


def test_crash_safe_reopen_after_sigkill(tmp_path: Path) -> None:
    """A writer killed mid-run leaves a file that opens with every commit it reported intact."""
    path = tmp_path / "crash.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    reported = 0
    try:
        for line in writer.stdout:
            reported = int(line)
            if reported >= 2000:
                break
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        writer.stdout.close()
    assert reported >= 2000

    async def reopen() -> tuple[list[int], int]:
        async with Buffer(path) as buffer:
            rows = await buffer.oldest(10**6)
            return seqs(rows), (await buffer.stats()).counters["persisted"]

    stored, persisted = asyncio.run(reopen())
    # Every commit acknowledged before the kill is there, in order, without gaps or torn batches.
    assert len(stored) >= reported
    assert len(stored) % 50 == 0
    assert stored == list(range(len(stored)))
    assert persisted == len(stored)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()


async def test_dropped_duplicates_wait_until_central_confirmed_them(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"

    def timed(seq: int, device_time_ms: int) -> NewReading:
        return NewReading("m1", "b1", seq, json.dumps({"seq": seq}), device_time_ms)

    async with Buffer(path) as buffer:
        await buffer.commit([timed(0, 100), timed(1, 200)])
        await buffer.commit([timed(1, 200), timed(0, 100), timed(2, 300)])
        dropped = await buffer.oldest_duplicates(10)
        assert [(d.device, d.device_time_ms) for d in dropped] == [("m1", 200), ("m1", 100)]
        assert await buffer.pending_duplicates_count() == 2
        rows = await buffer.oldest(10)
        # central confirmed the readings and the first report only
        await buffer.delete_confirmed([r.id for r in rows], duplicate_ids=[dropped[0].id])
        assert await buffer.pending_count() == 0
        assert await buffer.pending_duplicates_count() == 1
    status = read_status(path)
    assert (status.pending, status.pending_duplicates) == (0, 1)
    async with Buffer(path) as buffer:
        assert await buffer.pending_duplicates_count() == 1
        await buffer.delete_confirmed([], duplicate_ids=[dropped[1].id])
        await buffer.commit([timed(0, 100)])  # the original is gone: not a duplicate here
        assert await buffer.oldest_duplicates(10) == []
        # ids are never reused, so central can count each (edge, id) once
        await buffer.commit([timed(0, 100)])
        (again,) = await buffer.oldest_duplicates(10)
        assert again.id > dropped[1].id


async def test_dropped_duplicates_keep_their_receive_time(tmp_path: Path) -> None:
    """Central dates a dropped copy by the same clock rule as its own duplicates: it needs the
    edge's receive time. A buffer of an older edge gains the column; its rows have none."""
    path = tmp_path / "b.sqlite3"
    with sqlite3.connect(path) as connection:  # the table as an older edge made it
        connection.execute(
            "CREATE TABLE dropped_duplicates (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " device TEXT NOT NULL, device_time_ms INTEGER NOT NULL)"
        )
        connection.execute(
            "INSERT INTO dropped_duplicates (device, device_time_ms) VALUES ('m1', 7)"
        )
        connection.execute("PRAGMA user_version=1")
    connection.close()

    def copy(seq: int) -> NewReading:
        return NewReading("m1", "b1", seq, json.dumps({"seq": seq}), 5, received_ms=9_000 + seq)

    async with Buffer(path) as buffer:
        await buffer.commit([copy(0), copy(0)])
        old, new = await buffer.oldest_duplicates(10)
    assert (old.device_time_ms, old.received_ms) == (7, None)
    assert (new.device_time_ms, new.received_ms) == (5, 9_000)
