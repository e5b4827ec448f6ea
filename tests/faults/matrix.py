"""Shared parts of the fault matrix: a one-site stack of real processes, the truth, the checks.

Every case compares what the simulator published (its ground truth) with what central stored
(`/stats` readings, exactly) and with the KPIs central computes (diners, trays, masses, energy),
because central's primary key makes a double count impossible in the store but not in a wrong KPI.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from edge.buffer import read_status
from harness.compare import compare_site_day, format_table
from harness.ports import wait_for_port
from harness.processes import ManagedProcess, wait_until
from harness.stack import Stack, StackSettings

SITE = "site-01"
TOLERANCE = 0.001  # masses and energy within 0.1%; counts exactly
SECONDS_PER_DAY = 86_400

# CANTEEN_FULL_FAULT_MATRIX=1 runs every kill point (slower); the default keeps the suite fast.
FULL = os.environ.get("CANTEEN_FULL_FAULT_MATRIX", "") == "1"


@contextmanager
def one_site_stack(workdir: Path, **edge_env: str) -> Iterator[Stack]:
    settings = StackSettings(workdir=workdir, sites=(SITE,), edge_env=dict(edge_env))
    with Stack(settings) as stack:
        yield stack


class SimulatorRun:
    """The simulator as a process (so that the test can kill things while it publishes)."""

    def __init__(self, stack: Stack, *, day: str, seed: int, speed: float, name: str) -> None:
        self.truth_path = stack.workdir / f"truth-{name}.json"
        args = stack.simulator_args(
            start_date=day, days=1, seed=seed, speed=speed, truth_path=self.truth_path
        )
        self.day = day
        self.process = ManagedProcess(name, args, {}, stack.log_dir)
        self.process.start()

    def running(self) -> bool:
        return self.process.running()

    def finish(self, timeout_s: float = 120) -> dict[str, Any]:
        code = self.process.wait(timeout_s)
        assert code == 0, f"simulator failed ({code}):\n{self.process.log_tail()}"
        truth: dict[str, Any] = json.loads(self.truth_path.read_text())
        return truth

    def stop(self) -> None:
        self.process.stop()


def published(truth: dict[str, Any], site: str = SITE) -> int:
    count: int = truth["sites"][site]["published"]["readings"]
    return count


def stored(stack: Stack, site: str = SITE) -> int:
    with httpx.Client(timeout=10) as client:
        return stack.stored_readings(client, site)


def edge_buffer(stack: Stack, site: str = SITE) -> Path:
    return Path(stack.edges[site].env["EDGE_BUFFER_PATH"])


def edge_status(stack: Stack, site: str = SITE) -> dict[str, Any]:
    """`canteen-edge status` of a site's buffer, as an operator would run it."""
    result = subprocess.run(
        [sys.executable, "-m", "edge", "status", "--buffer", str(edge_buffer(stack, site))],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def buffer_state(stack: Stack, site: str = SITE) -> dict[str, Any]:
    """The same numbers, read in-process (cheap enough to poll)."""
    return read_status(edge_buffer(stack, site)).as_dict()


def edge_log(stack: Stack, site: str = SITE) -> str:
    return stack.edges[site].log_path.read_text(errors="replace")


def restart_central(stack: Stack) -> None:
    assert stack.central is not None
    stack.central.start()
    wait_for_port(stack.settings.central_host, stack.central_port, timeout_s=30)


def wait_stored(stack: Stack, expected: int, timeout_s: float = 90, site: str = SITE) -> None:
    """Wait until central stores `expected` readings of the site; fail if it stores more."""

    def done() -> bool:
        stack.check_alive()
        count = stored(stack, site)
        assert count <= expected, f"central stores {count} readings, more than {expected}"
        return count == expected

    wait_until(done, timeout_s, interval_s=0.3)


def assert_kpis_equal_truth(stack: Stack, truth: dict[str, Any], site: str = SITE) -> None:
    """Every count exact, every mass and energy within 0.1%, for each service and the day."""
    rows = []
    for day, day_truth in truth["sites"][site]["days"].items():
        rows.extend(compare_site_day(site, day, stack.daily_kpis(site, day), day_truth))
    assert {row.scope for row in rows} == {"breakfast", "lunch", "dinner", "day"}
    failures = [row for row in rows if not row.ok(TOLERANCE)]
    assert not failures, "\n" + format_table(failures, TOLERANCE)
    meals = [row for row in rows if row.metric == "meals"]
    assert meals
    assert all(row.truth > 0 for row in meals)


def assert_nothing_lost_nothing_doubled(stack: Stack, *truths: dict[str, Any]) -> None:
    expected = sum(published(truth) for truth in truths)
    wait_stored(stack, expected)
    # Once the edge's buffer is empty nothing else can arrive: the count is final.
    wait_until(lambda: buffer_state(stack)["pending"] == 0, 60, interval_s=0.3)
    assert stored(stack) == expected
    for truth in truths:
        assert_kpis_equal_truth(stack, truth)
