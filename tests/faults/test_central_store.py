"""Central's store file deleted while central runs (issue 13): no batch is acknowledged into the
deleted file, /health says so, and after a restart every reading the edge kept arrives."""

from pathlib import Path

import httpx
import pytest

from harness.processes import wait_until
from tests.faults.matrix import (
    SECONDS_PER_DAY,
    SimulatorRun,
    assert_nothing_lost_nothing_doubled,
    buffer_state,
    one_site_stack,
    published,
    restart_central,
    wait_stored,
)

pytestmark = pytest.mark.e2e


def test_a_deleted_store_file_acknowledges_nothing_more_and_a_restart_loses_nothing(
    tmp_path: Path,
) -> None:
    # short backoff: after the restart the edge retries within seconds
    with one_site_stack(tmp_path / "stack", EDGE_BACKOFF_MAX_S="2") as stack:
        central = stack.central
        assert central is not None
        before = SimulatorRun(
            stack, day="2026-11-18", seed=5, speed=SECONDS_PER_DAY / 6, name="before"
        ).finish()
        wait_stored(stack, published(before))
        # and acknowledged: a batch central stored but whose 200 the edge has not taken yet would
        # stay pending after the deletion below
        wait_until(lambda: buffer_state(stack)["pending"] == 0, 60)
        # `rm central.sqlite3` while central runs (what it stored so far goes with the file)
        (stack.workdir / "central" / "central.sqlite3").unlink()
        health = httpx.get(f"{stack.central_url}/api/v1/health", timeout=10)
        assert health.status_code == 503
        assert "was deleted while central was running" in health.json()["reason"]

        after = SimulatorRun(
            stack, day="2026-11-19", seed=6, speed=SECONDS_PER_DAY / 6, name="after"
        ).finish()
        # every reading published after the deletion stays in the edge's buffer: central answered
        # 503 to each batch instead of 200 into the deleted file
        expected = published(after)
        total = published(before) + expected
        wait_until(lambda: buffer_state(stack)["counters"]["persisted"] == total, 60)
        assert buffer_state(stack)["pending"] == expected
        assert "was deleted while central was running" in central.log_path.read_text()

        central.stop()  # a routine restart: central opens a new, empty file
        restart_central(stack)
        assert_nothing_lost_nothing_doubled(stack, after)
