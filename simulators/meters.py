"""Meter load profiles and register integration: per-minute constant rates, exact registers.

Rates are kW for electricity and m3/h for gas and water. Because a rate is constant within each
minute, the register at any instant is exact (cumulative sum plus a linear part of one minute), and
consumption over a window of whole minutes is a difference of two cumulative sums: that is the
ground truth, and a pipeline that interpolates between readings on the grid reproduces it.

Like a pulse-counting meter, a register advances in whole steps of its resolution (0.001 kWh or
m3, the last digit the payload carries): the cumulative consumption at each minute boundary is
rounded to the resolution and the minute's rate is whatever takes it there. Readings on minute
boundaries are then exact in the payload, and the truth has no rounding left for a pipeline to miss.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from contract.units import Quantity
from simulators.localtime import MS_PER_MINUTE

FloatArray = npt.NDArray[np.float64]

REGISTER_RESOLUTION = 0.001  # kWh or m3: the payload's last digit (register totals to 0.001)
WASH_MINUTES = 60  # dishwashing runs for an hour after each service
_PREP_WATER_SHARE = 0.40
_SERVICE_WATER_SHARE = 0.25
_WASH_WATER_SHARE = 0.35


@dataclass(frozen=True, slots=True)
class SiteLoadProfile:
    """A site's character, the same every day; per-meal targets in docs/domain.md ranges."""

    base_kw: float  # refrigeration, ventilation, lighting: 6-10 kW
    cook_kwh_per_meal: float
    gas_m3_per_meal: float
    water_l_per_meal: float
    wash_kw_per_diner: float
    water_base_m3_h: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "SiteLoadProfile":
        return cls(
            base_kw=float(rng.uniform(6.0, 10.0)),
            cook_kwh_per_meal=float(rng.uniform(0.3, 0.7)),
            gas_m3_per_meal=float(rng.uniform(0.06, 0.15)),
            water_l_per_meal=float(rng.uniform(18.0, 35.0)),
            wash_kw_per_diner=float(rng.uniform(0.03, 0.05)),
            water_base_m3_h=float(rng.uniform(0.02, 0.08)),
        )


@dataclass(frozen=True, slots=True)
class ServiceLoad:
    """A service in elapsed minutes from local midnight, with the diners the kitchen cooks for."""

    prep_start: int
    start: int
    end: int
    expected_diners: float


def initial_registers(
    rng: np.random.Generator, moduli: Mapping[Quantity, float]
) -> dict[Quantity, float]:
    """Registers of meters that ran for years: never zero (docs/domain.md, 'Dirty data').

    Drawn between 5% and 50% of each register's modulus, so that a register never wraps in a run
    of a few weeks unless the meter_wrap fault puts it close below the modulus on purpose.
    """
    return {
        quantity: float(rng.uniform(0.05, 0.5) * moduli[quantity])
        for quantity in (Quantity.ELECTRICITY, Quantity.GAS, Quantity.WATER)
    }


def _cooking_shape(load: ServiceLoad, rng: np.random.Generator) -> FloatArray:
    """Relative cooking intensity over `[prep_start, end)`: ramps up in prep, tapers in service."""
    prep = np.linspace(0.4, 1.0, load.start - load.prep_start, endpoint=False)
    serve = np.linspace(1.0, 0.5, load.end - load.start, endpoint=False)
    shape = np.concatenate([prep, serve])
    noise = np.clip(1.0 + rng.normal(0.0, 0.08, shape.size), 0.2, None)
    return np.asarray(shape * noise, dtype=np.float64)


def _spread(rate: FloatArray, begin: int, end: int, total_per_h: float) -> None:
    """Add a flat rate so that `[begin, end)` receives `total_per_h / 60` units in sum."""
    end = min(end, rate.size)
    if end > begin:
        rate[begin:end] += total_per_h * 60.0 / (end - begin)


def day_rates(
    profile: SiteLoadProfile,
    services: tuple[ServiceLoad, ...],
    minutes: int,
    rng: np.random.Generator,
) -> dict[Quantity, FloatArray]:
    """Per-minute rates of one day: electricity kW, gas m3/h, water m3/h."""
    day_base = profile.base_kw * rng.uniform(0.95, 1.05)
    electricity = np.clip(day_base + rng.normal(0.0, 0.3, minutes), 0.5, None)
    gas = np.zeros(minutes)
    water = np.clip(profile.water_base_m3_h * (1.0 + rng.normal(0.0, 0.2, minutes)), 0.0, None)
    for load in services:
        window = slice(load.prep_start, load.end)
        if load.end > load.prep_start:
            shape = _cooking_shape(load, rng)
            # sum(rate) / 60 = energy, so rate = shape / sum(shape) * energy * 60.
            cook_kwh = profile.cook_kwh_per_meal * load.expected_diners
            electricity[window] += shape / shape.sum() * cook_kwh * 60.0
            gas_shape = _cooking_shape(load, rng)
            gas[window] += (
                gas_shape / gas_shape.sum() * profile.gas_m3_per_meal * load.expected_diners * 60.0
            )
        water_m3 = profile.water_l_per_meal * load.expected_diners / 1000.0
        prep_share = _PREP_WATER_SHARE if load.start > load.prep_start else 0.0
        _spread(water, load.prep_start, load.start, water_m3 * prep_share)
        _spread(
            water,
            load.start,
            load.end,
            water_m3 * (_SERVICE_WATER_SHARE + _PREP_WATER_SHARE - prep_share),
        )
        _spread(water, load.end, load.end + WASH_MINUTES, water_m3 * _WASH_WATER_SHARE)
        wash_kw = max(5.0, profile.wash_kw_per_diner * load.expected_diners)
        electricity[load.end : min(load.end + WASH_MINUTES, minutes)] += wash_kw
    return {Quantity.ELECTRICITY: electricity, Quantity.GAS: gas, Quantity.WATER: water}


@dataclass(frozen=True, slots=True)
class RegisterTrace:
    """One meter over one day: the register at midnight and the exact cumulative consumption."""

    quantity: Quantity
    start: float  # register at local midnight, canonical unit
    rate: FloatArray  # per minute, effective (after register steps): kW or m3/h
    cumulative: FloatArray  # consumption from midnight to the start of minute i; len = minutes + 1
    rate_before: float  # rate of the minute before midnight (the previous day's last minute)
    resolution: float = REGISTER_RESOLUTION

    @classmethod
    def integrate(
        cls,
        quantity: Quantity,
        start: float,
        rate: FloatArray,
        rate_before: float | None = None,
        resolution: float = REGISTER_RESOLUTION,
    ) -> "RegisterTrace":
        """Integrate per-minute rates into a register that moves in steps of `resolution`."""
        exact = np.concatenate([[0.0], np.cumsum(rate / 60.0)])
        # Rounding a non-decreasing sequence keeps it non-decreasing: effective rates are >= 0.
        cumulative = np.round(exact / resolution) * resolution
        effective = np.diff(cumulative) * 60.0
        start = round(start / resolution) * resolution
        before = float(effective[0]) if rate_before is None else rate_before
        return cls(quantity, start, effective, cumulative, before, resolution)

    def _on_step(self, value: float) -> float:
        """Snap float noise away: registers on minute boundaries are whole steps."""
        return round(value / self.resolution) * self.resolution

    @property
    def end(self) -> float:
        """Register at the next local midnight: the next day's start."""
        return self._on_step(self.start + float(self.cumulative[-1]))

    def consumption(self, begin_min: int, end_min: int) -> float:
        """Exact consumption over `[begin_min, end_min)` (elapsed minutes from midnight)."""
        return float(self.cumulative[end_min] - self.cumulative[begin_min])

    def register_at(self, offset_ms: int) -> float:
        """Exact register `offset_ms` after midnight (0 <= offset <= day length)."""
        minute, rest_ms = divmod(offset_ms, MS_PER_MINUTE)
        value = self._on_step(self.start + float(self.cumulative[minute]))
        if rest_ms:
            value += float(self.rate[minute]) / 60.0 * rest_ms / MS_PER_MINUTE
        return value

    def demand_at(self, offset_ms: int) -> float:
        """Average rate over the minute ending `offset_ms` after midnight (a meter's demand).

        Midnight reports the previous day's last minute, so the reading that closes one day and
        the one that opens the next are the same reading.
        """
        minute = -(-offset_ms // MS_PER_MINUTE) - 1
        return self.rate_before if minute < 0 else float(self.rate[minute])


def day_traces(
    registers: Mapping[Quantity, float],
    rates: Mapping[Quantity, FloatArray],
    rates_before: Mapping[Quantity, float] | None = None,
) -> dict[Quantity, RegisterTrace]:
    before = rates_before or {}
    return {q: RegisterTrace.integrate(q, registers[q], rates[q], before.get(q)) for q in rates}
