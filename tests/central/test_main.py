"""The canteen-central CLI: new-edge-key output, and `serve` as a real process over real HTTP."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from central.__main__ import main
from central.auth import EdgeAuthenticator
from central.registry import parse_registry
from harness.ports import free_port, wait_for_port
from tests.central.conftest import KEY_S1, EdgeAuth, batch, card, meter, scale

REPO = Path(__file__).resolve().parents[2]


def test_new_edge_key_prints_a_key_and_its_registry_block(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["new-edge-key", "--edge", "edge-9", "--site", "s9"]) == 0
    first = capsys.readouterr()
    assert main(["new-edge-key", "--edge", "edge-9", "--site", "s9"]) == 0
    second = capsys.readouterr()
    key, blank, *block = first.out.splitlines()
    assert blank == ""
    assert len(key) >= 40
    assert key != second.out.splitlines()[0]  # fresh randomness each time
    assert "shown only now" in first.err
    document = tomllib.loads("\n".join(block))
    assert document["edges"] == [
        {"id": "edge-9", "site": "s9", "key_sha256": hashlib.sha256(key.encode()).hexdigest()}
    ]
    registry = parse_registry(
        {"sites": [{"id": "s9", "name": "x", "registered_staff": 1}], **document}
    )
    assert EdgeAuthenticator(registry.edges).authenticate(key).id == "edge-9"


def test_new_edge_key_refuses_bad_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-edge-key", "--edge", "edge/9", "--site", "s9"]) == 2
    assert "edge id 'edge/9'" in capsys.readouterr().err


def test_serve_stores_over_real_http(tmp_path: Path, registry_path: Path) -> None:
    port = free_port()
    database = tmp_path / "db" / "central.sqlite3"
    env_file = tmp_path / "central.env"
    env_file.write_text(
        f"CENTRAL_REGISTRY_PATH={registry_path}\nCENTRAL_SQLITE_PATH={database}\n"
        f"CENTRAL_PORT={port}\nCENTRAL_LOG_LEVEL=INFO\n",
        encoding="utf-8",
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("CENTRAL_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "central", "serve", "--env-file", str(env_file)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout_s=20)
        readings = [
            scale(0, 1_763_600_000_000, "plate", 8.0),
            card(0, 1_763_600_000_000, 5),
            meter(0, 1_763_600_000_000, "gas", 3.5, device="gas-1"),
        ]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            response = client.post("/api/v1/ingest", json=batch(readings), auth=EdgeAuth(KEY_S1))
            assert response.status_code == 200, response.text
            assert response.json()["accepted"] == 3
            assert client.get("/api/v1/health").json()["status"] == "ok"
    finally:
        process.terminate()
        out, err = process.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit says what ended it
    assert process.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err
    assert "batch site=s1 edge=edge-s1 batch_id=batch-1 accepted=3 duplicates=0 rejected=0" in err
    assert f"http://127.0.0.1:{port}" in out
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 3


def test_serve_refuses_a_broken_registry(tmp_path: Path) -> None:
    registry = tmp_path / "bad.toml"
    registry.write_text('[[sites]]\nid = "s1"\nregistered_staff = 1\ntimezone = "No/Where"\n')
    env = {name: value for name, value in os.environ.items() if not name.startswith("CENTRAL_")}
    env["CENTRAL_REGISTRY_PATH"] = str(registry)
    result = subprocess.run(
        [sys.executable, "-m", "central", "serve"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "site 's1': unknown time zone 'No/Where'" in result.stderr
    assert result.stderr.startswith("canteen-central: CENTRAL_REGISTRY_PATH: ")
    assert len(result.stderr.strip().splitlines()) == 1


def _no_central_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CENTRAL_")]:
        monkeypatch.delenv(name)


def test_serve_without_settings_says_in_one_line_which_setting_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_central_environment(monkeypatch)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["canteen-central: CENTRAL_REGISTRY_PATH: required, but not set"]


def test_serve_names_each_bad_setting_on_its_own_line_without_a_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_central_environment(monkeypatch)
    env_file = tmp_path / "central.env"
    env_file.write_text("CENTRAL_REGISTRY_PATH=r.toml\nCENTRAL_PORT=0\nCENTRAL_STORE=mongo\n")
    assert main(["serve", "--env-file", str(env_file)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["CENTRAL_STORE", "CENTRAL_PORT"]
    assert not any("http" in line for line in lines)
    assert main(["serve", "--env-file", str(tmp_path / "missing.env")]) == 2
    assert capsys.readouterr().err.startswith("canteen-central: --env-file: ")


def test_serve_help_lists_every_setting_with_its_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "CENTRAL_REGISTRY_PATH [required]" in out
    assert "CENTRAL_SQLITE_PATH [/var/lib/canteen-central/central.sqlite3]" in out
    assert "CENTRAL_PORT [8000]" in out


def test_keys_list_creates_no_database_and_says_it_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "var" / "central.sqlite3"
    assert main(["keys", "--db", str(db), "list"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"canteen-central keys: no database at {db} (--db; central creates it at its first start)"
    ]
    assert list(tmp_path.iterdir()) == []
