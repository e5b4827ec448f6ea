"""Dish sums are a rollup dimension: composed of per-date rollups, they equal the sums built in
one go from every reading, per date and per meal service.

Tagged kitchen weighings (menu items, unknown codes, every loss reason, untagged ones) arrive
late, resent, with wrong device clocks and around the service windows and midnight, beside the
random readings of tests/central/test_rollup.py (raw kitchen bins, meters, cards) in a real SQLite
store; a breakfast whose preparation starts the evening before puts a service window across
midnight. The dish sums of any span read from the rollups equal the one-go table, and add up to
the day table's waste per stream and per service (the one KPI pipeline).
"""

import random
import sqlite3
import tempfile
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central import reporting
from central.kpi.daytable import DayTable
from central.kpi.dishes import SERVICE_WINDOW_OF_STREAM, DishTable, build_dish_table
from central.kpi.periods import DateRange
from central.registry import Service, Site
from central.rollup_maintainer import RollupMaintainer
from central.store.sqlite import SqliteStore
from contract import LossReason, ScaleRecord, Stream
from tests.central import test_rollup
from tests.central.test_rollup import DAYS, FIRST, SITE, SPANS, START_MS, WHOLE, Data, batch, close

H = 3_600_000
ITEMS = ("", "rice", "hongshao-rou", "not-on-the-menu")
# a breakfast at 01:00-03:00 whose preparation starts at 22:00 the evening before
EARLY = replace(
    SITE,
    services=(Service("breakfast", time(1, 0), time(3, 0), prep_lead_min=180), *SITE.services),
)


class TaggedData(Data):
    """Data's readings plus a kitchen terminal's tagged weighings (net, every stream)."""

    def food(self, day: int) -> list[Any]:
        return super().food(day) + self.tagged(day)

    def tagged(self, day: int) -> list[Any]:
        out: list[Any] = []
        base = START_MS + day * 24 * H
        for _ in range(self.rng.randint(5, 25)):
            hour = self.rng.choice([0.2, 2.5, 9.5, 12.0, 13.8, 15.0, 16.5, 19.4, 22.5, 23.9])
            sent, received = self._received(base + int((hour + self.rng.random() * 0.3) * H))
            item = self.rng.choice(ITEMS)
            reason = self.rng.choice(["", *LossReason]) if item else ""
            fields = {
                "stream": self.rng.choice(list(Stream)),
                "mass_g": self.rng.choice([0.0, 250.0, 1200.0, 3500.0, 90_000.0]),
                "item": item or None,
                "reason": reason or None,
            }
            out.append(self._record(ScaleRecord, "terminal1", sent, received, **fields))
        return out


def sums(table: DishTable, lo: int, n: int) -> dict[tuple[Any, ...], tuple[float, int]]:
    """Every non-empty figure of `n` dates of `table` from index `lo`, by (date, scope, key)."""
    out: dict[tuple[Any, ...], tuple[float, int]] = {}
    for d in range(n):
        at = lo + d
        for k, key in enumerate(table.keys):
            if table.weighings[at, k]:
                out[d, "day", key] = (float(table.mass_g[at, k]), int(table.weighings[at, k]))
            for s, service in enumerate(table.services):
                count = int(table.service_weighings[at, s, k])
                if count:
                    out[d, service, key] = (float(table.service_mass_g[at, s, k]), count)
    return out


def assert_adds_up_to_the_day_table(dishes: DishTable, day: DayTable) -> None:
    """Over its keys, each stream's dish sums are the day table's waste of that stream, for the
    date and for each service."""
    for stream, waste in day.day_waste_g.items():
        mine = [k for k, key in enumerate(dishes.keys) if key.stream == stream]
        close(dishes.mass_g[:, mine].sum(axis=1).tolist(), waste.tolist(), f"day {stream}")
        if stream in SERVICE_WINDOW_OF_STREAM:
            got = dishes.service_mass_g[:, :, mine].sum(axis=2)
            close(got.tolist(), day.service_waste_g[stream].tolist(), f"services {stream}")


async def check_dishes(
    store: test_rollup.CountingStore, site: Site, spans: list[DateRange], rolled_up: bool
) -> DishTable:
    """Dish sums of every span read (from rollups when `rolled_up`: no load of readings) equal
    the one-go table; returns that."""
    whole = build_dish_table(site, WHOLE, await reporting.load_site_readings(store, site, WHOLE))
    assert_adds_up_to_the_day_table(whole, await reporting.fresh_site_table(store, site, WHOLE))
    for span in spans:
        store.loads = 0
        (table,) = await reporting.dish_tables(store, [site], span)
        if rolled_up:
            assert store.loads == 0, "read from the stored rollups, not from the readings"
        assert table.span == span
        lo = (span.first - FIRST).days
        close(sums(table, 0, span.days), sums(whole, lo, span.days), f"{site.id} {span}")
    return whole


async def roll_up(store: SqliteStore, site: Site) -> None:
    """What the maintainer does shortly after each upload: every pending date rolled up."""
    await RollupMaintainer(store, [site], 0.0, 60.0).pass_once()
    assert (await store.pending_rollups(site.id, WHOLE.last)).count == 0


@pytest.mark.parametrize(("site", "seed", "dirty"), [(SITE, 11, False), (EARLY, 12, True)])
async def test_dish_sums_of_rollups_equal_the_one_go_table_as_late_data_arrives(
    tmp_path: Path, site: Site, seed: int, dirty: bool
) -> None:
    data = TaggedData(seed, wrong_raw_clocks=dirty)
    held_back: list[Any] = []
    async with test_rollup.CountingStore(tmp_path / "central.sqlite") as store:
        for day in range(DAYS):
            readings = data.food(day) + data.meters(day, dirty and day == 5)
            data.rng.shuffle(readings)
            keep = [r for r in readings if data.rng.random() > 0.25]
            held_back += [r for r in readings if r not in keep]
            await store.write_batch(batch(keep, day))
        await check_dishes(store, site, SPANS, rolled_up=False)  # built on read, or one load
        await roll_up(store, site)
        before = await check_dishes(store, site, SPANS, rolled_up=True)

        # late data of past dates, then resends of some of it
        await store.write_batch(batch(held_back, DAYS))
        await store.write_batch(batch(data.rng.sample(held_back, len(held_back) // 3), DAYS + 1))
        await check_dishes(store, site, SPANS, rolled_up=False)
        await roll_up(store, site)
        after = await check_dishes(store, site, SPANS, rolled_up=True)
        assert after.mass_g.sum() != before.mass_g.sum()
        unknown = [k for k in after.keys if k.item == "not-on-the-menu"]
        assert unknown  # kept, as every other code
        if site is EARLY:  # the evening before's preparation is the next date's breakfast
            assert after.service_weighings[:, 0, :].sum() > 0


async def test_rollups_of_an_older_central_gain_their_dish_sums(tmp_path: Path) -> None:
    """A database whose rollups have no dish column (an older central's) gets the column, and
    its rollups (of another code version) are rebuilt with their dish sums."""
    path = tmp_path / "central.sqlite"
    data = TaggedData(5)
    async with test_rollup.CountingStore(path) as store:
        for day in range(DAYS):
            await store.write_batch(batch(data.food(day), day))
        await roll_up(store, SITE)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE kpi_rollup DROP COLUMN dishes")
        db.execute("UPDATE kpi_rollup SET config = 'an older code version'")
        db.execute("UPDATE kpi_rollup_config SET config = 'an older code version'")
    async with test_rollup.CountingStore(path) as store:
        await check_dishes(store, SITE, SPANS, rolled_up=False)  # one load meanwhile
        await roll_up(store, SITE)
        await check_dishes(store, SITE, SPANS, rolled_up=True)


@settings(max_examples=5, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    late_share=st.floats(0.0, 0.5),
    span=st.tuples(st.integers(0, DAYS - 1), st.integers(1, DAYS)),
)
async def test_any_period_of_dish_rollups_equals_the_one_go_table_property(
    seed: int, late_share: float, span: tuple[int, int]
) -> None:
    data = TaggedData(seed, wrong_raw_clocks=True)
    rng = random.Random(seed)
    readings = [r for day in range(DAYS) for r in data.food(day)]
    rng.shuffle(readings)
    cut = int(len(readings) * (1 - late_share))
    lo = span[0]
    period = DateRange(
        FIRST + timedelta(days=lo), FIRST + timedelta(days=min(DAYS, lo + span[1]) - 1)
    )
    with tempfile.TemporaryDirectory() as directory:
        async with test_rollup.CountingStore(Path(directory) / "central.sqlite") as store:
            await store.write_batch(batch(readings[:cut], 0))
            await roll_up(store, EARLY)  # rollups before the late data
            await store.write_batch(batch(readings[cut:], 1))
            await store.write_batch(batch(readings[: len(readings) // 10], 2))  # resends
            await check_dishes(store, EARLY, [period], rolled_up=False)  # built on read
            await roll_up(store, EARLY)
            await check_dishes(store, EARLY, [period], rolled_up=True)
