"""Compares the KPIs central serves with the simulator's ground truth, metric by metric."""

from dataclasses import dataclass
from typing import Any

COUNTS = ("diners", "trays", "clean_plates")
DAY_COUNTS = ("meals", "trays", "clean_plates")
ENERGY = (("electricity_kwh", "kWh"), ("gas_m3", "m3"), ("water_m3", "m3"))


@dataclass(frozen=True, slots=True)
class Comparison:
    site: str
    date: str
    scope: str  # a service name, or "day"
    metric: str
    unit: str
    measured: float | None
    truth: float
    exact: bool  # counts must match exactly; masses and energy within a tolerance

    @property
    def relative_error(self) -> float:
        if self.measured is None:
            return float("inf")
        if self.truth == 0:
            return 0.0 if self.measured == 0 else float("inf")
        return abs(self.measured - self.truth) / abs(self.truth)

    def ok(self, tolerance: float) -> bool:
        if self.exact:
            return self.measured == self.truth
        return self.relative_error <= tolerance


def _rows_for(
    site: str,
    date: str,
    scope: str,
    measured: dict[str, Any],
    truth: dict[str, Any],
    counts: tuple[str, ...],
) -> list[Comparison]:
    rows: list[Comparison] = []

    def add(metric: str, unit: str, value: Any, expected: float, exact: bool = False) -> None:
        rows.append(Comparison(site, date, scope, metric, unit, value, expected, exact))

    for name in counts:
        add(name, "count", measured.get(name), truth[name], exact=True)
    for stream, mass_g in truth["waste_g"].items():
        add(f"waste {stream}", "g", measured["waste_g"].get(stream), mass_g)
    for key, unit in ENERGY:
        add(key.split("_")[0], unit, measured["energy"].get(key), truth["energy"][key])
    # The KPIs a manager reads (docs/domain.md F1, F4, F6, E1-E3), derived from the truth's totals.
    diners = truth[counts[0]]
    if diners:
        per_diner = measured["waste_per_diner_g"]
        add("plate waste/diner", "g", per_diner["plate"], truth["waste_g"]["plate"] / diners)
        # F4: plate + prep + overproduction (spoilage has its own figure, docs/kpis.md)
        f4_g = sum(truth["waste_g"].get(s, 0.0) for s in ("plate", "prep", "overproduction"))
        add("total waste/diner", "g", per_diner["total"], f4_g / diners)
        per_meal = measured["energy_per_meal"]
        energy = truth["energy"]
        add(
            "electricity/meal",
            "kWh",
            per_meal["electricity_kwh"],
            energy["electricity_kwh"] / diners,
        )
        add("gas/meal", "m3", per_meal["gas_m3"], energy["gas_m3"] / diners)
        add("water/meal", "L", per_meal["water_l"], energy["water_m3"] * 1000 / diners)
    if truth["trays"]:
        rate = 100 * truth["clean_plates"] / truth["trays"]
        add("clean-plate rate", "%", measured["clean_plate_rate_pct"], rate)
    return rows


def compare_site_day(
    site: str, date: str, kpis: dict[str, Any], truth: dict[str, Any]
) -> list[Comparison]:
    """All comparisons for one site and local date: every service, then the day."""
    by_service = {service["service"]: service for service in kpis["services"]}
    rows: list[Comparison] = []
    for name, service_truth in truth["services"].items():
        measured = by_service.get(name)
        if measured is None:
            raise KeyError(f"central has no service {name!r} for {site} on {date}")
        rows.extend(_rows_for(site, date, name, measured, service_truth, COUNTS))
    rows.extend(_rows_for(site, date, "day", kpis["day"], truth["day"], DAY_COUNTS))
    return rows


def format_table(rows: list[Comparison], tolerance: float) -> str:
    """A fixed-width table a person can read in a terminal."""
    header = (
        f"{'site':<9} {'date':<10} {'scope':<10} {'metric':<24} "
        f"{'measured':>14} {'truth':>14} {'diff':>8}  ok"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        measured = "-" if row.measured is None else f"{row.measured:,.3f}".rstrip("0").rstrip(".")
        truth = f"{row.truth:,.3f}".rstrip("0").rstrip(".")
        diff = "" if row.exact else f"{row.relative_error * 100:.3f}%"
        mark = "yes" if row.ok(tolerance) else "NO"
        lines.append(
            f"{row.site:<9} {row.date:<10} {row.scope:<10} {f'{row.metric} ({row.unit})':<24} "
            f"{measured:>14} {truth:>14} {diff:>8}  {mark}"
        )
    return "\n".join(lines)
