"""Energy KPIs per meal (docs/domain.md E1-E3) from consumption already computed per window.

Meter consumption itself, with the dirty-data rules, is counters.py: C(t) per meter, linearly
interpolated between readings by device time and clamped at the data's ends.
"""

LITRES_PER_M3 = 1000.0


def per_meal(value: float | None, meals: int, factor: float = 1.0) -> float | None:
    """value x factor / meals (E1-E3); None without meals or without a value."""
    return None if value is None or meals == 0 else value * factor / meals
