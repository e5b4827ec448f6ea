"""`canteen-central keys`: credentials created, listed and revoked in central's SQLite file."""

import json
import sqlite3
from pathlib import Path

import pytest

from central.__main__ import main
from central.credentials import CredentialError, CredentialStore, Role, secret_sha256


def keys(db: Path, registry: Path | None, *args: str) -> int:
    prefix = ["keys", "--db", str(db)] + ([] if registry is None else ["--registry", str(registry)])
    return main([*prefix, *args])


def test_secrets_are_shown_once_and_stored_as_hashes(
    tmp_path: Path, registry_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "new" / "central.sqlite3"  # created by the CLI, directory included
    assert keys(db, registry_path, "create-edge", "--edge", "edge-x", "--site", "s1") == 0
    created = capsys.readouterr()
    key = created.out.strip()
    assert "shown only now" in created.err
    assert keys(db, registry_path, "create-token", "--name", "t1", "--site", "s2") == 0
    token = capsys.readouterr().out.strip()
    assert key != token
    assert keys(db, registry_path, "list", "--json") == 0
    listed = capsys.readouterr().out
    rows = [json.loads(line) for line in listed.splitlines()]
    assert [(r["id"], r["role"], r["scope"], r["status"], r["source"]) for r in rows] == [
        ("edge-x", "edge", "s1", "valid", "table"),
        ("t1", "site", "s2", "valid", "table"),
        ("edge-s1", "edge", "s1", "valid", "registry"),
        ("edge-s2", "edge", "s2", "valid", "registry"),
    ]
    assert rows[0]["sha256"] == secret_sha256(key)[:12]
    assert key not in listed
    assert token not in listed
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert key not in dump
    assert token not in dump
    assert secret_sha256(key) in dump


def test_list_shows_revoked_and_superseded_registry_keys(
    tmp_path: Path, registry_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "central.sqlite3"
    assert keys(db, registry_path, "revoke", "edge-s1") == 0
    assert keys(db, registry_path, "create-edge", "--edge", "edge-s2", "--site", "s2") == 0
    capsys.readouterr()
    assert keys(db, registry_path, "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "ID", "ROLE", "SCOPE", "STATUS", "SOURCE", "CREATED", "REVOKED", "SHA256"
    ]  # fmt: skip
    statuses = {(line.split()[0], line.split()[4]): line.split()[3] for line in table[1:]}
    assert statuses == {
        ("edge-s1", "table"): "revoked",
        ("edge-s2", "table"): "valid",
        ("edge-s1", "registry"): "revoked",
        ("edge-s2", "registry"): "superseded",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create-edge", "--edge", "e1", "--site", "nowhere"], "site 'nowhere' is not in the"),
        (["create-edge", "--edge", "bad/id", "--site", "s1"], "must be 1-64 letters"),
        (["create-token", "--name", "t", "--site", "nowhere"], "site 'nowhere' is not in the"),
        (["create-token", "--name", "t", "--region", "Zhejiang"], "one registry region tag"),
        (["revoke", "nobody"], "no valid credential with id 'nobody'"),
    ],
)
def test_bad_requests_fail_with_a_reason(
    tmp_path: Path,
    registry_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert keys(tmp_path / "c.sqlite3", registry_path, *args) == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_an_id_has_one_valid_credential_and_can_be_reissued_after_revocation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.sqlite3"
    assert keys(db, None, "create-token", "--name", "ops", "--admin") == 0
    assert keys(db, None, "create-token", "--name", "ops", "--admin") == 1
    assert "'ops' already has a valid credential" in capsys.readouterr().err
    assert keys(db, None, "create-edge", "--edge", "ops", "--site", "s1") == 1  # one namespace
    assert keys(db, None, "revoke", "ops") == 0
    assert keys(db, None, "revoke", "ops") == 1
    assert keys(db, None, "create-token", "--name", "ops", "--admin") == 0
    with CredentialStore(db) as store:
        states = [(c.id, c.revoked) for c in store.all()]
    assert states == [("ops", True), ("ops", False)]


def test_the_database_defaults_to_central_sqlite_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("CENTRAL_SQLITE_PATH", str(db))
    monkeypatch.delenv("CENTRAL_REGISTRY_PATH", raising=False)
    assert main(["keys", "create-token", "--name", "z", "--region", "province:Zhejiang"]) == 0
    token = capsys.readouterr().out.strip()
    with CredentialStore(db) as store:
        found = store.by_secret_sha256(secret_sha256(token))
    assert found is not None
    assert (found.id, found.role, found.scope) == ("z", Role.REGION, "province:Zhejiang")


def test_the_store_refuses_scopes_that_do_not_fit_the_role(tmp_path: Path) -> None:
    with CredentialStore(tmp_path / "c.sqlite3") as store:
        with pytest.raises(CredentialError, match="an admin token has no scope"):
            store.create("a", Role.ADMIN, "s1")
        with pytest.raises(CredentialError, match="site id"):
            store.create("b", Role.SITE, "")
