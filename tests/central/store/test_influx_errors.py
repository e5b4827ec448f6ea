"""How the `influxdb` store translates InfluxDB's failures, against real HTTP servers on loopback:
retryable ones are StoreUnavailable (503 to the edge, which keeps its readings), others StoreError.
"""

import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from central.app import create_app
from central.settings import CentralSettings
from central.store import StoreError, StoreUnavailable
from central.store.influx import InfluxStore
from central.store.influx_schema import reading_point
from contract import CardRecord
from harness.ports import free_port
from tests.central.conftest import KEY_S1, EdgeAuth, batch, card, in_process, utc_ms

READING = CardRecord(device="card-1", boot="b1", seq=1, device_time_ms=1000, received_ms=1001,
                     person="ab" * 8)  # fmt: skip


def answering(status: int) -> Iterator[str]:
    """An HTTP server answering every request with `status` and an InfluxDB-style JSON body."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = b'{"code":"x","message":"scripted answer"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(params=[503, 429, 401, 404])
def influx_answering(request: pytest.FixtureRequest) -> Iterator[tuple[int, str]]:
    for url in answering(request.param):
        yield request.param, url


async def test_answers_are_translated_on_writes_and_queries(
    influx_answering: tuple[int, str],
) -> None:
    status, url = influx_answering
    expected = StoreUnavailable if status in (503, 429) else StoreError
    async with InfluxStore(url=url, org="o", bucket="b", token="t") as store:
        with pytest.raises(expected, match=f"answered {status}: .*scripted answer") as raised:
            await store.write_points([reading_point("s1", READING, 1)])
        if expected is StoreError:
            assert not isinstance(raised.value, StoreUnavailable)
        with pytest.raises(expected, match=f"answered {status}"):
            await store.load_duplicates("s1", date(2026, 1, 1), date(2026, 1, 2))


async def test_ingest_answers_503_while_influxdb_is_down(settings: CentralSettings) -> None:
    down = settings.model_copy(
        update={
            "store": "influxdb",
            "influx_url": f"http://127.0.0.1:{free_port()}",
            "influx_org": "canteen",
            "influx_token": SecretStr("t"),
            "influx_write_timeout_s": 2.0,
            "influx_query_timeout_s": 2.0,
        }
    )
    async with in_process(create_app(down)) as client:
        t = utc_ms(2026, 1, 1, 4)
        answer = await client.post(
            "/api/v1/ingest", json=batch([card(0, t, 1)]), auth=EdgeAuth(KEY_S1)
        )
        health = await client.get("/api/v1/health")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    assert "unreachable" in answer.json()["detail"]
    # liveness does not depend on InfluxDB: the load balancer keeps the replica
    assert health.status_code == 200
    assert health.json()["store"] == "influxdb"
