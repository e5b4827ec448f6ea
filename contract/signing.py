"""Signed uploads: an HMAC-SHA256 over a timestamp and the exact body of each POST to central.

    X-Canteen-Timestamp: <epoch seconds, decimal>
    X-Canteen-Signature: v1=<hex HMAC-SHA256(key, f"{timestamp}.".encode() + body)>

The HMAC key is the SHA-256 digest (32 raw bytes) of the edge's API key: central stores only that
digest (the registry's `key_sha256`, the credentials table), so it can verify without ever storing
the key, while the bearer check still needs the key itself. Central refuses a timestamp outside
its window (default 300 s) and a signature that does not match; a batch replayed within the window
is absorbed by idempotency (every reading is keyed by site, device, boot, seq).
"""

import hashlib
import hmac
import re
from collections.abc import Mapping

from contract.errors import ContractError

TIMESTAMP_HEADER = "X-Canteen-Timestamp"
SIGNATURE_HEADER = "X-Canteen-Signature"
SCHEME = "v1"

_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE_RE = re.compile(r"^v1=([0-9a-f]{64})$")


class SignatureError(ContractError):
    """An upload whose signature headers are missing, malformed, stale or do not match."""


def signing_key(api_key: str) -> bytes:
    """The HMAC key of an edge: SHA-256 of its API key, the digest central stores."""
    return hashlib.sha256(api_key.encode("utf-8")).digest()


def signature(key: bytes, timestamp_s: int, body: bytes) -> str:
    """`v1=<hex>`: HMAC-SHA256 of `f"{timestamp_s}."` followed by the body bytes."""
    mac = hmac.new(key, f"{timestamp_s}.".encode("ascii") + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def sign_headers(key: bytes, body: bytes, now_s: float) -> dict[str, str]:
    """The two headers that sign `body` at time `now_s` (epoch seconds)."""
    timestamp_s = int(now_s)
    return {
        TIMESTAMP_HEADER: str(timestamp_s),
        SIGNATURE_HEADER: signature(key, timestamp_s, body),
    }


def verify_signature(
    key: bytes, headers: Mapping[str, str], body: bytes, *, now_s: float, window_s: float
) -> int:
    """Check the headers sign `body` and are fresh; return the timestamp, raise SignatureError.

    `headers` must look names up case-insensitively (HTTP header names are, RFC 9110 §5.1).
    """
    timestamp_text = headers.get(TIMESTAMP_HEADER)
    signature_text = headers.get(SIGNATURE_HEADER)
    if timestamp_text is None or signature_text is None:
        raise SignatureError(
            f"unsigned upload: send {TIMESTAMP_HEADER} (epoch seconds) and "
            f"{SIGNATURE_HEADER}: v1=<hex HMAC-SHA256> (docs/security.md)"
        )
    if not _TIMESTAMP_RE.match(timestamp_text):
        raise SignatureError(
            f"{TIMESTAMP_HEADER} {timestamp_text[:32]!r} is not whole epoch seconds"
        )
    timestamp_s = int(timestamp_text)
    skew_s = timestamp_s - now_s
    if abs(skew_s) > window_s:
        direction = "ahead of" if skew_s > 0 else "behind"
        raise SignatureError(
            f"{TIMESTAMP_HEADER} {timestamp_s} is {abs(skew_s):.0f} s {direction} central's "
            f"clock, outside the {window_s:g} s window: a replay, or the edge's clock is wrong "
            "(check NTP)"
        )
    match = _SIGNATURE_RE.match(signature_text.strip().lower())
    if match is None:
        raise SignatureError(f"{SIGNATURE_HEADER} must be 'v1=' and 64 hex digits")
    expected = signature(key, timestamp_s, body)
    if not hmac.compare_digest(expected, f"{SCHEME}={match.group(1)}"):
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match the body and timestamp "
            "(altered in transit, or signed with another key)"
        )
    return timestamp_s
