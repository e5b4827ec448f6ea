"""Dashboard users: the store (passwords, sessions, lockout with a controlled clock) and the
`canteen-central users` CLI on a real SQLite file."""

import io
import json
import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from central.__main__ import main
from central.credentials import Role
from central.users import LockoutPolicy, SessionLimits, UserError, UserStore

PASSWORD = "correct horse battery"
# Cheap argon2 parameters for the store tests (the CLI and central use the library's defaults).
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class Clock:
    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.ms


def test_passwords_are_stored_as_argon2id_and_checked(tmp_path: Path) -> None:
    with UserStore(tmp_path / "c.sqlite3", hasher=FAST) as users:
        users.add("hz", Role.SITE, "hz-1", PASSWORD)
        assert users.verify("hz", PASSWORD) is not None
        assert users.verify("hz", PASSWORD + "x") is None
        assert users.verify("nobody", PASSWORD) is None
        with pytest.raises(UserError, match="at least 12 characters"):
            users.add("short", Role.ADMIN, "", "abc")
        with pytest.raises(UserError, match="exists already"):
            users.add("hz", Role.ADMIN, "", PASSWORD)
        with pytest.raises(UserError, match="key:value"):
            users.add("r", Role.REGION, "Zhejiang", PASSWORD)
    stored = sqlite3.connect(tmp_path / "c.sqlite3").execute("SELECT password_hash FROM users")
    (hashed,) = stored.fetchone()
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed


def test_a_session_ends_at_its_idle_timeout_and_its_max_age(tmp_path: Path) -> None:
    clock = Clock()
    limits = SessionLimits(max_age_s=3600, idle_s=600)
    with UserStore(tmp_path / "c.sqlite3", hasher=FAST, clock_ms=clock) as users:
        user = users.add("hz", Role.SITE, "hz-1", PASSWORD)
        idle = users.start_session(user, limits)
        used = users.start_session(user, limits)
        for _ in range(6):  # used every 9 minutes for 54 minutes: never idle
            clock.ms += 540_000
            assert users.session_user(used, limits) == user
        assert users.session_user(idle, limits) is None  # unused for 54 minutes
        clock.ms += 7 * 60_000  # 61 minutes after sign-in
        assert users.session_user(used, limits) is None
        assert users.sessions_of("hz") == 0  # ended sessions are deleted
        users.start_session(user, limits)
        clock.ms += 601_000
        users.start_session(user, limits)  # the idle one of before is deleted meanwhile
        assert users.sessions_of("hz") == 1


def test_passwd_and_disable_end_sessions(tmp_path: Path) -> None:
    limits = SessionLimits(max_age_s=3600, idle_s=600)
    with UserStore(tmp_path / "c.sqlite3", hasher=FAST) as users:
        user = users.add("hz", Role.SITE, "hz-1", PASSWORD)
        session = users.start_session(user, limits)
        users.set_password("hz", "another long password")
        assert users.session_user(session, limits) is None
        assert users.verify("hz", PASSWORD) is None
        session = users.start_session(user, limits)
        users.disable("hz")
        assert users.session_user(session, limits) is None
        assert users.verify("hz", "another long password") is None  # disabled


def test_lockout_per_user_and_per_address_ends_after_its_time(tmp_path: Path) -> None:
    clock = Clock()
    policy = LockoutPolicy(
        max_failures_per_user=3, max_failures_per_address=5, window_s=600, lockout_s=900
    )
    with UserStore(tmp_path / "c.sqlite3", hasher=FAST, clock_ms=clock) as users:
        for _ in range(3):
            assert users.record_failure("hz", "10.0.0.1", policy) == 0
        assert users.locked_for_s("hz", "10.0.0.9") == 0
        assert users.record_failure("hz", "10.0.0.1", policy) == 900  # the 4th: locked
        assert users.locked_for_s("hz", "10.0.0.9") == 900  # the name, from any address
        assert users.locked_for_s("nb", "10.0.0.2") == 0
        assert users.record_failure("nb", "10.0.0.1", policy) == 0  # address: 5th failure
        assert users.record_failure("zj", "10.0.0.1", policy) == 900  # address: 6th
        assert users.locked_for_s("anyone", "10.0.0.1") == 900
        clock.ms += 600_000
        assert users.locked_for_s("hz", "10.0.0.9") == 300
        clock.ms += 300_000
        assert users.locked_for_s("hz", "10.0.0.1") == 0
        assert users.record_failure("hz", "10.0.0.3", policy) == 0  # the count starts again
        clock.ms += 600_001  # a window later: only the new failure's rows are kept
        users.record_failure("x", "10.0.0.4", policy)
        assert users.locked_for_s("hz", "10.0.0.1") == 0
    keys = sqlite3.connect(tmp_path / "c.sqlite3").execute("SELECT key FROM sign_in_failures")
    assert sorted(k for (k,) in keys) == ["addr:10.0.0.4", "user:x"]


def test_failures_outside_the_window_are_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    policy = LockoutPolicy(
        max_failures_per_user=2, max_failures_per_address=100, window_s=60, lockout_s=900
    )
    with UserStore(tmp_path / "c.sqlite3", hasher=FAST, clock_ms=clock) as users:
        for _ in range(5):
            assert users.record_failure("hz", "10.0.0.1", policy) == 0
            clock.ms += 31_000  # two failures per minute: never three within 60 s


def cli(db: Path, monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", "--db", str(db), *args])


def test_cli_adds_lists_resets_and_disables(
    tmp_path: Path, registry_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    db = tmp_path / "central.sqlite3"
    assert cli(db, monkeypatch, "add", "ops", "--admin", stdin=f"{PASSWORD}\n") == 0
    assert cli(db, monkeypatch, "--registry", str(registry_path), "add", "one", "--site", "s1",
               stdin=f"{PASSWORD}\n") == 0  # fmt: skip
    assert "added user 'one' (site s1)" in capsys.readouterr().err
    assert cli(db, monkeypatch, "list", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["role"], r["scope"], r["status"]) for r in rows] == [
        ("one", "site", "s1", "enabled"),
        ("ops", "admin", "", "enabled"),
    ]
    assert PASSWORD not in db.read_bytes().decode("latin-1")
    assert cli(db, monkeypatch, "passwd", "one", stdin="a brand new password\n") == 0
    assert cli(db, monkeypatch, "disable", "ops") == 0
    assert cli(db, monkeypatch, "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["NAME", "ROLE", "SCOPE", "STATUS"]
    assert table[2].split()[:3] == ["ops", "admin", "disabled"]
    with UserStore(db, hasher=FAST) as users:
        assert users.verify("one", "a brand new password") is not None
        assert users.verify("one", PASSWORD) is None


def test_cli_refuses_bad_input_with_a_reason(
    tmp_path: Path, registry_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    db = tmp_path / "central.sqlite3"
    assert cli(db, monkeypatch, "add", "ops", "--admin", stdin="short\n") == 1
    assert "at least 12 characters" in capsys.readouterr().err
    assert cli(db, monkeypatch, "add", "ops", "--admin", stdin="") == 1
    assert "no password on stdin" in capsys.readouterr().err
    assert cli(db, monkeypatch, "--registry", str(registry_path), "add", "x", "--site", "nope",
               stdin=f"{PASSWORD}\n") == 1  # fmt: skip
    assert "site 'nope' is not in the registry" in capsys.readouterr().err
    assert cli(db, monkeypatch, "passwd", "ghost", stdin=f"{PASSWORD}\n") == 1
    assert "no user 'ghost'" in capsys.readouterr().err
    assert cli(db, monkeypatch, "disable", "ghost") == 1
    with pytest.raises(SystemExit):  # a password is never an argument
        main(["users", "--db", str(db), "add", "ops", "--admin", "--password", PASSWORD])
