"""Upload signatures: HMAC-SHA256 over the timestamp and the body, refused outside the window."""

import hashlib
import hmac

import pytest

from contract.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign_headers,
    signing_key,
    verify_signature,
)

KEY = signing_key("an-edge-api-key-of-some-length")
BODY = b'{"v":1,"site":"s1"}'
NOW_S = 1_795_000_000.0


def test_the_signature_is_the_documented_hmac() -> None:
    headers = sign_headers(KEY, BODY, NOW_S)
    assert headers[TIMESTAMP_HEADER] == "1795000000"
    expected = hmac.new(
        hashlib.sha256(b"an-edge-api-key-of-some-length").digest(),
        b"1795000000." + BODY,
        hashlib.sha256,
    ).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"v1={expected}"
    assert verify_signature(KEY, headers, BODY, now_s=NOW_S + 299, window_s=300) == 1795000000
    assert verify_signature(KEY, headers, BODY, now_s=NOW_S - 300, window_s=300) == 1795000000


@pytest.mark.parametrize(
    ("now_s", "message"),
    [
        (NOW_S + 301, "is 301 s behind central's clock, outside the 300 s window"),
        (NOW_S - 400, "is 400 s ahead of central's clock, outside the 300 s window"),
    ],
)
def test_a_timestamp_outside_the_window_is_refused(now_s: float, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_signature(KEY, sign_headers(KEY, BODY, NOW_S), BODY, now_s=now_s, window_s=300)


def test_a_changed_body_timestamp_or_key_is_refused() -> None:
    headers = sign_headers(KEY, BODY, NOW_S)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(KEY, headers, BODY + b" ", now_s=NOW_S, window_s=300)
    moved = {**headers, TIMESTAMP_HEADER: str(int(NOW_S) + 1)}
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(KEY, moved, BODY, now_s=NOW_S, window_s=300)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(signing_key("another-key"), headers, BODY, now_s=NOW_S, window_s=300)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "unsigned upload"),
        ({TIMESTAMP_HEADER: "1795000000"}, "unsigned upload"),
        ({TIMESTAMP_HEADER: "1795000000.5", SIGNATURE_HEADER: "v1=" + "0" * 64}, "whole epoch"),
        ({TIMESTAMP_HEADER: "-5", SIGNATURE_HEADER: "v1=" + "0" * 64}, "whole epoch"),
        ({TIMESTAMP_HEADER: "1795000000", SIGNATURE_HEADER: "0" * 64}, "'v1=' and 64 hex"),
        ({TIMESTAMP_HEADER: "1795000000", SIGNATURE_HEADER: "v2=" + "0" * 64}, "'v1=' and 64"),
    ],
)
def test_missing_or_malformed_headers_are_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_signature(KEY, headers, BODY, now_s=NOW_S, window_s=300)
