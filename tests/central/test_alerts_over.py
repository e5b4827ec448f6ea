"""Alerts over a range of dates (central.reporting.alerts_over, behind the alert history) equal
the alerts of each date evaluated on its own, and cost one load of readings however many dates.

The fixture has every fault the device judgements and the threshold alerts read: late data and
resends, wrong device clocks, meter gaps and resets over midnight, a meter silent over a month
boundary, a meter that arrives hours late (complete, so `device_late`), a configured meter whose
first reading comes days after the range starts, and an unconfigured meter seen on two dates of
the first month only; quotas, a waste target and an off-hours threshold that some dates cross.
"""

from dataclasses import replace
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

from central import reporting
from central.kpi.alerts import Alert, AlertKind, MeterTimes, silent_meters
from central.kpi.daytable import build_day_table, load_range
from central.kpi.periods import DateRange
from central.kpi.windows import local_instant_ms
from central.registry import Site
from central.site_kpi_config import MeterConfig
from central.store.sqlite import SqliteStore
from contract import MeterRecord, Quantity
from tests.central.test_rollup import FIRST, SITE, START_MS, Data, H, batch

DAY_MS = 24 * H
# Feb 24 .. Mar 8 2026 (FIRST is Mar 2): the range crosses a month boundary
OFFSETS = range(-6, 7)
SPAN = DateRange(FIRST + timedelta(days=OFFSETS[0]), FIRST + timedelta(days=OFFSETS[-1]))
NOW_MS = START_MS + OFFSETS[-1] * DAY_MS + 15 * H  # the last date is today, 15:00
ALERTED = replace(
    SITE,
    kpi=replace(
        SITE.kpi,
        energy_quota_kgce_month=180.0,
        energy_quota_kgce_year=1_000.0,
        waste_target_g_per_diner=200.0,
        off_hours_alert_share_pct=65.0,
        device_silent_min=60,
        meters={**SITE.kpi.meters, "e2": MeterConfig("e2", interval_s=900)},
    ),
)


def meter_day(device: str, day: int, seq0: int, late_ms: int = 0, until_h: float = 24) -> list[Any]:
    """A meter's readings of one date every 900 s up to `until_h`, received `late_ms` late."""
    out: list[Any] = []
    base = START_MS + day * DAY_MS
    for k in range(int(until_h * 4)):
        t = base + k * 900_000
        out.append(
            MeterRecord(
                device=device,
                boot="b1",
                seq=seq0 + day * 100 + k,
                device_time_ms=t,
                received_ms=t + late_ms + 1_000,
                quantity=Quantity.ELECTRICITY,
                total=float((day + 10) * 100 + k),
            )
        )
    return out


def fixture_batches() -> list[list[Any]]:
    data = Data(11, wrong_raw_clocks=True)
    batches: list[list[Any]] = []
    held_back: list[Any] = []
    for day in OFFSETS:
        readings = data.food(day) + data.meters(day, dirty=day in (-2, 1, 2))
        if day == -2:  # e1 falls silent at 20:00 on Feb 28, through Mar 1, until Mar 2 10:00
            readings = [r for r in readings if not _e1_after(r, day, 20)]
        if day == -1:
            readings = [r for r in readings if not _e1_after(r, day, 0)]
        if day == 0:
            readings = [r for r in readings if not _e1_before(r, day, 10)]
        if day >= 3:  # e2 reports from Mar 5 on, the first date 80 min late (an edge outage)
            readings += meter_day("e2", day, 10_000, late_ms=80 * 60_000 if day == 3 else 0)
        if day in (-5, -4):  # an unconfigured meter, seen in February only
            readings += meter_day("x9", day, 20_000, until_h=6)
        data.rng.shuffle(readings)
        keep = [r for r in readings if data.rng.random() > 0.1]
        held_back += [r for r in readings if r not in keep]
        batches.append(keep)
    batches.append(held_back)  # late data of past dates
    batches.append(data.rng.sample(held_back, len(held_back) // 4))  # resent
    return batches


def _e1_after(reading: Any, day: int, hour: int) -> bool:
    return (
        getattr(reading, "device", "") == "e1"
        and reading.device_time_ms >= START_MS + day * DAY_MS + hour * H
    )


def _e1_before(reading: Any, day: int, hour: int) -> bool:
    return (
        getattr(reading, "device", "") == "e1"
        and reading.device_time_ms < START_MS + day * DAY_MS + hour * H
    )


async def month_load_judgement(store: SqliteStore, site: Site, on: date) -> list[Alert]:
    """The meters' alerts of `on` as a table built from a load of its month to date judges
    them (the table's devices: configured meters and those with readings in the load)."""
    month = DateRange(on.replace(day=1), on)
    window = load_range(site, month)
    readings = await store.load_readings(
        site.id,
        window.start_ms,
        window.end_ms,
        meter_lookaround_ms=reporting.METER_LOOKAROUND_MS,
        meter_devices=tuple(site.kpi.meters),
    )
    table = build_day_table(site, month, readings)
    meters = [
        MeterTimes(d.device, d.time_ms, d.received_ms) for d in table.devices if d.kind == "meter"
    ]
    start_ms = local_instant_ms(on, time(0, 0), site.timezone)
    end_ms = local_instant_ms(on + timedelta(days=1), time(0, 0), site.timezone)
    return silent_meters(site, meters, min(NOW_MS, end_ms), start_ms)


class CountingStore(SqliteStore):
    """The real store, counting its loads of readings."""

    loads = 0

    async def load_readings(self, *args: Any, **kwargs: Any) -> Any:
        self.loads += 1
        return await super().load_readings(*args, **kwargs)


async def test_alerts_over_a_range_equal_each_dates_alerts(tmp_path: Path) -> None:
    assert (SPAN.first.month, SPAN.last.month) == (2, 3)
    async with CountingStore(tmp_path / "central.sqlite") as store:
        for n, readings in enumerate(fixture_batches()):
            await store.write_batch(batch(readings, n))
        one_by_one = {on: await reporting.alerts(store, ALERTED, on, NOW_MS) for on in SPAN.dates()}
        assert store.loads == SPAN.days  # one meter load per date
        store.loads = 0
        freshness = reporting.new_freshness(store)
        ranged = await reporting.alerts_over(store, ALERTED, SPAN, NOW_MS, freshness)
        assert store.loads == 1  # the thresholds come from rollups, the meters from one load
        assert freshness is not None
        assert freshness.pending_dates == 0
        judged = {on: await month_load_judgement(store, ALERTED, on) for on in SPAN.dates()}

    assert list(ranged) == list(SPAN.dates())
    for on in SPAN.dates():
        assert ranged[on] == one_by_one[on], on
        device_kinds = (AlertKind.DEVICE_SILENT, AlertKind.DEVICE_LATE)
        assert [a for a in ranged[on] if a.kind in device_kinds] == judged[on], on
    kinds = {(a.kind, a.device) for found in ranged.values() for a in found}
    # not vacuous: every kind the fixture can raise is raised on some date
    for kind in (
        AlertKind.QUOTA_MONTH,
        AlertKind.QUOTA_YEAR,
        AlertKind.WASTE_TARGET,
        AlertKind.OFF_HOURS,
    ):
        assert (kind, None) in kinds, kind
    assert (AlertKind.DEVICE_SILENT, "e1") in kinds
    assert (AlertKind.DEVICE_SILENT, "e2") in kinds  # before its first reading, as judged
    assert (AlertKind.DEVICE_LATE, "e2") in kinds
    # e2's first reading, at Mar 5 00:00, arrived late: late on Mar 5, not on Mar 4 (whose day
    # ends at that instant), when it had no reading at all
    late_e2 = {on for on, found in ranged.items() for a in found if a.device == "e2"
               and a.kind is AlertKind.DEVICE_LATE}  # fmt: skip
    assert late_e2 == {FIRST + timedelta(days=3)}
    assert (AlertKind.DEVICE_SILENT, "x9") in kinds  # in February only
    assert all(a.device != "x9" for on, found in ranged.items() if on.month == 3 for a in found)
    # some dates cross the thresholds, others not
    waste_dates = {on for on, found in ranged.items() if _has(found, AlertKind.WASTE_TARGET)}
    assert 0 < len(waste_dates) < SPAN.days


def _has(found: list[Any], kind: AlertKind) -> bool:
    return any(a.kind == kind for a in found)
