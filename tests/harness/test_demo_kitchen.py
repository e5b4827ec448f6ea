"""The demo's registry names and values the dishes the simulator cooks and plans a portion per
service, and the demo's default days give central's diner forecast the history it needs."""

from datetime import date, timedelta
from pathlib import Path

from central.kpi.forecast import MIN_WORKDAYS
from central.registry import load_registry as central_registry
from contract.workcalendar import DayKind, WorkCalendar
from harness.demo import DEFAULT_DAYS, default_days
from harness.registry import write_registry
from simulators.canteen import Behaviour
from simulators.demand import DEFAULT_MENU
from simulators.registry import DEFAULT_SERVICES
from simulators.registry import load_registry as simulator_registry


def test_the_demo_registry_names_and_values_every_dish_the_simulator_cooks(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    write_registry(path, ["site-01", "site-02"], kitchen=True)
    registry = central_registry(path)
    for site in registry.sites.values():
        assert tuple(site.menu.items) == DEFAULT_MENU
        for code, item in site.menu.items.items():
            # a Chinese and an English name of its own, and a category with a price and a CO2e
            assert code not in (item.name_zh, item.name_en)
            assert not item.name_zh.isascii()
            assert item.name_en.isascii()
            assert item.category != "other"
            assert (item.price_cny_per_kg or 0.0) > 0
            assert (item.co2e_kg_per_kg or 0.0) > 0
        # the portion the simulated kitchen plans, on the simulator's own services
        assert [(s.name, s.start_min, s.end_min, s.portion_g) for s in site.services] == [
            (s.name, s.start_min, s.end_min, Behaviour().portion(s.name)) for s in DEFAULT_SERVICES
        ]
    # the simulator draws its menus from the registry's list: the same codes
    for sim_site in simulator_registry(path):
        assert sim_site.menu == DEFAULT_MENU
        assert sim_site.services == DEFAULT_SERVICES


def test_without_kitchen_the_registry_lists_no_menu_and_no_portion(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    write_registry(path, ["site-01"])
    (site,) = central_registry(path).sites.values()
    assert not site.menu.items
    assert all(s.portion_g is None for s in site.services)


def _workdays(last: date, days: int, calendar: WorkCalendar) -> int:
    dates = (last - timedelta(days=i) for i in range(days))
    return sum(calendar.day_info(d).kind is DayKind.WORKDAY for d in dates)


def test_default_days_hold_the_working_days_a_forecast_needs_and_no_more() -> None:
    calendar = WorkCalendar()
    longer = []
    for offset in range(2 * 365):
        last = date(2025, 1, 1) + timedelta(days=offset)
        days = default_days(last, calendar)
        assert days >= DEFAULT_DAYS
        assert _workdays(last, days, calendar) >= MIN_WORKDAYS
        if days > DEFAULT_DAYS:
            assert _workdays(last, days - 1, calendar) < MIN_WORKDAYS
            longer.append(last)
    # an ordinary week is DEFAULT_DAYS; after the Spring Festival 2026 (15-23 February) it is more
    assert default_days(date(2026, 12, 5), calendar) == DEFAULT_DAYS
    assert date(2026, 2, 23) in longer
