"""GET /api/v1/forecast and /api/v1/production: diners to expect and how much to cook.

Thin routes over central.planning (docs/forecast.md, docs/api.md).
"""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from central.api.deps import RegistryDep, StoreDep
from central.api.errors import UnknownSite
from central.api.kpis import READ_ERRORS
from central.api.sites import parse_local_date
from central.kpi.forecast import ForecastPoint, unknown_calendar_note
from central.kpi.production import Recommendation
from central.kpi.reasons import Reason
from central.planning import forecast, production
from central.registry import Registry, Site
from central.reporting import now_ms

router = APIRouter(tags=["planning"])

MAX_FORECAST_DAYS = 28
ESTIMATE_NOTE = Reason("outcome_estimate")
NOTE_CODE = Field(
    description="the note's code in central/kpi/reasons.json (its text in English and Chinese); "
    "null when there is no note or it is an operator's override note, shown as entered"
)
NOTE_PARAMS = Field(description="the parameters of the note's code")

SiteParam = Annotated[str, Query(description="a site id")]


class ForecastPointOut(BaseModel):
    date: str
    kind: str = Field(description="workday, adjusted_workday (调休), weekend or holiday")
    holiday: str = Field(description="the holiday's name, empty when none")
    calendar_known: bool = Field(
        description="the holiday schedule of this date's year is known (false: see calendar)"
    )
    calendar: str = Field(
        description="where the day kind comes from: registry ([calendar.YYYY]), chinesecalendar "
        "(the package), or plain_week (the year's schedule is not known: Monday-Friday work)"
    )
    diners: float | None = Field(description="null when there is no forecast (see note)")
    low: float | None = Field(description="lower end of the 80% interval")
    high: float | None = Field(description="upper end of the 80% interval")
    source: str = Field(description="model, override, closed or no_history")
    note: str = Field(description="why (English; note_code for the page's language)")
    note_code: str | None = NOTE_CODE
    note_params: dict[str, str] = NOTE_PARAMS


class ServiceForecastOut(BaseModel):
    service: str
    points: list[ForecastPointOut]


CALENDAR_NOTE = Field(
    description="which dates follow the plain week because their year's holiday schedule is "
    "not known, and how to fix it; empty when every date's schedule is known"
)


CALENDAR_NOTE_CODE = Field(description="calendar_note's code in central/kpi/reasons.json")


class ForecastOut(BaseModel):
    site: str
    start: str
    end: str
    services: list[ServiceForecastOut]
    calendar_note: str = CALENDAR_NOTE
    calendar_note_code: str | None = CALENDAR_NOTE_CODE
    calendar_note_params: dict[str, str] = NOTE_PARAMS


class OutcomeOut(BaseModel):
    actual_diners: float
    actual_plate_kg: float
    actual_overproduction_kg: float
    overproduction_if_followed_kg: float
    overproduction_avoided_kg: float = Field(description="an estimate (note)")
    short_kg: float = Field(description="food missing had the recommendation been followed")
    note: str
    note_code: str = NOTE_CODE
    note_params: dict[str, str] = NOTE_PARAMS


class RecommendationOut(BaseModel):
    service: str
    forecast: ForecastPointOut
    portion_g: float | None
    plate_g_per_diner: float | None = Field(description="recent plate waste per diner")
    overproduction_g_per_diner: float | None = Field(description="recent overproduction/diner")
    recommended_kg: float | None
    reason: str = Field(description="why recommended_kg is null; empty otherwise")
    reason_code: str | None = Field(description="the reason's code in central/kpi/reasons.json")
    reason_params: dict[str, str] = Field(description="the parameters of the reason's code")
    outcome: OutcomeOut | None = Field(description="after the day: recommended vs actual")


class ProductionOut(BaseModel):
    site: str
    date: str
    services: list[RecommendationOut]
    calendar_note: str = CALENDAR_NOTE
    calendar_note_code: str | None = CALENDAR_NOTE_CODE
    calendar_note_params: dict[str, str] = NOTE_PARAMS


def _site(registry: Registry, site: str) -> Site:
    found = registry.site(site)
    if found is None:
        raise UnknownSite(f"unknown site {site[:64]!r}")
    return found


def _today(site: Site) -> date:
    return datetime.fromtimestamp(now_ms() / 1000, tz=UTC).astimezone(site.timezone).date()


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _calendar_note(unknown: list[date]) -> dict[str, Any]:
    """The response's calendar_note fields for the dates whose year's schedule is not known."""
    note = unknown_calendar_note(unknown)
    if note is None:
        return {"calendar_note": "", "calendar_note_code": None, "calendar_note_params": {}}
    return {
        "calendar_note": note.text,
        "calendar_note_code": note.code,
        "calendar_note_params": note.params_json,
    }


def _point_out(p: ForecastPoint) -> ForecastPointOut:
    coded = p.note if isinstance(p.note, Reason) else None
    return ForecastPointOut(
        date=p.on.isoformat(),
        kind=p.kind.value,
        holiday=p.holiday,
        calendar_known=p.calendar_known,
        calendar=p.calendar.value,
        diners=_round(p.diners),
        low=_round(p.low),
        high=_round(p.high),
        source=p.source.value,
        note=p.note_text,
        note_code=coded and coded.code,
        note_params=coded.params_json if coded else {},
    )


def _recommendation_out(service: str, r: Recommendation) -> RecommendationOut:
    outcome = None
    if r.outcome is not None:
        o = r.outcome
        outcome = OutcomeOut(
            actual_diners=o.actual.diners,
            actual_plate_kg=round(o.actual.plate_kg, 3),
            actual_overproduction_kg=round(o.actual.overproduction_kg, 3),
            overproduction_if_followed_kg=round(o.overproduction_if_followed_kg, 3),
            overproduction_avoided_kg=round(o.avoided_kg, 3),
            short_kg=round(o.short_kg, 3),
            note=ESTIMATE_NOTE.text,
            note_code=ESTIMATE_NOTE.code,
            note_params=ESTIMATE_NOTE.params_json,
        )
    return RecommendationOut(
        service=service,
        forecast=_point_out(r.forecast),
        portion_g=r.portion_g,
        plate_g_per_diner=_round(r.plate_g_per_diner),
        overproduction_g_per_diner=_round(r.overproduction_g_per_diner),
        recommended_kg=_round(r.recommended_kg, 2),
        reason=r.reason.text if r.reason else "",
        reason_code=r.reason and r.reason.code,
        reason_params=r.reason.params_json if r.reason else {},
        outcome=outcome,
    )


@router.get("/forecast", response_model=ForecastOut, responses=READ_ERRORS)
async def diner_forecast(
    registry: RegistryDep,
    store: StoreDep,
    site: SiteParam,
    start: Annotated[
        str | None, Query(description="first local date to forecast, YYYY-MM-DD (default tomorrow)")
    ] = None,
    days: Annotated[int, Query(ge=1, le=MAX_FORECAST_DAYS, description="dates to forecast")] = 7,
) -> ForecastOut:
    """Diners per meal service on the next days, each with an 80% interval."""
    found = _site(registry, site)
    first = _today(found) + timedelta(days=1) if start is None else parse_local_date(start)
    dates = [first + timedelta(days=i) for i in range(days)]
    result = await forecast(store, found, dates, _today(found), now_ms(), registry.calendar)
    unknown = [p.on for points in result.values() for p in points if not p.calendar_known]
    return ForecastOut(
        site=site,
        start=dates[0].isoformat(),
        end=dates[-1].isoformat(),
        services=[
            ServiceForecastOut(service=name, points=[_point_out(p) for p in points])
            for name, points in result.items()
        ],
        **_calendar_note(unknown),
    )


@router.get("/production", response_model=ProductionOut, responses=READ_ERRORS)
async def production_plan(
    registry: RegistryDep,
    store: StoreDep,
    site: SiteParam,
    on: Annotated[
        str | None, Query(alias="date", description="local date, YYYY-MM-DD (default tomorrow)")
    ] = None,
) -> ProductionOut:
    """How much to cook per service on a date; for a past date, recommended vs actual."""
    found = _site(registry, site)
    today = _today(found)
    day = today + timedelta(days=1) if on is None else parse_local_date(on)
    result = await production(store, found, day, today, now_ms(), registry.calendar)
    unknown = [r.forecast.on for r in result if not r.forecast.calendar_known]
    return ProductionOut(
        site=site,
        date=day.isoformat(),
        services=[
            _recommendation_out(s.name, r) for s, r in zip(found.services, result, strict=True)
        ],
        **_calendar_note(unknown),
    )
