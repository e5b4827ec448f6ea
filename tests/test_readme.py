"""The README stays a five-minute read that sends people on: every setting of every deployable is
documented in docs/configuration.md (generated from the settings classes, tests/test_configdoc.py),
and the README links there and to each document under docs/."""

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from central.settings import CentralSettings
from edge.settings import EdgeSettings
from simulators.settings import SimulatorSettings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
README_MAX_BYTES = 15 * 1024


@pytest.mark.parametrize("settings", [EdgeSettings, CentralSettings, SimulatorSettings])
def test_every_environment_variable_is_in_the_configuration_reference(
    settings: type[BaseSettings],
) -> None:
    prefix = str(settings.model_config.get("env_prefix", ""))
    missing = [
        f"{prefix}{name}".upper()
        for name in settings.model_fields
        if f"{prefix}{name}".upper() not in CONFIGURATION
    ]
    assert not missing, f"docs/configuration.md does not document {missing}"


def test_every_simulator_option_is_in_the_configuration_reference() -> None:
    options = [f"--{name.replace('_', '-')}" for name in SimulatorSettings.model_fields]
    missing = [option for option in options if f"`{option}`" not in CONFIGURATION]
    assert not missing, f"docs/configuration.md does not document {missing}"


def test_the_readme_is_short_and_links_every_document() -> None:
    assert len(README.encode("utf-8")) <= README_MAX_BYTES
    unlinked = [
        doc.name for doc in sorted((ROOT / "docs").glob("*.md")) if f"docs/{doc.name}" not in README
    ]
    assert unlinked == [], f"README.md links no {unlinked}"
