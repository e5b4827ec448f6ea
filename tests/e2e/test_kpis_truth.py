"""GET /api/v1/kpis over real processes equals the simulator's ground truth, per service and day.

Clean devices here: the fault-injection runs (issue 3's week at three sites with every fault on)
need the simulators' fault switches.
"""

from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.stack import Stack, StackSettings

pytestmark = pytest.mark.e2e

SERVICES = ("breakfast", "lunch", "dinner")  # the default services of the stack's sites
RELATIVE = 0.001  # masses and energy within 0.1% on clean data; counts exactly
ENERGY = {"electricity_kwh": "electricity_kwh", "gas_m3": "gas_m3", "water_m3": "water_m3"}
WASTE = {
    "plate": "plate_waste_g",
    "prep": "prep_waste_g",
    "overproduction": "overproduction_waste_g",
}


def close(measured: float | None, truth: float) -> bool:
    return measured is not None and abs(measured - truth) <= RELATIVE * max(abs(truth), 1.0)


def test_kpis_per_service_day_and_region_match_the_truth(tmp_path: Path) -> None:
    sites = ("site-01", "site-02")
    first, last = "2026-11-18", "2026-11-19"
    with Stack(StackSettings(workdir=tmp_path / "stack", sites=sites)) as stack:
        truth = stack.run_simulator(start_date=first, days=2, seed=11, speed=0, timeout_s=180)
        stack.wait_delivered(truth, timeout_s=180)
        with httpx.Client(
            base_url=stack.central_url, timeout=30, headers=stack.read_headers
        ) as client:
            reports = {
                site: client.get(
                    "/api/v1/kpis",
                    params={
                        "site": site,
                        "period": "custom",
                        "start": first,
                        "end": last,
                        "granularity": "service",
                    },
                ).json()
                for site in sites
            }
            region = client.get(
                "/api/v1/kpis",
                params={"region": "province:Zhejiang", "period": "custom", "start": first,
                        "end": last, "granularity": "day"},
            ).json()  # fmt: skip
            dishes = {
                (site, group): client.get(
                    "/api/v1/dishes",
                    params={"site": site, "period": "custom", "start": first, "end": last,
                            "group": group, "stream": "overproduction", "top": 100},
                ).json()
                for site in sites
                for group in ("item", "reason")
            }  # fmt: skip
            per_service = {
                (site, service): client.get(
                    "/api/v1/dishes",
                    params={"site": site, "period": "custom", "start": first, "end": last,
                            "stream": "overproduction", "service": service, "top": 100},
                ).json()
                for site in sites
                for service in SERVICES
            }  # fmt: skip
        stack.check_alive()

    mismatches: list[str] = []
    compared = 0
    for site in sites:
        days: dict[str, Any] = truth["sites"][site]["days"]
        for row in reports[site]["rows"]:
            expected = days[row["label"]]["services"][row["service"]]
            kpis = row["kpis"]
            checks = [
                ("diners", float(expected["diners"]), True),
                ("trays", float(expected["trays"]), True),
                ("clean_plates", float(expected["clean_plates"]), True),
                *((WASTE[k], v, False) for k, v in expected["waste_g"].items()),
                *((ENERGY[k], v, False) for k, v in expected["energy"].items()),
            ]
            for name, value, exact in checks:
                compared += 1
                got = kpis[name]["value"]
                if (got != value) if exact else not close(got, value):
                    mismatches.append(
                        f"{site} {row['label']} {row['service']} {name}: {got} != {value}"
                    )
            assert row["quality"]["duplicates_dropped"] >= 0
        total = reports[site]["total"]
        meals = sum(d["day"]["meals"] for d in days.values())
        spoilage = sum(d["day"]["waste_g"]["spoilage"] for d in days.values())
        assert total["kpis"]["diners"]["value"] == meals
        assert close(total["kpis"]["spoilage_waste_g"]["value"], spoilage)
        assert total["quality"]["completeness_pct"] == pytest.approx(100.0)
        assert total["quality"]["resets"] == total["quality"]["spikes"] == 0
        # the kitchen terminal's tagged pans: overproduction per dish and per reason
        by_item: dict[str, float] = {}
        for day in days.values():
            for service in day["services"].values():
                for item, grams in service["overproduction_by_item_g"].items():
                    by_item[item] = by_item.get(item, 0.0) + grams
        rows = {r["key"]: r for r in dishes[site, "item"]["rows"]}
        assert set(rows) == set(by_item)
        for item, grams in by_item.items():
            compared += 1
            if not close(rows[item]["mass_g"], grams):
                mismatches.append(f"{site} dish {item}: {rows[item]['mass_g']} != {grams}")
        (reason,) = dishes[site, "reason"]["rows"]
        assert reason["key"] == "overproduced"
        assert close(reason["mass_g"], sum(by_item.values()))
        # and per meal service
        for name in SERVICES:
            in_service: dict[str, float] = {}
            for day in days.values():
                for item, grams in day["services"][name]["overproduction_by_item_g"].items():
                    in_service[item] = in_service.get(item, 0.0) + grams
            got = {r["key"]: r["mass_g"] for r in per_service[site, name]["rows"]}
            assert set(got) == set(in_service), f"{site} {name}"
            for item, grams in in_service.items():
                compared += 1
                if not close(got[item], grams):
                    mismatches.append(f"{site} {name} dish {item}: {got[item]} != {grams}")
    assert compared > 0
    assert not mismatches, "\n".join(mismatches)
    assert region["sites"] == list(sites)
    all_meals = sum(d["day"]["meals"] for s in sites for d in truth["sites"][s]["days"].values())
    assert region["total"]["kpis"]["diners"]["value"] == all_meals
