"""The site registry: sites, their meal services and the edges allowed to write them, from TOML.

The format is specified in docs/architecture.md ("Site registry"). Everything is validated when
central starts so that a wrong registry fails loudly with the site and field named, instead of
producing wrong KPIs later.
"""

import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from central.errors import CentralError
from central.kitchen import (
    KITCHEN_KEYS,
    DinerOverride,
    Menu,
    parse_diner_overrides,
    parse_menu,
)
from central.site_kpi_config import (
    BUILTIN_FACTOR_SET,
    SITE_KPI_KEYS,
    FactorSet,
    SiteKpiConfig,
    parse_factor_sets,
    parse_site_kpi_config,
)
from central.toml_fields import (
    FieldError,
    is_int,
    is_number,
    non_negative_number,
    optional_non_negative_number,
    positive_int,
    table,
)
from contract.topics import ID_PATTERN
from contract.workcalendar import CalendarError, WorkCalendar, package_knows, parse_calendar

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_CLEAN_PLATE_THRESHOLD_G = 10.0
DEFAULT_GRACE_MIN = 60
DEFAULT_PREP_LEAD_MIN = 120
MINUTES_PER_DAY = 24 * 60
# (name, start, end) of the default services (docs/domain.md, "Meal services and time").
DEFAULT_SERVICES: tuple[tuple[str, str, str], ...] = (
    ("breakfast", "06:30", "09:00"),
    ("lunch", "11:00", "13:30"),
    ("dinner", "17:00", "19:30"),
)

_ID_RE = re.compile(f"^{ID_PATTERN}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")

_SITE_KEYS = frozenset(
    {
        "id",
        "name",
        "timezone",
        "registered_staff",
        "floor_area_m2",
        "clean_plate_threshold_g",
        "region",
        "services",
        *SITE_KPI_KEYS,
        *KITCHEN_KEYS,
    }
)
_SERVICE_KEYS = frozenset({"name", "start", "end", "grace_min", "prep_lead_min", "portion_g"})
_EDGE_KEYS = frozenset({"id", "site", "key_sha256"})


class RegistryError(CentralError):
    """The registry is missing, not TOML, or breaks a rule; `where` names the site/edge/field."""

    def __init__(self, reason: str, *, path: Path | None = None, where: str = "") -> None:
        prefix = f"registry {path}: " if path is not None else "registry: "
        super().__init__(prefix + (f"{where}: {reason}" if where else reason))
        self.detail = reason
        self.path = path
        self.where = where


@dataclass(frozen=True, slots=True)
class Service:
    """One meal service in the site's local time; windows derived from it are in kpi/windows.py."""

    name: str
    start: time
    end: time
    grace_min: int = DEFAULT_GRACE_MIN
    prep_lead_min: int = DEFAULT_PREP_LEAD_MIN
    portion_g: float | None = None  # planned food cooked per diner (production recommendation)

    @property
    def start_min(self) -> int:
        """Minutes after local midnight."""
        return self.start.hour * 60 + self.start.minute

    @property
    def end_min(self) -> int:
        return self.end.hour * 60 + self.end.minute

    @property
    def energy_window_min(self) -> tuple[int, int]:
        """[start - prep_lead, end) in minutes after local midnight; the start may be < 0."""
        return self.start_min - self.prep_lead_min, self.end_min


@dataclass(frozen=True, slots=True)
class Site:
    """A canteen: its time zone, KPI parameters and meal services."""

    id: str
    name: str
    timezone: ZoneInfo
    registered_staff: int
    services: tuple[Service, ...]
    floor_area_m2: float | None = None
    clean_plate_threshold_g: float = DEFAULT_CLEAN_PLATE_THRESHOLD_G
    region: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    kpi: SiteKpiConfig = field(default_factory=SiteKpiConfig, hash=False)
    menu: Menu = field(default_factory=Menu, hash=False)
    diner_overrides: tuple[DinerOverride, ...] = ()

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


@dataclass(frozen=True, slots=True)
class Edge:
    """An edge agent and the only site it may write; its API key is known by hash only."""

    id: str
    site: str
    key_sha256: str  # lowercase hex


@dataclass(frozen=True, slots=True)
class Registry:
    """Sites by id and edges, both in file order; the factor sets KPI results may name."""

    sites: Mapping[str, Site]
    edges: tuple[Edge, ...]
    factor_sets: Mapping[str, FactorSet] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    default_factor_set: FactorSet = BUILTIN_FACTOR_SET
    # public holidays and adjusted working days: [calendar.YYYY] years, else chinesecalendar
    calendar: WorkCalendar = field(default_factory=WorkCalendar, hash=False, compare=False)

    def site(self, site_id: str) -> Site | None:
        return self.sites.get(site_id)

    def region(self, key: str, value: str) -> tuple[Site, ...]:
        """Sites tagged `key = value` in their `region` table, in file order."""
        return tuple(s for s in self.sites.values() if s.region.get(key) == value)


def load_registry(path: Path) -> Registry:
    """Read and validate the registry at `path`; raise RegistryError naming what is wrong."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RegistryError(f"not valid TOML: {exc}", path=path) from exc
    try:
        return parse_registry(document)
    except RegistryError as exc:
        raise RegistryError(exc.detail, path=path, where=exc.where) from exc


def parse_registry(document: Mapping[str, Any]) -> Registry:
    """Validate a parsed TOML document (tomllib output); raise RegistryError naming the fault."""
    try:
        return _parse_registry(document)
    except FieldError as exc:
        raise RegistryError(exc.reason, where=exc.where) from exc


def _parse_registry(document: Mapping[str, Any]) -> Registry:
    raw_sites = document.get("sites")
    if not isinstance(raw_sites, list) or not raw_sites:
        raise RegistryError("no [[sites]] tables; at least one site is required")
    factor_sets, default_set = parse_factor_sets(document)
    sites: dict[str, Site] = {}
    for number, raw_site in enumerate(raw_sites, start=1):
        site = _parse_site(raw_site, number, factor_sets, default_set)
        if site.id in sites:
            raise RegistryError("duplicate site id", where=f"site {site.id!r}")
        sites[site.id] = site

    raw_edges = document.get("edges", [])
    if not isinstance(raw_edges, list):
        raise RegistryError("'edges' must be an array of tables ([[edges]])")
    edges: list[Edge] = []
    for number, raw_edge in enumerate(raw_edges, start=1):
        edge = _parse_edge(raw_edge, number)
        if edge.site not in sites:
            raise RegistryError(
                f"site {edge.site!r} is not a site of this registry", where=f"edge {edge.id!r}"
            )
        if any(other.id == edge.id for other in edges):
            raise RegistryError("duplicate edge id", where=f"edge {edge.id!r}")
        same_key = next((other for other in edges if other.key_sha256 == edge.key_sha256), None)
        if same_key is not None:
            raise RegistryError(
                f"key_sha256 is the same as edge {same_key.id!r}'s; every edge needs its own key",
                where=f"edge {edge.id!r}",
            )
        edges.append(edge)
    if not edges:
        logger.warning("the registry names no [[edges]]: no edge can upload readings")
    calendar = _parse_calendar(document)
    return Registry(
        sites=MappingProxyType(sites),
        edges=tuple(edges),
        factor_sets=factor_sets,
        default_factor_set=default_set,
        calendar=calendar,
    )


def _parse_calendar(document: Mapping[str, Any]) -> WorkCalendar:
    """The `[calendar.YYYY]` years; each replaces the package's table of that year (logged)."""
    try:
        calendar = parse_calendar(document)
    except CalendarError as exc:
        raise RegistryError(exc.reason, where=exc.where) from exc
    for year in calendar.years:
        logger.info(
            "registry: the holidays of %d come from [calendar.%d]%s",
            year,
            year,
            " (in place of chinesecalendar's)" if package_knows(year) else "",
        )
    return calendar


def _warn_unknown(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    # Warn rather than fail: the simulator shares this file and may add its own keys, but a
    # misspelt key (grace_mins) silently falling back to a default deserves a visible line.
    for key in sorted(set(table) - known):
        logger.warning("registry %s: unknown key %r ignored", where, key)


def _parse_site(
    raw_site: Any, number: int, factor_sets: Mapping[str, FactorSet], default_set: FactorSet
) -> Site:
    raw = table(raw_site, f"sites[{number}]")
    site_id = raw.get("id")
    if not isinstance(site_id, str) or not _ID_RE.match(site_id):
        raise RegistryError(
            f"id {site_id!r} must be 1-64 letters, digits, '-' or '_'", where=f"sites[{number}]"
        )
    where = f"site {site_id!r}"
    _warn_unknown(raw, _SITE_KEYS, where)

    name = raw.get("name", site_id)
    if not isinstance(name, str) or not name.strip():
        raise RegistryError("name must be non-empty text", where=where)

    tz_name = raw.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(tz_name, str):
        raise RegistryError("timezone must be an IANA name such as 'Asia/Shanghai'", where=where)
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RegistryError(f"unknown time zone {tz_name!r}", where=where) from exc

    staff = positive_int(raw, "registered_staff", where)

    floor_area = raw.get("floor_area_m2")
    if floor_area is not None and (not is_number(floor_area) or floor_area <= 0):
        raise RegistryError(
            f"floor_area_m2 must be a positive number, got {floor_area!r}", where=where
        )

    threshold = non_negative_number(
        raw, "clean_plate_threshold_g", where, DEFAULT_CLEAN_PLATE_THRESHOLD_G
    )

    region = raw.get("region", {})
    if not isinstance(region, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in region.items()
    ):
        raise RegistryError("region must be a table of text tags", where=where)

    raw_services = raw.get("services")
    if raw_services is None:
        services = tuple(
            Service(name=n, start=time.fromisoformat(s), end=time.fromisoformat(e))
            for n, s, e in DEFAULT_SERVICES
        )
    elif isinstance(raw_services, list) and raw_services:
        services = tuple(_parse_service(item, where, n) for n, item in enumerate(raw_services, 1))
    else:
        raise RegistryError("services must be a non-empty array of tables", where=where)
    _check_services(services, where)
    kpi = parse_site_kpi_config(raw, where, factor_sets, default_set)
    menu = parse_menu(raw, where)
    overrides = parse_diner_overrides(raw, where, tuple(s.name for s in services))

    return Site(
        id=site_id,
        name=name,
        timezone=timezone,
        registered_staff=staff,
        services=services,
        floor_area_m2=None if floor_area is None else float(floor_area),
        clean_plate_threshold_g=threshold,
        region=MappingProxyType(dict(region)),
        kpi=kpi,
        menu=menu,
        diner_overrides=overrides,
    )


def _parse_service(raw_service: Any, site_where: str, number: int) -> Service:
    raw = table(raw_service, f"{site_where} services[{number}]")
    name = raw.get("name")
    if not isinstance(name, str) or not _ID_RE.match(name):
        raise RegistryError(
            f"name {name!r} must be 1-64 letters, digits, '-' or '_'",
            where=f"{site_where} services[{number}]",
        )
    where = f"{site_where} service {name!r}"
    _warn_unknown(raw, _SERVICE_KEYS, where)
    start = _parse_time(raw.get("start"), where, "start")
    end = _parse_time(raw.get("end"), where, "end")
    if end <= start:
        raise RegistryError(
            f"end {end:%H:%M} must be after start {start:%H:%M} (services cannot span midnight)",
            where=where,
        )
    grace = raw.get("grace_min", DEFAULT_GRACE_MIN)
    if not is_int(grace) or not 0 <= grace <= MINUTES_PER_DAY:
        raise RegistryError(f"grace_min must be an integer 0-1440, got {grace!r}", where=where)
    lead = raw.get("prep_lead_min", DEFAULT_PREP_LEAD_MIN)
    if not is_int(lead) or not 0 <= lead <= MINUTES_PER_DAY:
        raise RegistryError(f"prep_lead_min must be an integer 0-1440, got {lead!r}", where=where)
    portion = optional_non_negative_number(raw, "portion_g", where)
    return Service(
        name=name, start=start, end=end, grace_min=grace, prep_lead_min=lead, portion_g=portion
    )


def _check_services(services: tuple[Service, ...], where: str) -> None:
    """Service names are unique and energy windows [start - prep_lead, end) never overlap.

    Windows are compared on consecutive days too (shift of one day), so that a long preparation
    lead reaching into the previous evening cannot overlap that evening's service either.
    """
    names = [s.name for s in services]
    for name in names:
        if names.count(name) > 1:
            raise RegistryError(f"duplicate service name {name!r}", where=where)
    for i, first in enumerate(services):
        a1, b1 = first.energy_window_min
        for second in services[i:]:
            a2, b2 = second.energy_window_min
            shifts = (
                (-MINUTES_PER_DAY, MINUTES_PER_DAY)
                if first is second
                else (
                    -MINUTES_PER_DAY,
                    0,
                    MINUTES_PER_DAY,
                )
            )
            for shift in shifts:
                if a1 < b2 + shift and a2 + shift < b1:
                    raise RegistryError(
                        f"energy windows [start - prep_lead_min, end) of services {first.name!r} "
                        f"and {second.name!r} overlap; shorten prep_lead_min or move a service",
                        where=where,
                    )


def _parse_time(value: Any, where: str, key: str) -> time:
    # TOML has a native local-time type (start = 06:30:00); the documented form is "HH:MM" text.
    if isinstance(value, time) and value.tzinfo is None:
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str) and _HHMM_RE.match(value):
        return time.fromisoformat(value)
    raise RegistryError(f"{key} must be local time 'HH:MM', got {value!r}", where=where)


def _parse_edge(raw_edge: Any, number: int) -> Edge:
    raw = table(raw_edge, f"edges[{number}]")
    edge_id = raw.get("id")
    if not isinstance(edge_id, str) or not _ID_RE.match(edge_id):
        raise RegistryError(
            f"id {edge_id!r} must be 1-64 letters, digits, '-' or '_'", where=f"edges[{number}]"
        )
    where = f"edge {edge_id!r}"
    _warn_unknown(raw, _EDGE_KEYS, where)
    site = raw.get("site")
    if not isinstance(site, str):
        raise RegistryError("site must name a site id", where=where)
    key_hash = raw.get("key_sha256")
    if not isinstance(key_hash, str) or not _SHA256_RE.match(key_hash):
        raise RegistryError(
            "key_sha256 must be 64 hexadecimal digits (the SHA-256 of the key; "
            "`canteen-central new-edge-key` prints one)",
            where=where,
        )
    return Edge(id=edge_id, site=site, key_sha256=key_hash.lower())
