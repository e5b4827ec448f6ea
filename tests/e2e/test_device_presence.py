"""Device presence through the whole stack: the simulator's devices announce themselves online
(retained status), the simulator is killed, Mosquitto publishes each device's last will, and the
edge forwards each change to central, which lists the devices offline and raises
`device_offline` alerts with the time and the boot."""

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from harness.processes import ManagedProcess, wait_until
from harness.stack import Stack, StackSettings
from simulators.devices import DEVICE_BY_ID

pytestmark = pytest.mark.e2e

SITE = "site-01"
SPEED = 600.0  # a simulated minute in 0.1 s: meters report while the devices are up


def test_a_killed_device_connection_ends_as_device_offline_at_central(tmp_path: Path) -> None:
    settings = StackSettings(workdir=tmp_path / "stack", sites=(SITE,))
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    with (
        Stack(settings) as stack,
        httpx.Client(base_url=stack.central_url, headers=stack.read_headers, timeout=30) as client,
    ):

        def devices() -> dict[str, dict[str, Any]]:
            stack.check_alive()
            response = client.get(f"/api/v1/sites/{SITE}/devices")
            response.raise_for_status()
            return {d["device"]: d for d in response.json()["devices"]}

        args = stack.simulator_args(
            start_date=today, days=1, seed=5, speed=SPEED, truth_path=tmp_path / "truth.json"
        )
        with ManagedProcess("simulator", args, {}, stack.log_dir) as simulator:
            wait_until(
                lambda: (
                    {d for d, s in devices().items() if s["state"] == "online"} == set(DEVICE_BY_ID)
                ),
                timeout_s=60,
            )
            online = devices()
            wait_until(lambda: stack.stored_readings(client, SITE) > 0, timeout_s=60)
            # No DISCONNECT: the broker sees the connections die and publishes the last wills.
            simulator.kill()
            simulator.wait(10)
            wait_until(
                lambda: all(s["state"] == "offline" for s in devices().values()), timeout_s=60
            )
        offline = devices()
        alerts = client.get("/api/v1/alerts", params={"site": SITE, "date": today})
        alerts.raise_for_status()
        stack.check_alive()

    assert set(offline) == set(DEVICE_BY_ID)
    for device, status in offline.items():
        # the will names the boot of the session it ended; offline after being online
        assert status["boot"] == online[device]["boot"], device
        assert status["since_ms"] > online[device]["since_ms"], device
    found = {a["device"]: a for a in alerts.json()["alerts"] if a["kind"] == "device_offline"}
    assert set(found) == set(DEVICE_BY_ID)
    for device, alert in found.items():
        assert (alert["since_ms"], alert["boot"]) == (
            offline[device]["since_ms"],
            offline[device]["boot"],
        )
        assert "offline since" in alert["message"]
