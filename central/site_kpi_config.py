"""KPI parameters of the site registry: factor sets, prices, targets, quotas, meter and scale setup.

The keys are documented in docs/architecture.md ("Site registry") and docs/kpis.md. Everything is
optional: a registry written before these keys existed stays valid, KPIs that need a missing
value are null with a reason, and energy uses the built-in factor set (named in every result).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from central.kpi.clocks import DEFAULT_CLOCK_RULE, ClockRule
from central.toml_fields import (
    FieldError,
    is_number,
    non_negative_number,
    optional_non_negative_number,
    positive_int,
    table,
)
from contract import Stream

T = TypeVar("T")

DEFAULT_METER_INTERVAL_S = 60  # docs/protocol.md: meters publish every 60 s (recommended)
DEFAULT_SCALE_DIVISION_G = 1.0
DEFAULT_DEVICE_SILENT_MIN = 30
# Raw kitchen bins (central/kpi/rawbins.py): a stable gross within this many divisions of zero is
# an empty platform (auto-zero); a drop of more than this share of the gross is an emptying.
DEFAULT_ZERO_BAND_DIVISIONS = 3.0
DEFAULT_EMPTYING_DROP_SHARE = 0.5
# Per-stream maxima of one net reading when a scale has no max_g of its own: a tray cannot hold
# more than 2 kg of leftovers; a kitchen bin deposit above 50 kg is a fault (leaning, tare error).
DEFAULT_STREAM_MAX_G: Mapping[str, float] = MappingProxyType(
    {
        Stream.PLATE.value: 2000.0,
        Stream.PREP.value: 50000.0,
        Stream.SPOILAGE.value: 50000.0,
        Stream.OVERPRODUCTION.value: 50000.0,
    }
)


# A KPI key of the registry is wrong: the error of every registry field (central.toml_fields),
# which the registry turns into a RegistryError.
KpiConfigError = FieldError


@dataclass(frozen=True, slots=True)
class FactorSet:
    """Versioned conversion and emission factors (docs/domain.md: configuration)."""

    id: str
    electricity_kgce_per_kwh: float
    gas_kgce_per_m3: float
    grid_kgco2_per_kwh: float
    gas_kgco2_per_m3: float


# Used when the registry names no factor set: GB/T 2589 calorific equivalents and the 2022
# national grid factor. Its id says it is the built-in one, so a report never hides that.
BUILTIN_FACTOR_SET = FactorSet(
    id="builtin-cn-2022-calorific",
    electricity_kgce_per_kwh=0.1229,
    gas_kgce_per_m3=1.2143,
    grid_kgco2_per_kwh=0.5366,
    gas_kgco2_per_m3=2.162,
)
_FACTOR_KEYS = (
    "electricity_kgce_per_kwh",
    "gas_kgce_per_m3",
    "grid_kgco2_per_kwh",
    "gas_kgco2_per_m3",
)


@dataclass(frozen=True, slots=True)
class MeterConfig:
    """Counter cleaning settings of one meter (units: the canonical unit of its quantity)."""

    device: str
    wrap_modulus: float | None = None  # the register wraps to 0 at this value
    max_rate_per_h: float | None = None  # a delta implying more per hour is a spike
    interval_s: int = DEFAULT_METER_INTERVAL_S  # expected reporting interval (Q1, gaps)
    installed: date | None = None  # local date from which readings are expected (Q1)


@dataclass(frozen=True, slots=True)
class MeterExchange:
    """A declared meter exchange: the old register's last value and the new one's first."""

    device: str
    at_ms: int
    old_final: float
    new_initial: float


@dataclass(frozen=True, slots=True)
class ScaleConfig:
    """Plausibility limits of one scale's net readings (or derived deposits), and how a raw
    kitchen bin's gross-weight stream is read (central/kpi/rawbins.py)."""

    device: str
    division_g: float = DEFAULT_SCALE_DIVISION_G
    max_g: float | None = None  # None: DEFAULT_STREAM_MAX_G of the reading's stream
    zero_band_g: float | None = None  # None: DEFAULT_ZERO_BAND_DIVISIONS x division_g
    emptying_drop_share: float = DEFAULT_EMPTYING_DROP_SHARE

    @property
    def zero_band(self) -> float:
        """|gross| at or below this (g) is an empty platform."""
        if self.zero_band_g is not None:
            return self.zero_band_g
        return DEFAULT_ZERO_BAND_DIVISIONS * self.division_g


@dataclass(frozen=True, slots=True)
class SiteKpiConfig:
    """The KPI parameters of one site; None means not configured (the KPI says so)."""

    factor_set: FactorSet = BUILTIN_FACTOR_SET
    food_price_cny_per_kg: float | None = None
    food_co2e_kg_per_kg: float | None = None
    waste_target_g_per_diner: float | None = None
    clean_plate_goal_pct: float | None = None  # F6 goal, drawn on the dashboard and in reports
    energy_quota_kgce_month: float | None = None
    energy_quota_kgce_year: float | None = None
    baseline: tuple[date, date] | None = None  # inclusive local dates
    off_hours_alert_share_pct: float | None = None
    device_silent_min: int = DEFAULT_DEVICE_SILENT_MIN
    clock: ClockRule = DEFAULT_CLOCK_RULE  # wrong device clocks (docs/kpis.md)
    meters: Mapping[str, MeterConfig] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    exchanges: tuple[MeterExchange, ...] = ()
    scales: Mapping[str, ScaleConfig] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def meter(self, device: str) -> MeterConfig:
        return self.meters.get(device) or MeterConfig(device)

    def scale(self, device: str) -> ScaleConfig:
        return self.scales.get(device) or ScaleConfig(device)

    def exchanges_of(self, device: str) -> tuple[MeterExchange, ...]:
        return tuple(sorted((e for e in self.exchanges if e.device == device), key=_at))


def _at(exchange: MeterExchange) -> int:
    return exchange.at_ms


SITE_KPI_KEYS = frozenset(
    {
        "factor_set",
        "food_price_cny_per_kg",
        "food_co2e_kg_per_kg",
        "waste_target_g_per_diner",
        "clean_plate_goal_pct",
        "energy_quota_kgce_month",
        "energy_quota_kgce_year",
        "baseline",
        "off_hours_alert_share_pct",
        "device_silent_min",
        "clock_correction",
        "clock_future_tolerance_min",
        "clock_max_delay_min",
        "meters",
        "meter_exchanges",
        "scales",
    }
)


def parse_factor_sets(document: Mapping[str, Any]) -> tuple[Mapping[str, FactorSet], FactorSet]:
    """`[[factor_sets]]` by id and the default set (`default_factor_set`, else the built-in)."""
    raw_sets = document.get("factor_sets", [])
    if not isinstance(raw_sets, list):
        raise KpiConfigError("'factor_sets' must be an array of tables ([[factor_sets]])")
    sets: dict[str, FactorSet] = {}
    for number, raw_set in enumerate(raw_sets, start=1):
        raw = table(raw_set, f"factor_sets[{number}]")
        set_id = raw.get("id")
        if not isinstance(set_id, str) or not set_id.strip():
            raise KpiConfigError("id must be non-empty text", f"factor_sets[{number}]")
        where = f"factor set {set_id!r}"
        if set_id in sets or set_id == BUILTIN_FACTOR_SET.id:
            raise KpiConfigError("duplicate factor set id (or the built-in one's)", where)
        values = {key: non_negative_number(raw, key, where) for key in _FACTOR_KEYS}
        unknown = sorted(set(raw) - {"id", *_FACTOR_KEYS})
        if unknown:
            raise KpiConfigError(f"unknown keys {unknown}", where)
        sets[set_id] = FactorSet(id=set_id, **values)
    default_id = document.get("default_factor_set")
    if default_id is None:
        return MappingProxyType(sets), BUILTIN_FACTOR_SET
    if not isinstance(default_id, str) or default_id not in sets:
        raise KpiConfigError(
            f"default_factor_set {default_id!r} is not the id of a [[factor_sets]] table"
        )
    return MappingProxyType(sets), sets[default_id]


def parse_site_kpi_config(
    raw: Mapping[str, Any], where: str, factor_sets: Mapping[str, FactorSet], default: FactorSet
) -> SiteKpiConfig:
    """The KPI keys of one `[[sites]]` table; raise KpiConfigError naming the key."""
    set_id = raw.get("factor_set")
    if set_id is None:
        factor_set = default
    elif isinstance(set_id, str) and set_id in factor_sets:
        factor_set = factor_sets[set_id]
    else:
        raise KpiConfigError(f"factor_set {set_id!r} is not the id of a [[factor_sets]]", where)

    def positive(key: str) -> float | None:
        return optional_non_negative_number(raw, key, where)

    silent = positive_int(raw, "device_silent_min", where, DEFAULT_DEVICE_SILENT_MIN)

    correction = raw.get("clock_correction", True)
    if not isinstance(correction, bool):
        raise KpiConfigError(f"clock_correction must be true or false, got {correction!r}", where)
    future_min = positive("clock_future_tolerance_min")
    delay_min = positive("clock_max_delay_min")
    clock = ClockRule(
        future_tolerance_ms=DEFAULT_CLOCK_RULE.future_tolerance_ms
        if future_min is None
        else round(future_min * 60_000),
        max_delay_ms=DEFAULT_CLOCK_RULE.max_delay_ms
        if delay_min is None
        else round(delay_min * 60_000),
        enabled=correction,
    )

    return SiteKpiConfig(
        factor_set=factor_set,
        food_price_cny_per_kg=positive("food_price_cny_per_kg"),
        food_co2e_kg_per_kg=positive("food_co2e_kg_per_kg"),
        waste_target_g_per_diner=positive("waste_target_g_per_diner"),
        clean_plate_goal_pct=_percent(
            positive("clean_plate_goal_pct"), "clean_plate_goal_pct", where
        ),
        energy_quota_kgce_month=positive("energy_quota_kgce_month"),
        energy_quota_kgce_year=positive("energy_quota_kgce_year"),
        baseline=_parse_baseline(raw.get("baseline"), where),
        off_hours_alert_share_pct=positive("off_hours_alert_share_pct"),
        device_silent_min=silent,
        clock=clock,
        meters=MappingProxyType({m.device: m for m in _tables(raw, "meters", where, _parse_meter)}),
        exchanges=tuple(_tables(raw, "meter_exchanges", where, _parse_exchange)),
        scales=MappingProxyType({s.device: s for s in _tables(raw, "scales", where, _parse_scale)}),
    )


def _tables(
    raw: Mapping[str, Any], key: str, where: str, parse: Callable[[Mapping[str, Any], str], T]
) -> list[T]:
    items = raw.get(key, [])
    if not isinstance(items, list):
        raise KpiConfigError(f"'{key}' must be an array of tables ([[sites.{key}]])", where)
    parsed: list[T] = []
    devices: set[str] = set()
    for number, raw_item in enumerate(items, start=1):
        item_where = f"{where} {key}[{number}]"
        item = table(raw_item, item_where)
        device = item.get("device")
        if not isinstance(device, str) or not device:
            raise KpiConfigError("device must name a device id", item_where)
        if key != "meter_exchanges" and device in devices:
            raise KpiConfigError(f"device {device!r} is configured twice", item_where)
        devices.add(device)
        parsed.append(parse(item, item_where))
    return parsed


def _parse_meter(raw: Mapping[str, Any], where: str) -> MeterConfig:
    _no_unknown(raw, {"device", "wrap_modulus", "max_rate_per_h", "interval_s", "installed"}, where)
    modulus = raw.get("wrap_modulus")
    if modulus is not None and (not is_number(modulus) or modulus <= 0):
        raise KpiConfigError(f"wrap_modulus must be a number > 0, got {modulus!r}", where)
    rate = raw.get("max_rate_per_h")
    if rate is not None and (not is_number(rate) or rate <= 0):
        raise KpiConfigError(f"max_rate_per_h must be a number > 0, got {rate!r}", where)
    interval = positive_int(raw, "interval_s", where, DEFAULT_METER_INTERVAL_S)
    return MeterConfig(
        device=raw["device"],
        wrap_modulus=None if modulus is None else float(modulus),
        max_rate_per_h=None if rate is None else float(rate),
        interval_s=interval,
        installed=None
        if "installed" not in raw
        else _local_date(raw["installed"], "installed", where),
    )


def _parse_exchange(raw: Mapping[str, Any], where: str) -> MeterExchange:
    _no_unknown(raw, {"device", "at", "old_final", "new_initial"}, where)
    at = raw.get("at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            raise KpiConfigError(f"at {at!r} is not an RFC 3339 time", where) from None
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise KpiConfigError(
            "at must be a time with a UTC offset (2026-11-20T10:00:00+08:00)", where
        )
    values = [non_negative_number(raw, key, where) for key in ("old_final", "new_initial")]
    return MeterExchange(
        device=raw["device"],
        at_ms=round(at.timestamp() * 1000),
        old_final=values[0],
        new_initial=values[1],
    )


def _parse_scale(raw: Mapping[str, Any], where: str) -> ScaleConfig:
    _no_unknown(raw, {"device", "division_g", "max_g", "zero_band_g", "emptying_drop_share"}, where)
    division = non_negative_number(raw, "division_g", where, DEFAULT_SCALE_DIVISION_G)
    max_g = raw.get("max_g")
    if max_g is not None and (not is_number(max_g) or max_g <= division):
        raise KpiConfigError(f"max_g must be a number > division_g, got {max_g!r}", where)
    band = optional_non_negative_number(raw, "zero_band_g", where)
    share = raw.get("emptying_drop_share", DEFAULT_EMPTYING_DROP_SHARE)
    if not is_number(share) or not 0 < share <= 1:
        raise KpiConfigError(
            f"emptying_drop_share must be a number in (0, 1], got {share!r}", where
        )
    return ScaleConfig(
        device=raw["device"],
        division_g=division,
        max_g=None if max_g is None else float(max_g),
        zero_band_g=band,
        emptying_drop_share=float(share),
    )


def _parse_baseline(value: Any, where: str) -> tuple[date, date] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"start", "end"}:
        raise KpiConfigError("baseline must be { start = YYYY-MM-DD, end = YYYY-MM-DD }", where)
    bounds = [_local_date(value[key], f"baseline {key}", where) for key in ("start", "end")]
    if bounds[1] < bounds[0]:
        raise KpiConfigError("baseline end is before its start", where)
    return bounds[0], bounds[1]


def _local_date(item: Any, label: str, where: str) -> date:
    """A TOML local date, or a YYYY-MM-DD string."""
    if isinstance(item, str):
        try:
            item = date.fromisoformat(item)
        except ValueError:
            raise KpiConfigError(f"{label} {item!r} is not YYYY-MM-DD", where) from None
    if not isinstance(item, date) or isinstance(item, datetime):
        raise KpiConfigError(f"{label} must be a date YYYY-MM-DD", where)
    return item


def _no_unknown(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise KpiConfigError(f"unknown keys {unknown}", where)


def _percent(value: float | None, key: str, where: str) -> float | None:
    """A share in percent: at most 100."""
    if value is not None and value > 100.0:
        raise KpiConfigError(f"{key} must be a percentage from 0 to 100, got {value!r}", where)
    return value
