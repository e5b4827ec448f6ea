"""Clock verdicts of the `influxdb` store across uploads (central/store/influx_clocks.py): the
same cases as the SQLite store's test, with the same verdicts.

No InfluxDB server can run here, so the store talks HTTP to a fake at that seam (FakeInflux): it
keeps the `reading` and `reading_by_received` points written to it (fields merged per series
and timestamp, as InfluxDB does) and answers the store's identity, burst and predecessor
queries in annotated CSV, reading their ranges and filters from the Flux text the store sent
(range, measurement, devices, receive window, boot and seq bound, last by seq). The Flux itself
runs on a live InfluxDB in the conformance suite (test_conformance.py).
"""

import itertools
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from central.kpi.clocks import ClockRule
from central.store import BatchToStore
from central.store.flux import CLOCK_COLUMNS
from central.store.influx import InfluxStore
from central.store.influx_schema import RECEIVED
from central.store.sqlite import SqliteStore
from contract import ReadingRecord
from tests.central.store.clock_cases import AT_8, uploads

Key = tuple[str, tuple[tuple[str, str], ...], int]  # measurement, tags, timestamp (ns)
_TYPES = {"time_ns": "long", "seq": "long", "received_ms": "long", "clock_trusted": "boolean"}


def _split(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside double quotes (line protocol escapes with backslash)."""
    parts, current, quoted, escaped = [], "", False, False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == '"':
            current += char
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _value(text: str) -> Any:
    if text.startswith('"'):
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if text in ("true", "false"):
        return text == "true"
    if text.endswith("i"):
        return int(text[:-1])
    return float(text)


@dataclass
class FakeInflux:
    url: str = ""
    points: dict[Key, dict[str, Any]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)

    def write(self, body: str) -> None:
        for line in body.splitlines():
            series, fields, at_ns = _split(line, " ")
            measurement, *tags = _split(series, ",")
            key = (measurement, tuple(sorted(tuple(t.split("=", 1)) for t in tags)), int(at_ns))
            values = self.points.setdefault(key, {})  # type: ignore[arg-type]
            for pair in _split(fields, ","):
                name, value = pair.split("=", 1)
                values[name] = _value(value)

    def verdicts(self, measurement: str = "reading") -> dict[tuple[str, str, int], Any]:
        return {
            (dict(tags)["device"], values["boot"], values["seq"]): values.get("clock_trusted")
            for (m, tags, _), values in self.points.items()
            if m == measurement and "seq" in values
        }

    def query(self, flux: str) -> str:
        self.queries.append(flux)
        blocks = []
        starts = [m.start() for m in re.finditer(r"from\(bucket:", flux)] + [len(flux)]
        for start, stop in itertools.pairwise(starts):
            text = flux[start:stop]
            name = re.search(r'yield\(name: "([^"]+)"\)', flux[start:])
            assert name is not None, flux
            blocks.append(self._block(text, name.group(1)))
        return "\r\n".join(b for b in blocks if b) + "\r\n"

    def _block(self, text: str, result: str) -> str:
        lo, hi = (int(v) for v in re.findall(r"time\(v: (\d+)\)", text)[:2])
        measurement = re.search(r'r\._measurement == "([^"]+)"', text)
        assert measurement is not None
        devices = set(re.findall(r'r\.device == "([^"]+)"', text))
        received = re.search(r"r\.received_ms >= (\d+) and r\.received_ms <= (\d+)", text)
        below = re.search(r'r\.boot == "([^"]+)" and r\.seq < (\d+)', text)
        rows = []
        for (m, tags, at_ns), values in self.points.items():
            row = {**dict(tags), **values, "time_ns": values.get("device_time_ns", at_ns)}
            if m != measurement.group(1) or not lo <= at_ns < hi or row["device"] not in devices:
                continue
            if received and not int(received[1]) <= row["received_ms"] <= int(received[2]):
                continue
            if below and (row["boot"] != below[1] or row["seq"] >= int(below[2])):
                continue
            rows.append(row)
        if below and rows:
            rows = [max(rows, key=lambda r: r["seq"])]
        columns = (
            ("device", "time_ns", "boot", "seq") if result.startswith("ids") else CLOCK_COLUMNS
        )
        if not rows:
            return ""
        lines = [
            "#datatype,string,long," + ",".join(_TYPES.get(c, "string") for c in columns),
            "#group,false,false," + ",".join("false" for _ in columns),
            f"#default,{result},," + ",".join("" for _ in columns),
            ",result,table," + ",".join(columns),
        ]
        for row in rows:
            cells = ["" if row.get(c) is None else str(row[c]).lower() if isinstance(row[c], bool)
                     else str(row[c]) for c in columns]  # fmt: skip
            lines.append(",,0," + ",".join(cells))
        return "\r\n".join(lines) + "\r\n"


@pytest.fixture
def fake_influx() -> Iterator[FakeInflux]:
    fake = FakeInflux()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if urlsplit(self.path).path == "/api/v2/write":
                fake.write(body)
                self.send_response(204)
                self.end_headers()
                return
            answer = fake.query(json.loads(body)["query"]).encode()
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
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


async def test_split_bursts_and_predecessors_get_the_sqlite_stores_verdicts(
    fake_influx: FakeInflux, tmp_path: Path
) -> None:
    def to_store(n: int, readings: list[ReadingRecord]) -> BatchToStore:
        return BatchToStore(site="s1", edge="e1", batch_id=f"b{n}", received_ms=AT_8,
                            readings=readings, clock=ClockRule())  # fmt: skip

    path = tmp_path / "c.sqlite3"
    requests: list[int] = []
    trusted: list[set[tuple[str, int]]] = []  # WriteOutcome.clock_trusted, for derived series
    async with (
        SqliteStore(path) as sqlite,
        InfluxStore(url=fake_influx.url, org="o", bucket="b", token="t") as influx,
    ):
        for n, readings in enumerate(uploads()):
            await sqlite.write_batch(to_store(n, readings))
            before = len(fake_influx.queries)
            outcome = await influx.write_batch(to_store(n, readings))
            requests.append(len(fake_influx.queries) - before)
            trusted.append({(t.device, t.seq) for t in outcome.clock_trusted})
            want = _sqlite_verdicts(path)
            assert fake_influx.verdicts() == want, f"after upload {n}"
            # the receive-time copies carry the same verdicts
            copies = fake_influx.verdicts(RECEIVED)
            assert copies == {k: v for k, v in want.items() if k in copies}
        # the last upload resent (its answer was lost): all duplicates, verdicts unchanged, and
        # its trusted readings reported again (a failed derived write is repaired by the resend)
        verdicts = fake_influx.verdicts(), fake_influx.verdicts(RECEIVED)
        resent = await influx.write_batch(to_store(2, uploads()[2]))
        assert resent.duplicates == len(uploads()[2])
        assert (fake_influx.verdicts(), fake_influx.verdicts(RECEIVED)) == verdicts
        assert {(t.device, t.seq) for t in resent.clock_trusted} == {("ex", n) for n in range(1, 9)}
    final = fake_influx.verdicts()
    # the buffer's last 1.5 h is within the rule's limits (judged by itself)
    assert [final["m1", "b1", n] for n in (1, 89, 90, 91)] == [True, True, True, None]
    assert {final["sc", "b1", n] for n in range(4)} == {False}  # 3 days behind: corrected
    assert [final["bs", "b1", n] for n in range(1, 4)] == [True, True, True]
    assert [final["ex", "b1", n] for n in range(1, 9)] == [True] * 8
    # a second query only where a predecessor can change a verdict or live readings of a
    # device with a stored late reading were not fetched with the burst
    assert requests == [1, 1, 2]
    # the readings whose dates the derived series must follow: the last upload's trusted ones
    # and the stored ones it made trusted
    assert trusted[:2] == [set(), set()]
    assert trusted[2] == {("m1", n) for n in range(1, 91)} | {("bs", n) for n in range(1, 4)} | {
        ("ex", n) for n in range(1, 9)
    }
    assert sum('yield(name: "burst0")' in q for q in fake_influx.queries) == 1


def _sqlite_verdicts(path: Path) -> dict[tuple[str, str, int], Any]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT device, boot, seq, clock_trusted FROM readings").fetchall()
    conn.close()
    return {(d, b, s): None if v is None else bool(v) for d, b, s, v in rows}
