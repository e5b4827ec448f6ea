"""A small fake InfluxDB 2 HTTP server for the `influxdb` store's tests (no InfluxDB can run here).

It keeps the points written (`POST /api/v2/write`, line protocol) in memory with InfluxDB's
duplicate-point rule (same measurement, tag set and timestamp: the fields of the later write
overwrite, the others stay), and answers the few query shapes the store sends (`POST
/api/v2/query`), recognised by their `yield` names, with annotated CSV computed from those points:
the identity lookup, the readings of a period (with the meters' neighbours and the raw bins'
references), duplicate counts, the rollup state and the sites written lately. Any other query is
answered 400, so a new shape shows up as a failing test. It records every request, and can be
told to answer 503 to writes holding a measurement (a crash between two writes).

What it does not model: Flux itself (each shape's meaning is written here again from
central/store/flux.py's docstrings), retention, the `reading_by_received` copies (the readings
of a period are found by their receive time directly). The live conformance suite
(test_conformance.py) holds the real server to the same answers.
"""

import contextlib
import gzip
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from central.store.flux import CLOCK_COLUMNS
from central.store.influx_schema import HEALTH_FIELDS

Key = tuple[str, tuple[tuple[str, str], ...], int]  # measurement, sorted tags, timestamp (ns)
Fields = dict[str, Any]

NS_PER_MS = 1_000_000


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double quotes and not escaped by a backslash."""
    parts, current, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _value(text: str) -> Any:
    if text.startswith('"'):
        return _unescape(text[1:-1])
    if text.endswith("i"):
        return int(text[:-1])
    if text in ("t", "T", "true", "True", "TRUE"):
        return True
    if text in ("f", "F", "false", "False", "FALSE"):
        return False
    return float(text)


def parse_line(line: str) -> tuple[Key, Fields]:
    """One line of line protocol: its point key and fields."""
    head, field_text, stamp = _split(line, " ")
    measurement, *tags = _split(head, ",")
    tag_pairs = tuple(sorted(tuple(_unescape(p) for p in _split(t, "=")) for t in tags))
    fields = {}
    for pair in _split(field_text, ","):
        name, value = _split(pair, "=")
        fields[_unescape(name)] = _value(value)
    return (_unescape(measurement), tag_pairs, int(stamp)), fields  # type: ignore[return-value]


# Annotated-CSV columns of each result: (name, datatype).
READING_TYPES: tuple[tuple[str, str], ...] = (
    ("kind", "string"), ("device", "string"), ("stream", "string"), ("quantity", "string"),
    ("time_ns", "long"), ("mass_g", "double"), ("person", "string"), ("total", "double"),
    ("received_ms", "long"), ("gross_g", "double"), ("stable", "boolean"), ("item", "string"),
    ("reason", "string"), ("clock_trusted", "boolean"),
)  # fmt: skip
CLOCK_TYPES: tuple[tuple[str, str], ...] = tuple(
    (c, {"time_ns": "long", "seq": "long", "received_ms": "long", "clock_trusted": "boolean"}.get(
        c, "string"))
    for c in CLOCK_COLUMNS
)  # fmt: skip
RESULT_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "ids": (("device", "string"), ("time_ns", "long"), ("boot", "string"), ("seq", "long")),
    "readings": READING_TYPES,
    "duplicates": (("device", "string"), ("time_ns", "long"), ("_value", "long")),
    "edge_duplicates": (
        ("device", "string"),
        ("edge", "string"),
        ("time_ns", "long"),
        ("_value", "long"),
    ),
    "marks": (("site", "string"), ("time_ns", "long"), ("mark", "long")),
    "rollups": (
        ("site", "string"),
        ("time_ns", "long"),
        ("mark", "long"),
        ("config", "string"),
        ("starts", "string"),
        ("ends", "string"),
        ("built_ms", "long"),
    ),
    "config": (
        ("site", "string"),
        ("time_ns", "long"),
        ("config", "string"),
        ("set_ms", "long"),
    ),
    "entries": (
        ("site", "string"),
        ("time_ns", "long"),
        ("entry", "string"),
        ("dishes", "string"),
    ),
    "dirty": (("site", "string"), ("_value", "long")),
    "presence": (
        ("device", "string"),
        ("kind", "string"),
        ("time_ns", "long"),
        ("state", "string"),
        ("boot", "string"),
        ("since_ms", "long"),
    ),
    "health": (
        ("edge", "string"),
        ("time_ns", "long"),
        *((name, "long") for name in HEALTH_FIELDS),
    ),
    "readings_count": (("_value", "long"),),
}


def _cell(value: Any, datatype: str) -> str:
    if value is None:
        return ""
    if datatype == "boolean":
        return "true" if value else "false"
    if datatype == "double":
        return repr(float(value))
    text = str(value)
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def annotated_csv(result: str, types: tuple[tuple[str, str], ...], rows: list[Fields]) -> str:
    """One table of `rows` under the result name, as InfluxDB's annotated CSV."""
    if not rows:
        return ""
    names = [n for n, _ in types]
    lines = [
        "#datatype,string,long," + ",".join(t for _, t in types),
        "#group,false,false," + ",".join("false" for _ in types),
        f"#default,{result},," + ",".join("" for _ in types),
        ",result,table," + ",".join(names),
    ]
    lines += [",,0," + ",".join(_cell(r.get(n), t) for n, t in types) for r in rows]
    return "\r\n".join(lines) + "\r\n\r\n"


@dataclass
class FakeInflux:
    """The server's state; `url` once started (see `fake_influx`)."""

    url: str = ""
    # measurement -> (sorted tags, timestamp) -> fields
    points: dict[str, dict[tuple[tuple[tuple[str, str], ...], int], Fields]] = field(
        default_factory=dict
    )
    requests: list[tuple[str, str]] = field(default_factory=list)  # (kind, body text)
    fail_writes_with: str | None = None  # a measurement: writes holding it answer 503
    lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[str, list[Fields]] = field(default_factory=dict)

    # --- writes ------------------------------------------------------------------------

    def write(self, body: str) -> bool:
        lines = [line for line in body.splitlines() if line.strip()]
        parsed = [parse_line(line) for line in lines]
        if self.fail_writes_with is not None and any(
            k[0] == self.fail_writes_with for k, _ in parsed
        ):
            return False
        with self.lock:
            for (measurement, tags, ts), fields in parsed:
                series = self.points.setdefault(measurement, {})
                series[tags, ts] = {**series.get((tags, ts), {}), **fields}
        return True

    def select(self, measurement: str) -> Iterator[tuple[dict[str, str], int, Fields]]:
        """The points of a measurement as (tags, timestamp, fields); fields are not copied:
        a write replaces a point's dict, never changes it."""
        with self.lock:
            found = list(self.points.get(measurement, {}).items())
        for (tags, ts), fields in found:
            yield dict(tags), ts, fields

    @property
    def queries(self) -> list[str]:
        """The Flux text of every query, in order."""
        return [text for kind, text in self.requests if kind == "query"]

    def verdicts(self, measurement: str = "reading") -> dict[tuple[str, str, int], Any]:
        """(device, boot, seq) -> the `clock_trusted` field of each reading point (or copy)."""
        return {
            (tags["device"], fields["boot"], fields["seq"]): fields.get("clock_trusted")
            for tags, _, fields in self.select(measurement)
            if "seq" in fields
        }

    def count(self, measurement: str) -> int:
        with self.lock:
            return len(self.points.get(measurement, {}))

    # --- queries -----------------------------------------------------------------------

    def query(self, text: str) -> str:
        chunks = dict(
            (name, chunk)
            for chunk, name in re.findall(r"(.*?)\|> yield\(name: \"(\w+)\"\)\n", text, re.S)
        )
        out = []
        for name, chunk in chunks.items():
            rows = self._answer(name, chunk, text)
            kind = "ids" if name.startswith("ids") else name
            kind = "readings_count" if name in ("readings", "rejected") else kind
            if kind in ("range", "before", "after", "raw_before", "raw_wrong", "received"):
                types = READING_TYPES
            elif kind.startswith(("burst", "pred")):
                types = CLOCK_TYPES
            else:
                types = RESULT_TYPES[kind]
            out.append(annotated_csv(name, types, rows))
        return "".join(out) or "\r\n"

    def _answer(self, name: str, chunk: str, text: str) -> list[Fields]:
        lo_ns, hi_ns = _range(chunk)
        sites = set(re.findall(r'r\.site == "([^"]*)"', chunk))
        if name.startswith("ids"):
            devices = set(re.findall(r'r\.device == "([^"]*)"', chunk))
            return [
                {"device": t["device"], "time_ns": ts, "boot": f["boot"], "seq": f["seq"]}
                for t, ts, f in self.select("reading")
                if t["site"] in sites and t["device"] in devices and lo_ns <= ts < hi_ns
            ]
        if name in ("range", "received", "before", "after", "raw_before", "raw_wrong"):
            return self._readings(name, chunk, text, sites)
        if name.startswith(("burst", "pred")):  # the clock lookups (central/store/influx_clocks)
            rows = [r for block in re.split(r"(?=from\(bucket:)", chunk)[1:]
                    for r in self._clock_rows(block)]  # fmt: skip
            return rows
        if name in ("duplicates", "edge_duplicates"):
            measurement, counted = (
                ("duplicate", "count") if name == "duplicates" else ("edge_duplicate", "id")
            )
            return [
                {"device": t["device"], "edge": t.get("edge"), "time_ns": ts, "_value": f[counted]}
                for t, ts, f in self.select(measurement)
                if t["site"] in sites and lo_ns <= ts < hi_ns
            ]
        if name == "dirty":  # last() per site
            latest: dict[str, tuple[int, Fields]] = {}
            for t, ts, f in self.select("rollup_dirty"):
                if lo_ns <= ts < hi_ns and ts >= latest.get(t["site"], (-1, {}))[0]:
                    latest[t["site"]] = (ts, {"site": t["site"], "_value": f["last_ms"]})
            return [row for _, row in latest.values()]
        if name in ("marks", "rollups", "config", "entries"):
            measurement = re.findall(r'r\._measurement == "(\w+)"', chunk)[0]
            return [
                {"site": t["site"], "time_ns": ts, **f}
                for t, ts, f in self.select(measurement)
                if (not sites or t["site"] in sites) and lo_ns <= ts < hi_ns
            ]
        if name == "presence":
            devices = set(re.findall(r'r\.device == "([^"]*)"', chunk))
            changes = [
                {**t, **f, "time_ns": ts}
                for t, ts, f in self.select("device_status")
                if t["site"] in sites and (not devices or t["device"] in devices)
            ]
            return _per_device(changes, lambda r: r["time_ns"], last=True)
        if name == "health":
            reports = [
                {**t, **f, "time_ns": ts, "device": t["edge"]}
                for t, ts, f in self.select("edge_health")
                if t["site"] in sites and lo_ns <= ts < hi_ns
            ]
            return _per_device(reports, lambda r: r["time_ns"], last=True)
        if name == "readings":
            return [{"_value": sum(1 for t, _, _ in self.select("reading") if t["site"] in sites)}]
        if name == "rejected":
            keys = {f["key"] for t, _, f in self.select("rejected") if t["site"] in sites}
            return [{"_value": len(keys)}]
        raise ValueError(f"the fake InfluxDB does not answer result {name!r}")

    def _clock_rows(self, block: str) -> list[Fields]:
        """One `from` of a burst or predecessor lookup: the points of its measurement, range and
        devices, received in its window, below its (boot, seq) (the last by seq)."""
        lo_ns, hi_ns = (int(v) for v in re.findall(r"time\(v: (-?\d+)\)", block)[:2])
        measurement = re.findall(r'r\._measurement == "(\w+)"', block)[0]
        sites = set(re.findall(r'r\.site == "([^"]*)"', block))
        devices = set(re.findall(r'r\.device == "([^"]*)"', block))
        received = re.search(r"r\.received_ms >= (-?\d+) and r\.received_ms <= (-?\d+)", block)
        below = re.search(r'r\.boot == "([^"]*)" and r\.seq < (-?\d+)', block)
        rows = []
        for tags, ts, fields in self.select(measurement):
            row = {**tags, **fields, "time_ns": fields.get("device_time_ns", ts)}
            if (
                tags["site"] not in sites
                or tags["device"] not in devices
                or not lo_ns <= ts < hi_ns
            ):
                continue
            if received and not int(received[1]) <= row["received_ms"] <= int(received[2]):
                continue
            if below and (row["boot"] != below[1] or row["seq"] >= int(below[2])):
                continue
            rows.append(row)
        if below and rows:
            rows = [max(rows, key=lambda r: r["seq"])]
        return rows

    def _site_readings(self, site: str, text: str) -> list[Fields]:
        """The site's reading points as rows, once per query text (one script asks for several
        results)."""
        cached = self._cache.get(text)
        if cached is None:
            cached = [
                {**t, **f, "time_ns": ts}
                for t, ts, f in self.select("reading")
                if t["site"] == site
            ]
            self._cache = {text: cached}
        return cached

    def _readings(self, name: str, chunk: str, text: str, sites: set[str]) -> list[Fields]:
        (site,) = sites
        start_ms, end_ms = map(
            int, re.findall(r"r\.received_ms >= (-?\d+) and r\.received_ms < (-?\d+)\)", text)[0]
        )
        readings = self._site_readings(site, text)

        def received_in(r: Fields) -> bool:
            return bool(start_ms <= r["received_ms"] < end_ms)

        if name == "range":
            return [
                r
                for r in readings
                if start_ms * NS_PER_MS <= r["time_ns"] < end_ms * NS_PER_MS or received_in(r)
            ]
        if name == "received":
            return []  # the fake's "range" holds them
        lo_ns, hi_ns = _range(chunk)
        if name in ("before", "after"):
            meters = [r for r in readings if r["kind"] == "meter" and lo_ns <= r["time_ns"] < hi_ns]
            return _per_device(meters, lambda r: r["time_ns"], last=name == "before")
        raw = [
            r
            for r in readings
            if r["kind"] == "scale" and r.get("gross_g") is not None and r.get("stable")
        ]
        rule = re.search(
            r"r\.time_ns >= \(r\.received_ms - (-?\d+)\) \* \d+ and r\.time_ns < \(r\.received_ms"
            r" \+ (-?\d+)\)",
            text,
        )

        def trusted(r: Fields) -> bool:
            if rule is None:
                return True
            device_ms = r["time_ns"] / NS_PER_MS
            max_delay, tolerance = int(rule.group(1)), int(rule.group(2)) - 1
            return bool(r["received_ms"] - max_delay <= device_ms <= r["received_ms"] + tolerance)

        if name == "raw_before":
            if rule is not None:  # the chunk filters raw_stable by device time first
                lo_ns, hi_ns = map(
                    int, re.findall(r"r\.time_ns >= (-?\d+) and r\.time_ns < (-?\d+)\)", chunk)[-1]
                )
            kept = [
                r
                for r in raw
                if lo_ns <= r["time_ns"] < hi_ns and trusted(r) and not received_in(r)
            ]
            return _per_device(kept, lambda r: r["time_ns"], last=True)
        # raw_wrong: wrong clocks received in the lookback, device time not in the period
        lo_ms, start = map(
            int, re.findall(r"=> r\.received_ms >= (-?\d+) and r\.received_ms < (-?\d+)\)", text)[0]
        )
        kept = [
            r
            for r in raw
            if lo_ms <= r["received_ms"] < start
            and not trusted(r)
            and not start_ms * NS_PER_MS <= r["time_ns"] < end_ms * NS_PER_MS
        ]
        return _per_device(kept, lambda r: (r["received_ms"], r["time_ns"]), last=True)


def _range(chunk: str) -> tuple[int, int]:
    found = re.findall(r"range\(start: time\(v: (-?\d+)\), stop: time\(v: (-?\d+)\)\)", chunk)
    if not found:
        return 0, 2**63
    lo, hi = found[-1]
    return int(lo), int(hi)


def _per_device(rows: list[Fields], key: Any, last: bool) -> list[Fields]:
    best: dict[str, Fields] = {}
    for r in sorted(rows, key=key):
        if last or r["device"] not in best:
            best[r["device"]] = r
    return list(best.values())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeInflux
    disable_nagle_algorithm = True  # headers and body go out at once: no delayed-ACK stalls

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        path = urlsplit(self.path).path
        text = body.decode()
        if path == "/api/v2/write":
            self.fake.requests.append(("write", text))
            ok = self.fake.write(text)
            self.send_response(204 if ok else 503)
            self.end_headers()
            return
        query = json.loads(text)["query"]
        self.fake.requests.append(("query", query))
        try:
            answer = self.fake.query(query).encode()
        except Exception as exc:
            error = json.dumps({"code": "invalid", "message": str(exc)}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(error)))
            self.end_headers()
            self.wfile.write(error)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(fake: FakeInflux) -> Iterator[FakeInflux]:
    """`fake` served on a free loopback port (sets fake.url) until the block ends."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
