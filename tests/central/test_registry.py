"""Registry parsing, defaults, and each validation rule with the site/field it names."""

import logging
from datetime import date, time
from pathlib import Path

import pytest

from central.registry import RegistryError, load_registry, parse_registry
from tests.central.conftest import utc_ms

HASH = "ab" * 32


def site(**fields: object) -> dict[str, object]:
    return {"id": "s1", "name": "One", "registered_staff": 10, **fields}


def service(name: str, start: str, end: str, **fields: object) -> dict[str, object]:
    return {"name": name, "start": start, "end": end, **fields}


def test_full_registry_file_parses_with_defaults(registry_path: Path) -> None:
    registry = load_registry(registry_path)
    assert list(registry.sites) == ["s1", "s2"]
    s1 = registry.sites["s1"]
    assert s1.timezone.key == "Asia/Shanghai"
    assert s1.clean_plate_threshold_g == 10.0
    assert s1.floor_area_m2 == 1500.0
    assert [(s.name, s.start, s.end) for s in s1.services] == [
        ("breakfast", time(6, 30), time(9, 0)),
        ("lunch", time(11, 0), time(13, 30)),
        ("dinner", time(17, 0), time(19, 30)),
    ]
    assert all(s.grace_min == 60 and s.prep_lead_min == 120 for s in s1.services)
    assert [(e.id, e.site) for e in registry.edges] == [("edge-s1", "s1"), ("edge-s2", "s2")]


def test_explicit_values_override_defaults() -> None:
    registry = parse_registry(
        {
            "sites": [
                site(
                    timezone="Europe/Berlin",
                    clean_plate_threshold_g=5,
                    region={"province": "Zhejiang"},
                    services=[service("lunch", "12:00", "14:00", grace_min=30, prep_lead_min=90)],
                )
            ],
            "edges": [{"id": "e1", "site": "s1", "key_sha256": HASH.upper()}],
        }
    )
    s1 = registry.sites["s1"]
    assert s1.timezone.key == "Europe/Berlin"
    assert s1.clean_plate_threshold_g == 5.0
    assert dict(s1.region) == {"province": "Zhejiang"}
    lunch = s1.service("lunch")
    assert lunch is not None
    assert (lunch.grace_min, lunch.prep_lead_min) == (30, 90)
    assert registry.edges[0].key_sha256 == HASH  # normalised to lowercase


def test_native_toml_times_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        '[[sites]]\nid = "s1"\nname = "x"\nregistered_staff = 1\n'
        '[[sites.services]]\nname = "lunch"\nstart = 11:00:00\nend = 13:30:00\n',
        encoding="utf-8",
    )
    lunch = load_registry(path).sites["s1"].service("lunch")
    assert lunch is not None
    assert (lunch.start, lunch.end) == (time(11, 0), time(13, 30))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "no [[sites]]"),
        ({"sites": [site(timezone="Mars/Olympus")]}, "site 's1': unknown time zone 'Mars/Olympus'"),
        (
            {"sites": [site(services=[service("lunch", "13:30", "11:00")])]},
            "site 's1' service 'lunch': end 11:00 must be after start 13:30",
        ),
        (
            {"sites": [site(services=[service("lunch", "11:00", "11:00")])]},
            "site 's1' service 'lunch': end 11:00 must be after start 11:00",
        ),
        (
            # lunch energy window [09:00, 13:30) overlaps breakfast [04:30, 09:30)
            {
                "sites": [
                    site(
                        services=[
                            service("breakfast", "06:30", "09:30"),
                            service("lunch", "11:00", "13:30"),
                        ]
                    )
                ]
            },
            "site 's1': energy windows [start - prep_lead_min, end) of services 'breakfast' "
            "and 'lunch' overlap",
        ),
        (
            # a late supper's window overlaps the next morning's breakfast preparation
            {
                "sites": [
                    site(
                        services=[
                            service("breakfast", "01:00", "03:00"),
                            service("supper", "21:00", "23:30"),
                        ]
                    )
                ]
            },
            "services 'breakfast' and 'supper' overlap",
        ),
        (
            {
                "sites": [
                    site(services=[service("a", "10:00", "11:00"), service("a", "15:00", "16:00")])
                ]
            },
            "site 's1': duplicate service name 'a'",
        ),
        ({"sites": [site(), site()]}, "site 's1': duplicate site id"),
        ({"sites": [site(id="bad/id")]}, "sites[1]: id 'bad/id' must be"),
        ({"sites": [site(registered_staff=0)]}, "site 's1': registered_staff must be a positive"),
        ({"sites": [site(services=[service("x", "7:00", "08:00")])]}, "start must be local time"),
        (
            {"sites": [site()], "edges": [{"id": "e1", "site": "s9", "key_sha256": HASH}]},
            "edge 'e1': site 's9' is not a site of this registry",
        ),
        (
            {"sites": [site()], "edges": [{"id": "e1", "site": "s1", "key_sha256": "abc"}]},
            "edge 'e1': key_sha256 must be 64 hexadecimal digits",
        ),
        (
            {"sites": [site()], "edges": [{"id": "e1", "site": "s1", "key_sha256": "g" * 64}]},
            "edge 'e1': key_sha256 must be 64 hexadecimal digits",
        ),
        (
            {
                "sites": [site()],
                "edges": [
                    {"id": "e1", "site": "s1", "key_sha256": HASH},
                    {"id": "e1", "site": "s1", "key_sha256": "cd" * 32},
                ],
            },
            "edge 'e1': duplicate edge id",
        ),
        (
            {
                "sites": [site()],
                "edges": [
                    {"id": "e1", "site": "s1", "key_sha256": HASH},
                    {"id": "e2", "site": "s1", "key_sha256": HASH},
                ],
            },
            "edge 'e2': key_sha256 is the same as edge 'e1'",
        ),
    ],
)
def test_validation_errors_name_the_culprit(document: dict[str, object], message: str) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_registry(document)
    assert message in str(caught.value)


def test_file_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(RegistryError, match=r"missing\.toml: cannot read"):
        load_registry(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[sites]\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"broken\.toml: not valid TOML"):
        load_registry(broken)
    bad_zone = tmp_path / "zone.toml"
    bad_zone.write_text(
        '[[sites]]\nid = "s7"\nname = "x"\nregistered_staff = 1\ntimezone = "Nowhere/Town"\n',
        encoding="utf-8",
    )
    with pytest.raises(RegistryError, match=r"zone\.toml: site 's7': unknown time zone"):
        load_registry(bad_zone)


def test_unknown_keys_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="central.registry"):
        parse_registry({"sites": [site(services=[service("a", "10:00", "11:00", grace_mins=5)])]})
    assert "site 's1' service 'a': unknown key 'grace_mins' ignored" in caplog.text


def test_kpi_keys_factor_sets_meters_scales_and_exchanges() -> None:
    factors = {
        "id": "cn-2022", "electricity_kgce_per_kwh": 0.1229, "gas_kgce_per_m3": 1.2143,
        "grid_kgco2_per_kwh": 0.5366, "gas_kgco2_per_m3": 2.162,
    }  # fmt: skip
    registry = parse_registry(
        {
            "default_factor_set": "cn-2022",
            "factor_sets": [factors, {**factors, "id": "north", "grid_kgco2_per_kwh": 0.6776}],
            "sites": [
                site(
                    region={"province": "Zhejiang", "city": "Hangzhou"},
                    food_price_cny_per_kg=12.0,
                    clean_plate_goal_pct=85,
                    energy_quota_kgce_month=9000,
                    baseline={"start": "2026-09-01", "end": "2026-09-30"},
                    meters=[{"device": "e1", "wrap_modulus": 100000.0, "max_rate_per_h": 500.0}],
                    meter_exchanges=[
                        {
                            "device": "e1",
                            "at": "2026-11-20T10:00:00+08:00",
                            "old_final": 5.0,
                            "new_initial": 0,
                        }
                    ],
                    scales=[{"device": "bin-1", "division_g": 5, "max_g": 30000}],
                ),
                site(id="s2", factor_set="north"),
                site(id="s3", region={"city": "Hangzhou"}),
            ],
        }
    )
    s1, s2 = registry.sites["s1"], registry.sites["s2"]
    assert s1.kpi.factor_set.id == "cn-2022"
    assert s2.kpi.factor_set.grid_kgco2_per_kwh == 0.6776
    assert s1.kpi.food_price_cny_per_kg == 12.0
    assert s1.kpi.energy_quota_kgce_month == 9000.0
    assert s2.kpi.food_price_cny_per_kg is None
    assert (s1.kpi.clean_plate_goal_pct, s2.kpi.clean_plate_goal_pct) == (85.0, None)
    assert s1.kpi.baseline == (date(2026, 9, 1), date(2026, 9, 30))
    assert s1.kpi.meter("e1").wrap_modulus == 100000.0
    assert s1.kpi.meter("other").interval_s == 60
    assert s1.kpi.exchanges_of("e1")[0].at_ms == utc_ms(2026, 11, 20, 2)  # 10:00 at UTC+8
    assert s1.kpi.scale("bin-1").division_g == 5.0
    assert [s.id for s in registry.region("city", "Hangzhou")] == ["s1", "s3"]
    # without any of these keys: the built-in factor set, named as such
    plain = parse_registry({"sites": [site()]})
    assert plain.sites["s1"].kpi.factor_set.id == "builtin-cn-2022-calorific"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"sites": [site()], "default_factor_set": "x"}, "default_factor_set 'x' is not"),
        ({"sites": [site(factor_set="x")]}, "site 's1': factor_set 'x' is not"),
        ({"sites": [site()], "factor_sets": [{"id": "f"}]}, "factor set 'f': electricity_kgce"),
        ({"sites": [site(food_price_cny_per_kg=-1)]}, "food_price_cny_per_kg must be a number"),
        ({"sites": [site(clean_plate_goal_pct=120)]},
         "site 's1': clean_plate_goal_pct must be a percentage from 0 to 100"),
        ({"sites": [site(baseline={"start": "2026-09-30", "end": "2026-09-01"})]},
         "baseline end is before its start"),
        ({"sites": [site(meters=[{"device": "e1", "wrap_modulus": 0}])]},
         r"site 's1' meters\[1\]: wrap_modulus must be a number > 0"),
        ({"sites": [site(meters=[{"device": "e1"}, {"device": "e1"}])]}, "configured twice"),
        ({"sites": [site(meter_exchanges=[{"device": "e1", "at": "2026-11-20T10:00:00",
                                           "old_final": 1, "new_initial": 0}])]},
         "at must be a time with a UTC offset"),
        ({"sites": [site(scales=[{"device": "b", "division_g": 5, "max_g": 1}])]},
         "max_g must be a number > division_g"),
        ({"sites": [site(scales=[{"device": "b", "divison_g": 5}])]}, "unknown keys"),
    ],
)  # fmt: skip
def test_kpi_key_errors_name_the_site_and_key(document: dict[str, object], message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_registry(document)


def test_a_menu_with_category_defaults_portions_and_diner_overrides() -> None:
    document = {
        "sites": [
            site(
                services=[service("lunch", "11:00", "13:00", portion_g=450)],
                menu=[
                    {"code": "hongshao-rou", "name_zh": "红烧肉", "name_en": "Braised pork",
                     "category": "pork"},
                    {"code": "mapo", "category": "tofu", "price_cny_per_kg": 9.5},
                    {"code": "special"},
                ],
                diner_overrides=[
                    {"date": date(2026, 12, 18), "service": "lunch", "diners": 350,
                     "note": "meeting"},
                    {"date": date(2026, 12, 19), "closed": True},
                ],
            )
        ]
    }  # fmt: skip
    s1 = parse_registry(document).sites["s1"]
    assert s1.services[0].portion_g == 450.0
    pork = s1.menu.item("hongshao-rou")
    assert pork is not None
    assert (pork.name_zh, pork.price_cny_per_kg, pork.co2e_kg_per_kg) == ("红烧肉", 24.0, 12.3)
    tofu = s1.menu.item("mapo")
    assert tofu is not None
    assert (tofu.name_en, tofu.price_cny_per_kg, tofu.co2e_kg_per_kg) == ("mapo", 9.5, 3.2)
    other = s1.menu.item("special")
    assert other is not None
    assert (other.category, other.price_cny_per_kg, other.co2e_kg_per_kg) == ("other", None, None)
    assert s1.menu.item("unknown") is None
    assert [(o.date.day, o.service, o.diners) for o in s1.diner_overrides] == [
        (18, "lunch", 350),
        (19, None, 0),
    ]
    # a registry without these keys: an empty menu, no overrides
    plain = parse_registry({"sites": [site()]}).sites["s1"]
    assert (dict(plain.menu.items), plain.diner_overrides) == ({}, ())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"menu": [{"code": "a b"}]}, "site 's1' menu[1]: code 'a b' must be"),
        ({"menu": [{"code": "x", "category": "meat"}]}, "category 'meat' is not one of"),
        ({"menu": [{"code": "x"}, {"code": "x"}]}, "duplicate menu item code 'x'"),
        ({"menu": [{"code": "x", "price": 3}]}, "menu[1]: unknown key 'price'"),
        ({"menu": [{"code": "x", "co2e_kg_per_kg": -1}]}, "co2e_kg_per_kg must be a number >= 0"),
        ({"diner_overrides": [{"date": "2026-12-01", "closed": True}]}, "date must be a TOML"),
        (
            {"diner_overrides": [{"date": date(2026, 12, 1), "service": "brunch", "diners": 3}]},
            "service 'brunch' is not a service",
        ),
        (
            {"diner_overrides": [{"date": date(2026, 12, 1), "closed": True, "diners": 3}]},
            "either closed = true or diners",
        ),
    ],
)
def test_kitchen_key_errors_name_the_site_and_key(fields: dict[str, object], message: str) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_registry({"sites": [site(**fields)]})
    assert message in str(caught.value)


CALENDAR_2027 = """
[[sites]]
id = "s1"
registered_staff = 10

# AN EXAMPLE with made-up dates, not the State Council's 2027 schedule.
[calendar.2027]
holidays = [{ name = "Spring Festival", start = 2027-02-06, end = 2027-02-12 }]
adjusted_workdays = [2027-02-13]
"""


def test_the_calendar_years_of_the_registry_are_central_wide(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(CALENDAR_2027, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="central.registry"):
        calendar = load_registry(path).calendar
    assert calendar.day_info(date(2027, 2, 8)).holiday == "Spring Festival"
    assert calendar.working(date(2027, 2, 13))
    assert "the holidays of 2027 come from [calendar.2027]" in caplog.text
    assert parse_registry({"sites": [site()]}).calendar.years == ()


def test_a_wrong_calendar_entry_names_file_year_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(CALENDAR_2027.replace("[2027-02-13]", "[2027-02-15]"), encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert str(caught.value) == (
        f"registry {path}: calendar.2027 adjusted_workdays[1]: 2027-02-15 is a Monday: an "
        "adjusted working day (调休上班) is a Saturday or Sunday worked in lieu"
    )
