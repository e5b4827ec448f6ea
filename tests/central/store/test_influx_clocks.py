"""Clock verdicts of the `influxdb` store across uploads (central/store/influx_clocks.py): the
same cases as the SQLite store's test, with the same verdicts.

No InfluxDB server can run here, so the store talks HTTP to a fake at that seam (fake_influx.py):
it keeps the points written to it (fields merged per series and timestamp, as InfluxDB does) and
answers the store's identity, burst and predecessor queries in annotated CSV, reading their
ranges and filters from the Flux text the store sent (range, measurement, devices, receive
window, boot and seq bound, last by seq). The Flux itself runs on a live InfluxDB in the
conformance suite (test_conformance.py).
"""

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.kpi.clocks import ClockRule
from central.store import BatchToStore
from central.store.influx import InfluxStore
from central.store.influx_schema import RECEIVED
from central.store.sqlite import SqliteStore
from contract import ReadingRecord
from tests.central.store.clock_cases import AT_8, uploads
from tests.central.store.fake_influx import FakeInflux, serving


@pytest.fixture
def fake_influx() -> Iterator[FakeInflux]:
    with serving(FakeInflux()) as fake:
        yield fake


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
