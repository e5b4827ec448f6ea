"""One conformance suite for every store backend: same readings in, same KPIs out.

Each backend gets two simulated canteen days (the simulator's own plans) with dirty delivery: a
resent batch, a reading twice in one batch, a double swipe in one millisecond, a reboot that
reuses device times and sequence numbers, and wrong device clocks (at 1970, hours ahead, hours
behind: central attributes those readings by their edge receive time, so a store must find them
by it, as the SQLite store does with its received_ms range). Its reports, alerts, duplicate
counts and stats must equal those of the embedded SQLite store fed the same readings shuffled in
one batch, and its KPIs those of the same readings with their clocks put right; once rolled up,
its rollups (dates, chain states, tables) must equal SQLite's. Backends: `sqlite` always;
`influxdb` when a live InfluxDB 2 is configured (CANTEEN_TEST_INFLUXDB_*), skipped with the reason
otherwise; `fake-influxdb`, the InfluxDB store against the fake server of fake_influx.py.
"""

import hashlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import astuple
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from central.api.kpi_schemas import alert_out, report_out
from central.kpi.clocks import correct_clocks
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.rollup import compose, config_key
from central.registry import Site as CentralSite
from central.registry import parse_registry
from central.reporting import alerts, report
from central.rollup_maintainer import RollupMaintainer
from central.store import BatchToStore, ReadingsStore, RejectedRow, RollupRow, RollupStore
from central.store.influx import InfluxStore
from central.store.sqlite import SqliteStore
from contract import (
    CardRecord,
    DeviceKind,
    DeviceStatusRecord,
    DroppedDuplicate,
    EdgeHealth,
    MeterRecord,
    ReadingRecord,
    ScaleRecord,
    Stream,
)
from simulators.canteen import plan_site_days
from simulators.devices import BIN_PREP
from simulators.events import CardSwipe, Event, GrossReading, Weighing
from simulators.rawbins import RawBins
from simulators.registry import Site as SimSite
from tests.central.kpi.test_chained_days import assert_same_table
from tests.central.store import clock_cases
from tests.central.store.conftest import live_influx, unique_site
from tests.central.store.fake_influx import FakeInflux, serving

START = date(2026, 3, 2)
EPOCH = date(1970, 1, 1)  # InfluxDB marks no date before (no reading is attributed there)
DAYS = 2
TZ = ZoneInfo("Asia/Shanghai")


def person(site: str, card: str | None) -> str:
    return hashlib.blake2b(f"{site}:{card}".encode(), digest_size=16).hexdigest()


def simulated(site: str, meter_interval_s: int = 900, raw: bool = True) -> list[ReadingRecord]:
    """Two days of one canteen as the edge would upload them (boot per device and day).

    With `raw`, the prep bin sends its gross weight (simulators.rawbins, docs/domain.md "Scales")
    while the spoilage bin and the plate scales stay net; the deposits are the same either way.
    """
    sim = SimSite(id=site, timezone="Asia/Shanghai", registered_staff=120)
    out: list[ReadingRecord] = []
    seqs: dict[str, int] = {}
    bins = RawBins()
    for day, plan in enumerate(plan_site_days(sim, seed=3, start_date=START, days=DAYS,
                                              meter_interval_s=meter_interval_s)):  # fmt: skip
        events: list[Event] = list(plan.events)
        if raw:
            weighings = [e for e in events if isinstance(e, Weighing) and e.device == BIN_PREP]
            played = bins.play(plan.frame, BIN_PREP, weighings, np.random.default_rng(day),
                               np.random.default_rng(0), drift_p=0.0).readings  # fmt: skip
            if day == 0:
                # no reading at the start of the run: the first step's reference is the last
                # stable reading before the period (PRE_PERIOD_RAW)
                assert played[0].at_ms == plan.frame.midnight_ms
                assert played[0].gross_g == 0
                played = played[1:]
            events = [e for e in events if e.device != BIN_PREP] + list(played)
            events.sort(key=lambda e: e.at_ms)  # stable: a device's own order is kept
        for event in events:
            seq = seqs.get(event.device, 0)
            seqs[event.device] = seq + 1
            common: dict[str, Any] = {
                "device": event.device, "boot": f"d{day}", "seq": seq,
                "device_time_ms": event.at_ms, "received_ms": event.at_ms + 150,
            }  # fmt: skip
            if isinstance(event, CardSwipe):
                out.append(CardRecord(**common, person=person(site, event.card)))
            elif isinstance(event, Weighing):
                who = None if event.card is None else person(site, event.card)
                out.append(ScaleRecord(**common, stream=event.stream, mass_g=event.shown_g,
                                       person=who))  # fmt: skip
            elif isinstance(event, GrossReading):
                out.append(ScaleRecord(**common, stream=event.stream, gross_g=event.gross_g,
                                       stable=event.stable))  # fmt: skip
            else:
                total = round(event.register, 3)
                out.append(MeterRecord(**common, quantity=event.quantity, total=total,
                                       power_kw=event.power_kw))  # fmt: skip
    cards = [r for r in out if isinstance(r, CardRecord)]
    skew_clocks(out)
    if raw:
        out += pre_period_raw()
        skew_raw_end_of_day(out)
    first = cards[0]
    # a double swipe: same person, same millisecond, next seq
    out.append(first.model_copy(update={"seq": 10**6 + first.seq}))
    # a reboot whose clock and sequence restart where boot d0 started: same times, same seqs
    out += [c.model_copy(update={"boot": "reboot", "person": person(site, f"x{c.seq}")})
            for c in cards[:5]]  # fmt: skip
    return out


MIDNIGHT_MS = int(datetime(START.year, START.month, START.day, tzinfo=TZ).timestamp() * 1000)


def pre_period_raw() -> list[ScaleRecord]:
    """The prep bin's stable readings on the evening before the first day (the periods' loads
    start at 23:00): a reading received at 19:00 whose clock runs 3.5 h ahead (22:30, the latest
    device time before the periods), a trusted one at 20:00 (3000 g), and the platform emptied at
    22:00 by a clock at 1970. By attributed time the last one is the empty platform: the first
    deposit of the first day steps from 0 g (a store picking by device time would take 5000 g
    and lose that deposit, one ignoring wrong clocks 3000 g)."""

    def at(seq: int, received_ms: int, device_ms: int, gross_g: float) -> ScaleRecord:
        return ScaleRecord(device=BIN_PREP, boot="pre", seq=seq, device_time_ms=device_ms,
                           received_ms=received_ms, stream=Stream.PREP, gross_g=gross_g,
                           stable=True)  # fmt: skip

    return [
        at(0, MIDNIGHT_MS - 5 * HOUR_MS, MIDNIGHT_MS - 90 * 60_000, 5000.0),
        at(1, MIDNIGHT_MS - 4 * HOUR_MS, MIDNIGHT_MS - 4 * HOUR_MS, 3000.0),
        at(2, MIDNIGHT_MS - 2 * HOUR_MS, 86_400_000 + 321, 0.0),
    ]


def skew_raw_end_of_day(readings: list[ReadingRecord]) -> None:
    """The prep bin's end-of-day emptying of the first day, by a clock at 1970: the reference of
    the second day's first step (a report of the second day alone must find it by its receive
    time, received after the first day's last deposit)."""
    stable = [
        n for n, r in enumerate(readings)
        if isinstance(r, ScaleRecord) and r.device == BIN_PREP and r.boot == "d0" and r.stable
    ]  # fmt: skip
    emptying = readings[stable[-1]]
    assert isinstance(emptying, ScaleRecord)
    assert emptying.gross_g == 0
    assert emptying.device_time_ms == emptying.received_ms - 150
    readings[stable[-1]] = emptying.model_copy(update={"device_time_ms": 86_400_000 + 654})


# wrong clocks on raw readings besides WRONG_CLOCKS: two before the periods, one at day's end
RAW_WRONG_CLOCKS = 3


# Wrong device clocks (docs/domain.md Q3), by the position of the reading among those of its kind:
# device time -> the time its clock showed (the edge's receive time stays right).
HOUR_MS = 3_600_000
WRONG_CLOCKS: dict[type[ReadingRecord], dict[int, Any]] = {
    CardRecord: {
        40: lambda t: 86_400_000 + t % 1000,  # at 1970 after a battery change
        90: lambda t: t + 5 * HOUR_MS,  # hours ahead: an evening swipe shows the next day
        -3: lambda t: t + 9 * HOUR_MS,  # the last swipes of the period: beyond its end
        -2: lambda t: t - 3 * HOUR_MS,  # hours behind
    },
    ScaleRecord: {55: lambda t: 12_345, -5: lambda t: t + 11 * HOUR_MS},
    MeterRecord: {30: lambda t: 777},
}


def skew_clocks(readings: list[ReadingRecord]) -> int:
    """Put the WRONG_CLOCKS in place; how many readings now have a wrong clock."""
    count = 0
    for kind, wrong in WRONG_CLOCKS.items():
        positions = [n for n, r in enumerate(readings) if type(r) is kind]
        for index, clock in wrong.items():
            n = positions[index]
            readings[n] = readings[n].model_copy(
                update={"device_time_ms": clock(readings[n].device_time_ms)}
            )
            count += 1
    return count


def with_right_clocks(readings: Sequence[ReadingRecord]) -> list[ReadingRecord]:
    """The readings as central attributes them: a wrong clock replaced by the receive time."""
    return [
        r.model_copy(update={"device_time_ms": r.received_ms})
        if abs(r.device_time_ms - r.received_ms) > HOUR_MS
        else r
        for r in readings
    ]


def registry_site(site: str) -> CentralSite:
    registry = parse_registry({
        "sites": [{"id": site, "name": "Conformance", "registered_staff": 120,
                   "floor_area_m2": 800.0, "waste_target_g_per_diner": 50.0,
                   "energy_quota_kgce_month": 10.0}],
        "edges": [{"id": f"edge-{site}", "site": site, "key_sha256": "0" * 64}],
    })  # fmt: skip
    found = registry.site(site)
    assert found is not None
    return found


def edge_drops(readings: Sequence[ReadingRecord]) -> list[DroppedDuplicate]:
    """Copies the edge dropped from its buffer and reported (docs/domain.md Q4), counted by central
    on the local date of their device time: a breakfast swipe (07:00 in Shanghai is the day
    before in UTC), a meter reading and a plate weighing of the second day."""
    swipe = next(r for r in readings if isinstance(r, CardRecord) and r.boot == "d0")
    meter = next(r for r in readings if isinstance(r, MeterRecord) and r.boot == "d1")
    plate = next(
        r for r in readings
        if isinstance(r, ScaleRecord) and r.stream is Stream.PLATE and r.boot == "d1"
    )  # fmt: skip
    assert local_date(swipe.device_time_ms) == START
    assert datetime.fromtimestamp(swipe.device_time_ms / 1000, UTC).date() < START
    return [
        DroppedDuplicate(id=n, device=r.device, device_time_ms=r.device_time_ms)
        for n, r in enumerate((swipe, meter, plate), start=1)
    ]


def local_date(at_ms: int) -> date:
    return datetime.fromtimestamp(at_ms / 1000, TZ).date()


def status(
    device: str, kind: DeviceKind, state: Literal["online", "offline"], at_ms: int, boot: str | None
) -> DeviceStatusRecord:
    return DeviceStatusRecord(
        kind=kind, device=device, state=state, boot=boot, received_ms=MIDNIGHT_MS + at_ms
    )


# Device status changes per upload batch (the first is resent with its batch): a card reader
# that goes offline and back with a new boot, whose older offline arrives late; a meter that
# announces itself online twice; a plate scale whose last will is the only news.
CARD, METER, PLATE = "card-1", "meter-elec", "plate-1"
STATUSES = {
    0: [status(CARD, DeviceKind.CARD, "online", 1_000, "d0"),
        status(METER, DeviceKind.METER, "online", 2_000, "d0")],
    2: [status(CARD, DeviceKind.CARD, "offline", 2 * HOUR_MS, "d0"),
        status(METER, DeviceKind.METER, "online", HOUR_MS, "d0"),
        status(PLATE, DeviceKind.SCALE, "offline", 5 * HOUR_MS, None)],
    3: [status(CARD, DeviceKind.CARD, "online", 3 * HOUR_MS, "d1"),
        status(CARD, DeviceKind.CARD, "offline", HOUR_MS // 2, "d0")],
}  # fmt: skip
PRESENCE = [  # what every store must answer: (device, kind, state, boot, since, changed)
    (CARD, "card", "online", "d1", MIDNIGHT_MS + 3 * HOUR_MS, MIDNIGHT_MS + 3 * HOUR_MS),
    (METER, "meter", "online", "d0", MIDNIGHT_MS + 2_000, MIDNIGHT_MS + HOUR_MS),
    (PLATE, "scale", "offline", None, MIDNIGHT_MS + 5 * HOUR_MS, MIDNIGHT_MS + 5 * HOUR_MS),
]


def batches(site: str, readings: Sequence[ReadingRecord]) -> list[BatchToStore]:
    """Three upload batches (the day's size depends on the site id, which is unique per run), the
    first one resent, one with a reading twice, one rejected row; dropped copies reported by the
    edge (the first two in the resent batch, the second again in the last one: each (edge, id)
    counts once), and device status changes (STATUSES)."""
    size = -(-len(readings) // 3)
    chunks = [list(readings[i : i + size]) for i in range(0, len(readings), size)]
    chunks.insert(1, chunks[0])  # the edge resends after a lost answer (same batch id)
    chunks[-1] = [*chunks[-1], chunks[-1][0]]  # the same reading twice in one batch
    assert len(chunks) == 4
    rejected = [RejectedRow(index=0, reason="seq: bad", raw_json='{"seq":-1}')]
    drops = edge_drops(readings)
    dropped = {0: drops[:2], 1: drops[:2], 3: drops[1:]}
    return [
        BatchToStore(
            site=site,
            edge=f"edge-{site}",
            batch_id=f"b{max(n - 1, 0)}",
            received_ms=1_772_000_000_000 + n,
            readings=chunk,
            timezone=TZ,
            rejected=rejected if n in (0, 1) else (),
            edge_duplicates=dropped.get(n, ()),
            statuses=STATUSES.get(0 if n == 1 else n, ()),
        )
        for n, chunk in enumerate(chunks)
    ]


async def kpis(store: ReadingsStore, site: CentralSite) -> dict[str, Any]:
    now_ms = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp() * 1000)
    span = DateRange(START, date.fromordinal(START.toordinal() + DAYS - 1))
    out: dict[str, Any] = {}
    for name, granularity in (("services", Granularity.SERVICE), ("days", Granularity.DAY)):
        got = await report(store, [site], PeriodKind.CUSTOM, span, granularity, now_ms)
        # without `rollups`: how fresh a store's rollups were is its state, not the data's
        out[name] = report_out(got, [], site.id, None).model_dump(mode="json", exclude={"rollups"})
    # the second day alone: its raw bin's first step needs the first day's last stable reading
    second = DateRange(span.last, span.last)
    got = await report(store, [site], PeriodKind.CUSTOM, second, Granularity.SERVICE, now_ms)
    out["second_day"] = report_out(got, [], site.id, None).model_dump(
        mode="json", exclude={"rollups"}
    )
    out["alerts"] = [
        alert_out(a).model_dump(mode="json") for a in await alerts(store, site, START, now_ms)
    ]
    dups = await store.load_duplicates(site.id, span.first, span.last)
    out["duplicates"] = sorted(
        zip(dups.device.tolist(), dups.local_date.tolist(), dups.duplicates.tolist(), strict=True)
    )
    stats = await store.site_stats(site.id)
    out["stats"] = (stats.readings, stats.rejected)
    out["presence"] = [astuple(p) for p in await store.device_presence(site.id)]
    return out


def assert_same(got: Any, want: Any, where: str = "") -> None:
    """Equal, floats to 1e-9 relative (the backends return readings in different orders)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        assert sorted(got) == sorted(want), where
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list | tuple):
        assert isinstance(got, list | tuple), where
        assert len(got) == len(want), where
        for n, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{n}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), where
    else:
        assert got == want, where


async def test_same_readings_give_the_same_kpis(backend: ReadingsStore, tmp_path: Path) -> None:
    site_id = unique_site("conf")
    site = registry_site(site_id)
    readings = simulated(site_id)
    accepted = duplicates = 0
    uploads = batches(site_id, readings)
    for upload in uploads:
        outcome = await backend.write_batch(upload)
        accepted += outcome.accepted
        duplicates += outcome.duplicates
    # every distinct identity stored once, every resent reading counted as a duplicate
    assert accepted == len(readings)
    assert duplicates == len(uploads[0].readings) + 1  # the resent batch, the reading twice
    got = await kpis(backend, site)
    assert got["stats"] == (len(readings), 1)
    # Q4 per device and local date: the resent readings on the date central attributes them
    # to, plus each copy the edge dropped once, on the local date of its device time
    resent = [*uploads[1].readings, uploads[-1].readings[-1]]
    expected: Counter[tuple[str, str]] = Counter(
        (r.device, uploads[0].duplicate_date(r).isoformat()) for r in resent
    )
    drops = edge_drops(readings)
    expected.update((d.device, local_date(d.device_time_ms).isoformat()) for d in drops)
    assert got["duplicates"] == sorted((d, day, n) for (d, day), n in expected.items())
    assert sum(n for _, _, n in got["duplicates"]) == len(resent) + 3  # and 3 dropped copies
    assert got["presence"] == PRESENCE

    # The reference: SQLite fed the readings shuffled in one batch, then the same resends.
    shuffled = list(readings)
    random.Random(7).shuffle(shuffled)
    async with SqliteStore(tmp_path / "reference.sqlite3") as reference:
        for n, part in enumerate((shuffled, resent)):
            await reference.write_batch(
                BatchToStore(
                    site=site_id,
                    edge=f"edge-{site_id}",
                    batch_id="b0",
                    received_ms=1 + n,
                    readings=part,
                    timezone=TZ,
                    rejected=uploads[0].rejected,
                    edge_duplicates=drops if n == 0 else drops[:2],
                    statuses=[s for n in sorted(STATUSES) for s in STATUSES[n]],
                )
            )
        want = await kpis(reference, site)
    assert_same(got, want)

    # Held to the answer, not only to SQLite: the KPIs equal those of the same readings with
    # their clocks put right, and every wrong clock is counted as corrected; and those of the
    # same deposits sent net by the prep bin (the raw bin's steps, from the right references).
    wrong = sum(len(w) for w in WRONG_CLOCKS.values()) + RAW_WRONG_CLOCKS
    assert len(readings) - sum(r in readings for r in with_right_clocks(readings)) == wrong
    references: dict[str, dict[str, Any]] = {}
    for name, fed in (
        ("right clocks", with_right_clocks(readings)),
        ("net bins", with_right_clocks(simulated(site_id, raw=False))),
    ):
        async with SqliteStore(tmp_path / f"{name}.sqlite3") as right:
            await right.write_batch(
                BatchToStore(
                    site=site_id,
                    edge=f"edge-{site_id}",
                    batch_id="b0",
                    received_ms=1,
                    readings=fed,
                    timezone=TZ,
                )
            )
            references[name] = await kpis(right, site)
    for name, fixed in references.items():
        for granularity in ("services", "days", "second_day"):
            report_got, report_fixed = got[granularity], fixed[granularity]
            assert len(report_got["rows"]) == len(report_fixed["rows"])
            for row_got, row_fixed in zip(report_got["rows"], report_fixed["rows"], strict=True):
                where = f"{name}: {granularity} {row_got['label']}"
                assert_same(row_got["kpis"], row_fixed["kpis"], where)
            assert_same(report_got["total"]["kpis"], report_fixed["total"]["kpis"], granularity)
            assert report_fixed["total"]["quality"]["clock_corrected"] == 0
    # the wrong clocks in the two days (not the two before them, loaded as references only)
    assert got["days"]["total"]["quality"]["clock_corrected"] == wrong - 2
    assert got["services"]["total"]["quality"]["clock_corrected"] == wrong - 2


@pytest.fixture(params=["sqlite", "influxdb", "fake-influxdb"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ReadingsStore]:
    """SQLite; the live InfluxDB when configured; and the InfluxDB store against the fake
    InfluxDB server of fake_influx.py, which runs here (its answers are written from the
    queries' documentation: the live run is the judge)."""
    if request.param == "sqlite":
        async with SqliteStore(tmp_path / "backend.sqlite3") as sqlite:
            yield sqlite
        return
    if request.param == "influxdb":
        live = live_influx()
        async with InfluxStore(
            url=live.url, org=live.org, bucket=live.bucket, token=live.token
        ) as db:
            yield db
        return
    with serving(FakeInflux()) as fake:
        async with InfluxStore(url=fake.url, org="canteen", bucket="canteen", token="t") as db:
            yield db


async def test_rollups_equal_the_sqlite_stores(backend: ReadingsStore, tmp_path: Path) -> None:
    """The same uploads give the same rollups: once the maintainer has rolled every date up,
    each store has the same dates, with the same chain states (meter walks, raw-bin references)
    and tables that compose to the same figures, and reports from them equal SQLite's."""
    store = backend
    assert isinstance(store, RollupStore)
    site_id = unique_site("rollups")
    site = registry_site(site_id)
    readings = simulated(site_id)
    uploads = [
        BatchToStore(site=site_id, edge=f"edge-{site_id}", batch_id=f"r{n}", received_ms=1,
                     readings=readings[n : n + 500], timezone=TZ)
        for n in [*range(0, len(readings), 500), 0]  # the first one resent at the end
    ]  # fmt: skip
    async with SqliteStore(tmp_path / "reference.sqlite3") as reference:
        rolled: list[tuple[RollupRow | None, list[RollupRow]]] = []
        for target in (store, reference):
            for upload in uploads:
                await target.write_batch(upload)
            maintainer = RollupMaintainer(target, [site], 0.0, 60.0)
            await maintainer.check_configs()
            await maintainer.settle_all()
            assert (await target.pending_rollups(site_id, date(2100, 1, 1))).count == 0
            key = config_key(site)
            rolled.append(await target.load_rollups(site_id, key, EPOCH, date(2100, 1, 1), EPOCH))
        (_, got), (_, want) = rolled
        last = got[-1].on
        if not isinstance(store, SqliteStore):
            # SQLite's month summaries roll up the rest of the last data's month too (empty dates)
            extra = [r.on for r in want if r.on > last]
            assert all((on.year, on.month) == (last.year, last.month) for on in extra), extra
            want = [r for r in want if r.on <= last]
        assert [r.on for r in got] == [r.on for r in want if r.on >= EPOCH]
        want = [r for r in want if r.on >= EPOCH]
        for mine, theirs in zip(got, want, strict=True):
            assert (mine.starts, mine.ends) == (theirs.starts, theirs.ends), mine.on
            assert mine.entry is not None
            assert theirs.entry is not None
            span = DateRange(mine.on, mine.on)
            composed = compose(site, span, [mine.entry])
            expected = compose(site, span, [theirs.entry])
            assert composed is not None
            assert expected is not None
            assert_same_table(composed, expected)
        assert_same(await kpis(store, site), await kpis(reference, site))


def health(measured_ms: int, *, dropped: int = 0, dead: int = 0, pending: int = 0) -> EdgeHealth:
    return EdgeHealth(
        measured_ms=measured_ms,
        dropped_overflow=dropped,
        dead_lettered=dead,
        intake_pauses=0,
        broker_sessions_lost=0,
        pending_readings=pending,
        oldest_pending_age_ms=1_000 if pending else None,
    )


async def test_edge_health_gives_the_latest_report_and_a_periods_increase(
    backend: ReadingsStore,
) -> None:
    site_id = unique_site("health")
    day_ms = 86_400_000
    start_ms = 1_795_000_000_000 // day_ms * day_ms  # a UTC midnight
    reports = [
        ("edge-a", health(start_ms - 5_000, dropped=3, dead=1)),  # the day before
        ("edge-a", health(start_ms + 9_000, dropped=7, dead=1, pending=40)),
        ("edge-a", health(start_ms + 5_000, dropped=5, dead=1)),  # late batch: older report
        ("edge-b", health(start_ms - 9_000, dead=2)),  # nothing on the day
        ("edge-c", health(start_ms + 1_000, dead=4)),  # first report ever
    ]
    for n, (edge, sent) in enumerate(reports):
        await backend.write_batch(
            BatchToStore(
                site=site_id, edge=edge, batch_id=f"b{n}", received_ms=1, readings=[],
                health=sent,
            )
        )  # fmt: skip
    await backend.write_batch(  # a resent batch changes nothing
        BatchToStore(
            site=site_id, edge="edge-a", batch_id="b1", received_ms=2, readings=[],
            health=reports[1][1],
        )
    )  # fmt: skip
    got = {p.edge: p for p in await backend.edge_health(site_id, start_ms, start_ms + day_ms)}
    assert sorted(got) == ["edge-a", "edge-b", "edge-c"]
    assert got["edge-a"].latest.measured_ms == start_ms + 9_000
    assert got["edge-a"].latest.pending_readings == 40
    assert got["edge-a"].latest.oldest_pending_age_ms == 1_000
    assert got["edge-a"].increase["dropped_overflow"] == 4
    assert got["edge-a"].increase["dead_lettered"] == 0
    assert got["edge-a"].lost_readings
    assert got["edge-b"].increase["dead_lettered"] == 0
    assert not got["edge-b"].lost_readings
    assert got["edge-c"].increase["dead_lettered"] == 4
    assert await backend.edge_health(site_id, 0, start_ms - 9_000) == []


async def test_copies_dropped_at_the_edge_and_at_central_count_on_the_same_date(
    backend: ReadingsStore,
) -> None:
    """One dating rule for duplicates at both hops (docs/domain.md Q4): with clock correction on,
    a copy of a reading from a clock at 1970 counts on the local date of its receive time,
    whether central dropped it or the edge did and reported its receive time; a copy reported by
    an older edge (no receive time) keeps the date of its device time."""
    site_id = unique_site("dupdate")
    received_ms = MIDNIGHT_MS + 12 * HOUR_MS  # 2026-03-02 12:00 in Shanghai
    at_1970 = CardRecord(device=CARD, boot="b", seq=1, device_time_ms=86_400_000 + 5,
                         received_ms=received_ms, person=person(site_id, "c1"))  # fmt: skip

    def upload(batch_id: str, dropped: Sequence[DroppedDuplicate]) -> BatchToStore:
        return BatchToStore(site=site_id, edge=f"edge-{site_id}", batch_id=batch_id,
                            received_ms=received_ms, readings=[at_1970], timezone=TZ,
                            edge_duplicates=dropped)  # fmt: skip

    copy = DroppedDuplicate(
        id=1, device=CARD, device_time_ms=at_1970.device_time_ms, received_ms=received_ms + 40
    )
    old_edge = DroppedDuplicate(id=2, device=CARD, device_time_ms=at_1970.device_time_ms)
    first = await backend.write_batch(upload("b0", [copy]))
    again = await backend.write_batch(upload("b1", [old_edge]))  # central drops this copy
    assert (first.accepted, again.duplicates) == (1, 1)
    assert upload("b", []).duplicate_date(at_1970) == START
    dups = await backend.load_duplicates(site_id, date(1970, 1, 1), START)
    found = sorted(
        zip(dups.device.tolist(), dups.local_date.tolist(), dups.duplicates.tolist(), strict=True)
    )
    assert found == [(CARD, "1970-01-02", 1), (CARD, START.isoformat(), 2)]


async def test_clocks_are_judged_across_uploads(backend: ReadingsStore) -> None:
    """Per-device clock verdicts with the stored readings (docs/kpis.md, "Wrong device
    clocks"; tests/central/store/clock_cases.py): a meter's buffer of yesterday split over two
    uploads, its live reading in the second, keeps its device times; so do a battery scale's
    readings of 8 days ago (its predecessor stored then) and a buffer vouched for by a live
    reading stored in an earlier upload; a scale 3 days behind is corrected."""
    site_id = unique_site("clocks")
    for n, readings in enumerate(clock_cases.uploads()):
        await backend.write_batch(
            BatchToStore(site=site_id, edge=f"edge-{site_id}", batch_id=f"c{n}",
                         received_ms=clock_cases.AT_8, readings=readings)
        )  # fmt: skip
    loaded = await backend.load_readings(
        site_id, clock_cases.AT_8 - 9 * clock_cases.DAY, clock_cases.AT_8 + clock_cases.DAY
    )
    fixed = correct_clocks(loaded).readings
    sent = [r for readings in clock_cases.uploads() for r in readings]
    want_meter = sorted(r.device_time_ms for r in sent if isinstance(r, MeterRecord))
    assert np.sort(fixed.meter.time_ms).tolist() == want_meter
    want_scale = sorted(
        r.received_ms if r.device == "sc" else r.device_time_ms
        for r in sent
        if isinstance(r, ScaleRecord)
    )
    assert np.sort(fixed.scale.time_ms).tolist() == want_scale
