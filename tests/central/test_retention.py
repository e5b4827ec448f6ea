"""Retention of raw readings (central/retention.py) over a real SQLite store: after the readings
of rolled-up dates are pruned, the KPIs of every period are those before pruning; a pruned date is
sealed (late readings for it are refused, a configuration change leaves it as it was, the one-load
fallback does not rebuild it), and the first date after the horizon is rebuilt exactly.

The history is test_rollup's faults-on one: late data, wrong device clocks, meter gaps and resets
across midnight, a raw kitchen bin silent on some dates, duplicates and edge-reported duplicates.
"""

import shutil
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from central import reporting
from central.kpi.daytable import DayTable, load_range
from central.kpi.periods import DateRange
from central.kpi.totals import site_totals
from central.kpi.values import derive
from central.registry import Site
from central.retention import current_through, prune_site
from central.rollup_maintainer import RollupMaintainer
from central.store.sqlite import SqliteStore
from contract import CardRecord, DroppedDuplicate
from tests.central.kpi.test_chained_days import assert_same_table
from tests.central.test_rollup import DAYS, FIRST, SITE, START_MS, WHOLE, Data, H, batch, close

RETENTION_DAYS = 200
HORIZON = FIRST + timedelta(days=6)  # the last sealed date
TODAY = HORIZON + timedelta(days=RETENTION_DAYS)
SPANS = [
    *(DateRange(FIRST + timedelta(days=d), FIRST + timedelta(days=d)) for d in range(DAYS)),
    WHOLE,
    DateRange(FIRST, HORIZON),  # sealed only
    DateRange(FIRST + timedelta(days=4), FIRST + timedelta(days=9)),  # across the horizon
    DateRange(HORIZON + timedelta(days=1), WHOLE.last),  # after it only
]


def kpis(table: DayTable, lo: int = 0, n: int | None = None) -> dict[Any, Any]:
    """Every KPI of dates [lo, lo + n) of `table`, per service and for the day."""
    n = table.span.days - lo if n is None else n
    return {
        service: {
            k: (v.value, v.reason)
            for k, v in derive(site_totals(table, lo, lo + n, service)).items()
        }
        for service in (None, 0, 1)
    }


async def history(path: Path, seed: int = 3) -> None:
    """A faults-on history of DAYS dates, with late data and resends, every date rolled up."""
    data = Data(seed, wrong_raw_clocks=True)
    held_back: list[Any] = []
    async with SqliteStore(path) as store:
        for day in range(DAYS):
            readings = data.food(day) + data.meters(day, dirty=day in (5, 6, 7))
            data.rng.shuffle(readings)
            keep = [r for r in readings if data.rng.random() > 0.2]
            held_back += [r for r in readings if r not in keep]
            await store.write_batch(batch(keep, day))
        await RollupMaintainer(store, [SITE], 0.0, 60.0).settle_all()
        await store.write_batch(batch(held_back, 100))  # late data of past dates
        dropped = (DroppedDuplicate(id=1, device="sc1", device_time_ms=START_MS + 4 * 24 * H),)
        await store.write_batch(batch(held_back[: len(held_back) // 3], 101, dropped))
        await RollupMaintainer(store, [SITE], 0.0, 60.0).settle_all()


async def tables(store: SqliteStore, site: Site = SITE) -> list[DayTable]:
    return [await reporting.site_table(store, site, span) for span in SPANS]


def readings_in(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    conn.close()
    return count


@pytest.fixture
async def pruned(tmp_path: Path) -> tuple[Path, Path, list[DayTable]]:
    """A pruned database, its unpruned twin, and the tables of SPANS before pruning."""
    path = tmp_path / "central.sqlite"
    await history(path)
    twin = tmp_path / "twin.sqlite"
    async with SqliteStore(path) as store:
        before = await tables(store)
    shutil.copyfile(path, twin)
    async with SqliteStore(path) as store:
        done = await prune_site(store, SITE, RETENTION_DAYS, today=TODAY, chunk_rows=40)
        assert done.sealed_through == HORIZON, done.note
        assert done.deleted.readings > 0
        assert done.deleted.duplicate_counts > 0
        again = await prune_site(store, SITE, RETENTION_DAYS, today=TODAY, chunk_rows=40)
        assert again.deleted.rows == 0
        assert again.sealed_through == HORIZON
    assert readings_in(path) + done.deleted.readings == readings_in(twin)
    return path, twin, before


async def test_kpis_of_pruned_periods_stay_the_same(
    pruned: tuple[Path, Path, list[DayTable]],
) -> None:
    path, _, before = pruned
    keep_from_ms = load_range(
        SITE, DateRange(HORIZON + timedelta(days=1), HORIZON + timedelta(days=1))
    ).start_ms
    with sqlite3.connect(path) as conn:
        left = conn.execute(
            "SELECT COUNT(*) FROM readings WHERE device_time_ms < ? AND received_ms < ?",
            (keep_from_ms, keep_from_ms),
        ).fetchone()[0]
    conn.close()
    assert 0 < left <= 6  # only the references of later loads (meters' last, the bin's last)
    async with SqliteStore(path) as store:
        for span, table, was in zip(SPANS, await tables(store), before, strict=True):
            assert_same_table(table, was)
            close(kpis(table), kpis(was), str(span))
        # every date after the horizon rebuilt from what is left: the same figures
        await store.mark_rollups_pending(SITE.id, FIRST, WHOLE.last, START_MS)
        pending = await store.pending_rollups(SITE.id, WHOLE.last)
        assert pending.first == HORIZON + timedelta(days=1)  # sealed dates never pending
        assert await RollupMaintainer(store, [SITE], 0.0, 60.0).settle_all() == DAYS - 7
        for span, table, was in zip(SPANS, await tables(store), before, strict=True):
            assert_same_table(table, was)
            close(kpis(table), kpis(was), str(span))


async def test_a_late_reading_for_a_sealed_date_is_refused(
    pruned: tuple[Path, Path, list[DayTable]],
) -> None:
    path, _, before = pruned
    sealed_ms = START_MS + 3 * 24 * H + 12 * H  # lunch of a sealed date
    open_ms = START_MS + 9 * 24 * H + 12 * H  # lunch after the horizon
    late = [
        CardRecord(
            device="card9",
            boot="b",
            seq=1,
            device_time_ms=sealed_ms,
            received_ms=sealed_ms + 5,
            person="a" * 16,
        ),
        CardRecord(
            device="card9",
            boot="b",
            seq=2,
            device_time_ms=open_ms,
            received_ms=open_ms + 5,
            person="b" * 16,
        ),
    ]
    async with SqliteStore(path) as store:
        outcome = await store.write_batch(batch(late, 200))
        assert outcome.sealed == (0,)
        assert outcome.sealed_through == HORIZON
        assert outcome.accepted == 1
        assert outcome.duplicates == 0
        assert (await store.pending_rollups(SITE.id, HORIZON)).count == 0
        after = await tables(store)
    with sqlite3.connect(path) as conn:
        stored = conn.execute("SELECT seq FROM readings WHERE device = 'card9'").fetchall()
    conn.close()
    assert stored == [(2,)]
    for span, table, was in zip(SPANS, after, before, strict=True):
        if span.last <= HORIZON:
            assert_same_table(table, was)
    nine = SPANS.index(DateRange(FIRST + timedelta(days=9), FIRST + timedelta(days=9)))
    assert after[nine].diners[0].sum() == before[nine].diners[0].sum() + 1


async def test_a_configuration_change_leaves_sealed_dates_as_they_were(
    pruned: tuple[Path, Path, list[DayTable]],
) -> None:
    path, twin, before = pruned
    changed = replace(SITE, clean_plate_threshold_g=200.0, registered_staff=41)
    async with SqliteStore(path) as store:
        await reporting.site_table(store, changed, WHOLE)  # finds the old key: pending
        pending = await store.pending_rollups(SITE.id, WHOLE.last)
        assert pending.first == HORIZON + timedelta(days=1)
        await RollupMaintainer(store, [changed], 0.0, 60.0).settle_all()
        now = await tables(store, changed)
    async with SqliteStore(twin) as store:  # unpruned: every date rebuilt for the new key
        fresh = await tables(store, changed)
    for span, table, was, rebuilt in zip(SPANS, now, before, fresh, strict=True):
        if span.last <= HORIZON:  # sealed: the figures of the configuration they were built in
            assert_same_table(table, was)
        elif span.first > HORIZON:
            assert_same_table(table, rebuilt)
    assert sum(t.clean_plates.sum() for t in fresh[:7]) != sum(
        t.clean_plates.sum() for t in now[:7]
    )


async def test_the_one_load_fallback_never_builds_sealed_dates(
    pruned: tuple[Path, Path, list[DayTable]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more dates pending than a read builds itself, a span is built from one load; its
    sealed dates still come from their rollups."""
    path, twin, before = pruned
    monkeypatch.setattr(reporting, "MAX_EXTRA_DATES_ON_READ", -DAYS - 1)  # always fall back
    sealed = (HORIZON - FIRST).days + 1
    async with SqliteStore(twin) as store:
        fallback_twin = await reporting.site_table(store, SITE, WHOLE)
    async with SqliteStore(path) as store:
        for span, was in zip(SPANS, before, strict=True):
            table = await reporting.site_table(store, SITE, span)
            n = max(0, min(span.last, HORIZON).toordinal() - span.first.toordinal() + 1)
            if n:
                close(kpis(table, 0, n), kpis(was, 0, n), f"{span} sealed part")
        whole = await reporting.site_table(store, SITE, WHOLE)
    # the dates after the horizon: as the unpruned store's one load builds them
    close(kpis(whole, sealed), kpis(fallback_twin, sealed), "after the horizon")


async def test_only_rolled_up_dates_are_sealed(tmp_path: Path) -> None:
    """A date still pending when its readings could go stops the horizon before it, until it is
    rolled up; a dry run deletes nothing."""
    path = tmp_path / "central.sqlite"
    await history(path)
    count = readings_in(path)
    async with SqliteStore(path) as store:
        stale = FIRST + timedelta(days=3)
        await store.mark_rollups_pending(SITE.id, stale, stale, START_MS)
        key_first = await store.first_rollup_date(SITE.id)
        assert key_first is not None
        assert await current_through(store, SITE, key_first, HORIZON) == stale - timedelta(days=1)
        dry = await prune_site(store, SITE, RETENTION_DAYS, today=TODAY, dry_run=True)
        assert dry.sealed_through == stale - timedelta(days=1)
        assert dry.deleted.readings > 0
        assert await store.sealed_through(SITE.id) is None
        assert readings_in(path) == count
        done = await prune_site(store, SITE, RETENTION_DAYS, today=TODAY)
        assert done.sealed_through == HORIZON  # the pass rolled the pending date up first
