"""Energy per meal (meter consumption itself is tested in test_counters.py)."""

import pytest

from central.kpi import energy


def test_per_meal_in_litres() -> None:
    assert energy.per_meal(0.5, 4, factor=energy.LITRES_PER_M3) == pytest.approx(125.0)
    assert energy.per_meal(0.5, 0) is None
    assert energy.per_meal(None, 3) is None
