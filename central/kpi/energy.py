"""Energy KPIs on arrays (DOMAIN.md E1-E3, E8): meter consumption over windows from registers.

A meter's cumulative consumption C(t) is the running sum of its non-negative register increments;
consumption over [a, b) is C(b) - C(a), with C linearly interpolated between readings by device
time (docs/architecture.md). np.interp clamps outside the data: no consumption is invented before
a meter's first reading or after its last.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from central.kpi.readings import Float64Array, Int64Array, MeterReadings
from central.kpi.windows import Window

# DOMAIN.md, "Dirty data": a drop below 90% of the previous value is a reset (count from zero).
RESET_RATIO = 0.9
LITRES_PER_M3 = 1000.0


def cumulative_consumption(total: Float64Array) -> Float64Array:
    """C at each reading of one meter (readings in time order), starting at 0 at the first reading.

    - a drop below RESET_RATIO x the previous value is a reset: the new value itself is the
      consumption since the reset (the register counted up from zero);
    - a smaller backward dip (rounding) counts as 0, and the register is followed from its highest
      value since the last reset, so the recovery after a dip is not counted twice;
    - consumption is therefore never negative.
    """
    n = total.size
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    reset = np.zeros(n, dtype=np.bool_)
    reset[1:] = total[1:] < RESET_RATIO * total[:-1]
    # Highest register value seen since the last reset; resets are rare, so a loop over segments.
    high = np.empty_like(total)
    bounds = [0, *np.flatnonzero(reset).tolist(), n]
    for lo, hi in itertools.pairwise(bounds):
        high[lo:hi] = np.maximum.accumulate(total[lo:hi])
    increment = np.zeros(n, dtype=np.float64)
    increment[1:] = high[1:] - high[:-1]
    increment[reset] = total[reset]
    return np.cumsum(increment)


@dataclass(frozen=True, slots=True)
class MeterCurve:
    """C(t) of one meter: device times (sorted) and cumulative consumption at each."""

    device: str
    time_ms: Int64Array
    consumption: Float64Array

    def between(self, window: Window) -> float:
        """C(end) - C(start), interpolated between readings and clamped at the data's ends."""
        if self.time_ms.size == 0:
            return 0.0
        at = np.interp(
            np.array([window.start_ms, window.end_ms], dtype=np.float64),
            self.time_ms.astype(np.float64),
            self.consumption,
        )
        return max(0.0, float(at[1] - at[0]))


def meter_curves(meters: MeterReadings, quantity: str) -> list[MeterCurve]:
    """One curve per meter device measuring `quantity` (contract.units.Quantity value)."""
    of_quantity = meters.quantity == quantity
    curves = []
    for device in np.unique(meters.device[of_quantity]).tolist():
        mask = of_quantity & (meters.device == device)
        order = np.argsort(meters.time_ms[mask], kind="stable")
        times = meters.time_ms[mask][order]
        curves.append(MeterCurve(device, times, cumulative_consumption(meters.total[mask][order])))
    return curves


def consumption(curves: Sequence[MeterCurve], window: Window) -> float | None:
    """Sum over meters of the same quantity; None when the site has no reading of that quantity."""
    if not curves:
        return None
    return sum((curve.between(window) for curve in curves), 0.0)


def consumption_over(curves: Sequence[MeterCurve], windows: Sequence[Window]) -> float | None:
    """Consumption summed over disjoint windows (off-hours); None without meters."""
    if not curves:
        return None
    return sum((curve.between(w) for curve in curves for w in windows), 0.0)


def per_meal(value: float | None, meals: int, factor: float = 1.0) -> float | None:
    """value x factor / meals (E1-E3); None without meals or without a value."""
    return None if value is None or meals == 0 else value * factor / meals
