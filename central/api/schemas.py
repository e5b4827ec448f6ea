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
