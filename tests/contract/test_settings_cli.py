"""contract.settings_cli: settings errors as one line per problem, never the value or a URL; the
settings listed with variable, default and bounds; options with plain value names."""

import argparse
from datetime import date
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.settings_cli import (
    add_setting_options,
    error_lines,
    given_options,
    setting_rows,
    settings_epilog,
)


class Demo(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", frozen=True)

    url: str = Field(description="where to go")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port")
    token: SecretStr = Field(default=SecretStr(""), description="a secret")
    day: date | None = Field(default=None, description="a date")
    names: tuple[str, ...] = Field(default=(), description="a list")
    level: Literal["INFO", "DEBUG"] = Field(default="INFO", description="log level")
    out: Path = Field(default=Path("/var/lib/demo"), description="a file")

    @model_validator(mode="after")
    def _token_is_long(self) -> "Demo":
        if 0 < len(self.token.get_secret_value()) < 8:
            raise ValueError("DEMO_TOKEN must be at least 8 characters")
        return self


@pytest.fixture(autouse=True)
def _no_demo_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEMO_URL", "DEMO_PORT", "DEMO_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_one_line_per_problem_naming_the_variable() -> None:
    with pytest.raises(ValidationError) as raised:
        Demo(port="0x1")
    assert error_lines(raised.value, Demo) == [
        "DEMO_URL: required, but not set",
        "DEMO_PORT: Input should be a valid integer, unable to parse string as an integer",
    ]
    assert (
        error_lines(raised.value, Demo, options=True)[0]
        == "--url / DEMO_URL: required, but not set"
    )


def test_a_check_across_fields_is_its_message_without_the_secret_or_a_url() -> None:
    with pytest.raises(ValidationError) as raised:
        Demo(url="x", token=SecretStr("s3cr"))
    lines = error_lines(raised.value, Demo)
    assert lines == ["DEMO_TOKEN must be at least 8 characters"]
    assert not any("s3cr" in line or "http" in line for line in lines)


def test_rows_give_variable_default_and_bounds() -> None:
    rows = {field: (env, default, text) for field, env, default, text in setting_rows(Demo)}
    assert rows["url"] == ("DEMO_URL", "required", "where to go")
    assert rows["port"] == ("DEMO_PORT", "8000", "TCP port (allowed: >= 1, <= 65535)")
    assert rows["token"][1] == "unset"
    assert rows["names"][1] == "empty"
    assert rows["out"][1] == "/var/lib/demo"
    assert "  DEMO_PORT [8000]" in settings_epilog(Demo)


def test_options_have_plain_value_names_and_only_given_ones_count() -> None:
    parser = argparse.ArgumentParser(prog="demo")
    add_setting_options(parser, Demo, hidden=frozenset({"token"}))
    usage = parser.format_usage()
    for shown in (
        "--url TEXT",
        "--port N",
        "--day YYYY-MM-DD",
        "--names LIST",
        "--level INFO|DEBUG",
    ):
        assert shown in usage
    assert "--token" not in parser.format_help()
    given = given_options(parser.parse_args(["--url", "u", "--token", "long-enough"]))
    assert given == {"url": "u", "token": "long-enough"}
    assert Demo(**given).port == 8000
