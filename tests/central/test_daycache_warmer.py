"""The day-cache warmer builds every written past date ahead of the reports, and only those.

Real SQLite stores in tmp_path; the randomised site of the day-cache tests; central in process
with a short warm interval for the lifespan test.
"""

import asyncio
import hashlib
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from central import reporting
from central.app import create_app
from central.daycache_warmer import warm_once, warm_site
from central.kpi.daycache import config_key
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.registry import load_registry
from central.settings import CentralSettings
from central.store.sqlite import SqliteStore
from tests.central.conftest import KEY_S1, EdgeAuth, batch, card, in_process, scale
from tests.central.test_daycache import DAYS, FIRST, NOW_MS, SITE, Data
from tests.central.test_daycache import batch as store_batch

SPAN = DateRange(FIRST, FIRST + timedelta(days=DAYS - 1))


class CountingStore(SqliteStore):
    """The real store, counting the dates whose readings are loaded to build entries."""

    built_dates = 0

    async def load_day_inputs(self, site: str, days: Any, *args: Any, **kwargs: Any) -> Any:
        self.built_dates += len(days)
        return await super().load_day_inputs(site, days, *args, **kwargs)


async def test_a_pass_builds_the_written_dates_and_reports_then_build_nothing(
    tmp_path: Path,
) -> None:
    data = Data(31)
    async with CountingStore(tmp_path / "central.sqlite") as store:
        for day in range(DAYS):
            await store.write_batch(store_batch(data.food(day) + data.meters(day, day == 3), day))
        key = config_key(SITE)
        wide = (FIRST - timedelta(days=30), FIRST + timedelta(days=60))
        stale = await store.stale_day_entries(SITE.id, key, *wide)
        # every date with readings, and the neighbours their meter readings reach
        assert set(SPAN.dates()) <= set(stale)
        assert await warm_site(store, SITE, *wide) == len(stale)
        assert store.built_dates == len(stale)
        assert await store.stale_day_entries(SITE.id, key, *wide) == []

        # the reports compose the warm entries: nothing is built, and the figures are the
        # fresh build's
        before = store.built_dates
        cached = await reporting.report(
            store, [SITE], PeriodKind.CUSTOM, SPAN, Granularity.DAY, NOW_MS
        )
        assert store.built_dates == before
        table = await reporting.fresh_site_table(store, SITE, SPAN)
        assert (
            reporting.build_report(
                [table], {SITE.id: None}, PeriodKind.CUSTOM, SPAN, Granularity.DAY, NOW_MS
            ).total.kpis
            == cached.total.kpis
        )

        # late data makes its dates stale again, and only those are built by the next pass
        await store.write_batch(store_batch(data.food(4), DAYS + 1))
        again = await store.stale_day_entries(SITE.id, key, *wide)
        assert FIRST + timedelta(days=4) in again
        assert len(again) < len(stale)
        assert await warm_site(store, SITE, *wide) == len(again)

        # another configuration of the site: every date is stale for it
        moved = replace(SITE, registered_staff=SITE.registered_staff + 1)
        assert set(await store.stale_day_entries(moved.id, config_key(moved), *wide)) == set(stale)


async def test_warm_once_covers_the_last_days_before_today_only(tmp_path: Path) -> None:
    data = Data(32)
    async with CountingStore(tmp_path / "central.sqlite") as store:
        for day in range(DAYS):
            await store.write_batch(store_batch(data.food(day), day))
        # "today" is FIRST + 5: dates from FIRST + 5 on are left to the reports
        done = await warm_once(store, [SITE], days=3, today_of=lambda _: FIRST + timedelta(5))
        assert done.sites == 1
        stale = await store.stale_day_entries(SITE.id, config_key(SITE), FIRST, SPAN.last)
        built = {FIRST + timedelta(d) for d in (2, 3, 4)}
        assert done.built == store.built_dates == len(built)
        assert not built & set(stale)
        assert set(SPAN.dates()) - built <= set(stale)


REGISTRY = f"""
[[sites]]
id = "s1"
registered_staff = 60

[[edges]]
id = "edge-s1"
site = "s1"
key_sha256 = "{hashlib.sha256(KEY_S1.encode()).hexdigest()}"
"""


async def test_central_warms_the_dates_an_edge_uploads(tmp_path: Path) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY, encoding="utf-8")
    settings = CentralSettings(
        registry_path=registry,
        sqlite_path=tmp_path / "central.sqlite3",
        daycache_warm_interval_s=0.2,
    )
    site = load_registry(registry).site("s1")
    assert site is not None
    async with in_process(create_app(settings)) as http:
        yesterday = datetime.now(tz=site.timezone).date() - timedelta(days=1)
        noon = datetime(yesterday.year, yesterday.month, yesterday.day, 12, tzinfo=site.timezone)
        noon_ms = int(noon.timestamp() * 1000)
        readings = [card(0, noon_ms, 1), scale(0, noon_ms + 60_000, "plate", 80.0)]
        response = await http.post(
            "/api/v1/ingest", json=batch(readings, batch_id="w1"), auth=EdgeAuth(KEY_S1)
        )
        assert response.status_code == 200, response.text
        async with SqliteStore(settings.sqlite_path) as store:
            assert await wait_until_warm(store, site.id, config_key(site), yesterday)


async def wait_until_warm(store: SqliteStore, site: str, key: str, on: date) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        entries = await store.load_day_entries(site, key, on, on)
        if entries.get(on.isoformat(), (0, None))[1] is not None:
            return True
        await asyncio.sleep(0.05)
    return False
