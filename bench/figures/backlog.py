"""Figure 5 (backlog drain) and figure 7's edge RSS: an edge starting with a full buffer.

`backlog_readings` valid readings are generated straight into a buffer file with edge.buffer's
own API (Buffer.commit, in chunks), then `python -m edge run` starts on it, uploading to the fast
sink (bench.sink) while a paced paho client keeps publishing live readings at
`backlog_live_rate_per_s`. The sink answers 503 (as central does when its store is unavailable)
until the edge is subscribed and the live load runs; the drain is timed from its first 200, with
EDGE_BACKOFF_MAX_S=0.5 so that the edge's retry lands promptly. The uploader sends the oldest
readings first, so live readings wait behind the backlog: their latency during the drain is the
drain's remaining time, which is what the figure shows. The edge's memory is sampled from /proc
during the drain (VmHWM = peak RSS).
"""

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path

from bench import procs
from bench.figures.mqtt import probe_edge
from bench.payloads import KINDS, device_id, record
from bench.publisher import PacedPublisher
from bench.results import Figure, Target
from bench.sizes import Sizes
from bench.stats import percentile, rate_per_s
from edge.buffer import Buffer, NewReading
from harness.broker import Mosquitto

SITE = "backlog-site"
CHUNK = 20_000
EDGE_RSS_TARGET_MB = 100.0
LIVE_PREFIX = "live"


async def fill_buffer(path: Path, readings: int, max_readings: int) -> float:
    """Write `readings` pending readings into the buffer at `path`; return the seconds it took."""
    started = time.perf_counter()
    start_ms = int(time.time() * 1000) - 86_400_000
    async with Buffer(path, max_readings=max_readings) as buffer:
        for first in range(0, readings, CHUNK):
            chunk = []
            for n in range(first, min(first + CHUNK, readings)):
                kind = KINDS[n % len(KINDS)]
                device = device_id("old", kind, 0)
                rec = record(kind, device, "backlog", n // len(KINDS), start_ms + n * 20)
                chunk.append(NewReading(device, "backlog", n // len(KINDS), rec.model_dump_json()))
            await buffer.commit(chunk)
        if await buffer.pending_count() != readings:
            raise RuntimeError("the generated backlog is not all pending")
    return time.perf_counter() - started


def figures(workdir: Path, sizes: Sizes) -> list[Figure]:
    workdir.mkdir(parents=True, exist_ok=True)
    buffer_path = workdir / "edge" / "buffer.sqlite3"
    max_readings = sizes.backlog_readings + 200_000  # live readings must not overflow the bound
    fill_s = asyncio.run(fill_buffer(buffer_path, sizes.backlog_readings, max_readings))
    peak_rss_mb = 0.0
    with ExitStack() as stack:
        broker = stack.enter_context(Mosquitto(workdir / "broker"))
        sink_url = stack.enter_context(procs.sink(workdir, live_prefix=LIVE_PREFIX, paused=True))
        env = procs.edge_env(
            site=SITE, credentials=None, broker_port=broker.port, central_url=sink_url,
            buffer_path=buffer_path,
            extra={"EDGE_BUFFER_MAX_READINGS": str(max_readings), "EDGE_BACKOFF_MAX_S": "0.5"},
        )  # fmt: skip
        edge = stack.enter_context(procs.edge(workdir, "edge", env))
        probe_edge(broker.port, buffer_path, 60, site=SITE)
        with PacedPublisher(
            host=procs.HOST, port=broker.port, site=SITE, prefix=LIVE_PREFIX,
            rate_per_s=sizes.backlog_live_rate_per_s,
        ) as live:  # fmt: skip
            procs.resume_sink(sink_url)
            deadline = time.monotonic() + sizes.timeout_s
            while True:
                edge.check_running()
                if edge.pid is not None:
                    peak_rss_mb = max(peak_rss_mb, procs.memory(edge.pid).rss_mb)
                stats = procs.sink_stats(sink_url)
                old = sum(count - lives for _, count, lives in stats["timeline"])
                if old >= sizes.backlog_readings:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"edge drained {old} of {sizes.backlog_readings} readings")
                time.sleep(0.25)
        published = live.published
        if edge.pid is not None:
            memory = procs.memory(edge.pid)
            peak_rss_mb = max(peak_rss_mb, memory.hwm_mb)
        procs.wait_for(
            lambda: len(procs.sink_stats(sink_url)["live"]) >= published,
            60,
            "every live reading at the sink",
            interval_s=0.25,
        )
        stats = procs.sink_stats(sink_url)
    timeline = stats["timeline"]
    first_ms, first_count = timeline[0][0], timeline[0][1] - timeline[0][2]
    seen = 0
    done_ms = first_ms
    for at_ms, count, lives in timeline:
        seen += count - lives
        if seen >= sizes.backlog_readings:
            done_ms = at_ms
            break
    drain = rate_per_s(sizes.backlog_readings - first_count, (done_ms - first_ms) / 1000)
    during = [latency for device_ms, latency in stats["live"] if device_ms <= done_ms]
    if not during:
        during = [latency for _, latency in stats["live"]]
    notes = (
        f"{sizes.backlog_readings} readings generated with Buffer.commit in {fill_s:.1f} s; "
        f"drained by python -m edge run (batches of 1,000) to bench.sink while {published} live "
        f"readings were published at {sizes.backlog_live_rate_per_s:g}/s"
    )
    return [
        Figure("5a", "Backlog drain rate (edge -> sink, live load on)", drain, "readings/s",
               notes=notes),
        Figure("5b", "Live latency during the drain, p50 (publish -> upload)",
               percentile(during, 50), "ms", notes=f"{len(during)} live readings published "
               "before the backlog was drained; oldest-first upload puts them behind it"),
        Figure("5c", "Live latency during the drain, p99", percentile(during, 99), "ms"),
        Figure("7a", f"Edge peak RSS (VmHWM) with a {sizes.backlog_readings:,}-reading backlog",
               peak_rss_mb, "MB", target=Target("<", EDGE_RSS_TARGET_MB),
               notes="from /proc/<pid>/status over the whole drain"),
    ]  # fmt: skip
