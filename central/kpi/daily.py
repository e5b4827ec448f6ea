"""The daily report of one site (docs/architecture.md, `DailyKpis`), assembled from column arrays.

Nothing is rounded here: display rounding belongs to clients. Readings are attributed as in the
period reports: by their device time, except those whose device clock is wrong (docs/domain.md Q3,
central/kpi/clocks.py), attributed by the edge's receive time.
"""

from dataclasses import dataclass, replace
from datetime import date

from central.kpi import counters, energy, food
from central.kpi.clocks import correct_clocks
from central.kpi.rawbins import derive_deposits
from central.kpi.readings import SiteReadings, int_array
from central.kpi.scales import check_scales
from central.kpi.windows import DayWindows, ServiceWindows, Window
from central.registry import Site
from contract import Quantity, Stream

# Meter readings are loaded this far beyond the day's windows, so that C(t) can be interpolated
# at the boundaries even when no reading falls exactly on them.
METER_MARGIN_MS = 60 * 60_000


@dataclass(frozen=True, slots=True)
class Energy:
    """Consumption in canonical units; None when the site has no meter of that quantity."""

    electricity_kwh: float | None
    gas_m3: float | None
    water_m3: float | None


@dataclass(frozen=True, slots=True)
class EnergyPerMeal:
    """E1-E3; water in litres. None without meals."""

    electricity_kwh: float | None
    gas_m3: float | None
    water_l: float | None


@dataclass(frozen=True, slots=True)
class ServiceWaste:
    plate: float
    prep: float
    overproduction: float


@dataclass(frozen=True, slots=True)
class ServiceWastePerDiner:
    """F1-F4 in g/diner; None without diners."""

    plate: float | None
    prep: float | None
    overproduction: float | None
    total: float | None


@dataclass(frozen=True, slots=True)
class DayWaste:
    plate: float
    prep: float
    overproduction: float
    spoilage: float


@dataclass(frozen=True, slots=True)
class DayWastePerDiner:
    """Per meal of the day; None without meals."""

    plate: float | None
    prep: float | None
    overproduction: float | None
    spoilage: float | None
    total: float | None


@dataclass(frozen=True, slots=True)
class ServiceKpis:
    service: str
    diners: int
    trays: int
    clean_plates: int
    clean_plate_rate_pct: float | None
    waste_g: ServiceWaste
    waste_per_diner_g: ServiceWastePerDiner
    energy: Energy
    energy_per_meal: EnergyPerMeal


@dataclass(frozen=True, slots=True)
class DayKpis:
    meals: int
    trays: int
    clean_plates: int
    clean_plate_rate_pct: float | None
    waste_g: DayWaste
    waste_per_diner_g: DayWastePerDiner
    energy: Energy
    energy_per_meal: EnergyPerMeal
    off_hours_energy: Energy


@dataclass(frozen=True, slots=True)
class DailyKpis:
    site: str
    date: date
    timezone: str
    services: tuple[ServiceKpis, ...]
    day: DayKpis
    readings: int  # stored readings of every kind with a device time in the local day


def load_window(windows: DayWindows, margin_ms: int = METER_MARGIN_MS) -> Window:
    """The device-time range to load for a daily report: every window of the date, plus margins."""
    span = windows.span()
    return Window(span.start_ms - margin_ms, span.end_ms + margin_ms)


@dataclass(frozen=True, slots=True)
class _Curves:
    electricity: list[counters.MeterCurve]
    gas: list[counters.MeterCurve]
    water: list[counters.MeterCurve]

    def over(self, windows: tuple[Window, ...]) -> Energy:
        return Energy(
            electricity_kwh=_consumption(self.electricity, windows),
            gas_m3=_consumption(self.gas, windows),
            water_m3=_consumption(self.water, windows),
        )


def _consumption(curves: list[counters.MeterCurve], windows: tuple[Window, ...]) -> float | None:
    """Sum over meters and disjoint windows; None when the site has no such meter."""
    if not curves:
        return None
    starts = int_array([w.start_ms for w in windows])
    ends = int_array([w.end_ms for w in windows])
    return sum((float(c.between(starts, ends)[0].sum()) for c in curves), 0.0)


def _per_meal(used: Energy, meals: int) -> EnergyPerMeal:
    return EnergyPerMeal(
        electricity_kwh=energy.per_meal(used.electricity_kwh, meals),
        gas_m3=energy.per_meal(used.gas_m3, meals),
        water_l=energy.per_meal(used.water_m3, meals, factor=energy.LITRES_PER_M3),
    )


def service_kpis(
    site: Site, windows: ServiceWindows, readings: SiteReadings, curves: _Curves
) -> ServiceKpis:
    """One service's KPIs over its attribution windows."""
    diners = food.distinct_diners(readings.card, windows.diners)
    trays, clean = food.plate_trays(readings.scale, windows.plate, site.clean_plate_threshold_g)
    waste = ServiceWaste(
        plate=food.waste_mass_g(readings.scale, Stream.PLATE.value, windows.plate),
        prep=food.waste_mass_g(readings.scale, Stream.PREP.value, windows.prep),
        overproduction=food.waste_mass_g(
            readings.scale, Stream.OVERPRODUCTION.value, windows.overproduction
        ),
    )
    used = curves.over((windows.energy,))
    return ServiceKpis(
        service=windows.service,
        diners=diners,
        trays=trays,
        clean_plates=clean,
        clean_plate_rate_pct=food.clean_plate_rate_pct(trays, clean),
        waste_g=waste,
        waste_per_diner_g=ServiceWastePerDiner(
            plate=food.per_diner(waste.plate, diners),
            prep=food.per_diner(waste.prep, diners),
            overproduction=food.per_diner(waste.overproduction, diners),
            total=food.per_diner(waste.plate + waste.prep + waste.overproduction, diners),
        ),
        energy=used,
        energy_per_meal=_per_meal(used, diners),
    )


def daily_kpis(
    site: Site, windows: DayWindows, readings: SiteReadings, only_service: str | None = None
) -> DailyKpis:
    """The `DailyKpis` of `site` on `windows.date` from readings loaded over `load_window(windows)`.

    `day.meals` sums the services' distinct diners (one person at lunch and dinner is two meals);
    the day's trays, clean plates and waste count everything weighed in [00:00, 24:00) local.
    With `only_service`, `services` holds that service alone; `day` is always the whole day.
    """
    # the same dirty-data rules as the period reports (clocks.py, counters.py, rawbins.py,
    # scales.py)
    readings = correct_clocks(readings, site.kpi.clock).readings
    meters, exchanges = site.kpi.meters, site.kpi.exchanges
    curves = _Curves(
        electricity=counters.meter_curves(
            readings.meter, Quantity.ELECTRICITY.value, meters, exchanges
        ),
        gas=counters.meter_curves(readings.meter, Quantity.GAS.value, meters, exchanges),
        water=counters.meter_curves(readings.meter, Quantity.WATER.value, meters, exchanges),
    )
    stored = readings.count_between(windows.day.start_ms, windows.day.end_ms)
    # raw kitchen bins become deposits first (rawbins.py), then the rules of net readings apply
    deposits = derive_deposits(readings.scale, site.kpi.scales).readings
    readings = replace(readings, scale=check_scales(deposits, site.kpi.scales).kept)
    all_services = [service_kpis(site, sw, readings, curves) for sw in windows.services]
    meals = sum(s.diners for s in all_services)

    day = windows.day
    trays, clean = food.plate_trays(readings.scale, day, site.clean_plate_threshold_g)
    waste = DayWaste(
        plate=food.waste_mass_g(readings.scale, Stream.PLATE.value, day),
        prep=food.waste_mass_g(readings.scale, Stream.PREP.value, day),
        overproduction=food.waste_mass_g(readings.scale, Stream.OVERPRODUCTION.value, day),
        spoilage=food.waste_mass_g(readings.scale, Stream.SPOILAGE.value, day),
    )
    total_waste = waste.plate + waste.prep + waste.overproduction + waste.spoilage
    used = curves.over((day,))
    day_kpis = DayKpis(
        meals=meals,
        trays=trays,
        clean_plates=clean,
        clean_plate_rate_pct=food.clean_plate_rate_pct(trays, clean),
        waste_g=waste,
        waste_per_diner_g=DayWastePerDiner(
            plate=food.per_diner(waste.plate, meals),
            prep=food.per_diner(waste.prep, meals),
            overproduction=food.per_diner(waste.overproduction, meals),
            spoilage=food.per_diner(waste.spoilage, meals),
            total=food.per_diner(total_waste, meals),
        ),
        energy=used,
        energy_per_meal=_per_meal(used, meals),
        off_hours_energy=curves.over(windows.off_hours),
    )
    services = tuple(s for s in all_services if only_service is None or s.service == only_service)
    return DailyKpis(
        site=site.id,
        date=windows.date,
        timezone=site.timezone.key,
        services=services,
        day=day_kpis,
        readings=stored,
    )
