"""The interactive API documentation, /docs (Swagger UI) and /redoc (ReDoc), served entirely by
central: the scripts, styles and icon come from static/, so the pages work on an intranet without
internet. FastAPI's own /docs and /redoc load them from a CDN and Google Fonts; create_app turns
those off.

static/ is copied by scripts/build-dashboard from the npm packages `swagger-ui-dist` (Swagger UI's
maintainers' own distribution) and `redoc` (Redocly's, the 2.x line whose standalone bundle
FastAPI's get_redoc_html is written for), at the versions pinned with integrity hashes in
dashboard/package-lock.json, and committed like the dashboard's bundle: users need no Node. PyPI
has no ReDoc from its maintainers, and its Swagger UI repackagings lag the upstream releases; the
project already pins one npm toolchain for the dashboard.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/docs-assets"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
# The pages may load only from central: ReDoc's sidebar credit shows Redocly's logo from its CDN
# (no option turns it off); the policy stops that request in the browser, the credit stays as
# text. Inline script: FastAPI's page starts Swagger UI with one; ReDoc searches in a blob worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def mount_api_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets from the package (no request leaves the machine)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="docs-assets")
    title = f"{app.title} API"

    def root_path(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = root_path(request)
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} (Swagger UI)",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_PATH}",
        )
        return _offline(page)

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _offline(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = root_path(request)
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} (ReDoc)",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            with_google_fonts=False,
        )
        return _offline(page)
