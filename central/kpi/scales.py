"""Plausibility of net scale readings: below the scale division or above a maximum is rejected.

A net reading of exactly 0 g is a clean tray and stays; a reading between 0 and the division is
below what the scale can resolve (noise) and is excluded, as is one above the scale's `max_g` (or
the stream's default maximum, site_kpi_config.DEFAULT_STREAM_MAX_G). Each exclusion is counted.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from central.kpi.readings import Int64Array, ScaleReadings
from central.site_kpi_config import (
    DEFAULT_SCALE_DIVISION_G,
    DEFAULT_STREAM_MAX_G,
    ScaleConfig,
)


@dataclass(frozen=True, slots=True)
class CheckedScales:
    """The readings kept and the sorted device times of the rejected ones, by reason."""

    kept: ScaleReadings
    below_division_ms: Int64Array
    above_max_ms: Int64Array


def check_scales(scale: ScaleReadings, configs: Mapping[str, ScaleConfig]) -> CheckedScales:
    """Split scale readings into plausible ones and rejected ones (vectorised per device)."""
    n = scale.time_ms.size
    division = np.full(n, DEFAULT_SCALE_DIVISION_G, dtype=np.float64)
    maximum = np.full(n, np.inf, dtype=np.float64)
    for stream, limit in DEFAULT_STREAM_MAX_G.items():
        maximum[scale.stream == stream] = limit
    for device, config in configs.items():
        mine = scale.device == device
        division[mine] = config.division_g
        if config.max_g is not None:
            maximum[mine] = config.max_g
    below = (scale.mass_g > 0) & (scale.mass_g < division)
    above = scale.mass_g > maximum
    return CheckedScales(
        kept=scale.where(~(below | above)),
        below_division_ms=np.sort(scale.time_ms[below]),
        above_max_ms=np.sort(scale.time_ms[above]),
    )
