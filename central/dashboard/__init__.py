"""The dashboard: built static assets (static/, from dashboard/ by scripts/build-dashboard) served
by central itself at /dashboard/, so no separate front-end server runs and nothing is fetched
from elsewhere at run time."""

import mimetypes
import stat
from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
MOUNT_PATH = "/dashboard"

# Everything comes from central itself; the API is called with fetch() on the same origin.
# style-src allows inline styles: the chart library positions its tooltips with them.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def accepts_gzip(scope: Scope) -> bool:
    """Whether the request's Accept-Encoding allows gzip (RFC 9110 12.5.3: `q=0` refuses it)."""
    for entry in Headers(scope=scope).get("accept-encoding", "").split(","):
        coding, *params = (part.strip() for part in entry.split(";"))
        if coding.lower() not in ("gzip", "*"):
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        return weight > 0
    return False


class DashboardFiles(StaticFiles):
    """Static files with the dashboard's security headers. The page (index.html) is revalidated
    on every load; the bundles carry a content hash in their names and are cached for good.
    A bundle with a pre-compressed `.gz` beside it (written by dashboard/build.mjs) is sent
    compressed to browsers that accept gzip."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await self._gzipped(path, scope) or await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        hashed = path.startswith("assets/")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if hashed else "no-cache"
        )
        if hashed:
            response.headers["Vary"] = "Accept-Encoding"
        return response

    async def _gzipped(self, path: str, scope: Scope) -> Response | None:
        if scope["method"] not in ("GET", "HEAD") or not path.startswith("assets/"):
            return None
        if path.endswith(".gz") or not accepts_gzip(scope):
            return None
        full_path, stat_result = self.lookup_path(f"{path}.gz")
        if stat_result is None or not stat.S_ISREG(stat_result.st_mode):
            return None
        response = self.file_response(full_path, stat_result, scope)
        if response.status_code == 200:
            media_type, _ = mimetypes.guess_type(path)
            response.headers["Content-Type"] = media_type or "application/octet-stream"
        response.headers["Content-Encoding"] = "gzip"
        return response


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at /dashboard/ (the page) and /dashboard/assets/ (its bundles); `/`
    leads there."""
    app.mount(MOUNT_PATH, DashboardFiles(directory=STATIC_DIR, html=True), name="dashboard")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{MOUNT_PATH}/", status_code=307)
