"""Column arrays of a site's stored readings, the input of the KPI maths (filled by the store)."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]


def int_array(values: object = ()) -> Int64Array:
    return np.asarray(values, dtype=np.int64)


def float_array(values: object = ()) -> Float64Array:
    return np.asarray(values, dtype=np.float64)


def str_array(values: object = ()) -> StrArray:
    return np.asarray(values, dtype=np.str_)


@dataclass(frozen=True, slots=True)
class ScaleReadings:
    """Net masses weighed: one element per reading (a plate reading is one tray)."""

    time_ms: Int64Array
    stream: StrArray  # contract.units.Stream values
    mass_g: Float64Array

    @classmethod
    def empty(cls) -> "ScaleReadings":
        return cls(int_array(), str_array(), float_array())


@dataclass(frozen=True, slots=True)
class CardReadings:
    """Meal transactions: pseudonymous person ids (keyed hashes, never card numbers)."""

    time_ms: Int64Array
    person: StrArray

    @classmethod
    def empty(cls) -> "CardReadings":
        return cls(int_array(), str_array())


@dataclass(frozen=True, slots=True)
class MeterReadings:
    """Cumulative registers in canonical units (kWh, m3), any order, any number of meters."""

    device: StrArray
    quantity: StrArray  # contract.units.Quantity values
    time_ms: Int64Array
    total: Float64Array

    @classmethod
    def empty(cls) -> "MeterReadings":
        return cls(str_array(), str_array(), int_array(), float_array())


@dataclass(frozen=True, slots=True)
class SiteReadings:
    """All readings of one site within a loaded time range, split by device kind."""

    scale: ScaleReadings
    card: CardReadings
    meter: MeterReadings

    def count_between(self, start_ms: int, end_ms: int) -> int:
        """Readings of every kind with start_ms <= device time < end_ms."""
        return sum(
            int(np.count_nonzero((t >= start_ms) & (t < end_ms)))
            for t in (self.scale.time_ms, self.card.time_ms, self.meter.time_ms)
        )
