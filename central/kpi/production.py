"""How much to cook per service: the diner forecast x the planned portion, less what comes back.

For a service with a planned portion `portion_g` per diner (the registry's services; the food the
kitchen plans to cook per diner), over the history's last WASTE_DAYS days the plate waste and the
overproduction per diner are what came back of it (F1, F3 of the service rows). The recommendation
(docs/forecast.md, "How much to cook"):

    net_g_per_diner = max(0, portion_g - plate_g_per_diner - overproduction_g_per_diner)
    recommended_kg = forecast diners x net_g_per_diner / 1000

After the day, with the actual diners and overproduction, an **estimate** of the overproduction a
kitchen following the recommendation would have avoided: it assumes each actual diner needed the
same net amount per diner (portion less the history's waste per diner), so that cooking the
recommendation leaves over only what the forecast overshot:

    overproduction_if_followed_kg = max(0, recommended_kg - actual diners x net per diner / 1000)
    avoided_kg = max(0, actual overproduction_kg - overproduction_if_followed_kg)

and `short_kg` = max(0, actual diners x net per diner / 1000 - recommended_kg), the food that
would have been missing where the forecast undershot.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from central.kpi.forecast import ForecastPoint
from central.kpi.reasons import NOTE, Reason

WASTE_DAYS = 28


@dataclass(frozen=True, slots=True)
class WasteHistory:
    """Per-date sums of one service, aligned with the diner history (NaN: nothing measured)."""

    diners: npt.NDArray[np.float64]
    plate_g: npt.NDArray[np.float64]
    overproduction_g: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Actual:
    diners: float
    plate_kg: float
    overproduction_kg: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """Recommended vs actual, after the day (an estimate: module docstring)."""

    actual: Actual
    overproduction_if_followed_kg: float
    avoided_kg: float
    short_kg: float


@dataclass(frozen=True, slots=True)
class Recommendation:
    forecast: ForecastPoint
    portion_g: float | None
    plate_g_per_diner: float | None
    overproduction_g_per_diner: float | None
    recommended_kg: float | None
    reason: Reason | None  # why recommended_kg is None
    outcome: Outcome | None = None


def per_diner_waste(history: WasteHistory) -> tuple[float | None, float | None]:
    """Plate waste and overproduction per diner (g) over the last WASTE_DAYS days (of those
    measured: a date without readings is NaN in all three)."""
    diners = float(np.nansum(history.diners[-WASTE_DAYS:]))
    if diners <= 0:
        return None, None
    plate = float(np.nansum(history.plate_g[-WASTE_DAYS:])) / diners
    over = float(np.nansum(history.overproduction_g[-WASTE_DAYS:])) / diners
    return plate, over


def recommend(
    forecast: ForecastPoint,
    portion_g: float | None,
    history: WasteHistory,
    actual: Actual | None = None,
) -> Recommendation:
    plate, over = per_diner_waste(history)
    if portion_g is None:
        return Recommendation(forecast, portion_g, plate, over, None, Reason("no_portion"))
    if forecast.diners is None:
        # a forecast without diners says why in a code (never an override: it has diners)
        why = forecast.note if isinstance(forecast.note, Reason) else Reason("forecast_no_history")
        reason = Reason("no_forecast", ((NOTE, why.code), *why.params))
        return Recommendation(forecast, portion_g, plate, over, None, reason)
    net_g = max(0.0, portion_g - (plate or 0.0) - (over or 0.0))
    recommended = forecast.diners * net_g / 1000
    outcome = None
    if actual is not None:
        need = actual.diners * net_g / 1000
        left = max(0.0, recommended - need)
        outcome = Outcome(
            actual=actual,
            overproduction_if_followed_kg=left,
            avoided_kg=max(0.0, actual.overproduction_kg - left),
            short_kg=max(0.0, need - recommended),
        )
    return Recommendation(forecast, portion_g, plate, over, recommended, None, outcome)
