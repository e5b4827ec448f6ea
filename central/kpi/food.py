"""Food KPIs on arrays (docs/domain.md F1-F7): distinct diners, trays, clean plates, waste."""

import numpy as np
import numpy.typing as npt

from central.kpi.readings import CardReadings, Int64Array, ScaleReadings
from central.kpi.windows import Window


def in_window(time_ms: Int64Array, window: Window) -> npt.NDArray[np.bool_]:
    """Mask of times inside [start, end): start inclusive, end exclusive."""
    return (time_ms >= window.start_ms) & (time_ms < window.end_ms)


def distinct_diners(cards: CardReadings, window: Window) -> int:
    """D: distinct pseudonymous persons with a transaction in the window (double swipes once)."""
    return int(np.unique(cards.person[in_window(cards.time_ms, window)]).size)


def plate_trays(scale: ScaleReadings, window: Window, threshold_g: float) -> tuple[int, int]:
    """(trays weighed, clean plates): a plate reading is one tray; clean is <= threshold (F6)."""
    mask = in_window(scale.time_ms, window) & (scale.stream == "plate")
    trays = int(np.count_nonzero(mask))
    clean = int(np.count_nonzero(scale.mass_g[mask] <= threshold_g))
    return trays, clean


def clean_plate_rate_pct(trays: int, clean_plates: int) -> float | None:
    """F6 in percent; None when no tray was weighed."""
    return None if trays == 0 else clean_plates / trays * 100.0


def waste_mass_g(scale: ScaleReadings, stream: str, window: Window) -> float:
    """Sum of net masses of one stream weighed in the window, in grams."""
    mask = in_window(scale.time_ms, window) & (scale.stream == stream)
    return float(scale.mass_g[mask].sum())


def per_diner(value: float | None, diners: int) -> float | None:
    """value / D; None when there were no diners (or no value)."""
    return None if value is None or diners == 0 else value / diners
