"""Sign-in and sign-out of dashboard users (central/users.py): a session in an HttpOnly cookie.

The cookie is `SameSite=Strict`: the browser never sends it with a request started by another
site, not even a link followed from there (the dashboard page itself is static and asks for its
data with same-origin fetch(), which does carry the cookie, so a link from an intranet portal
still opens a signed-in dashboard). `Secure` is set when the request came over HTTPS (central's
own TLS, or a reverse proxy's X-Forwarded-Proto from an address uvicorn trusts). Its Max-Age is
CENTRAL_SESSION_MAX_AGE_S, so a new tab or a browser restart keeps the session while it is valid.
State-changing requests with the cookie are checked against cross-site forgery by
central/csrf.py.
"""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from central.api.access import SESSION_COOKIE, ReaderDep, session_limits
from central.api.deps import Resources
from central.api.errors import SignInLocked, SignInRefused
from central.api.schemas import ErrorDetail
from central.users import MAX_PASSWORD_CHARS, LockoutPolicy

router = APIRouter(prefix="/auth", tags=["sign-in"])
# GET /auth/session is a read route (behind READ_ACCESS like the others): who is signed in.
read_router = APIRouter(prefix="/auth", tags=["sign-in"])


class SignIn(BaseModel):
    """The sign-in form."""

    model_config = ConfigDict(extra="forbid")

    user: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_CHARS)]


class Who(BaseModel):
    """Who this request reads as: a user (signed in) or a read token, with role and scope."""

    name: str
    kind: str = Field(description="'user' (a sign-in session) or 'token' (Authorization: Bearer)")
    role: str
    scope: str


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _lockout(resources: Resources) -> LockoutPolicy:
    settings = resources.settings
    return LockoutPolicy(
        max_failures_per_user=settings.sign_in_max_failures_per_user,
        max_failures_per_address=settings.sign_in_max_failures_per_address,
        window_s=settings.sign_in_failure_window_s,
        lockout_s=settings.sign_in_lockout_s,
    )


def _locked(locked_s: float) -> SignInLocked:
    minutes = max(1, round(locked_s / 60))
    return SignInLocked(
        f"too many failed sign-ins: try again in {minutes} minute{'s' if minutes > 1 else ''}",
        locked_s,
    )


@router.post(
    "/sign-in",
    response_model=Who,
    responses={
        401: {"model": ErrorDetail, "description": "wrong user name or password"},
        403: {"model": ErrorDetail, "description": "a cross-site request (CSRF)"},
        429: {"model": ErrorDetail, "description": "locked out after failed sign-ins"},
    },
)
async def sign_in(form: SignIn, request: Request, response: Response, resources: Resources) -> Who:
    """Check a user's password and start a session (Set-Cookie). Failed attempts are counted per
    user name and per client address; past the limit, both are refused (429, Retry-After)."""
    users, address = resources.users, _address(request)
    locked_s = await asyncio.to_thread(users.locked_for_s, form.user, address)
    if locked_s > 0:
        raise _locked(locked_s)
    user = await asyncio.to_thread(users.verify, form.user, form.password)
    if user is None:
        locked_s = await asyncio.to_thread(
            users.record_failure, form.user, address, _lockout(resources)
        )
        if locked_s > 0:
            raise _locked(locked_s)
        raise SignInRefused("wrong user name or password")
    await asyncio.to_thread(users.clear_failures, user.name)
    session_id = await asyncio.to_thread(users.start_session, user, session_limits(resources))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(resources.settings.session_max_age_s),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return Who(name=user.name, kind="user", role=user.role.value, scope=user.scope)


@router.post("/sign-out", status_code=204, responses={403: {"model": ErrorDetail}})
async def sign_out(request: Request, resources: Resources) -> Response:
    """End the session of this request's cookie (if any) and clear the cookie. Idempotent."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await asyncio.to_thread(resources.users.end_session, session_id)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@read_router.get("/session", response_model=Who)
async def who(reader: ReaderDep) -> Who:
    """Who this request reads as (the dashboard asks at start: signed in, or show the form)."""
    return Who(name=reader.name, kind=reader.kind, role=reader.role.value, scope=reader.scope)
