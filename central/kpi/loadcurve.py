"""The daily load curve of a site: energy per quantity in fixed intervals (15 min) of a local day.

Each interval's consumption is C(end) - C(start) of every meter of the quantity, with C the
cleaned cumulative consumption of central/kpi/counters.py (resets, wraps, spikes, gaps...) that
the day's KPIs are computed from (wrong clocks corrected, the walk resumed from the date before,
as its rollup is built), so the intervals of a day add up to the day's consumption of GET /kpis.
The part that rests on a gap spread pro rata is reported beside it as estimated; an interval that
no meter's readings reach on both sides, within the meter's reporting interval (before the first
reading, after the last: the rest of today), is not covered, which is no data, not zero.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from central.kpi.clocks import BoolArray
from central.kpi.counters import MeterCurve
from central.kpi.daytable import QUANTITIES
from central.kpi.readings import Float64Array, Int64Array
from central.kpi.windows import DayWindows
from central.site_kpi_config import SiteKpiConfig

DEFAULT_INTERVAL_MS = 15 * 60_000  # E9's interval: peak demand is the highest of these


@dataclass(frozen=True, slots=True)
class QuantityCurve:
    """Consumption of one quantity per interval (canonical unit: kWh or m3)."""

    quantity: str
    used: Float64Array
    estimated: Float64Array
    covered: BoolArray  # a meter's readings reach both ends (within its interval_s): measured


@dataclass(frozen=True, slots=True)
class LoadCurve:
    starts_ms: Int64Array  # interval starts; the last interval ends at the day's end
    ends_ms: Int64Array
    quantities: Mapping[str, QuantityCurve | None]  # None: the site has no meter of it


def load_curve(
    config: SiteKpiConfig,
    windows: DayWindows,
    meter_curves: Mapping[str, Sequence[MeterCurve]],
    interval_ms: int = DEFAULT_INTERVAL_MS,
) -> LoadCurve:
    """Energy per interval of the local day of `windows`, from each quantity's cleaned meter
    curves around it: those the day's KPIs are computed from (daytable.day_meter_curves)."""
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, not {interval_ms}")
    day = windows.day
    starts = np.arange(day.start_ms, day.end_ms, interval_ms, dtype=np.int64)
    ends = np.minimum(starts + interval_ms, day.end_ms)
    curves: dict[str, QuantityCurve | None] = {}
    for quantity in QUANTITIES:
        found = meter_curves.get(quantity, ())
        if not found:
            curves[quantity] = None
            continue
        used = np.zeros(starts.shape, dtype=np.float64)
        estimated = np.zeros(starts.shape, dtype=np.float64)
        covered = np.zeros(starts.shape, dtype=np.bool_)
        for curve in found:
            part, part_estimated = curve.between(starts, ends)
            used += part
            estimated += part_estimated
            if curve.time_ms.size:  # within one reporting interval of both ends
                slack_ms = config.meter(curve.device).interval_s * 1000
                first, last = curve.time_ms[0] - slack_ms, curve.time_ms[-1] + slack_ms
                covered |= (first <= starts) & (ends <= last)
        curves[quantity] = QuantityCurve(quantity, used, estimated, covered)
    return LoadCurve(starts, ends, MappingProxyType(curves))
