"""GET /api/v1/alerts/history and POST /api/v1/alerts/ack: the alerts of a span of dates, and
acknowledging one with who and when (central/alert_acks.py)."""

import asyncio
import datetime as dt
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator

from central.alert_acks import MAX_NOTE_CHARS, AlertAck, AlertKey
from central.alert_history import MAX_HISTORY_DAYS, DatedAlert, alert_history, local_today
from central.api.access import ReaderDep
from central.api.deps import AcksDep, RegistryDep, StoreDep
from central.api.errors import RequestError, UnknownSite
from central.api.kpi_schemas import (
    ROLLUPS_DESCRIPTION,
    AlertOut,
    RollupsOut,
    alert_out,
    rollups_out,
)
from central.api.kpis import InvalidQuery, RegionQuery, SiteQuery, resolve_sites
from central.api.schemas import ErrorDetail
from central.api.sites import parse_local_date
from central.kpi.alerts import STATUS_NOTE, AlertKind
from central.kpi.periods import DateRange
from central.registry import Registry, Site
from central.reporting import alerts as site_alerts
from central.reporting import new_freshness, now_ms
from central.tokens import Reader

router = APIRouter(tags=["alerts"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorDetail} for code in (404, 422, 503)
}


class UnknownAlert(RequestError):
    status_code = 404


class AckOut(BaseModel):
    by: str = Field(description="who acknowledged: the signed-in user, or 'token <name>'")
    at_ms: int = Field(description="when, epoch ms")
    at: datetime = Field(description="when, UTC")
    note: str


class HistoryAlertOut(AlertOut):
    date: dt.date = Field(description="the local date the alert belongs to")
    id: str = Field(description="the alert's stable identity: site/date/kind/device")
    ack: AckOut | None = Field(description="the acknowledgement, or null while open")


class AlertHistoryOut(BaseModel):
    sites: list[str]
    start: date
    end: date
    alerts: list[HistoryAlertOut] = Field(description="oldest date first")
    open: int = Field(description="alerts without an acknowledgement")
    notes: list[str]
    rollups: RollupsOut | None = Field(description=ROLLUPS_DESCRIPTION)


class AckIn(BaseModel):
    site: str
    date: dt.date = Field(description="local date of the alert, YYYY-MM-DD")
    kind: AlertKind
    device: str = Field(default="", description="the device or edge the alert names, else ''")
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)

    @field_validator("date")
    @classmethod
    def _calendar_years(cls, value: dt.date) -> dt.date:
        if not 1970 <= value.year <= 9998:
            raise ValueError(f"date {value} is outside the years 1970-9998")
        return value


class AckResultOut(BaseModel):
    id: str
    ack: AckOut


def ack_out(ack: AlertAck) -> AckOut:
    return AckOut(
        by=ack.actor,
        at_ms=ack.acked_ms,
        at=datetime.fromtimestamp(ack.acked_ms / 1000, UTC),
        note=ack.note,
    )


def history_out(entry: DatedAlert) -> HistoryAlertOut:
    return HistoryAlertOut(
        **alert_out(entry.alert).model_dump(),
        date=entry.on,
        id=entry.key.id,
        ack=None if entry.ack is None else ack_out(entry.ack),
    )


def actor_of(reader: Reader) -> str:
    """Who acknowledges: a signed-in user's name, or `token <name>` for a read token."""
    return reader.name if reader.kind == "user" else f"token {reader.name}"


@router.get("/alerts/history", response_model=AlertHistoryOut, responses=_ERRORS)
async def history(
    registry: RegistryDep,
    store: StoreDep,
    acks: AcksDep,
    start: Annotated[str, Query(description="first local date YYYY-MM-DD")],
    end: Annotated[str, Query(description=f"last local date, at most {MAX_HISTORY_DAYS} days")],
    site: SiteQuery = None,
    region: RegionQuery = None,
) -> AlertHistoryOut:
    """Alerts of a site or of every site of a region on each date of start..end (dates after
    today have none yet), each with its acknowledgement."""
    sites = resolve_sites(registry, site, region)
    first, last = parse_local_date(start), parse_local_date(end)
    if last < first:
        raise InvalidQuery(f"end {last} is before start {first}")
    span = DateRange(first, last)
    if span.days > MAX_HISTORY_DAYS:
        raise InvalidQuery(f"alert history covers at most {MAX_HISTORY_DAYS} days")
    freshness = new_freshness(store)
    found = await alert_history(store, acks, sites, span, now_ms(), freshness)
    out = [history_out(entry) for entry in found]
    return AlertHistoryOut(
        sites=[s.id for s in sites],
        start=first,
        end=last,
        alerts=out,
        open=sum(1 for a in out if a.ack is None),
        notes=[STATUS_NOTE],
        rollups=rollups_out(freshness),
    )


@router.post(
    "/alerts/ack",
    response_model=AckResultOut,
    responses={
        400: {"model": ErrorDetail, "description": "the body is not JSON"},
        403: {"model": ErrorDetail},
        **_ERRORS,
    },
)
async def acknowledge(
    body: AckIn,
    registry: RegistryDep,
    store: StoreDep,
    acks: AcksDep,
    reader: ReaderDep,
) -> AckResultOut:
    """Acknowledge one alert (a read token of its site, its region or an admin). Idempotent:
    an alert acknowledged before keeps its first acknowledgement, which is answered."""
    reader.check_site(registry, body.site)
    found = _site(registry, body.site)
    now = now_ms()
    if body.date > local_today(found, now):
        raise UnknownAlert(f"{body.date} is after today at site {body.site!r}: no alerts yet")
    key = AlertKey(body.site, body.date, body.kind.value, body.device)
    current = {AlertKey.of(a, body.date) for a in await site_alerts(store, found, body.date, now)}
    if key not in current:
        # Acknowledged before and resolved since: the acknowledgement is still answered.
        known = await asyncio.to_thread(acks.acks, [body.site], body.date, body.date)
        if key not in known:
            raise UnknownAlert(f"no alert {key.id!r}: see GET /alerts/history for the alerts")
        return AckResultOut(id=key.id, ack=ack_out(known[key]))
    ack = await asyncio.to_thread(acks.acknowledge, key, actor_of(reader), now, body.note)
    return AckResultOut(id=key.id, ack=ack_out(ack))


def _site(registry: Registry, site_id: str) -> Site:
    found = registry.site(site_id)
    if found is None:
        raise UnknownSite(f"unknown site {site_id[:64]!r}")
    return found
