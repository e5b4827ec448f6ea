"""Wrong device clocks through the whole stack: detected from the edge's receive time, corrected.

The simulator and the edge share one simulated clock (harness.stack.SimClockPlan), so receive
times and device times are comparable even though a day runs in seconds. With `clock_skew`
injected (device clocks hours ahead, hours behind, or at 1970), the diners and waste central
reports still equal the ground truth, and `clock_corrected` counts exactly the skewed readings.
"""

from pathlib import Path

import httpx
import pytest

from harness.stack import SimClockPlan, Stack, StackSettings

pytestmark = pytest.mark.e2e

DAY = "2026-11-12"
SPEED = 3600.0  # a simulated day in 24 s; 90 min of tolerated delay is 1.5 s of wall time


def test_wrong_device_clocks_are_corrected_and_counted(tmp_path: Path) -> None:
    settings = StackSettings(
        workdir=tmp_path / "stack",
        sites=("site-01",),
        sim_clock=SimClockPlan(start_date=DAY, speed=SPEED),
    )
    with Stack(settings) as stack:
        truth = stack.run_simulator(
            start_date=DAY,
            days=1,
            seed=11,
            speed=SPEED,
            timeout_s=180,
            faults="clock_skew",
            fault_rate=5.0,
        )
        stack.wait_delivered(truth, timeout_s=120)
        with httpx.Client(
            base_url=stack.central_url, timeout=60, headers=stack.read_headers
        ) as client:
            report = client.get(
                "/api/v1/kpis",
                params={"site": "site-01", "date": DAY, "granularity": "service"},
            )
            report.raise_for_status()
    site_truth = truth["sites"]["site-01"]
    skewed = site_truth["fault_readings"]["clock_skew"]
    assert site_truth["faults"]["clock_skew"] > 0, "the fault was not injected"
    assert skewed > 0
    body = report.json()
    day_truth = site_truth["days"][DAY]
    rows = {row["service"]: row for row in body["rows"]}
    for service, expected in day_truth["services"].items():
        kpis = rows[service]["kpis"]
        assert kpis["diners"]["value"] == expected["diners"], service
        for stream in ("plate", "prep", "overproduction"):
            measured = kpis[f"{stream}_waste_g"]["value"]
            assert measured == pytest.approx(expected["waste_g"][stream], rel=0.01), (
                service,
                stream,
            )
    total = body["total"]
    assert total["kpis"]["diners"]["value"] == day_truth["day"]["meals"]
    assert total["quality"]["clock_corrected"] == skewed
