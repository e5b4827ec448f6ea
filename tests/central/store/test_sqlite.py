"""The SQLite store on real files: durability settings, idempotency, arrays, unavailability."""

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from central.store import BatchToStore, RejectedRow, StoreUnavailable
from central.store.sqlite import SqliteStore
from contract import CardRecord, MeterRecord, Quantity, ScaleRecord, Stream


def records(offset: int = 0) -> list[ScaleRecord | CardRecord | MeterRecord]:
    return [
        ScaleRecord(device="sc", boot="b1", seq=0, device_time_ms=1000, received_ms=1001,
                    stream=Stream.PLATE, mass_g=12.5, tray="t1"),
        CardRecord(device="cr", boot="b1", seq=0, device_time_ms=1100, received_ms=1101,
                   person="ab" * 8),
        MeterRecord(device="m1", boot="b1", seq=0, device_time_ms=1200, received_ms=1201,
                    quantity=Quantity.GAS, total=42.0),
        MeterRecord(device="m1", boot="b2", seq=0, device_time_ms=5000 + offset, received_ms=5001,
                    quantity=Quantity.GAS, total=43.0, power_kw=None),
    ]  # fmt: skip


def to_store(
    readings: list[ScaleRecord | CardRecord | MeterRecord], batch_id: str = "b"
) -> BatchToStore:
    return BatchToStore(
        site="s1", edge="edge-s1", batch_id=batch_id, received_ms=9, readings=readings
    )


async def test_write_is_durable_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "c.sqlite3"
    async with SqliteStore(path) as store:
        first = await store.write_batch(to_store(records()))
        again = await store.write_batch(to_store(records()))
    assert (first.accepted, first.duplicates) == (4, 0)
    assert (again.accepted, again.duplicates) == (0, 4)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 4
        row = conn.execute(
            "SELECT kind, stream, mass_g, tray FROM readings WHERE device = 'sc'"
        ).fetchone()
    assert row == ("scale", "plate", 12.5, "t1")


async def test_load_readings_returns_column_arrays_of_the_range(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "c.sqlite3") as store:
        await store.write_batch(to_store(records()))
        loaded = await store.load_readings("s1", 1000, 5000)
        other_site = await store.load_readings("s2", 0, 10_000)
    np.testing.assert_array_equal(loaded.scale.time_ms, [1000])
    np.testing.assert_array_equal(loaded.scale.stream, ["plate"])
    np.testing.assert_array_equal(loaded.scale.mass_g, [12.5])
    np.testing.assert_array_equal(loaded.card.person, ["ab" * 8])
    # the reading at 5000 is outside [1000, 5000)
    np.testing.assert_array_equal(loaded.meter.time_ms, [1200])
    np.testing.assert_array_equal(loaded.meter.quantity, ["gas"])
    np.testing.assert_array_equal(loaded.meter.total, [42.0])
    assert loaded.count_between(0, 10_000) == 3
    assert other_site.count_between(0, 10_000) == 0


async def test_rejected_readings_are_kept_once(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    bad = BatchToStore(
        site="s1", edge="edge-s1", batch_id="b7", received_ms=9, readings=[],
        rejected=[RejectedRow(index=3, reason="seq: bad", raw_json='{"seq":-1}')],
    )  # fmt: skip
    async with SqliteStore(path) as store:
        await store.write_batch(bad)
        await store.write_batch(bad)
        stats = await store.site_stats("s1")
    assert (stats.readings, stats.rejected) == (0, 1)
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT site, edge, batch_id, reading_index, reason, raw FROM rejected_readings"
        ).fetchall()
    assert rows == [("s1", "edge-s1", "b7", 3, "seq: bad", '{"seq":-1}')]


async def test_locked_database_is_unavailable_and_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    async with SqliteStore(path, busy_timeout_ms=50) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StoreUnavailable, match="database is locked"):
                await store.write_batch(to_store(records()))
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        # the store recovers once the lock is gone
        outcome = await store.write_batch(to_store(records()))
    assert outcome.accepted == 4


async def test_duplicates_are_counted_per_device_and_local_date(tmp_path: Path) -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    # 1970-01-01 00:00:01 UTC is 08:00:01 local; 16:00 UTC is already the 2nd in Shanghai
    late = MeterRecord(device="m1", boot="b3", seq=0, device_time_ms=16 * 3_600_000,
                       received_ms=16 * 3_600_000 + 40, quantity=Quantity.GAS,
                       total=44.0)  # fmt: skip
    # a clock at 1970 (received 2026-01-01 10:00 local): its copy counts on the receive date
    wrong = late.model_copy(
        update={"seq": 1, "device_time_ms": 5, "received_ms": 1_767_232_800_000}
    )
    async with SqliteStore(tmp_path / "c.sqlite3") as store:
        await store.write_batch(to_store([*records(), late, wrong]))
        again = BatchToStore(
            site="s1", edge="edge-s1", batch_id="again", received_ms=9,
            readings=[*records(), late, late, wrong], timezone=shanghai,
        )  # fmt: skip
        outcome = await store.write_batch(again)
        assert (outcome.accepted, outcome.duplicates) == (0, 7)
        received_day = await store.load_duplicates("s1", date(2026, 1, 1), date(2026, 1, 1))
        assert received_day.local_date.tolist() == ["2026-01-01"]
        counts = await store.load_duplicates("s1", date(1970, 1, 1), date(1970, 1, 2))
        first_only = await store.load_duplicates("s1", date(1970, 1, 1), date(1970, 1, 1))
        other_site = await store.load_duplicates("s2", date(1970, 1, 1), date(1970, 1, 2))
    found = sorted(zip(counts.device.tolist(), counts.local_date.tolist(),
                       counts.duplicates.tolist(), strict=True))  # fmt: skip
    assert found == [
        ("cr", "1970-01-01", 1), ("m1", "1970-01-01", 2), ("m1", "1970-01-02", 2),
        ("sc", "1970-01-01", 1),
    ]  # fmt: skip
    assert sum(first_only.duplicates.tolist()) == 4
    assert other_site.device.size == 0


async def test_duplicates_the_edge_dropped_are_counted_once_per_edge_and_id(
    tmp_path: Path,
) -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from contract import DroppedDuplicate

    shanghai = ZoneInfo("Asia/Shanghai")
    dropped = [
        DroppedDuplicate(id=1, device="m1", device_time_ms=1_000),  # 1970-01-01 local
        DroppedDuplicate(id=2, device="m1", device_time_ms=16 * 3_600_000),  # the 2nd local
        DroppedDuplicate(id=3, device="sc", device_time_ms=2_000),
    ]

    def carrying(batch_id: str, edge: str, reports: list[DroppedDuplicate]) -> BatchToStore:
        return BatchToStore(site="s1", edge=edge, batch_id=batch_id, received_ms=9, readings=[],
                            timezone=shanghai, edge_duplicates=reports)  # fmt: skip

    async with SqliteStore(tmp_path / "c.sqlite3") as store:
        outcome = await store.write_batch(carrying("a", "edge-s1", dropped))
        # a resend after a crash (new batch id, same edge ids) and one new report
        await store.write_batch(carrying("b", "edge-s1", [*dropped[1:], dropped[0]]))
        await store.write_batch(
            carrying("c", "edge-s1", [DroppedDuplicate(id=4, device="m1", device_time_ms=5)])
        )
        # another edge numbers its own drops
        await store.write_batch(carrying("d", "edge-s1b", dropped[:1]))
        counts = await store.load_duplicates("s1", date(1970, 1, 1), date(1970, 1, 2))
    assert (outcome.accepted, outcome.duplicates) == (0, 0)  # the answer is about readings
    found = sorted(zip(counts.device.tolist(), counts.local_date.tolist(),
                       counts.duplicates.tolist(), strict=True))  # fmt: skip
    assert found == [("m1", "1970-01-01", 3), ("m1", "1970-01-02", 1), ("sc", "1970-01-01", 1)]
