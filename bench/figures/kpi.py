"""Figure 6 (KPI query latency) and figure 7's central RSS while serving them.

Data: `kpi_sites` x `kpi_days` generated into central's store (bench.kpi_data), or with `reuse`
a store generated earlier with the same sizes, put back as generated (bench.kpi_data.prepare).
Each figure is one
function below, measured in process (the central functions the route calls, on the store) and
over HTTP (`python -m central serve` on the same file, one request at a time, with the bench's
read token; each timed from sending the request to the last byte of the answer, the client's
JSON parse after the clock stops).

- site-day: GET /api/v1/sites/{site}/kpis/daily (central.reporting.report, rows per service);
- site-year: GET /api/v1/kpis?site=&period=year (central.reporting.report), route defaults
  (rows per day), the calendar year of the data's first date; and the same with
  granularity=month (12 rows: what a year's view shows);
- ranking: GET /api/v1/ranking?region=network:bench&period=month&kpi=waste_per_diner_g
  (central.reporting.ranking): every site of the run, the calendar month of the first date; and
  the same with period=year (warm only).

Cold and warm: right after generation (or reset) every written date's rollup is pending (no
rollup yet), so the first site-year samples (each a different site) and the first ranking build
theirs on read (figures "cold"). Then the rollup maintainer's passes (central.rollup_maintainer,
what a running central does shortly after every upload) roll up every other written date, timed
as figure 6d; every later sample, in process and over HTTP, composes stored rollups, as a running
central's reports do. Figure 6e: the stored bytes per site-date of the rollups (entry and chain
states).

Figure 6f: the freshness of rollups after an upload, over HTTP, on an idle central and under
background ingest loads (`freshness_figures`, bench.load).

Figure 6g: a national ranking (/ranking period=year) over `kpi_national_sites` sites x one
calendar year of rollups generated directly from a rolled-up site's entries (bench.national), in
process, one sample (a cold process: every entry read from the SQLite file).
"""

import asyncio
import gc
import random
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson

from bench import national, procs
from bench.figures.end_to_end import site_peak
from bench.kpi_data import FRESHNESS_DEVICE, LOAD_PREFIX, START_DATE, STORE_NAME, prepare
from bench.load import IngestLoad, achieved_per_s
from bench.payloads import upload_headers
from bench.results import Figure, Results, Target
from bench.sizes import Sizes
from bench.stats import percentile, rate_per_s
from central.kpi.periods import DateRange, Granularity, PeriodKind, period_range
from central.kpi.report import Report
from central.registry import Registry, Site, load_registry
from central.reporting import Ranking, now_ms, ranking, report
from central.rollup_maintainer import RollupMaintainer
from central.store.sqlite import SqliteStore
from contract.topics import DeviceKind
from harness.registry import write_registry

SITE_DAY_TARGET_MS = 5.0
SITE_YEAR_TARGET_MS = 10.0  # issue 12 (issue 5 asked < 50 ms)
RANKING_TARGET_MS = 200.0
YEAR_RANKING_TARGET_MS = 50.0  # issue 12: 100 sites, one year
NATIONAL_TARGET_S = 1.0
NETWORK = "bench"  # one region tag shared by every site of the run: the ranking ranks them all
REGION = f"network:{NETWORK}"
RANKING_KPI = "waste_per_diner_g"
FRESHNESS_TARGET_S = 5.0
FRESHNESS_WAIT_S = 30.0  # an upload not rolled up by then ends its variant's samples
TIMEZONE = "Asia/Shanghai"  # harness.registry's and the generator's


# --- the reports, in process ------------------------------------------------------------------


async def site_day_in_process(
    store: SqliteStore, registry: Registry, site: str, day: date
) -> Report:
    """What GET .../kpis/daily does, minus HTTP and the view's mapping: the day's report."""
    config = registry.site(site)
    if config is None:
        raise KeyError(site)
    span = DateRange(day, day)
    return await report(store, [config], PeriodKind.DAY, span, Granularity.SERVICE, now_ms())


async def site_year_in_process(
    store: SqliteStore, sites: list[Site], on: date, granularity: Granularity = Granularity.DAY
) -> Report:
    """What GET /api/v1/kpis?site=&period=year does, minus HTTP and JSON."""
    span = period_range(PeriodKind.YEAR, on=on)
    return await report(store, sites, PeriodKind.YEAR, span, granularity, now_ms())


async def ranking_in_process(
    store: SqliteStore, sites: list[Site], on: date, period: PeriodKind = PeriodKind.MONTH
) -> Ranking:
    """What GET /api/v1/ranking?region=&period=month does, minus HTTP and JSON."""
    span = period_range(period, on=on)
    return await ranking(store, sites, RANKING_KPI, period, span, now_ms())


# --- the same reports over HTTP ---------------------------------------------------------------


def site_day_http(client: httpx.Client, site: str, day: date) -> httpx.Response:
    response = client.get(f"/api/v1/sites/{site}/kpis/daily", params={"date": day.isoformat()})
    return response.raise_for_status()


def site_year_http(
    client: httpx.Client, site: str, on: date, granularity: str | None = None
) -> httpx.Response:
    params = {"site": site, "period": "year", "date": on.isoformat()}
    if granularity is not None:
        params["granularity"] = granularity
    response = client.get("/api/v1/kpis", params=params)
    return response.raise_for_status()


def ranking_http(client: httpx.Client, on: date, period: str = "month") -> httpx.Response:
    response = client.get(
        "/api/v1/ranking",
        params={"region": REGION, "period": period, "kpi": RANKING_KPI, "date": on.isoformat()},
    )
    return response.raise_for_status()


# --- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    p50_ms: float
    p99_ms: float
    samples: int


def _timing(samples_ms: list[float]) -> Timing:
    return Timing(percentile(samples_ms, 50), percentile(samples_ms, 99), len(samples_ms))


async def _time_async(calls: Sequence[Callable[[], Awaitable[object]]]) -> Timing:
    samples = []
    for call in calls:
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return _timing(samples)


def _time_sync(calls: list[Callable[[], httpx.Response]], on_each: Callable[[], None]) -> Timing:
    """Each request from sending to the last byte of the answer (httpx reads the whole body);
    the client's JSON parse comes after the clock stops (it checks the answer is JSON)."""
    samples = []
    for call in calls:
        started = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - started) * 1000)
        response.json()
        on_each()
    return _timing(samples)


def _figures(label: str, where: str, t: Timing, target_ms: float, note: str) -> list[Figure]:
    return [
        Figure(f"{label}", f"{note} p50, {where}", t.p50_ms, "ms", target=Target("<", target_ms),
               notes=f"{t.samples} samples"),
        Figure(f"{label}", f"{note} p99, {where}", t.p99_ms, "ms", target=Target("<", target_ms),
               notes=f"{t.samples} samples (nearest rank)"),
    ]  # fmt: skip


def figures(
    workdir: Path, sizes: Sizes, results: Results | None = None, *, reuse: bool = False
) -> list[Figure]:
    """Figure 6 (and 7b); with `reuse`, a store generated earlier in `workdir` is kept when its
    stamp matches (bench.kpi_data.prepare); `results` (this run's) gives figure 3's rate for the
    second 6f load, and takes the skips."""
    workdir.mkdir(parents=True, exist_ok=True)
    sites = [f"kpi-{n:03d}" for n in range(sizes.kpi_sites)]
    registry_path = workdir / "sites.toml"
    credentials = write_registry(
        registry_path, sites, meter_interval_s=sizes.kpi_meter_interval_s, network=NETWORK
    )
    sqlite_path = workdir / STORE_NAME
    registry = load_registry(registry_path)
    data = prepare(
        sqlite_path, sites, days=sizes.kpi_days, template_days=sizes.kpi_template_days,
        meter_interval_s=sizes.kpi_meter_interval_s, reuse=reuse,
    )  # fmt: skip
    print(f"bench: figure 6 data {data.why}", file=sys.stderr, flush=True)
    rng = random.Random(6)
    day_pairs = [
        (rng.choice(sites), START_DATE + timedelta(days=rng.randrange(sizes.kpi_days)))
        for _ in range(sizes.kpi_site_day_samples)
    ]
    year_sites = rng.sample(sites, min(len(sites), sizes.kpi_site_year_samples))  # cold: distinct
    region_sites = list(registry.region("network", NETWORK))
    assert len(region_sites) == len(sites), "every site of the run is in the ranked region"

    def site_of(site: str) -> list[Site]:
        found = registry.site(site)
        if found is None:
            raise KeyError(site)
        return [found]

    async def in_process() -> tuple[Timing, ...]:
        async with SqliteStore(sqlite_path) as store:
            # as over HTTP: one untimed first request (imports, first statements), and, as
            # `central serve` does at start, the process's long-lived objects frozen out of the
            # cyclic collector (else a full collection walking the generated data lands in a
            # sample now and then)
            await site_day_in_process(store, registry, *day_pairs[0])
            gc.collect()
            gc.freeze()
            year_calls = [
                partial(site_year_in_process, store, site_of(s), START_DATE) for s in year_sites
            ]
            ranking_call = partial(ranking_in_process, store, region_sites, START_DATE)
            cold_year = await _time_async(year_calls)
            cold_ranking = await _time_async([ranking_call])
            warm.append(await warm_pass(store))
            day = await _time_async(
                [partial(site_day_in_process, store, registry, s, d) for s, d in day_pairs]
            )
            year = await _time_async(year_calls)
            ranked = await _time_async([ranking_call] * sizes.kpi_ranking_samples)
            by_month = await _time_async(
                [
                    partial(site_year_in_process, store, site_of(s), START_DATE, Granularity.MONTH)
                    for s in year_sites
                ]
            )
            # warm: dates after the data have no rollup until a read or the maintainer builds
            # them (the site-year samples did so for their sites only)
            await ranking_in_process(store, region_sites, START_DATE, PeriodKind.YEAR)
            year_ranked = await _time_async(
                [partial(ranking_in_process, store, region_sites, START_DATE, PeriodKind.YEAR)]
                * sizes.kpi_ranking_samples
            )
        return day, year, ranked, cold_year, cold_ranking, by_month, year_ranked

    async def warm_pass(store: SqliteStore) -> tuple[int, float]:
        # the maintainer's passes until no date is pending: (rollups built, seconds)
        maintainer = RollupMaintainer(store, region_sites, 0.0, 60.0)
        started = time.perf_counter()
        built = await maintainer.settle_all()
        return built, time.perf_counter() - started

    warm: list[tuple[int, float]] = []
    try:
        local = asyncio.run(in_process())
    finally:
        gc.unfreeze()
    nation, nation_s = national_ranking(workdir, sqlite_path, site_of(sites[0])[0], sizes)
    rollup_bytes = rollup_bytes_per_site_date(sqlite_path)  # before 6f adds its readings
    peak_mb = 0.0
    serving = procs.central(
        workdir / "central", sites, sqlite_path=sqlite_path, registry_path=registry_path,
        credentials=credentials,
    )  # fmt: skip
    with serving as central:
        pid = central.process.pid

        def sample() -> None:
            nonlocal peak_mb
            if pid is not None:
                peak_mb = max(peak_mb, procs.memory(pid).rss_mb)

        with httpx.Client(
            base_url=central.url, timeout=300, headers=central.read_headers
        ) as client:
            site_day_http(client, *day_pairs[0])  # first request: imports, connection
            http_day = _time_sync(
                [partial(site_day_http, client, s, d) for s, d in day_pairs], sample
            )
            http_year = _time_sync(
                [partial(site_year_http, client, s, START_DATE) for s in year_sites], sample
            )
            http_ranking = _time_sync(
                [partial(ranking_http, client, START_DATE)] * sizes.kpi_ranking_samples, sample
            )
            http_year_ranking = _time_sync(
                [partial(ranking_http, client, START_DATE, "year")] * sizes.kpi_ranking_samples,
                sample,
            )
            http_month = _time_sync(
                [partial(site_year_http, client, s, START_DATE, "month") for s in year_sites],
                sample,
            )
        fresh = freshness_figures(central, sites, sizes, results)
        if pid is not None:
            peak_mb = max(peak_mb, procs.memory(pid).hwm_mb)
    site_days = sizes.kpi_sites * sizes.kpi_days
    count = (
        "readings not counted (the stamp does not say)" if data.readings is None
        else f"{data.readings:,} readings ({data.readings / site_days:,.0f} per site-day)"
    )  # fmt: skip
    made = f"in {data.seconds:.0f} s" if not data.reused else "earlier"
    about = (f"{sizes.kpi_sites} sites x {sizes.kpi_days} days, {count}, meters every "
             f"{sizes.kpi_meter_interval_s} s, generated {made}; {data.why}")  # fmt: skip
    year_note = f"Site-year report (/kpis period=year, {sizes.kpi_days} days of data)"
    ranking_note = f"{sizes.kpi_sites}-site monthly ranking (/ranking period=month)"
    year_ranking_note = f"{sizes.kpi_sites}-site yearly ranking (/ranking period=year)"
    ((warm_built, warm_s),) = warm
    out = [
        *_figures("6a", "in process", local[0], SITE_DAY_TARGET_MS, "Site-day report"),
        *_figures("6a", "HTTP", http_day, SITE_DAY_TARGET_MS, "Site-day report"),
        *_figures("6b", "in process", local[1], SITE_YEAR_TARGET_MS, year_note),
        *_figures("6b", "HTTP", http_year, SITE_YEAR_TARGET_MS, year_note),
        *_figures("6b", "in process", local[5], SITE_YEAR_TARGET_MS,
                  f"{year_note}, granularity=month"),
        *_figures("6b", "HTTP", http_month, SITE_YEAR_TARGET_MS, f"{year_note}, granularity=month"),
        *_figures("6c", "in process", local[2], RANKING_TARGET_MS, ranking_note),
        *_figures("6c", "HTTP", http_ranking, RANKING_TARGET_MS, ranking_note),
        *_figures("6c", "in process", local[6], YEAR_RANKING_TARGET_MS, year_ranking_note),
        *_figures("6c", "HTTP", http_year_ranking, YEAR_RANKING_TARGET_MS, year_ranking_note),
        *_figures("6b", "in process, cold", local[3], SITE_YEAR_TARGET_MS,
                  f"{year_note}, no rollup yet (built on read)"),
        Figure("6c", f"{ranking_note}, no rollup yet (built on read), in process, cold",
               local[4].p50_ms, "ms", target=Target("<", RANKING_TARGET_MS),
               notes=f"{local[4].samples} sample"),
        Figure("6d", "Rollup maintenance (central.rollup_maintainer passes), in process",
               rate_per_s(warm_built, warm_s), "site-dates/s",
               notes=f"{warm_built:,} site-dates rolled up in {warm_s:.1f} s "
               f"({len(region_sites)} sites; the cold samples above had built theirs)"
               + ("; data reused: its stored rollups (of whatever code version) were made "
                  "pending first, so this is a rebuild from readings" if data.reused else "")),
        *fresh,
        Figure("6e", "Stored bytes per site-date of rollups (entry, dish sums, chain states)",
               rollup_bytes, "bytes", notes="mean over the stored rollups, SQLite table "
               "kpi_rollup, without SQLite's page and index overhead"),
        Figure("6g", f"National ranking, {sizes.kpi_national_sites:,} sites x 1 year of "
               "generated rollups (/ranking period=year), in process", nation_s, "s",
               target=Target("<", NATIONAL_TARGET_S),
               notes=f"{nation.rows:,} rollups, {nation.bytes_per_site_date:,.0f} bytes per "
               f"site-date; {nation_s / len(nation.sites) * 1000:.1f} ms per site-year"),
        Figure("7b", "Central peak RSS (VmHWM) while serving figure 6 over HTTP", peak_mb, "MB",
               notes="from /proc/<pid>/status"),
    ]  # fmt: skip
    first = out[0]
    out[0] = Figure(first.figure, first.name, first.value, first.unit, target=first.target,
                    notes=f"{first.notes}; data: {about}")  # fmt: skip
    return out


def national_ranking(
    workdir: Path, sqlite_path: Path, template: Site, sizes: Sizes
) -> tuple[national.National, float]:
    """Figure 6g: generate the national rollups (a store of their own, removed afterwards) and
    time one year ranking of every site, in process, from a freshly opened store."""
    path = workdir / "national.sqlite3"
    for stale in workdir.glob("national.sqlite3*"):
        stale.unlink()
    entries = national.template_entries(sqlite_path, template.id)
    made = asyncio.run(
        national.generate(path, template, entries, sizes.kpi_national_sites, START_DATE.year)
    )

    async def rank() -> float:
        async with SqliteStore(path) as store:
            started = time.perf_counter()
            ranked = await ranking(
                store, made.sites, RANKING_KPI, PeriodKind.YEAR, made.span, now_ms()
            )
            seconds = time.perf_counter() - started
        if len(ranked.sites) != len(made.sites) or ranked.rollups is None:
            raise RuntimeError("the national ranking did not rank every site from rollups")
        if ranked.rollups.pending_dates:
            raise RuntimeError(f"{ranked.rollups.pending_dates} generated rollups were pending")
        return seconds

    try:
        return made, asyncio.run(rank())
    finally:
        for done in workdir.glob("national.sqlite3*"):
            done.unlink()


LOAD_KINDS = (DeviceKind.CARD, DeviceKind.SCALE)


def _local_noon_ms(on: date, timezone: str) -> int:
    return int(datetime.combine(on, clock(12), ZoneInfo(timezone)).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Freshness:
    timing: Timing
    late: bool  # the last upload was not rolled up within FRESHNESS_WAIT_S (sampling ended)

    def note(self) -> str:
        t = self.timing
        text = f"{t.samples} uploads (p50 {t.p50_ms / 1000:.2f} s)"
        if self.late:
            text += (f"; the last one was not rolled up within {FRESHNESS_WAIT_S:g} s, so the "
                     "samples ended there and the p99 is at least that")  # fmt: skip
        return text


def rollup_freshness(central: procs.Central, sites: Sequence[str], sizes: Sizes) -> Freshness:
    """Upload one card reading of a date of the data at a time (signed, as an edge does), on a
    date of the data's first half (the load writes the second half), and time from central's 200
    until that site-date's rollup is no longer pending: what a report of it would find rolled up.
    Polls the SQLite file read-only every 10 ms; an upload still pending after FRESHNESS_WAIT_S
    counts as that and ends the samples."""
    samples = []
    rng = random.Random(7)
    boot = f"fresh-{time.time_ns():x}"  # another boot per run (a store may be reused)
    with (
        httpx.Client(base_url=central.url, timeout=60) as client,
        sqlite3.connect(f"file:{central.sqlite_path}?mode=ro", uri=True) as db,
    ):
        for n in range(sizes.kpi_freshness_uploads):
            site = rng.choice(list(sites))
            edge = central.credentials[site]
            on = START_DATE + timedelta(days=rng.randrange(_load_split(sizes)))
            at_ms = _local_noon_ms(on, TIMEZONE) + n
            reading = {
                "kind": "card", "device": FRESHNESS_DEVICE, "boot": boot, "seq": n,
                "device_time_ms": at_ms, "received_ms": at_ms, "person": f"{n:032x}",
            }  # fmt: skip
            body = orjson.dumps(
                {"v": 1, "site": site, "edge": edge.edge_id, "batch_id": f"{boot}-{n}",
                 "readings": [reading]}
            )  # fmt: skip
            client.post(
                "/api/v1/ingest", content=body, headers=upload_headers(edge.api_key, body)
            ).raise_for_status()
            answered = time.perf_counter()
            try:
                procs.wait_for(
                    partial(_rolled_up, db, site, on), FRESHNESS_WAIT_S, "rolled up", 0.01
                )
            except TimeoutError:
                samples.append(FRESHNESS_WAIT_S * 1000)
                return Freshness(_timing(samples), late=True)
            samples.append((time.perf_counter() - answered) * 1000)
    return Freshness(_timing(samples), late=False)


def _drain(central: procs.Central, timeout_s: float) -> int:
    """Wait until no rollup is pending (or `timeout_s`); the site-dates still pending."""
    with sqlite3.connect(f"file:{central.sqlite_path}?mode=ro", uri=True) as db:

        def pending() -> int:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM kpi_rollup WHERE pending_ms IS NOT NULL"
            ).fetchone()
            return int(count)

        try:
            procs.wait_for(lambda: pending() == 0, timeout_s, "no rollup pending", 0.1)
        except TimeoutError:
            return pending()
    return 0


def _load_split(sizes: Sizes) -> int:
    """Days of the data before the first date the load writes (the probes' dates)."""
    return max(1, sizes.kpi_days // 2)


def _rolled_up(db: sqlite3.Connection, site: str, on: date) -> bool:
    row = db.execute(
        "SELECT pending_ms FROM kpi_rollup WHERE site = ? AND local_date = ?",
        (site, on.isoformat()),
    ).fetchone()
    return row is not None and row[0] is None


def freshness_figures(
    central: procs.Central, sites: Sequence[str], sizes: Sizes, results: Results | None
) -> list[Figure]:
    """Figure 6f on an idle central (the reference), then under a background ingest load
    (bench.load): cards and scales of the data's sites, each site's batches in turn on dates of
    the data's second half (from its last date back), as many site-dates as canteens send the
    load at figure 4's meal-time peak per canteen (one site-date stands for one canteen's today,
    which central rebuilds after each write), which they mark pending: at
    `kpi_freshness_load_per_s` (figure 4's peak of 1,000 canteens), and at
    `kpi_freshness_ceiling_share` of figure 3's rate when this run measured it. An upload not
    rolled up within `FRESHNESS_WAIT_S` ends its variant's samples (the p99 is then at least
    that)."""
    idle = rollup_freshness(central, sites, sizes)
    idle_p99_s = idle.timing.p99_ms / 1000
    out = [
        Figure("6f", "Rollup freshness after an upload p99 (200 to its date rolled up), idle "
               "central, HTTP", idle_p99_s, "s", target=Target("<", FRESHNESS_TARGET_S),
               notes=f"{idle.note()} of one card reading of a date of the data's first half, one "
               "at a time; the maintainer's debounce is 0.5 s"),
    ]  # fmt: skip
    loads = [("figure 4's meal-time peak of 1,000 canteens", sizes.kpi_freshness_load_per_s)]
    ceiling = next((f.value for f in (results.figures if results else []) if f.figure == "3"), None)
    if sizes.kpi_freshness_ceiling_share > 0:
        if ceiling is None:
            if results is not None:
                results.skip(
                    "6f",
                    "freshness under a share of figure 3's ingest rate",
                    "figure 3 was not measured in this run (add ingest to --only)",
                )
        else:
            share = sizes.kpi_freshness_ceiling_share
            loads.append((f"{share:g} x figure 3's {ceiling:,.0f} readings/s", share * ceiling))
    second_half = [
        START_DATE + timedelta(days=d)
        for d in reversed(range(min(_load_split(sizes), sizes.kpi_days - 1), sizes.kpi_days))
    ]
    per_canteen_s, _ = site_peak(sizes.e2e_site_staff)
    for what, rate in loads:
        backlog = _drain(central, sizes.timeout_s)  # each load starts on a rolled-up store
        canteens = rate / per_canteen_s
        load_dates = second_half[: max(1, min(len(second_half), round(canteens / len(sites))))]
        # about one batch per site and second, as edges that upload every second send
        batch = max(1, min(sizes.ingest_batch_readings, round(rate / len(sites))))
        with IngestLoad(
            central.url, central.credentials, sites, rate_per_s=rate, batch_readings=batch,
            day_starts_ms=[_local_noon_ms(on, TIMEZONE) for on in load_dates],
            prefix=LOAD_PREFIX, kinds=LOAD_KINDS,
        ) as load:  # fmt: skip
            # sampled once every site-date of the load is written (and so pending) at least
            # once: the maintainer's steady state under this load
            warm = len(sites) * len(load_dates)
            procs.wait_for(
                lambda n=warm: load.batches >= n or load.stopped(),
                sizes.timeout_s, "the load's first batch to each of its site-dates",
            )  # fmt: skip
            load.check()
            before = load.count()
            fresh = rollup_freshness(central, sites, sizes)
            after = load.count()
        achieved = achieved_per_s(before, after)
        loaded = (f"batches of {batch} card and scale readings of {len(sites)} sites x "
                  f"{len(load_dates)} dates ({load_dates[-1]} to {load_dates[0]}; {canteens:,.0f} "
                  f"canteens at {per_canteen_s:.2f} readings/s each would send this; no meter "
                  "readings: one of a past date re-walks every later date's chain, which live "
                  "readings of today never do)")  # fmt: skip
        if backlog:
            loaded += (f"; started with {backlog} site-dates still pending "
                       f"{sizes.timeout_s:g} s after the samples before")  # fmt: skip
        out += [
            Figure("6f", f"Rollup freshness after an upload p99, under ingest load ({what}), "
                   "HTTP", fresh.timing.p99_ms / 1000, "s", reference=idle_p99_s,
                   reference_name="idle central, same run", target=Target("<", FRESHNESS_TARGET_S),
                   notes=f"{fresh.note()}, one card reading each as in the idle figure, while "
                   f"{loaded} were posted at {rate:,.0f} "
                   f"readings/s offered; {achieved:,.0f} readings/s accepted while sampling"),
            Figure("6f", f"Ingest load accepted during the freshness samples ({what})", achieved,
                   "readings/s", reference=rate, reference_name="offered",
                   notes=f"{after.readings - before.readings:,} readings in "
                   f"{after.at_s - before.at_s:.1f} s; {loaded}"),
        ]  # fmt: skip
    return out


def rollup_bytes_per_site_date(sqlite_path: Path) -> float:
    """Mean stored bytes of a rolled-up site-date (entry and dish blobs, chain states, key
    columns)."""
    with sqlite3.connect(sqlite_path) as conn:
        row: tuple[int | None, int] = conn.execute(
            "SELECT SUM(LENGTH(entry) + COALESCE(LENGTH(dishes), 0) + LENGTH(starts)"
            " + LENGTH(ends) + LENGTH(site)"
            " + LENGTH(local_date) + LENGTH(config) + 16), COUNT(*)"
            " FROM kpi_rollup WHERE entry IS NOT NULL"
        ).fetchone()
    total, count = row
    return float(total or 0) / max(1, int(count))
