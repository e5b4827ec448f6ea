"""registry: reads [[sites]] with defaults, ignores the rest, refuses ambiguous windows."""

import tomllib
from pathlib import Path

import pytest

from simulators.errors import RegistryError
from simulators.registry import DEFAULT_SERVICES, Service, load_registry, parse_registry


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
