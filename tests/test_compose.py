"""docker-compose.yml and the Dockerfile match the real entry points and settings.

No Docker engine runs here, so this test reads the files and checks every command, option,
variable and mounted file against the code, which is where a compose file rots first.
"""

import hashlib
import re
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


# Compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
# What a required variable (${NAME:?...}) stands for in these checks: the operator's value.
REQUIRED_VALUE = "value-from-the-operator"


def interpolate(value: str) -> str:
    """The value compose passes with no variable set (required ones: set by the operator)."""

    def one(match: re.Match[str]) -> str:
        operator, default = match.group(2), match.group(3)
        if operator in (":-", "-"):
            return default
        if operator in (":?", "?"):
            return REQUIRED_VALUE
        raise AssertionError(f"${{{match.group(1)}}} has no default: compose passes ''")

    return INTERPOLATION.sub(one, value)


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
    env.update({k: interpolate(str(v)) for k, v in service.get("environment", {}).items()})
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


def test_central_uses_the_influxdb_that_compose_initialises() -> None:
    influx = COMPOSE["services"]["influxdb"]
    assert influx["image"].startswith("influxdb:2")
    init = influx["environment"]
    assert init["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for name in ("central", "central-2"):
        env = COMPOSE["services"][name]["environment"]
        assert env["CENTRAL_STORE"] == "influxdb"
        # the same variables fill InfluxDB's initial org, bucket and token and central's settings
        assert env["CENTRAL_INFLUX_ORG"] == init["DOCKER_INFLUXDB_INIT_ORG"]
        assert env["CENTRAL_INFLUX_BUCKET"] == init["DOCKER_INFLUXDB_INIT_BUCKET"]
        assert env["CENTRAL_INFLUX_TOKEN"] == init["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
        assert ":?" in env["CENTRAL_INFLUX_TOKEN"], "the token must come from the environment"
        assert env["CENTRAL_INFLUX_URL"] == "http://influxdb:8086"
        assert COMPOSE["services"][name]["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert ":?" in init["DOCKER_INFLUXDB_INIT_PASSWORD"]


def test_replicas_profile_puts_every_central_behind_the_proxy() -> None:
    services = COMPOSE["services"]
    replicas = [n for n, s in services.items() if s.get("command", [None])[0] == "canteen-central"]
    assert sorted(replicas) == ["central", "central-2"]
    assert services["central"]["environment"] == services["central-2"]["environment"]
    proxy = services["proxy"]
    assert proxy["profiles"] == ["replicas"] == services["central-2"]["profiles"]
    source, target = proxy["volumes"][0].split(":")[:2]
    assert target == "/etc/nginx/nginx.conf"
    conf = (ROOT / source).read_text()
    upstream = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", conf, flags=re.MULTILINE)
    port = services["central"]["environment"]["CENTRAL_PORT"]
    assert sorted(upstream) == sorted((name, port) for name in replicas)
    listen = re.search(r"^\s*listen\s+(\d+);", conf, flags=re.MULTILINE)
    assert listen is not None
    assert f"{listen.group(1)}:{listen.group(1)}" in proxy["ports"]
    # the edge reaches the pool through the proxy when told so
    edge_url = services["edge"]["environment"]["EDGE_CENTRAL_URL"]
    assert edge_url.startswith("${EDGE_CENTRAL_URL:-http://central:")
