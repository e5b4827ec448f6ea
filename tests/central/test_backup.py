"""`canteen-central backup` / `restore`: a backup taken while a real central process stores
upload batches holds whole batches only (everything answered before it began), and a fresh
central restored from it answers the same KPIs as one fed exactly those batches; a backup of
the quiet database restores to the live central's answers. Refusals leave everything as it was.
"""

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from central.__main__ import main
from central.app import create_app
from central.credentials import CredentialStore, Role
from central.settings import CentralSettings
from tests.central.conftest import (
    ADMIN_TOKEN,
    KEY_S1,
    EdgeAuth,
    admin,
    batch,
    card,
    in_process,
    meter,
    scale,
    utc_ms,
)
from tests.central_process import central_process

BATCH_READINGS = 30
DAY = "2026-11-18"
KPI_QUERIES: tuple[tuple[str, dict[str, str]], ...] = (
    ("/api/v1/sites/s1/kpis/daily", {"date": DAY}),
    ("/api/v1/kpis", {"site": "s1", "period": "day", "date": DAY}),
    ("/api/v1/sites/s1/stats", {}),
)


def upload(number: int) -> dict[str, Any]:
    """Batch `number`: lunch card taps, plate weighings and meter totals with seqs of its own
    block (seq // BATCH_READINGS == number), so a backup shows which batches it holds."""
    readings = []
    for j in range(BATCH_READINGS):
        seq = number * BATCH_READINGS + j
        t_ms = utc_ms(2026, 11, 18, 4) + seq * 1000  # from 12:00 in the site's +08:00
        if j % 3 == 0:
            readings.append(card(seq, t_ms, who=seq))
        elif j % 3 == 1:
            readings.append(scale(seq, t_ms, "plate", 10.0 + j))
        else:
            readings.append(meter(seq, t_ms, "electricity", 1000.0 + seq * 0.5, "elec-1"))
    return batch(readings, batch_id=f"batch-{number}")


class Writer(threading.Thread):
    """Posts batch 0, 1, 2, ... to central until stopped; `acked` counts the 200 answers."""

    def __init__(self, base_url: str) -> None:
        super().__init__(name="writer", daemon=True)
        self.base_url = base_url
        self.acked = 0
        self.progress = threading.Condition()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=30) as client:
                while not self.stop.is_set():
                    response = client.post(
                        "/api/v1/ingest", json=upload(self.acked), auth=EdgeAuth(KEY_S1)
                    )
                    assert response.status_code == 200, response.text
                    with self.progress:
                        self.acked += 1
                        self.progress.notify_all()
        except BaseException as exc:
            self.error = exc
            with self.progress:
                self.progress.notify_all()

    def wait_acked(self, count: int) -> None:
        with self.progress:
            done = self.progress.wait_for(
                lambda: self.acked >= count or self.error is not None, timeout=120
            )
        assert self.error is None, self.error
        assert done, f"only {self.acked} batches stored in 120 s"


def batches_in(database: Path) -> list[int]:
    """Readings per batch block in a database file, in block order."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT seq / ?, count(*) FROM readings GROUP BY seq / ? ORDER BY 1",
            (BATCH_READINGS, BATCH_READINGS),
        ).fetchall()
    conn.close()
    assert [block for block, _ in rows] == list(range(len(rows))), "a batch is missing"
    return [count for _, count in rows]


def settings_on(database: Path, registry_path: Path) -> CentralSettings:
    return CentralSettings(
        registry_path=registry_path,
        sqlite_path=database,
        admin_token_sha256=hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest(),
    )


async def kpi_answers(database: Path, registry_path: Path) -> list[Any]:
    async with in_process(create_app(settings_on(database, registry_path))) as client:
        answers = []
        for path, params in KPI_QUERIES:
            response = await client.get(path, params=params, headers=admin())
            assert response.status_code == 200, response.text
            answer = response.json()
            answer.pop("rollups", None)  # how fresh the rollups were: this process's, not data
            answers.append(answer)
        return answers


async def test_backup_while_writing_restores_to_the_same_kpis(
    tmp_path: Path, registry_path: Path
) -> None:
    live = tmp_path / "live" / "central.sqlite3"
    with central_process(tmp_path / "live", registry_path, ADMIN_TOKEN) as (base_url, _):
        writer = Writer(base_url)
        writer.start()
        try:
            writer.wait_acked(5)
            acked_before = writer.acked
            during = tmp_path / "during.sqlite3"
            assert main(["backup", str(during), "--db", str(live)]) == 0
            acked_after = writer.acked
            writer.wait_acked(acked_after + 5)  # central kept writing after the backup
        finally:
            writer.stop.set()
            writer.join(timeout=60)
        assert writer.error is None, writer.error

        # Whole batches only, and every batch answered before the backup began.
        counts = batches_in(during)
        assert set(counts) == {BATCH_READINGS}
        assert acked_before <= len(counts) <= acked_after + 1

        quiet = tmp_path / "backups"
        quiet.mkdir()
        assert main(["backup", str(quiet), "--db", str(live)]) == 0
        (quiet_file,) = quiet.iterdir()
        async with httpx.AsyncClient(base_url=base_url, headers=admin(), timeout=30) as client:
            live_answers = [
                (await client.get(path, params=params)).raise_for_status().json()
                for path, params in KPI_QUERIES
            ]
        for answer in live_answers:
            answer.pop("rollups", None)
    assert live_answers[0]["services"], "the day has meal services with data"

    # The backup taken while writing, restored into a fresh central, answers what a central
    # fed exactly those batches answers.
    restored = tmp_path / "restored" / "central.sqlite3"
    assert main(["restore", str(during), "--db", str(restored)]) == 0
    replayed = tmp_path / "replayed" / "central.sqlite3"
    await fill(replayed, registry_path, len(counts))
    assert await kpi_answers(restored, registry_path) == await kpi_answers(replayed, registry_path)

    # The quiet backup restores to the live central's answers.
    again = tmp_path / "again" / "central.sqlite3"
    assert main(["restore", str(quiet_file), "--db", str(again)]) == 0
    assert await kpi_answers(again, registry_path) == live_answers


async def fill(database: Path, registry_path: Path, batches: int) -> None:
    """A central database holding batches 0 .. batches-1, written by central itself."""
    async with in_process(create_app(settings_on(database, registry_path))) as client:
        for number in range(batches):
            response = await client.post(
                "/api/v1/ingest", json=upload(number), auth=EdgeAuth(KEY_S1)
            )
            assert response.status_code == 200, response.text


async def test_restore_refuses_to_overwrite_without_force(
    tmp_path: Path, registry_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first.sqlite3", tmp_path / "second.sqlite3"
    await fill(first, registry_path, 1)
    await fill(second, registry_path, 2)
    saved = tmp_path / "saved.sqlite3"
    assert main(["backup", str(saved), "--db", str(second)]) == 0
    capsys.readouterr()

    assert main(["restore", str(saved), "--db", str(first)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("canteen-central restore: ")
    assert "--force" in error
    assert error.count("\n") == 1
    assert len(batches_in(first)) == 1  # untouched

    assert main(["restore", str(saved), "--db", str(first), "--force"]) == 0
    assert len(batches_in(first)) == 2

    # A backup never overwrites a file.
    assert main(["backup", str(saved), "--db", str(first)]) == 1
    assert "exists" in capsys.readouterr().err


def test_restore_refuses_a_damaged_or_foreign_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "target.sqlite3"
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    assert main(["restore", str(junk), "--db", str(target)]) == 1
    assert "not a readable SQLite database" in capsys.readouterr().err
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE something (x)")
    conn.close()
    assert main(["restore", str(foreign), "--db", str(target)]) == 1
    assert "is not a central database" in capsys.readouterr().err
    assert not target.exists()


def test_backup_of_a_missing_database_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "central.sqlite3"
    assert main(["backup", str(tmp_path / "b.sqlite3"), "--db", str(missing)]) == 1
    assert "no database at" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_credentials_only_database_is_backed_up_and_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With CENTRAL_STORE=influxdb the SQLite file holds only the keys and tokens."""
    database = tmp_path / "central.sqlite3"
    with CredentialStore(database) as store:
        store.create("ops", Role.ADMIN, "")
        before = [(c.id, c.role, c.secret_sha256) for c in store.all()]
    saved = tmp_path / "saved.sqlite3"
    assert main(["backup", str(saved), "--db", str(database)]) == 0
    assert "backed up 0 readings" in capsys.readouterr().out
    restored = tmp_path / "restored.sqlite3"
    assert main(["restore", str(saved), "--db", str(restored)]) == 0
    with CredentialStore(restored) as store:
        assert [(c.id, c.role, c.secret_sha256) for c in store.all()] == before
