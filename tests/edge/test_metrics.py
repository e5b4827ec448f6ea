"""The edge's /metrics listener over real HTTP on a free loopback port, with a real buffer file:
the buffer's counters as they are at the scrape, only GET/HEAD of /metrics answered, and a port
that cannot be bound refused at start with the settings named."""

import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.buffer import Buffer
from edge.metrics import EdgeMetrics, MetricsError, metrics_listener
from harness.ports import free_port


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
