"""Retention of raw readings (central/retention.py) over a real SQLite store: after the readings
of rolled-up dates are pruned, the KPIs of every period are those before pruning; a pruned date is
sealed (late readings for it are refused, a configuration change leaves it as it was, the one-load
fallback does not rebuild it), and the first date after the horizon is rebuilt exactly.

The history is test_rollup's faults-on one: late data, wrong device clocks, meter gaps and resets
across midnight, a raw kitchen bin silent on some dates, duplicates and edge-reported duplicates.
"""

import asyncio
import shutil
import sqlite3
import struct
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError

from central import reporting
from central.__main__ import main
from central.kpi.daytable import DayTable, load_range
from central.kpi.periods import DateRange
from central.kpi.rollup import ENTRY_LAYOUT, config_key, entry_services
from central.kpi.totals import site_totals
from central.kpi.values import derive
from central.kpi.windows import local_instant_ms
from central.metrics import CentralMetrics
from central.registry import Service, Site
from central.retention import MIN_RAW_RETENTION_DAYS, current_through, cutoff, prune_site
from central.rollup_maintainer import RollupMaintainer
from central.settings import CentralSettings
from central.store import SealedPeriodUnreadable
from central.store.sqlite import SqliteStore
from contract import CardRecord, DroppedDuplicate
from tests.central.api.test_kpis import REGISTRY as KPI_REGISTRY
from tests.central.conftest import admin_client, card, ingest, meter, scale
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


@pytest.fixture(scope="module")
def history_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The history, written once for the module (each test works on a copy)."""
    path = tmp_path_factory.mktemp("history") / "central.sqlite"
    asyncio.run(history(path))
    return path


@pytest.fixture
async def pruned(tmp_path: Path, history_file: Path) -> tuple[Path, Path, list[DayTable]]:
    """A pruned database, its unpruned twin, and the tables of SPANS before pruning."""
    path = tmp_path / "central.sqlite"
    shutil.copyfile(history_file, path)
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
        CardRecord(  # a clock days behind (by itself): attributed to its receive time
            device="card8",
            boot="b",
            seq=1,
            device_time_ms=sealed_ms,
            received_ms=open_ms + 60_000,
            person="c" * 16,
        ),
    ]
    async with SqliteStore(path) as store:
        outcome = await store.write_batch(batch(late, 200))
        assert outcome.sealed == (0,)
        assert outcome.sealed_through == HORIZON
        assert outcome.accepted == 2
        assert outcome.duplicates == 0
        assert (await store.pending_rollups(SITE.id, HORIZON)).count == 0
        after = await tables(store)
    with sqlite3.connect(path) as conn:
        stored = conn.execute(
            "SELECT device, seq FROM readings WHERE device IN ('card8', 'card9') ORDER BY device"
        ).fetchall()
    conn.close()
    assert stored == [("card8", 1), ("card9", 2)]
    for span, table, was in zip(SPANS, after, before, strict=True):
        if span.last <= HORIZON:
            assert_same_table(table, was)
    nine = SPANS.index(DateRange(FIRST + timedelta(days=9), FIRST + timedelta(days=9)))
    assert after[nine].diners[0].sum() == before[nine].diners[0].sum() + 2


async def test_a_configuration_change_leaves_sealed_dates_as_they_were(
    pruned: tuple[Path, Path, list[DayTable]],
) -> None:
    path, twin, before = pruned
    changed = replace(SITE, clean_plate_threshold_g=200.0, registered_staff=41)
    async with SqliteStore(path) as store:
        # finds the old key: the dates after the horizon become pending, and the read, which
        # reaches sealed dates, builds them all under the new key (never from one load)
        await reporting.site_table(store, changed, WHOLE)
        assert (await store.pending_rollups(SITE.id, WHOLE.last)).count == 0
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


async def test_only_rolled_up_dates_are_sealed(tmp_path: Path, history_file: Path) -> None:
    """A date still pending when its readings could go stops the horizon before it, until it is
    rolled up; a dry run deletes nothing."""
    path = tmp_path / "central.sqlite"
    shutil.copyfile(history_file, path)
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


# --- a real central: /kpis, the daily view and the ranking, pruned and restored ------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(on: date, hour: float) -> int:
    """Epoch ms of a local Shanghai hour on `on`."""
    return local_instant_ms(on, time(0), SHANGHAI) + int(hour * H)


def day_of_readings(
    i: int, on: date, seq0: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Site s1's readings of one date, split into those uploaded on time and those uploaded late
    (the dinner), with the faults of a real day: a meter reset, a repeated swipe, a card reader
    whose clock says 1970, a scale reading of 0 g."""
    register = 1000.0 + 240.0 * i
    readings: list[dict[str, Any]] = []
    for h in range(24):
        total = register + 10.0 * h if not (i == 5 and h >= 14) else 5.0 + 10.0 * (h - 14)
        readings.append(meter(seq0 + h, at(on, h), "electricity", total, "elec-1"))
    seq = seq0 + 24
    for k in range(12 + i % 5):
        readings.append(card(seq, at(on, 11.5 + k / 100), (i * 7 + k) % 30))
        readings.append(scale(seq + 1, at(on, 12.2 + k / 100), "plate", 40.0 + 5 * k))
        seq += 2
    readings.append(card(seq, at(on, 11.6), i * 7 % 30))  # a second swipe of a diner
    wrong = card(seq + 1, 0, 99)  # a reader whose clock says 1970
    wrong["received_ms"] = at(on, 11.7)
    readings += [wrong, scale(seq + 2, at(on, 12.5), "plate", 0.0)]
    late = [card(seq + 3 + k, at(on, 17.5), 40 + k) for k in range(6)]
    late += [scale(seq + 9 + k, at(on, 18.0), "overproduction", 900.0 + k) for k in range(3)]
    return readings, late


async def answers(client: httpx.AsyncClient, dates: list[date]) -> list[Any]:
    first, last = dates[0].isoformat(), dates[-1].isoformat()
    queries: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/kpis", {"site": "s1", "period": "custom", "start": first, "end": last}),
        ("/api/v1/kpis", {"region": "province:Zhejiang", "period": "month", "date": first}),
        (
            "/api/v1/ranking",
            {
                "region": "province:Zhejiang",
                "kpi": "waste_per_diner_g",
                "period": "custom",
                "start": first,
                "end": last,
            },
        ),
        # waste by stream and by reason: dish sums are kept with the rollups, pruned or not
        ("/api/v1/dishes", {"site": "s1", "period": "custom", "start": first, "end": last}),
        (
            "/api/v1/dishes",
            {"site": "s1", "period": "custom", "start": first, "end": last, "group": "reason"},
        ),
    ]
    for on in dates:
        queries += [
            (
                "/api/v1/kpis",
                {"site": "s1", "period": "day", "date": on.isoformat(), "granularity": "service"},
            ),
            ("/api/v1/sites/s1/kpis/daily", {"date": on.isoformat()}),
        ]
    out = []
    for path, params in queries:
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        body.pop("rollups", None)  # how fresh the rollups were at read time, not data
        out.append(body)
    return out


async def test_central_answers_the_same_after_pruning_and_from_a_backup(tmp_path: Path) -> None:
    today = datetime.now(SHANGHAI).date()
    dates = [today - timedelta(days=MIN_RAW_RETENTION_DAYS + 8 - i) for i in range(12)]
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    live, registry = tmp_path / "live", tmp_path / "live" / "registry.toml"
    live.mkdir()
    async with admin_client(KPI_REGISTRY, live, now_ms) as client:
        held_back = []
        for i, on in enumerate(dates):
            readings, late = day_of_readings(i, on, 1000 * i)
            held_back += late
            assert (await ingest(client, readings, f"day-{i}"))["accepted"] == len(readings)
            await ingest(client, [scale(i, at(on, 12.3), "plate", 70.0)], f"s2-{i}", site="s2")
            if i == 4:
                assert (await ingest(client, readings, f"day-{i}"))["duplicates"] == len(readings)
        await ingest(client, held_back, "late")  # the edge back after an outage
        before = await answers(client, dates)
        assert before[0]["total"]["kpis"]["diners"]["value"] > 0
    db = live / "central.sqlite3"
    count = readings_in(db)
    assert main(["prune", "--db", str(db), "--registry", str(registry), "--dry-run"]) == 2
    args = ["--db", str(db), "--registry", str(registry), "--days", str(MIN_RAW_RETENTION_DAYS)]
    assert await asyncio.to_thread(main, ["prune", "--dry-run", *args]) == 0  # its own loop
    assert readings_in(db) == count
    assert await asyncio.to_thread(main, ["prune", *args]) == 0
    assert readings_in(db) < count / 3  # 9 of the 12 dates are sealed
    with sqlite3.connect(db) as conn:
        (through,) = conn.execute("SELECT through FROM kpi_sealed WHERE site = 's1'").fetchone()
    conn.close()
    cut = today - timedelta(days=MIN_RAW_RETENTION_DAYS)
    assert through in (cut.isoformat(), (cut + timedelta(days=1)).isoformat())  # past midnight

    async with admin_client(KPI_REGISTRY, live, now_ms) as client:
        assert await answers(client, dates) == before
        # an edge back after a longer outage: its readings of a sealed date are rejected
        sealed_day = dates[2]
        result = await ingest(client, [card(99_000, at(sealed_day, 11.8), 77)], "very-late")
        assert result["accepted"] == 0
        (rejected,) = result["rejected"]
        assert "sealed" in rejected["reason"]
        assert await answers(client, dates) == before
        scraped = (await client.get("/metrics")).text
    assert 'canteen_central_sealed_readings_total{site="s1"} 1.0' in scraped

    backup = tmp_path / "pruned.sqlite3"
    assert main(["backup", str(backup), "--db", str(db)]) == 0
    restored = tmp_path / "restored"
    restored.mkdir()
    assert main(["restore", str(backup), "--db", str(restored / "central.sqlite3")]) == 0
    async with admin_client(KPI_REGISTRY, restored, now_ms) as client:
        assert await answers(client, dates) == before


async def test_sealed_dates_of_another_services_layout_are_refused_not_misread(
    pruned: tuple[Path, Path, list[DayTable]],
) -> None:
    """A sealed rollup keeps the layout of the services it was built with: a registry with a
    third service cannot compose it, and says so instead of misreading its figures."""
    path, _, _ = pruned
    three = replace(SITE, services=(*SITE.services, Service("night", time(22, 0), time(23, 0))))
    async with SqliteStore(path) as store:
        _, rows = await store.load_rollups(SITE.id, config_key(SITE), FIRST, FIRST, FIRST)
        assert rows[0].entry is not None
        assert entry_services(rows[0].entry) == len(SITE.services)
        after = DateRange(HORIZON + timedelta(days=2), WHOLE.last)
        assert (await reporting.site_table(store, three, after)).services[-1] == "night"
        with pytest.raises(SealedPeriodUnreadable, match="sealed with another number of meal"):
            await reporting.site_table(store, three, WHOLE)


async def test_a_sealed_entry_of_a_layout_this_version_cannot_read_is_refused_by_name(
    pruned: tuple[Path, Path, list[DayTable]],
) -> None:
    """A sealed date's entry is never rebuilt: after an upgrade that could not read its layout,
    a period reaching it is refused with what to do, never misread."""
    path, _, _ = pruned
    with sqlite3.connect(path) as conn:
        (entry,) = conn.execute(
            "SELECT entry FROM kpi_rollup WHERE site = ? AND local_date = ?",
            (SITE.id, FIRST.isoformat()),
        ).fetchone()
        future = struct.pack("<i", ENTRY_LAYOUT + 1) + bytes(entry)[4:]
        conn.execute(
            "UPDATE kpi_rollup SET entry = ?, config = 'of an older version'"
            " WHERE site = ? AND local_date = ?",
            (future, SITE.id, FIRST.isoformat()),
        )
    conn.close()
    async with SqliteStore(path) as store:
        with pytest.raises(SealedPeriodUnreadable, match="layout this version cannot read"):
            await reporting.site_table(store, SITE, WHOLE)


async def test_the_maintainer_prunes_on_its_sweeps_and_metrics_count_it(
    tmp_path: Path, history_file: Path
) -> None:
    """With a retention, the rollup maintainer seals and prunes (at the wall clock's cut-off:
    every date of the history is older), and /metrics counts what it deleted."""
    path = tmp_path / "central.sqlite"
    shutil.copyfile(history_file, path)
    metrics = CentralMetrics()
    async with SqliteStore(path) as store:
        without = RollupMaintainer(store, [SITE], 0.0, 60.0)
        assert await without.prune_once() == []  # no retention: nothing is pruned
        maintainer = RollupMaintainer(
            store, [SITE], 0.0, 60.0, retention_days=MIN_RAW_RETENTION_DAYS, prune_chunk_rows=100
        )
        maintainer.watch_pruning(metrics.site_pruned)
        (done,) = await maintainer.prune_once()
        assert done.sealed_through == cutoff(SITE, MIN_RAW_RETENTION_DAYS) > WHOLE.last
        assert (await maintainer.prune_once())[0].deleted.rows == 0
    scraped = metrics.registry.get_sample_value(
        "canteen_central_pruned_rows_total", {"site": SITE.id, "table": "readings"}
    )
    assert scraped == done.deleted.readings > 0
    assert readings_in(path) <= 6  # the references of the dates after the horizon


def test_a_retention_below_what_alerts_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="raw_retention_days"):
        CentralSettings(registry_path=tmp_path / "r.toml", raw_retention_days=90)
    ok = CentralSettings(registry_path=tmp_path / "r.toml", raw_retention_days=400)
    assert ok.raw_retention_days == 400


def test_the_prune_command_says_in_one_line_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CENTRAL_RAW_RETENTION_DAYS", "CENTRAL_REGISTRY_PATH", "CENTRAL_SQLITE_PATH"):
        monkeypatch.delenv(name, raising=False)
    missing = tmp_path / "none.sqlite3"
    cases = [
        (["--db", str(missing)], 2, "pass --days N or set CENTRAL_RAW_RETENTION_DAYS"),
        (["--db", str(missing), "--days", "30"], 2, "below the minimum 123"),
        (["--db", str(missing), "--days", "200"], 1, f"no database at {missing}"),
    ]
    existing = tmp_path / "central.sqlite3"
    sqlite3.connect(existing).close()
    cases.append((["--db", str(existing), "--days", "200"], 2, "CENTRAL_REGISTRY_PATH"))
    for args, code, text in cases:
        assert main(["prune", "--dry-run", *args]) == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert err.startswith("canteen-central prune: ")
        assert text in err
    assert not missing.exists()
