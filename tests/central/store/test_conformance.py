"""One conformance suite for every store backend: same readings in, same KPIs out.

Each backend gets two simulated canteen days (the simulator's own plans) with dirty delivery: a
resent batch, a reading twice in one batch, a double swipe in one millisecond, a reboot that
reuses device times and sequence numbers, and wrong device clocks (at 1970, hours ahead, hours
behind: central attributes those readings by their edge receive time, so a store must find them
by it, as the SQLite store does with its received_ms range). Its reports, alerts, duplicate
counts and stats must equal those of the embedded SQLite store fed the same readings shuffled in
one batch, and its KPIs those of the same readings with their clocks put right. Backends:
`sqlite` always; `influxdb` when a live InfluxDB 2 is configured (CANTEEN_TEST_INFLUXDB_*),
skipped with the reason otherwise.
"""

import hashlib
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from central.api.kpi_schemas import alert_out, report_out
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.registry import Site as CentralSite
from central.registry import parse_registry
from central.reporting import alerts, report
from central.store import BatchToStore, ReadingsStore, RejectedRow
from central.store.influx import InfluxStore
from central.store.sqlite import SqliteStore
from contract import CardRecord, MeterRecord, ReadingRecord, ScaleRecord
from simulators.canteen import plan_site_days
from simulators.events import CardSwipe, Weighing
from simulators.registry import Site as SimSite
from tests.central.store.conftest import live_influx, unique_site

START = date(2026, 3, 2)
DAYS = 2
TZ = ZoneInfo("Asia/Shanghai")


def person(site: str, card: str) -> str:
    return hashlib.blake2b(f"{site}:{card}".encode(), digest_size=16).hexdigest()


def simulated(site: str, meter_interval_s: int = 900) -> list[ReadingRecord]:
    """Two days of one canteen as the edge would upload them (boot per device and day)."""
    sim = SimSite(id=site, timezone="Asia/Shanghai", registered_staff=120)
    out: list[ReadingRecord] = []
    seqs: dict[str, int] = {}
    for day, plan in enumerate(plan_site_days(sim, seed=3, start_date=START, days=DAYS,
                                              meter_interval_s=meter_interval_s)):  # fmt: skip
        for event in plan.events:
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
            else:
                total = round(event.register, 3)
                out.append(MeterRecord(**common, quantity=event.quantity, total=total,
                                       power_kw=event.power_kw))  # fmt: skip
    cards = [r for r in out if isinstance(r, CardRecord)]
    skew_clocks(out)
    first = cards[0]
    # a double swipe: same person, same millisecond, next seq
    out.append(first.model_copy(update={"seq": 10**6 + first.seq}))
    # a reboot whose clock and sequence restart where boot d0 started: same times, same seqs
    out += [c.model_copy(update={"boot": "reboot", "person": person(site, f"x{c.seq}")})
            for c in cards[:5]]  # fmt: skip
    return out


# Wrong device clocks (DOMAIN.md Q3), by the position of the reading among those of its kind:
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


def batches(site: str, readings: Sequence[ReadingRecord]) -> list[BatchToStore]:
    """Upload batches of 500, the first one resent, one with a reading twice, one rejected row."""
    chunks = [list(readings[i : i + 500]) for i in range(0, len(readings), 500)]
    chunks.insert(1, chunks[0])  # the edge resends after a lost answer (same batch id)
    chunks[-1] = [*chunks[-1], chunks[-1][0]]  # the same reading twice in one batch
    rejected = [RejectedRow(index=0, reason="seq: bad", raw_json='{"seq":-1}')]
    return [
        BatchToStore(
            site=site,
            edge=f"edge-{site}",
            batch_id=f"b{max(n - 1, 0)}",
            received_ms=1_772_000_000_000 + n,
            readings=chunk,
            timezone=TZ,
            rejected=rejected if n in (0, 1) else (),
        )
        for n, chunk in enumerate(chunks)
    ]


async def kpis(store: ReadingsStore, site: CentralSite) -> dict[str, Any]:
    now_ms = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp() * 1000)
    span = DateRange(START, date.fromordinal(START.toordinal() + DAYS - 1))
    out: dict[str, Any] = {}
    for name, granularity in (("services", Granularity.SERVICE), ("days", Granularity.DAY)):
        got = await report(store, [site], PeriodKind.CUSTOM, span, granularity, now_ms)
        out[name] = report_out(got, [], site.id, None).model_dump(mode="json")
    out["alerts"] = [
        alert_out(a).model_dump(mode="json") for a in await alerts(store, site, START, now_ms)
    ]
    dups = await store.load_duplicates(site.id, span.first, span.last)
    out["duplicates"] = sorted(
        zip(dups.device.tolist(), dups.local_date.tolist(), dups.duplicates.tolist(), strict=True)
    )
    stats = await store.site_stats(site.id)
    out["stats"] = (stats.readings, stats.rejected)
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


@pytest.fixture(params=["sqlite", "influxdb"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ReadingsStore]:
    if request.param == "sqlite":
        async with SqliteStore(tmp_path / "backend.sqlite3") as sqlite:
            yield sqlite
        return
    live = live_influx()
    async with InfluxStore(url=live.url, org=live.org, bucket=live.bucket, token=live.token) as db:
        yield db


async def test_same_readings_give_the_same_kpis(backend: ReadingsStore, tmp_path: Path) -> None:
    site_id = unique_site("conf")
    site = registry_site(site_id)
    readings = simulated(site_id)
    accepted = duplicates = 0
    for upload in batches(site_id, readings):
        outcome = await backend.write_batch(upload)
        accepted += outcome.accepted
        duplicates += outcome.duplicates
    # every distinct identity stored once, every resent reading counted as a duplicate
    assert accepted == len(readings)
    assert duplicates == 500 + 1
    got = await kpis(backend, site)
    assert got["stats"] == (len(readings), 1)
    assert sum(n for _, _, n in got["duplicates"]) == 501

    # The reference: SQLite fed the readings shuffled in one batch, then the same resends.
    shuffled = list(readings)
    random.Random(7).shuffle(shuffled)
    uploads = batches(site_id, readings)
    resent = [*uploads[1].readings, uploads[-1].readings[-1]]
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
                )
            )
        want = await kpis(reference, site)
    assert_same(got, want)

    # Held to the answer, not only to SQLite: the KPIs equal those of the same readings with
    # their clocks put right, and every wrong clock is counted as corrected.
    wrong = sum(len(w) for w in WRONG_CLOCKS.values())
    assert len(readings) - sum(r in readings for r in with_right_clocks(readings)) == wrong
    async with SqliteStore(tmp_path / "right-clocks.sqlite3") as right:
        await right.write_batch(
            BatchToStore(
                site=site_id,
                edge=f"edge-{site_id}",
                batch_id="b0",
                received_ms=1,
                readings=with_right_clocks(readings),
                timezone=TZ,
            )
        )
        fixed = await kpis(right, site)
    for granularity in ("services", "days"):
        report_got, report_fixed = got[granularity], fixed[granularity]
        assert len(report_got["rows"]) == len(report_fixed["rows"])
        for row_got, row_fixed in zip(report_got["rows"], report_fixed["rows"], strict=True):
            assert_same(row_got["kpis"], row_fixed["kpis"], f"{granularity} {row_got['label']}")
        assert_same(report_got["total"]["kpis"], report_fixed["total"]["kpis"], granularity)
        assert report_got["total"]["quality"]["clock_corrected"] == wrong
        assert report_fixed["total"]["quality"]["clock_corrected"] == 0
