"""The daily KPI view of a site (`GET /api/v1/sites/{site}/kpis/daily`): a thin mapper.

Every figure is taken from the rows of the one KPI pipeline (central.reporting.report, rows per
meal service, and the day's total row; names from central.kpi.values.CATALOGUE), so the daily view
and `/api/v1/kpis` can never disagree. Only the layout is the daily view's own: per service and
for the day, grouped by stream and quantity. Values are not rounded.

`waste_per_diner_g.total` is F4 (plate + prep + overproduction per diner), as everywhere: spoilage
is stock that spoiled before it was cooked, not waste of the meals served, so it has its own
figure (`day.waste_per_diner_g.spoilage`) and is not part of the total (docs/kpis.md).
"""

from collections.abc import Mapping
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from central.api.kpi_schemas import ROLLUPS_DESCRIPTION, RollupsOut, rollups_out
from central.kpi.report import Report, Row
from central.kpi.values import KpiValue

Kpis = Mapping[str, KpiValue]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Energy(_Out):
    """Consumption; null when the site has no meter of that quantity, or the day no meter
    reading and no estimated part (docs/kpis.md)."""

    electricity_kwh: float | None
    gas_m3: float | None
    water_m3: float | None

    @classmethod
    def of(cls, kpis: Kpis, prefix: str = "") -> "Energy":
        return cls(
            electricity_kwh=kpis[f"{prefix}electricity_kwh"].value,
            gas_m3=kpis[f"{prefix}gas_m3"].value,
            water_m3=kpis[f"{prefix}water_m3"].value,
        )


class EnergyPerMeal(_Out):
    """E1-E3; null without meals."""

    electricity_kwh: float | None
    gas_m3: float | None
    water_l: float | None

    @classmethod
    def of(cls, kpis: Kpis) -> "EnergyPerMeal":
        return cls(
            electricity_kwh=kpis["electricity_kwh_per_meal"].value,
            gas_m3=kpis["gas_m3_per_meal"].value,
            water_l=kpis["water_l_per_meal"].value,
        )


class ServiceWaste(_Out):
    """Grams per stream; null when the day holds no reading at all."""

    plate: float | None
    prep: float | None
    overproduction: float | None


class ServiceWastePerDiner(_Out):
    """F1-F4 in g/diner; null without diners."""

    plate: float | None
    prep: float | None
    overproduction: float | None
    total: float | None = Field(description="F4: plate + prep + overproduction per diner")


class DayWaste(ServiceWaste):
    spoilage: float | None


class DayWastePerDiner(ServiceWastePerDiner):
    spoilage: float | None = Field(description="spoiled stock per meal, not part of F4 (total)")


def _waste(kpis: Kpis) -> dict[str, float | None]:
    return {
        "plate": kpis["plate_waste_g"].value,
        "prep": kpis["prep_waste_g"].value,
        "overproduction": kpis["overproduction_waste_g"].value,
    }


def _per_diner(kpis: Kpis) -> dict[str, float | None]:
    return {
        "plate": kpis["plate_waste_per_diner_g"].value,
        "prep": kpis["prep_waste_per_diner_g"].value,
        "overproduction": kpis["overproduction_per_diner_g"].value,
        "total": kpis["waste_per_diner_g"].value,
    }


def _count(kpis: Kpis, name: str) -> int | None:
    """A count; null when the day holds no reading at all (missing, not zero: docs/kpis.md)."""
    value = kpis[name].value
    return None if value is None else round(value)


class ServiceKpis(_Out):
    service: str
    diners: int | None = Field(
        description="distinct persons with a card transaction in [start, end); null when the "
        "day holds no reading at all"
    )
    trays: int | None
    clean_plates: int | None
    clean_plate_rate_pct: float | None = Field(description="null when no tray was weighed")
    waste_g: ServiceWaste
    waste_per_diner_g: ServiceWastePerDiner
    energy: Energy
    energy_per_meal: EnergyPerMeal

    @classmethod
    def of(cls, row: Row) -> "ServiceKpis":
        if row.service is None:
            raise ValueError("a service view needs a row of one meal service")
        k = row.kpis
        return cls(
            service=row.service,
            diners=_count(k, "diners"),
            trays=_count(k, "trays"),
            clean_plates=_count(k, "clean_plates"),
            clean_plate_rate_pct=k["clean_plate_rate_pct"].value,
            waste_g=ServiceWaste(**_waste(k)),
            waste_per_diner_g=ServiceWastePerDiner(**_per_diner(k)),
            energy=Energy.of(k),
            energy_per_meal=EnergyPerMeal.of(k),
        )


class DayKpis(_Out):
    meals: int | None = Field(
        description="sum of the services' distinct diners; null when the day holds no reading"
    )
    trays: int | None = Field(description="every tray weighed in the local day [00:00, 24:00)")
    clean_plates: int | None
    clean_plate_rate_pct: float | None
    waste_g: DayWaste
    waste_per_diner_g: DayWastePerDiner
    energy: Energy
    energy_per_meal: EnergyPerMeal
    off_hours_energy: Energy = Field(description="E8: the day minus the services' energy windows")

    @classmethod
    def of(cls, row: Row) -> "DayKpis":
        k = row.kpis
        return cls(
            meals=_count(k, "diners"),
            trays=_count(k, "trays"),
            clean_plates=_count(k, "clean_plates"),
            clean_plate_rate_pct=k["clean_plate_rate_pct"].value,
            waste_g=DayWaste(**_waste(k), spoilage=k["spoilage_waste_g"].value),
            waste_per_diner_g=DayWastePerDiner(
                **_per_diner(k), spoilage=k["spoilage_per_diner_g"].value
            ),
            energy=Energy.of(k),
            energy_per_meal=EnergyPerMeal.of(k),
            off_hours_energy=Energy.of(k, prefix="off_hours_"),
        )


class DailyKpis(_Out):
    """One site's KPIs for one local date, from the same rows as /api/v1/kpis. Not rounded."""

    site: str
    date: date
    timezone: str
    services: list[ServiceKpis]
    day: DayKpis
    readings: int = Field(
        description="stored readings attributed to the local day (device time, or receive time "
        "for a wrong device clock)"
    )
    rollups: RollupsOut | None = Field(description=ROLLUPS_DESCRIPTION)

    @classmethod
    def of(cls, timezone: str, report: Report, only_service: str | None = None) -> "DailyKpis":
        """The view of a one-date report with rows per service (Granularity.SERVICE)."""
        (site,) = report.sites
        return cls(
            site=site,
            date=report.span.first,
            timezone=timezone,
            services=[
                ServiceKpis.of(row)
                for row in report.rows
                if only_service is None or row.service == only_service
            ],
            day=DayKpis.of(report.total),
            readings=report.total.quality.readings_stored,
            rollups=rollups_out(report.rollups),
        )
