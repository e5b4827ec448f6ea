"""A batch central keeps failing on (HTTP 500) is isolated: the entries central fails on alone are
dead-lettered with its reason, everything else is delivered (issue 13). Against a real HTTP server
(uvicorn on a free loopback port): central is a small app that answers 500 to every batch holding
one specific reading, like a central with a bug that one value triggers."""

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contract import UploadBatch
from edge.buffer import Buffer, DeviceStatus
from tests.edge.conftest import SITE, FakeCentral
from tests.edge.test_uploader import Sleeps, make_uploader, new_reading, run_until

POISON_SEQ = 13


def poisoned(central: FakeCentral, *, all_fail: bool = False) -> Starlette:
    """Central: a batch holding reading seq 13 (or, with `all_fail`, any batch) gets a 500."""

    async def ingest(request: Request) -> Response:
        body = await request.body()
        batch = UploadBatch.model_validate_json(body)
        if all_fail or any(r.seq == POISON_SEQ for r in batch.readings):
            central.requests += 1
            central.changed.set()
            return Response("Internal Server Error", status_code=500, media_type="text/plain")
        answer = central.handler(httpx.Request("POST", str(request.url), content=body))
        return Response(answer.content, answer.status_code, media_type="application/json")

    return Starlette(routes=[Route("/api/v1/ingest", ingest, methods=["POST"])])


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """`app` on uvicorn at a free loopback port; its URL. The socket listens before the server
    starts, so a request made at once waits in the backlog instead of failing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_an_edge_keeps_delivering_around_a_reading_central_fails_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    central = FakeCentral()
    sleeps = Sleeps()
    caplog.set_level(logging.WARNING, logger="edge.uploader")
    async with (
        serving(poisoned(central)) as url,
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient() as client,
    ):
        await buffer.commit(
            [new_reading(i) for i in range(40)],
            statuses=[DeviceStatus(SITE, "meter", "m1", "online", "b1", 1_000)],
        )
        uploader = make_uploader(buffer, central.handler, sleeps, client, batch_max_readings=100)
        uploader.ingest_url = f"{url}/api/v1/ingest"
        await run_until(
            uploader,
            central,
            lambda: len(central.stored) == 39,
            then=lambda: uploader.entries_dead_lettered == 1,
        )
        assert await buffer.pending_count() == 0
        assert await buffer.pending_statuses_count() == 0
        letters = await buffer.dead_letters()
        counters = (await buffer.stats()).counters
    assert sorted(seq for _, _, seq in central.stored) == [i for i in range(40) if i != POISON_SEQ]
    # the status change travelled with a delivered part
    assert any(batch.statuses for batch in central.batches)
    [letter] = letters
    assert letter["topic"] == f"canteen/{SITE}/meter/m1/data"
    assert json.loads(letter["payload"])["seq"] == POISON_SEQ
    assert "central failed on this entry alone" in letter["reason"]
    assert "HTTP 500: Internal Server Error" in letter["reason"]
    assert counters["dead_lettered"] == 1
    # the whole batch failed 3 times (EDGE_UPLOAD_ISOLATE_AFTER_FAILURES), then it was isolated
    assert "HTTP 500 to the same batch 3 times in a row" in caplog.text
    assert "dead-lettered reading m1/b1/13" in caplog.text


async def test_a_central_that_fails_every_batch_dead_letters_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    central = FakeCentral()
    caplog.set_level(logging.ERROR, logger="edge.uploader")
    async with (
        serving(poisoned(central, all_fail=True)) as url,
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient() as client,
    ):
        await buffer.commit([new_reading(i) for i in range(4)])
        uploader = make_uploader(buffer, central.handler, Sleeps(), client)
        uploader.ingest_url = f"{url}/api/v1/ingest"
        # 3 whole batches, then halves down to the 4 single readings (7 posts), then one more
        await run_until(uploader, central, lambda: central.requests >= 3 + 7 + 1)
        assert await buffer.pending_count() == 4
        assert await buffer.dead_letters() == []
    assert "central is broken, not an entry; 4 entries kept" in caplog.text


async def test_entries_buffered_by_an_older_edge_beyond_the_contract_are_dead_lettered(
    tmp_path: Path, central: FakeCentral
) -> None:
    # An edge of before issue 13 accepted device times up to the end of year 9999: after the
    # upgrade such a buffered reading (or dropped-duplicate report) must not stop the uploader.
    end_of_9999_ms = 253402300799999
    late = new_reading(2)
    record = json.loads(late.record_json) | {"device_time_ms": end_of_9999_ms}
    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=central.transport()) as client,
    ):
        await buffer.commit(
            [new_reading(0), new_reading(1), replace(late, record_json=json.dumps(record))]
        )
        # a copy of seq 1 arriving while it is pending, with a device time that late
        await buffer.commit([replace(new_reading(1), device_time_ms=end_of_9999_ms)])
        assert await buffer.pending_duplicates_count() == 1
        uploader = make_uploader(buffer, central.handler, Sleeps(), client)
        await run_until(
            uploader,
            central,
            lambda: len(central.stored) == 2,
            then=lambda: uploader.batches_confirmed == 1,
        )
        assert await buffer.pending_count() == 0
        assert await buffer.pending_duplicates_count() == 0
        letters = await buffer.dead_letters()
    assert sorted(seq for _, _, seq in central.stored) == [0, 1]
    assert [letter["topic"] for letter in letters] == [
        f"canteen/{SITE}/meter/m1/data",
        "(dropped-duplicate report of m1)",
    ]
    for letter in letters:
        assert "not valid under this edge's contract" in letter["reason"]
        assert "device_time_ms: Input should be less than or equal to" in letter["reason"]
