"""Typed values read from the tables of the site registry TOML, with errors naming key and table.

Shared by central.registry (sites, services, edges) and central.site_kpi_config (the KPI keys);
central.registry turns a FieldError into a RegistryError that also names the file.
"""

from collections.abc import Mapping
from typing import Any, TypeGuard

__all__ = [
    "FieldError",
    "is_int",
    "is_number",
    "non_negative_number",
    "optional_non_negative_number",
    "positive_int",
    "table",
]


class FieldError(ValueError):
    """A value of a registry table is wrong: `reason` names the key, `where` the table."""

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where


def is_int(value: Any) -> TypeGuard[int]:
    """An integer, not a boolean (TOML's true is no count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    """An integer or a float, not a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def table(value: Any, where: str) -> Mapping[str, Any]:
    """`value` if it is a TOML table (an item of an array of tables)."""
    if not isinstance(value, Mapping):
        raise FieldError("must be a table", where)
    return value


def non_negative_number(
    raw: Mapping[str, Any], key: str, where: str, default: float | None = None
) -> float:
    """`raw[key]`, else `default`, as a number >= 0; absent without a default is an error."""
    value = raw.get(key, default)
    if not is_number(value) or value < 0:
        raise FieldError(f"{key} must be a number >= 0, got {value!r}", where)
    return float(value)


def optional_non_negative_number(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    """`raw[key]` as a number >= 0, or None when the key is absent."""
    if raw.get(key) is None:
        return None
    return non_negative_number(raw, key, where)


def positive_int(raw: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    """`raw[key]`, else `default`, as an integer >= 1; absent without a default is an error."""
    value = raw.get(key, default)
    if not is_int(value) or value < 1:
        raise FieldError(f"{key} must be a positive integer, got {value!r}", where)
    return value
