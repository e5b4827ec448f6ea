"""Cross-site request forgery protection for requests that act with the session cookie.

The approach is the browser's own request metadata (OWASP CSRF cheat sheet, "Fetch Metadata" and
"Verifying Origin with standard headers"), with no token to carry: a request that can change
state (any method but GET, HEAD, OPTIONS) and carries the session cookie, and every sign-in, must
come from central's own pages:

- `Sec-Fetch-Site: same-origin` (every current browser sends it); or, when a browser sends no
  Sec-Fetch-Site, an `Origin` equal to the origin the request was addressed to (scheme and Host);
- anything else (`cross-site`, `same-site`, `none`, a foreign Origin, or neither header) is
  refused with 403 before the route runs.

Requests with a bearer token and no cookie (machines, the edges' uploads) are not affected: a
browser never adds a bearer token on its own, so they cannot be forged this way. The cookie is
SameSite=Strict as well (central/api/session.py): two independent defences.
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from starlette.datastructures import Headers

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _has_cookie(headers: Headers, name: str) -> bool:
    for value in headers.getlist("cookie"):
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(value)
        except CookieError:  # malformed: treat it as carrying the session cookie
            return True
        if name in cookie:
            return True
    return False


def cross_site_reason(scope: Scope, headers: Headers) -> str | None:
    """Why this request does not come from central's own pages, or None when it does."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site == "same-origin":
            return None
        return f"Sec-Fetch-Site is {fetch_site[:32]!r}, not 'same-origin'"
    origin = headers.get("origin")
    if origin is None:
        return "the request has neither Sec-Fetch-Site nor Origin"
    own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
    if origin.lower() != own.lower():
        return f"Origin {origin[:100]!r} is not {own[:100]!r}"
    return None


class CsrfMiddleware:
    """ASGI middleware: refuse state-changing requests with the session cookie, and sign-ins,
    that another site's page could have made (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cookie_name: str,
        always_checked_paths: frozenset[str],
        on_refused: Callable[[Scope], None] | None = None,
    ) -> None:
        self.app = app
        self.cookie_name = cookie_name
        self.always_checked_paths = always_checked_paths
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        checked = scope["path"] in self.always_checked_paths or _has_cookie(
            headers, self.cookie_name
        )
        reason = cross_site_reason(scope, headers) if checked else None
        if reason is None:
            await self.app(scope, receive, send)
            return
        if self.on_refused is not None:
            self.on_refused(scope)
        body = json.dumps(
            {"detail": f"cross-site request refused (CSRF protection): {reason}"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
