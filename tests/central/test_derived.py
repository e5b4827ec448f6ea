"""Derived series (meals, waste, meter intervals) computed from stored readings, held to the KPIs
central reports from the same readings; late data rewrites the same points. (The rollup
maintainer writes them per date: tests/central/store/test_influx_rollups.py.)"""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from central.derived import DerivedSeries, MeterInterval, derive
from central.kpi.periods import DateRange
from central.registry import Site
from central.reporting import load_site_readings, site_table
from central.store import BatchToStore, ReadingsStore
from central.store.sqlite import SqliteStore
from contract import MeterRecord, Quantity, ReadingRecord
from tests.central.store.test_conformance import (
    DAYS,
    START,
    TZ,
    registry_site,
    simulated,
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


async def derived(store: ReadingsStore, site: Site) -> DerivedSeries:
    return derive(site, SPAN, await load_site_readings(store, site, SPAN))


def by_end(series: DerivedSeries) -> dict[tuple[str, int], MeterInterval]:
    return {(i.device, i.end_ms): i for i in series.intervals}


async def test_derived_series_equal_the_kpis_of_the_same_readings(tmp_path: Path) -> None:
    site = registry_site("s-derived")
    readings, _ = readings_with_gap(site.id)
    async with SqliteStore(tmp_path / "d.sqlite3") as store:
        await store_all(store, site.id, readings)
        series = await derived(store, site)
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
        before = await derived(store, site)
        await store_all(store, site.id, late)  # the meter's buffered readings arrive
        after = await derived(store, site)
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
    assert [(m.start_ms, m.service) for m in after.meals] == [
        (m.start_ms, m.service) for m in before.meals
    ]
