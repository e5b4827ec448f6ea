"""Diners per meal service for the next days, from the per-service diner history (plain numpy).

The model (docs/forecast.md) for one site and service:

- Each date is a working day (Monday-Friday, or a Saturday/Sunday worked in lieu, 调休) or an
  off day (weekend, public holiday, day off in lieu), from contract.workcalendar: the registry's
  `[calendar.YYYY]` years, else the chinesecalendar package, else the plain week (flagged).
- Working days: forecast = level x weekday factor. The weekday factor is the median of that
  weekday's diners over the last 8 weeks of working days divided by the median of all of them
  (adjusted working days get the factor learnt from earlier ones, else 1). The level is an
  exponentially weighted mean of the deseasonalised diners (diners / weekday factor) of the recent
  working days, half-weight after HALF_LIFE_WORKDAYS.
- Off days: the median of the recent off days (a government canteen serves few on them).
- The interval is the 5th to 95th percentile of the recent ratios actual / fitted, applied to
  the forecast; off days: the 5th-95th percentile of recent off days. Ratios to a fit of the same
  data are narrower than the errors of a forecast, so this in-sample 90% band is what covers about
  80% of actual days out of sample (scripts/backtest reports the coverage): an 80% interval.
- Overrides (central.kitchen.DinerOverride: a meeting, a closed day) replace the forecast, and
  their dates are left out of the fit.

Why plain numpy: the pattern is a weekday profile, a level and a calendar; a day-level model
with a few dozen parameters fits in microseconds per service and is easy to explain. A library
such as statsmodels (ETS) or Prophet would add a heavy dependency for a seasonal level that does
not know the 调休 calendar anyway; the backtest (scripts/backtest) shows what this one achieves.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from central.kitchen import DinerOverride
from central.kpi.reasons import Reason
from contract.workcalendar import CalendarSource, DayKind, WorkCalendar

HISTORY_DAYS = 84  # history a forecast reads: 12 weeks
PROFILE_DAYS = 56  # weekday factors and off days from the last 8 weeks
HALF_LIFE_WORKDAYS = 10.0
CLOSED_DAYS = 28  # no diner in this many days before: the canteen is closed
MIN_WORKDAYS = 5  # fewer working days with diners in the history: not enough to forecast
INTERVAL_QUANTILES = (5.0, 95.0)
FALLBACK_RATIO = (0.8, 1.2)  # interval when too few ratios to take percentiles of
PACKAGE_CALENDAR = WorkCalendar()  # no registry years: the chinesecalendar package alone


class Source(StrEnum):
    MODEL = "model"
    OVERRIDE = "override"
    CLOSED = "closed"
    NO_HISTORY = "no_history"


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    on: date
    kind: DayKind
    holiday: str
    calendar: CalendarSource  # where the day kind comes from; PLAIN_WEEK: the year is unknown
    diners: float | None  # None: no forecast (see note)
    low: float | None
    high: float | None
    source: Source
    # why, in a code of central/kpi/reasons.json; an operator's override note as entered (str);
    # "" when there is nothing to say
    note: Reason | str = ""

    @property
    def note_text(self) -> str:
        """The note in English (an override's as entered)."""
        return self.note.text if isinstance(self.note, Reason) else self.note

    @property
    def calendar_known(self) -> bool:
        return self.calendar is not CalendarSource.PLAIN_WEEK


@dataclass(frozen=True, slots=True)
class History:
    """Diners of one service on consecutive local dates ending the day before the forecast; NaN
    on a date without any reading (nothing measured: left out, never read as 0 diners)."""

    first: date
    diners: npt.NDArray[np.float64]

    @property
    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.diners.size)]


def _override_for(
    overrides: Sequence[DinerOverride], on: date, service: str
) -> DinerOverride | None:
    found = [o for o in overrides if o.date == on and o.service in (None, service)]
    # one naming the service wins over one for the whole date
    found.sort(key=lambda o: o.service is None)
    return found[0] if found else None


def _percentiles(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    low, high = np.percentile(values, INTERVAL_QUANTILES)
    return float(low), float(high)


@dataclass(frozen=True, slots=True)
class _Fit:
    level: float
    factors: Mapping[int, float]  # weekday (0-4) -> factor
    adjusted_factor: float
    ratio_band: tuple[float, float]
    off_median: float
    off_band: tuple[float, float]


def unknown_calendar_note(dates: Sequence[date]) -> Reason | None:
    """Why `dates`, of years whose schedule is not known, follow the plain week, and the fix;
    None for no date."""
    unknown = sorted(set(dates))
    if not unknown:
        return None
    years = sorted({d.year for d in unknown})
    common = (
        ("years", ", ".join(map(str, years))),
        ("tables", ", ".join(f"[calendar.{y}]" for y in years)),
    )
    if len(unknown) == 1:
        return Reason("calendar_unknown", (("date", str(unknown[0])), *common))
    span = (("first", str(unknown[0])), ("last", str(unknown[-1])))
    return Reason("calendar_unknown_span", (*span, *common))


def _fit(
    history: History, overrides: Sequence[DinerOverride], service: str, calendar: WorkCalendar
) -> _Fit | Reason:
    """The model's parameters, or the reason why there is none."""
    dates = history.dates
    y = history.diners
    n = y.size
    if n == 0 or not np.any(y > 0):
        return Reason("forecast_no_history")
    infos = [calendar.day_info(d) for d in dates]
    overridden = np.array([_override_for(overrides, d, service) is not None for d in dates])
    kinds = np.array([i.kind.value for i in infos])
    weekday = np.array([d.weekday() for d in dates])
    regular = (kinds == DayKind.WORKDAY.value) & ~overridden
    adjusted = (kinds == DayKind.ADJUSTED_WORKDAY.value) & ~overridden
    off = ~(regular | adjusted) & ~overridden & ~np.isnan(y)
    recent = np.arange(n) >= n - PROFILE_DAYS
    # working days with no diner at all are closures nobody entered: left out of the fit
    work = regular & (y > 0)
    if np.count_nonzero(work) < MIN_WORKDAYS:
        return Reason(
            "forecast_few_workdays", (("min_workdays", str(MIN_WORKDAYS)), ("days", str(n)))
        )
    profile = work & recent if np.count_nonzero(work & recent) >= MIN_WORKDAYS else work
    overall = float(np.median(y[profile]))
    factors = {}
    for w in range(5):
        picked = y[profile & (weekday == w)]
        factors[w] = float(np.median(picked)) / overall if picked.size and overall > 0 else 1.0
    adjusted_seen = adjusted & (y > 0)
    adjusted_factor = (
        float(np.median(y[adjusted_seen])) / overall
        if np.any(adjusted_seen) and overall > 0
        else 1.0
    )
    index = np.flatnonzero(work)
    season = np.array([factors[int(weekday[i])] for i in index])
    deseasonalised = y[index] / season
    age = (index.size - 1) - np.arange(index.size)
    weights = 0.5 ** (age / HALF_LIFE_WORKDAYS)
    level = float(np.sum(weights * deseasonalised) / np.sum(weights))
    ratios = deseasonalised[index >= n - PROFILE_DAYS] / level if level > 0 else np.array([])
    band = _percentiles(ratios) if ratios.size >= 10 else FALLBACK_RATIO
    off_recent = y[off & recent] if np.any(off & recent) else y[off]
    off_median = float(np.median(off_recent)) if off_recent.size else 0.0
    off_band = _percentiles(off_recent) if off_recent.size >= 4 else (off_median, off_median)
    return _Fit(level, factors, adjusted_factor, band, off_median, off_band)


def forecast_service(
    history: History,
    service: str,
    dates: Sequence[date],
    overrides: Sequence[DinerOverride] = (),
    calendar: WorkCalendar = PACKAGE_CALENDAR,
) -> list[ForecastPoint]:
    """Forecast diners of `service` on `dates` (after the history's last date)."""
    y = history.diners
    recent = y[-CLOSED_DAYS:]
    # closed: recent dates measured 0 diners (dates without any reading show nothing)
    closed = (
        y.size >= CLOSED_DAYS and not np.any(recent > 0) and np.any(recent == 0) and np.any(y > 0)
    )
    fit = None if closed else _fit(history, overrides, service, calendar)
    out = []
    for on in dates:
        info = calendar.day_info(on)
        common = (on, info.kind, info.holiday, info.source)
        override = _override_for(overrides, on, service)
        if override is not None:
            count = float(override.diners)
            note = override.note or Reason("override_closed" if count == 0 else "override_diners")
            out.append(ForecastPoint(*common, count, count, count, Source.OVERRIDE, note))
        elif closed:
            note = Reason("forecast_closed", (("days", str(CLOSED_DAYS)),))
            out.append(ForecastPoint(*common, 0.0, 0.0, 0.0, Source.CLOSED, note))
        elif isinstance(fit, Reason) or fit is None:
            reason = fit or Reason("forecast_no_history")  # None: closed, answered above
            out.append(ForecastPoint(*common, None, None, None, Source.NO_HISTORY, reason))
        else:
            out.append(_point(fit, on, common))
    return out


def _point(fit: _Fit, on: date, common: tuple[date, DayKind, str, CalendarSource]) -> ForecastPoint:
    kind = common[1]
    unknown = common[3] is CalendarSource.PLAIN_WEEK
    note = unknown_calendar_note([on]) if unknown else None
    if kind is DayKind.WORKDAY:
        value = fit.level * fit.factors[on.weekday()]
    elif kind is DayKind.ADJUSTED_WORKDAY:
        value = fit.level * fit.adjusted_factor
    else:
        low, high = fit.off_band
        return ForecastPoint(*common, fit.off_median, low, high, Source.MODEL, note or "")
    low_ratio, high_ratio = fit.ratio_band
    return ForecastPoint(
        *common,
        value,
        value * min(low_ratio, 1.0),
        value * max(high_ratio, 1.0),
        Source.MODEL,
        note or "",
    )


def same_weekday_last_week(history: History, on: date) -> float | None:
    """Baseline 1: the diners of the same weekday one week before `on`."""
    i = (on - timedelta(days=7) - history.first).days
    known = 0 <= i < history.diners.size and not np.isnan(history.diners[i])
    return float(history.diners[i]) if known else None


def weekday_mean_4_weeks(history: History, on: date) -> float | None:
    """Baseline 2: the mean diners of the same weekday in the 4 weeks before `on`."""
    picked = [
        float(history.diners[i])
        for k in range(1, 5)
        if 0 <= (i := (on - timedelta(days=7 * k) - history.first).days) < history.diners.size
        and not np.isnan(history.diners[i])
    ]
    return float(np.mean(picked)) if picked else None
