"""deploy/systemd: the units parse (`systemd-analyze verify`, where installed, with no warning),
are hardened, and start existing entry points with arguments their parsers accept; their state
directories are where the settings' default paths point."""

import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from central.__main__ import _parser as central_parser
from central.settings import CentralSettings
from edge.__main__ import _parser as edge_parser
from edge.settings import EdgeSettings

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
VENV_BIN = "/opt/canteen/bin/"  # the virtual environment of docs/install.md
SERVICES = ("canteen-central.service", "canteen-edge.service", "canteen-central-backup.service")
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
}

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """{section: {key: [values]}} of a unit file (keys may repeat; comments and blanks skipped)."""
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}:{number}: not 'key=value'"
        assert current is not None, f"{path}:{number}: before any [section]"
        assert key.strip().isidentifier(), f"{path}:{number}: bad key {key!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section][key]
    assert len(values) == 1, f"{key} given {len(values)} times"
    return values[0]


def entry_points() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    scripts: dict[str, str] = project["scripts"]
    return scripts


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_hardened_and_runs_an_entry_point(name: str) -> None:
    unit = parse_unit(UNITS / name)
    service = unit["Service"]
    for key, expected in HARDENING.items():
        assert one(unit, "Service", key) == expected, key
    user = one(unit, "Service", "User")
    assert user.startswith("canteen-")
    assert user != "root"
    writable = " ".join(service["ReadWritePaths"]).split()
    assert writable, "ProtectSystem=strict needs the state directory writable"
    assert all(path.startswith(("/var/lib/canteen-", "/var/backups/canteen-")) for path in writable)

    program, *args = shlex.split(one(unit, "Service", "ExecStart"))
    assert program.startswith(VENV_BIN)
    command = program.removeprefix(VENV_BIN)
    assert command in entry_points()
    parser = {"canteen-central": central_parser, "canteen-edge": edge_parser}[command]()
    parsed = parser.parse_args(args)  # exits (SystemExit) on arguments the CLI does not take
    if name != "canteen-central-backup.service":
        assert one(unit, "Service", "Restart") in {"on-failure", "always"}
        assert one(unit, "Service", "RestartPreventExitStatus") == "2"  # settings errors
        assert parsed.env_file == Path(f"/etc/canteen/{command.removeprefix('canteen-')}.env")
        assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_state_directories_hold_the_default_paths() -> None:
    central = parse_unit(UNITS / "canteen-central.service")
    edge = parse_unit(UNITS / "canteen-edge.service")
    sqlite_default = CentralSettings.model_fields["sqlite_path"].default
    buffer_default = EdgeSettings.model_fields["buffer_path"].default
    assert Path("/var/lib", one(central, "Service", "StateDirectory")) == sqlite_default.parent
    assert Path("/var/lib", one(edge, "Service", "StateDirectory")) == buffer_default.parent
    backup = parse_unit(UNITS / "canteen-central-backup.service")
    args = central_parser().parse_args(shlex.split(one(backup, "Service", "ExecStart"))[1:])
    assert args.command == "backup"
    assert args.db == sqlite_default
    assert one(parse_unit(UNITS / "canteen-central-backup.timer"), "Timer", "Persistent") == "true"


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    # verify checks that ExecStart's program exists: point it at this checkout's interpreter's
    # scripts, as installed by pip into the virtual environment.
    bin_dir = f"{Path(sys.executable).parent}/"
    for unit in UNITS.iterdir():
        text = unit.read_text(encoding="utf-8").replace(VENV_BIN, bin_dir)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Unknown keys and bad values are only warnings: none may be printed.
    assert result.stderr.strip() == "", result.stderr
