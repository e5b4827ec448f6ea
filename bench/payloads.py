"""Valid contract payloads and upload records for the load generators, built fast and in bulk.

The device payloads follow docs/protocol.md (the smoke test parses samples with contract's own
parser); the upload records are built with the contract's pydantic models, so every batch the
benchmarks send is one central accepts in full.
"""

import json
import math
import time
from collections.abc import Iterator, Sequence

from contract import CardRecord, MeterRecord, ReadingRecord, ScaleRecord, UploadBatch
from contract.signing import sign_headers, signing_key
from contract.topics import DeviceKind, data_topic
from contract.units import Quantity, Stream

KINDS = (DeviceKind.CARD, DeviceKind.SCALE, DeviceKind.METER)
PERSON_HEX_CHARS = 32


def device_id(prefix: str, kind: DeviceKind, index: int) -> str:
    return f"{prefix}-{kind.value}-{index}"


def device_payload(kind: DeviceKind, boot: str, seq: int, ts_ms: int) -> bytes:
    """A reading of `kind` with a plausible value that depends on `seq`."""
    document: dict[str, object] = {"v": 1, "boot": boot, "seq": seq, "ts": ts_ms}
    if kind is DeviceKind.CARD:
        document["card"] = f"{3_300_000_000 + seq % 5000:010d}"
    elif kind is DeviceKind.SCALE:
        document.update(stream="plate", mass=seq % 180, unit="g")
    else:
        document.update(quantity="electricity", total=round(1000 + seq * 0.05, 3), unit="kWh")
    return json.dumps(document, separators=(",", ":")).encode()


def topic(site: str, kind: DeviceKind, device: str) -> str:
    return data_topic(site, kind, device)


def record(kind: DeviceKind, device: str, boot: str, seq: int, time_ms: int) -> ReadingRecord:
    """An upload record as an edge would send it (canonical units, pseudonymous person)."""
    if kind is DeviceKind.CARD:
        return CardRecord(
            device=device,
            boot=boot,
            seq=seq,
            device_time_ms=time_ms,
            received_ms=time_ms + 40,
            person=f"{seq % 5000:0{PERSON_HEX_CHARS}x}",
        )
    if kind is DeviceKind.SCALE:
        return ScaleRecord(
            device=device,
            boot=boot,
            seq=seq,
            device_time_ms=time_ms,
            received_ms=time_ms + 40,
            stream=Stream.PLATE,
            mass_g=float(seq % 180),
        )
    return MeterRecord(
        device=device,
        boot=boot,
        seq=seq,
        device_time_ms=time_ms,
        received_ms=time_ms + 40,
        quantity=Quantity.ELECTRICITY,
        total=1000 + seq * 0.05,
        power_kw=40.0,
    )


def records(
    prefix: str,
    boot: str,
    count: int,
    start_ms: int,
    step_ms: int = 50,
    first: int = 0,
    kinds: Sequence[DeviceKind] = KINDS,
) -> Iterator[ReadingRecord]:
    """`count` distinct records over one device per kind of `kinds`, `step_ms` apart: readings
    number `first` to `first + count - 1` of one stream that started at `start_ms` (so that
    consecutive calls continue the devices' sequence numbers and time, as an edge's batches do)."""
    for n in range(first, first + count):
        kind = kinds[n % len(kinds)]
        yield record(
            kind, device_id(prefix, kind, 0), boot, n // len(kinds), start_ms + n * step_ms
        )


def upload_headers(api_key: str, body: bytes) -> dict[str, str]:
    """An edge's headers for POST /api/v1/ingest of `body`, signed now (contract/signing.py)."""
    return {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
        **sign_headers(signing_key(api_key), body, time.time()),
    }


def batch_body(site: str, edge: str, batch_id: str, readings: Sequence[ReadingRecord]) -> bytes:
    """The POST /api/v1/ingest body, exactly as the edge's uploader serialises it."""
    batch = UploadBatch(site=site, edge=edge, batch_id=batch_id, readings=list(readings))
    return batch.model_dump_json().encode()


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def line_protocol(site: str, readings: Sequence[ReadingRecord]) -> bytes:
    """The same readings as InfluxDB line protocol (ns timestamps), one line per reading.

    Identity (device, boot) goes into tags and seq into a field, as an InfluxDB schema would keep
    it; string fields (person) are kept because a real schema needs them, though VictoriaMetrics
    stores only numeric fields.
    """
    lines = []
    for r in readings:
        tags = f"site={_tag(site)},device={_tag(r.device)},boot={_tag(r.boot)}"
        if isinstance(r, CardRecord):
            fields = f'seq={r.seq}i,person="{r.person}"'
        elif isinstance(r, ScaleRecord):
            fields = f"seq={r.seq}i,mass_g={r.mass_g},stream_{r.stream.value}=1i"
        else:
            power = (
                ""
                if r.power_kw is None or not math.isfinite(r.power_kw)
                else (f",power_kw={r.power_kw}")
            )
            fields = f"seq={r.seq}i,total_{r.quantity.value}={r.total}{power}"
        lines.append(f"{r.kind},{tags} {fields} {r.device_time_ms * 1_000_000}")
    return ("\n".join(lines) + "\n").encode()
