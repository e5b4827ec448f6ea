"""Pydantic response models of the HTTP API (UploadBatch and IngestResult live in contract/)."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from central.registry import Site


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class ErrorDetail(BaseModel):
    """Every error central answers on purpose: one readable sentence."""

    detail: str


class Health(BaseModel):
    status: Literal["ok", "unavailable"] = Field(
        description="unavailable (HTTP 503): the store cannot take writes now"
    )
    store: str = Field(description="reading store backend")
    sites: int = Field(description="sites in the registry")
    reason: str | None = Field(default=None, description="why the store is unavailable")


class ServiceInfo(BaseModel):
    name: str
    start: str = Field(description="local time HH:MM")
    end: str = Field(description="local time HH:MM")
    grace_min: int
    prep_lead_min: int


class Period(BaseModel):
    """Inclusive local dates."""

    start: date
    end: date


class SiteInfo(BaseModel):
    id: str
    name: str
    timezone: str
    registered_staff: int
    services: list[ServiceInfo]
    region: dict[str, str] = Field(default_factory=dict, description="region tags (key: value)")
    baseline: Period | None = Field(
        default=None, description="the baseline period of the site's KPI trends (F9), if any"
    )

    @classmethod
    def of(cls, site: Site) -> "SiteInfo":
        return cls(
            id=site.id,
            name=site.name,
            timezone=site.timezone.key,
            registered_staff=site.registered_staff,
            services=[
                ServiceInfo(
                    name=s.name,
                    start=s.start.strftime("%H:%M"),
                    end=s.end.strftime("%H:%M"),
                    grace_min=s.grace_min,
                    prep_lead_min=s.prep_lead_min,
                )
                for s in site.services
            ],
            region=dict(site.region),
            baseline=(
                Period(start=site.kpi.baseline[0], end=site.kpi.baseline[1])
                if site.kpi.baseline
                else None
            ),
        )


class SiteStats(BaseModel):
    """Stored and rejected readings of a site over all time."""

    site: str
    readings: int
    rejected: int


class Energy(_Out):
    """Consumption; null when the site has no meter of that quantity."""

    electricity_kwh: float | None
    gas_m3: float | None
    water_m3: float | None


class EnergyPerMeal(_Out):
    """E1-E3; null without meals."""

    electricity_kwh: float | None
    gas_m3: float | None
    water_l: float | None


class ServiceWaste(_Out):
    """Grams per stream."""

    plate: float
    prep: float
    overproduction: float


class ServiceWastePerDiner(_Out):
    """F1-F4 in g/diner; null without diners."""

    plate: float | None
    prep: float | None
    overproduction: float | None
    total: float | None


class DayWaste(_Out):
    plate: float
    prep: float
    overproduction: float
    spoilage: float


class DayWastePerDiner(_Out):
    plate: float | None
    prep: float | None
    overproduction: float | None
    spoilage: float | None
    total: float | None


class ServiceKpis(_Out):
    service: str
    diners: int = Field(description="distinct persons with a card transaction in [start, end)")
    trays: int
    clean_plates: int
    clean_plate_rate_pct: float | None = Field(description="null when no tray was weighed")
    waste_g: ServiceWaste
    waste_per_diner_g: ServiceWastePerDiner
    energy: Energy
    energy_per_meal: EnergyPerMeal


class DayKpis(_Out):
    meals: int = Field(description="sum of the services' distinct diners")
    trays: int
    clean_plates: int
    clean_plate_rate_pct: float | None
    waste_g: DayWaste
    waste_per_diner_g: DayWastePerDiner
    energy: Energy
    energy_per_meal: EnergyPerMeal
    off_hours_energy: Energy = Field(description="E8: the day minus the services' energy windows")


class DailyKpis(_Out):
    """One site's KPIs for one local date (docs/architecture.md). Values are not rounded."""

    site: str
    date: date
    timezone: str
    services: list[ServiceKpis]
    day: DayKpis
    readings: int = Field(description="stored readings with a device time in the local day")
