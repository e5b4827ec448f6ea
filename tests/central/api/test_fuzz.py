"""Central's HTTP API fuzzed from its own OpenAPI schema (schemathesis) on a real uvicorn process.

Positive and negative examples for every operation, with valid credentials so that the fuzzer gets
past authentication (a signed upload with the edge's key on ingest, an admin read token elsewhere):
central must never answer 5xx, and every 4xx must say why (`detail`).
"""

import itertools
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.generation import GenerationMode

from contract.signing import sign_headers, signing_key
from harness.registry import write_registry
from tests.central_process import central_process

pytestmark = pytest.mark.e2e

# ~30 operations x 2 modes: 20 examples each keep the run near a minute on 2 cores
EXAMPLES_PER_OPERATION = 20


@pytest.fixture(scope="module")
def central_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    credentials = write_registry(workdir / "sites.toml", ["site-01"])
    admin_token = secrets.token_urlsafe(24)
    with central_process(workdir, workdir / "sites.toml", admin_token) as (url, central):
        yield url, credentials["site-01"].api_key, admin_token
        central.check_running()  # no crash during the whole run


class Credentials(requests.auth.AuthBase):
    """The edge's bearer key and body signature on ingest; the admin read token elsewhere."""

    def __init__(self, api_key: str, admin_token: str) -> None:
        self.api_key = api_key
        self.admin_token = admin_token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.path_url.startswith("/api/v1/ingest"):
            body = request.body or b""
            assert isinstance(body, str | bytes), "schemathesis sends a body of bytes"
            content = body.encode() if isinstance(body, str) else body
            request.headers["Authorization"] = f"Bearer {self.api_key}"
            request.headers.update(sign_headers(signing_key(self.api_key), content, time.time()))
        else:
            request.headers["Authorization"] = f"Bearer {self.admin_token}"
        return request


# uvicorn's own answer to bytes h11 cannot parse as HTTP: central's app never sees the request
NOT_HTTP = b"Invalid HTTP request received."
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110 token)
FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def is_http(headers: Mapping[str, str] | None) -> bool:
    """Whether every header of a generated case is one HTTP can carry."""
    return all(
        TOKEN.fullmatch(name) and FIELD_VALUE.fullmatch(value)
        for name, value in (headers or {}).items()
    )


def detail_on_client_errors(response: object) -> None:
    """Every 4xx carries a JSON `detail` that says what was wrong."""
    status = response.status_code  # type: ignore[attr-defined]
    if 400 <= status < 500:
        body = response.json()  # type: ignore[attr-defined]
        assert isinstance(body, dict), body
        assert body.get("detail"), body


def test_no_server_errors_and_clear_client_errors(central_url: tuple[str, str, str]) -> None:
    url, api_key, admin_token = central_url
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    auth = Credentials(api_key, admin_token)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 4
    statuses: Counter[int] = Counter()
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: schemathesis.Case[Any]) -> None:
            response = case.call(auth=auth, timeout=30)
            statuses[response.status_code] += 1
            if response.status_code == 400 and response.content == NOT_HTTP:
                # a negative case with a header HTTP cannot carry (a name with ';', a control
                # character): refused by the HTTP server before central; anything else is a bug
                assert not is_http(case.headers), case.headers
                return
            case.validate_response(
                response,
                checks=[
                    checks.not_a_server_error,
                    checks.status_code_conformance,
                    checks.content_type_conformance,
                    checks.response_schema_conformance,
                ],
            )
            detail_on_client_errors(response)

        try:
            fuzz()
        except Unsatisfiable:
            # An operation without parameters or body has no invalid request to make.
            assert mode is GenerationMode.NEGATIVE, operation.label
    # Both valid and invalid requests were made, and the invalid ones were refused.
    assert sum(n for code, n in statuses.items() if code < 300) > 0, statuses
    assert statuses[422] > 0, statuses
    # Authentication did not hide the API from the fuzzer.
    assert statuses[401] < sum(statuses.values()) / 10, statuses
