"""Decimals shown to people per unit: one table, `unit_decimals.json` beside this module.

The API's CSVs for people (central.api.csv_export), the monthly report (central.monthly_report)
and the dashboard (dashboard/src/format.js imports the JSON when scripts/build-dashboard bundles
it) all round with it, so a figure reads the same on the page, in a download and in a report.
"""

import json
import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from importlib.resources import files
from types import MappingProxyType

_TABLE = json.loads(files("central").joinpath("unit_decimals.json").read_text(encoding="utf-8"))

UNIT_DECIMALS: Mapping[str, int] = MappingProxyType(dict(_TABLE["units"]))
OTHER_DECIMALS: int = int(_TABLE["other"])


def decimals(unit: str | None) -> int:
    """Decimals of a figure in `unit` as people read it (OTHER_DECIMALS for a unit not listed)."""
    return UNIT_DECIMALS.get(unit or "", OTHER_DECIMALS)


def fixed(value: float, unit: str | None, *, grouped: bool = False) -> str:
    """`value` with its unit's decimals as the dashboard shows it: its shortest decimal form
    (2.675, as printed) rounded half away from zero, as JavaScript's Intl.NumberFormat does.
    Python's own format rounds the binary value half to even: 12.5 g would be 12, 2.675 CNY
    2.67, where the page shows 13 and 2.68."""
    if not math.isfinite(value):
        return str(value)
    step = Decimal(1).scaleb(-decimals(unit))
    exact = Decimal(repr(value + 0.0)).quantize(step, rounding=ROUND_HALF_UP)  # + 0.0: no "-0"
    return f"{exact:,f}" if grouped else f"{exact:f}"
