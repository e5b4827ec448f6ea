"""Month summaries in the SQLite store: stored on first read, dropped by any change of a date of
their month in the change's own transaction, rebuilt by the maintainer, and rankings and reports
by month read from them equal the ones composed of every date: before and after late data, and
over sealed dates (central/retention.py) whose raw readings are pruned."""

import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from central import reporting
from central.kpi.months import CURRENT_HEAD, is_current
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.report import Report, build_report, period_totals
from central.kpi.rollup import config_key
from central.kpi.values import derive, quality
from central.retention import prune_site
from central.rollup_maintainer import RollupMaintainer
from central.store.base import BatchToStore
from central.store.sqlite import SqliteStore
from contract import ScaleRecord, Stream
from tests.central.kpi.test_months import DAYS, G1_FROM, NO_METERS
from tests.central.test_rollup import SITE, START_MS, TZ, Data, close

H = 3_600_000
NOW_MS = START_MS + (DAYS + 2) * 24 * H
SPAN = DateRange(date(2026, 3, 5), date(2026, 6, 5))  # April and May whole
APRIL, MAY = date(2026, 4, 1), date(2026, 5, 1)


def batch(readings: list[Any], name: str) -> BatchToStore:
    return BatchToStore(
        site=SITE.id,
        edge="edge1",
        batch_id=name,
        received_ms=NOW_MS,
        readings=readings,
        timezone=TZ,
    )


async def fill(store: SqliteStore) -> Data:
    data = Data(11, wrong_raw_clocks=True)
    readings: list[Any] = []
    for day in range(DAYS):
        readings += data.food(day)
        if day not in NO_METERS:
            meters = data.meters(day, dirty=day == 50)
            readings += [r for r in meters if day >= G1_FROM or r.device != "g1"]
    await store.write_batch(batch(readings, "b0"))
    return data


async def composed_ranking_row(store: SqliteStore) -> dict[str, Any]:
    """The period's KPIs and quality of the table composed of every date of SPAN."""
    table = await reporting.site_table(store, SITE, SPAN)
    totals = period_totals(table, None, PeriodKind.CUSTOM, SPAN, NOW_MS)
    return {"kpis": derive(totals), "quality": quality(totals)}


async def summed_ranking_row(store: SqliteStore) -> dict[str, Any]:
    ranked = await reporting.ranking(
        store, [SITE], "waste_per_diner_g", PeriodKind.CUSTOM, SPAN, NOW_MS
    )
    row = ranked.region_total
    return {"kpis": row.kpis, "quality": row.quality}


def assert_same_report(got: Report, want: Report) -> None:
    assert [r.label for r in got.rows] == [r.label for r in want.rows]
    for mine, theirs in zip((*got.rows, got.total), (*want.rows, want.total), strict=True):
        close(mine.kpis, theirs.kpis, mine.label)
        close(mine.quality, theirs.quality, mine.label)
        close(mine.devices, theirs.devices, mine.label)


async def test_rankings_and_month_reports_read_month_summaries_exactly(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        data = await fill(store)
        key = config_key(SITE)
        stored = await store.month_summaries(SITE.id, key, [APRIL, MAY])
        assert all(blob is None for _, blob in stored.values())
        done = await RollupMaintainer(store, [SITE], 0.0, 60.0).pass_once()
        assert done.months >= 2  # every month of the past with a rollup (1970 too: bad clocks)
        stored = await store.month_summaries(SITE.id, key, [APRIL, MAY])
        assert all(blob is not None for _, blob in stored.values())
        want = await composed_ranking_row(store)
        close(await summed_ranking_row(store), want, "summaries of the maintainer")

        # a report by month: one row per part of the span, each from its summary
        by_month = await reporting.report(
            store, [SITE], PeriodKind.CUSTOM, SPAN, Granularity.MONTH, NOW_MS
        )
        table = await reporting.site_table(store, SITE, SPAN)
        composed = build_report([table], {}, PeriodKind.CUSTOM, SPAN, Granularity.MONTH, NOW_MS)
        assert_same_report(by_month, composed)
        assert len(by_month.rows) == 4

        # late data of an April date: April's summary is dropped in the write's transaction
        late = ScaleRecord(
            device="sc1",
            boot="b2",
            seq=0,
            device_time_ms=START_MS + 40 * 24 * H + 12 * H,  # 2026-04-11 12:00
            received_ms=START_MS + 40 * 24 * H + 12 * H + 1_000,  # held back by the edge
            stream=Stream.PLATE,
            mass_g=300.0,
        )
        await store.write_batch(batch([late], "late"))
        stored = await store.month_summaries(SITE.id, key, [APRIL, MAY])
        assert stored[APRIL][1] is None
        assert stored[MAY][1] is not None
        after = await summed_ranking_row(store)  # the late reading's date is built on read
        close(after, await composed_ranking_row(store), "after late data")
        assert after["kpis"]["waste_per_diner_g"] != want["kpis"]["waste_per_diner_g"]
        # the date built on read, April summarised again and stored (gen read after the build)
        assert (await store.month_summaries(SITE.id, key, [APRIL]))[APRIL][1] is not None
        close(await summed_ranking_row(store), after, "April's stored summary")

        # the maintainer rebuilds a stale month of the past after settling the dates
        await store.write_batch(
            batch([late.model_copy(update={"seq": 1, "mass_g": 120.0})], "late2")
        )
        done = await RollupMaintainer(store, [SITE], 0.0, 60.0).pass_once()
        assert done.months >= 1
        stored = await store.month_summaries(SITE.id, key, [APRIL, MAY])
        assert all(blob is not None for _, blob in stored.values())
        want = await composed_ranking_row(store)
        close(await summed_ranking_row(store), want, "after the maintainer")

        # seal through 2026-05-20 and prune the raw readings: the same figures
        pruned = await prune_site(store, SITE, 30, today=date(2026, 6, 19))
        assert pruned.sealed_through == date(2026, 5, 20)
        assert pruned.deleted.readings > 0
        close(await summed_ranking_row(store), want, "sealed")
        # another configuration (same meal services): April's summary (every date sealed) is
        # built again from its sealed entries, May's from sealed and rebuilt dates
        changed = replace(SITE, registered_staff=41)
        assert config_key(changed) != key
        await RollupMaintainer(store, [changed], 0.0, 60.0).check_configs()
        new_key = config_key(changed)
        assert (await store.month_summaries(SITE.id, new_key, [APRIL]))[APRIL][1] is None
        table = await reporting.site_table(store, changed, SPAN)
        want_changed = period_totals(table, None, PeriodKind.CUSTOM, SPAN, NOW_MS)
        ranked = await reporting.ranking(
            store, [changed], "waste_per_diner_g", PeriodKind.CUSTOM, SPAN, NOW_MS
        )
        close(ranked.region_total.kpis, derive(want_changed), "sealed, another configuration")
        close(ranked.region_total.quality, quality(want_changed), "sealed, quality")
        assert (await store.month_summaries(SITE.id, new_key, [APRIL]))[APRIL][1] is not None
        assert data.seq  # the generator ran


# Three sites of one region, each configured differently: a monthly quota and a price (s1); a
# yearly quota, a baseline, no price, its electricity meter installed in the middle of a month and
# its gas meter read half as often as configured (s2); no quota, no floor area, a CO2e factor and
# only an electricity meter (s3).
S2 = replace(
    SITE,
    id="s2",
    name="Two",
    kpi=replace(
        SITE.kpi,
        food_price_cny_per_kg=None,
        energy_quota_kgce_month=None,
        energy_quota_kgce_year=6000.0,
        baseline=(date(2026, 3, 2), date(2026, 3, 8)),
        meters={
            "e1": replace(SITE.kpi.meters["e1"], installed=date(2026, 3, 20)),
            "g1": replace(SITE.kpi.meters["g1"], interval_s=1800),
        },
    ),
)
S3 = replace(
    SITE,
    id="s3",
    name="Three",
    floor_area_m2=None,
    kpi=replace(
        SITE.kpi,
        energy_quota_kgce_month=None,
        food_co2e_kg_per_kg=2.0,
        meters={"e1": SITE.kpi.meters["e1"]},
    ),
)
REGION = (SITE, S2, S3)
WHOLE_MONTHS = DateRange(APRIL, date(2026, 5, 31))  # read in one query for every site
IN_MAY_MS = START_MS + 75 * 24 * H + 9 * H  # a read time inside May (its quota and slots)


async def fill_region(store: SqliteStore) -> None:
    for n, site in enumerate(REGION):
        data = Data(20 + n, wrong_raw_clocks=True)
        readings: list[Any] = []
        for day in range(DAYS):
            readings += data.food(day)
            if day not in NO_METERS:
                meters = data.meters(day, dirty=day in (12 + n, 50))
                readings += [r for r in meters if site.id != "s3" or r.device != "g1"]
        await store.write_batch(replace(batch(readings, f"b-{site.id}"), site=site.id))


async def assert_ranking_and_months_as_composed(
    store: SqliteStore, span: DateRange, now_ms: int
) -> None:
    """The region's ranking and its report by month equal the composition of every date of
    each site (the read a store without month summaries makes): every KPI, quality figure and
    device figure."""
    tables = [await reporting.site_table(store, site, span) for site in REGION]
    baselines = {site.id: await reporting.site_baseline(store, site) for site in REGION}
    composed = build_report(tables, baselines, PeriodKind.CUSTOM, span, Granularity.MONTH, now_ms)
    got = await reporting.report(store, REGION, PeriodKind.CUSTOM, span, Granularity.MONTH, now_ms)
    assert_same_report(got, composed)
    for kpi in ("waste_per_diner_g", "energy_kgce_per_m2", "quota_use_pct", "waste_value_cny"):
        ranked = await reporting.ranking(store, REGION, kpi, PeriodKind.CUSTOM, span, now_ms)
        close(ranked.region_total.kpis, composed.total.kpis, f"{kpi}: region")
        close(ranked.region_total.quality, composed.total.quality, f"{kpi}: region quality")
        for site, table in zip(REGION, tables, strict=True):
            totals = period_totals(table, baselines[site.id], PeriodKind.CUSTOM, span, now_ms)
            (mine,) = [r for r in ranked.sites if r.site == site.id]
            close(mine.value, derive(totals)[kpi], f"{kpi}: {site.id}")
            close(mine.quality, quality(totals), f"{kpi}: {site.id} quality")
        values = [r.value.value for r in ranked.sites if r.value.value is not None]
        assert values == sorted(values), kpi


async def test_a_region_summed_from_month_summaries_equals_its_dates_composed(
    tmp_path: Path,
) -> None:
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        await fill_region(store)
        await RollupMaintainer(store, list(REGION), 0.0, 60.0).pass_once()
        for span in (WHOLE_MONTHS, SPAN):  # whole months; partial months at both ends
            for now_ms in (NOW_MS, IN_MAY_MS):
                await assert_ranking_and_months_as_composed(store, span, now_ms)
        # a late reading of s2 in April: s2 has a pending date, read on its own (built on
        # read), the other two from the stored summaries of every site
        late = ScaleRecord(
            device="sc1",
            boot="late",
            seq=0,
            device_time_ms=START_MS + 45 * 24 * H + 12 * H,
            received_ms=NOW_MS,
            stream=Stream.PLATE,
            mass_g=450.0,
        )
        await store.write_batch(replace(batch([late], "late"), site="s2"))
        pending = (await store.pending_rollups("s2", WHOLE_MONTHS.last)).count
        assert pending > 0
        assert set(await store.pending_rollup_sites()) == {"s2"}
        ranked = await reporting.ranking(
            store, REGION, "waste_per_diner_g", PeriodKind.CUSTOM, WHOLE_MONTHS, NOW_MS
        )
        assert ranked.rollups is not None
        assert ranked.rollups.pending_dates == pending
        await assert_ranking_and_months_as_composed(store, WHOLE_MONTHS, NOW_MS)


async def test_a_month_summary_of_an_older_layout_is_rebuilt(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        await fill_region(store)
        await RollupMaintainer(store, list(REGION), 0.0, 60.0).pass_once()
        key = config_key(SITE)
        current = (await store.month_summaries(SITE.id, key, [APRIL]))[APRIL][1]
        assert current is not None
        assert is_current(current.site)
        with sqlite3.connect(tmp_path / "central.sqlite") as db:  # as layout 2 stored it
            db.execute(
                "UPDATE kpi_rollup_month SET summary = ? WHERE site = ? AND month = ?",
                (b'{"layout":2,"span":["2026-04-01","2026-04-30"]}', SITE.id, "2026-04-01"),
            )
        old = (await store.month_summaries(SITE.id, key, [APRIL]))[APRIL][1]
        assert old is not None
        assert not is_current(old.site)
        assert SITE.id not in await store.current_month_summaries(
            {SITE.id: key}, [APRIL, MAY], CURRENT_HEAD, devices=False
        )
        await assert_ranking_and_months_as_composed(store, WHOLE_MONTHS, NOW_MS)
        rebuilt = (await store.month_summaries(SITE.id, key, [APRIL]))[APRIL][1]
        assert rebuilt == current  # built again from its dates' rollups and stored
