"""The SQLite store on real files: durability settings, idempotency, arrays, unavailability."""

import sqlite3
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from central.kpi.clocks import ClockRule
from central.store import BatchToStore, DevicePresence, RejectedRow, StoreUnavailable
from central.store.sqlite import STATUS_HISTORY_PER_DEVICE, SqliteStore
from contract import (
    CardRecord,
    DeviceKind,
    DeviceStatusRecord,
    LossReason,
    MeterRecord,
    Quantity,
    ScaleRecord,
    Stream,
)


def records(offset: int = 0) -> tuple[ScaleRecord, CardRecord, MeterRecord, MeterRecord]:
    return (
        ScaleRecord(device="sc", boot="b1", seq=0, device_time_ms=1000, received_ms=1001,
                    stream=Stream.PLATE, mass_g=12.5, tray="t1"),
        CardRecord(device="cr", boot="b1", seq=0, device_time_ms=1100, received_ms=1101,
                   person="ab" * 8),
        MeterRecord(device="m1", boot="b1", seq=0, device_time_ms=1200, received_ms=1201,
                    quantity=Quantity.GAS, total=42.0),
        MeterRecord(device="m1", boot="b2", seq=0, device_time_ms=5000 + offset, received_ms=5001,
                    quantity=Quantity.GAS, total=43.0, power_kw=None),
    )  # fmt: skip


def to_store(
    readings: Sequence[ScaleRecord | CardRecord | MeterRecord], batch_id: str = "b"
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


def change(
    device: str, state: Literal["online", "offline"], received_ms: int, boot: str | None = "b1"
) -> DeviceStatusRecord:
    return DeviceStatusRecord(
        kind=DeviceKind.METER, device=device, state=state, boot=boot,
        device_time_ms=received_ms - 3, received_ms=received_ms,
    )  # fmt: skip


def statuses(changes: list[DeviceStatusRecord], batch_id: str = "s") -> BatchToStore:
    return BatchToStore(
        site="s1", edge="edge-s1", batch_id=batch_id, received_ms=9, readings=(), statuses=changes
    )


async def test_status_changes_give_each_device_its_state_and_since(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    flaps = [change("m1", "online", 100), change("m1", "offline", 200, boot=None)]
    async with SqliteStore(path) as store:
        await store.write_batch(statuses([*flaps, change("m2", "online", 150)]))
        # the device says goodbye itself after its will was already seen: still offline since 200
        await store.write_batch(statuses([change("m1", "offline", 260)], "s2"))
        # an edge resending both batches after a crash (new batch ids) changes nothing
        await store.write_batch(statuses(flaps, "s3"))
        await store.write_batch(statuses([change("m1", "offline", 260)], "s4"))
        presence = await store.device_presence("s1")
        assert await store.device_presence("s2") == []
    assert presence == [
        DevicePresence("m1", "meter", "offline", "b1", since_ms=200, changed_ms=260),
        DevicePresence("m2", "meter", "online", "b1", since_ms=150, changed_ms=150),
    ]
    with sqlite3.connect(path) as conn:
        log = conn.execute(
            "SELECT device, received_ms, state, boot, device_time_ms, edge FROM device_status_log"
            " ORDER BY device, received_ms"
        ).fetchall()
    conn.close()
    assert log == [
        ("m1", 100, "online", "b1", 97, "edge-s1"),
        ("m1", 200, "offline", None, 197, "edge-s1"),
        ("m1", 260, "offline", "b1", 257, "edge-s1"),
        ("m2", 150, "online", "b1", 147, "edge-s1"),
    ]


async def test_a_late_status_change_does_not_move_the_latest(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "c.sqlite3") as store:
        await store.write_batch(statuses([change("m1", "online", 500, boot="b2")]))
        # an older change arrives later (another batch overtook it): history only
        await store.write_batch(statuses([change("m1", "offline", 400)], "late"))
        (latest,) = await store.device_presence("s1")
        assert (latest.state, latest.boot, latest.since_ms) == ("online", "b2", 500)
        # a batch with statuses only, or with readings too, stores both
        both = BatchToStore(
            site="s1", edge="edge-s1", batch_id="both", received_ms=9,
            readings=records()[:1], statuses=[change("m1", "offline", 900)],
        )  # fmt: skip
        outcome = await store.write_batch(both)
        (latest,) = await store.device_presence("s1")
        stats = await store.site_stats("s1")
    assert (outcome.accepted, stats.readings) == (1, 1)
    assert (latest.state, latest.since_ms, latest.changed_ms) == ("offline", 900, 900)


async def test_status_history_is_bounded_per_device(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    many = [change("m1", "online" if n % 2 else "offline", 1000 + n) for n in range(250)]
    async with SqliteStore(path) as store:
        await store.write_batch(statuses(many))
        (latest,) = await store.device_presence("s1")
    assert (latest.state, latest.since_ms) == ("online", 1249)
    with sqlite3.connect(path) as conn:
        kept = conn.execute("SELECT MIN(received_ms), COUNT(*) FROM device_status_log").fetchone()
    conn.close()
    assert kept == (1250 - STATUS_HISTORY_PER_DEVICE, STATUS_HISTORY_PER_DEVICE)


def raw_bin(seq: int, time_ms: int, gross_g: float, stable: bool = True) -> ScaleRecord:
    return ScaleRecord(device="bin", boot="b1", seq=seq, device_time_ms=time_ms,
                       received_ms=time_ms + 1, stream=Stream.PREP, gross_g=gross_g,
                       stable=stable)  # fmt: skip


async def test_raw_bin_readings_and_the_last_stable_one_before_the_range(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "c.sqlite3") as store:
        await store.write_batch(
            to_store(
                [
                    *records(),
                    raw_bin(0, 100, 0.0),
                    raw_bin(1, 200, 450.0),
                    raw_bin(2, 300, 700.0, stable=False),
                    raw_bin(3, 1500, 950.0),
                ]
            )
        )
        plain = await store.load_readings("s1", 1000, 5000)
        with_reference = await store.load_readings("s1", 1000, 5000, raw_scale_lookback_ms=850)
        too_short = await store.load_readings("s1", 1000, 5000, raw_scale_lookback_ms=700)
    assert plain.scale.device.tolist() == ["sc", "bin"]
    np.testing.assert_array_equal(plain.scale.gross_g, [np.nan, 950.0])
    assert plain.scale.stable.tolist() == [True, True]
    # the unstable reading at 300 is skipped: the reference is the stable one at 200
    order = np.argsort(with_reference.scale.time_ms)
    assert with_reference.scale.time_ms[order].tolist() == [200, 1000, 1500]
    assert with_reference.scale.gross_g[order].tolist()[0] == 450.0
    assert too_short.scale.time_ms.size == 2


async def test_a_database_of_an_older_central_gets_the_raw_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:  # the readings table as the first release created it
        conn.execute(
            "CREATE TABLE readings (site TEXT NOT NULL, device TEXT NOT NULL, boot TEXT NOT NULL,"
            " seq INTEGER NOT NULL, kind TEXT NOT NULL, device_time_ms INTEGER NOT NULL,"
            " received_ms INTEGER NOT NULL, stream TEXT, mass_g REAL, tray TEXT, person TEXT,"
            " quantity TEXT, total REAL, power_kw REAL, ingested_ms INTEGER NOT NULL,"
            " PRIMARY KEY (site, device, boot, seq))"
        )
        conn.execute(
            "INSERT INTO readings VALUES ('s1', 'sc', 'b0', 0, 'scale', 1000, 1001, 'plate', 30.0,"
            " NULL, NULL, NULL, NULL, NULL, 5)"
        )
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    async with SqliteStore(path) as store:
        await store.write_batch(to_store([raw_bin(0, 1200, 80.0)]))
        loaded = await store.load_readings("s1", 0, 5000, raw_scale_lookback_ms=1000)
    assert loaded.scale.mass_g.tolist() == [30.0, 0.0]
    np.testing.assert_array_equal(loaded.scale.gross_g, [np.nan, 80.0])
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(readings)")}
    conn.close()
    assert {"gross_g", "stable", "item", "reason"} <= columns
    assert loaded.scale.item.tolist() == ["", ""]


async def test_the_dish_and_reason_of_a_weighing_are_stored_and_loaded(tmp_path: Path) -> None:
    tagged = ScaleRecord(device="term", boot="b1", seq=0, device_time_ms=1500, received_ms=1501,
                         stream=Stream.SPOILAGE, mass_g=800.0, item="not-on-menu",
                         reason=LossReason.EXPIRED)  # fmt: skip
    async with SqliteStore(tmp_path / "c.sqlite3") as store:
        await store.write_batch(to_store([*records(), tagged]))
        loaded = await store.load_readings("s1", 0, 5000)
    assert loaded.scale.device.tolist() == ["sc", "term"]
    assert loaded.scale.item.tolist() == ["", "not-on-menu"]
    assert loaded.scale.reason.tolist() == ["", "expired"]


async def test_the_raw_bin_reference_is_the_last_by_attributed_time(tmp_path: Path) -> None:
    """A stable reading with a wrong clock is placed at its receive time (central.kpi.clocks):
    one whose device time is just before the range but was received hours earlier is not the
    reference, the later trusted one is; one received just before the range is loaded too."""
    hour = 3_600_000
    start = 100 * hour

    def at(seq: int, device_ms: int, received_ms: int, gross_g: float) -> ScaleRecord:
        return ScaleRecord(device="bin", boot="b1", seq=seq, device_time_ms=device_ms,
                           received_ms=received_ms, stream=Stream.PREP, gross_g=gross_g,
                           stable=True)  # fmt: skip

    async with SqliteStore(tmp_path / "c.sqlite3") as store:
        await store.write_batch(
            to_store(
                [
                    at(0, start - 9 * hour, start - 9 * hour, 3305.0),  # trusted, older
                    at(1, start - 1_000, start - 9 * hour + 5, 3400.0),  # 9 h ahead: at -9 h
                    at(2, start - 3 * hour, start - 3 * hour, 5.0),  # trusted: the reference
                    at(3, start + hour, start + hour, 1995.0),  # in the range
                ]
            )
        )
        loaded = await store.load_readings(
            "s1", start, start + 24 * hour, raw_scale_lookback_ms=48 * hour
        )
        assert sorted(loaded.scale.gross_g.tolist()) == [5.0, 1995.0]
        await store.write_batch(to_store([at(4, 7, start - hour, 42.0)], "b2"))  # 1970 clock
        loaded = await store.load_readings(
            "s1", start, start + 24 * hour, raw_scale_lookback_ms=48 * hour
        )
        assert sorted(loaded.scale.gross_g.tolist()) == [5.0, 42.0, 1995.0]
        off = await store.load_readings(
            "s1",
            start,
            start + 24 * hour,
            raw_scale_lookback_ms=48 * hour,
            raw_clock=ClockRule(enabled=False),  # every device time trusted
        )
        assert sorted(off.scale.gross_g.tolist()) == [1995.0, 3400.0]


async def test_a_partly_resent_batch_stores_only_its_new_readings(tmp_path: Path) -> None:
    """Some readings stored before, some new, one new key twice in the batch, and a key that
    another site has: only the new ones are stored (the first copy of a repeated key), the rest
    are duplicates counted on their device and date."""
    scale, card, meter, meter_b2 = records()
    new = card.model_copy(update={"seq": 1, "device_time_ms": 2000, "received_ms": 2001})
    twice = card.model_copy(update={"seq": 2, "person": "cd" * 8})
    twice_again = twice.model_copy(update={"person": "ef" * 8})
    path = tmp_path / "c.sqlite3"
    async with SqliteStore(path) as store:
        await store.write_batch(to_store([scale, card]))
        other = BatchToStore(site="s2", edge="edge-s2", batch_id="o", received_ms=9,
                             readings=[meter])  # fmt: skip
        await store.write_batch(other)
        outcome = await store.write_batch(
            to_store([scale, new, twice, card, meter, twice_again, meter_b2], "again")
        )
        assert (outcome.accepted, outcome.duplicates) == (4, 3)
        counts = await store.load_duplicates("s1", date(1970, 1, 1), date(1970, 1, 1))
        loaded = await store.load_readings("s1", 0, 10_000)
    found = sorted(zip(counts.device.tolist(), counts.duplicates.tolist(), strict=True))
    assert found == [("cr", 2), ("sc", 1)]
    assert sorted(loaded.card.person.tolist()) == sorted([card.person, new.person, "cd" * 8])
    assert sorted(loaded.meter.time_ms.tolist()) == [1200, 5000]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 7


async def test_edge_duplicates_of_an_older_store_gain_the_receive_time_column(
    tmp_path: Path,
) -> None:
    from zoneinfo import ZoneInfo

    from contract import DroppedDuplicate

    path = tmp_path / "c.sqlite3"
    with sqlite3.connect(path) as conn:  # edge_duplicates as a central before received_ms made it
        conn.execute(
            "CREATE TABLE edge_duplicates (site TEXT NOT NULL, edge TEXT NOT NULL,"
            " id INTEGER NOT NULL, device TEXT NOT NULL, device_time_ms INTEGER NOT NULL,"
            " PRIMARY KEY (site, edge, id))"
        )
        conn.execute("INSERT INTO edge_duplicates VALUES ('s1', 'e1', 1, 'c1', 5)")
    conn.close()
    shanghai = ZoneInfo("Asia/Shanghai")
    noon_ms = 1_772_424_000_000  # 2026-03-02 12:00 in Shanghai
    copy = DroppedDuplicate(id=2, device="c1", device_time_ms=5, received_ms=noon_ms)
    async with SqliteStore(path) as store:
        await store.write_batch(
            BatchToStore(
                site="s1",
                edge="e1",
                batch_id="b",
                received_ms=noon_ms,
                readings=[],
                timezone=shanghai,
                edge_duplicates=[copy],
            )
        )
        counts = await store.load_duplicates("s1", date(2026, 3, 2), date(2026, 3, 2))
    assert counts.duplicates.tolist() == [1]  # a clock at 1970: dated by its receive time
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, received_ms FROM edge_duplicates ORDER BY id").fetchall()
    conn.close()
    assert rows == [(1, None), (2, noon_ms)]


async def test_a_meter_that_uploads_yesterdays_readings_keeps_their_device_times(
    tmp_path: Path,
) -> None:
    """Clocks judged per device at ingest (central.kpi.clocks.judge_device): a meter whose live
    readings are right keeps the times of the readings it buffered for a day, even when the live
    reading that vouches for them comes in a later upload (the stored ones are then updated and
    their dates' rollups marked pending); a scale 3 days behind stays corrected."""
    from central.kpi.clocks import correct_clocks

    day, minute = 86_400_000, 60_000
    at_8 = 1_800_000_000_000  # today 08:00
    yesterday = at_8 - day

    def meter(seq: int, time_ms: int, received_ms: int) -> MeterRecord:
        return MeterRecord(device="m1", boot="b1", seq=seq, device_time_ms=time_ms,
                           received_ms=received_ms, quantity=Quantity.ELECTRICITY,
                           total=100.0 + seq)  # fmt: skip

    live_yesterday = meter(0, yesterday, yesterday + 300)
    buffered = [meter(n, yesterday + n * 15 * minute, at_8 + n * 5) for n in range(1, 96)]
    live = meter(96, at_8 + 500, at_8 + 700)
    behind = [
        ScaleRecord(device="sc", boot="b1", seq=n, device_time_ms=at_8 + n * minute - 3 * day,
                    received_ms=at_8 + n * minute, stream=Stream.PLATE, mass_g=10.0)
        for n in range(4)
    ]  # fmt: skip
    # a battery scale that kept four readings of 8 days ago in its memory
    kept = [
        ScaleRecord(device="bs", boot="b1", seq=n, device_time_ms=at_8 - 8 * day + n * minute,
                    received_ms=at_8 - 8 * day + 100 if n == 0 else at_8 + n,
                    stream=Stream.PLATE, mass_g=20.0)
        for n in range(4)
    ]  # fmt: skip
    kept_live = kept[0].model_copy(update={"seq": 4, "device_time_ms": at_8 + 400,
                                           "received_ms": at_8 + 450})  # fmt: skip
    path = tmp_path / "c.sqlite3"
    async with SqliteStore(path) as store:

        async def upload(batch_id: str, readings: list[MeterRecord | ScaleRecord]) -> None:
            await store.write_batch(
                BatchToStore(
                    site="s1", edge="e1", batch_id=batch_id, received_ms=at_8, readings=readings
                )
            )

        await upload("a", [live_yesterday, kept[0]])
        # the buffers, cut before their last 1.5 h (within the rule's limits) and live readings
        await upload("b", [*buffered[:90], *behind, *kept[1:]])
        verdicts = await _column(path, "clock_trusted")
        assert (verdicts.count(0), verdicts.count(1)) == (90 + 4 + 3, 0)  # not trusted yet
        gens = dict(await _rows(path, "SELECT local_date, gen FROM kpi_rollup"))
        await upload("c", [*buffered[90:], live, kept_live])
        after = dict(await _rows(path, "SELECT local_date, gen FROM kpi_rollup"))
        loaded = await store.load_readings("s1", yesterday - 8 * day, at_8 + day)
    verdicts = await _column(path, "clock_trusted")
    assert (verdicts.count(1), verdicts.count(0)) == (90 + 3, 4)  # the 3-day-behind stay so
    # the date of the battery scale's readings is recomputed (the live reading alone is too far
    # from it to touch it): they land on it now
    assert after["2027-01-07"] > gens["2027-01-07"]
    fixed = correct_clocks(loaded).readings
    meters = [live_yesterday, *buffered, live]
    np.testing.assert_array_equal(np.sort(fixed.meter.time_ms),
                                  sorted(r.device_time_ms for r in meters))  # fmt: skip
    scales = [*(r.received_ms for r in behind), *(r.device_time_ms for r in [*kept, kept_live])]
    np.testing.assert_array_equal(np.sort(fixed.scale.time_ms), sorted(scales))


async def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(sql).fetchall()
    conn.close()
    return rows


async def _column(path: Path, name: str) -> list[object]:
    return [row[0] for row in await _rows(path, f"SELECT {name} FROM readings ORDER BY device")]


async def test_readings_of_an_older_store_gain_the_clock_verdict_column(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    async with SqliteStore(path) as store:
        await store.write_batch(to_store(records()))
    with sqlite3.connect(path) as conn:  # as a central before the column made it
        conn.execute("DROP INDEX readings_clock_pending")
        conn.execute("ALTER TABLE readings DROP COLUMN clock_trusted")
    conn.close()
    async with SqliteStore(path) as store:
        loaded = await store.load_readings("s1", 0, 10_000)
    assert loaded.meter.clock_trusted.tolist() == [False, False]
    assert await _column(path, "clock_trusted") == [None] * 4
