"""The write path of the `influxdb` store against a real InfluxDB v2 write API: VictoriaMetrics.

VictoriaMetrics (Debian package) accepts `POST /api/v2/write` as InfluxDB 2.x does; each field
becomes a series `<measurement>_<field>` with the point's tags. Read back with /api/v1/export:
every point, every tag, every numeric field value and the millisecond of its timestamp.
What VictoriaMetrics cannot show: string field values (it stores 0 for them, so only their
presence is checked here; their text is checked in the line protocol, test_influx_schema.py)
and the sub-millisecond slot (it keeps ms). Both are verified against InfluxDB 2 only in the
live conformance suite (test_conformance.py).
"""

from collections import Counter
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from central.derived import DerivedSeries, MeterInterval, ServiceMeals, StreamWaste
from central.kpi.clocks import DEFAULT_CLOCK_RULE
from central.kpi.periods import DateRange
from central.store import StoreUnavailable
from central.store.base import BatchToStore, RejectedRow, WriteOutcome
from central.store.influx import InfluxStore, batch_points
from central.store.influx_clocks import judge
from central.store.influx_schema import (
    NS_PER_MS,
    duplicate_point,
    needs_received_copy,
    place,
    reading_point,
    status_points,
)
from contract import (
    CardRecord,
    DeviceKind,
    DeviceStatusRecord,
    DroppedDuplicate,
    MeterRecord,
    Quantity,
    ScaleRecord,
    Stream,
)
from harness.ports import free_port
from tests.central.store.conftest import VictoriaMetrics

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

RECORDS: list[ScaleRecord | CardRecord | MeterRecord] = [
    ScaleRecord(device="plate-1", boot="b1", seq=7, device_time_ms=T0, received_ms=T0 + 40,
                stream=Stream.PLATE, mass_g=61.5, tray="tray 9", person="ab" * 8),
    ScaleRecord(device="bin-1", boot="b1", seq=0, device_time_ms=T0 + 1, received_ms=T0 + 41,
                stream=Stream.PREP, mass_g=1200.0),
    CardRecord(device="card-1", boot="b1", seq=41, device_time_ms=T0 + 5, received_ms=T0 + 45,
               person="cd" * 8),
    # a double swipe in the same millisecond: two readings, two points
    CardRecord(device="card-1", boot="b1", seq=42, device_time_ms=T0 + 5, received_ms=T0 + 45,
               person="cd" * 8),
    MeterRecord(device="meter-elec", boot="b3", seq=9_000_001, device_time_ms=T0 + 60_000,
                received_ms=T0 + 60_030, quantity=Quantity.ELECTRICITY, total=12345.678,
                power_kw=3.25),
    MeterRecord(device="meter-gas", boot="b1", seq=3, device_time_ms=0, received_ms=T0,
                quantity=Quantity.GAS, total=0.0),  # a device clock at 1970
    CardRecord(device="card-2", boot="b1", seq=5, device_time_ms=T0 + 5 * 3_600_000,
               received_ms=T0 + 50, person="ef" * 8),  # a device clock 5 hours ahead
]  # fmt: skip

FIELDS = {  # numeric and string fields of each kind, as docs/influxdb.md lists them
    "scale": ({"mass_g", "seq", "received_ms"}, {"boot", "tray", "person"}),
    "card": ({"seq", "received_ms"}, {"boot", "person"}),
    "meter": ({"total", "power_kw", "seq", "received_ms"}, {"boot"}),
}

Sample = tuple[str, tuple[tuple[str, str], ...], int, float]


def exported(vm: VictoriaMetrics, match: str) -> Counter[Sample]:
    samples: Counter[Sample] = Counter()
    for series in vm.export(match):
        metric = dict(series["metric"])  # type: ignore[call-overload]
        name = metric.pop("__name__")
        tags = tuple(sorted(metric.items()))
        for value, ts in zip(series["values"], series["timestamps"], strict=True):  # type: ignore[call-overload]
            samples[name, tags, ts, float(value)] += 1
    return samples


def expected_reading_samples(site: str, measurement: str = "reading") -> Counter[Sample]:
    """The samples of `reading` points (at device time), or of `reading_by_received` copies (at
    receive time, with device_time_ns) of the readings far from their receive time."""
    samples: Counter[Sample] = Counter()
    placement = place(RECORDS, {})
    for record, slot in placement.new:
        if measurement == "reading_by_received" and not needs_received_copy(record):
            continue
        tags = {"site": site, "device": record.device, "kind": record.kind}
        if isinstance(record, ScaleRecord):
            tags["stream"] = record.stream.value
        if isinstance(record, MeterRecord):
            tags["quantity"] = record.quantity.value
        numeric, strings = FIELDS[record.kind]
        device_ns = record.device_time_ms * NS_PER_MS + slot
        ts_ms = device_ns // NS_PER_MS
        key = tuple(sorted(tags.items()))
        if measurement == "reading_by_received":
            ts_ms = record.received_ms
            samples[f"{measurement}_device_time_ns", key, ts_ms, float(device_ns)] += 1
        for field in numeric:
            value = getattr(record, field)
            if value is not None:
                samples[f"{measurement}_{field}", key, ts_ms, float(value)] += 1
        for field in strings:
            if getattr(record, field) is not None:
                # VictoriaMetrics keeps a string field as the value 0
                samples[f"{measurement}_{field}", key, ts_ms, 0.0] += 1
        if record.device_time_ms - record.received_ms < -DEFAULT_CLOCK_RULE.max_delay_ms:
            # a late reading's per-device clock verdict: not trusted (no live reading after it)
            samples[f"{measurement}_clock_trusted", key, ts_ms, 0.0] += 1
    return samples


async def test_every_point_is_read_back_with_its_tags_fields_and_time(
    victoria_metrics: VictoriaMetrics,
) -> None:
    store = InfluxStore(url=victoria_metrics.url, org="canteen", bucket="canteen", token="t")
    row = RejectedRow(index=4, reason="seq: bad", raw_json='{"seq":-1}')
    # copies the edge dropped: one at 2026-01-01 20:00 UTC (2026-01-02 in Shanghai), two ids of
    # one device and date more than a millisecond apart (VictoriaMetrics keeps ms)
    dropped = [
        DroppedDuplicate(id=3, device="card-1", device_time_ms=T0 + 20 * 3_600_000),
        DroppedDuplicate(id=2_000_005, device="card-1", device_time_ms=T0 + 21 * 3_600_000),
        DroppedDuplicate(id=4, device="plate-1", device_time_ms=T0),
    ]
    batch = BatchToStore(site="s1", edge="edge-s1", batch_id="batch-9", received_ms=T0 + 100,
                         readings=RECORDS, rejected=[row], timezone=ZoneInfo("Asia/Shanghai"),
                         edge_duplicates=dropped)  # fmt: skip
    # the points write_batch sends for this batch on an empty store
    points, outcome = batch_points(batch, {}, 0, judge(RECORDS, DEFAULT_CLOCK_RULE, []))
    assert outcome == WriteOutcome(accepted=len(RECORDS), duplicates=0)
    points.append(duplicate_point("s1", "card-1", date(2026, 1, 1), 3, now_ns=5 * NS_PER_MS))
    async with store:
        await store.write_points(points)

    readings = exported(victoria_metrics, '{__name__=~"reading_.*"}')
    copies = expected_reading_samples("s1", "reading_by_received")
    # the 1970 meter and the card 5 hours ahead, and only those, have a receive-time copy
    assert {tags for _, tags, _, _ in copies} == {
        (("device", "card-2"), ("kind", "card"), ("site", "s1")),
        (("device", "meter-gas"), ("kind", "meter"), ("quantity", "gas"), ("site", "s1")),
    }
    assert readings == expected_reading_samples("s1") + copies
    day_ms = (date(2026, 1, 1) - date(1970, 1, 1)).days * 86_400_000
    assert exported(victoria_metrics, '{__name__=~"duplicate_.*"}') == Counter(
        {("duplicate_count", (("device", "card-1"), ("site", "s1")), day_ms + 5, 3.0): 1}
    )
    edge_dups: Counter[Sample] = Counter()
    for d in dropped:
        local = date(2026, 1, 2 if d.device_time_ms >= T0 + 16 * 3_600_000 else 1)
        at_ms = (local - date(1970, 1, 1)).days * 86_400_000 + d.id // NS_PER_MS
        tags = (("device", d.device), ("edge", "edge-s1"), ("site", "s1"))
        edge_dups["edge_duplicate_id", tags, at_ms, float(d.id)] += 1
        edge_dups["edge_duplicate_device_time_ms", tags, at_ms, float(d.device_time_ms)] += 1
    assert exported(victoria_metrics, '{__name__=~"edge_duplicate_.*"}') == edge_dups
    rejected_tags = (("edge", "edge-s1"), ("site", "s1"))
    assert exported(victoria_metrics, '{__name__=~"rejected_.*"}') == Counter(
        {
            (f"rejected_{field}", rejected_tags, T0 + 100, value): 1
            for field, value in (
                ("index", 4.0), ("key", 0.0), ("batch_id", 0.0), ("reason", 0.0), ("raw", 0.0)
            )
        }
    )  # fmt: skip


async def test_a_server_that_is_down_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with InfluxStore(url=url, org="o", bucket="b", token="t", write_timeout_s=2) as store:
        points = [reading_point("s1", RECORDS[0], 0)]
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await store.write_points(points)


async def test_device_status_points_are_read_back_with_their_tags_and_times(
    victoria_metrics: VictoriaMetrics,
) -> None:
    changes = [
        DeviceStatusRecord(kind=DeviceKind.METER, device="meter-elec", state="online", boot="b3",
                           device_time_ms=T0 - 7, received_ms=T0),
        DeviceStatusRecord(kind=DeviceKind.METER, device="meter-elec", state="offline",
                           received_ms=T0 + 60_000),  # the last will: no boot, no device time
    ]  # fmt: skip
    store = InfluxStore(url=victoria_metrics.url, org="canteen", bucket="canteen", token="t")
    async with store:
        await store.write_points(status_points("s1", "edge-s1", changes, {}))
    tags = (("device", "meter-elec"), ("kind", "meter"), ("site", "s1"))
    assert exported(victoria_metrics, '{__name__=~"device_status_.*"}') == Counter(
        {
            ("device_status_since_ms", tags, T0, float(T0)): 1,
            ("device_status_device_time_ms", tags, T0, float(T0 - 7)): 1,
            ("device_status_state", tags, T0, 0.0): 1,
            ("device_status_boot", tags, T0, 0.0): 1,
            ("device_status_edge", tags, T0, 0.0): 1,
            ("device_status_since_ms", tags, T0 + 60_000, float(T0 + 60_000)): 1,
            ("device_status_state", tags, T0 + 60_000, 0.0): 1,
            ("device_status_edge", tags, T0 + 60_000, 0.0): 1,
        }
    )


async def test_derived_series_are_read_back_with_their_tags_fields_and_time(
    victoria_metrics: VictoriaMetrics,
) -> None:
    lunch_ms, day_ms = T0 + 4 * 3_600_000, T0 - 8 * 3_600_000
    series = DerivedSeries(
        site="s1",
        span=DateRange(date(2026, 1, 1), date(2026, 1, 1)),
        meals=(ServiceMeals("lunch", lunch_ms, diners=212, trays=198, clean_plates=150),),
        waste=(StreamWaste("plate", day_ms, 10_250.5), StreamWaste("prep", day_ms, 0.0)),
        intervals=(
            MeterInterval("meter-elec", "electricity", T0, T0 + 60_000, 0.75, 0.0),
            MeterInterval("meter-elec", "electricity", T0 + 60_000, T0 + 960_000, 9.5, 9.5),
        ),
    )
    async with InfluxStore(
        url=victoria_metrics.url, org="canteen", bucket="canteen", token="t"
    ) as store:
        await store.write_derived(series)

    meals = (("service", "lunch"), ("site", "s1"))
    assert exported(victoria_metrics, '{__name__=~"meals_.*"}') == Counter(
        {
            ("meals_diners", meals, lunch_ms, 212.0): 1,
            ("meals_trays", meals, lunch_ms, 198.0): 1,
            ("meals_clean_plates", meals, lunch_ms, 150.0): 1,
        }
    )
    assert exported(victoria_metrics, '{__name__=~"waste_.*"}') == Counter(
        {
            ("waste_mass_g", (("site", "s1"), ("stream", "plate")), day_ms, 10_250.5): 1,
            ("waste_mass_g", (("site", "s1"), ("stream", "prep")), day_ms, 0.0): 1,
        }
    )
    meter = (("device", "meter-elec"), ("quantity", "electricity"), ("site", "s1"))
    expected: Counter[Sample] = Counter()
    for interval in series.intervals:
        for field, value in (
            ("used", interval.used),
            ("estimated_used", interval.estimated),
            ("estimated", 1.0 if interval.estimated > 0 else 0.0),  # a boolean field
            ("start_ms", float(interval.start_ms)),
        ):
            expected[f"consumption_{field}", meter, interval.end_ms, value] += 1
    assert exported(victoria_metrics, '{__name__=~"consumption_.*"}') == expected
