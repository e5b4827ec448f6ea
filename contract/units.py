"""Enumerations of the things devices measure, and conversion of their units to the canonical ones.

Canonical units inside the system: grams for mass, kWh for electricity, m3 for gas and water,
kW for power. Devices may send any unit listed here; the edge converts before forwarding.
"""

from enum import StrEnum


class Stream(StrEnum):
    """Food-waste stream a scale weighs (see docs/domain.md, 'Devices and what they report')."""

    PLATE = "plate"  # leftovers on returned trays
    PREP = "prep"  # kitchen preparation waste (peels, trimmings)
    SPOILAGE = "spoilage"  # stock that went off before use
    OVERPRODUCTION = "overproduction"  # cooked food never served


class LossReason(StrEnum):
    """Why food on a kitchen scale was thrown away, as the person weighing it tagged it
    (docs/protocol.md, "Dish and reason"). A small fixed list, so that sites can be compared."""

    TRIM = "trim"  # peels, bones, trimmings of preparation
    SPOILED = "spoiled"  # went off in storage before use
    EXPIRED = "expired"  # past its use-by date, unopened or opened
    OVERPRODUCED = "overproduced"  # cooked and never served
    DROPPED = "dropped"  # burnt, dropped, contaminated in handling
    RETURNED = "returned"  # served and sent back (plate leftovers weighed by dish)
    OTHER = "other"


class Quantity(StrEnum):
    """What an energy or utility meter measures."""

    ELECTRICITY = "electricity"
    GAS = "gas"
    WATER = "water"


class MassUnit(StrEnum):
    G = "g"
    KG = "kg"


class RegisterUnit(StrEnum):
    WH = "Wh"
    KWH = "kWh"
    MWH = "MWh"
    L = "L"
    M3 = "m3"


class PowerUnit(StrEnum):
    W = "W"
    KW = "kW"


MASS_TO_G: dict[MassUnit, float] = {MassUnit.G: 1.0, MassUnit.KG: 1000.0}

# Register unit -> (quantities it may measure, factor to the canonical unit of that quantity).
REGISTER_TO_CANONICAL: dict[RegisterUnit, tuple[frozenset[Quantity], float]] = {
    RegisterUnit.WH: (frozenset({Quantity.ELECTRICITY}), 0.001),
    RegisterUnit.KWH: (frozenset({Quantity.ELECTRICITY}), 1.0),
    RegisterUnit.MWH: (frozenset({Quantity.ELECTRICITY}), 1000.0),
    RegisterUnit.L: (frozenset({Quantity.GAS, Quantity.WATER}), 0.001),
    RegisterUnit.M3: (frozenset({Quantity.GAS, Quantity.WATER}), 1.0),
}

CANONICAL_REGISTER_UNIT: dict[Quantity, str] = {
    Quantity.ELECTRICITY: "kWh",
    Quantity.GAS: "m3",
    Quantity.WATER: "m3",
}

POWER_TO_KW: dict[PowerUnit, float] = {PowerUnit.W: 0.001, PowerUnit.KW: 1.0}
