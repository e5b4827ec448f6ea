"""kill -9 of the edge daemon at random moments and at the exact points where a bug would lose or
double a reading: between receipt and buffer commit, between commit and PUBACK, between central's
2xx and the buffer delete, and after the delete. Zero readings lost, zero counted twice."""

import random
import signal
import time
from pathlib import Path

import pytest

from edge import failpoints
from harness.processes import ManagedProcess
from tests.faults.matrix import (
    FULL,
    SECONDS_PER_DAY,
    SimulatorRun,
    assert_nothing_lost_nothing_doubled,
    edge_log,
    one_site_stack,
)

pytestmark = pytest.mark.e2e

RANDOM_KILLS = 12 if FULL else 2
FAILPOINT_ROUNDS = 3 if FULL else 1  # each round arms every failpoint once
RESTART_S = 1.5  # rough wall time of one kill and restart, to pace the simulated day


def kill_at_failpoint(edge: ManagedProcess, point: str, passage: int) -> None:
    """Restart the edge with `point` armed; it must die there by itself (exit 137)."""
    edge.env["EDGE_FAILPOINTS"] = f"{point}:{passage}"
    edge.start()
    code = edge.wait(timeout_s=30)
    assert code == failpoints.EXIT_CODE, f"edge exited with {code}:\n{edge.log_tail()}"
    edge.env.pop("EDGE_FAILPOINTS")


def kill_at_random(edge: ManagedProcess, rng: random.Random) -> None:
    edge.start()
    # The random moment is the point of this case, not a wait for a condition.
    time.sleep(rng.uniform(0.3, 1.6))
    edge.check_running()
    edge.kill(signal.SIGKILL)


def test_edge_killed_at_random_and_at_every_failpoint(tmp_path: Path) -> None:
    rng = random.Random(20261118)
    kills: list[str] = [p for _ in range(FAILPOINT_ROUNDS) for p in failpoints.POINTS]
    kills += ["random"] * RANDOM_KILLS
    rng.shuffle(kills)
    # The receive-side points need readings still arriving: put them first.
    kills.sort(key=lambda kind: kind not in failpoints.POINTS[:2])
    assert len(kills) >= (20 if FULL else 6)
    # Small commits and batches: many passages of every point per second.
    env = {
        "EDGE_COMMIT_MAX_READINGS": "40",
        "EDGE_BATCH_MAX_READINGS": "150",
        "EDGE_UPLOAD_INTERVAL_S": "0.2",
    }
    with one_site_stack(tmp_path / "stack", **env) as stack:
        edge = stack.edges["site-01"]
        # The day lasts about as long as the kills, so they fall while devices publish.
        speed = SECONDS_PER_DAY / (len(kills) * RESTART_S + 4)
        sim = SimulatorRun(stack, day="2026-11-18", seed=11, speed=speed, name="sim-kill")
        edge.kill(signal.SIGKILL)  # the first kill: at an arbitrary early moment
        done = ["random"]
        for kind in kills:
            if kind == "random":
                kill_at_random(edge, rng)
            else:
                kill_at_failpoint(edge, kind, rng.randint(1, 3))
            done.append(kind)
        edge.start()
        truth = sim.finish(timeout_s=180)
        assert_nothing_lost_nothing_doubled(stack, truth)
        log = edge_log(stack)
    # Each armed point was really reached and the process died there.
    for point in failpoints.POINTS:
        assert log.count(f"failpoint {point} reached") == done.count(point)
    assert len(done) == len(kills) + 1
