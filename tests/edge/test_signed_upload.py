"""The uploader's signatures against the real central app (in process): accepted when the edge's
clock is right, refused with central's reason when it is off by more than the window."""

import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from central.app import create_app
from central.settings import CentralSettings
from edge.buffer import Buffer, NewReading
from edge.errors import PermanentUploadError
from edge.uploader import Uploader
from tests.central.conftest import KEY_S1, REGISTRY_TOML, in_process


def reading(seq: int) -> NewReading:
    record = {
        "kind": "meter", "device": "m1", "boot": "b1", "seq": seq,
        "device_time_ms": 1_795_000_000_000 + seq, "received_ms": 1_795_000_000_050 + seq,
        "quantity": "electricity", "total": 10.0 + seq,
    }  # fmt: skip
    return NewReading("m1", "b1", seq, json.dumps(record))


@pytest.fixture
async def central(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY_TOML)
    settings = CentralSettings(
        registry_path=registry,
        sqlite_path=tmp_path / "central.sqlite3",
        admin_token_sha256=hashlib.sha256(b"admin-token-of-this-test").hexdigest(),
    )
    async with in_process(create_app(settings)) as client:
        yield client


def uploader(buffer: Buffer, client: httpx.AsyncClient, clock_offset_s: float) -> Uploader:
    return Uploader(
        buffer,
        client,
        site="s1",
        edge_id="edge-s1",
        central_url=str(client.base_url),
        api_key=KEY_S1,
        clock_s=lambda: time.time() + clock_offset_s,
    )


async def test_signed_batches_are_stored(tmp_path: Path, central: httpx.AsyncClient) -> None:
    async with Buffer(tmp_path / "buffer.sqlite3") as buffer:
        await buffer.commit([reading(i) for i in range(3)])
        result = await uploader(buffer, central, 0.0).upload(await buffer.oldest(10))
        assert (result.accepted, result.duplicates) == (3, 0)
        assert await buffer.pending_count() == 0
    stats = await central.get(
        "/api/v1/sites/s1/stats", headers={"Authorization": "Bearer admin-token-of-this-test"}
    )
    assert stats.json()["readings"] == 3


async def test_an_edge_clock_off_by_ten_minutes_is_refused_and_keeps_its_readings(
    tmp_path: Path, central: httpx.AsyncClient
) -> None:
    async with Buffer(tmp_path / "buffer.sqlite3") as buffer:
        await buffer.commit([reading(i) for i in range(3)])
        with pytest.raises(PermanentUploadError) as refused:
            await uploader(buffer, central, -600.0).upload(await buffer.oldest(10))
        assert refused.value.status_code == 401
        assert "behind central's clock, outside the 300 s window" in refused.value.reason
        assert await buffer.pending_count() == 3
