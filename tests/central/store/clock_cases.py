"""Clocks judged per device across uploads (docs/kpis.md, "Wrong device clocks"): a case every
store must decide alike (test_influx_clocks.py against the SQLite store, test_conformance.py)."""

from contract import MeterRecord, Quantity, ReadingRecord, ScaleRecord, Stream

DAY, MINUTE = 86_400_000, 60_000
AT_8 = 1_800_000_000_000  # "today" 08:00
YESTERDAY = AT_8 - DAY


def meter(seq: int, time_ms: int, received_ms: int) -> MeterRecord:
    return MeterRecord(device="m1", boot="b1", seq=seq, device_time_ms=time_ms,
                       received_ms=received_ms, quantity=Quantity.ELECTRICITY,
                       total=100.0 + seq)  # fmt: skip


def scale(device: str, seq: int, time_ms: int, received_ms: int) -> ScaleRecord:
    return ScaleRecord(device=device, boot="b1", seq=seq, device_time_ms=time_ms,
                       received_ms=received_ms, stream=Stream.PLATE, mass_g=10.0)  # fmt: skip


def uploads() -> list[list[ReadingRecord]]:
    """The SQLite store's case (test_sqlite.py, ..._keeps_their_device_times): a meter that
    buffered yesterday, its burst split over two uploads with the live reading in the second; a
    scale 3 days behind; a battery scale that kept readings of 8 days ago, its predecessor
    uploaded then and its live reading in the last upload; and a scale whose buffer is vouched
    for by nothing but a stored live reading of an earlier upload (received in the same burst)."""
    live_yesterday = meter(0, YESTERDAY, YESTERDAY + 300)
    buffered = [meter(n, YESTERDAY + n * 15 * MINUTE, AT_8 + n * 5) for n in range(1, 96)]
    live = meter(96, AT_8 + 500, AT_8 + 700)
    behind = [scale("sc", n, AT_8 + n * MINUTE - 3 * DAY, AT_8 + n * MINUTE) for n in range(4)]
    kept = [
        scale("bs", n, AT_8 - 8 * DAY + n * MINUTE, AT_8 - 8 * DAY + 100 if n == 0 else AT_8 + n)
        for n in range(4)
    ]
    kept_live = scale("bs", 4, AT_8 + 400, AT_8 + 450)
    # the live reading first, its buffer (taken before it, sent after it) in the next upload
    early = [scale("ex", 0, AT_8 - 2 * DAY, AT_8 - 2 * DAY + 50), scale("ex", 9, AT_8, AT_8 + 9)]
    late = [scale("ex", n, AT_8 - 2 * DAY + n * MINUTE, AT_8 + 20 + n) for n in range(1, 9)]
    return [
        [live_yesterday, kept[0], early[0]],
        [*buffered[:90], *behind, *kept[1:], early[1]],
        [*buffered[90:], live, kept_live, *late],
    ]
