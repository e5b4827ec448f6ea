"""Rollups compose exactly: every period's figures equal the table built in one go.

Randomised readings (late data, wrong device clocks, meter gaps, meter resets across midnight,
duplicates, edge-reported duplicates, and a raw kitchen bin that is silent on some dates) go into
a real SQLite store; tables of single dates and of spans are composed of rollups (pending ones
built on read, chained from their stored predecessor) and compared with the table of every date
built in one go from every reading, before and after more data arrives late, after a restart and
after a configuration change.
"""

import itertools
import math
import random
import struct
import tempfile
from dataclasses import fields, is_dataclass, replace
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central import reporting
from central.kpi.daytable import METER_MARGIN_MS, DayTable, build_day_table, load_range
from central.kpi.periods import DateRange
from central.kpi.rawbins import RAW_SCALE_LOOKBACK_MS
from central.kpi.rollup import (
    EMPTY_CHAIN,
    ENTRY_LAYOUT,
    EntryLayoutError,
    compose,
    config_key,
    encode,
    entry_services,
    parse_chain,
)
from central.kpi.totals import site_totals
from central.kpi.values import derive, device_figures, quality
from central.kpi.windows import day_windows
from central.registry import Service, Site
from central.rollup_maintainer import RollupMaintainer
from central.site_kpi_config import MeterConfig, ScaleConfig, SiteKpiConfig
from central.store.base import BatchToStore, DayInputs
from central.store.sqlite import (
    METER_REACH_MS,
    RAW_SCALE_REACH_MS,
    READING_REACH_MS,
    SqliteStore,
    touched_dates,
)
from contract import CardRecord, DroppedDuplicate, MeterRecord, Quantity, ScaleRecord, Stream
from tests.central.conftest import utc_ms
from tests.central.kpi import test_report as report_fixtures
from tests.central.kpi.test_chained_days import assert_same_table

R = TypeVar("R", ScaleRecord, CardRecord, MeterRecord)
H = 3_600_000
TZ = ZoneInfo("Asia/Shanghai")
FIRST = date(2026, 3, 2)
DAYS = 12
START_MS = utc_ms(2026, 3, 1, 16)  # FIRST 00:00 in Shanghai
NOW_MS = START_MS + 40 * 24 * H

SITE = Site(
    id="s1",
    name="One",
    timezone=TZ,
    registered_staff=40,
    services=(
        Service("lunch", time(11, 0), time(13, 0)),
        Service("dinner", time(17, 0), time(19, 0)),
    ),
    floor_area_m2=200.0,
    kpi=SiteKpiConfig(
        food_price_cny_per_kg=10.0,
        energy_quota_kgce_month=500.0,
        meters={
            "e1": MeterConfig("e1", interval_s=900),
            "g1": MeterConfig("g1", interval_s=900),
        },
        scales={"sc1": ScaleConfig("sc1"), "bin1": ScaleConfig("bin1", division_g=5.0)},
    ),
)


class Data:
    """Random readings of SITE, handed out in batches; one boot per device."""

    def __init__(self, seed: int, wrong_raw_clocks: bool = False) -> None:
        self.rng = random.Random(seed)
        self.wrong_raw_clocks = wrong_raw_clocks  # else the bin's readings are prompt or late
        self.seq: dict[str, int] = {}
        self.register = {"e1": 1000.0, "g1": 50.0}
        self.gross_g = 0.0  # raw bin bin1

    def _next(self, device: str) -> int:
        self.seq[device] = self.seq.get(device, -1) + 1
        return self.seq[device]

    def _record(self, kind: type[R], device: str, sent: int, received: int, **fields: Any) -> R:
        """A reading of `kind` from `device`'s one boot, with the device's next seq."""
        return kind(
            device=device,
            boot="b1",
            seq=self._next(device),
            device_time_ms=sent,
            received_ms=received,
            **fields,
        )

    def _received(self, t: int, wrong_clocks: bool = True) -> tuple[int, int]:
        """(device time, receive time): mostly prompt, some late, some wrong clocks."""
        roll = self.rng.random()
        if roll < 0.05 and wrong_clocks:
            return self.rng.choice([0, t + 5 * H, t - 3 * H]), t  # wrong device clock
        if roll < 0.15:
            return t, t + self.rng.randint(1, 80) * 60_000  # late (store-and-forward)
        return t, t + self.rng.randint(0, 2000)

    def food(self, day: int) -> list[Any]:
        out: list[Any] = []
        base = START_MS + day * 24 * H
        for _ in range(self.rng.randint(20, 60)):
            hour = self.rng.choice([11.5, 12.2, 17.4, 18.5, 23.8, 10.9])
            t = base + int((hour + self.rng.random() * 0.4) * H)
            sent, received = self._received(t)
            person = f"{self.rng.randint(0, 30):016x}"
            out.append(self._record(CardRecord, "card1", sent, received, person=person))
            sent, received = self._received(t + 60_000)
            stream = self.rng.choice(list(Stream))
            mass_g = self.rng.choice([0.0, 0.5, 120.0, 300.0, 90_000.0])
            out.append(
                self._record(ScaleRecord, "sc1", sent, received, stream=stream, mass_g=mass_g)
            )
        return out + self.raw_bin(day)

    def raw_bin(self, day: int) -> list[Any]:
        """Gross weights of a raw kitchen bin: deposits, unstable readings, emptyings, drift; no
        reading at all on about a third of the dates (the first step of the next date reading
        steps from the last stable reading before it, dates back)."""
        out: list[Any] = []
        if self.rng.random() < 0.35:
            return out
        base = START_MS + day * 24 * H
        for k in range(self.rng.randint(3, 12)):
            t = base + int((9 + k + self.rng.random() * 0.5) * H)
            roll = self.rng.random()
            if roll < 0.15:
                self.gross_g = self.rng.choice([0.0, 5.0, -5.0])  # emptied, maybe drifted
            elif roll < 0.3:
                sent, received = self._received(t - 30_000, self.wrong_raw_clocks)
                out.append(self._raw(sent, received, self.gross_g + 700.0, stable=False))
            else:
                self.gross_g += self.rng.choice([150.0, 400.0, 2.0, 1200.0])
            sent, received = self._received(t, self.wrong_raw_clocks)
            out.append(self._raw(sent, received, self.gross_g, stable=True))
        return out

    def _raw(self, sent: int, received: int, gross_g: float, stable: bool) -> ScaleRecord:
        fields = {"stream": Stream.PREP, "gross_g": gross_g, "stable": stable}
        return self._record(ScaleRecord, "bin1", sent, received, **fields)

    def meters(self, day: int, dirty: bool) -> list[Any]:
        """A day of readings every 900 s; some missing stretches, maybe a reset or a bad clock."""
        out: list[Any] = []
        base = START_MS + day * 24 * H
        gap_from = self.rng.randint(0, 95) if self.rng.random() < 0.4 else 999
        gap_len = self.rng.randint(4, 30)
        for device, quantity in (("e1", Quantity.ELECTRICITY), ("g1", Quantity.GAS)):
            for k in range(96):
                if gap_from <= k < gap_from + gap_len and device == "e1":
                    continue
                self.register[device] += self.rng.random() * (5.0 if device == "e1" else 0.3)
                value = self.register[device]
                if dirty and k in (40, 95) and device == "e1":
                    # resets, the second at 23:45: the walk carries it over midnight
                    value = 1.0
                    self.register[device] = 1.0
                t = base + k * 900_000
                sent, received = t, t + self.rng.randint(0, 3000)
                if dirty and k == 50 and device == "g1":
                    sent = 0  # a wrong meter clock
                fields = {"quantity": quantity, "total": round(value, 3)}
                out.append(self._record(MeterRecord, device, sent, received, **fields))
        return out


# SITE with a service whose windows cross midnight: a supper's plate waste and overproduction
# until 00:30 (grace); Data's readings at 23:48-00:12 fall into them. A breakfast right after
# midnight, too (the next date's load starts before midnight: its windows less METER_MARGIN_MS).
NIGHT = replace(
    SITE,
    services=(
        Service("breakfast", time(0, 30), time(2, 0), prep_lead_min=60),
        Service("lunch", time(11, 0), time(13, 0)),
        Service("supper", time(21, 0), time(23, 30), grace_min=60),
    ),
)


def batch(
    readings: list[Any],
    n: int,
    dropped: tuple[DroppedDuplicate, ...] = (),
    config: Site | None = SITE,
) -> BatchToStore:
    """An upload of SITE (as ingest stores it: with the site's configuration, `config`)."""
    return BatchToStore(
        site=SITE.id,
        edge="edge1",
        batch_id=f"b{n}",
        received_ms=NOW_MS,
        readings=readings,
        timezone=TZ,
        edge_duplicates=dropped,
        config=config,
    )


def close(a: Any, b: Any, where: str) -> None:
    """Recursive equality; floats up to rounding (sums are taken in another order)."""
    if is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in fields(a):
            close(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict) or hasattr(a, "items"):
        assert set(a) == set(b), where
        for k in a:
            close(a[k], b[k], f"{where}[{k}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(
            a, b, rel_tol=1e-9, abs_tol=1e-6
        ), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


WHOLE = DateRange(FIRST, FIRST + timedelta(days=DAYS - 1))
SPANS = [
    DateRange(FIRST + timedelta(days=3), FIRST + timedelta(days=3)),
    WHOLE,
    DateRange(FIRST + timedelta(days=2), FIRST + timedelta(days=8)),
]


class CountingStore(SqliteStore):
    """The real store, counting the dates whose readings are loaded to build rollups, and the
    one-load reads of readings (load_readings)."""

    built_dates = 0
    loads = 0

    async def load_day_inputs(self, site: str, days: Any, *a: Any, **kw: Any) -> list[DayInputs]:
        self.built_dates += len(days)
        return await super().load_day_inputs(site, days, *a, **kw)

    async def load_readings(self, *a: Any, **kw: Any) -> Any:
        self.loads += 1
        return await super().load_readings(*a, **kw)


def assert_same_kpis(got: DayTable, whole: DayTable, lo: int) -> None:
    """Every KPI of `got` (a span of `whole`'s dates from index `lo`), per service and for the
    day, equals the one of the same dates of `whole`."""
    n = got.span.days
    for service in (None, *range(len(got.services))):
        want_totals = site_totals(whole, lo, lo + n, service)
        mine_totals = site_totals(got, 0, n, service)
        want, mine = derive(want_totals), derive(mine_totals)
        close(
            {k: (v.value, v.reason) for k, v in mine.items()},
            {k: (v.value, v.reason) for k, v in want.items()},
            f"{got.span} service {service}",
        )
        where = f"{got.span} service {service}"
        mine_q, want_q = quality(mine_totals), quality(want_totals)
        close(mine_q, want_q, f"{where} quality")
        # Q3 from the same per-date histograms (central.kpi.quantiles): equal, not only close
        skew = ("clock_skew_median_ms", "clock_skew_p95_abs_ms")
        assert [getattr(mine_q, k) for k in skew] == [getattr(want_q, k) for k in skew], where
        mine_d = {d.device: d for d in device_figures(mine_totals)}
        for d in device_figures(want_totals):
            assert [getattr(mine_d[d.device], k) for k in skew] == [getattr(d, k) for k in skew]


async def check_composed(store: SqliteStore, site: Site = SITE) -> DayTable:
    """Every span composed of rollups equals the one-go table of every date; returns it."""
    whole = await reporting.fresh_site_table(store, site, WHOLE)
    for span in SPANS:
        table = await reporting.site_table(store, site, span)
        assert_same_kpis(table, whole, (span.first - FIRST).days)
        if span == WHOLE:
            assert_same_table(table, whole)
    return whole


@pytest.mark.parametrize(("seed", "dirty"), [(1, False), (2, False), (3, True)])
async def test_composed_rollups_equal_the_one_go_table_as_late_data_arrives(
    tmp_path: Path, seed: int, dirty: bool
) -> None:
    data = Data(seed, wrong_raw_clocks=dirty)
    held_back: list[Any] = []
    path = tmp_path / "central.sqlite"
    n = 0
    async with CountingStore(path) as store:
        for day in range(DAYS):
            readings = data.food(day) + data.meters(day, dirty and day in (5, 6))
            data.rng.shuffle(readings)
            keep = [r for r in readings if data.rng.random() > 0.2]
            held_back += [r for r in readings if r not in keep]
            n += 1
            await store.write_batch(batch(keep, n))
        before = await check_composed(store)
        assert (await store.pending_rollups(SITE.id, WHOLE.last)).count == 0  # stored on read
        built = store.built_dates
        await check_composed(store)
        assert store.built_dates == built  # the second time, every date is a stored rollup

        # late data of past dates (fills meter gaps, adds diners and waste) and resends
        resent = data.rng.sample(held_back, len(held_back) // 3)
        n += 1
        await store.write_batch(batch(held_back, n))
        assert (await store.pending_rollups(SITE.id, WHOLE.last)).count > 0
        n += 1
        dropped = (DroppedDuplicate(id=1, device="sc1", device_time_ms=START_MS + 4 * 24 * H),)
        outcome = await store.write_batch(batch(resent, n, dropped))
        assert outcome.duplicates == len(resent)
        after = await check_composed(store)
        assert after.day_waste_g["plate"].sum() != before.day_waste_g["plate"].sum()

    async with CountingStore(path) as store:  # a restart keeps the rollups, and they stay right
        await check_composed(store)
        assert store.built_dates == 0
        # another configuration: every rollup of the site is rebuilt for it
        changed = replace(SITE, clean_plate_threshold_g=200.0, registered_staff=41)
        assert config_key(changed) != config_key(SITE)
        await reporting.site_table(store, changed, SPANS[0])  # finds the old key: all pending
        assert (await store.pending_rollups(SITE.id, WHOLE.last)).count >= DAYS
        done = await RollupMaintainer(store, [changed], 0.0, 60.0).pass_once()
        assert done.built >= DAYS
        assert (await store.pending_rollups(SITE.id, WHOLE.last)).count == 0
        await check_composed(store, changed)


async def test_rollups_chain_meter_states_over_midnight(tmp_path: Path) -> None:
    """Each stored rollup starts where the previous date's ends: a meter reset, a wrong meter
    clock and gaps are carried by the chain, and the composed days equal the one-go table."""
    data = Data(7)
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        for day in range(4):
            await store.write_batch(batch(data.meters(day, dirty=day == 1), day))
        span = DateRange(FIRST, FIRST + timedelta(days=3))
        table = await reporting.site_table(store, SITE, span)
        assert_same_table(table, await reporting.fresh_site_table(store, SITE, span))
        before, rows = await store.load_rollups(
            SITE.id, config_key(SITE), span.first, span.last, FIRST
        )
        assert before is not None  # the date before: touched by the first readings, empty
        assert before.ends == rows[0].starts == EMPTY_CHAIN
        for previous, row in itertools.pairwise(rows):
            assert row.starts == previous.ends
        assert set(parse_chain(rows[-1].ends).meters) == {"e1", "g1"}


async def test_a_breakfast_prepared_before_midnight_gets_its_evening_energy(
    tmp_path: Path,
) -> None:
    """NIGHT's breakfast (00:30-02:00, 60 minutes of preparation) draws energy from 23:30 the
    evening before. An electricity meter read every 15 minutes runs at 8 kW from 23:30 to
    midnight and at 4 kW otherwise: the breakfast's energy is 0.5 h x 8 + 2 h x 4 = 12 kWh
    and its peak 8 kW, from rollups (the evening comes with the previous date's chain) and from
    one load of that date alone; a late reading of the evening raises the peak to 12 kW."""
    data = Data(11)
    second = FIRST + timedelta(days=1)
    evening = START_MS + 23 * H + H // 2  # 23:30 on FIRST

    def register(t: int) -> float:
        hours = (t - START_MS) / H
        return 4.0 * hours + 4.0 * max(0.0, min(t, evening + H // 2) - evening) / H

    def reading(t: int, above_kwh: float = 0.0) -> MeterRecord:
        fields = {"quantity": Quantity.ELECTRICITY, "total": register(t) + above_kwh}
        record: MeterRecord = data._record(MeterRecord, "e1", t, t + 1000, **fields)
        return record

    times = [START_MS + k * 900_000 for k in range(3 * 96)]
    late = START_MS + 23 * H + 3 * H // 4  # 23:45 on FIRST arrives late
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        await store.write_batch(batch([reading(t) for t in times if t != late], 0, config=NIGHT))
        for expected_kwh in (12.0, 12.0):  # built on read, then the stored rollups
            span = DateRange(second, second)
            for table in (
                await reporting.site_table(store, NIGHT, span),
                await reporting.fresh_site_table(store, NIGHT, span),
            ):
                electricity = table.energy["electricity"]
                assert float(electricity.service_used[0, 0]) == pytest.approx(expected_kwh)
                assert float(table.service_peak_kw[0, 0]) == pytest.approx(8.0)
                assert float(electricity.day_used[0]) == pytest.approx(96.0)
        first = await reporting.site_table(store, NIGHT, DateRange(FIRST, FIRST))
        assert float(first.energy["electricity"].day_used[0]) == pytest.approx(98.0)
        # the late 23:45 reading, 1 kWh above the line: 12 kW from 23:30, 4 kW from 23:45
        await store.write_batch(batch([reading(late, above_kwh=1.0)], 1, config=NIGHT))
        for span in (DateRange(second, second), DateRange(FIRST, second)):
            composed = await reporting.site_table(store, NIGHT, span)
            assert_same_table(composed, await reporting.fresh_site_table(store, NIGHT, span))
        table = await reporting.site_table(store, NIGHT, DateRange(second, second))
        assert float(table.energy["electricity"].service_used[0, 0]) == pytest.approx(12.0)
        assert float(table.service_peak_kw[0, 0]) == pytest.approx(12.0)


async def test_a_meter_silent_from_the_evening_on_passes_the_breakfast_its_evening(
    tmp_path: Path,
) -> None:
    """The only electricity meter reads for the last time at 23:45, at 8 kW since 23:30: the
    next date has no curve of its own (flat in a span), yet NIGHT's breakfast keeps the 2 kWh and
    the 8 kW peak of its preparation's evening, as in one load of the span."""
    data = Data(12)
    times = [START_MS + k * 900_000 for k in range(96)]

    def reading(t: int) -> MeterRecord:
        kwh = 4.0 * (t - START_MS) / H + 4.0 * max(0, t - (START_MS + 23 * H + H // 2)) / H
        fields = {"quantity": Quantity.ELECTRICITY, "total": kwh}
        record: MeterRecord = data._record(MeterRecord, "e1", t, t + 1000, **fields)
        return record

    span = DateRange(FIRST, FIRST + timedelta(days=1))
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        await store.write_batch(batch([reading(t) for t in times], 0, config=NIGHT))
        composed = await reporting.site_table(store, NIGHT, span)
        assert_same_table(composed, await reporting.fresh_site_table(store, NIGHT, span))
        assert float(composed.energy["electricity"].service_used[1, 0]) == pytest.approx(2.0)
        assert float(composed.service_peak_kw[1, 0]) == pytest.approx(8.0)


async def test_a_meter_reading_marks_the_dates_back_to_its_previous_reading(
    tmp_path: Path,
) -> None:
    """A live meter reading marks its own date alone; a late one in a gap across midnight (2 kWh
    above the line the other readings lie on) also marks the date before, whose register at
    midnight it changes though that date's load (its windows and METER_MARGIN_MS) does not hold
    it: that date interpolates up to the meter's next reading after it, however far."""
    data = Data(13)
    day2 = FIRST + timedelta(days=1)

    def reading(t: int, above_kwh: float = 0.0) -> MeterRecord:
        total = 4.0 * (t - START_MS) / H + above_kwh
        fields = {"quantity": Quantity.ELECTRICITY, "total": total}
        return data._record(MeterRecord, "e1", t, t + 1000, **fields)

    evening = [START_MS + k * 900_000 for k in range(89)]  # FIRST until 22:00
    late_ms = START_MS + 27 * H  # 03:00 on day2, after the gap
    morning = [START_MS + 29 * H + k * 900_000 for k in range(20)]  # day2 from 05:00
    records = {
        t: reading(t, 2.0 if t == late_ms else 0.0) for t in sorted([*evening, late_ms, *morning])
    }
    span = DateRange(FIRST, day2)
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        await store.write_batch(batch([records[t] for t in evening + morning], 0))
        await reporting.site_table(store, SITE, WHOLE)  # rolled up without the 03:00 reading
        assert (await store.pending_rollups(SITE.id, WHOLE.last)).count == 0
        await store.write_batch(batch([records[late_ms]], 1))
        pending = await store.pending_rollups(SITE.id, WHOLE.last)
        assert (pending.first, pending.last) == (FIRST, day2)
        composed = await reporting.site_table(store, SITE, span)
        assert_same_table(composed, await reporting.fresh_site_table(store, SITE, span))
        # a live reading, 15 minutes after the last stored one: its own date alone
        await reporting.site_table(store, SITE, WHOLE)
        last = morning[-1] + 900_000
        await store.write_batch(batch([reading(last)], 2))
        pending = await store.pending_rollups(SITE.id, WHOLE.last)
        assert (pending.count, pending.first, pending.last) == (1, day2, day2)


def test_reach_of_a_reading_covers_every_load_that_can_see_it() -> None:
    """The store's pending marks against the KPI loads: a date's load window and the meter
    look-around must lie within the reach the store marks."""
    for offset in range(0, 366, 7):
        on = date(2026, 1, 1) + timedelta(days=offset)
        window = load_range(SITE, DateRange(on, on))
        day = day_windows(SITE, on).day
        assert day.start_ms - window.start_ms <= READING_REACH_MS - 24 * H
        assert window.end_ms - day.end_ms <= READING_REACH_MS - 24 * H
    assert reporting.METER_LOOKAROUND_MS + METER_MARGIN_MS <= METER_REACH_MS - 24 * H
    assert RAW_SCALE_LOOKBACK_MS <= RAW_SCALE_REACH_MS - READING_REACH_MS


async def test_a_card_or_scale_reading_marks_the_dates_whose_load_holds_it(tmp_path: Path) -> None:
    """With the site's configuration, a write marks exactly the dates whose load (load_range)
    holds a card or scale reading's device or receive time: past midnight, in NIGHT's supper
    grace, the date and the one before; at midday, its date alone; a wrong clock, the dates of
    both times. Without the configuration, or for a meter: the conservative reach."""
    d3, d4 = FIRST + timedelta(days=3), FIRST + timedelta(days=4)
    midnight = START_MS + 4 * 24 * H  # d4 00:00 in Shanghai
    data = Data(5)

    def plate(t: int, received: int | None = None) -> ScaleRecord:
        r = t if received is None else received
        return data._record(ScaleRecord, "sc1", t, r, stream=Stream.PLATE, mass_g=120.0)

    def card_at(t: int) -> CardRecord:
        return data._record(CardRecord, "card1", t, t + 500, person="0000000000000001")

    def dates(*days: date) -> list[str]:
        return [d.isoformat() for d in days]

    past_midnight, midday = midnight + 5 * 60_000, midnight + 12 * H
    assert touched_dates(batch([plate(past_midnight)], 0, config=NIGHT)) == dates(d3, d4)
    assert touched_dates(batch([card_at(past_midnight)], 0, config=NIGHT)) == dates(d3, d4)
    assert touched_dates(batch([plate(midday)], 0, config=NIGHT)) == dates(d4)
    assert touched_dates(batch([card_at(midday)], 0, config=NIGHT)) == dates(d4)
    wrong_clock = plate(midday - 3 * 24 * H, received=midday)
    assert touched_dates(batch([wrong_clock], 0, config=NIGHT)) == dates(FIRST + timedelta(1), d4)
    # the reach where the configuration is not at hand (UTC days, +-2 days), and a meter's
    assert len(touched_dates(batch([plate(midday)], 0, config=None))) == 6
    reading = MeterRecord(device="e1", boot="b1", seq=1, device_time_ms=midday,
                          received_ms=midday, quantity=Quantity.ELECTRICITY, total=1.0)  # fmt: skip
    meter_dates = touched_dates(batch([reading], 0, config=NIGHT))
    assert meter_dates == touched_dates(batch([reading], 0, config=None))
    assert len(meter_dates) == 12  # METER_REACH_MS either side of its UTC day

    # the store marks them pending, in the write's transaction
    for n, (record, first, last) in enumerate(
        [(plate(past_midnight), d3, d4), (card_at(midday), d4, d4)]
    ):
        async with SqliteStore(tmp_path / f"{n}.sqlite") as store:
            await store.write_batch(batch([record], n, config=NIGHT))
            pending = await store.pending_rollups(SITE.id, WHOLE.last)
            assert (pending.count, pending.first, pending.last) == (
                (last - first).days + 1,
                first,
                last,
            )


async def test_a_raw_bin_silent_for_months_steps_from_its_last_reading(tmp_path: Path) -> None:
    """A bin that reads again after more than RAW_SCALE_LOOKBACK_MS: its rollup finds the
    reference however long ago (and the chain state carries it), so the step counts, as in the
    one-go table; a late reading before the silence changes the reference, and the far date's
    rollup becomes pending through the chain although no write reached it."""
    data = Data(11)
    later = RAW_SCALE_REACH_MS // (24 * H) + 10  # beyond the reach of a write, too
    span = DateRange(FIRST, FIRST + timedelta(days=later))
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        for n, day in enumerate((0, later)):
            t = START_MS + day * 24 * H + 10 * H
            data.gross_g += 500.0
            await store.write_batch(batch([data._raw(t, t + 10, data.gross_g, stable=True)], n))
        rolled = await reporting.site_table(store, SITE, span)
        fresh = await reporting.fresh_site_table(store, SITE, span)
        assert_same_kpis(rolled, fresh, 0)
        assert float(rolled.day_waste_g["prep"].sum()) == 500.0  # the step after the silence
        alone = await reporting.site_table(store, SITE, DateRange(span.last, span.last))
        assert float(alone.day_waste_g["prep"].sum()) == 500.0  # its reference, months back

        t = START_MS + 2 * 24 * H
        await store.write_batch(batch([data._raw(t, t + 10, 800.0, stable=True)], 9))
        pending = await store.pending_rollups(SITE.id, span.last)
        assert pending.last is not None
        assert pending.last < span.last - timedelta(days=5)  # the write did not reach it
        await RollupMaintainer(store, [SITE], 0.0, 60.0).pass_once()
        assert (await store.pending_rollups(SITE.id, span.last)).count == 0
        alone = await reporting.site_table(store, SITE, DateRange(span.last, span.last))
        assert float(alone.day_waste_g["prep"].sum()) == 200.0  # 1,000 g now steps from 800 g


def past_midnight(record: Any) -> bool:
    """Whether the device or receive time of `record` lies in the first 30 minutes of a date:
    where NIGHT's supper waste counts on the date before."""
    return any(
        (t - START_MS) % (24 * H) < H // 2 for t in (record.device_time_ms, record.received_ms)
    )


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dirty=st.booleans(),
    late_share=st.floats(0.0, 0.5),
    span=st.tuples(st.integers(0, DAYS - 1), st.integers(1, DAYS)),
    site=st.sampled_from([SITE, NIGHT]),
    few=st.booleans(),
)
async def test_any_period_of_rollups_equals_the_one_go_table_property(
    seed: int, dirty: bool, late_share: float, span: tuple[int, int], site: Site, few: bool
) -> None:
    """Random readings (wrong clocks, meter resets, gaps, raw bins) arrive in a random order,
    part of them late after a first read, resent too; every period composed of rollups (built on
    read, stored, then reused) equals the one-go table of every reading. Each write marks only
    the dates whose load holds its card and scale readings (the batch carries `site`), also
    where services cross midnight (NIGHT): a date a write did not mark keeps its stored rollup,
    which must still be right (`few`: a few late card and scale readings of the first half hour
    of a date, and a few resends: most dates unmarked)."""
    data = Data(seed, wrong_raw_clocks=dirty)
    rng = random.Random(seed)
    readings = [r for day in range(DAYS) for r in data.food(day) + data.meters(day, dirty)]
    rng.shuffle(readings)
    cut = int(len(readings) * (1 - late_share))
    resent = readings[: len(readings) // 10]
    if few:
        night = [r for r in readings if not isinstance(r, MeterRecord) and past_midnight(r)]
        late = rng.sample(night, 6)
        readings = [r for r in readings if r not in late] + late
        cut = len(readings) - rng.randint(1, len(late))
        resent = late[:2]  # the edge sends a batch again
    lo = span[0]
    period = DateRange(
        FIRST + timedelta(days=lo), FIRST + timedelta(days=min(DAYS, lo + span[1]) - 1)
    )
    with tempfile.TemporaryDirectory() as directory:
        async with SqliteStore(Path(directory) / "central.sqlite") as store:
            await store.write_batch(batch(readings[:cut], 0, config=site))
            await reporting.site_table(store, site, WHOLE)  # every date stored before late data
            await store.write_batch(batch(readings[cut:], 1, config=site))
            await store.write_batch(batch(resent, 2, config=site))
            if rng.random() < 0.5:  # rebuilt by the maintainer from the marks, else on read
                await RollupMaintainer(store, [site], 0.0, 60.0).pass_once()
                assert (await store.pending_rollups(site.id, WHOLE.last)).count == 0
            whole = await reporting.fresh_site_table(store, site, WHOLE)
            for _ in range(2):  # built on read, then composed of the stored rollups
                table = await reporting.site_table(store, site, period)
                assert_same_kpis(table, whole, lo)
            assert_same_table(await reporting.site_table(store, site, WHOLE), whole)  # per date


def test_an_entry_of_another_layout_is_refused_by_name_never_misread() -> None:
    """A sealed date keeps its entry for good: one this version cannot read is refused, naming
    both layouts (central.kpi.rollup, ENTRY_LAYOUT)."""
    on = report_fixtures.TWO_DAYS.first
    site = report_fixtures.SITE
    entry = encode(build_day_table(site, DateRange(on, on), report_fixtures.readings()))
    assert compose(site, DateRange(on, on), [entry]) is not None
    other = struct.pack("<i", ENTRY_LAYOUT + 1) + entry[4:]
    with pytest.raises(EntryLayoutError, match=f"layout {ENTRY_LAYOUT + 1}; this version"):
        compose(site, DateRange(on, on), [other])
    with pytest.raises(EntryLayoutError):
        entry_services(other)
