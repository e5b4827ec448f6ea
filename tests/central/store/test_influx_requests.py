"""What one upload batch costs the `influxdb` store in requests to InfluxDB, counted at a real
HTTP server on loopback that records every request (it answers queries with an empty result and
writes with 204, as InfluxDB does for an empty bucket). Documented in docs/scaling.md."""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from central.app import create_app
from central.settings import CentralSettings
from tests.central.conftest import KEY_S1, EdgeAuth, batch, card, in_process, meter, utc_ms


@dataclass
class Recorded:
    url: str
    requests: list[tuple[str, bytes]] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [path.rsplit("/", 1)[-1] for path, _ in self.requests]


@pytest.fixture
def recording_influx() -> Iterator[Recorded]:
    recorded = Recorded("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlsplit(self.path).path
            recorded.requests.append((path, body))
            if path == "/api/v2/write":
                self.send_response(204)
                self.end_headers()
                return
            answer = b"\r\n"  # an annotated-CSV answer without tables
            self.send_response(200)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorded.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def influx_settings(settings: CentralSettings, recording_influx: Recorded) -> CentralSettings:
    return settings.model_copy(
        update={
            "store": "influxdb",
            "influx_url": recording_influx.url,
            "influx_org": "canteen",
            "influx_token": SecretStr("t"),
            "rollup_debounce_s": 3600.0,  # the maintainer's requests: test_influx_rollups.py
        }
    )


async def test_requests_per_batch(settings: CentralSettings, recording_influx: Recorded) -> None:
    influx = influx_settings(settings, recording_influx)
    t = utc_ms(2026, 1, 1, 4)
    readings = [card(n, t + n * 1000, n) for n in range(20)]
    readings += [meter(n, t + n * 60_000, "electricity", 10.0 + n, "elec-1") for n in range(5)]
    readings.append({**card(99, 5_000, 99), "received_ms": t})  # a clock at 1970, received now
    async with in_process(create_app(influx)) as client:
        answer = await client.post("/api/v1/ingest", json=batch(readings), auth=EdgeAuth(KEY_S1))
    assert answer.status_code == 200
    # the ingest's requests (the rollup maintainer's start is left out): the identity lookup
    # (duplicates and the clock burst), the write, then the marks of the dates it touches; no
    # readings are loaded
    ingest = ingest_requests(recording_influx)
    assert [path.rsplit("/", 1)[-1] for path, _ in ingest] == ["query", "write", "write"]
    lookup = ingest[0][1].decode()
    # one range per cluster of device times, and in the same query the stored readings of the
    # batch's burst (docs/influxdb.md, "Clocks")
    assert lookup.count("yield(") == 3
    assert 'yield(name: \\"burst\\")' in lookup  # JSON-escaped quotes
    # 26 readings + the receive-time copy of the 1970 card
    assert ingest[1][1].count(b"\n") + 1 == 27
    marks = ingest[2][1].decode().splitlines()
    # the dates around 2026-01-01 (the meters' reach), the date whose load holds the 1970 card's
    # device time (a card marks only those: docs/kpis.md, "When a date is pending"), and the
    # site's `rollup_dirty` point
    marked = {
        date(1970, 1, 1) + timedelta(days=int(line.rsplit(" ", 1)[1]) // 86_400_000_000_000)
        for line in marks
        if line.startswith("rollup_mark,site=s1 ")
    }
    assert {date(1970, 1, 1), date(2026, 1, 1)} <= marked
    assert all(day < date(1970, 1, 9) or abs(day - date(2026, 1, 1)).days <= 6 for day in marked)
    assert sum(line.startswith("rollup_dirty,site=s1 ") for line in marks) == 1


def ingest_requests(recording_influx: Recorded) -> list[tuple[str, bytes]]:
    """The requests of ingest (the identity and clock lookups, the writes of points and marks),
    not those of the rollup maintainer (its configuration check at start)."""
    return [
        (path, body)
        for path, body in recording_influx.requests
        if b"rollup_config" not in body and b'rollup_dirty\\"' not in body
    ]


async def test_a_buffered_upload_looks_up_its_predecessor_once(
    settings: CentralSettings, recording_influx: Recorded
) -> None:
    """A meter uploading the readings it buffered since yesterday with a live reading after
    them: its clock verdicts can depend on the reading before the buffer, so one more query
    looks it up (central/store/influx_clocks.py); a batch of live readings never pays it."""
    influx = influx_settings(settings, recording_influx)
    t = utc_ms(2026, 1, 1, 8)
    day = 86_400_000
    readings = [
        {**meter(n, t - day + n * 900_000, "electricity", 10.0 + n, "elec-1"), "received_ms": t}
        for n in range(1, 5)
    ]
    readings.append(meter(5, t, "electricity", 20.0, "elec-1"))
    async with in_process(create_app(influx)) as client:
        answer = await client.post("/api/v1/ingest", json=batch(readings), auth=EdgeAuth(KEY_S1))
    assert answer.status_code == 200
    ingest = ingest_requests(recording_influx)
    assert [path.rsplit("/", 1)[-1] for path, _ in ingest] == ["query", "query", "write", "write"]
    predecessor = ingest[1][1].decode()
    assert 'yield(name: \\"pred0\\")' in predecessor
    assert 'r.boot == \\"b1\\" and r.seq < 1' in predecessor
