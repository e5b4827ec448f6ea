"""Waste by dish and by loss reason: per-date sums of tagged weighings, and their valuation.

The sums are additive arrays over the span's local dates (d), the site's meal services (s) and
the (item, reason, stream) combinations seen (k): `DishTable.mass_g[d, k]` and `weighings[d, k]`
for the day, `service_mass_g[d, s, k]` and `service_weighings[d, s, k]` per service. Untagged
weighings are a combination too (item "" and/or reason ""), so that a stream's total is the sum
over its keys and the share of tagged waste is visible. Readings pass the same steps as every
waste KPI before they are summed (central.kpi.daytable): wrong clocks attributed by receive time,
raw kitchen bins turned into deposits, implausible masses excluded; a reading belongs to the local
date of its (attributed) time, like the day totals of the waste streams, and to a service when it
lies in that service's window of its stream (plate and overproduction: the service plus its
grace; prep: the prep lead before the service to its end), like the per-service waste of
central.kpi.daytable; spoilage belongs to no service.

Per date, a table is stored with the date's rollup (`dish_bytes`, central.kpi.rollup) and a span
is composed of them (`compose_dish_tables`): every figure is a sum over the readings of one date's
windows, so the composed table equals the one built from every reading in one go
(tests/central/test_dish_rollup.py).

Valuation (docs/kpis.md, "Waste by dish and reason"): an item's price and CO2e per kg from the
site's menu (central.kitchen, defaults per category); for a code the menu does not list, for
untagged waste and for category "other" without values, the site's food_price_cny_per_kg and
food_co2e_kg_per_kg (F8), else no value. Unknown codes are kept and reported (`known` false).
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np

from central.kpi.clocks import correct_clocks
from central.kpi.periods import DateRange
from central.kpi.rawbins import derive_deposits
from central.kpi.readings import Float64Array, Int64Array, SiteReadings, int_array
from central.kpi.scales import check_scales
from central.kpi.windows import day_windows
from central.registry import Site
from contract import Stream

UNTAGGED = ""
# Names of the loss reasons (contract.units.LossReason) and of untagged waste, (zh, en).
REASON_NAMES = {
    "trim": ("修整边角料", "trimmings"),
    "spoiled": ("变质", "spoiled"),
    "expired": ("过期", "expired"),
    "overproduced": ("过量制作", "overproduced"),
    "dropped": ("掉落烧焦", "dropped or burnt"),
    "returned": ("退回", "returned"),
    "other": ("其他", "other"),
}
UNTAGGED_NAMES = ("未标记", "untagged")


class DishGroup(StrEnum):
    ITEM = "item"
    REASON = "reason"


@dataclass(frozen=True, slots=True)
class DishKey:
    item: str  # menu item code, "" when untagged
    reason: str  # contract.units.LossReason value, "" when untagged
    stream: str  # contract.units.Stream value


@dataclass(frozen=True, slots=True)
class DishTable:
    """One site's waste per local date (d), meal service (s) and (item, reason, stream) key (k)."""

    site: Site
    span: DateRange
    keys: tuple[DishKey, ...]
    mass_g: Float64Array  # (d, k): the local date
    weighings: Int64Array  # (d, k)
    services: tuple[str, ...]  # the site's services, in its order
    service_mass_g: Float64Array  # (d, s, k): the service's window of the key's stream
    service_weighings: Int64Array  # (d, s, k)

    def dates(self) -> list[date]:
        return self.span.dates()


# The window of a service that each stream's weighings are attributed to (central.kpi.windows);
# spoilage has none.
SERVICE_WINDOW_OF_STREAM = {
    Stream.PLATE.value: "plate",
    Stream.PREP.value: "prep",
    Stream.OVERPRODUCTION.value: "overproduction",
}


def _empty_table(site: Site, span: DateRange) -> DishTable:
    n_d, n_s = span.days, len(site.services)
    return DishTable(
        site,
        span,
        (),
        np.zeros((n_d, 0)),
        np.zeros((n_d, 0), dtype=np.int64),
        tuple(s.name for s in site.services),
        np.zeros((n_d, n_s, 0)),
        np.zeros((n_d, n_s, 0), dtype=np.int64),
    )


def build_dish_table(site: Site, span: DateRange, readings: SiteReadings) -> DishTable:
    """Sums of `readings` (loaded over central.kpi.daytable.load_range(site, span)) per local
    date of `span`, meal service and (item, reason, stream); only scale readings are read."""
    corrected = correct_clocks(readings, site.kpi.clock).readings
    derived = derive_deposits(corrected.scale, site.kpi.scales).readings
    scale = check_scales(derived, site.kpi.scales).kept
    if scale.time_ms.size == 0:
        return _empty_table(site, span)
    days = [day_windows(site, d) for d in span.dates()]
    n_d, n_s = len(days), len(site.services)
    # the (item, reason, stream) keys in sorted order: each column's codes (its sorted names'
    # indexes) combined into one integer, so that one integer unique finds the keys
    columns = [np.unique(c, return_inverse=True) for c in (scale.item, scale.reason, scale.stream)]
    shape = tuple(len(names) for names, _ in columns)
    combined = np.ravel_multi_index([codes.reshape(-1) for _, codes in columns], shape)
    present, key_index = np.unique(combined, return_inverse=True)
    key_index = key_index.reshape(-1).astype(np.int64)
    n_k = present.size
    indexes = np.unravel_index(present, shape)
    named = [names[at].tolist() for (names, _), at in zip(columns, indexes, strict=True)]
    triples = list(zip(*named, strict=True))
    # the day: which date each reading falls on (-1: outside every date of the span)
    starts = int_array([w.day.start_ms for w in days])
    ends = int_array([w.day.end_ms for w in days])
    slot = np.searchsorted(starts, scale.time_ms, side="right") - 1
    inside = (slot >= 0) & (scale.time_ms < ends[np.clip(slot, 0, None)])
    flat = slot[inside].astype(np.int64) * n_k + key_index[inside]
    mass = np.bincount(flat, weights=scale.mass_g[inside], minlength=n_d * n_k)
    count = np.bincount(flat, minlength=n_d * n_k).astype(np.int64)
    # the services: each (date, service) window of a stream (windows may overlap, so that a
    # reading can belong to two services, as in central.kpi.daytable)
    service_mass = np.zeros((n_d * n_s, n_k), dtype=np.float64)
    service_count = np.zeros((n_d * n_s, n_k), dtype=np.int64)
    for stream, pick in SERVICE_WINDOW_OF_STREAM.items():
        mine = scale.stream == stream
        if not np.any(mine):
            continue
        order = np.argsort(scale.time_ms[mine], kind="stable")
        times, masses = scale.time_ms[mine][order], scale.mass_g[mine][order]
        keys_of = key_index[mine][order]
        w_start = int_array([getattr(s, pick).start_ms for w in days for s in w.services])
        w_end = int_array([getattr(s, pick).end_ms for w in days for s in w.services])
        lo, hi = np.searchsorted(times, w_start), np.searchsorted(times, w_end)
        for at in np.flatnonzero(hi > lo).tolist():
            part = slice(int(lo[at]), int(hi[at]))
            service_mass[at] += np.bincount(keys_of[part], weights=masses[part], minlength=n_k)
            service_count[at] += np.bincount(keys_of[part], minlength=n_k)
    used = (count.reshape(n_d, n_k).sum(axis=0) > 0) | (service_count.sum(axis=0) > 0)
    keys = tuple(DishKey(*t) for t, on in zip(triples, used.tolist(), strict=True) if on)
    return DishTable(
        site,
        span,
        keys,
        mass.reshape(n_d, n_k)[:, used].astype(np.float64),
        count.reshape(n_d, n_k)[:, used],
        tuple(s.name for s in site.services),
        service_mass.reshape(n_d, n_s, n_k)[:, :, used],
        service_count.reshape(n_d, n_s, n_k)[:, :, used],
    )


def dish_bytes(table: DishTable) -> bytes:
    """One date's table as bytes for its rollup, sparse (most keys belong to one stream, hence to
    the day and at most one or two services): entry count and header length (int64 each), a JSON
    header (the keys), then per non-empty figure its mass (float64), weighings and slot (int32
    each; slot = key * (1 + services) + scope, scope 0 the day, 1 + s service s). Deterministic
    for a given table; b"" without keys."""
    if table.span.days != 1:
        raise ValueError(f"dish_bytes takes one date's table, not {table.span}")
    if not table.keys:
        return b""
    header = json.dumps(
        [[k.item, k.reason, k.stream] for k in table.keys], separators=(",", ":")
    ).encode()
    # (k, 1 + s): the day, then each service
    mass = np.concatenate([table.mass_g.T, table.service_mass_g[0].T], axis=1).ravel()
    count = np.concatenate([table.weighings.T, table.service_weighings[0].T], axis=1).ravel()
    slot = np.flatnonzero(count)
    return b"".join(
        [
            np.array([slot.size, len(header)], dtype="<i8").tobytes(),
            header,
            mass[slot].astype("<f8").tobytes(),
            count[slot].astype("<i4").tobytes(),
            slot.astype("<i4").tobytes(),
        ]
    )


def compose_dish_tables(site: Site, span: DateRange, blobs: Sequence[bytes]) -> DishTable:
    """The DishTable of `span` from one `dish_bytes` per date (in date order)."""
    if len(blobs) != span.days:
        raise ValueError(f"{len(blobs)} dish entries for a span of {span.days} dates")
    n_d, n_s = span.days, len(site.services)
    width = 1 + n_s
    index: dict[tuple[str, str, str], int] = {}
    of_header: dict[bytes, np.ndarray] = {}  # most dates of a span list the same keys
    dates, slots, masses, counts = [], [], [], []
    for d, blob in enumerate(blobs):
        if not blob:
            continue
        n, n_header = np.frombuffer(blob, dtype="<i8", count=2).tolist()
        header = blob[16 : 16 + n_header]
        at = of_header.get(header)
        if at is None:
            listed = [(str(i), str(r), str(s)) for i, r, s in json.loads(header)]
            at = np.array([index.setdefault(k, len(index)) for k in listed], dtype=np.int64)
            of_header[header] = at
        offset = 16 + n_header
        masses.append(np.frombuffer(blob, dtype="<f8", count=n, offset=offset))
        counts.append(np.frombuffer(blob, dtype="<i4", count=n, offset=offset + 8 * n))
        slot = np.frombuffer(blob, dtype="<i4", count=n, offset=offset + 12 * n)
        slots.append(at[slot // width] * width + slot % width)  # over every key of the span
        dates.append(np.full(n, d, dtype=np.int64))
    if not index:
        return _empty_table(site, span)
    n_k = len(index)
    mass = np.zeros(n_d * n_k * width, dtype=np.float64)
    count = np.zeros(n_d * n_k * width, dtype=np.int64)
    flat = np.concatenate(dates) * (n_k * width) + np.concatenate(slots)
    mass[flat] = np.concatenate(masses)
    count[flat] = np.concatenate(counts)
    order = sorted(index)  # the key order of a one-go build (np.unique)
    pick = np.array([index[k] for k in order], dtype=np.int64)
    mass_dks = mass.reshape(n_d, n_k, width)[:, pick]
    count_dks = count.reshape(n_d, n_k, width)[:, pick]
    return DishTable(
        site,
        span,
        tuple(DishKey(*k) for k in order),
        mass_dks[:, :, 0],
        count_dks[:, :, 0],
        tuple(s.name for s in site.services),
        np.ascontiguousarray(mass_dks[:, :, 1:].transpose(0, 2, 1)),
        np.ascontiguousarray(count_dks[:, :, 1:].transpose(0, 2, 1)),
    )


@dataclass(frozen=True, slots=True)
class DishRow:
    """The waste of one item (or reason) over a period, valued."""

    key: str  # item code or reason; "" for untagged weighings
    known: bool  # item: listed in the menu of every site it was weighed at; reason: always
    name_zh: str
    name_en: str
    category: str  # item: the menu category ("" unknown); reason: ""
    mass_g: float
    weighings: int
    share_pct: float | None  # of the period's waste (of `stream` when one is chosen)
    value_cny: float | None  # None when no price is known for some of its mass
    co2e_kg: float | None


@dataclass(frozen=True, slots=True)
class DishSummary:
    rows: tuple[DishRow, ...]  # by mass, largest first
    total_g: float  # the period's waste (of `stream` when one is chosen), tagged or not
    tagged_g: float  # part of it tagged with `group` (item or reason)
    unknown_items: tuple[str, ...]  # codes weighed but in no menu of the sites they came from


def _select(
    table: DishTable, within: DateRange | None, service: str | None = None
) -> tuple[Float64Array, Int64Array]:
    """Per-key sums over the dates of `within` (all dates when None), of the day or of one
    meal service (none of it at a site without that service)."""
    mass, count = table.mass_g, table.weighings
    if service is not None:
        if service not in table.services:
            n_k = len(table.keys)
            return np.zeros(n_k), np.zeros(n_k, dtype=np.int64)
        s = table.services.index(service)
        mass, count = table.service_mass_g[:, s, :], table.service_weighings[:, s, :]
    if within is None:
        return mass.sum(axis=0), count.sum(axis=0)
    picked = [i for i, on in enumerate(table.dates()) if within.first <= on <= within.last]
    return mass[picked].sum(axis=0), count[picked].sum(axis=0)


def _unit_values(site: Site, item: str) -> tuple[float | None, float | None]:
    """Price (CNY/kg) and CO2e (kg/kg) for waste tagged `item` at `site` (module docstring)."""
    menu_item = site.menu.item(item) if item else None
    price = None if menu_item is None else menu_item.price_cny_per_kg
    co2e = None if menu_item is None else menu_item.co2e_kg_per_kg
    if price is None:
        price = site.kpi.food_price_cny_per_kg
    if co2e is None:
        co2e = site.kpi.food_co2e_kg_per_kg
    return price, co2e


@dataclass
class _Acc:
    mass_g: float = 0.0
    weighings: int = 0
    value_cny: float | None = 0.0
    co2e_kg: float | None = 0.0
    known: bool = True
    name_zh: str = ""
    name_en: str = ""
    category: str = ""


def summarise(
    tables: Sequence[DishTable],
    group: DishGroup,
    stream: str | None = None,
    within: DateRange | None = None,
    service: str | None = None,
) -> DishSummary:
    """Waste per item or reason over the tables' dates (or `within`), of one site or summed
    over a region's sites, optionally of one stream and of one meal service."""
    accs: dict[str, _Acc] = {}
    total = 0.0
    unknown: set[str] = set()
    for table in tables:
        mass, count = _select(table, within, service)
        for k, key in enumerate(table.keys):
            if stream is not None and key.stream != stream:
                continue
            grams = float(mass[k])
            total += grams
            if grams == 0.0 and count[k] == 0:
                continue
            name = key.item if group is DishGroup.ITEM else key.reason
            acc = accs.setdefault(name, _Acc())
            acc.mass_g += grams
            acc.weighings += int(count[k])
            price, co2e = _unit_values(table.site, key.item)
            acc.value_cny = (
                None
                if acc.value_cny is None or price is None
                else (acc.value_cny + grams / 1000 * price)
            )
            acc.co2e_kg = (
                None if acc.co2e_kg is None or co2e is None else (acc.co2e_kg + grams / 1000 * co2e)
            )
            menu_item = table.site.menu.item(key.item) if key.item else None
            if key.item and menu_item is None:
                unknown.add(key.item)  # reported whichever way the rows are grouped
            if group is DishGroup.ITEM and key.item:
                if menu_item is None:
                    acc.known = False
                elif not acc.name_zh:
                    acc.name_zh, acc.name_en = menu_item.name_zh, menu_item.name_en
                    acc.category = menu_item.category
    rows = []
    for name, acc in accs.items():
        if not name:
            acc.name_zh, acc.name_en = UNTAGGED_NAMES
        elif group is DishGroup.REASON:
            acc.name_zh, acc.name_en = REASON_NAMES.get(name, (name, name))
        rows.append(
            DishRow(
                key=name,
                known=acc.known,
                name_zh=acc.name_zh or name,
                name_en=acc.name_en or name,
                category=acc.category,
                mass_g=acc.mass_g,
                weighings=acc.weighings,
                share_pct=None if total <= 0 else 100.0 * acc.mass_g / total,
                value_cny=acc.value_cny,
                co2e_kg=acc.co2e_kg,
            )
        )
    rows.sort(key=lambda r: (-r.mass_g, r.key))
    tagged = sum(r.mass_g for r in rows if r.key != UNTAGGED)
    return DishSummary(tuple(rows), total, tagged, tuple(sorted(unknown)))


@dataclass(frozen=True, slots=True)
class TrendPoint:
    first: date
    last: date
    mass_g: float
    weighings: int


def item_trend(
    tables: Sequence[DishTable],
    item: str,
    buckets: Iterable[DateRange],
    service: str | None = None,
) -> list[TrendPoint]:
    """An item's waste (every stream and reason) in each bucket of dates, of the day or of one
    meal service."""
    out = []
    for bucket in buckets:
        grams, count = 0.0, 0
        for table in tables:
            mass, weighings = _select(table, bucket, service)
            for k, key in enumerate(table.keys):
                if key.item == item:
                    grams += float(mass[k])
                    count += int(weighings[k])
        out.append(TrendPoint(bucket.first, bucket.last, grams, count))
    return out
