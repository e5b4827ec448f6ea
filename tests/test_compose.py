"""docker-compose.yml and the Dockerfile match the real entry points and settings.

No Docker engine runs here, so this test reads the files and checks every command, option,
variable and mounted file against the code, which is where a compose file rots first.
"""

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values
from pydantic_settings import BaseSettings

from central.registry import load_registry
from central.settings import CentralSettings
from edge.settings import EdgeSettings
from simulators.registry import load_registry as load_sim_registry
from simulators.settings import SimulatorSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
SETTINGS: dict[str, type[BaseSettings]] = {
    "canteen-central": CentralSettings,
    "canteen-edge": EdgeSettings,
    "canteen-sim": SimulatorSettings,
}
# The long-running subcommand of each CLI that has subcommands.
SUBCOMMANDS = {"canteen-central": "serve", "canteen-edge": "run"}


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def our_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in COMPOSE["services"].items()
        if service.get("image", "").startswith("smart-canteen") or "build" in service
    }


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for env_file in service.get("env_file", []):
        env.update({k: v or "" for k, v in dotenv_values(ROOT / env_file).items()})
    env.update({k: str(v) for k, v in service.get("environment", {}).items()})
    return env


@pytest.mark.parametrize("name", sorted(our_services()))
def test_service_runs_a_real_entry_point_with_known_settings(name: str) -> None:
    service = our_services()[name]
    command = service["command"]
    assert command[0] in SCRIPTS, f"{name}: {command[0]} is not a console script in pyproject.toml"
    settings = SETTINGS[command[0]]
    env = service_env(service)
    unknown = {key for key in env if key not in env_names(settings)}
    assert not unknown, f"{name}: variables no setting reads: {sorted(unknown)}"
    # Options on the command line (each followed by its value here) must be settings fields.
    args = command[1:]
    if args and not args[0].startswith("--"):
        subcommand = args.pop(0)
        assert subcommand == SUBCOMMANDS[command[0]], f"{name}: unknown subcommand {subcommand}"
    options = {args[i][2:].replace("-", "_"): args[i + 1] for i in range(0, len(args), 2)}
    assert all(a.startswith("--") for a in args[::2]), f"{name}: unexpected argument in {args}"
    assert set(options) <= set(settings.model_fields), f"{name}: unknown options {options}"
    # And the whole configuration validates as the process would validate it at start, with
    # the container paths of mounted files mapped to the repository's copies.
    prefix = str(settings.model_config.get("env_prefix", ""))
    values: dict[str, Any] = {k[len(prefix) :].lower(): v for k, v in env.items()}
    values.update(options)
    for key, path in values.items():
        if path == "/etc/canteen/sites.toml":
            values[key] = str(ROOT / "deploy/compose/sites.toml")
    settings.model_validate(values)


def test_mounted_files_exist() -> None:
    for service in COMPOSE["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{source} is mounted but missing"


def test_compose_registry_is_valid_and_holds_the_demo_edge_key() -> None:
    registry = load_registry(ROOT / "deploy/compose/sites.toml")
    load_sim_registry(ROOT / "deploy/compose/sites.toml")
    edge = COMPOSE["services"]["edge"]
    env = service_env(edge)
    key_hash = hashlib.sha256(env["EDGE_API_KEY"].encode()).hexdigest()
    matching = [e for e in registry.edges if e.key_sha256 == key_hash]
    assert matching, "the demo edge key in deploy/compose/demo.env is not in the registry"
    assert matching[0].site == env["EDGE_SITE"]
    assert matching[0].id == env["EDGE_ID"]


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    for pattern in packages:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in dockerfile, f"Dockerfile misses {package}/"
