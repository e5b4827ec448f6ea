"""Read access as a FastAPI dependency, applied to whole routers (central/app.py, READ_ROUTERS).

`READ_ACCESS` authenticates every request of a router it is applied to: its bearer read token
(machines, and the dashboard opened with a token link) or else its sign-in session cookie
(people, central/api/session.py), and, when the request names a site (`{site}` path parameter,
`site=` query) or a region (`region=key:value` query), checks that the reader may read it (403
naming it). Routes get the authenticated reader with a `reader: ReaderDep` parameter (FastAPI
resolves the dependency once per request) to filter what they list (`reader.visible_sites`).
"""

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from central.api.deps import Resources
from central.api.schemas import ErrorDetail
from central.auth import MissingKey, UnknownKey
from central.tokens import Reader
from central.users import SessionLimits

SESSION_COOKIE = "canteen_session"

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ReadToken",
    description="a read token (`canteen-central keys create-token`)",
)
_session = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="Session",
    description="the session cookie set by POST /api/v1/auth/sign-in (the dashboard's users)",
)


def session_limits(resources: Resources) -> SessionLimits:
    settings = resources.settings
    return SessionLimits(
        max_age_s=settings.session_max_age_s, idle_s=settings.session_idle_timeout_s
    )


async def cookie_reader(resources: Resources, session_id: str) -> Reader:
    """The user of a session cookie as a Reader; 401 when the session is unknown or over."""
    user = await asyncio.to_thread(
        resources.users.session_user, session_id, session_limits(resources)
    )
    if user is None:
        raise UnknownKey("the session has ended (signed out, expired or idle): sign in again")
    return Reader(name=user.name, role=user.role, scope=user.scope, kind="user")


async def authenticated_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session_id: Annotated[str | None, Depends(_session)],
    resources: Resources,
) -> Reader:
    """The reader of this request; 401 without a valid token or session, 403 for a site outside
    its scope. A bearer token, when sent, is used and the cookie ignored."""
    if credentials is not None or not session_id:
        token = credentials.credentials if credentials else None
        if not token:
            raise MissingKey(
                "missing read token: send 'Authorization: Bearer <token>', or sign in on the "
                "dashboard"
            )
        reader = await asyncio.to_thread(resources.readers.authenticate, token)
    else:
        reader = await cookie_reader(resources, session_id)
    # The scope is checked wherever a route names sites: a `{site}` path parameter, or the
    # `site=` / `region=` query parameters of the KPI, ranking and alert routes.
    for site in (request.path_params.get("site"), request.query_params.get("site")):
        if isinstance(site, str):
            reader.check_site(resources.registry, site)
    region = request.query_params.get("region")
    if region is not None:
        reader.check_region(resources.registry, region)
    return reader


ReaderDep = Annotated[Reader, Depends(authenticated_reader)]

# Give a router these dependencies (APIRouter(dependencies=READ_ACCESS) or include_router) to
# put every route of it behind read tokens.
READ_ACCESS: list[DependsParam] = [Depends(authenticated_reader)]

READ_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {
        "model": ErrorDetail,
        "description": "missing, unknown or revoked read token, or no valid session",
    },
    403: {"model": ErrorDetail, "description": "the token or user may not read this site"},
}
