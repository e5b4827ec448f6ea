"""The KPIs of docs/domain.md (F1-F9, E1-E9) and the quality figures (Q1-Q4) of one report row.

Each value comes with its unit and, when it cannot be computed, None and the reason. The catalogue
below is the single list of KPI names: API fields, CSV columns and ranking keys all come from it.
"""

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from central.kpi.rawbins import AUTO_ZERO, EMPTYING, NEGATIVE_STEP, UNSTABLE
from central.kpi.reasons import Reason, no_quota, not_configured
from central.kpi.totals import Totals, device_skew, skew_of
from contract import Quantity, Stream

LITRES_PER_M3 = 1000.0
DAYS_PER_YEAR = 365.0

# name -> (docs/domain.md id, unit); the order is the order of CSV columns.
CATALOGUE: dict[str, tuple[str, str]] = {
    "diners": ("F7", "persons"),
    "attendance_pct": ("F7", "%"),
    "trays": ("F6", "trays"),
    "clean_plates": ("F6", "trays"),
    "clean_plate_rate_pct": ("F6", "%"),
    "plate_waste_g": ("F1", "g"),
    "prep_waste_g": ("F2", "g"),
    "overproduction_waste_g": ("F3", "g"),
    "spoilage_waste_g": ("", "g"),
    "plate_waste_per_diner_g": ("F1", "g/diner"),
    "prep_waste_per_diner_g": ("F2", "g/diner"),
    "overproduction_per_diner_g": ("F3", "g/diner"),
    "spoilage_per_diner_g": ("", "g/diner"),
    "waste_per_diner_g": ("F4", "g/diner"),
    "waste_rate_pct": ("F5", "%"),
    "waste_value_cny": ("F8", "CNY"),
    "waste_co2e_kg": ("F8", "kgCO2e"),
    "waste_change_vs_baseline_pct": ("F9", "%"),
    "electricity_kwh": ("E1", "kWh"),
    "gas_m3": ("E2", "m3"),
    "water_m3": ("E3", "m3"),
    "electricity_kwh_per_meal": ("E1", "kWh/meal"),
    "gas_m3_per_meal": ("E2", "m3/meal"),
    "water_l_per_meal": ("E3", "L/meal"),
    "energy_kgce": ("E4", "kgce"),
    "energy_kgce_per_meal": ("E4", "kgce/meal"),
    "co2_kg": ("E5", "kgCO2"),
    "co2_kg_per_meal": ("E5", "kgCO2/meal"),
    "energy_kgce_per_m2": ("E6", "kgce/m2"),
    "energy_kgce_per_m2_year": ("E6", "kgce/m2/year"),
    "energy_kgce_per_staff": ("E6", "kgce/person"),
    "energy_kgce_per_staff_year": ("E6", "kgce/person/year"),
    "quota_use_pct": ("E7", "%"),
    "off_hours_energy_kgce": ("E8", "kgce"),
    "off_hours_electricity_kwh": ("E8", "kWh"),
    "off_hours_gas_m3": ("E8", "m3"),
    "off_hours_water_m3": ("E8", "m3"),
    "off_hours_share_pct": ("E8", "%"),
    "peak_demand_kw": ("E9", "kW"),
}

# Why a KPI has no value: codes and texts in central/kpi/reasons.json (central.kpi.reasons)
NO_DINERS = Reason("no_diners")
NO_READINGS = Reason("no_readings")
NO_METER_READINGS = Reason("no_meter_readings")
NO_PRODUCTION = Reason("no_production")
NO_SERVICE = Reason("no_service")
NO_TRAYS = Reason("no_trays")
NO_ENERGY_USED = Reason("no_energy_used")
NO_BASELINE_DINERS = Reason("baseline_no_diners")
NO_BASELINE_WASTE = Reason("baseline_no_waste")


@dataclass(frozen=True, slots=True)
class KpiValue:
    """A KPI value with its unit; None with the reason when it cannot be computed."""

    id: str
    value: float | None
    unit: str
    # why value is None (`_missing`, from a central.kpi.reasons.Reason): in English, as a code
    # and its parameters (shared by every value missing for the same reason: read only)
    reason: str | None = None
    reason_code: str | None = None
    reason_params: dict[str, str] | None = None

    @property
    def why(self) -> Reason | None:
        return None if self.reason_code is None else Reason.of(self.reason_code, self.reason_params)


@dataclass(frozen=True, slots=True)
class Quality:
    """Data-quality figures of a row (docs/domain.md Q1-Q4), shown beside the KPIs."""

    completeness_pct: float | None  # Q1: meter readings received / expected
    meter_readings_received: int
    meter_readings_expected: int
    estimated_share_pct: float | None  # share of kgce that rests on gaps spread pro rata
    estimated_kgce: float | None
    estimated_electricity_kwh: float | None
    estimated_gas_m3: float | None
    estimated_water_m3: float | None
    resets: int  # Q2
    wraps: int
    spikes: int
    dips: int
    gaps: int
    exchanges: int
    readings_stored: int
    duplicates_dropped: int  # Q4
    duplicate_share_pct: float | None  # dropped / (stored + dropped)
    clock_skew_median_ms: float | None  # Q3: device time - edge receive time
    clock_skew_p95_abs_ms: float | None
    clock_corrected: int  # Q3: readings attributed by receive time (wrong clock)
    scale_rejected_below_division: int
    scale_rejected_above_max: int
    repeat_swipes: int  # card readings beyond one per diner and service: left out of D
    # raw kitchen bins (central.kpi.rawbins); rejected deposits count in scale_rejected_*
    raw_bin_emptyings: int = 0
    raw_bin_auto_zeros: int = 0
    raw_bin_unstable_ignored: int = 0
    raw_bin_negative_steps: int = 0


@dataclass(frozen=True, slots=True)
class DeviceFigures:
    """Q1, Q3 and Q4 of one device over a row."""

    kind: str
    device: str
    readings: int
    expected: int | None  # meters: from interval_s
    completeness_pct: float | None
    duplicates_dropped: int
    clock_skew_median_ms: float | None
    clock_skew_p95_abs_ms: float | None
    clock_corrected: int
    counter_events: Mapping[str, int] | None  # meters: resets, wraps, spikes, dips, gaps, ...
    # raw kitchen bins: emptyings, auto_zeros, unstable_ignored, negative_steps
    raw_bin_events: Mapping[str, int] | None = None


def device_figures(t: Totals) -> tuple[DeviceFigures, ...]:
    out = []
    for d in t.devices:
        figures = device_skew(d)
        out.append(
            DeviceFigures(
                kind=d.kind,
                device=d.device,
                readings=d.received,
                expected=d.expected,
                completeness_pct=d.received / d.expected * 100.0 if d.expected else None,
                duplicates_dropped=d.duplicates,
                clock_skew_median_ms=figures.median_ms,
                clock_skew_p95_abs_ms=figures.p95_abs_ms,
                clock_corrected=d.clock_corrected,
                counter_events=d.events,
                raw_bin_events=d.raw_events,
            )
        )
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _missing(name: str, reason: Reason | None) -> KpiValue:
    """A KPI without a value (immutable, so shared by every row that lacks it for `reason`)."""
    kpi_id, unit = CATALOGUE[name]
    if reason is None:
        return KpiValue(kpi_id, None, unit)
    return KpiValue(kpi_id, None, unit, reason.text, reason.code, reason.params_json)


def _none(value: float) -> float | None:
    return None if math.isnan(value) else value


# A formula gives a KPI's value of one row, or None (NaN) with the reason it has none.
Formula = Callable[[Totals], tuple[float | None, Reason | None]]
NO_METER = {q: Reason("no_meter", (("quantity", q.value),)) for q in Quantity}
NO_ENERGY = Reason("no_energy_meter")
SPOIL_REASON = Reason("spoilage_per_day")
OFF_HOURS_DAY = Reason("off_hours_per_day")
# the streams' and quantities' keys, looked up once (an enum member's `.value` is a descriptor
# call: ~30 per row of `derive` took a tenth of a site-year's day rows)
PLATE, PREP, OVER, SPOIL = (s.value for s in (Stream.PLATE, Stream.PREP, Stream.OVERPRODUCTION,
                                              Stream.SPOILAGE))  # fmt: skip
ELEC, GAS, WATER = (q.value for q in (Quantity.ELECTRICITY, Quantity.GAS, Quantity.WATER))
NO_ELEC, NO_GAS, NO_WATER = (NO_METER[q] for q in (Quantity.ELECTRICITY, Quantity.GAS,
                                                   Quantity.WATER))  # fmt: skip


def _region(t: Totals) -> bool:
    """Whether a setting's reason is for every site (a row of several)."""
    return t.sites > 1


def _per_meal(
    t: Totals, value: float, what: Reason, factor: float = 1.0
) -> tuple[float | None, Reason | None]:
    if math.isnan(value):
        return None, what
    if t.meals == 0:
        return None, NO_DINERS
    return value * factor / t.meals, None


def _f4_g(t: Totals) -> float:
    w = t.waste_g
    return w[PLATE] + w[PREP] + w[OVER]


def _per_diner(stream: str, reason: Reason = NO_DINERS) -> Formula:
    return lambda t: _per_meal(t, t.waste_g[stream], reason)


def _used(quantity: Quantity) -> Formula:
    key, reason = quantity.value, NO_METER[quantity]
    return lambda t: (t.used[key], reason)


def _off_hours(quantity: Quantity) -> Formula:
    key, reason = quantity.value, NO_METER[quantity]
    return lambda t: (t.off_hours[key], OFF_HOURS_DAY if t.is_service_row else reason)


def _area_reason(t: Totals) -> Reason:
    return NO_ENERGY if math.isnan(t.kgce) else not_configured("floor_area_m2", _region(t))


def _annual(t: Totals) -> float:
    return DAYS_PER_YEAR / t.days if t.days else math.nan


def _quota_use(t: Totals) -> tuple[float | None, Reason | None]:
    if math.isnan(t.kgce):
        return None, NO_ENERGY
    if t.quota_kgce > 0:
        return t.kgce / t.quota_kgce * 100.0, None
    return None, t.quota_reason or no_quota(_region(t))


def _off_share(t: Totals) -> tuple[float | None, Reason | None]:
    value = t.off_hours_kgce / t.kgce * 100.0 if t.kgce > 0 else None
    reason = OFF_HOURS_DAY if t.is_service_row else NO_ENERGY
    return value, reason if t.is_service_row or math.isnan(t.kgce) else NO_ENERGY_USED


# Every KPI of CATALOGUE, one formula each (in the order rows list them): `derive` computes all of
# a row, `kpi_value` one (a ranking's sites need only the ranked one).
FORMULAS: dict[str, Formula] = {
    "diners": lambda t: (float(t.meals), None),
    "attendance_pct": lambda t: (
        t.meals / t.staff_slots * 100.0 if t.staff_slots else None,
        NO_SERVICE,
    ),
    "trays": lambda t: (float(t.trays), None),
    "clean_plates": lambda t: (float(t.clean_plates), None),
    "clean_plate_rate_pct": lambda t: (
        t.clean_plates / t.trays * 100.0 if t.trays else None,
        NO_TRAYS,
    ),
    "plate_waste_g": lambda t: (t.waste_g[PLATE], None),
    "prep_waste_g": lambda t: (t.waste_g[PREP], None),
    "overproduction_waste_g": lambda t: (t.waste_g[OVER], None),
    "spoilage_waste_g": lambda t: (t.waste_g[SPOIL], SPOIL_REASON),
    "plate_waste_per_diner_g": _per_diner(PLATE),
    "prep_waste_per_diner_g": _per_diner(PREP),
    "overproduction_per_diner_g": _per_diner(OVER),
    "waste_per_diner_g": lambda t: _per_meal(t, _f4_g(t), NO_DINERS),
    "spoilage_per_diner_g": _per_diner(SPOIL, SPOIL_REASON),
    "waste_rate_pct": lambda t: (None, NO_PRODUCTION),
    "waste_value_cny": lambda t: (
        t.value_cny,
        not_configured("food_price_cny_per_kg", _region(t)),
    ),
    "waste_co2e_kg": lambda t: (
        t.food_co2e_kg,
        not_configured("food_co2e_kg_per_kg", _region(t)),
    ),
    "waste_change_vs_baseline_pct": lambda t: _vs_baseline(t, _f4_g(t), _region(t)),
    "electricity_kwh": _used(Quantity.ELECTRICITY),
    "off_hours_electricity_kwh": _off_hours(Quantity.ELECTRICITY),
    "gas_m3": _used(Quantity.GAS),
    "off_hours_gas_m3": _off_hours(Quantity.GAS),
    "water_m3": _used(Quantity.WATER),
    "off_hours_water_m3": _off_hours(Quantity.WATER),
    "electricity_kwh_per_meal": lambda t: _per_meal(t, t.used[ELEC], NO_ELEC),
    "gas_m3_per_meal": lambda t: _per_meal(t, t.used[GAS], NO_GAS),
    "water_l_per_meal": lambda t: _per_meal(t, t.used[WATER], NO_WATER, LITRES_PER_M3),
    "energy_kgce": lambda t: (t.kgce, NO_ENERGY),
    "energy_kgce_per_meal": lambda t: _per_meal(t, t.kgce, NO_ENERGY),
    "co2_kg": lambda t: (t.co2_kg, NO_ENERGY),
    "co2_kg_per_meal": lambda t: _per_meal(t, t.co2_kg, NO_ENERGY),
    "energy_kgce_per_m2": lambda t: (t.kgce / t.floor_area_m2, _area_reason(t)),
    "energy_kgce_per_m2_year": lambda t: (
        t.kgce / t.floor_area_m2 * _annual(t),
        _area_reason(t),
    ),
    "energy_kgce_per_staff": lambda t: (t.kgce / t.staff, NO_ENERGY),
    "energy_kgce_per_staff_year": lambda t: (t.kgce / t.staff * _annual(t), NO_ENERGY),
    "quota_use_pct": _quota_use,
    "off_hours_energy_kgce": lambda t: (
        t.off_hours_kgce,
        OFF_HOURS_DAY if t.is_service_row else NO_ENERGY,
    ),
    "off_hours_share_pct": _off_share,
    "peak_demand_kw": lambda t: (t.peak_kw, NO_ELEC),
}
if set(FORMULAS) != set(CATALOGUE):
    raise AssertionError("every KPI of CATALOGUE needs one formula")

# Missing, not zero (docs/kpis.md, "Missing, not zero", the one statement of the rule). Card
# readers and scales send only when used, so their counts and masses (and every figure per diner
# or per meal) are missing in a row without a reading of any kind: nothing shows the site was
# measuring; a row with any reading (a meter's periodic ones) keeps its 0. Energy is measured by
# meters: it is missing in a row without a meter reading unless the row lies in a gap the meter's
# readings on both sides bridge (its estimated part).
COUNTED = frozenset({
    "diners", "attendance_pct", "trays", "clean_plates", "clean_plate_rate_pct",
    "plate_waste_g", "prep_waste_g", "overproduction_waste_g", "spoilage_waste_g",
    "plate_waste_per_diner_g", "prep_waste_per_diner_g", "overproduction_per_diner_g",
    "waste_per_diner_g", "spoilage_per_diner_g", "waste_value_cny", "waste_co2e_kg",
    "waste_change_vs_baseline_pct", "electricity_kwh_per_meal", "gas_m3_per_meal",
    "water_l_per_meal", "energy_kgce_per_meal", "co2_kg_per_meal",
})  # fmt: skip
# metered KPI -> the estimated part of its row that shows the row lies in a bridged gap
_OF_QUANTITY = {
    ELEC: ("electricity_kwh", "off_hours_electricity_kwh", "electricity_kwh_per_meal",
           "peak_demand_kw"),
    GAS: ("gas_m3", "off_hours_gas_m3", "gas_m3_per_meal"),
    WATER: ("water_m3", "off_hours_water_m3", "water_l_per_meal"),
}  # fmt: skip
_OF_KGCE = (
    "energy_kgce", "energy_kgce_per_meal", "co2_kg", "co2_kg_per_meal", "energy_kgce_per_m2",
    "energy_kgce_per_m2_year", "energy_kgce_per_staff", "energy_kgce_per_staff_year",
    "quota_use_pct", "off_hours_energy_kgce", "off_hours_share_pct",
)  # fmt: skip


def _estimated(quantity: str) -> Callable[[Totals], float]:
    return lambda t: t.estimated[quantity]


METERED: dict[str, Callable[[Totals], float]] = {
    **{name: _estimated(q) for q, names in _OF_QUANTITY.items() for name in names},
    **dict.fromkeys(_OF_KGCE, lambda t: t.kgce_estimated),
}
if not (COUNTED | set(METERED)) <= set(CATALOGUE):
    raise AssertionError("COUNTED and METERED name KPIs of CATALOGUE")


def _counted(formula: Formula) -> Formula:
    return lambda t: (None, NO_READINGS) if t.readings == 0 else formula(t)


def _metered(formula: Formula, estimated: Callable[[Totals], float]) -> Formula:
    def gated(t: Totals) -> tuple[float | None, Reason | None]:
        part = estimated(t)
        if t.meter_received or part > 0:  # measured, or a bridged gap's estimate
            return formula(t)
        if t.readings == 0:
            return None, NO_READINGS
        # NaN: no meter of it in the row's span, which the formula's reason says
        return (None, NO_METER_READINGS) if part == 0 else formula(t)

    return gated


# A row with meter readings passes every gate, so it takes the formulas as they are (one check a
# row instead of one a KPI); any other row takes them gated.
_UNGATED = dict(FORMULAS)
for _name, _formula in _UNGATED.items():
    if _name in METERED:
        _formula = _metered(_formula, METERED[_name])
    FORMULAS[_name] = _counted(_formula) if _name in COUNTED else _formula


def _value(name: str, value: float | None, reason: Reason | None) -> KpiValue:
    if value is None or math.isnan(value):
        return _missing(name, reason)
    kpi_id, unit = CATALOGUE[name]
    return KpiValue(kpi_id, value, unit, None)


def kpi_value(t: Totals, name: str) -> KpiValue:
    """One KPI of CATALOGUE for one row (what `derive` gives for it)."""
    return _value(name, *(_UNGATED if t.meter_received else FORMULAS)[name](t))


def derive(t: Totals) -> dict[str, KpiValue]:
    """Every KPI of CATALOGUE for one row."""
    formulas = _UNGATED if t.meter_received else FORMULAS
    return {name: _value(name, *formula(t)) for name, formula in formulas.items()}


def _vs_baseline(t: Totals, f4_g: float, region: bool) -> tuple[float | None, Reason | None]:
    if math.isnan(t.baseline_waste_g):
        return None, not_configured("baseline", region)
    if t.baseline_meals == 0:
        return None, NO_BASELINE_DINERS
    if t.meals == 0:
        return None, NO_DINERS
    base = t.baseline_waste_g / t.baseline_meals
    if base == 0:
        return None, NO_BASELINE_WASTE
    return (1.0 - (f4_g / t.meals) / base) * 100.0, None


def quality(t: Totals) -> Quality:
    """Q1-Q4 of a row (and the estimated share of energy)."""
    skew = skew_of(t)
    received = t.readings + t.duplicates
    e, g, w = (t.estimated[q] for q in (ELEC, GAS, WATER))
    return Quality(
        completeness_pct=(
            t.meter_received / t.meter_expected * 100.0 if t.meter_expected else None
        ),
        meter_readings_received=t.meter_received,
        meter_readings_expected=t.meter_expected,
        estimated_share_pct=(
            t.kgce_estimated / t.kgce * 100.0 if not math.isnan(t.kgce) and t.kgce > 0 else None
        ),
        estimated_kgce=_none(t.kgce_estimated),
        estimated_electricity_kwh=_none(e),
        estimated_gas_m3=_none(g),
        estimated_water_m3=_none(w),
        resets=t.events["reset"],
        wraps=t.events["wrap"],
        spikes=t.events["spike"],
        dips=t.events["dip"],
        gaps=t.events["gap"],
        exchanges=t.events["exchange"],
        readings_stored=t.readings,
        duplicates_dropped=t.duplicates,
        duplicate_share_pct=t.duplicates / received * 100.0 if received else None,
        clock_skew_median_ms=skew.median_ms,
        clock_skew_p95_abs_ms=skew.p95_abs_ms,
        clock_corrected=t.clock_corrected,
        scale_rejected_below_division=t.scale_below_division,
        scale_rejected_above_max=t.scale_above_max,
        repeat_swipes=t.repeat_swipes,
        raw_bin_emptyings=t.raw_bin_events.get(EMPTYING, 0),
        raw_bin_auto_zeros=t.raw_bin_events.get(AUTO_ZERO, 0),
        raw_bin_unstable_ignored=t.raw_bin_events.get(UNSTABLE, 0),
        raw_bin_negative_steps=t.raw_bin_events.get(NEGATIVE_STEP, 0),
    )
