"""What happened in the simulated canteen, before serialisation: one record per device reading.

Events carry the true values next to what the device shows, so that tests can recompute the ground
truth from the events independently of the code that produced it.
"""

from dataclasses import dataclass

from contract.units import Quantity, Stream


@dataclass(frozen=True, slots=True)
class CardSwipe:
    """A meal transaction at a card reader."""

    at_ms: int
    device: str
    card: str | None  # None: a visitor's meal without a card
    service: str


@dataclass(frozen=True, slots=True)
class Weighing:
    """A net mass on a scale: `true_g` is the food, `shown_g` the display (to the division)."""

    at_ms: int
    device: str
    stream: Stream
    true_g: float
    shown_g: float
    service: str | None  # None for spoilage, which belongs to the day only
    card: str | None = None
    item: str | None = None  # the dish a kitchen terminal tagged (a menu item code)
    reason: str | None = None  # contract.units.LossReason value


@dataclass(frozen=True, slots=True)
class GrossReading:
    """What a kitchen bin in raw mode shows: its gross weight (g, to the division) and whether
    the platform is still. Deposits are the steps between stable readings (simulators.rawbins)."""

    at_ms: int
    device: str
    stream: Stream
    gross_g: float
    stable: bool


@dataclass(frozen=True, slots=True)
class MeterReading:
    """A register reading: `register` is exact (canonical unit), the payload rounds it to 0.001."""

    at_ms: int
    device: str
    quantity: Quantity
    register: float
    power_kw: float | None = None


Event = CardSwipe | Weighing | GrossReading | MeterReading
