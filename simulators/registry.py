"""Reads the `[[sites]]` of the site registry TOML (docs/architecture.md) into frozen dataclasses.

Everything else in the file (names, floor areas, `[[edges]]`, unknown keys) belongs to central
and is ignored, except `[[sites.meters]]`: the register modulus, maximum plausible rate and reading
interval of each meter, which the simulator honours and central uses to clean the counters, and
the central-wide `[calendar.YYYY]` holiday schedules (contract.workcalendar, load_calendar), which
the demand model follows as central's forecast does.
Sites whose meal-service windows would make attribution ambiguous are refused,
because the simulator promises that every event it generates lies in exactly one window.
"""

import itertools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contract.topics import ID_PATTERN
from contract.units import Quantity
from contract.workcalendar import CalendarError, WorkCalendar, parse_calendar
from simulators.errors import RegistryError

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_CLEAN_PLATE_THRESHOLD_G = 10.0
DEFAULT_GRACE_MIN = 60
DEFAULT_PREP_LEAD_MIN = 120
MINUTES_PER_DAY = 24 * 60

_ID_RE = re.compile(ID_PATTERN)
_HHMM_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True, slots=True)
class Service:
    """One meal service, times in minutes after local midnight (wall clock)."""

    name: str
    start_min: int
    end_min: int
    grace_min: int = DEFAULT_GRACE_MIN
    prep_lead_min: int = DEFAULT_PREP_LEAD_MIN

    @property
    def prep_start_min(self) -> int:
        """Start of the prep-waste and energy window `[start - prep_lead, end)`."""
        return self.start_min - self.prep_lead_min

    @property
    def waste_end_min(self) -> int:
        """End of the plate and overproduction window `[start, end + grace)`."""
        return self.end_min + self.grace_min


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """One `[[sites.meters]]` entry: what central must know to clean this meter's register."""

    device: str  # meter-elec | meter-gas | meter-water
    wrap_modulus: float  # the register shows its value modulo this, canonical unit (kWh, m3)
    max_rate_per_h: float  # canonical unit per hour; a delta implying more is a spike
    interval_s: int | None = None  # reading interval; None: the simulator's --meter-interval-s


# Device id of each meter, as in simulators.devices (kept here so that the registry stands alone).
METER_DEVICES: dict[str, Quantity] = {
    "meter-elec": Quantity.ELECTRICITY,
    "meter-gas": Quantity.GAS,
    "meter-water": Quantity.WATER,
}
DEFAULT_WRAP_MODULUS = 100_000.0
# Well above the simulated peaks (about 200 kW, 40 m3/h gas, 8 m3/h water at 700 staff) and far
# below any injected spike (+2^16 or x1000 within one interval).
DEFAULT_MAX_RATE_PER_H: dict[Quantity, float] = {
    Quantity.ELECTRICITY: 1000.0,
    Quantity.GAS: 200.0,
    Quantity.WATER: 100.0,
}
DEFAULT_METERS: tuple[MeterSpec, ...] = tuple(
    MeterSpec(device, DEFAULT_WRAP_MODULUS, DEFAULT_MAX_RATE_PER_H[quantity])
    for device, quantity in METER_DEVICES.items()
)

DEFAULT_SERVICES: tuple[Service, ...] = (
    Service("breakfast", 6 * 60 + 30, 9 * 60),
    Service("lunch", 11 * 60, 13 * 60 + 30),
    Service("dinner", 17 * 60, 19 * 60 + 30),
)


@dataclass(frozen=True, slots=True)
class Site:
    """What the simulator needs of a registry site."""

    id: str
    timezone: str
    registered_staff: int
    services: tuple[Service, ...] = DEFAULT_SERVICES
    clean_plate_threshold_g: float = DEFAULT_CLEAN_PLATE_THRESHOLD_G
    meters: tuple[MeterSpec, ...] = DEFAULT_METERS
    menu: tuple[str, ...] = ()  # the codes of `[[sites.menu]]`; empty: the simulator's own

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def meter(self, quantity: Quantity) -> MeterSpec:
        """The site's settings of the meter of `quantity` (every site has all three meters)."""
        for spec in self.meters:
            if METER_DEVICES[spec.device] is quantity:
                return spec
        raise KeyError(quantity)  # unreachable: _parse_meters fills in the defaults


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise RegistryError(
            f"cannot read the registry: {exc.strerror or exc}", path=str(path)
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"not valid TOML: {exc}", path=str(path)) from exc


def load_registry(path: Path) -> tuple[Site, ...]:
    """Read and check the `[[sites]]` of the registry TOML at `path`."""
    document = _read(path)
    try:
        return parse_registry(document)
    except RegistryError as exc:
        raise RegistryError(exc.reason, path=str(path)) from exc


def load_calendar(path: Path) -> WorkCalendar:
    """The registry's `[calendar.YYYY]` holiday schedules, checked as central checks them."""
    try:
        return parse_calendar(_read(path))
    except CalendarError as exc:
        raise RegistryError(str(exc), path=str(path)) from exc


def parse_registry(document: Mapping[str, Any]) -> tuple[Site, ...]:
    """Sites of an already parsed registry document, in file order."""
    raw_sites = document.get("sites")
    if not isinstance(raw_sites, list) or not raw_sites:
        raise RegistryError("no [[sites]] table")
    sites = tuple(_parse_site(raw, index) for index, raw in enumerate(raw_sites))
    seen: set[str] = set()
    for site in sites:
        if site.id in seen:
            raise RegistryError("duplicate site id", site=site.id)
        seen.add(site.id)
    return sites


def _parse_site(raw: object, index: int) -> Site:
    if not isinstance(raw, dict):
        raise RegistryError(f"[[sites]] entry {index} is not a table")
    site_id = raw.get("id")
    if not isinstance(site_id, str) or not _ID_RE.fullmatch(site_id):
        raise RegistryError(
            f"[[sites]] entry {index}: id {site_id!r} is not 1-64 letters, digits, '-', '_'"
        )
    timezone = raw.get("timezone", DEFAULT_TIMEZONE)
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RegistryError(f"unknown time zone {timezone!r}", site=site_id) from exc
    staff = raw.get("registered_staff")
    if isinstance(staff, bool) or not isinstance(staff, int) or staff < 1:
        raise RegistryError(
            f"registered_staff must be a positive integer (the simulated staff), not {staff!r}",
            site=site_id,
        )
    threshold = raw.get("clean_plate_threshold_g", DEFAULT_CLEAN_PLATE_THRESHOLD_G)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
        raise RegistryError(
            f"clean_plate_threshold_g {threshold!r} is not a mass >= 0", site=site_id
        )
    raw_services = raw.get("services")
    if raw_services is None:
        services = DEFAULT_SERVICES
    elif isinstance(raw_services, list) and raw_services:
        services = tuple(_parse_service(s, site_id) for s in raw_services)
    else:
        raise RegistryError("services must be a non-empty array of tables", site=site_id)
    services = tuple(sorted(services, key=lambda s: s.start_min))
    _check_windows(site_id, services)
    return Site(
        id=site_id,
        timezone=str(timezone),
        registered_staff=staff,
        services=services,
        clean_plate_threshold_g=float(threshold),
        meters=_parse_meters(raw.get("meters"), site_id),
        menu=_menu_codes(raw.get("menu"), site_id),
    )


def _menu_codes(raw_menu: object, site_id: str) -> tuple[str, ...]:
    """The item codes of `[[sites.menu]]` (central validates the rest of each item)."""
    if raw_menu is None:
        return ()
    if not isinstance(raw_menu, list) or not all(
        isinstance(item, dict) and isinstance(item.get("code"), str) for item in raw_menu
    ):
        raise RegistryError("menu must be an array of tables, each with a code", site=site_id)
    return tuple(str(item["code"]) for item in raw_menu)


def _positive_number(
    raw: Mapping[str, Any], key: str, default: float, where: str, site_id: str
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise RegistryError(f"{where}: {key} {value!r} is not a number > 0", site=site_id)
    return float(value)


def _parse_meters(raw_meters: object, site_id: str) -> tuple[MeterSpec, ...]:
    """`[[sites.meters]]`, one entry per meter at most; meters not listed get the defaults."""
    if raw_meters is None:
        return DEFAULT_METERS
    if not isinstance(raw_meters, list):
        raise RegistryError("meters must be an array of tables", site=site_id)
    given: dict[str, MeterSpec] = {}
    for raw in raw_meters:
        if not isinstance(raw, dict):
            raise RegistryError("a [[sites.meters]] entry is not a table", site=site_id)
        device = raw.get("device")
        if device not in METER_DEVICES:
            raise RegistryError(
                f"meter device {device!r} is not one of {sorted(METER_DEVICES)}", site=site_id
            )
        if device in given:
            raise RegistryError(f"meter {device} is listed twice", site=site_id)
        where = f"meter {device}"
        interval = raw.get("interval_s")
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int) or interval < 1
        ):
            raise RegistryError(
                f"{where}: interval_s {interval!r} is not a whole number >= 1", site=site_id
            )
        quantity = METER_DEVICES[device]
        given[device] = MeterSpec(
            device=device,
            wrap_modulus=_positive_number(
                raw, "wrap_modulus", DEFAULT_WRAP_MODULUS, where, site_id
            ),
            max_rate_per_h=_positive_number(
                raw, "max_rate_per_h", DEFAULT_MAX_RATE_PER_H[quantity], where, site_id
            ),
            interval_s=interval,
        )
    return tuple(given.get(spec.device, spec) for spec in DEFAULT_METERS)


def _minutes(value: object, what: str, site_id: str) -> int:
    match = _HHMM_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise RegistryError(f"{what} {value!r} is not a local time HH:MM", site=site_id)
    return int(match.group(1)) * 60 + int(match.group(2))


def _nonnegative_int(raw: Mapping[str, Any], key: str, default: int, site_id: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RegistryError(f"{key} {value!r} is not a whole number of minutes >= 0", site=site_id)
    return value


def _parse_service(raw: object, site_id: str) -> Service:
    if not isinstance(raw, dict):
        raise RegistryError("a [[sites.services]] entry is not a table", site=site_id)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise RegistryError(f"service name {name!r} is not a non-empty string", site=site_id)
    start = _minutes(raw.get("start"), f"{name}.start", site_id)
    end = _minutes(raw.get("end"), f"{name}.end", site_id)
    if end <= start:
        raise RegistryError(f"service {name} ends before it starts", site=site_id)
    return Service(
        name=name,
        start_min=start,
        end_min=end,
        grace_min=_nonnegative_int(raw, "grace_min", DEFAULT_GRACE_MIN, site_id),
        prep_lead_min=_nonnegative_int(raw, "prep_lead_min", DEFAULT_PREP_LEAD_MIN, site_id),
    )


def _check_windows(site_id: str, services: tuple[Service, ...]) -> None:
    """Refuse windows that leave the local day or overlap (attribution would be ambiguous)."""
    names = [s.name for s in services]
    if len(set(names)) != len(names):
        raise RegistryError(f"duplicate service names in {names}", site=site_id)
    for service in services:
        if service.prep_start_min < 0 or service.waste_end_min > MINUTES_PER_DAY:
            raise RegistryError(
                f"service {service.name}: window from start - prep_lead to end + grace leaves the "
                "local day; the simulator attributes every event to the local date it happens on",
                site=site_id,
            )
    for earlier, later in itertools.pairwise(services):
        # Energy and prep windows must not overlap (central rejects such a registry as well);
        # the diner window [start, end) must not either.
        if later.prep_start_min < earlier.end_min:
            raise RegistryError(
                f"energy windows of {earlier.name} and {later.name} overlap", site=site_id
            )
        # Plate and overproduction windows [start, end + grace): a tray returned in the overlap
        # could belong to either service.
        if later.start_min < earlier.waste_end_min:
            raise RegistryError(
                f"waste windows [start, end + grace) of {earlier.name} and {later.name} overlap",
                site=site_id,
            )
