"""Pydantic response models of the KPI, ranking and alert endpoints, and their conversion."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from central.kpi.alerts import Alert
from central.kpi.report import RankedSite, Report, Row
from central.kpi.rollup import Freshness
from central.kpi.values import DeviceFigures, KpiValue, Quality
from central.site_kpi_config import FactorSet

LATE_DATA_NOTE = (
    "computed from the readings stored at the time of the query: readings that arrive late "
    "(after an edge outage) are included in the next query for their period"
)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class KpiValueOut(_Out):
    id: str = Field(description="docs/domain.md KPI id (F1-F9, E1-E9); empty for a base quantity")
    value: float | None
    unit: str
    reason: str | None = Field(description="why value is null, in English")
    reason_code: str | None = Field(
        description="why value is null, as a stable code (its texts in English and Chinese: "
        "central/kpi/reasons.json)"
    )
    reason_params: dict[str, str] | None = Field(
        description="the code's parameters: quantity, key (a registry key), scope ('region'), "
        "also (further codes of a region's sites, comma-separated)"
    )


class QualityOut(_Out):
    """Data quality beside the KPIs (docs/domain.md Q1-Q4); counts are over the row's dates."""

    completeness_pct: float | None = Field(description="Q1: meter readings received / expected")
    meter_readings_received: int
    meter_readings_expected: int
    estimated_share_pct: float | None = Field(
        description="share of the energy (kgce) spread pro rata over gaps (estimated)"
    )
    estimated_kgce: float | None
    estimated_electricity_kwh: float | None
    estimated_gas_m3: float | None
    estimated_water_m3: float | None
    resets: int = Field(description="Q2: meter registers reset to zero")
    wraps: int
    spikes: int = Field(description="readings or deltas rejected above max_rate_per_h")
    dips: int
    gaps: int
    exchanges: int
    readings_stored: int
    duplicates_dropped: int = Field(
        description="Q4: duplicate deliveries dropped, by the edge's buffer or at ingest"
    )
    duplicate_share_pct: float | None = Field(description="dropped / (stored + dropped)")
    clock_skew_median_ms: float | None = Field(description="Q3: device time - edge receive time")
    clock_skew_p95_abs_ms: float | None
    clock_corrected: int = Field(
        description="Q3: readings with a wrong device clock, attributed by edge receive time"
    )
    scale_rejected_below_division: int
    scale_rejected_above_max: int
    repeat_swipes: int = Field(
        description="card readings beyond one per diner and service (double swipes), not in D"
    )
    raw_bin_emptyings: int = Field(
        description="raw kitchen bins: emptyings (large drops of the gross), not waste"
    )
    raw_bin_auto_zeros: int = Field(
        description="raw kitchen bins: zero drift of an empty platform re-zeroed, not waste"
    )
    raw_bin_unstable_ignored: int = Field(
        description="raw kitchen bins: readings the scale marked unstable, ignored"
    )
    raw_bin_negative_steps: int = Field(
        description="raw kitchen bins: small drops between stable readings (creep), ignored"
    )


class DeviceQualityOut(_Out):
    kind: str
    device: str
    readings: int
    expected: int | None
    completeness_pct: float | None
    duplicates_dropped: int
    clock_skew_median_ms: float | None
    clock_skew_p95_abs_ms: float | None
    clock_corrected: int
    counter_events: dict[str, int] | None = Field(
        description="meters: resets, wraps, spikes, dips, gaps, exchanges (Q2)"
    )
    raw_bin_events: dict[str, int] | None = Field(
        default=None,
        description="raw kitchen bins: emptyings, auto_zeros, unstable_ignored, negative_steps",
    )


class FactorSetOut(_Out):
    id: str
    electricity_kgce_per_kwh: float
    gas_kgce_per_m3: float
    grid_kgco2_per_kwh: float
    gas_kgco2_per_m3: float


class KpiRowOut(BaseModel):
    label: str = Field(description="2026-11-20, 2026-W47, 2026-11, 2026 or first..last")
    start: date
    end: date = Field(description="last local date of the row, inclusive")
    service: str | None = Field(description="meal service of a granularity=service row")
    kpis: dict[str, KpiValueOut]
    quality: QualityOut
    factor_sets: list[str] = Field(description="ids of the factor sets the energy KPIs used")
    devices: list[DeviceQualityOut] = Field(
        description="per device; empty in service rows and in a ranking's region_total"
    )


class RollupsOut(BaseModel):
    """How fresh the rollups behind the answer were (docs/kpis.md, read model)."""

    pending_dates: int = Field(
        description="dates of the answer's sites, up to its last date, whose rollup was pending "
        "at read time (written since it was rolled up): built on read, so the figures are exact"
    )
    oldest_pending_s: float = Field(
        description="seconds since the oldest of those dates became pending; 0 when none"
    )


ROLLUPS_DESCRIPTION = "null: the store keeps no rollups (InfluxDB: computed from readings)"


def rollups_out(freshness: Freshness | None) -> RollupsOut | None:
    """The RollupsOut of an answer's freshness (None: the store keeps no rollups)."""
    if freshness is None:
        return None
    return RollupsOut(
        pending_dates=freshness.pending_dates, oldest_pending_s=freshness.oldest_pending_s
    )


class KpiReportOut(BaseModel):
    scope: Literal["site", "region"]
    site: str | None
    region: str | None = Field(description="key:value of the region tag")
    sites: list[str]
    period: str
    start: date
    end: date
    granularity: str
    factor_sets: list[FactorSetOut]
    note: str
    rows: list[KpiRowOut]
    total: KpiRowOut
    rollups: RollupsOut | None = Field(description=ROLLUPS_DESCRIPTION)


class RankedSiteOut(BaseModel):
    rank: int | None = Field(description="null when the KPI has no value for the site")
    site: str
    name: str
    value: KpiValueOut
    quality: QualityOut


class RankingOut(BaseModel):
    region: str
    kpi: str
    unit: str
    order: Literal["asc", "desc"]
    period: str
    start: date
    end: date
    factor_sets: list[FactorSetOut]
    note: str
    sites: list[RankedSiteOut]
    region_total: KpiRowOut
    rollups: RollupsOut | None = Field(description=ROLLUPS_DESCRIPTION)


class AlertOut(_Out):
    site: str
    kind: str = Field(
        description="quota_month, quota_year, waste_target, off_hours, device_offline,"
        " device_silent, device_late or edge_lost_readings"
    )
    message: str
    value: float | None
    threshold: float | None
    unit: str
    device: str | None
    since_ms: int | None = Field(
        default=None,
        description="device_offline: when the device went offline (epoch ms, the edge's receive"
        " time of the status change)",
    )
    boot: str | None = Field(default=None, description="device_offline: the boot that ended")
    edge: str | None = Field(
        default=None,
        description="edge_lost_readings: the edge that dropped (buffer bound), dead-lettered"
        " (bad input) or lost (broker session) readings on the date",
    )


class AlertsOut(BaseModel):
    date: date
    sites: list[str]
    alerts: list[AlertOut]
    notes: list[str]
    rollups: RollupsOut | None = Field(description=ROLLUPS_DESCRIPTION)


def kpi_value(value: KpiValue) -> KpiValueOut:
    return KpiValueOut.model_validate(value)


def quality_out(quality: Quality) -> QualityOut:
    return QualityOut.model_validate(quality)


def device_out(figures: DeviceFigures) -> DeviceQualityOut:
    return DeviceQualityOut.model_validate(figures)


def row_out(row: Row) -> KpiRowOut:
    return KpiRowOut(
        label=row.label,
        start=row.first,
        end=row.last,
        service=row.service,
        kpis={name: kpi_value(v) for name, v in row.kpis.items()},
        quality=quality_out(row.quality),
        factor_sets=list(row.factor_sets),
        devices=[device_out(d) for d in row.devices],
    )


def report_out(
    report: Report, factor_sets: list[FactorSet], site: str | None, region: str | None
) -> KpiReportOut:
    return KpiReportOut(
        scope="site" if site is not None else "region",
        site=site,
        region=region,
        sites=list(report.sites),
        period=report.period.value,
        start=report.span.first,
        end=report.span.last,
        granularity=report.granularity.value,
        factor_sets=[FactorSetOut.model_validate(f) for f in factor_sets],
        note=LATE_DATA_NOTE,
        rows=[row_out(r) for r in report.rows],
        total=row_out(report.total),
        rollups=rollups_out(report.rollups),
    )


def ranked_out(ranked: RankedSite) -> RankedSiteOut:
    return RankedSiteOut(
        rank=ranked.rank,
        site=ranked.site,
        name=ranked.name,
        value=kpi_value(ranked.value),
        quality=quality_out(ranked.quality),
    )


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut.model_validate(alert)
