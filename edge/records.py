"""Turn a validated device payload into the upload record: canonical units, pseudonymous ids."""

import hashlib
import hmac

from pydantic import ValidationError

from contract import (
    CardPayload,
    CardRecord,
    DevicePayload,
    MeterPayload,
    MeterRecord,
    ScalePayload,
    ScaleRecord,
    TopicAddress,
)
from contract.errors import PayloadError
from contract.payloads import describe_validation_error

PERSON_ID_HEX_CHARS = 32

Record = ScaleRecord | CardRecord | MeterRecord


def pseudonymise(person_key: bytes, site: str, card: str) -> str:
    """Keyed hash of a card number (HMAC-SHA256, per-site key): raw numbers never leave the edge.

    The site is part of the message so that the same card yields unrelated ids at two sites even if
    their keys were equal (docs/domain.md: person ids are personal data).
    """
    digest = hmac.new(person_key, f"{site}:{card}".encode(), hashlib.sha256).hexdigest()
    return digest[:PERSON_ID_HEX_CHARS]


def _payer(address: TopicAddress, payload: CardPayload) -> str:
    """Who paid: the card, or for a visitor's meal without a card the transaction itself.

    A visitor gets a pseudonym of its own reading identity (device, boot, seq), so that each
    visitor meal counts as one diner at central (distinct persons per service) and a redelivered
    copy of the same reading still maps to the same pseudonym.
    """
    if payload.card is not None:
        return payload.card
    return f"visitor:{address.device}:{payload.boot}:{payload.seq}"


def to_record(
    address: TopicAddress, payload: DevicePayload, *, received_ms: int, person_key: bytes
) -> Record:
    """Build the upload record; PayloadError if a converted value leaves the record's range."""
    device, boot, seq = address.device, payload.boot, payload.seq
    device_time_ms = payload.ts
    try:
        if isinstance(payload, ScalePayload):
            person = (
                None
                if payload.card is None
                else pseudonymise(person_key, address.site, payload.card)
            )
            return ScaleRecord(
                device=device,
                boot=boot,
                seq=seq,
                device_time_ms=device_time_ms,
                received_ms=received_ms,
                stream=payload.stream,
                mass_g=payload.mass_g,
                gross_g=payload.gross_g,
                stable=payload.stable,
                tray=payload.tray,
                person=person,
                item=payload.item,
                reason=payload.reason,
            )
        if isinstance(payload, CardPayload):
            return CardRecord(
                device=device,
                boot=boot,
                seq=seq,
                device_time_ms=device_time_ms,
                received_ms=received_ms,
                person=pseudonymise(person_key, address.site, _payer(address, payload)),
            )
        if isinstance(payload, MeterPayload):
            return MeterRecord(
                device=device,
                boot=boot,
                seq=seq,
                device_time_ms=device_time_ms,
                received_ms=received_ms,
                quantity=payload.quantity,
                total=payload.total_canonical,
                power_kw=payload.power_kw,
            )
    except ValidationError as exc:
        # e.g. a register so large that its canonical value overflows to infinity
        raise PayloadError(
            f"{address.kind.value} reading cannot be converted: {describe_validation_error(exc)}"
        ) from exc
    raise PayloadError(f"no record type for payload {type(payload).__name__}")
