"""Backtest of the diner forecast on a simulated year (scripts/backtest; docs/forecast.md).

For each simulated site and meal service, every date after a warm-up is forecast from the dates
before it only (central.kpi.forecast, as GET /forecast does), beside two baselines computed in the
same run: the same weekday last week, and the mean of the same weekday over the last 4 weeks.
Errors: MAPE over the dates with diners (a closed day has no percentage error), bias as the mean
signed error over the mean actual, in %; the coverage of the forecast's 80% interval.

Overproduction: the simulated kitchen cooks for a fixed number (simulators.demand); a kitchen that
cooked for the forecast instead would have thrown away, by the simulation's own rule, the surplus
share of the portions cooked for diners who did not come, plus the same unavoidable remainder.
The difference to what the simulated kitchen threw away is the overproduction avoided (kg, %);
beside it the food short (portions for diners beyond the number cooked for), for both. The
recommendation's plate-waste deduction (central.kpi.production) is a portion decision the
simulation cannot score, so the backtest credits only cooking for the forecast number.
"""

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np

from central.kpi.forecast import (
    HISTORY_DAYS,
    History,
    forecast_service,
    same_weekday_last_week,
    weekday_mean_4_weeks,
)
from contract.units import Stream
from simulators.canteen import Behaviour, plan_site_days
from simulators.registry import Site

METER_INTERVAL_S = 1800  # coarse meter grid: the backtest reads diners and waste only
WARM_UP_DAYS = HISTORY_DAYS


@dataclass
class _Series:
    diners: list[float] = field(default_factory=list)
    habit: list[float] = field(default_factory=list)
    over_g: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MethodScore:
    mape_pct: float
    bias_pct: float


@dataclass(frozen=True, slots=True)
class ServiceScore:
    site: str
    service: str
    dates: int  # forecast dates scored
    forecast: MethodScore
    last_week: MethodScore
    four_week_mean: MethodScore
    # MAPE on working days only (off days have few diners, so their percentage errors weigh much)
    working_day_mape_pct: tuple[float, float, float]  # forecast, last week, 4-week mean
    coverage_pct: float  # actual inside the 80% interval
    overproduction_kg: float  # the habit kitchen's
    overproduction_following_kg: float  # a kitchen cooking for the forecast
    short_habit_kg: float
    short_following_kg: float


def _score(predicted: np.ndarray, actual: np.ndarray) -> MethodScore:
    served = actual > 0
    mape = float(np.mean(np.abs(predicted[served] - actual[served]) / actual[served]) * 100)
    bias = float(np.mean(predicted - actual) / np.mean(actual) * 100)
    return MethodScore(round(mape, 2), round(bias, 2))


def simulate(
    sites: Sequence[Site], start: date, days: int, seed: int
) -> dict[tuple[str, str], _Series]:
    out: dict[tuple[str, str], _Series] = {}
    for site in sites:
        for plan in plan_site_days(
            site, seed=seed, start_date=start, days=days, meter_interval_s=METER_INTERVAL_S
        ):
            for name, truth in plan.truth.services.items():
                series = out.setdefault((site.id, name), _Series())
                series.diners.append(float(truth.diners))
                series.habit.append(float(truth.habit_diners))
                series.over_g.append(float(truth.waste_g[Stream.OVERPRODUCTION]))
    return out


def score_service(
    site: str, service: str, series: _Series, start: date, behaviour: Behaviour
) -> ServiceScore:
    y = np.array(series.diners)
    first = start
    predicted, low, high, last_week, four_weeks, actual, scored = [], [], [], [], [], [], []
    working: list[bool] = []
    for d in range(WARM_UP_DAYS, y.size):
        on = first + timedelta(days=d)
        history = History(first + timedelta(days=d - HISTORY_DAYS), y[d - HISTORY_DAYS : d])
        (point,) = forecast_service(history, service, [on], calendar=behaviour.demand.calendar)
        whole = History(first, y[:d])
        b1, b2 = same_weekday_last_week(whole, on), weekday_mean_4_weeks(whole, on)
        if point.diners is None or b1 is None or b2 is None:
            continue
        predicted.append(point.diners)
        low.append(point.low)
        high.append(point.high)
        last_week.append(b1)
        four_weeks.append(b2)
        actual.append(y[d])
        scored.append(d)
        working.append(behaviour.demand.calendar.working(on))
    a = np.array(actual)
    f = np.array(predicted)
    index = np.array(scored)
    portion = behaviour.portion(service)
    share = behaviour.surplus_waste_share
    habit = np.array(series.habit)[index]
    over = np.array(series.over_g)[index]
    # the unavoidable remainder is what the habit kitchen threw away beyond its surplus
    remainder = over - share * np.maximum(habit - a, 0) * portion
    following = remainder + share * np.maximum(np.rint(f) - a, 0) * portion
    w = np.array(working)
    on_working = tuple(
        _score(p[w], a[w]).mape_pct for p in (f, np.array(last_week), np.array(four_weeks))
    )
    return ServiceScore(
        site=site,
        service=service,
        dates=int(a.size),
        working_day_mape_pct=(on_working[0], on_working[1], on_working[2]),
        forecast=_score(f, a),
        last_week=_score(np.array(last_week), a),
        four_week_mean=_score(np.array(four_weeks), a),
        coverage_pct=round(float(np.mean((np.array(low) <= a) & (a <= np.array(high))) * 100), 1),
        overproduction_kg=round(float(np.sum(over)) / 1000, 1),
        overproduction_following_kg=round(float(np.sum(following)) / 1000, 1),
        short_habit_kg=round(float(np.sum(np.maximum(a - habit, 0) * portion)) / 1000, 1),
        short_following_kg=round(float(np.sum(np.maximum(a - np.rint(f), 0) * portion)) / 1000, 1),
    )


def run(sites: int, days: int, start: date, seed: int) -> dict[str, object]:
    behaviour = Behaviour()
    simulated = [
        Site(id=f"site-{i + 1:02d}", timezone="Asia/Shanghai", registered_staff=staff)
        for i, staff in enumerate([400, 900, 250, 600, 1500][:sites])
    ]
    began = time.perf_counter()
    series = simulate(simulated, start, days, seed)
    scores = [
        score_service(site, service, s, start, behaviour) for (site, service), s in series.items()
    ]
    return {
        "sites": sites,
        "days": days,
        "start": start.isoformat(),
        "seed": seed,
        "seconds": round(time.perf_counter() - began, 1),
        "services": [asdict(s) for s in scores],
        "summary": summary(scores),
    }


def summary(scores: Sequence[ServiceScore]) -> dict[str, object]:
    def mean(values: list[float]) -> float:
        return round(float(np.mean(values)), 2)

    over = sum(s.overproduction_kg for s in scores)
    following = sum(s.overproduction_following_kg for s in scores)
    return {
        "forecast_mape_pct": mean([s.forecast.mape_pct for s in scores]),
        "last_week_mape_pct": mean([s.last_week.mape_pct for s in scores]),
        "four_week_mean_mape_pct": mean([s.four_week_mean.mape_pct for s in scores]),
        "forecast_abs_bias_pct": mean([abs(s.forecast.bias_pct) for s in scores]),
        "working_day_mape_pct": {
            name: mean([s.working_day_mape_pct[i] for s in scores])
            for i, name in enumerate(("forecast", "last_week", "four_week_mean"))
        },
        "coverage_pct": mean([s.coverage_pct for s in scores]),
        "overproduction_kg": round(over, 1),
        "overproduction_avoided_kg": round(over - following, 1),
        "overproduction_avoided_pct": round((over - following) / over * 100, 1) if over else 0.0,
        "short_habit_kg": round(sum(s.short_habit_kg for s in scores), 1),
        "short_following_kg": round(sum(s.short_following_kg for s in scores), 1),
    }


def markdown(result: dict[str, object]) -> str:
    lines = [
        "| site | service | dates | MAPE forecast | MAPE last week | MAPE 4-week mean "
        "| working days: forecast / last week / 4-week mean "
        "| bias forecast | 80% interval coverage | overproduction habit / following (kg) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    services = result["services"]
    assert isinstance(services, list)
    for s in services:
        lines.append(
            f"| {s['site']} | {s['service']} | {s['dates']} | {s['forecast']['mape_pct']}% "
            f"| {s['last_week']['mape_pct']}% | {s['four_week_mean']['mape_pct']}% "
            f"| {' / '.join(f'{v}%' for v in s['working_day_mape_pct'])} "
            f"| {s['forecast']['bias_pct']:+}% | {s['coverage_pct']}% "
            f"| {s['overproduction_kg']} / {s['overproduction_following_kg']} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/backtest", description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=3, choices=range(1, 6))
    parser.add_argument("--days", type=int, default=365 + WARM_UP_DAYS)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 10, 1))
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.days <= WARM_UP_DAYS + 28:
        parser.error(f"--days must be more than {WARM_UP_DAYS + 28} (warm-up and 4 weeks)")
    result = run(args.sites, args.days, args.start, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        print(markdown(result))
        print()
        print(json.dumps(result["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
