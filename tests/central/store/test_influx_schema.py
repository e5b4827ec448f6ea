"""Points of the InfluxDB schema: tags, fields, ns timestamps and the identity slots."""

from datetime import UTC, date
from zoneinfo import ZoneInfo

import pytest

from central.kpi.edgehealth import EdgeHealthReport
from central.kpi.presence import DevicePresence
from central.store.base import BatchToStore, RejectedRow
from central.store.influx_schema import (
    MAX_DEVICE_TIME_MS,
    NS_PER_MS,
    RECEIVED_INDEX_SKEW_MS,
    SLOTS_PER_MS,
    duplicate_point,
    edge_duplicate_point,
    health_from_rows,
    health_point,
    local_date_of,
    needs_received_copy,
    occupancy,
    place,
    reading_point,
    received_point,
    rejected_point,
    representable,
    status_points,
)
from contract import (
    MAX_EPOCH_MS,
    CardRecord,
    DeviceKind,
    DeviceStatusRecord,
    DroppedDuplicate,
    LossReason,
    MeterRecord,
    Quantity,
    ScaleRecord,
    Stream,
)

T0 = 1_767_225_600_000


def card(seq: int, t_ms: int = T0, boot: str = "b1", device: str = "card-1") -> CardRecord:
    return CardRecord(device=device, boot=boot, seq=seq, device_time_ms=t_ms,
                      received_ms=T0 + 5, person="ab" * 8)  # fmt: skip


def test_line_protocol_of_each_kind() -> None:
    scale = ScaleRecord(device="plate-1", boot="b1", seq=7, device_time_ms=T0, received_ms=T0 + 40,
                        stream=Stream.PLATE, mass_g=61.0, tray='t"9', person="ab" * 8)  # fmt: skip
    meter = MeterRecord(device="m", boot="b2", seq=3, device_time_ms=T0, received_ms=T0 + 1,
                        quantity=Quantity.GAS, total=5.0)  # fmt: skip
    assert reading_point("s1", scale, 7).to_line_protocol() == (
        "reading,device=plate-1,kind=scale,site=s1,stream=plate "
        'boot="b1",mass_g=61,person="abababababababab",received_ms=1767225600040i,seq=7i,'
        'tray="t\\"9" 1767225600000000007'
    )
    assert reading_point("s1", card(41), 41).to_line_protocol() == (
        'reading,device=card-1,kind=card,site=s1 boot="b1",person="abababababababab",'
        "received_ms=1767225600005i,seq=41i 1767225600000000041"
    )
    # no power: the field is left out; 61 and 5 without the `i` suffix are floats in line protocol
    assert reading_point("s1", meter, 3).to_line_protocol() == (
        'reading,device=m,kind=meter,quantity=gas,site=s1 boot="b2",received_ms=1767225600001i,'
        "seq=3i,total=5 1767225600000000003"
    )
    with pytest.raises(ValueError, match="slot"):
        reading_point("s1", card(1), SLOTS_PER_MS)


def test_slots_keep_readings_of_one_millisecond_apart_and_resends_on_their_point() -> None:
    # a double swipe (two seqs, one ms) and a reboot reusing the time and seq of boot b1
    batch = [card(41), card(42), card(41, boot="b2"), card(SLOTS_PER_MS + 41)]
    placement = place(batch, {})
    slots = [slot for _, slot in placement.new]
    assert slots == [41, 42, 43, 44]  # seq 41 of b2 and seq 10^6+41 probe to the next free slot
    assert placement.duplicates == ()
    # the same batch again, against what is stored now: every reading is a duplicate
    stored = occupancy(
        (r.device, r.device_time_ms * NS_PER_MS + slot, r.boot, r.seq) for r, slot in placement.new
    )
    again = place(batch, stored)
    assert again.new == ()
    assert len(again.duplicates) == 4
    # twice within one batch: the second is a duplicate
    assert len(place([card(1), card(1)], {}).duplicates) == 1
    # deterministic: two replicas placing the same batch on the same state write the same points
    assert place(batch, {}) == placement


def test_duplicate_points_encode_the_local_date() -> None:
    day = date(2026, 1, 1)
    first = duplicate_point("s1", "card-1", day, 2, now_ns=123)
    later = duplicate_point("s1", "card-1", day, 1, now_ns=86_400 * 10**9 + 456)
    first_ns = int(first.to_line_protocol().rsplit(" ", 1)[1])
    later_ns = int(later.to_line_protocol().rsplit(" ", 1)[1])
    assert first_ns != later_ns  # two writes, two points, summed by the query
    assert local_date_of(first_ns) == local_date_of(later_ns) == day
    assert "count=2i" in first.to_line_protocol()


def test_an_edge_duplicate_is_one_point_per_edge_and_id_on_its_local_date() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    # 2026-01-01 20:00 UTC is 2026-01-02 04:00 in Shanghai: the local date of the device time
    dropped = DroppedDuplicate(id=7, device="card-1", device_time_ms=T0 + 20 * 3_600_000)
    point = edge_duplicate_point("s1", "edge-s1", dropped, shanghai)
    assert point is not None
    day_ns = (date(2026, 1, 2) - date(1970, 1, 1)).days * 86_400 * 10**9
    assert point.to_line_protocol() == (
        f"edge_duplicate,device=card-1,edge=edge-s1,site=s1 device_time_ms={T0 + 72_000_000}i,"
        f"id=7i {day_ns + 7}"
    )
    # a resend is the same point (overwritten); another id or edge is another point
    again = edge_duplicate_point("s1", "edge-s1", dropped, shanghai)
    assert again is not None
    assert again.to_line_protocol() == point.to_line_protocol()
    other = edge_duplicate_point("s1", "edge-s1", dropped.model_copy(update={"id": 8}), shanghai)
    assert other is not None
    assert other.to_line_protocol() != point.to_line_protocol()
    assert local_date_of(day_ns + 7) == date(2026, 1, 2)
    # in UTC the same copy belongs to 2026-01-01
    utc = edge_duplicate_point("s1", "edge-s1", dropped, UTC)
    assert utc is not None
    assert utc.to_line_protocol().endswith(f" {day_ns - 86_400 * 10**9 + 7}")
    # a device time InfluxDB cannot hold: no point
    beyond = dropped.model_copy(update={"device_time_ms": MAX_EPOCH_MS})
    assert edge_duplicate_point("s1", "edge-s1", beyond, UTC) is None


def test_rejected_points_carry_a_key_per_edge_batch_and_index() -> None:
    row = RejectedRow(index=3, reason="seq: bad", raw_json='{"seq":-1}')
    line = rejected_point("s1", "edge-s1", "b7", row, received_ms=T0).to_line_protocol()
    assert line.startswith("rejected,edge=edge-s1,site=s1 ")
    assert 'key="edge-s1/b7/3"' in line
    assert line.endswith(f" {T0 * NS_PER_MS + 3}")


def test_device_times_beyond_2262_are_not_representable() -> None:
    assert representable(card(1, t_ms=MAX_DEVICE_TIME_MS))
    assert not representable(card(1, t_ms=MAX_EPOCH_MS))  # 9998-12-30, allowed by the contract


def status(state: str, received_ms: int, boot: str | None = "b1") -> DeviceStatusRecord:
    return DeviceStatusRecord.model_validate(
        {"kind": "meter", "device": "m1", "state": state, "boot": boot, "received_ms": received_ms}
    )


def test_status_points_carry_since_over_a_run_of_one_state() -> None:
    points = status_points(
        "s1",
        "edge-s1",
        # out of order in the batch: sorted by the edge's receive time
        [status("offline", T0 + 9, boot=None), status("online", T0), status("offline", T0 + 5)],
        {},
    )
    assert [p.to_line_protocol() for p in points] == [
        'device_status,device=m1,kind=meter,site=s1 boot="b1",edge="edge-s1",'
        f'since_ms={T0}i,state="online" {T0 * NS_PER_MS}',
        'device_status,device=m1,kind=meter,site=s1 boot="b1",edge="edge-s1",'
        f'since_ms={T0 + 5}i,state="offline" {(T0 + 5) * NS_PER_MS}',
        # the will repeats offline: still offline since T0 + 5; no boot field
        'device_status,device=m1,kind=meter,site=s1 edge="edge-s1",'
        f'since_ms={T0 + 5}i,state="offline" {(T0 + 9) * NS_PER_MS}',
    ]


def test_a_resent_status_change_gets_the_same_point() -> None:
    stored = DevicePresence("m1", "meter", "offline", "b1", since_ms=T0 + 5, changed_ms=T0 + 9)
    again = status_points("s1", "e", [status("offline", T0 + 9)], {"m1": stored})
    assert f"since_ms={T0 + 5}i" in again[0].to_line_protocol()
    # a change older than the stored latest starts its own run; a newer one of another state too
    late = status_points("s1", "e", [status("offline", T0 + 1), status("online", T0 + 20)],
                         {"m1": stored})  # fmt: skip
    assert f"since_ms={T0 + 1}i" in late[0].to_line_protocol()
    assert f"since_ms={T0 + 20}i" in late[1].to_line_protocol()
    point = status_points("s1", "e", [DeviceStatusRecord(
        kind=DeviceKind.CARD, device="c", state="online", device_time_ms=T0 - 2, received_ms=T0,
    )], {})[0]  # fmt: skip
    assert "device_time_ms=" + str(T0 - 2) + "i" in point.to_line_protocol()


def test_a_raw_bin_reading_has_gross_and_stable_fields_and_no_mass() -> None:
    record = ScaleRecord(device="bin-prep", boot="b1", seq=2, device_time_ms=T0,
                         received_ms=T0 + 3, stream=Stream.PREP, gross_g=-5.0,
                         stable=True)  # fmt: skip
    assert reading_point("s1", record, 2).to_line_protocol() == (
        "reading,device=bin-prep,kind=scale,site=s1,stream=prep "
        'boot="b1",gross_g=-5,received_ms=1767225600003i,seq=2i,stable=true 1767225600000000002'
    )


def test_a_tagged_weighing_has_item_and_reason_fields_not_tags() -> None:
    record = ScaleRecord(device="scale-over", boot="b1", seq=4, device_time_ms=T0,
                         received_ms=T0 + 3, stream=Stream.OVERPRODUCTION, mass_g=2350.0,
                         item="hongshao-rou", reason=LossReason.OVERPRODUCED)  # fmt: skip
    assert reading_point("s1", record, 4).to_line_protocol() == (
        "reading,device=scale-over,kind=scale,site=s1,stream=overproduction "
        'boot="b1",item="hongshao-rou",mass_g=2350,reason="overproduced",'
        "received_ms=1767225600003i,seq=4i 1767225600000000004"
    )


def test_readings_far_from_their_receive_time_get_a_receive_time_copy() -> None:
    at_1970 = card(41, t_ms=12)  # received at T0 + 5
    assert needs_received_copy(at_1970)
    assert received_point("s1", at_1970, 41).to_line_protocol() == (
        'reading_by_received,device=card-1,kind=card,site=s1 boot="b1",device_time_ns=12000041i,'
        f'person="abababababababab",received_ms={T0 + 5}i,seq=41i {(T0 + 5) * NS_PER_MS + 41}'
    )
    # an hour either way is the limit: closer readings are found by their device time
    assert not needs_received_copy(card(1, t_ms=T0 + 5 - RECEIVED_INDEX_SKEW_MS))
    assert needs_received_copy(card(1, t_ms=T0 + 4 - RECEIVED_INDEX_SKEW_MS))
    assert not needs_received_copy(card(1, t_ms=T0 + 5 + RECEIVED_INDEX_SKEW_MS))
    assert needs_received_copy(card(1, t_ms=T0 + 6 + RECEIVED_INDEX_SKEW_MS))
    with pytest.raises(ValueError, match="slot"):
        received_point("s1", at_1970, -1)


def test_an_edge_health_report_is_one_point_per_edge_and_measurement() -> None:
    report = EdgeHealthReport("edge-s1", T0, 3, 1, 0, 2, 40, None)
    point = health_point("s1", report)
    assert point is not None
    assert point.to_line_protocol() == (
        "edge_health,edge=edge-s1,site=s1 broker_sessions_lost=2i,dead_lettered=1i,"
        f"dropped_overflow=3i,intake_pauses=0i,pending_readings=40i {T0 * NS_PER_MS}"
    )
    # an edge clock beyond InfluxDB's range: not kept (the readings of the batch still are)
    assert (
        health_point("s1", EdgeHealthReport("e", MAX_DEVICE_TIME_MS + 1, 0, 0, 0, 0, 0, 0)) is None
    )
    row = {"edge": "edge-s1", "time_ns": T0 * NS_PER_MS, "dropped_overflow": 3,
           "dead_lettered": 1, "intake_pauses": 0, "broker_sessions_lost": 2,
           "pending_readings": 40}  # fmt: skip
    assert health_from_rows([row]) == [report]


def test_an_edge_duplicate_is_dated_by_the_instant_the_store_attributes_it_to() -> None:
    """A copy from a clock at 1970 that the edge reported with its receive time: the store dates
    it by its clock rule (BatchToStore.edge_duplicate_ms), here the receive date."""
    received_ms = T0 + 3_600_000
    dropped = DroppedDuplicate(id=9, device="card-1", device_time_ms=5, received_ms=received_ms)
    batch = BatchToStore(site="s1", edge="edge-s1", batch_id="b", received_ms=received_ms,
                         readings=[], edge_duplicates=[dropped])  # fmt: skip
    dated_ms = batch.edge_duplicate_ms(dropped)
    assert dated_ms == received_ms
    point = edge_duplicate_point("s1", "edge-s1", dropped, UTC, dated_ms)
    assert point is not None
    line = point.to_line_protocol()
    assert f"received_ms={received_ms}i" in line
    assert local_date_of(int(line.rsplit(" ", 1)[1])) == date(2026, 1, 1)
    # without a receive time (an older edge): its device time
    old = dropped.model_copy(update={"received_ms": None})
    assert batch.edge_duplicate_ms(old) == 5


def test_a_buffered_upload_is_written_with_its_clock_verdicts() -> None:
    """The InfluxDB store judges clocks per device, here on an empty store (the stored burst
    and predecessor: tests/central/store/test_influx_clocks.py): a meter's live reading, the day
    it buffered, and its live reading again, in one upload; the buffered ones carry
    `clock_trusted=true`, and the loaders read the field back into the KPI arrays."""
    from central.kpi.clocks import DEFAULT_CLOCK_RULE
    from central.store.influx import batch_points, readings_from_rows
    from central.store.influx_clocks import judge

    def verdicts(readings: list[MeterRecord]) -> list[bool | None]:
        judged = judge(readings, DEFAULT_CLOCK_RULE, [])
        return [judged.of(r) for r in readings]

    now = T0 + 86_400_000

    def meter(seq: int, time_ms: int, received_ms: int) -> MeterRecord:
        return MeterRecord(device="m1", boot="b", seq=seq, device_time_ms=time_ms,
                           received_ms=received_ms, quantity=Quantity.ELECTRICITY,
                           total=float(seq))  # fmt: skip

    readings = [meter(0, T0, now), meter(1, T0 + 900_000, now), meter(2, now, now)]
    assert verdicts(readings) == [False, False, None]  # T0 itself has no reading before it
    readings.insert(0, meter(5, T0 - 1000, T0 - 900))  # ... until its predecessor is there
    readings[0] = readings[0].model_copy(update={"seq": 0})
    readings[1:] = [r.model_copy(update={"seq": r.seq + 1}) for r in readings[1:]]
    batch = BatchToStore(site="s1", edge="e", batch_id="b", received_ms=now, readings=readings)
    assert verdicts(readings) == [None, True, True, None]
    points, _ = batch_points(batch, {}, 0, judge(readings, DEFAULT_CLOCK_RULE, []))
    lines = [p.to_line_protocol() for p in points if p.to_line_protocol().startswith("reading,")]
    assert sum("clock_trusted=true" in line for line in lines) == 2
    assert not any("clock_trusted=false" in line for line in lines)
    rows = [
        {"result": "range", "kind": "meter", "device": "m1", "quantity": "electricity",
         "time_ns": r.device_time_ms * 1_000_000, "total": r.total, "received_ms": r.received_ms,
         "clock_trusted": trusted}
        for r, trusted in zip(readings, (None, True, True, None), strict=True)
    ]  # fmt: skip
    assert readings_from_rows(rows).meter.clock_trusted.tolist() == [False, True, True, False]
