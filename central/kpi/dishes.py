"""Waste by dish and by loss reason: per-date sums of tagged weighings, and their valuation.

The sums are additive arrays over the span's local dates (d) and the (item, reason, stream)
combinations seen (k): `DishTable.mass_g[d, k]` and `weighings[d, k]`. Untagged weighings are a
combination too (item "" and/or reason ""), so that a stream's total is the sum over its keys and
the share of tagged waste is visible. Readings pass the same steps as every waste KPI before they
are summed (central.kpi.daytable): wrong clocks attributed by receive time, raw kitchen bins turned
into deposits, implausible masses excluded; a reading belongs to the local date of its
(attributed) time, like the day totals of the waste streams.

Valuation (docs/kpis.md, "Waste by dish and reason"): an item's price and CO2e per kg from the
site's menu (central.kitchen, defaults per category); for a code the menu does not list, for
untagged waste and for category "other" without values, the site's food_price_cny_per_kg and
food_co2e_kg_per_kg (F8), else no value. Unknown codes are kept and reported (`known` false).
"""

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
    """One site's waste per local date (d) and (item, reason, stream) key (k)."""

    site: Site
    span: DateRange
    keys: tuple[DishKey, ...]
    mass_g: Float64Array  # (d, k)
    weighings: Int64Array  # (d, k)

    def dates(self) -> list[date]:
        return self.span.dates()


def build_dish_table(site: Site, span: DateRange, readings: SiteReadings) -> DishTable:
    """Sums of `readings` (loaded over central.kpi.daytable.load_range(site, span)) per local
    date of `span` and (item, reason, stream)."""
    corrected = correct_clocks(readings, site.kpi.clock).readings
    derived = derive_deposits(corrected.scale, site.kpi.scales).readings
    scale = check_scales(derived, site.kpi.scales).kept
    days = [day_windows(site, d) for d in span.dates()]
    starts = int_array([w.day.start_ms for w in days])
    ends = int_array([w.day.end_ms for w in days])
    # which date each reading falls on (-1: outside every date of the span)
    slot = np.searchsorted(starts, scale.time_ms, side="right") - 1
    inside = (slot >= 0) & (scale.time_ms < ends[np.clip(slot, 0, None)])
    triples = np.stack([scale.item, scale.reason, scale.stream], axis=1)[inside]
    if triples.size == 0:
        empty = np.zeros((len(days), 0))
        return DishTable(site, span, (), empty, empty.astype(np.int64))
    unique, key_index = np.unique(triples, axis=0, return_inverse=True)
    key_index = key_index.reshape(-1)
    n_d, n_k = len(days), unique.shape[0]
    flat = slot[inside].astype(np.int64) * n_k + key_index
    mass = np.bincount(flat, weights=scale.mass_g[inside], minlength=n_d * n_k).astype(np.float64)
    count = np.bincount(flat, minlength=n_d * n_k)
    keys = tuple(DishKey(str(i), str(r), str(s)) for i, r, s in unique.tolist())
    return DishTable(
        site, span, keys, mass.reshape(n_d, n_k), count.reshape(n_d, n_k).astype(np.int64)
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


def _select(table: DishTable, within: DateRange | None) -> tuple[Float64Array, Int64Array]:
    """Per-key sums over the dates of `within` (all dates when None)."""
    if within is None:
        return table.mass_g.sum(axis=0), table.weighings.sum(axis=0)
    picked = [i for i, on in enumerate(table.dates()) if within.first <= on <= within.last]
    return table.mass_g[picked].sum(axis=0), table.weighings[picked].sum(axis=0)


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
) -> DishSummary:
    """Waste per item or reason over the tables' dates (or `within`), of one site or summed
    over a region's sites, optionally of one stream."""
    accs: dict[str, _Acc] = {}
    total = 0.0
    unknown: set[str] = set()
    for table in tables:
        mass, count = _select(table, within)
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
    tables: Sequence[DishTable], item: str, buckets: Iterable[DateRange]
) -> list[TrendPoint]:
    """An item's waste (every stream and reason) in each bucket of dates."""
    out = []
    for bucket in buckets:
        grams, count = 0.0, 0
        for table in tables:
            mass, weighings = _select(table, bucket)
            for k, key in enumerate(table.keys):
                if key.item == item:
                    grams += float(mass[k])
                    count += int(weighings[k])
        out.append(TrendPoint(bucket.first, bucket.last, grams, count))
    return out
