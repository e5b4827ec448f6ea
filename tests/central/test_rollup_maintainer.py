"""The rollup maintainer rolls up every written date off the request path, and converges.

Real SQLite stores in tmp_path; the randomised site of the rollup tests; central in process with
a short debounce for the lifespan tests (which wait on the store's state, not on time).
"""

import asyncio
import itertools
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from central import reporting
from central.app import create_app
from central.kpi.periods import Granularity, PeriodKind
from central.kpi.report import build_report
from central.kpi.rollup import config_key
from central.registry import load_registry
from central.rollup_maintainer import RollupMaintainer
from central.settings import CentralSettings
from central.store.sqlite import SqliteStore
from tests.central.conftest import (
    KEY_S1,
    EdgeAuth,
    admin,
    batch,
    card,
    edge_toml,
    in_process,
    meter,
    scale,
)
from tests.central.test_rollup import DAYS, FIRST, NOW_MS, SITE, WHOLE, CountingStore, Data, close
from tests.central.test_rollup import batch as store_batch


async def one_go_kpis(store: SqliteStore) -> Any:
    table = await reporting.fresh_site_table(store, SITE, WHOLE)
    return build_report(
        [table], {SITE.id: None}, PeriodKind.CUSTOM, WHOLE, Granularity.DAY, NOW_MS
    ).total.kpis


def same_kpis(got: Any, want: Any) -> None:
    """Equal KPIs, up to float rounding (sums are taken in another order)."""
    close(
        {k: (v.value, v.reason) for k, v in got.items()},
        {k: (v.value, v.reason) for k, v in want.items()},
        "kpis",
    )


async def test_a_pass_rolls_up_every_written_date_and_reads_then_build_nothing(
    tmp_path: Path,
) -> None:
    data = Data(31)
    async with CountingStore(tmp_path / "central.sqlite") as store:
        for day in range(DAYS):
            await store.write_batch(store_batch(data.food(day) + data.meters(day, day == 3), day))
        pending = await store.pending_rollups(SITE.id, date(2100, 1, 1))
        assert pending.count >= DAYS  # every date with readings, and the neighbours they reach
        maintainer = RollupMaintainer(store, [SITE], 0.0, 60.0)
        done = await maintainer.pass_once()
        assert done.built == done.stored == store.built_dates >= pending.count
        assert (await store.pending_rollups(SITE.id, date(2100, 1, 1))).count == 0
        assert maintainer.rollup_lag_s() == 0.0

        # the reports compose the stored rollups: nothing is built, nothing was pending, and
        # the figures are the one-go table's
        before = store.built_dates
        rolled = await reporting.report(
            store, [SITE], PeriodKind.CUSTOM, WHOLE, Granularity.DAY, NOW_MS
        )
        assert store.built_dates == before
        assert rolled.rollups is not None
        assert rolled.rollups.pending_dates == 0
        same_kpis(rolled.total.kpis, await one_go_kpis(store))

        # late data makes its dates pending again, and only those (and what the chain moves)
        # are built by the next pass
        await store.write_batch(store_batch(data.food(4), DAYS + 1))
        again = await store.pending_rollups(SITE.id, date(2100, 1, 1))
        assert again.first is not None
        assert again.first <= FIRST + timedelta(days=4)
        assert 0 < again.count < pending.count
        done = await maintainer.pass_once()
        assert done.built == again.count  # food only: no meter state moved, no cascade


async def test_a_late_meter_reading_cascades_until_the_chain_converges(tmp_path: Path) -> None:
    """The meters are silent from date 3 to date 10 (longer than the store's reach of a meter
    reading). The last reading of date 2 arrives late: it moves where the walk stands at the
    end of date 2, so the silent dates carry another state, and those beyond the write's reach
    become pending through the chain; the maintainer converges on the one-go table."""
    data = Data(33)
    metered = (0, 1, 2, 11)
    meters = {day: data.meters(day, dirty=False) for day in metered}
    late = max((r for r in meters[2] if r.device == "e1"), key=lambda r: r.device_time_ms)
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        for day in range(DAYS):
            kept = [r for r in meters.get(day, []) if r is not late]
            await store.write_batch(store_batch(data.food(day) + kept, day))
        maintainer = RollupMaintainer(store, [SITE], 0.0, 60.0)
        await maintainer.settle_all()
        assert (await store.pending_rollups(SITE.id, date(2100, 1, 1))).count == 0
        _, rows = await store.load_rollups(SITE.id, config_key(SITE), FIRST, WHOLE.last, FIRST)
        ends_before = {r.on: r.ends for r in rows}

        await store.write_batch(store_batch([late], DAYS + 1))
        maintainer.poke()
        pending = await store.pending_rollups(SITE.id, date(2100, 1, 1))
        assert pending.last is not None
        assert pending.last < FIRST + timedelta(days=10)  # the write's own reach
        await maintainer.settle_all()
        assert (await store.pending_rollups(SITE.id, date(2100, 1, 1))).count == 0
        assert maintainer.rollup_lag_s() == 0.0
        _, rows = await store.load_rollups(SITE.id, config_key(SITE), FIRST, WHOLE.last, FIRST)
        moved = {(r.on - FIRST).days for r in rows if r.ends != ends_before[r.on]}
        assert set(range(2, 11)) <= moved  # date 2 and every silent date carrying its state
        for previous, row in itertools.pairwise(rows):
            assert row.starts == previous.ends  # the chain holds everywhere
        rolled = await reporting.report(
            store, [SITE], PeriodKind.CUSTOM, WHOLE, Granularity.DAY, NOW_MS
        )
        same_kpis(rolled.total.kpis, await one_go_kpis(store))


async def test_two_maintainers_on_one_database_converge(tmp_path: Path) -> None:
    """Two replicas (two stores on one SQLite file) rolling up the same dates at once: each
    rollup is stored once per generation and the chain holds; both read the one-go figures."""
    data = Data(34)
    path = tmp_path / "central.sqlite"
    async with SqliteStore(path) as one, SqliteStore(path) as two:
        for day in range(DAYS):
            await one.write_batch(store_batch(data.food(day) + data.meters(day, day == 5), day))
        await asyncio.gather(
            RollupMaintainer(one, [SITE], 0.0, 60.0).settle_all(),
            RollupMaintainer(two, [SITE], 0.0, 60.0).settle_all(),
        )
        assert (await two.pending_rollups(SITE.id, date(2100, 1, 1))).count == 0
        _, rows = await two.load_rollups(SITE.id, config_key(SITE), FIRST, WHOLE.last, FIRST)
        for previous, row in itertools.pairwise(rows):
            assert row.starts == previous.ends
        want = await one_go_kpis(one)
        for store in (one, two):
            rolled = await reporting.report(
                store, [SITE], PeriodKind.CUSTOM, WHOLE, Granularity.DAY, NOW_MS
            )
            same_kpis(rolled.total.kpis, want)


REGISTRY = f"""
[[sites]]
id = "s1"
registered_staff = 60
{edge_toml("s1")}"""


def settings_of(tmp_path: Path, debounce_s: float) -> CentralSettings:
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY, encoding="utf-8")
    return CentralSettings(
        registry_path=registry,
        sqlite_path=tmp_path / "central.sqlite3",
        rollup_debounce_s=debounce_s,
    )


def yesterday_noon_ms(settings: CentralSettings) -> tuple[date, int]:
    site = load_registry(settings.registry_path).site("s1")
    assert site is not None
    yesterday = datetime.now(tz=site.timezone).date() - timedelta(days=1)
    noon = datetime(yesterday.year, yesterday.month, yesterday.day, 12, tzinfo=site.timezone)
    return yesterday, int(noon.timestamp() * 1000)


async def test_central_rolls_up_the_dates_an_edge_uploads(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, debounce_s=0.05)
    yesterday, noon_ms = yesterday_noon_ms(settings)
    async with in_process(create_app(settings)) as http:
        readings = [card(0, noon_ms, 1), scale(0, noon_ms + 60_000, "plate", 80.0)]
        response = await http.post(
            "/api/v1/ingest", json=batch(readings, batch_id="w1"), auth=EdgeAuth(KEY_S1)
        )
        assert response.status_code == 200, response.text
        async with SqliteStore(settings.sqlite_path) as store:
            assert await wait_until_rolled_up(store, "s1", yesterday)


async def test_an_upload_of_noon_readings_marks_their_date_alone(tmp_path: Path) -> None:
    """Ingest hands the store the site's configuration: a card and a scale reading at noon mark
    yesterday alone (the dates whose load holds them), not the two dates either side."""
    settings = settings_of(tmp_path, debounce_s=60.0)
    yesterday, noon_ms = yesterday_noon_ms(settings)
    async with in_process(create_app(settings)) as http:
        await maintainer_has_looked(http, admin())  # and waits 60 s after the upload
        readings = [card(0, noon_ms, 1), scale(0, noon_ms + 60_000, "plate", 80.0)]
        response = await http.post(
            "/api/v1/ingest", json=batch(readings, batch_id="n1"), auth=EdgeAuth(KEY_S1)
        )
        assert response.status_code == 200, response.text
        async with SqliteStore(settings.sqlite_path) as store:
            pending = await store.pending_rollups("s1", date(2100, 1, 1))
    assert (pending.count, pending.first, pending.last) == (1, yesterday, yesterday)


async def maintainer_has_looked(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Wait for the maintainer's first pass at start (the rollup lag gauge is NaN before it), so
    that it cannot roll up a test's first upload before the test reads it as pending."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = (await http.get("/metrics", headers=headers)).text
        lag = [x for x in text.splitlines() if x.startswith("canteen_central_rollup_lag_seconds ")]
        if lag and "nan" not in lag[0].lower():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the rollup maintainer made no first pass within 20 s")


async def test_answers_say_how_fresh_the_rollups_were(settings: CentralSettings) -> None:
    """With the maintainer held back (a long debounce), an answer right after an upload finds
    the dates pending, builds them on read (the figures are right all the same) and says so;
    the next answer finds them rolled up."""
    settings = settings.model_copy(update={"rollup_debounce_s": 3600.0})
    yesterday, noon_ms = yesterday_noon_ms(settings)
    auth_headers = admin()
    query = {"site": "s1", "period": "day", "date": yesterday.isoformat()}
    async with in_process(create_app(settings)) as http:
        await maintainer_has_looked(http, auth_headers)
        readings = [
            card(0, noon_ms, 1),
            scale(0, noon_ms + 60_000, "plate", 80.0),
            meter(0, noon_ms, "electricity", 100.0, "m-1"),
        ]
        response = await http.post(
            "/api/v1/ingest", json=batch(readings, batch_id="f1"), auth=EdgeAuth(KEY_S1)
        )
        assert response.status_code == 200, response.text
        first = (await http.get("/api/v1/kpis", params=query, headers=auth_headers)).json()
        assert first["rollups"]["pending_dates"] > 0
        assert first["rollups"]["oldest_pending_s"] >= 0
        assert first["total"]["kpis"]["diners"]["value"] == 1
        again = (await http.get("/api/v1/kpis", params=query, headers=auth_headers)).json()
        assert again["rollups"] == {"pending_dates": 0, "oldest_pending_s": 0.0}
        assert again["total"] == first["total"]
        daily = await http.get(
            "/api/v1/sites/s1/kpis/daily",
            params={"date": yesterday.isoformat()},
            headers=auth_headers,
        )
        assert daily.json()["rollups"] == {"pending_dates": 0, "oldest_pending_s": 0.0}


async def test_alerts_and_their_history_say_how_fresh_the_rollups_were(
    settings: CentralSettings,
) -> None:
    """/alerts and /alerts/history read the quota, waste and off-hours figures from rollups and
    say how fresh they were, as /kpis does: pending right after an upload, then rolled up."""
    settings = settings.model_copy(update={"rollup_debounce_s": 3600.0})
    yesterday, noon_ms = yesterday_noon_ms(settings)
    auth_headers = admin()
    on = {"site": "s1", "date": yesterday.isoformat()}
    span = {"site": "s1", "start": yesterday.isoformat(), "end": yesterday.isoformat()}
    async with in_process(create_app(settings)) as http:
        await maintainer_has_looked(http, auth_headers)

        async def upload(batch_id: str, seq: int) -> None:
            readings = [card(seq, noon_ms + seq, seq), scale(seq, noon_ms + seq, "plate", 80.0)]
            response = await http.post(
                "/api/v1/ingest", json=batch(readings, batch_id=batch_id), auth=EdgeAuth(KEY_S1)
            )
            assert response.status_code == 200, response.text

        await upload("a1", 1)
        first = (await http.get("/api/v1/alerts", params=on, headers=auth_headers)).json()
        assert first["rollups"]["pending_dates"] > 0
        assert first["rollups"]["oldest_pending_s"] >= 0
        history = await http.get("/api/v1/alerts/history", params=span, headers=auth_headers)
        assert history.json()["rollups"] == {"pending_dates": 0, "oldest_pending_s": 0.0}
        again = (await http.get("/api/v1/alerts", params=on, headers=auth_headers)).json()
        assert again["rollups"] == {"pending_dates": 0, "oldest_pending_s": 0.0}
        assert again["alerts"] == first["alerts"]

        await upload("a2", 2)
        later = await http.get("/api/v1/alerts/history", params=span, headers=auth_headers)
        assert later.json()["rollups"]["pending_dates"] > 0


async def wait_until_rolled_up(store: SqliteStore, site: str, on: date) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (await store.pending_rollups(site, date(2100, 1, 1))).count == 0:
            _, rows = await store.load_rollups(site, "", on, on, on)
            if rows and rows[0].pending_ms is None:
                return True
        await asyncio.sleep(0.05)
    return False


async def test_a_sparse_meter_does_not_make_every_date_pending_again(tmp_path: Path) -> None:
    """A meter read on every fourth date only: each silent stretch is rebuilt once, when the
    meter comes back (so its consumption is spread over it); later writes to the date after a
    stretch rebuild that date, not the stretches before it, again and again."""
    data = Data(35)
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        for day in range(DAYS):
            meters = data.meters(day, dirty=False) if day % 4 == 0 else []
            await store.write_batch(store_batch(data.food(day) + meters, day))
        maintainer = RollupMaintainer(store, [SITE], 0.0, 60.0)
        await maintainer.settle_all()
        assert (await store.pending_rollups(SITE.id, date(2100, 1, 1))).count == 0
        rolled = await reporting.report(
            store, [SITE], PeriodKind.CUSTOM, WHOLE, Granularity.DAY, NOW_MS
        )
        same_kpis(rolled.total.kpis, await one_go_kpis(store))

        await store.write_batch(store_batch(data.food(8), DAYS + 1))  # food only, date 8
        pending = await store.pending_rollups(SITE.id, date(2100, 1, 1))
        assert await maintainer.settle_all() == pending.count  # no stretch built again
