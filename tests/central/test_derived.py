"""Derived series (meals, waste, meter intervals) computed from stored readings, held to the KPIs
central reports from the same readings; late data rewrites the same points."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from central.derived import DerivedSeries, MeterInterval, derive, touched_dates
from central.kpi.periods import DateRange
from central.reporting import site_table
from central.store import BatchToStore, ReadingsStore
from central.store.sqlite import SqliteStore
from contract import MeterRecord, Quantity, ReadingRecord
from tests.central.store.test_conformance import (
    DAYS,
    START,
    TZ,
    registry_site,
    simulated,
    with_right_clocks,
)

SPAN = DateRange(START, date.fromordinal(START.toordinal() + DAYS - 1))
NOW_MS = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp() * 1000)
GAP = slice(300, 310)  # ten electricity readings missing: a 10 min gap (> 3 x 60 s)


def readings_with_gap(site: str) -> tuple[list[ReadingRecord], list[ReadingRecord]]:
    """Two simulated days with 60 s meter readings; and the electricity readings of one gap."""
    readings = simulated(site, meter_interval_s=60)
    electricity = [
        n
        for n, r in enumerate(readings)
        if isinstance(r, MeterRecord) and r.quantity is Quantity.ELECTRICITY
    ]
    missing = {electricity[n] for n in range(GAP.start, GAP.stop)}
    kept = [r for n, r in enumerate(readings) if n not in missing]
    return kept, [readings[n] for n in sorted(missing)]


async def store_all(store: ReadingsStore, site: str, readings: list[ReadingRecord]) -> None:
    for n in range(0, len(readings), 2000):
        await store.write_batch(
            BatchToStore(
                site=site,
                edge=f"edge-{site}",
                batch_id=f"b{n}",
                received_ms=1,
                readings=readings[n : n + 2000],
                timezone=TZ,
            )
        )


def by_end(series: DerivedSeries) -> dict[tuple[str, int], MeterInterval]:
    return {(i.device, i.end_ms): i for i in series.intervals}


async def test_derived_series_equal_the_kpis_of_the_same_readings(tmp_path: Path) -> None:
    site = registry_site("s-derived")
    readings, _ = readings_with_gap(site.id)
    async with SqliteStore(tmp_path / "d.sqlite3") as store:
        await store_all(store, site.id, readings)
        series = await derive(store, site, SPAN)
        # the base quantities every KPI report of these dates is built from
        table = await site_table(store, site, SPAN)

    # meals: one point per date and service, the KPIs' diners, trays and clean plates
    assert len(series.meals) == DAYS * len(site.services)
    for n, meals in enumerate(series.meals):
        d, s = divmod(n, len(site.services))
        assert meals.service == table.services[s]
        assert (meals.diners, meals.trays, meals.clean_plates) == (
            table.diners[d, s],
            table.trays[d, s],
            table.clean_plates[d, s],
        )
    assert sum(m.diners for m in series.meals) > 0
    # waste: one point per date and stream
    waste = {(w.start_ms, w.stream): w.mass_g for w in series.waste}
    assert len(waste) == DAYS * len(table.day_waste_g)
    for d, day_start in enumerate(table.day_start_ms.tolist()):
        for stream, mass_g in table.day_waste_g.items():
            assert waste[day_start, stream] == mass_g[d]
    assert sum(waste.values()) > 0
    # meter intervals: between consecutive readings; those ending in a day add up to its
    # consumption (readings fall on midnight), the gap's interval is the estimated part
    for d, (day_start, day_end) in enumerate(
        zip(table.day_start_ms.tolist(), table.day_end_ms.tolist(), strict=True)
    ):
        for quantity, energy in table.energy.items():
            inside = [
                i
                for i in series.intervals
                if i.quantity == quantity and day_start < i.end_ms <= day_end
            ]
            assert sum(i.used for i in inside) == pytest.approx(energy.day_used[d], rel=1e-9)
            assert sum(i.estimated for i in inside) == pytest.approx(
                energy.day_estimated[d], abs=1e-9
            )
    gaps = [i for i in series.intervals if i.estimated > 0]
    assert len(gaps) == 1
    assert gaps[0].quantity == "electricity"
    assert gaps[0].end_ms - gaps[0].start_ms == (GAP.stop - GAP.start + 1) * 60_000
    assert gaps[0].estimated == gaps[0].used > 0


async def test_a_late_reading_rewrites_the_points_around_it(tmp_path: Path) -> None:
    site = registry_site("s-late")
    readings, late = readings_with_gap(site.id)
    async with SqliteStore(tmp_path / "d.sqlite3") as store:
        await store_all(store, site.id, readings)
        before = await derive(store, site, SPAN)
        await store_all(store, site.id, late)  # the meter's buffered readings arrive
        after = await derive(store, site, SPAN)
        # after a batch, only the intervals on both sides of its meter readings are rewritten
        device = late[0].device
        only = await derive(store, site, SPAN, {device: [r.device_time_ms for r in late]})
    old, new = by_end(before), by_end(after)
    # every point written before is written again (same series key and time): none goes stale
    assert set(old) <= set(new)
    assert len(new) - len(old) == len(late)
    gap = next(key for key, i in old.items() if i.estimated > 0)
    assert new[gap].used < old[gap].used
    assert not any(i.estimated for i in after.intervals)
    assert sum(i.used for i in after.intervals) == pytest.approx(
        sum(i.used for i in before.intervals), rel=1e-12
    )
    rewritten = by_end(only)
    late_ends = {(device, r.device_time_ms) for r in late}
    assert set(rewritten) == late_ends | {gap}
    assert all(rewritten[key] == new[key] for key in rewritten)
    assert [(m.start_ms, m.service) for m in after.meals] == [
        (m.start_ms, m.service) for m in before.meals
    ]


def test_touched_dates_follow_the_attributed_time() -> None:
    site = registry_site("s-dates")
    readings = simulated(site.id)
    # the wrong clocks (1970, hours ahead) are attributed by receive time, not to their dates
    assert touched_dates(site, readings) == touched_dates(site, with_right_clocks(readings))
    at_1970 = [r for r in readings if r.device_time_ms < 86_400_000 * 2]
    assert len(at_1970) == 5  # WRONG_CLOCKS' 3 and the raw prep bin's 2 (pre_period_raw...)
    received = datetime.fromtimestamp(at_1970[0].received_ms / 1000, TZ).date()
    assert touched_dates(site, at_1970[:1]) == DateRange(received, received)
    assert touched_dates(site, []) is None


def test_touched_dates_keep_the_device_times_of_a_buffered_upload() -> None:
    """A meter's day kept in its memory, uploaded with the reading before it and its live reading
    (clocks judged per device, by the store: WriteOutcome.clock_trusted): the derived series of
    yesterday are recomputed, not only today's; and so are they when a later upload makes the
    stored buffer clock-trusted."""
    from central.store import ClockTrusted
    from contract import MeterRecord, Quantity

    site = registry_site("s-buffered")
    day_ms = 86_400_000
    now = 1_772_000_000_000

    def meter(seq: int, time_ms: int, received_ms: int) -> MeterRecord:
        return MeterRecord(device="meter-elec", boot="b", seq=seq, device_time_ms=time_ms,
                           received_ms=received_ms, quantity=Quantity.ELECTRICITY,
                           total=float(seq))  # fmt: skip

    def trusted(records: list[MeterRecord]) -> list[ClockTrusted]:
        return [ClockTrusted(r.device, r.boot, r.seq, r.kind, r.device_time_ms) for r in records]

    before = meter(0, now - day_ms, now - day_ms + 100)
    kept = [meter(n, now - day_ms + n * 3_600_000, now + n) for n in range(1, 20)]
    live = meter(20, now + 50, now + 60)
    upload = [before, *kept, live]
    yesterday = datetime.fromtimestamp((now - day_ms) / 1000, TZ).date()
    today = datetime.fromtimestamp(now / 1000, TZ).date()
    assert touched_dates(site, upload, trusted(kept)) == DateRange(yesterday, today)
    # not (yet) trusted by the store: attributed by their receive time, to today
    assert touched_dates(site, kept) == DateRange(today, today)
    # the live reading alone, making the stored buffer trusted
    assert touched_dates(site, [live], trusted(kept)) == DateRange(yesterday, today)
