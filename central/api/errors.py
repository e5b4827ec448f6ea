"""Errors of HTTP requests, and the mapping of central's typed errors to HTTP answers."""

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from central.api.deps import STATE_KEY, CentralResources
from central.auth import MissingKey, NotAuthenticated, NotAuthorized
from central.errors import CentralError
from central.store import SealedPeriodUnreadable, StoreUnavailable

RETRY_AFTER_S = 5
_REALM = 'Bearer realm="canteen-central"'


class RequestError(CentralError):
    """A request central refuses; `status_code` is the HTTP answer."""

    status_code = 400


class BodyTooLarge(RequestError):
    status_code = 413


class BatchTooLarge(RequestError):
    status_code = 413


class MalformedBatch(RequestError):
    status_code = 422


class InvalidDate(RequestError):
    status_code = 422


class SignInRefused(RequestError):
    """Wrong user name or password, or a disabled user (the answer does not say which)."""

    status_code = 401


class SignInLocked(RequestError):
    """Too many failed sign-ins for the user name or the client address; retry later."""

    status_code = 429

    def __init__(self, reason: str, retry_after_s: float) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class UnknownSite(RequestError):
    status_code = 404


class UnknownService(RequestError):
    status_code = 404


def _answer(
    status_code: int, exc: CentralError, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": exc.reason}, status_code=status_code, headers=headers)


def _counted(request: Request, response: JSONResponse) -> JSONResponse:
    """Count the refusal in central's metrics, by route name (its endpoint) and status."""
    resources = getattr(request.state, STATE_KEY, None)
    if isinstance(resources, CentralResources):
        route = getattr(request.scope.get("route"), "name", "unmatched")
        resources.metrics.request_refused(route, response.status_code)
    return response


async def _central_error(request: Request, exc: Exception) -> JSONResponse:
    """Translate central's typed errors to their HTTP answer, with `{"detail": reason}`."""
    return _counted(request, _central_answer(exc))


def _central_answer(exc: Exception) -> JSONResponse:
    if isinstance(exc, SignInLocked):
        return _answer(429, exc, {"Retry-After": str(math.ceil(exc.retry_after_s))})
    if isinstance(exc, RequestError):
        return _answer(exc.status_code, exc)
    if isinstance(exc, MissingKey):
        return _answer(401, exc, {"WWW-Authenticate": _REALM})
    if isinstance(exc, NotAuthenticated):
        # RFC 6750 §3: a presented but unknown token is answered with error="invalid_token".
        return _answer(401, exc, {"WWW-Authenticate": f'{_REALM}, error="invalid_token"'})
    if isinstance(exc, NotAuthorized):
        return _answer(403, exc)
    if isinstance(exc, SealedPeriodUnreadable):
        return _answer(409, exc)  # the period must start after the sealed dates
    if isinstance(exc, StoreUnavailable):
        # Retryable: the edge keeps the batch in its buffer and tries again after Retry-After.
        return _answer(503, exc, {"Retry-After": str(RETRY_AFTER_S)})
    raise exc  # any other error is a bug: let the server answer 500 and log it


MAX_DETAIL_CHARS = 1000


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's parameter validation, answered like every other 4xx: `{"detail": "<text>"}`.

    Field and reason only, never the input (it may be a secret or megabytes of junk).
    """
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    parts = [
        f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in errors
    ]
    detail = "invalid request: " + ("; ".join(parts) or "malformed")
    return _counted(request, JSONResponse({"detail": detail[:MAX_DETAIL_CHARS]}, status_code=422))


def install_error_handlers(app: FastAPI) -> None:
    for error_type in (
        RequestError,
        NotAuthenticated,
        NotAuthorized,
        StoreUnavailable,
        SealedPeriodUnreadable,
    ):
        app.add_exception_handler(error_type, _central_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
