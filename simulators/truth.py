"""Ground truth of a run: what was simulated per site, date and service, shaped like the KPIs.

Written once, at the end of a complete run, atomically (temp file in the same directory, fsync,
rename), so a reader never sees a half-written or a cut-short truth (docs/architecture.md,
"Simulator ground truth").
"""

import json
import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from contract.topics import DeviceKind
from contract.units import Quantity, Stream

SERVICE_STREAMS = (Stream.PLATE, Stream.PREP, Stream.OVERPRODUCTION)
DAY_STREAMS = (*SERVICE_STREAMS, Stream.SPOILAGE)
ENERGY_KEYS: dict[Quantity, str] = {
    Quantity.ELECTRICITY: "electricity_kwh",
    Quantity.GAS: "gas_m3",
    Quantity.WATER: "water_m3",
}
_MASS_DECIMALS = 3
_ENERGY_DECIMALS = 6


def _waste_json(waste_g: Mapping[Stream, float], streams: tuple[Stream, ...]) -> dict[str, float]:
    return {s.value: round(waste_g.get(s, 0.0), _MASS_DECIMALS) for s in streams}


def _energy_json(energy: Mapping[Quantity, float]) -> dict[str, float]:
    return {key: round(energy.get(q, 0.0), _ENERGY_DECIMALS) for q, key in ENERGY_KEYS.items()}


@dataclass(frozen=True, slots=True)
class ServiceTruth:
    """One service on one date: distinct diners, trays, clean plates, true waste (g), energy."""

    diners: int
    trays: int
    clean_plates: int
    waste_g: Mapping[Stream, float]
    energy: Mapping[Quantity, float]
    menu: tuple[str, ...] = ()  # the dishes cooked (menu item codes)
    habit_diners: int = 0  # the fixed number the kitchen cooked for
    cooked_g: float = 0.0  # habit_diners x the planned portion
    # overproduction per dish, as the kitchen terminal tagged it (reason "overproduced")
    overproduction_by_item_g: Mapping[str, float] = field(default_factory=dict)
    meeting: bool = False  # a meeting brought extra diners to this service

    def to_json(self) -> dict[str, Any]:
        return {
            "diners": self.diners,
            "trays": self.trays,
            "clean_plates": self.clean_plates,
            "waste_g": _waste_json(self.waste_g, SERVICE_STREAMS),
            "energy": _energy_json(self.energy),
            "menu": list(self.menu),
            "habit_diners": self.habit_diners,
            "cooked_g": round(self.cooked_g, _MASS_DECIMALS),
            "overproduction_by_item_g": {
                k: round(v, _MASS_DECIMALS)
                for k, v in sorted(self.overproduction_by_item_g.items())
            },
            "meeting": self.meeting,
        }


@dataclass(frozen=True, slots=True)
class DayTruth:
    """One local date of one site: its services and the day over `[00:00, 24:00)`."""

    services: Mapping[str, ServiceTruth]
    meals: int
    trays: int
    clean_plates: int
    waste_g: Mapping[Stream, float]
    energy: Mapping[Quantity, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "services": {name: s.to_json() for name, s in self.services.items()},
            "day": {
                "meals": self.meals,
                "trays": self.trays,
                "clean_plates": self.clean_plates,
                "waste_g": _waste_json(self.waste_g, DAY_STREAMS),
                "energy": _energy_json(self.energy),
            },
        }


# Names of the injectable faults (simulators.faults.Fault), in the order the truth lists them.
FAULT_NAMES = (
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
)
# What raw kitchen bins did (--raw-bins): not faults, but what central's raw-bin figures count.
BIN_EVENT_NAMES = ("emptyings", "unstable_readings")
# Faults whose incidents span several readings: readings delayed (late), never sent (meter_gap),
# sent with a wrong device clock (clock_skew).
FAULT_READING_NAMES = ("late", "meter_gap", "clock_skew")
DAY_WINDOW = "day"


@dataclass(slots=True)
class FaultTally:
    """Faults injected into one site-day, and the true consumption no reading can place in time.

    `gap_energy` maps a window (a service name, or "day") to the consumption inside meter gaps.
    """

    counts: Counter[str] = field(default_factory=Counter)
    readings: Counter[str] = field(default_factory=Counter)
    gap_energy: dict[str, dict[Quantity, float]] = field(default_factory=dict)
    bins: Counter[str] = field(default_factory=Counter)  # BIN_EVENT_NAMES

    def add_gap_energy(self, window: str, quantity: Quantity, amount: float) -> None:
        per_window = self.gap_energy.setdefault(window, {})
        per_window[quantity] = per_window.get(quantity, 0.0) + amount


def _faults_json(counts: Counter[str]) -> dict[str, int]:
    return {name: counts[name] for name in FAULT_NAMES}


def _fault_readings_json(readings: Counter[str]) -> dict[str, int]:
    return {name: readings[name] for name in FAULT_READING_NAMES}


def _bin_events_json(bins: Counter[str]) -> dict[str, int]:
    return {name: bins[name] for name in BIN_EVENT_NAMES}


def _day_json(truth: DayTruth, tally: FaultTally) -> dict[str, Any]:
    document = truth.to_json()
    for name, entry in document["services"].items():
        entry["gap_energy"] = _energy_json(tally.gap_energy.get(name, {}))
    document["day"]["gap_energy"] = _energy_json(tally.gap_energy.get(DAY_WINDOW, {}))
    document["faults"] = _faults_json(tally.counts)
    document["fault_readings"] = _fault_readings_json(tally.readings)
    document["bin_events"] = _bin_events_json(tally.bins)
    return document


@dataclass(slots=True)
class SiteTruth:
    days: dict[date, DayTruth] = field(default_factory=dict)
    faults: dict[date, FaultTally] = field(default_factory=dict)
    published: Counter[DeviceKind] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        published: dict[str, int] = {"readings": sum(self.published.values())}
        published.update({kind.value: self.published[kind] for kind in DeviceKind})
        counts: Counter[str] = Counter()
        readings: Counter[str] = Counter()
        bins: Counter[str] = Counter()
        for tally in self.faults.values():
            counts.update(tally.counts)
            readings.update(tally.readings)
            bins.update(tally.bins)
        return {
            "days": {
                d.isoformat(): _day_json(t, self.faults.get(d, FaultTally()))
                for d, t in sorted(self.days.items())
            },
            "published": published,
            "faults": _faults_json(counts),
            "fault_readings": _fault_readings_json(readings),
            "bin_events": _bin_events_json(bins),
        }


class GroundTruth:
    """Accumulates the truth of a run: planned days, and data messages the broker acknowledged."""

    def __init__(
        self, *, seed: int, start_date: date, days: int, site_ids: tuple[str, ...]
    ) -> None:
        self.seed = seed
        self.start_date = start_date
        self.days = days
        self.sites: dict[str, SiteTruth] = {site: SiteTruth() for site in site_ids}

    def add_day(
        self, site_id: str, day: date, truth: DayTruth, faults: FaultTally | None = None
    ) -> None:
        self.sites[site_id].days[day] = truth
        if faults is not None:
            self.sites[site_id].faults[day] = faults

    def count_published(self, site_id: str, kind: DeviceKind, count: int = 1) -> None:
        self.sites[site_id].published[kind] += count

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "start_date": self.start_date.isoformat(),
            "days": self.days,
            "sites": {site: truth.to_json() for site, truth in self.sites.items()},
        }

    def write(self, path: Path) -> None:
        """Write atomically: readers see the previous file or the complete new one, never a part."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, sort_keys=False, allow_nan=False) + "\n"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
