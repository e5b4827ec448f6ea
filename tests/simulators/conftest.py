"""Registries and sites shared by the simulator tests."""

import tomllib
from pathlib import Path

import pytest

from simulators.registry import Site, parse_registry

REGISTRY_TOML = """
[[sites]]
id = "s1"
name = "Provincial Office Canteen No. 1"
timezone = "Asia/Shanghai"
registered_staff = 400
floor_area_m2 = 1500.0
clean_plate_threshold_g = 10.0
region = { province = "Zhejiang", city = "Hangzhou" }

[[sites]]
id = "s2"
registered_staff = 150
clean_plate_threshold_g = 6.0
future_key = "ignored"
  [[sites.services]]
  name = "lunch"
  start = "11:30"
  end = "13:00"
  prep_lead_min = 90
  [[sites.services]]
  name = "supper"
  start = "17:00"
  end = "18:30"
  grace_min = 20

[[edges]]
id = "edge-s1"
site = "s1"
key_sha256 = "00"
"""


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY_TOML)
    return path


@pytest.fixture
def sites() -> tuple[Site, ...]:
    return parse_registry(tomllib.loads(REGISTRY_TOML))
