"""The edge's /metrics listener over real HTTP on a free loopback port, with a real buffer file:
the buffer's counters as they are at the scrape, only GET/HEAD of /metrics answered, and a port
that cannot be bound refused at start with the settings named."""

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.buffer import Buffer
from edge.committer import Committer
from edge.metrics import EdgeMetrics, MetricsError, metrics_listener
from harness.ports import free_port
from tests.edge.conftest import scale_payload
from tests.edge.test_committer import KEY, RecordingSource, message


def samples(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


async def test_scrape_reads_the_buffer_counters_at_each_request(tmp_path: Path) -> None:
    port = free_port()
    metrics = EdgeMetrics(buffer_max_readings=500)
    async with (
        Buffer(tmp_path / "buffer.sqlite3") as buffer,
        metrics_listener(buffer, metrics, "127.0.0.1", port) as server,
    ):
        assert server is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            first = await http.get("/metrics")
            assert first.status_code == 200
            assert first.headers["content-type"].startswith("text/plain; version=")
            before = samples(first.text)
            assert before["canteen_edge_upload_failures_total"] == 0
            assert before["canteen_edge_buffer_max_readings"] == 500

            await buffer.add_counters(upload_failures=2, dead_lettered=1)
            metrics.uploaded(0.2)
            after = samples((await http.get("/metrics?x=1")).text)
            assert after["canteen_edge_upload_failures_total"] == 2
            assert after["canteen_edge_dead_lettered_total"] == 1
            assert after["canteen_edge_upload_seconds_count"] == 1
            assert after["canteen_edge_last_upload_timestamp_seconds"] > 0

            assert (await http.get("/")).status_code == 404
            assert (await http.post("/metrics")).status_code == 405
            head = await http.head("/metrics")
            assert head.status_code == 200
            assert head.content == b""


async def test_no_port_no_listener(tmp_path: Path) -> None:
    async with (
        Buffer(tmp_path / "buffer.sqlite3") as buffer,
        metrics_listener(buffer, EdgeMetrics(), "127.0.0.1", 0) as server,
    ):
        assert server is None


async def test_a_taken_port_is_refused_naming_the_settings(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with Buffer(tmp_path / "buffer.sqlite3") as buffer:
            with pytest.raises(MetricsError, match="EDGE_METRICS_PORT"):
                async with metrics_listener(buffer, EdgeMetrics(), "127.0.0.1", port):
                    pass


async def test_a_commit_the_disk_refuses_is_counted(tmp_path: Path) -> None:
    """A full disk (SQLite's max_page_count) refuses the commit: nothing is acknowledged, the
    refusal is counted, and the commit goes through once space is there again."""
    path = tmp_path / "buffer.sqlite3"
    metrics = EdgeMetrics()
    messages = [
        message("canteen/s1/scale/p1/data", scale_payload(i), mid=i + 1) for i in range(200)
    ]
    source = RecordingSource(path, messages)
    async with Buffer(path) as buffer:

        def limit_pages(extra: int) -> None:  # on the buffer's worker thread (owns the connection)
            connection = buffer._db()
            (used,) = connection.execute("PRAGMA page_count").fetchone()
            connection.execute(f"PRAGMA max_page_count={used + extra}")

        await buffer._call(lambda: limit_pages(0))
        retried = asyncio.Event()

        async def sleep(_: float) -> None:  # the committer's wait before retrying: free space
            await buffer._call(lambda: limit_pages(10_000))
            retried.set()

        committer = Committer(
            source,
            buffer,
            site="s1",
            person_key=KEY,
            commit_max_readings=200,
            commit_interval_ms=10,
            sleep=sleep,
            metrics=metrics,
        )
        async with asyncio.timeout(10):
            outcome = await committer.commit_next()
    assert retried.is_set()
    assert outcome.persisted == 200
    assert len(source.acks) == 200
    refused = metrics.registry.get_sample_value(
        "canteen_edge_buffer_write_errors_total", {"operation": "commit"}
    )
    assert refused == 1
