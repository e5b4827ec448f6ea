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


BoolArray = npt.NDArray[np.bool_]


def bool_array(values: object = ()) -> BoolArray:
    return np.asarray(values, dtype=np.bool_)


@dataclass(frozen=True, slots=True)
class ScaleReadings:
    """Scale readings, one element each: net masses (a plate reading is one tray), and the raw
    gross weights of kitchen bins in raw mode (`gross_g` not NaN; central.kpi.rawbins turns them
    into deposits before any sum)."""

    time_ms: Int64Array  # device time
    stream: StrArray  # contract.units.Stream values
    mass_g: Float64Array  # net mass; 0 for raw readings
    device: StrArray
    received_ms: Int64Array  # the edge's receive time (Q3 clock skew, silent devices)
    gross_g: Float64Array  # raw form: gross weight shown, g; NaN for net readings
    stable: BoolArray  # raw form: the platform was still; True for net readings
    item: StrArray  # menu item code a kitchen terminal tagged; "" when untagged
    reason: StrArray  # contract.units.LossReason value; "" when untagged

    @classmethod
    def of(
        cls,
        time_ms: object,
        stream: object,
        mass_g: object,
        device: object = "scale",
        received_ms: object = None,
        item: object = "",
        reason: object = "",
    ) -> "ScaleReadings":
        """Net readings from sequences; one device id (item, reason) may apply to all; receive
        time defaults to device time."""
        times = int_array(time_ms)
        return cls(
            times,
            np.broadcast_to(str_array(stream), times.shape).copy(),
            float_array(mass_g),
            np.broadcast_to(str_array(device), times.shape).copy(),
            times.copy() if received_ms is None else int_array(received_ms),
            np.full(times.shape, np.nan),
            np.ones(times.shape, dtype=np.bool_),
            np.broadcast_to(str_array(item), times.shape).copy(),
            np.broadcast_to(str_array(reason), times.shape).copy(),
        )

    @classmethod
    def raw(
        cls,
        time_ms: object,
        stream: object,
        gross_g: object,
        stable: object,
        device: object = "bin",
        received_ms: object = None,
    ) -> "ScaleReadings":
        """Raw gross-weight readings from sequences (one stream and device may apply to all)."""
        times = int_array(time_ms)
        return cls(
            times,
            np.broadcast_to(str_array(stream), times.shape).copy(),
            np.zeros(times.shape),
            np.broadcast_to(str_array(device), times.shape).copy(),
            times.copy() if received_ms is None else int_array(received_ms),
            float_array(gross_g),
            np.broadcast_to(bool_array(stable), times.shape).copy(),
            np.full(times.shape, "", dtype=np.str_),
            np.full(times.shape, "", dtype=np.str_),
        )

    @classmethod
    def empty(cls) -> "ScaleReadings":
        return cls(
            int_array(), str_array(), float_array(), str_array(), int_array(), float_array(),
            bool_array(), str_array(), str_array(),
        )  # fmt: skip

    @property
    def is_raw(self) -> BoolArray:
        return ~np.isnan(self.gross_g)

    def where(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> "ScaleReadings":
        """The readings selected by a boolean mask (or an index array)."""
        return ScaleReadings(
            self.time_ms[mask],
            self.stream[mask],
            self.mass_g[mask],
            self.device[mask],
            self.received_ms[mask],
            self.gross_g[mask],
            self.stable[mask],
            self.item[mask],
            self.reason[mask],
        )

    @staticmethod
    def concat(parts: "list[ScaleReadings]") -> "ScaleReadings":
        if not parts:
            return ScaleReadings.empty()
        return ScaleReadings(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in ScaleReadings.__slots__)
        )


@dataclass(frozen=True, slots=True)
class CardReadings:
    """Meal transactions: pseudonymous person ids (keyed hashes, never card numbers)."""

    time_ms: Int64Array
    person: StrArray
    device: StrArray
    received_ms: Int64Array

    @classmethod
    def of(
        cls, time_ms: object, person: object, device: object = "card", received_ms: object = None
    ) -> "CardReadings":
        times = int_array(time_ms)
        return cls(
            times,
            str_array(person),
            np.broadcast_to(str_array(device), times.shape).copy(),
            times.copy() if received_ms is None else int_array(received_ms),
        )

    @classmethod
    def empty(cls) -> "CardReadings":
        return cls(int_array(), str_array(), str_array(), int_array())


@dataclass(frozen=True, slots=True)
class MeterReadings:
    """Cumulative registers in canonical units (kWh, m3), any order, any number of meters."""

    device: StrArray
    quantity: StrArray  # contract.units.Quantity values
    time_ms: Int64Array
    total: Float64Array
    received_ms: Int64Array

    @classmethod
    def of(
        cls,
        device: object,
        quantity: object,
        time_ms: object,
        total: object,
        received_ms: object = None,
    ) -> "MeterReadings":
        times = int_array(time_ms)
        return cls(
            np.broadcast_to(str_array(device), times.shape).copy(),
            np.broadcast_to(str_array(quantity), times.shape).copy(),
            times,
            float_array(total),
            times.copy() if received_ms is None else int_array(received_ms),
        )

    @classmethod
    def empty(cls) -> "MeterReadings":
        return cls(str_array(), str_array(), int_array(), float_array(), int_array())


@dataclass(frozen=True, slots=True)
class SiteReadings:
    """All readings of one site within a loaded time range, split by device kind."""

    scale: ScaleReadings
    card: CardReadings
    meter: MeterReadings

    def devices(self) -> tuple[tuple[str, str, Int64Array, Int64Array], ...]:
        """(kind, device, device times, receive times) of every device, sorted by kind and id."""
        out = []
        for kind, part in (("card", self.card), ("meter", self.meter), ("scale", self.scale)):
            for device in np.unique(part.device).tolist():
                mask = part.device == device
                out.append((kind, str(device), part.time_ms[mask], part.received_ms[mask]))
        return tuple(out)

    def count_between(self, start_ms: int, end_ms: int) -> int:
        """Readings of every kind with start_ms <= device time < end_ms."""
        return sum(
            int(np.count_nonzero((t >= start_ms) & (t < end_ms)))
            for t in (self.scale.time_ms, self.card.time_ms, self.meter.time_ms)
        )


@dataclass(frozen=True, slots=True)
class DuplicateCounts:
    """Duplicate deliveries dropped at ingest (docs/domain.md Q4), per device and local date."""

    device: StrArray
    local_date: StrArray  # YYYY-MM-DD of the reading's device time in the site's time zone
    duplicates: Int64Array

    @classmethod
    def empty(cls) -> "DuplicateCounts":
        return cls(str_array(), str_array(), int_array())
