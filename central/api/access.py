"""Read access as a FastAPI dependency, applied to whole routers (central/app.py, READ_ROUTERS).

`READ_ACCESS` authenticates the bearer read token of every request of a router it is applied to
and, when the request names a site (`{site}` path parameter, `site=` query) or a region
(`region=key:value` query), checks that the token may read it (403 naming it). Routes get the
authenticated reader with a `reader: ReaderDep` parameter (FastAPI
resolves the dependency once per request) to filter what they list (`reader.visible_sites`).
"""

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from central.api.deps import Resources
from central.api.schemas import ErrorDetail
from central.tokens import Reader

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ReadToken",
    description="a read token (`canteen-central keys create-token`)",
)


async def authenticated_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    resources: Resources,
) -> Reader:
    """The reader of this request; 401 without a valid token, 403 for a site outside its scope."""
    token = credentials.credentials if credentials else None
    reader = await asyncio.to_thread(resources.readers.authenticate, token)
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
    401: {"model": ErrorDetail, "description": "missing, unknown or revoked read token"},
    403: {"model": ErrorDetail, "description": "the token may not read this site"},
}
