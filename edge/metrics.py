"""Prometheus metrics of the edge, served by a small HTTP listener on `/metrics` (off unless
EDGE_METRICS_PORT is set; bound to 127.0.0.1 unless EDGE_METRICS_HOST says otherwise).

The counters are the buffer's own persisted ones (`canteen-edge status` shows the same numbers),
read at scrape time, so they survive restarts and are never counted twice; the depths are gauges.
Only the upload latency, the time of the last confirmed upload and the disk's refused writes
(which cannot be persisted) live in memory.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from edge.buffer import COUNTER_NAMES, Buffer, BufferStats
from edge.errors import EdgeBufferError, EdgeError

logger = logging.getLogger(__name__)

PREFIX = "canteen_edge"
METRICS_PATH = "/metrics"
MAX_REQUEST_HEAD_BYTES = 8192  # a scraper's request line and headers; more is answered 431
REQUEST_TIMEOUT_S = 10.0  # a client that sends no complete request head within this is dropped
# Upload round trips (POST until central's 2xx after its durable commit), seconds.
UPLOAD_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_COUNTER_HELP = {
    "received": "MQTT messages committed to the buffer (readings, statuses and dead letters)",
    "persisted": "readings in: new readings written to the buffer",
    "duplicates": "readings whose (device, boot, seq) was already in the buffer",
    "dead_lettered": "messages that failed topic or payload validation (dead letters)",
    "dropped_overflow": "readings lost to the buffer bound (EDGE_OVERFLOW_POLICY)",
    "status_updates": "device online/offline messages",
    "status_changes": "status messages that changed a device's state or boot",
    "status_changes_dropped": "status changes collapsed or dropped to the status outbox bound",
    "uploaded": "readings central confirmed (accepted, duplicate or rejected)",
    "rejected_by_central": "readings central answered as rejected",
    "upload_failures": "upload attempts that did not end in a 2xx",
    "buffer_recoveries": "damaged buffer files set aside at start",
    "salvaged_readings": "pending readings copied from damaged files into a fresh buffer",
}
_DEPTHS = {
    "buffered_readings": ("readings waiting in the buffer for upload", "pending"),
    "dead_letters": ("dead letters kept in the buffer (newest EDGE_DEAD_LETTER_MAX_ROWS)", None),
    "pending_duplicates": ("dropped duplicates not yet reported to central", None),
    "pending_statuses": ("device status changes not yet confirmed by central", None),
}


class MetricsError(EdgeError):
    """The metrics listener cannot be bound (port in use, address not on this machine)."""


class _BufferCollector(Collector):
    """The buffer's counters and depths, from the snapshot taken for the current scrape."""

    def __init__(self) -> None:
        self.snapshot: BufferStats | None = None

    def collect(self) -> Iterator[Metric]:
        stats = self.snapshot
        if stats is None:
            return
        for name in COUNTER_NAMES:
            text = _COUNTER_HELP.get(name, f"the buffer's {name} counter (edge/buffer.py)")
            family = CounterMetricFamily(f"{PREFIX}_{name}", text)
            family.add_metric([], stats.counters.get(name, 0))
            yield family
        for name, (text, attribute) in _DEPTHS.items():
            depth = GaugeMetricFamily(f"{PREFIX}_{name}", text)
            depth.add_metric([], getattr(stats, attribute or name))
            yield depth


class EdgeMetrics:
    """The edge's metrics registry (one per daemon, not the library's global one)."""

    def __init__(self, *, buffer_max_readings: int = 0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        Gauge(
            f"{PREFIX}_buffer_max_readings",
            "the buffer's bound (EDGE_BUFFER_MAX_READINGS); beyond it the overflow policy drops",
            registry=self.registry,
        ).set(buffer_max_readings)
        self._buffer = _BufferCollector()
        self.registry.register(self._buffer)
        self.upload_seconds = Histogram(
            f"{PREFIX}_upload_seconds",
            "round trip of a confirmed upload batch: POST until central's 2xx",
            buckets=UPLOAD_BUCKETS_S,
            registry=self.registry,
        )
        self.buffer_write_errors = Counter(
            f"{PREFIX}_buffer_write_errors",
            "writes the disk refused (full, I/O error), by operation: commit (messages not "
            "acknowledged, retried) or delete (uploaded rows kept, sent again); since start",
            ["operation"],
            registry=self.registry,
        )
        self.last_upload_time = Gauge(
            f"{PREFIX}_last_upload_timestamp_seconds",
            "wall-clock time (epoch s) of the last batch central confirmed; 0: none yet",
            registry=self.registry,
        )

    def uploaded(self, round_trip_s: float) -> None:
        """Record one batch central confirmed."""
        self.upload_seconds.observe(round_trip_s)
        self.last_upload_time.set(time.time())

    def render(self, stats: BufferStats) -> bytes:
        """The exposition text with the buffer's counters and depths as of `stats`."""
        self._buffer.snapshot = stats
        return generate_latest(self.registry)


@asynccontextmanager
async def metrics_listener(
    buffer: Buffer, metrics: EdgeMetrics, host: str, port: int
) -> AsyncIterator[asyncio.Server | None]:
    """The bound `/metrics` listener (None when `port` is 0); the daemon runs its
    `serve_forever()` as a task. A port that cannot be bound stops the start with MetricsError.

    A minimal HTTP/1.1 server: one request per connection, then close; anything but GET or
    HEAD of /metrics gets 404 or 405. The buffer is read at each scrape, on the daemon's loop.
    """
    if not port:
        yield None
        return

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, status, body = await _answer(reader, buffer, metrics)
            content_type = CONTENT_TYPE_LATEST if status == _OK else "text/plain; charset=utf-8"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the scraper went away or sent no complete request: nothing to answer
        finally:
            writer.close()

    try:
        server = await asyncio.start_server(handle, host, port, limit=MAX_REQUEST_HEAD_BYTES)
    except OSError as exc:
        raise MetricsError(
            f"metrics listener on {host}:{port} (EDGE_METRICS_HOST, EDGE_METRICS_PORT): "
            f"{exc.strerror or exc}"
        ) from exc
    logger.info("metrics at http://%s:%d%s", host, port, METRICS_PATH)
    async with server:
        yield server


_OK = "200 OK"


async def _answer(
    reader: asyncio.StreamReader, buffer: Buffer, metrics: EdgeMetrics
) -> tuple[str, str, bytes]:
    """(method, status line, body) of the answer to the request on `reader`."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
    except asyncio.LimitOverrunError:
        return "GET", "431 Request Header Fields Too Large", b"request head too large\n"
    method, _, rest = head.decode("latin-1").partition(" ")
    if rest.partition(" ")[0].partition("?")[0] != METRICS_PATH:
        return method, "404 Not Found", f"only {METRICS_PATH} is served here\n".encode()
    if method not in ("GET", "HEAD"):
        return method, "405 Method Not Allowed", b"use GET\n"
    try:
        stats = await buffer.stats()
    except EdgeBufferError as exc:
        logger.warning("metrics: buffer not readable: %s", exc)
        return method, "503 Service Unavailable", b"buffer not readable; see the edge's log\n"
    return method, _OK, metrics.render(stats)
