"""Pydantic response models of the read endpoints added for the dashboard (regions, load curve,
quota burn-down, device status)."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from central.api.kpi_schemas import ROLLUPS_DESCRIPTION, RollupsOut


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
    readings: Literal["reporting", "late", "silent"] | None = Field(
        default=None,
        description="meters: what their stored readings say on the date (device_silent and"
        " device_late alerts): reporting, late (all there, some arrived late after an outage)"
        " or silent; null for other devices",
    )


class SiteDevicesOut(BaseModel):
    site: str
    devices: list[DeviceStatusOut]


class EdgeHealthCountsOut(BaseModel):
    dropped_overflow: int = Field(description="readings dropped to the edge's buffer bound")
    dead_lettered: int = Field(description="messages the edge refused (bad topic or payload)")
    intake_pauses: int = Field(
        description="times the edge paused reading from its broker (backpressure, nothing lost)"
    )
    broker_sessions_lost: int = Field(
        description="times the broker had lost the edge's session: readings published until the"
        " edge subscribed again are lost"
    )


class EdgeHealthOut(BaseModel):
    edge: str
    measured_ms: int = Field(description="when the edge measured: epoch ms, the edge's clock")
    measured: datetime | None = Field(description="measured_ms in the site's local time")
    pending_readings: int = Field(description="readings in the edge's buffer, not yet confirmed")
    oldest_pending_age_s: float | None = Field(
        description="age of the oldest of them when measured (edge receive time), s; none"
    )
    total: EdgeHealthCountsOut = Field(description="since the edge's buffer file was created")
    on_date: EdgeHealthCountsOut = Field(description="added on the requested local date")
    lost_readings: bool = Field(
        description="the edge dropped, dead-lettered or lost readings on the date (an alert)"
    )


class SiteEdgesOut(BaseModel):
    site: str
    date: date
    edges: list[EdgeHealthOut] = Field(
        description="each edge that reported its health up to the date's end, by edge id"
    )


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
    covered: list[bool] | None = Field(
        default=None,
        description="per interval: false where no meter's readings reach both its ends (before"
        " the first reading, after the last, e.g. the rest of today): no data, not zero",
    )


class LoadCurveOut(BaseModel):
    site: str
    date: date
    timezone: str
    interval_min: int
    start: list[datetime] = Field(description="start of each interval, local time with offset")
    quantities: list[QuantityCurveOut]
    peak_demand_kw: float | None = Field(
        description="E9: the highest 15-minute average electric power of the covered intervals"
        " of the day; null when none is covered"
    )
    rollups: RollupsOut | None = Field(description=ROLLUPS_DESCRIPTION)
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
    rollups: RollupsOut | None = Field(description=ROLLUPS_DESCRIPTION)
