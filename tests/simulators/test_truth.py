"""truth: the JSON shape of docs/architecture.md and the atomic write."""

import json
from datetime import date
from pathlib import Path

import pytest

from contract.topics import DeviceKind
from simulators.canteen import plan_site_days
from simulators.registry import Site
from simulators.truth import GroundTruth

START = date(2026, 11, 20)

# Keys of docs/architecture.md, "Simulator ground truth".
SERVICE_KEYS = {
    "diners", "trays", "clean_plates", "waste_g", "energy", "gap_energy",
    "menu", "habit_diners", "cooked_g", "overproduction_by_item_g", "meeting",
}  # fmt: skip
DAY_KEYS = {"meals", "trays", "clean_plates", "waste_g", "energy", "gap_energy"}
FAULTS = {
    "meter_reset",
    "meter_wrap",
    "meter_spike",
    "meter_dip",
    "meter_gap",
    "duplicate",
    "device_reboot",
    "late",
    "double_swipe",
    "visitor",
    "clock_skew",
    "scale_drift",
}
ENERGY_KEYS = {"electricity_kwh", "gas_m3", "water_m3"}


def _truth(sites: tuple[Site, ...]) -> GroundTruth:
    truth = GroundTruth(seed=42, start_date=START, days=1, site_ids=tuple(s.id for s in sites))
    for site in sites:
        for plan in plan_site_days(site, seed=42, start_date=START, days=1):
            truth.add_day(site.id, plan.frame.day, plan.truth)
    truth.count_published(sites[0].id, DeviceKind.METER, 3)
    truth.count_published(sites[0].id, DeviceKind.CARD)
    return truth


def test_json_has_the_documented_shape(sites: tuple[Site, ...]) -> None:
    document = _truth(sites).to_json()
    assert (document["seed"], document["start_date"], document["days"]) == (42, "2026-11-20", 1)
    assert set(document["sites"]) == {"s1", "s2"}
    s1 = document["sites"]["s1"]
    assert s1["published"] == {"readings": 4, "scale": 0, "card": 1, "meter": 3}
    assert s1["faults"] == dict.fromkeys(FAULTS, 0)
    assert s1["fault_readings"] == {"late": 0, "meter_gap": 0, "clock_skew": 0}
    assert s1["bin_events"] == {"emptyings": 0, "unstable_readings": 0}
    day = s1["days"]["2026-11-20"]
    assert set(day) == {"services", "day", "faults", "fault_readings", "bin_events"}
    assert day["faults"] == dict.fromkeys(FAULTS, 0)
    assert set(day["services"]) == {"breakfast", "lunch", "dinner"}
    for service in day["services"].values():
        assert set(service) == SERVICE_KEYS
        assert set(service["waste_g"]) == {"plate", "prep", "overproduction"}
        assert set(service["energy"]) == ENERGY_KEYS
        assert service["gap_energy"] == dict.fromkeys(ENERGY_KEYS, 0.0)
    assert set(day["day"]) == DAY_KEYS
    assert set(day["day"]["waste_g"]) == {"plate", "prep", "overproduction", "spoilage"}
    assert set(day["day"]["energy"]) == ENERGY_KEYS
    assert day["day"]["meals"] == sum(s["diners"] for s in day["services"].values())
    assert set(document["sites"]["s2"]["days"]["2026-11-20"]["services"]) == {"lunch", "supper"}


def test_write_is_atomic_and_complete(sites: tuple[Site, ...], tmp_path: Path) -> None:
    target = tmp_path / "out" / "truth.json"
    target.parent.mkdir()
    target.write_text("previous run")
    truth = _truth(sites)
    truth.write(target)
    assert json.loads(target.read_text()) == truth.to_json()
    assert [p.name for p in target.parent.iterdir()] == ["truth.json"]


def test_a_failed_write_leaves_the_previous_file_and_no_temp(
    sites: tuple[Site, ...], tmp_path: Path
) -> None:
    target = tmp_path / "truth.json"
    target.write_text("previous run")
    truth = _truth(sites)
    truth.seed = float("nan")  # type: ignore[assignment]  # json refuses NaN: the write fails midway
    with pytest.raises(ValueError, match="not JSON compliant"):
        truth.write(target)
    assert target.read_text() == "previous run"
    assert [p.name for p in tmp_path.iterdir()] == ["truth.json"]
