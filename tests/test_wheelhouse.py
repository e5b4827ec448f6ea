"""scripts/wheelhouse builds a wheelhouse pinned with hashes; a fresh venv installs from it with
no index at all (docs/install.md), and the installed commands run."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^[a-z0-9-]+==[^ ]+ --hash=sha256:[0-9a-f]{64}$")


def _offline_env() -> dict[str, str]:
    """No pip configuration, index or find-links of this machine: only the wheelhouse counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INDEX"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse") / "wheels"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "wheelhouse"), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def _install(venv: Path, wheelhouse: Path, requirements: Path) -> subprocess.CompletedProcess[str]:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "--require-hashes",
            "-r",
            str(requirements),
        ],
        env=_offline_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_requirement_is_pinned_with_a_hash(wheelhouse: Path) -> None:
    lines = [
        line
        for line in (wheelhouse / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert [line for line in lines if not PIN.match(line)] == []
    names = {line.split("==")[0] for line in lines}
    assert {"smart-canteen", "fastapi", "pydantic-settings", "paho-mqtt", "numpy"} <= names
    assert len(lines) == len(list(wheelhouse.glob("*.whl")))


def test_a_fresh_venv_installs_offline_and_runs_the_commands(
    wheelhouse: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    result = _install(venv, wheelhouse, wheelhouse / "requirements.txt")
    assert result.returncode == 0, result.stderr
    for command in ("canteen-central", "canteen-edge", "canteen-sim"):
        ran = subprocess.run(
            [str(venv / "bin" / command), "--help"],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,  # not the repository: the installed package must be complete
        )
        assert ran.returncode == 0, ran.stderr
        assert f"usage: {command}" in ran.stdout


def test_a_wheel_that_does_not_match_its_hash_is_refused(wheelhouse: Path, tmp_path: Path) -> None:
    text = (wheelhouse / "requirements.txt").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("tzdata=="))
    tampered = tmp_path / "requirements.txt"
    tampered.write_text(text.replace(line, line[:-4] + "0000"), encoding="utf-8")
    result = _install(tmp_path / "venv", wheelhouse, tampered)
    assert result.returncode != 0
    assert "HASHES" in result.stderr.upper()
