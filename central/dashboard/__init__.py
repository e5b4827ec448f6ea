"""The dashboard: built static assets (static/, from dashboard/ by scripts/build-dashboard) served
by central itself at /dashboard/, so no separate front-end server runs and nothing is fetched
from elsewhere at run time."""

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
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


class DashboardFiles(StaticFiles):
    """Static files with the dashboard's security headers. The page (index.html) is revalidated
    on every load; the bundles carry a content hash in their names and are cached for good."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        hashed = path.startswith("assets/")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if hashed else "no-cache"
        )
        return response


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at /dashboard/ (the page) and /dashboard/assets/ (its bundles)."""
    app.mount(MOUNT_PATH, DashboardFiles(directory=STATIC_DIR, html=True), name="dashboard")
