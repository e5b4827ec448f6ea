"""Uploader against httpx.MockTransport: delete only on 2xx, keep and back off on every failure."""

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from contract import IngestResult, RejectedEntry, RejectedReading, UploadBatch
from edge.buffer import Buffer, DeviceStatus, NewReading
from edge.errors import RetryableUploadError
from edge.uploader import Uploader
from tests.edge.conftest import API_KEY, SITE, FakeCentral

Handler = Callable[[httpx.Request], httpx.Response]


def new_reading(seq: int) -> NewReading:
    record = {
        "kind": "meter",
        "device": "m1",
        "boot": "b1",
        "seq": seq,
        "device_time_ms": 1000 + seq,
        "received_ms": 2000 + seq,
        "quantity": "electricity",
        "total": 10.0 + seq,
    }
    return NewReading("m1", "b1", seq, json.dumps(record), 1000 + seq, 2000 + seq)


class Sleeps:
    """Injected sleep: records each backoff and yields without waiting."""

    def __init__(self) -> None:
        self.delays_s: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays_s.append(delay_s)
        await asyncio.sleep(0)


def make_uploader(
    buffer: Buffer, handler: Handler, sleeps: Sleeps, client: httpx.AsyncClient, **kw: float
) -> Uploader:
    return Uploader(
        buffer,
        client,
        site=SITE,
        edge_id="edge-s1",
        central_url="http://central.test/",
        api_key=API_KEY,
        batch_max_readings=int(kw.pop("batch_max_readings", 100)),
        upload_interval_s=kw.pop("upload_interval_s", 0.01),
        backoff_initial_s=0.5,
        backoff_max_s=4.0,
        sleep=sleeps,
    )


async def run_until(
    uploader: Uploader,
    central: FakeCentral,
    condition: Callable[[], bool],
    then: Callable[[], bool] | None = None,
) -> None:
    """Run the uploader until central saw `condition`, then (polled, bounded) the edge `then`."""
    task = asyncio.create_task(uploader.run())
    try:
        await central.wait_for(condition, timeout_s=10)
        if then is not None:
            async with asyncio.timeout(10):
                while not then():  # noqa: ASYNC110 (the uploader exposes no event for its last step)
                    await asyncio.sleep(0.005)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_2xx_deletes_exactly_the_sent_rows(tmp_path: Path, central: FakeCentral) -> None:
    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=central.transport()) as client,
    ):
        await buffer.commit([new_reading(i) for i in range(5)])
        uploader = make_uploader(buffer, central.handler, Sleeps(), client)
        result = await uploader.upload(await buffer.oldest(3))
        assert (result.accepted, result.duplicates) == (3, 0)
        assert [r.seq for r in await buffer.oldest(10)] == [3, 4]
        counters = (await buffer.stats()).counters
    assert counters["uploaded"] == 3
    batch = central.batches[0]
    assert (batch.site, batch.edge, batch.v, len(batch.batch_id)) == (SITE, "edge-s1", 1, 32)
    assert central.authorizations == {f"Bearer {API_KEY}"}
    assert sorted(central.stored) == [("m1", "b1", 0), ("m1", "b1", 1), ("m1", "b1", 2)]


async def test_rejected_readings_are_logged_counted_and_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        batch = UploadBatch.model_validate_json(request.content)
        result = IngestResult(
            batch_id=batch.batch_id,
            accepted=1,
            duplicates=0,
            rejected=[RejectedReading(index=1, reason="device time in 1970")],
            rejected_statuses=[RejectedEntry(index=0, reason="state: bad", device="scale-1")],
        )
        return httpx.Response(200, content=result.model_dump_json())

    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
    ):
        await buffer.commit([new_reading(0), new_reading(1)])
        uploader = make_uploader(buffer, handler, Sleeps(), client)
        with caplog.at_level(logging.INFO, logger="edge.uploader"):
            await uploader.upload(await buffer.oldest(10))
        assert await buffer.pending_count() == 0
        assert (await buffer.stats()).counters["rejected_by_central"] == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("m1/b1/1" in w and "device time in 1970" in w for w in warnings)
    assert any("status change 0 (device scale-1): state: bad" in w for w in warnings)
    infos = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert any("accepted 1, duplicates 0, rejected 1" in i for i in infos)


def scripted(central: FakeCentral, failures: list[int | Exception]) -> Handler:
    """Answer with the scripted failures first (a status or an exception), then as central."""
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(len(UploadBatch.model_validate_json(request.content).readings))
        if failures:
            failure = failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure, json={"detail": f"scripted {failure}"})
        return central.handler(request)

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


async def test_transient_failures_keep_rows_and_back_off(
    tmp_path: Path, central: FakeCentral
) -> None:
    failures: list[int | Exception] = [
        503,
        429,
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        500,
    ]
    handler = scripted(central, failures)
    sleeps = Sleeps()
    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
    ):
        await buffer.commit([new_reading(i) for i in range(4)])
        uploader = make_uploader(buffer, handler, sleeps, client)
        # central stored the rows before the uploader deleted them: wait for the confirmation too
        await run_until(
            uploader,
            central,
            lambda: len(central.stored) == 4,
            then=lambda: uploader.batches_confirmed == 1,
        )
        assert await buffer.pending_count() == 0
        counters = (await buffer.stats()).counters
    # Every attempt carried all four rows: nothing was deleted before the 2xx.
    assert handler.seen == [4] * 6  # type: ignore[attr-defined]
    assert counters["upload_failures"] == 5
    # Full jitter under a doubling ceiling capped at backoff_max_s: 0.5, 1, 2, 4, 4.
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0]
    assert len(sleeps.delays_s) == 5
    assert all(0 <= d <= c for d, c in zip(sleeps.delays_s, ceilings, strict=True))


async def test_auth_and_validation_errors_keep_rows(
    tmp_path: Path, central: FakeCentral, caplog: pytest.LogCaptureFixture
) -> None:
    handler = scripted(central, [401, 403, 422])
    sleeps = Sleeps()
    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
    ):
        await buffer.commit([new_reading(i) for i in range(3)])
        uploader = make_uploader(buffer, handler, sleeps, client)
        await run_until(uploader, central, lambda: len(central.stored) == 3)
    assert handler.seen == [3, 3, 3, 3]  # type: ignore[attr-defined]
    # 401 and 403 wait the maximum interval; 422 backs off exponentially (third failure: <= 2 s).
    assert sleeps.delays_s[:2] == [4.0, 4.0]
    assert 0 <= sleeps.delays_s[2] <= 2.0
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert [("scripted 401" in e, "scripted 403" in e, "scripted 422" in e) for e in errors] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]


async def test_413_halves_the_batch(tmp_path: Path, central: FakeCentral) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        size = len(UploadBatch.model_validate_json(request.content).readings)
        sizes.append(size)
        if size > 2:
            return httpx.Response(413, json={"detail": "at most 2 readings"})
        return central.handler(request)

    sizes: list[int] = []
    sleeps = Sleeps()
    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
    ):
        await buffer.commit([new_reading(i) for i in range(8)])
        uploader = make_uploader(buffer, handler, sleeps, client, batch_max_readings=8)
        await run_until(uploader, central, lambda: len(central.stored) == 8)
        assert uploader.batch_size == 2
    assert sizes == [8, 4, 2, 2, 2, 2]
    assert sleeps.delays_s == []  # halving retries at once
    assert sorted(seq for _, _, seq in central.stored) == list(range(8))


async def test_unreadable_2xx_keeps_rows(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>captive portal</html>")

    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
    ):
        await buffer.commit([new_reading(0)])
        uploader = make_uploader(buffer, handler, Sleeps(), client)
        from edge.errors import RetryableUploadError

        with pytest.raises(RetryableUploadError, match="not an IngestResult"):
            await uploader.upload(await buffer.oldest(10))
        assert await buffer.pending_count() == 1


async def test_waits_for_a_full_batch_and_wakes_on_notify(
    tmp_path: Path, central: FakeCentral
) -> None:
    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=central.transport()) as client,
    ):
        uploader = make_uploader(
            buffer, central.handler, Sleeps(), client, batch_max_readings=3, upload_interval_s=30
        )
        await buffer.commit([new_reading(0)])
        waiting = asyncio.create_task(uploader.next_rows())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # one row, interval of 30 s: still collecting
        await buffer.commit([new_reading(1), new_reading(2), new_reading(3)])
        uploader.notify()
        async with asyncio.timeout(5):
            rows = await waiting
        assert [r.seq for r in rows] == [0, 1, 2]

        # With a short interval, a partial batch goes out after the interval.
        uploader.upload_interval_s = 0.02
        await uploader.upload(rows)
        async with asyncio.timeout(5):
            rows = await uploader.next_rows()
        assert [r.seq for r in rows] == [3]


async def test_dropped_duplicates_are_reported_once_even_without_readings(
    tmp_path: Path, central: FakeCentral
) -> None:
    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=central.transport()) as client,
    ):
        await buffer.commit([new_reading(0), new_reading(1)])
        uploader = make_uploader(buffer, central.handler, Sleeps(), client)
        await buffer.commit([new_reading(0)])  # a copy while the original is pending
        await uploader.upload(await buffer.oldest(1))
        # a copy that arrives after the batch of its original was formed: no reading is left
        # to carry it, yet central must hear of it
        rows = await buffer.oldest(1)
        await buffer.commit([new_reading(1)])
        await buffer.delete_confirmed([row.id for row in rows])
        assert (await buffer.pending_count(), await buffer.pending_duplicates_count()) == (0, 1)
        rows = await uploader.next_rows()
        assert rows == []
        await uploader.upload(rows)
        assert await buffer.pending_duplicates_count() == 0
    first, second = central.batches
    assert [r.seq for r in first.readings] == [0]
    # with the edge's receive time: central dates it by its clock rule (contract DroppedDuplicate)
    assert [(d.device, d.device_time_ms, d.received_ms) for d in first.duplicates] == [
        ("m1", 1000, 2000)
    ]
    assert (second.readings, [d.device_time_ms for d in second.duplicates]) == ([], [1001])
    assert second.duplicates[0].id > first.duplicates[0].id


async def test_status_changes_are_sent_alone_and_deleted_only_after_2xx(
    tmp_path: Path, central: FakeCentral
) -> None:
    path = tmp_path / "b.sqlite3"
    will = DeviceStatus(SITE, "meter", "m1", "offline", None, 5000, None)
    async with (
        Buffer(path) as buffer,
        httpx.AsyncClient(transport=central.transport()) as client,
    ):
        await buffer.commit(statuses=[DeviceStatus(SITE, "meter", "m1", "online", "b1", 4000)])
        await buffer.commit(statuses=[will])
        uploader = make_uploader(buffer, central.handler, Sleeps(), client)
        central.answer_status = 503
        with pytest.raises(RetryableUploadError):
            await uploader.upload(await uploader.next_rows())
        assert await buffer.pending_statuses_count() == 2  # central did not confirm
    async with (
        Buffer(path) as buffer,  # an edge restart keeps them
        httpx.AsyncClient(transport=central.transport()) as client,
    ):
        uploader = make_uploader(buffer, central.handler, Sleeps(), client)
        central.answer_status = None
        async with asyncio.timeout(5):
            rows = await uploader.next_rows()  # status changes alone wake the uploader
        assert rows == []
        await uploader.upload(rows)
        assert await buffer.pending_statuses_count() == 0
    (batch,) = central.batches
    assert batch.readings == []
    assert [(s.device, s.state, s.boot, s.received_ms) for s in batch.statuses] == [
        ("m1", "online", "b1", 4000),
        ("m1", "offline", "b1", 5000),
    ]
    assert central.requests == 2


async def test_a_batch_without_status_changes_leaves_the_field_out(
    tmp_path: Path, central: FakeCentral
) -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return central.handler(request)

    async with (
        Buffer(tmp_path / "b.sqlite3") as buffer,
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
    ):
        await buffer.commit([new_reading(0)])
        uploader = make_uploader(buffer, handler, Sleeps(), client)
        await uploader.upload(await buffer.oldest(1))
    assert "statuses" not in bodies[0]
    assert "duplicates" not in bodies[0]
