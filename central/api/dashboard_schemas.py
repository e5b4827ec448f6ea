"""Pydantic response models of the read endpoints added for the dashboard (regions, load curve,
quota burn-down, device status)."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class RegionOut(BaseModel):
    tag: str = Field(description="key:value, as region= of /kpis, /ranking and /alerts expects")
    key: str
    value: str
    sites: list[str]
    offline_devices: dict[str, int] = Field(
        default_factory=dict,
        description="per site of `sites`: how many of its devices are offline now (latest status)",
    )


class DeviceStatusOut(BaseModel):
    device: str
    kind: str = Field(description="scale, card or meter")
    state: Literal["online", "offline", "unknown"] = Field(
        description="the latest status the edge forwarded; unknown: a registered device whose"
        " status central never received"
    )
    boot: str | None = Field(description="the boot the latest status names")
    since_ms: int | None = Field(
        description="when the device entered this state: epoch ms, the edge's receive time"
    )
    since: datetime | None = Field(description="since_ms in the site's local time, with offset")


class SiteDevicesOut(BaseModel):
    site: str
    devices: list[DeviceStatusOut]


class ServiceSpanOut(BaseModel):
    """A meal service on the date, local times with the UTC offset."""

    name: str
    start: datetime
    end: datetime
    energy_start: datetime = Field(description="start of its energy window (preparation)")


class QuantityCurveOut(BaseModel):
    quantity: str = Field(description="electricity, gas or water")
    unit: str = Field(description="kWh or m3, per interval")
    present: bool = Field(description="false when the site has no meter of this quantity")
    used: list[float] | None = Field(description="consumption per interval")
    estimated: list[float] | None = Field(
        description="the part of `used` spread over a meter gap (estimated, Q1)"
    )
    total: float | None = Field(description="the day's consumption: the sum of `used`")


class LoadCurveOut(BaseModel):
    site: str
    date: date
    timezone: str
    interval_min: int
    start: list[datetime] = Field(description="start of each interval, local time with offset")
    quantities: list[QuantityCurveOut]
    peak_demand_kw: float | None = Field(
        description="E9: the highest 15-minute average electric power of the day"
    )
    services: list[ServiceSpanOut]


class BurnPointOut(BaseModel):
    label: str
    start: date
    end: date
    used_kgce: float | None
    cumulative_kgce: float | None
    allowed_kgce: float | None = Field(description="quota prorated by days to the row's end")
    remaining_kgce: float | None = Field(description="quota - cumulative_kgce")


class BurnDownOut(BaseModel):
    period: str = Field(description="month or year")
    start: date
    end: date
    quota_kgce: float | None
    reason: str | None = Field(description="why quota_kgce is null")
    quota_use_pct: float | None = Field(
        description="E7 of the period to date, as GET /kpis answers it"
    )
    points: list[BurnPointOut]


class QuotaBurnDownOut(BaseModel):
    site: str
    date: date
    month: BurnDownOut
    year: BurnDownOut
