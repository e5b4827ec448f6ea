"""The README documents every setting of every deployable (engineering standard: every knob has
a line in the README)."""

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from central.settings import CentralSettings
from edge.settings import EdgeSettings
from simulators.settings import SimulatorSettings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("settings", [EdgeSettings, CentralSettings])
def test_every_environment_variable_is_in_the_readme(settings: type[BaseSettings]) -> None:
    prefix = str(settings.model_config.get("env_prefix", ""))
    missing = [
        f"{prefix}{name}".upper()
        for name in settings.model_fields
        if f"{prefix}{name}".upper() not in README
    ]
    assert not missing, f"README.md does not document {missing}"


def test_every_simulator_option_is_in_the_readme() -> None:
    options = [f"--{name.replace('_', '-')}" for name in SimulatorSettings.model_fields]
    missing = [option for option in options if f"`{option}" not in README]
    assert not missing, f"README.md does not document {missing}"
