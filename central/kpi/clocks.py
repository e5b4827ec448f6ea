"""Wrong device clocks (docs/domain.md Q3): detected from the edge's receive time, then corrected.

Every reading carries two instants: `time_ms`, the device's clock when it took the reading, and
`received_ms`, the edge's clock when the reading arrived. skew = time_ms - received_ms.

The rule (docs/kpis.md, "Wrong device clocks") judges each reading on its own, so that the same
reading is attributed the same way in a day, a week or a year report:

- skew > +future_tolerance_ms: the device claims a time after the reading reached the edge,
  which no correct clock can do (a reading cannot arrive before it was taken);
- skew < -max_delay_ms: the device claims a time before the longest time a device buffers a
  reading (store-and-forward after a network outage), including a clock at 1970.

Such a reading is attributed by its receive time instead (corrected) and counted as
`clock_corrected`. Every other reading keeps its device time, in particular late data after an
outage, whose receive time lags its device time by up to `max_delay_ms`.
"""

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from central.kpi.readings import Int64Array, SiteReadings

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ClockRule:
    """Thresholds of the rule; defaults documented in docs/kpis.md."""

    future_tolerance_ms: int = 10 * 60_000  # clocks may run this far ahead of the edge's
    max_delay_ms: int = 90 * 60_000  # the longest a device buffers a reading before publishing
    # False: trust every device time (a test stack whose edges stamp wall time while simulated
    # devices send simulated time has no meaningful skew)
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.future_tolerance_ms < 0 or self.max_delay_ms < 0:
            raise ValueError(f"clock rule thresholds must be >= 0, got {self}")


DEFAULT_CLOCK_RULE = ClockRule()


def wrong_clock(time_ms: Int64Array, received_ms: Int64Array, rule: ClockRule) -> BoolArray:
    """True for readings whose device time cannot be trusted (see the module docstring)."""
    if not rule.enabled:
        return np.zeros(time_ms.shape, dtype=np.bool_)
    skew = time_ms - received_ms
    return (skew > rule.future_tolerance_ms) | (skew < -rule.max_delay_ms)


def attributed_instant_ms(time_ms: int, received_ms: int, rule: ClockRule) -> int:
    """`attributed_ms` of one reading."""
    return int(attributed_ms(np.array([time_ms]), np.array([received_ms]), rule)[0])


def attributed_ms(time_ms: Int64Array, received_ms: Int64Array, rule: ClockRule) -> Int64Array:
    """The instant each reading is attributed to: its receive time where its clock is wrong."""
    return np.where(wrong_clock(time_ms, received_ms, rule), received_ms, time_ms).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Corrected:
    """Readings with wrong clocks moved to their receive times, and the original readings."""

    readings: SiteReadings  # time_ms = attributed time; same order and shape as `original`
    original: SiteReadings


def correct_clocks(readings: SiteReadings, rule: ClockRule = DEFAULT_CLOCK_RULE) -> Corrected:
    """Apply the rule to every kind of reading (received_ms is left as it is)."""
    scale, card, meter = readings.scale, readings.card, readings.meter
    fixed = SiteReadings(
        scale=replace(scale, time_ms=attributed_ms(scale.time_ms, scale.received_ms, rule)),
        card=replace(card, time_ms=attributed_ms(card.time_ms, card.received_ms, rule)),
        meter=replace(meter, time_ms=attributed_ms(meter.time_ms, meter.received_ms, rule)),
    )
    return Corrected(fixed, readings)
