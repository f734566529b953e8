"""The web console of the local service: a static page served at ``/``, and the security headers.

The console is a few static files shipped in this package (``static/``: HTML, CSS and plain
JavaScript modules, no build step, nothing fetched from another host) that run in the browser
and use only the public REST API, exactly as the clients do: the person signs in with an API
key through ``POST /identity/token``, and the page reads and acts through ``/api/v1/...`` with
the bearer token and the ``Service-CRN`` header. It has no back door into the service, so it
works in front of any service that speaks the API on the same origin.

:class:`SecurityHeaders` puts the headers that keep the page to its own origin on every
answer of the service: no framing (``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``),
a Content-Security-Policy allowing scripts, styles and connections to ``'self'`` only (plus
Trusted Types: the page never builds HTML from strings), ``nosniff``, no referrer, and
same-origin opener and resource policies. The service sends no CORS headers at all, so a page
of another origin cannot read its answers.

The console keeps its bearer token in the tab's ``sessionStorage``, which any page of the same
origin can read, so no page of the origin may run a script from elsewhere: an app that serves
the console serves no API browser pages (FastAPI's ``/docs`` and ``/redoc`` load their scripts
from a CDN). :func:`mount_console` refuses an app that has them; ``/openapi.json`` (a JSON
document, no script) stays.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ServiceError

__all__ = [
    "CONSOLE_PREFIX",
    "CONTENT_SECURITY_POLICY",
    "Asset",
    "SecurityHeaders",
    "console_router",
    "load_assets",
    "mount_console",
]

#: Where the console's assets are served (the page itself is served at ``/``).
CONSOLE_PREFIX = "/console/"

#: The policy of every answer: only this origin, no inline code, no framing, and Trusted Types
#: enforced (no string ever becomes HTML or script).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)

#: Headers set on every answer (a route's own value is kept).
_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    """One static file of the console: its bytes, media type and entity tag."""

    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """The console's files from the package's ``static/`` folder (importlib.resources), by
    path relative to it (``index.html``, ``js/app.js``...); files of unknown types are left
    out."""
    root = resources.files(__name__) / "static"
    assets: dict[str, Asset] = {}
    stack = [(root, "")]
    while stack:
        node, prefix = stack.pop()
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                stack.append((child, f"{name}/"))
                continue
            content_type = _CONTENT_TYPES.get(posixpath.splitext(name)[1])
            if content_type is None:
                continue
            body = child.read_bytes()
            etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
            assets[name] = Asset(body, content_type, etag)
    return assets


def _answer(asset: Asset, request: Request) -> Response:
    """``asset``, or 304 when the request already holds it (``If-None-Match``). Revalidated on
    every use (``no-cache``): an upgraded service is never shown with stale scripts."""
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    tags = {t.strip() for t in request.headers.get("if-none-match", "").split(",")}
    if asset.etag in tags or "*" in tags:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


def console_router(assets: dict[str, Asset] | None = None) -> APIRouter:
    """The routes of the console: the page at ``/`` and its files under ``/console/``.

    Only the files loaded by :func:`load_assets` are answered (looked up by name, never read
    from a path built from the request); anything else is the API's 404 error body. The
    routes stay out of the OpenAPI document.
    """
    files = load_assets() if assets is None else assets
    if "index.html" not in files:
        raise RuntimeError("the console's static/index.html is missing from the package")
    router = APIRouter(include_in_schema=False)

    @router.api_route("/", methods=["GET", "HEAD"])
    def console_page(request: Request) -> Response:
        """The console's page."""
        return _answer(files["index.html"], request)

    @router.api_route(CONSOLE_PREFIX + "{path:path}", methods=["GET", "HEAD"])
    def console_file(path: str, request: Request) -> Response:
        """One of the console's files (scripts, styles, icon)."""
        asset = files.get(path)
        if asset is None:
            raise ServiceError(404, "not_found", "No such console file.")
        return _answer(asset, request)

    return router


class SecurityHeaders:
    """ASGI middleware: the console's security headers on every HTTP answer.

    The same headers on every answer, whatever its path or status (a route's own value of a
    header is kept). Put it outside every other middleware, so that their own answers (a
    refused ``CONNECT``, a body too large) carry the headers too.

    Args:
        app: The application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer through the wrapped application, adding the headers to its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in _HEADERS:
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured_send)


def mount_console(app: FastAPI) -> None:
    """Serve the console from ``app`` (:func:`console_router`) and put :class:`SecurityHeaders`
    around everything it answers, before the app starts.

    Call it after every other ``add_middleware`` of ``app`` (the last added is the outermost),
    so that every answer carries the headers.

    Raises:
        ValueError: ``app`` serves FastAPI's API browser pages (``docs_url``, ``redoc_url``):
            they load scripts from a CDN, which could read the console's token. Create the app
            with ``docs_url=None, redoc_url=None``.
    """
    pages = [url for url in (app.docs_url, app.redoc_url) if url]
    if pages:
        raise ValueError(
            f"the console cannot share an origin with pages that load third-party scripts: "
            f"create the app with docs_url=None and redoc_url=None (it serves {pages})"
        )
    app.include_router(console_router())
    app.add_middleware(SecurityHeaders)
