"""Food KPIs on small hand-made arrays."""

from central.kpi import food
from central.kpi.readings import CardReadings, ScaleReadings, float_array, int_array, str_array
from central.kpi.windows import Window

WINDOW = Window(1000, 2000)


def test_distinct_diners_count_a_double_swipe_once() -> None:
    cards = CardReadings.of(
        time_ms=int_array([999, 1000, 1005, 1500, 1999, 2000]),
        person=str_array(["p0", "pa", "pa", "pb", "pc", "pd"]),
    )
    # p0 before the window, pd at its (exclusive) end; pa swiped twice
    assert food.distinct_diners(cards, WINDOW) == 3
    assert food.distinct_diners(CardReadings.empty(), WINDOW) == 0


def test_trays_clean_plates_and_rate() -> None:
    scale = ScaleReadings.of(
        time_ms=int_array([1000, 1100, 1200, 1300, 1400, 2000]),
        stream=str_array(["plate", "plate", "plate", "prep", "plate", "plate"]),
        mass_g=float_array([0.0, 10.0, 10.5, 1.0, 45.0, 1.0]),
    )
    trays, clean = food.plate_trays(scale, WINDOW, threshold_g=10.0)
    # plate readings in [1000, 2000): 0, 10 (== threshold is clean), 10.5, 45
    assert (trays, clean) == (4, 2)
    assert food.clean_plate_rate_pct(trays, clean) == 50.0
    assert food.clean_plate_rate_pct(0, 0) is None


def test_waste_attribution_at_window_edges() -> None:
    scale = ScaleReadings.of(
        time_ms=int_array([999, 1000, 1999, 2000, 1500]),
        stream=str_array(["prep", "prep", "prep", "prep", "spoilage"]),
        mass_g=float_array([1.0, 20.0, 300.0, 4000.0, 50000.0]),
    )
    # start inclusive (1000), end exclusive (2000); other streams ignored
    assert food.waste_mass_g(scale, "prep", WINDOW) == 320.0
    assert food.waste_mass_g(scale, "spoilage", WINDOW) == 50000.0
    assert food.waste_mass_g(scale, "plate", WINDOW) == 0.0


def test_per_diner_is_none_without_diners() -> None:
    assert food.per_diner(150.0, 3) == 50.0
    assert food.per_diner(150.0, 0) is None
    assert food.per_diner(None, 3) is None
