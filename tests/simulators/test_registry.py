"""registry: reads [[sites]] with defaults, ignores the rest, refuses ambiguous windows."""

import tomllib
from datetime import date
from pathlib import Path

import pytest

from contract.units import Quantity
from harness.registry import site_ids, write_registry
from simulators.canteen import plan_site_days
from simulators.errors import ConfigurationError, RegistryError
from simulators.registry import (
    DEFAULT_METERS,
    DEFAULT_SERVICES,
    MeterSpec,
    Service,
    load_calendar,
    load_registry,
    parse_registry,
)


def test_reads_sites_with_defaults_and_ignores_the_rest(registry_path: Path) -> None:
    s1, s2 = load_registry(registry_path)
    assert (s1.id, s1.timezone, s1.registered_staff, s1.clean_plate_threshold_g) == (
        "s1",
        "Asia/Shanghai",
        400,
        10.0,
    )
    assert s1.services == DEFAULT_SERVICES
    assert [s.name for s in DEFAULT_SERVICES] == ["breakfast", "lunch", "dinner"]
    assert DEFAULT_SERVICES[0] == Service("breakfast", 6 * 60 + 30, 9 * 60, 60, 120)
    assert s2.timezone == "Asia/Shanghai"
    assert s2.clean_plate_threshold_g == 6.0
    assert s2.services == (
        Service("lunch", 11 * 60 + 30, 13 * 60, grace_min=60, prep_lead_min=90),
        Service("supper", 17 * 60, 18 * 60 + 30, grace_min=20, prep_lead_min=120),
    )


def _site(extra: str, services: str = "") -> str:
    return f'[[sites]]\nid = "x"\nregistered_staff = 10\n{extra}\n{services}'


def _service(name: str, start: str, end: str, extra: str = "") -> str:
    return f'[[sites.services]]\nname = "{name}"\nstart = "{start}"\nend = "{end}"\n{extra}\n'


def _meter(device: str, extra: str = "") -> str:
    return f'[[sites.meters]]\ndevice = "{device}"\n{extra}\n'


def test_reads_the_meter_table_and_defaults_the_rest() -> None:
    document = _site("", _meter("meter-gas", "wrap_modulus = 10000.0\ninterval_s = 300"))
    (site,) = parse_registry(tomllib.loads(document))
    assert site.meter(Quantity.GAS) == MeterSpec("meter-gas", 10_000.0, 200.0, 300)
    assert site.meter(Quantity.ELECTRICITY) == DEFAULT_METERS[0]
    assert site.meter(Quantity.WATER).wrap_modulus == 100_000.0
    with pytest.raises(ConfigurationError, match="meter-gas reads every 300 s"):
        plan_site_days(site, seed=1, start_date=date(2026, 11, 20), days=1, meter_interval_s=60)


def test_the_harness_registry_declares_what_the_simulator_does(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    write_registry(path, site_ids(2), meter_interval_s=300)
    for site in load_registry(path):
        assert site.meters == tuple(
            MeterSpec(m.device, m.wrap_modulus, m.max_rate_per_h, 300) for m in DEFAULT_METERS
        )
        raw = tomllib.loads(path.read_text())["sites"][0]["meters"]
        assert {m["device"] for m in raw} == {"meter-elec", "meter-gas", "meter-water"}
        assert set(raw[0]) == {"device", "wrap_modulus", "max_rate_per_h", "interval_s"}
        next(
            iter(
                plan_site_days(
                    site, seed=1, start_date=date(2026, 11, 20), days=1, meter_interval_s=300
                )
            )
        )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("[[edges]]\nid = 'e'\n", "no \\[\\[sites\\]\\]"),
        ('[[sites]]\nid = "a/b"\nregistered_staff = 1\n', "id"),
        ('[[sites]]\nid = "x"\n', "registered_staff"),
        (_site('timezone = "Mars/Olympus"'), "time zone"),
        (_site("", _service("lunch", "11:00", "25:00")), "HH:MM"),
        (_site("", _service("lunch", "13:00", "11:00")), "ends before"),
        (_site("", _service("early", "01:00", "02:00")), "leaves the local day"),
        (_site("", _service("late", "22:00", "23:30")), "leaves the local day"),
        (
            _site("", _service("a", "08:00", "10:00") + _service("b", "11:00", "12:00")),
            "energy windows",
        ),
        (
            _site(
                "",
                _service("a", "08:00", "10:00", "grace_min = 180")
                + _service("b", "12:30", "13:00"),
            ),
            "waste windows",
        ),
        (
            _site("", _service("a", "08:00", "10:00") + _service("a", "16:00", "17:00")),
            "duplicate service",
        ),
        (
            '[[sites]]\nid = "x"\nregistered_staff = 1\n' * 2,
            "duplicate site",
        ),
        (_site("", _meter("meter-steam")), "meter device 'meter-steam'"),
        (_site("", _meter("meter-gas") + _meter("meter-gas")), "listed twice"),
        (_site("", _meter("meter-gas", "wrap_modulus = 0")), "wrap_modulus 0"),
        (_site("", _meter("meter-gas", "max_rate_per_h = true")), "max_rate_per_h True"),
        (_site("", _meter("meter-gas", "interval_s = 1.5")), "interval_s 1.5"),
    ],
)
def test_refuses_what_it_cannot_simulate_faithfully(document: str, reason: str) -> None:
    with pytest.raises(RegistryError, match=reason):
        parse_registry(tomllib.loads(document))


def test_file_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read") as missing:
        load_registry(tmp_path / "absent.toml")
    assert missing.value.path == str(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[sites]\n")
    with pytest.raises(RegistryError, match="not valid TOML"):
        load_registry(broken)


def test_the_calendar_years_are_read_and_checked_as_central_does(tmp_path: Path) -> None:
    # AN EXAMPLE with made-up dates, not the State Council's 2027 schedule.
    text = (
        '[[sites]]\nid = "s1"\nregistered_staff = 10\n\n[calendar.2027]\n'
        'holidays = [{ name = "Spring Festival", start = 2027-02-06, end = 2027-02-12 }]\n'
        "adjusted_workdays = [2027-02-13]\n"
    )
    path = tmp_path / "sites.toml"
    path.write_text(text, encoding="utf-8")
    calendar = load_calendar(path)
    assert not calendar.working(date(2027, 2, 8))
    assert calendar.working(date(2027, 2, 13))
    path.write_text(text.replace("start = 2027-02-06", "start = 2026-02-06"), encoding="utf-8")
    with pytest.raises(RegistryError, match=r"sites\.toml: calendar\.2027 holiday 'Spring"):
        load_calendar(path)
