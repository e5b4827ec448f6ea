"""Rollups in the `influxdb` store, against a fake InfluxDB HTTP server (fake_influx.py: points in
memory with InfluxDB's overwrite rule, the store's query shapes answered from them): the walk,
the marks (written after the readings, a crash between the two), two replicas converging on one
bucket, a stale rollup written after a newer mark, and KPIs equal to the SQLite store's on the
same readings. The same readings go to a real SQLite store as the reference."""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from central import reporting
from central.app import create_app
from central.kpi.clocks import DEFAULT_CLOCK_RULE, ClockRule
from central.kpi.periods import DateRange
from central.kpi.rollup import EMPTY_CHAIN, config_key
from central.rollup_maintainer import RollupMaintainer
from central.settings import CentralSettings
from central.store import BatchToStore, ReadingsStore, StoreUnavailable
from central.store.influx import InfluxStore
from central.store.influx_rollup import rollup_point
from central.store.sqlite import SqliteStore
from contract import ReadingRecord
from tests.central.conftest import KEY_S1, EdgeAuth, admin, card, in_process, meter, scale
from tests.central.conftest import batch as central_batch
from tests.central.kpi.test_chained_days import assert_same_table
from tests.central.store.clock_cases import AT_8
from tests.central.store.clock_cases import uploads as clock_uploads
from tests.central.store.fake_influx import FakeInflux, serving
from tests.central.test_rollup import (
    DAYS,
    FIRST,
    SITE,
    SPANS,
    START_MS,
    WHOLE,
    Data,
    assert_same_kpis,
    batch,
)
from tests.central.test_rollup_maintainer import yesterday_noon_ms

FAR = date(2100, 1, 1)
EPOCH = date(1970, 1, 1)
MAX_DELAY_MS = DEFAULT_CLOCK_RULE.max_delay_ms


@pytest.fixture
def fake() -> Iterator[FakeInflux]:
    with serving(FakeInflux()) as fake:
        yield fake


def influx(fake: FakeInflux) -> InfluxStore:
    return InfluxStore(url=fake.url, org="canteen", bucket="canteen", token="t")


@pytest.fixture
async def store(fake: FakeInflux) -> AsyncIterator[InfluxStore]:
    async with influx(fake) as opened:
        yield opened


def readings_of(seed: int) -> tuple[list[list[Any]], list[Any]]:
    """Per date a batch of the randomised site's readings (late data, wrong clocks, meter gaps
    and resets, a raw bin), a fifth held back to arrive late. Readings with a wrong clock are
    never held back: a later upload's live reading vouches for them in the SQLite store, which
    judges clocks with the stored readings, the InfluxDB store with each upload's own
    (docs/influxdb.md, "Clocks judged per device")."""
    data = Data(seed)
    days, held_back = [], []
    for day in range(DAYS):
        readings = data.food(day) + data.meters(day, dirty=day in (5, 6))
        data.rng.shuffle(readings)
        keep = [
            r
            for r in readings
            if data.rng.random() > 0.2 or abs(r.device_time_ms - r.received_ms) > MAX_DELAY_MS
        ]
        held_back += [r for r in readings if r not in keep]
        days.append(keep)
    return days, held_back


async def check_against(store: InfluxStore, reference: ReadingsStore) -> None:
    """Every span composed of the InfluxDB store's rollups equals the one-go table of the
    reference's readings (the SQLite store's, or its own)."""
    whole = await reporting.fresh_site_table(reference, SITE, WHOLE)
    for span in SPANS:
        table = await reporting.rolled_up_table(store, SITE, span)
        assert table is not None
        assert_same_kpis(table, whole, (span.first - FIRST).days)
        if span == WHOLE:
            assert_same_table(table, whole)


async def assert_derived_series_add_up(fake: FakeInflux, reference: ReadingsStore) -> None:
    whole = await reporting.fresh_site_table(reference, SITE, WHOLE)
    lo_ms, hi_ms = int(whole.day_start_ms[0]), int(whole.day_end_ms[-1])

    def within(measurement: str, field: str, **tags: str) -> float:
        return float(
            sum(
                f[field]
                for t, ts, f in fake.select(measurement)
                if lo_ms <= ts // 1_000_000 < hi_ms and all(t.get(k) == v for k, v in tags.items())
            )
        )

    assert within("meals", "diners") == whole.diners.sum()
    for stream, mass_g in whole.day_waste_g.items():
        assert within("waste", "mass_g", stream=stream) == pytest.approx(mass_g.sum())
    # meter readings fall on local midnight: the intervals ending in a date add up to its use
    for quantity, energy in whole.energy.items():
        used = sum(
            f["used"]
            for t, ts, f in fake.select("consumption")
            if lo_ms < ts // 1_000_000 <= hi_ms and t["quantity"] == quantity
        )
        assert used == pytest.approx(float(energy.day_used.sum()), rel=1e-9), quantity


async def assert_chain_holds(store: InfluxStore) -> None:
    before, rows = await store.load_rollups(SITE.id, config_key(SITE), FIRST, WHOLE.last, FIRST)
    assert all(r.pending_ms is None for r in rows)
    ends = EMPTY_CHAIN if before is None or before.ends is None else before.ends
    for row in rows:
        assert row.starts == ends
        ends = row.ends or EMPTY_CHAIN


async def test_the_walk_rolls_up_and_composes_the_sqlite_stores_figures(
    fake: FakeInflux, store: InfluxStore, tmp_path: Path
) -> None:
    days, late = readings_of(41)
    async with SqliteStore(tmp_path / "reference.sqlite") as reference:
        for n, readings in enumerate(days):
            for target in (store, reference):
                await target.write_batch(batch(readings, n))
        # every date a batch touches is marked: the dates SQLite marks pending (from 1970 on:
        # no reading is attributed before, a clock at 0 is by its receive time)
        mine = await store.pending_rollups(SITE.id, FAR)
        marked = [
            [r.on for r in (await s.load_rollups(SITE.id, "", date(1970, 1, 1), FAR, FAR))[1]]
            for s in (store, reference)
        ]
        assert marked[0] == marked[1]
        assert mine.count == len(marked[0])
        assert fake.count("meals") == 0  # ingest loads no readings and writes no derived series

        maintainer = RollupMaintainer(store, [SITE], 0.0, 60.0)
        assert await maintainer.settle_all() >= mine.count
        assert (await store.pending_rollups(SITE.id, FAR)).count == 0
        assert maintainer.rollup_lag_s() == 0.0
        await assert_chain_holds(store)
        # derived series written by the maintainer, one meals point per date and service, and
        # what they add up to over the dates is what the KPIs are made of
        assert fake.count("meals") == fake.count("rollup") * len(SITE.services)
        await assert_derived_series_add_up(fake, reference)
        queries = len(fake.requests)
        await check_against(store, reference)
        # composed of stored rollups: state reads only, no readings loaded, nothing written
        reads = fake.requests[queries:]
        assert reads
        assert all(kind == "query" and "rollup_mark" in q for kind, q in reads)

        # late data: its dates pending in both stores, built on read, then by the maintainer
        for target in (store, reference):
            await target.write_batch(batch(late, DAYS + 1))
        assert (await store.pending_rollups(SITE.id, FAR)).count > 0
        await check_against(store, reference)
        assert (await store.pending_rollups(SITE.id, WHOLE.last)).count == 0  # stored on read
        await maintainer.settle_all()
        assert (await store.pending_rollups(SITE.id, FAR)).count == 0
        await check_against(store, reference)
        await assert_chain_holds(store)


async def test_two_replicas_on_one_bucket_converge(fake: FakeInflux, tmp_path: Path) -> None:
    days, late = readings_of(42)
    async with (
        influx(fake) as one,
        influx(fake) as two,
        SqliteStore(tmp_path / "reference.sqlite") as reference,
    ):
        for n, readings in enumerate(days):
            await (one if n % 2 else two).write_batch(batch(readings, n))
            await reference.write_batch(batch(readings, n))
        await asyncio.gather(
            RollupMaintainer(one, [SITE], 0.0, 60.0).settle_all(),
            RollupMaintainer(two, [SITE], 0.0, 60.0).settle_all(),
        )
        await one.write_batch(batch(late, DAYS + 1))
        await reference.write_batch(batch(late, DAYS + 1))
        await asyncio.gather(
            RollupMaintainer(one, [SITE], 0.0, 60.0).settle_all(),
            RollupMaintainer(two, [SITE], 0.0, 60.0).settle_all(),
        )
        for replica in (one, two):
            assert (await replica.pending_rollups(SITE.id, FAR)).count == 0
            await assert_chain_holds(replica)
            await check_against(replica, reference)


async def test_a_rollup_built_before_a_newer_mark_stays_pending(
    fake: FakeInflux, tmp_path: Path
) -> None:
    """Replica one reads a date's mark and readings; replica two stores a late reading of that
    date (and marks it); one's save is refused, and a stale rollup written all the same (a save
    that checked just before the mark arrived) is pending by its mark: rebuilt, not served."""
    days, late = readings_of(43)
    day = FIRST + timedelta(days=4)
    noon_ms = START_MS + (day - FIRST).days * 86_400_000 + 12 * 3_600_000
    late_of_day = [r for r in late if abs(r.device_time_ms - noon_ms) < 10 * 3_600_000]
    assert late_of_day
    async with (
        influx(fake) as one,
        influx(fake) as two,
        SqliteStore(tmp_path / "reference.sqlite") as reference,
    ):
        for n, readings in enumerate(days):
            await one.write_batch(batch(readings, n))
            await reference.write_batch(batch(readings, n))
        upto = DateRange(FIRST, day)
        assert await reporting.rolled_up_table(one, SITE, upto) is not None  # stored on read
        before, rows = await one.load_rollups(SITE.id, config_key(SITE), day, day, day)
        assert before is not None
        assert before.ends is not None
        # one reads the date's mark and readings ...
        stale = await reporting.build_date_rollup(one, SITE, day, before.ends)
        assert stale.gen == rows[0].gen != 0
        # ... two stores late readings of it meanwhile
        await two.write_batch(batch(late_of_day, DAYS + 1))
        await reference.write_batch(batch(late_of_day, DAYS + 1))
        assert await one.save_rollups(SITE.id, config_key(SITE), [stale], 0) == 0
        point = rollup_point(SITE.id, config_key(SITE), stale, 0)
        assert point is not None
        await one.write_points([point])  # stored regardless: last write wins in InfluxDB
        pending = await two.pending_rollups(SITE.id, FAR)
        assert pending.first is not None
        assert pending.first <= day <= (pending.last or day)
        _, rows = await two.load_rollups(SITE.id, config_key(SITE), day, day, day)
        assert rows[0].pending_ms is not None
        assert rows[0].entry is None
        # the one-go table of its own readings
        table = await reporting.rolled_up_table(two, SITE, upto)
        assert table is not None
        assert_same_table(table, await reporting.fresh_site_table(two, SITE, upto))


async def test_a_crash_between_the_readings_and_the_marks_is_repaired_by_the_resend(
    fake: FakeInflux, store: InfluxStore, tmp_path: Path
) -> None:
    """The marks are written in a request of their own after the readings' 204: when it fails,
    the batch is not acknowledged (503 to the edge); the edge's resend (every reading now a
    duplicate) writes the marks, and the late readings' dates are rebuilt with them."""
    days, late = readings_of(44)
    async with SqliteStore(tmp_path / "reference.sqlite") as reference:
        for n, readings in enumerate(days):
            await store.write_batch(batch(readings, n))
            await reference.write_batch(batch(readings, n))
        maintainer = RollupMaintainer(store, [SITE], 0.0, 60.0)
        await maintainer.settle_all()
        fake.fail_writes_with = "rollup_mark"
        first = len(fake.requests)
        with pytest.raises(StoreUnavailable):
            await store.write_batch(batch(late, DAYS + 1))
        # the identity and clock lookups, the readings' write (204), the marks' write (503)
        sent = fake.requests[first:]
        assert [kind for kind, _ in sent[-2:]] == ["write", "write"]
        assert {kind for kind, _ in sent[:-2]} == {"query"}
        assert "rollup_mark" not in sent[-2][1]
        assert "rollup_mark," in sent[-1][1]
        assert (await store.pending_rollups(SITE.id, FAR)).count == 0  # the crash window
        fake.fail_writes_with = None
        outcome = await store.write_batch(batch(late, DAYS + 1))
        assert outcome.duplicates == len(late)
        for _ in range(2):  # the batch and its resend (duplicates counted, docs/domain.md Q4)
            await reference.write_batch(batch(late, DAYS + 1))
        assert (await store.pending_rollups(SITE.id, FAR)).count > 0
        await maintainer.settle_all()
        await check_against(store, reference)


async def test_requests_per_batch_and_per_rollup_build(
    fake: FakeInflux, store: InfluxStore
) -> None:
    """What the store asks of InfluxDB (docs/scaling.md): per batch, the identity lookup and
    two writes; per rollup built, two queries (the date's mark, then its readings and
    duplicates) and the derived series' write; per walk and per stored chunk a few more."""
    days, _ = readings_of(45)
    first = len(fake.requests)
    await store.write_batch(batch(days[0], 0))
    sent = fake.requests[first:]
    assert [kind for kind, _ in sent] == ["query", "write", "write"]
    assert "ids0" in sent[0][1]
    assert sent[2][1].count("rollup_mark,") == len(
        (await store.load_rollups(SITE.id, "", FIRST - timedelta(days=9), FAR, FAR))[1]
    )
    assert sent[2][1].count("rollup_dirty,") == 1
    for n, readings in enumerate(days[1:], start=1):
        await store.write_batch(batch(readings, n))

    first = len(fake.requests)
    maintainer = RollupMaintainer(store, [SITE], 0.0, 60.0)
    done = await maintainer.pass_once()
    sent = fake.requests[first:]
    loads = [q for kind, q in sent if kind == "query" and 'yield(name: "range")' in q]
    derived = [w for kind, w in sent if kind == "write" and "meals," in w]
    saved = [w for kind, w in sent if kind == "write" and "rollup," in w]
    assert len(loads) == len(derived) == done.built > DAYS
    looks = [q for kind, q in sent if kind == "query" and 'yield(name: "dirty")' in q]
    state_reads = [q for kind, q in sent if kind == "query" and q not in loads + looks]
    # per built date its mark; per stored chunk (reporting.SAVE_CHUNK_DATES) a state read; the
    # walk's rollups; the pass's two looks for the sites written lately, each with their state
    chunks = len(saved)
    assert chunks == -(-done.built // reporting.SAVE_CHUNK_DATES)
    assert len(looks) == 2
    assert len(state_reads) == done.built + chunks + 1 + 2
    assert len(sent) == len(loads) + len(derived) + len(saved) + len(looks) + len(state_reads)
    # the next look, without a write since: the written sites only, no site's state read again
    first = len(fake.requests)
    assert await store.pending_rollup_sites() == {}
    assert [q.count("yield(") for _, q in fake.requests[first:]] == [1]


async def test_another_configuration_makes_every_rollup_pending(store: InfluxStore) -> None:
    days, _ = readings_of(46)
    for n, readings in enumerate(days):
        await store.write_batch(batch(readings, n))
    maintainer = RollupMaintainer(store, [SITE], 0.0, 60.0)
    await maintainer.check_configs()
    assert await store.rollup_config(SITE.id) == config_key(SITE)
    await maintainer.settle_all()
    assert (await store.pending_rollups(SITE.id, FAR)).count == 0
    _, rows = await store.load_rollups(SITE.id, config_key(SITE), FIRST, WHOLE.last, FIRST)
    changed_ms = time.time_ns() // 1_000_000 + 1_000  # after the maintainer's (the latest counts)
    await store.set_rollup_config(SITE.id, "another", changed_ms)
    assert await store.rollup_config(SITE.id) == "another"
    pending = await store.pending_rollups(SITE.id, FAR)
    assert pending.count >= len(rows)
    assert pending.oldest_ms == changed_ms
    found = await store.pending_rollup_sites()
    assert found == {SITE.id: pending}
    for previous, row in itertools.pairwise(rows):
        assert row.starts == previous.ends


async def test_central_on_influxdb_rolls_up_what_an_edge_uploads(
    fake: FakeInflux, settings: CentralSettings
) -> None:
    """Central with the InfluxDB store: the maintainer runs for it, rolls up the dates an
    upload marked and writes their derived series; the answer says the rollups were fresh."""
    on_influx = settings.model_copy(
        update={
            "store": "influxdb",
            "influx_url": fake.url,
            "influx_org": "canteen",
            "influx_token": SecretStr("t"),
            "rollup_debounce_s": 0.05,
        }
    )
    yesterday, noon_ms = yesterday_noon_ms(on_influx)
    readings = [
        card(0, noon_ms, 1),
        scale(0, noon_ms + 60_000, "plate", 80.0),
        meter(0, noon_ms, "electricity", 100.0, "m-1"),
    ]
    async with in_process(create_app(on_influx)) as http, influx(fake) as store:
        response = await http.post(
            "/api/v1/ingest", json=central_batch(readings, batch_id="i1"), auth=EdgeAuth(KEY_S1)
        )
        assert response.status_code == 200, response.text
        assert fake.count("rollup_mark") > 0
        deadline = time.monotonic() + 30
        while (await store.pending_rollups("s1", FAR)).count or not fake.count("rollup"):
            assert time.monotonic() < deadline, "the maintainer did not roll up the upload"
            await asyncio.sleep(0.05)
        assert fake.count("meals") > 0
        query = {"site": "s1", "period": "day", "date": yesterday.isoformat()}
        answer = (await http.get("/api/v1/kpis", params=query, headers=admin())).json()
    assert answer["rollups"] == {"pending_dates": 0, "oldest_pending_s": 0.0}
    assert answer["total"]["kpis"]["diners"]["value"] == 1


async def test_a_batch_that_makes_stored_readings_clock_trusted_marks_their_dates(
    store: InfluxStore, tmp_path: Path
) -> None:
    """Readings a battery scale kept for 8 days, stored corrected (by receive time) and rolled
    up; the upload with its live reading makes them clock-trusted: they move back to their own
    date, which is pending again in both stores, and the rollups follow."""
    site = replace(SITE, timezone=ZoneInfo("UTC"), kpi=replace(SITE.kpi, meters={}, scales={}))

    def upload(n: int, readings: list[ReadingRecord]) -> BatchToStore:
        return BatchToStore(site=site.id, edge="e1", batch_id=f"c{n}", received_ms=AT_8,
                            readings=readings, clock=ClockRule())  # fmt: skip

    async with SqliteStore(tmp_path / "reference.sqlite") as reference:
        stores: tuple[InfluxStore | SqliteStore, ...] = (store, reference)
        cases = clock_uploads()
        for target in stores:
            for n, readings in enumerate(cases[:2]):
                await target.write_batch(upload(n, readings))
            await RollupMaintainer(target, [site], 0.0, 60.0).settle_all()
            await target.write_batch(upload(2, cases[2]))
        eight_days_ago = datetime.fromtimestamp((AT_8 - 8 * 86_400_000) / 1000, UTC).date()
        pending = [
            {r.on for r in (await s.load_rollups(site.id, "", EPOCH, FAR, FAR))[1] if r.pending_ms}
            for s in stores
        ]
        assert eight_days_ago in pending[0]
        assert pending[0] == {on for on in pending[1] if on >= EPOCH}
        span = DateRange(eight_days_ago, eight_days_ago + timedelta(days=8))
        tables = [await reporting.site_table(s, site, span) for s in stores]
        assert_same_table(tables[0], tables[1])
