"""A site's kitchen plan in the registry: its menu, and the days whose diners are known ahead.

The menu lists the dishes a kitchen terminal may tag a weighing with, as `[[sites.menu]]` tables
(docs/architecture.md, "Site registry"): a code, names in Chinese and English, a category, and the
price and CO2e per kg that value the dish's waste. Price and CO2e default per category
(DEFAULT_PRICE_CNY_PER_KG, DEFAULT_CO2E_KG_PER_KG; sources in docs/kpis.md, "Waste by dish and
reason"); the category "other" has no default, so its value is unknown unless the item names one.

`[[sites.diner_overrides]]` tables name a date (and optionally one service) where the diners are
known in advance: a closed day (`closed = true`) or a meeting (`diners = N`, the expected total).
The diner forecast (central/kpi/forecast.py) takes them as given.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from central.toml_fields import FieldError, optional_non_negative_number, table
from contract.topics import ID_PATTERN

_CODE_RE = re.compile(f"^{ID_PATTERN}$")
KITCHEN_KEYS = frozenset({"menu", "diner_overrides"})
_OVERRIDE_KEYS = frozenset({"date", "service", "closed", "diners", "note"})
_ITEM_KEYS = frozenset(
    {"code", "name_zh", "name_en", "category", "price_cny_per_kg", "co2e_kg_per_kg", "portion_g"}
)

# Purchase price of the food, yuan per kg, rounded national wholesale averages (docs/kpis.md).
DEFAULT_PRICE_CNY_PER_KG: Mapping[str, float] = MappingProxyType(
    {
        "pork": 24.0,
        "beef": 70.0,
        "lamb": 65.0,
        "poultry": 18.0,
        "fish": 16.0,
        "egg": 10.0,
        "tofu": 6.0,
        "vegetables": 5.0,
        "rice": 5.0,
        "wheat": 5.0,
        "potato": 3.5,
        "fruit": 8.0,
    }
)
# Life-cycle greenhouse-gas emissions per kg of product, kg CO2e (Poore & Nemecek 2018, means).
DEFAULT_CO2E_KG_PER_KG: Mapping[str, float] = MappingProxyType(
    {
        "pork": 12.3,
        "beef": 99.5,
        "lamb": 39.7,
        "poultry": 9.9,
        "fish": 13.6,
        "egg": 4.7,
        "tofu": 3.2,
        "vegetables": 0.5,
        "rice": 4.5,
        "wheat": 1.6,
        "potato": 0.5,
        "fruit": 1.1,
    }
)
CATEGORIES = (*DEFAULT_CO2E_KG_PER_KG, "other")


@dataclass(frozen=True, slots=True)
class MenuItem:
    code: str
    name_zh: str
    name_en: str
    category: str
    price_cny_per_kg: float | None  # None: category "other" without a price
    co2e_kg_per_kg: float | None
    portion_g: float | None = None  # planned portion per diner; None: not planned per item


@dataclass(frozen=True, slots=True)
class Menu:
    """Menu items by code, in file order."""

    items: Mapping[str, MenuItem] = field(default_factory=lambda: MappingProxyType({}))

    def item(self, code: str) -> MenuItem | None:
        return self.items.get(code)


def parse_menu(raw_site: Mapping[str, Any], where: str) -> Menu:
    """The `menu` array of tables of one `[[sites]]` table; FieldError naming the item and key."""
    raw_items = raw_site.get("menu", [])
    if not isinstance(raw_items, list):
        raise FieldError("menu must be an array of tables ([[sites.menu]])", where)
    items: dict[str, MenuItem] = {}
    for number, raw_item in enumerate(raw_items, start=1):
        item = _parse_item(table(raw_item, f"{where} menu[{number}]"), f"{where} menu[{number}]")
        if item.code in items:
            raise FieldError(f"duplicate menu item code {item.code!r}", where)
        items[item.code] = item
    return Menu(MappingProxyType(items))


def _parse_item(raw: Mapping[str, Any], where: str) -> MenuItem:
    unknown = sorted(set(raw) - _ITEM_KEYS)
    if unknown:
        raise FieldError(
            f"unknown key {unknown[0]!r}; known: {', '.join(sorted(_ITEM_KEYS))}", where
        )
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise FieldError(f"code {code!r} must be 1-64 letters, digits, '-' or '_'", where)
    where = f"{where} ({code})"
    names = []
    for key in ("name_zh", "name_en"):
        name = raw.get(key, code)
        if not isinstance(name, str) or not name.strip():
            raise FieldError(f"{key} must be non-empty text", where)
        names.append(name)
    category = raw.get("category", "other")
    if category not in CATEGORIES:
        raise FieldError(f"category {category!r} is not one of {', '.join(CATEGORIES)}", where)
    price = optional_non_negative_number(raw, "price_cny_per_kg", where)
    co2e = optional_non_negative_number(raw, "co2e_kg_per_kg", where)
    portion = optional_non_negative_number(raw, "portion_g", where)
    return MenuItem(
        code=code,
        name_zh=names[0],
        name_en=names[1],
        category=category,
        price_cny_per_kg=DEFAULT_PRICE_CNY_PER_KG.get(category) if price is None else price,
        co2e_kg_per_kg=DEFAULT_CO2E_KG_PER_KG.get(category) if co2e is None else co2e,
        portion_g=portion,
    )


@dataclass(frozen=True, slots=True)
class DinerOverride:
    """Diners known in advance for a date (all services when `service` is None)."""

    date: date
    service: str | None
    diners: int  # 0 when closed
    note: str = ""


def parse_diner_overrides(
    raw_site: Mapping[str, Any], where: str, services: tuple[str, ...]
) -> tuple[DinerOverride, ...]:
    """The `diner_overrides` array of tables of one `[[sites]]` table."""
    raw_items = raw_site.get("diner_overrides", [])
    if not isinstance(raw_items, list):
        raise FieldError("diner_overrides must be an array of tables", where)
    out: list[DinerOverride] = []
    for number, raw_item in enumerate(raw_items, start=1):
        at = f"{where} diner_overrides[{number}]"
        raw = table(raw_item, at)
        unknown = sorted(set(raw) - _OVERRIDE_KEYS)
        if unknown:
            raise FieldError(f"unknown key {unknown[0]!r}", at)
        day = raw.get("date")
        if not isinstance(day, date) or hasattr(day, "hour"):
            raise FieldError(f"date must be a TOML date such as 2026-10-01, got {day!r}", at)
        service = raw.get("service")
        if service is not None and service not in services:
            raise FieldError(f"service {service!r} is not a service of this site", at)
        closed = raw.get("closed", False)
        diners = raw.get("diners")
        if closed is True and diners is None:
            count = 0
        elif closed is False and isinstance(diners, int) and not isinstance(diners, bool):
            if diners < 0:
                raise FieldError(f"diners must be >= 0, got {diners}", at)
            count = diners
        else:
            raise FieldError("give either closed = true or diners = <expected count>", at)
        note = raw.get("note", "")
        if not isinstance(note, str):
            raise FieldError("note must be text", at)
        out.append(DinerOverride(date=day, service=service, diners=count, note=note))
    return tuple(out)
