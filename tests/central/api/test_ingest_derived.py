"""Ingest with a store that keeps derived series: recomputed for the dates a batch touches, and
the 200 only after that write too (a failure is 503; the edge's resend repairs it)."""

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date

from central.app import create_app
from central.derived import DerivedSeries
from central.settings import CentralSettings
from central.store import ReadingsStore, StoreUnavailable
from central.store.sqlite import SqliteStore
from tests.central.conftest import KEY_S1, EdgeAuth, batch, card, in_process, meter, utc_ms

URL = "/api/v1/ingest"
DAY = date(2026, 3, 2)  # s1 has the registry's default zone


class SinkStore(SqliteStore):
    """The embedded store plus a derived-series sink that records what it is given and fails on
    demand: the seam between central's ingest and a store's derived write."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.written: list[DerivedSeries] = []
        self.fail = False

    async def write_derived(self, series: DerivedSeries) -> None:
        if self.fail:
            raise StoreUnavailable("derived write refused (test)")
        self.written.append(series)


def stored(settings: CentralSettings) -> int:
    with sqlite3.connect(settings.sqlite_path) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    return count


def lunch(seq: int) -> Sequence[dict[str, object]]:
    t = utc_ms(2026, 3, 2, 4, 30)  # 12:30 in Asia/Shanghai
    return [
        card(seq, t + seq * 1000, who=seq),
        meter(seq, t + seq * 60_000, "electricity", 100.0 + seq, device="elec-1"),
    ]


async def test_derived_series_are_written_before_the_200(settings: CentralSettings) -> None:
    stores: list[SinkStore] = []

    def opener(s: CentralSettings) -> AbstractAsyncContextManager[ReadingsStore]:
        stores.append(SinkStore(s.sqlite_path))
        return stores[-1]

    async with in_process(create_app(settings, store_opener=opener)) as client:
        sink = stores[0]
        response = await client.post(URL, json=batch([*lunch(0), *lunch(1)]), auth=EdgeAuth(KEY_S1))
        assert response.status_code == 200
        [series] = sink.written
        assert (series.site, series.span.first, series.span.last) == ("s1", DAY, DAY)
        assert sum(m.diners for m in series.meals) == 2
        assert len(series.intervals) == 1  # the meter's two readings

        # the derived write fails: 503, the readings are stored, nothing is acknowledged
        sink.fail = True
        second = batch([*lunch(2)], batch_id="batch-2")
        response = await client.post(URL, json=second, auth=EdgeAuth(KEY_S1))
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0
        assert stored(settings) == 6
        # the edge resends: every reading a duplicate, the derived series written all the same
        sink.fail = False
        response = await client.post(URL, json=second, auth=EdgeAuth(KEY_S1))
        assert response.status_code == 200
        assert response.json()["duplicates"] == 2
        assert sum(m.diners for m in sink.written[-1].meals) == 3
        # the meter interval that ends at the batch's reading
        [interval] = sink.written[-1].intervals
        assert (interval.start_ms, interval.end_ms) == (
            utc_ms(2026, 3, 2, 4, 31),
            utc_ms(2026, 3, 2, 4, 32),
        )


async def test_derived_series_can_be_switched_off(settings: CentralSettings) -> None:
    stores: list[SinkStore] = []

    def opener(s: CentralSettings) -> AbstractAsyncContextManager[ReadingsStore]:
        stores.append(SinkStore(s.sqlite_path))
        return stores[-1]

    off = settings.model_copy(update={"influx_derived_series": False})
    async with in_process(create_app(off, store_opener=opener)) as client:
        response = await client.post(URL, json=batch([*lunch(0)]), auth=EdgeAuth(KEY_S1))
        assert response.status_code == 200
    assert stores[0].written == []
