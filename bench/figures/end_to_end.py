"""Figure 4: end to end, simulator-like devices -> Mosquitto -> edges -> central's commit.

Load: the meal-time peak of `e2e_sites` canteens. One site's peak is taken from the simulator's
own plan of a canteen day (simulators.canteen.plan_site_days, `e2e_site_staff` staff, one-minute
meter grid): the busiest minute's readings / 60 s. Every site peaks at the same time (one time
zone, same lunch hour), so the aggregate is sites x that peak. It is carried by `e2e_edges` real
edge processes (default settings: 20 ms group commit, uploads every 1 s or per 1,000 readings),
each receiving sites/edges canteens' worth of readings from paced paho publishers; central is
`python -m central serve`. Latency: central's `ingested_ms` - the device's `ts` (set at publish),
read from central's store once every reading is there.
"""

import sqlite3
import time
from collections import Counter
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from bench import procs
from bench.figures.mqtt import probe_edge
from bench.results import Figure
from bench.sizes import Sizes
from bench.stats import percentile, rate_per_s
from harness.broker import Mosquitto
from harness.processes import ManagedProcess
from simulators.canteen import plan_site_days
from simulators.registry import Site

PLAN_DATE = date(2026, 3, 2)  # a Monday; any working day gives the same shape


def site_peak(staff: int) -> tuple[float, int]:
    """(readings/s in the busiest minute, readings per day) of one simulated canteen."""
    site = Site(id="peak", timezone="Asia/Shanghai", registered_staff=staff)
    (plan,) = plan_site_days(site, seed=5, start_date=PLAN_DATE, days=1)
    per_minute = Counter(event.at_ms // 60_000 for event in plan.events)
    return max(per_minute.values()) / 60.0, len(plan.events)


def _read_latencies(sqlite_path: Path) -> tuple[list[int], int, int]:
    """(latencies ms, count, last ingested ms) of the benchmark's readings (not the probes)."""
    uri = f"{sqlite_path.resolve().as_uri()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        rows = db.execute(
            "SELECT ingested_ms - device_time_ms, ingested_ms FROM readings"
            " WHERE device NOT LIKE 'probe%'"
        ).fetchall()
    latencies = [r[0] for r in rows]
    return latencies, len(rows), max((r[1] for r in rows), default=0)


def _count(sqlite_path: Path) -> int:
    uri = f"{sqlite_path.resolve().as_uri()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM readings WHERE device NOT LIKE 'probe%'"
        ).fetchone()
    return int(count)


def figures(workdir: Path, sizes: Sizes) -> list[Figure]:
    workdir.mkdir(parents=True, exist_ok=True)
    per_site_s, per_day = site_peak(sizes.e2e_site_staff)
    offered_s = per_site_s * sizes.e2e_sites
    sites = [f"e2e-{n:02d}" for n in range(sizes.e2e_edges)]
    clients = 2 * len(sites)  # two publisher connections per edge's share
    processes = max(1, min(sizes.publisher_processes, clients))
    with ExitStack() as stack:
        broker = stack.enter_context(Mosquitto(workdir / "broker"))
        central = stack.enter_context(procs.central(workdir / "central", sites, log_level="INFO"))
        for site in sites:
            buffer_path = workdir / "edges" / site / "buffer.sqlite3"
            env = procs.edge_env(
                site=site, credentials=central.credentials[site], broker_port=broker.port,
                central_url=central.url, buffer_path=buffer_path,
            )  # fmt: skip
            stack.enter_context(procs.edge(workdir, f"edge-{site}", env))
            probe_edge(broker.port, buffer_path, 30, site=site)
        start_at = time.time() + 2.0
        publishers = []
        for p in range(processes):
            mine = sites[p::processes] if len(sites) >= processes else sites
            n_clients = max(1, clients // processes)
            args = procs.publisher_args(
                broker_port=broker.port, sites=mine, clients=n_clients, prefix=f"p{p}",
                start_at=start_at, rate_per_s=offered_s / (n_clients * processes),
                duration_s=sizes.e2e_duration_s, boot=f"e{int(start_at)}",
            )  # fmt: skip
            publishers.append(
                stack.enter_context(ManagedProcess(f"publisher-{p}", args, {}, workdir / "logs"))
            )
        summaries = []
        for publisher in publishers:
            publisher.wait(sizes.e2e_duration_s + sizes.timeout_s)
            summaries.append(procs.publisher_summary(publisher))
        published = sum(s["acknowledged"] for s in summaries)
        start_s = min(s["first_s"] for s in summaries)
        procs.wait_for(
            lambda: _count(central.sqlite_path) >= published,
            sizes.timeout_s,
            f"central storing all {published} readings",
            interval_s=0.2,
        )
        latencies, stored, last_ms = _read_latencies(central.sqlite_path)
    if stored != published:
        raise RuntimeError(f"central stored {stored} readings; {published} were published")
    delivered = rate_per_s(stored, last_ms / 1000 - start_s)
    load = (
        f"{sizes.e2e_sites} sites x {per_site_s:.3f} readings/s (busiest minute of a simulated "
        f"{sizes.e2e_site_staff}-staff canteen, {per_day} readings/day) = {offered_s:,.0f} "
        f"readings/s for {sizes.e2e_duration_s:g} s over {len(sites)} edge processes"
    )
    return [
        Figure("4a", "End to end: publish -> central commit", delivered, "readings/s", notes=load),
        Figure("4b", "End to end latency p50 (device ts -> central ingested_ms)",
               percentile(latencies, 50), "ms", notes=f"{stored} readings; edge uploads every "
               "1 s (EDGE_UPLOAD_INTERVAL_S default) unless 1,000 readings are waiting"),
        Figure("4c", "End to end latency p99", percentile(latencies, 99), "ms"),
    ]  # fmt: skip
