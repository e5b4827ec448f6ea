"""Pydantic response models of the HTTP API (UploadBatch and IngestResult live in contract/)."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from central.registry import Site


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


class TargetsOut(BaseModel):
    """The site's goals from the registry, drawn as lines on the dashboard's charts; null when
    not configured."""

    waste_target_g_per_diner: float | None = Field(description="F4 target (waste per diner)")
    clean_plate_goal_pct: float | None = Field(description="F6 goal (clean-plate rate)")
    energy_quota_kgce_month: float | None = Field(description="E7 monthly energy quota")
    energy_quota_kgce_year: float | None = Field(description="E7 yearly energy quota")


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
    targets: TargetsOut | None = Field(default=None, description="the site's goals and quotas")

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
            targets=TargetsOut(
                waste_target_g_per_diner=site.kpi.waste_target_g_per_diner,
                clean_plate_goal_pct=site.kpi.clean_plate_goal_pct,
                energy_quota_kgce_month=site.kpi.energy_quota_kgce_month,
                energy_quota_kgce_year=site.kpi.energy_quota_kgce_year,
            ),
        )


class SiteStats(BaseModel):
    """Stored and rejected readings of a site over all time."""

    site: str
    readings: int
    rejected: int
