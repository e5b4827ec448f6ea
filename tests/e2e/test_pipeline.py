"""The whole path with real processes: simulator -> Mosquitto -> edge -> central -> KPIs."""

from pathlib import Path

import pytest

from harness.compare import compare_site_day, format_table
from harness.stack import Stack, StackSettings

pytestmark = pytest.mark.e2e

TOLERANCE = 0.001  # masses and energy within 0.1%; counts exactly


def test_a_simulated_day_at_two_sites_equals_the_ground_truth(tmp_path: Path) -> None:
    settings = StackSettings(workdir=tmp_path / "stack", sites=("site-01", "site-02"))
    day = "2026-11-18"
    with Stack(settings) as stack:
        truth = stack.run_simulator(start_date=day, days=1, seed=7, speed=0, timeout_s=180)
        stack.wait_delivered(truth, timeout_s=180)
        rows = []
        for site in settings.sites:
            kpis = stack.daily_kpis(site, day)
            rows.extend(compare_site_day(site, day, kpis, truth["sites"][site]["days"][day]))
            assert kpis["readings"] > 0
        stack.check_alive()
    # Every metric of every service and of the day was compared, none skipped.
    services = {row.scope for row in rows}
    assert services == {"breakfast", "lunch", "dinner", "day"}
    failures = [row for row in rows if not row.ok(TOLERANCE)]
    assert not failures, "\n" + format_table(failures, TOLERANCE)
    diners = [row for row in rows if row.metric == "meals"]
    assert all(row.truth > 0 for row in diners)
