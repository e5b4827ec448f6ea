"""Central away for a long outage, a full buffer, a damaged buffer file, a full disk.

Outage: a whole simulated day (24 h of devices at their real rates) is held by the edge, then
drains at the bounded rate while the next day's live readings keep being persisted and uploaded.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.settings import OverflowPolicy
from harness.processes import wait_until
from harness.stack import Stack
from tests.faults.matrix import (
    SECONDS_PER_DAY,
    SITE,
    SimulatorRun,
    assert_nothing_lost_nothing_doubled,
    buffer_state,
    edge_buffer,
    edge_log,
    edge_status,
    one_site_stack,
    published,
    restart_central,
    stored,
    wait_stored,
)

pytestmark = pytest.mark.e2e

DRAIN_READINGS_PER_S = 1500
BATCH = 100


# Between the backlog day and the live day (device time, UTC ms): 2026-11-21T00:00Z.
BETWEEN_DAYS_MS = int(datetime(2026, 11, 21, tzinfo=UTC).timestamp() * 1000)


def backlog_pending(stack: Stack, *, before_ms: int) -> int:
    """Readings still in the edge's buffer whose device time is before `before_ms`."""
    uri = f"{edge_buffer(stack).resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        connection.execute("PRAGMA busy_timeout=5000")
        (count,) = connection.execute(
            "SELECT COUNT(*) FROM pending WHERE json_extract(record, '$.device_time_ms') < ?",
            (before_ms,),
        ).fetchone()
    return int(count)


def readings_of_day(stack: Stack, day: str) -> int:
    count: int = stack.daily_kpis(SITE, day)["readings"]
    return count


def test_long_outage_is_held_then_drains_bounded_interleaved_with_live_data(
    tmp_path: Path,
) -> None:
    env = {
        "EDGE_UPLOAD_MAX_READINGS_PER_S": str(DRAIN_READINGS_PER_S),
        "EDGE_BATCH_MAX_READINGS": str(BATCH),
        "EDGE_UPLOAD_LIVE_SHARE": "0.25",
    }
    with one_site_stack(tmp_path / "stack", **env) as stack:
        central = stack.central
        assert central is not None
        central.kill(signal.SIGKILL)
        # 24 simulated hours while central is unreachable: all of it waits in the edge's buffer.
        backlog_day, live_day = "2026-11-18", "2026-11-25"
        backlog = SimulatorRun(stack, day=backlog_day, seed=21, speed=0, name="sim-backlog")
        backlog_truth = backlog.finish()
        held = published(backlog_truth)
        wait_until(lambda: buffer_state(stack)["pending"] == held, 60)
        assert buffer_state(stack)["counters"]["upload_failures"] > 0

        # The outage ends while the next day runs live (a day in ~12 s).
        live = SimulatorRun(
            stack, day=live_day, seed=22, speed=SECONDS_PER_DAY / 12, name="sim-live"
        )
        restart_central(stack)
        restarted = time.monotonic()
        persisted_at_restart = buffer_state(stack)["counters"]["persisted"]
        interleaved = False
        deadline = restarted + 120
        while backlog_pending(stack, before_ms=BETWEEN_DAYS_MS) > 0:
            # Live readings reach central while the backlog is still draining...
            if not interleaved and readings_of_day(stack, live_day) > 0:
                interleaved = backlog_pending(stack, before_ms=BETWEEN_DAYS_MS) > 0
            stack.check_alive()
            assert time.monotonic() < deadline, "the backlog did not drain"
            time.sleep(0.2)
        drain_s = time.monotonic() - restarted
        assert interleaved, "live readings waited for the whole backlog"
        # ...and the edge kept persisting them meanwhile.
        assert buffer_state(stack)["counters"]["persisted"] > persisted_at_restart
        # The drain respected its bound (a lower bound on time: load can only slow it down).
        assert drain_s >= 0.8 * held / DRAIN_READINGS_PER_S

        live_truth = live.finish(timeout_s=120)
        assert_nothing_lost_nothing_doubled(stack, backlog_truth, live_truth)


@pytest.mark.parametrize("policy", list(OverflowPolicy))
def test_a_full_buffer_drops_exactly_the_documented_readings(
    tmp_path: Path, policy: OverflowPolicy
) -> None:
    bound = 2000
    env = {"EDGE_BUFFER_MAX_READINGS": str(bound), "EDGE_OVERFLOW_POLICY": policy.value}
    with one_site_stack(tmp_path / "stack", **env) as stack:
        central = stack.central
        assert central is not None
        central.kill(signal.SIGKILL)
        truth = SimulatorRun(stack, day="2026-11-18", seed=3, speed=0, name="sim").finish()
        total = published(truth)
        assert total > bound
        wait_until(lambda: buffer_state(stack)["counters"]["received"] >= total, 60)
        status = edge_status(stack)  # what an operator sees: `canteen-edge status`
        stack.edges[SITE].check_running()  # the daemon keeps running
        assert status["pending"] == bound
        assert status["counters"]["dropped_overflow"] == total - bound
        assert "buffer full" in edge_log(stack)

        restart_central(stack)
        wait_stored(stack, bound)
        wait_until(lambda: buffer_state(stack)["pending"] == 0, 60)
        assert stored(stack) == total - status["counters"]["dropped_overflow"]


def test_a_damaged_buffer_file_is_set_aside_and_what_is_intact_is_delivered(
    tmp_path: Path,
) -> None:
    with one_site_stack(tmp_path / "stack") as stack:
        central, edge = stack.central, stack.edges[SITE]
        assert central is not None
        central.kill(signal.SIGKILL)
        truth = SimulatorRun(stack, day="2026-11-18", seed=4, speed=0, name="sim").finish()
        wait_until(lambda: buffer_state(stack)["pending"] == published(truth), 60)
        edge.stop()  # a clean stop checkpoints the WAL: the cut below hits stored readings
        path = edge_buffer(stack)
        with path.open("r+b") as file:
            file.truncate(path.stat().st_size * 2 // 3)  # power loss on storage that lied
        restart_central(stack)
        edge.start()
        # Until the edge has set the damaged file aside, reading it fails: wait for its word.
        wait_until(lambda: "set aside" in edge_log(stack), 60)
        assert buffer_state(stack)["counters"]["buffer_recoveries"] == 1
        salvaged = buffer_state(stack)["counters"]["salvaged_readings"]
        assert 0 < salvaged < published(truth)
        wait_stored(stack, salvaged)
        wait_until(lambda: buffer_state(stack)["pending"] == 0, 60)
        assert stored(stack) == salvaged
        stack.check_alive()
        assert list(path.parent.glob("buffer.sqlite3.damaged-*"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: a disk that can really fill up. Needs root (or CAP_SYS_ADMIN)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    result = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here (container without CAP_SYS_ADMIN?): {result.stderr}"
        )
    try:
        yield mount_point
    finally:
        subprocess.run([umount, "-l", str(mount_point)], check=False)


def test_a_full_disk_acknowledges_nothing_it_could_not_persist_and_resumes(
    tmp_path: Path, small_disk: Path
) -> None:
    buffer_path = small_disk / "buffer.sqlite3"
    env = {
        "EDGE_BUFFER_PATH": str(buffer_path),
        "EDGE_COMMIT_RETRY_S": "0.2",
        "EDGE_BACKOFF_MAX_S": "1",
    }
    with one_site_stack(tmp_path / "stack", **env) as stack:
        central = stack.central
        assert central is not None
        central.kill(signal.SIGKILL)  # nothing drains: the buffer only grows
        filler = small_disk / "filler"
        free = shutil.disk_usage(small_disk).free
        filler.write_bytes(b"\0" * (free - 600 * 1024))  # leave ~600 KiB: a few thousand readings
        truth = SimulatorRun(stack, day="2026-11-18", seed=8, speed=0, name="sim").finish()
        wait_until(lambda: "cannot persist" in edge_log(stack), 60)
        stack.edges[SITE].check_running()  # no crash loop
        held = buffer_state(stack)["pending"]
        assert held < published(truth)  # the rest waits, unacknowledged, at the broker

        filler.unlink()  # space freed: the edge resumes by itself
        restart_central(stack)
        assert_nothing_lost_nothing_doubled(stack, truth)
        assert "writable again" in edge_log(stack)
