"""docs/configuration.md is generated from the settings classes and committed up to date; every
setting has a description, so the generated reference says what each one does."""

import pytest
from pydantic_settings import BaseSettings

from central.settings import CentralSettings
from edge.settings import EdgeSettings
from harness.configdoc import DOC, main, render
from simulators.settings import SimulatorSettings


def test_the_committed_file_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--check"])
    assert status == 0, "docs/configuration.md is out of date: run python -m harness.configdoc"
    assert DOC.read_text(encoding="utf-8") == render()


@pytest.mark.parametrize("settings", [EdgeSettings, CentralSettings, SimulatorSettings])
def test_every_setting_has_a_description(settings: type[BaseSettings]) -> None:
    undescribed = [name for name, info in settings.model_fields.items() if not info.description]
    assert undescribed == [], f"{settings.__name__}: add Field(description=...) to {undescribed}"


@pytest.mark.parametrize("settings", [EdgeSettings, CentralSettings, SimulatorSettings])
def test_every_setting_has_its_row(settings: type[BaseSettings]) -> None:
    text = render()
    prefix = str(settings.model_config.get("env_prefix", ""))
    missing = [n for n in settings.model_fields if f"| `{prefix}{n}`".upper() not in text.upper()]
    assert missing == []
