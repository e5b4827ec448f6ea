"""The Prometheus endpoints scraped over HTTP after real traffic: a simulated day through
Mosquitto, a real edge (its /metrics listener on a free loopback port) and a real central. The
counters move and agree with what central stored; a dead letter and a refused upload are counted.
"""

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.ports import free_port
from harness.processes import wait_until
from harness.stack import Stack, StackSettings
from tests.edge.conftest import Publisher

pytestmark = pytest.mark.e2e

SITE = "site-01"
DAY = "2026-11-18"


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """{(sample name, labels): value} of one scrape; fails unless it is Prometheus text."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_edge_and_central_metrics_move_with_real_traffic(tmp_path: Path) -> None:
    edge_port = free_port()
    settings = StackSettings(
        workdir=tmp_path / "stack",
        sites=(SITE,),
        edge_env={"EDGE_METRICS_PORT": str(edge_port)},
        central_env={"CENTRAL_DAYCACHE_WARM_INTERVAL_S": "0.2"},
    )
    with Stack(settings) as stack:
        edge_url = f"http://127.0.0.1:{edge_port}/metrics"
        central_url = f"{stack.central_url}/metrics"
        before_edge, before_central = scrape(edge_url), scrape(central_url)
        assert value(before_edge, "canteen_edge_persisted_total") == 0
        assert value(before_central, "canteen_central_ingest_batches_total", site=SITE) == 0

        truth = stack.run_simulator(start_date=DAY, days=1, seed=3, speed=0, timeout_s=180)
        stack.wait_delivered(truth, timeout_s=180)
        with httpx.Client(timeout=10) as client:
            stored = stack.stored_readings(client, SITE)

        edge, central = scrape(edge_url), scrape(central_url)
        assert (
            value(edge, "canteen_edge_persisted_total")
            == truth["sites"][SITE]["published"]["readings"]
        )
        assert value(edge, "canteen_edge_uploaded_total") == value(
            edge, "canteen_edge_persisted_total"
        )
        assert value(edge, "canteen_edge_buffered_readings") == 0
        assert value(edge, "canteen_edge_upload_seconds_count") >= 1
        assert value(edge, "canteen_edge_last_upload_timestamp_seconds") > 0
        accepted = value(central, "canteen_central_readings_total", site=SITE, outcome="accepted")
        assert accepted == stored
        assert value(central, "canteen_central_ingest_batches_total", site=SITE) == value(
            edge, "canteen_edge_upload_seconds_count"
        )
        assert value(central, "canteen_central_ingest_seconds_count") >= 1

        # The rollup maintainer has looked at the stored days: the rollup lag is a number now.
        def cache_lag_known() -> bool:
            lag = value(scrape(central_url), "canteen_central_rollup_lag_seconds")
            return 0 <= lag < 60  # NaN (no pass yet) compares false

        wait_until(cache_lag_known, timeout_s=60)

        # A message the edge cannot read is dead-lettered, and counted.
        publisher = Publisher(stack.broker.host, stack.broker.port, client_id="metrics-test")
        try:
            publisher.publish_all([(f"canteen/{SITE}/scale/plate-1/data", b"not json")])
        finally:
            publisher.close()
        wait_until(
            lambda: value(scrape(edge_url), "canteen_edge_dead_lettered_total") == 1, timeout_s=30
        )
        assert value(scrape(edge_url), "canteen_edge_dead_letters") == 1

        # An upload with an unknown key is refused, and counted by route and status.
        refused = httpx.post(
            f"{stack.central_url}/api/v1/ingest",
            json={},
            headers={"Authorization": "Bearer not-a-key-of-any-edge"},
            timeout=10,
        )
        assert refused.status_code == 401
        after = scrape(central_url)
        assert (
            value(
                after,
                "canteen_central_requests_refused_total",
                route="ingest",
                status="401",
            )
            == 1
        )
        stack.check_alive()
