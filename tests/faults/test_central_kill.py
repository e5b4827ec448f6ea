"""kill -9 of central during ingest, restarted on the same port: nothing lost, nothing doubled."""

import random
import signal
import time
from pathlib import Path

import pytest

from tests.faults.matrix import (
    FULL,
    SECONDS_PER_DAY,
    SimulatorRun,
    assert_nothing_lost_nothing_doubled,
    one_site_stack,
    restart_central,
    stored,
)

pytestmark = pytest.mark.e2e

KILLS = 6 if FULL else 2


def test_central_killed_during_ingest_and_restarted(tmp_path: Path) -> None:
    rng = random.Random(7)
    # Small batches: central is in the middle of an ingest most of the time.
    with one_site_stack(tmp_path / "stack", EDGE_BATCH_MAX_READINGS="100") as stack:
        central = stack.central
        assert central is not None
        sim = SimulatorRun(
            stack, day="2026-11-18", seed=5, speed=SECONDS_PER_DAY / (KILLS * 2.5 + 3), name="sim"
        )
        for _ in range(KILLS):
            before = stored(stack)
            # Wait for ingest to be under way, then kill at a random moment within it.
            deadline = time.monotonic() + 30
            while stored(stack) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.4))
            central.kill(signal.SIGKILL)
            restart_central(stack)
        truth = sim.finish(timeout_s=180)
        assert_nothing_lost_nothing_doubled(stack, truth)
