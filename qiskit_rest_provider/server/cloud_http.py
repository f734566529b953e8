"""The HTTP face of :mod:`.cloud`: the Global Search and Global Catalog routes, and the
middleware that serves requests in absolute form (as HTTP clients send them to a proxy).

:func:`mount_cloud` adds both to the service's FastAPI application.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from ..wire.error_body import error_body
from .cloud import CloudDirectory
from .errors import ServiceError
from .validation import parse_json_body

__all__ = ["AbsoluteFormMiddleware", "cloud_router", "mount_cloud"]


async def _json_object(request: Request) -> Any:
    data = bytearray()
    try:
        async for chunk in request.stream():  # limited by the app's body guard
            data += chunk
    except ClientDisconnect:
        raise ServiceError(400, "client_disconnected", "The client closed the request.") from None
    if not data.strip():
        return {}
    try:
        return parse_json_body(data)
    except ValueError as exc:
        raise ServiceError(400, "invalid_request", str(exc)) from None


def cloud_router(directory: CloudDirectory) -> APIRouter:
    """The Global Search and Global Catalog routes, for an app that answers :class:`ServiceError`
    with the API's error body.

    Include it after the Runtime API's routes: the catalog's ``GET /api/v1/{id}`` then only
    sees the single-segment paths no Runtime route takes (and it stays out of the OpenAPI
    document, whose ``/api/v1/...`` operations are the Runtime API's).
    """
    router = APIRouter()

    @router.post("/v3/resources/search")
    async def search(request: Request) -> dict[str, Any]:
        """IBM Cloud Global Search (v3), for the caller's Qiskit Runtime instances."""
        body = await _json_object(request)
        return directory.search(
            request.headers.get("Authorization"),
            body,
            limit=request.query_params.get("limit"),
            account_id=request.query_params.get("account_id"),
        )

    @router.get("/api/v1/{entry_id}", include_in_schema=False)
    def catalog_entry(entry_id: str, request: Request) -> dict[str, Any]:
        """IBM Cloud Global Catalog: a plan's entry."""
        return directory.catalog_entry(request.headers.get("Authorization"), entry_id)

    return router


_ABSOLUTE = re.compile(rb"(?i)https?://([^/?#]*)")


class AbsoluteFormMiddleware:
    """Serve requests whose target is in absolute form (``GET http://host/path``, as HTTP
    clients send them to a proxy) like their origin form, with ``Host`` set to the target's
    authority; refuse ``CONNECT`` (405 with the API's error body).

    Put it outside the body guard and routing, so that everything after it (body limits,
    routing) sees the path. The service answers every host name this way: it never forwards a
    request anywhere.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["method"] == "CONNECT":
                response = JSONResponse(
                    status_code=405,
                    content=error_body(
                        "method_not_allowed",
                        "This is the local Qiskit Runtime service, not a tunnelling proxy: "
                        "https:// hosts are reached through the service's proxy "
                        "(LocalRuntimeServer.proxy_url).",
                    ),
                )
                await response(scope, receive, send)
                return
            raw = scope.get("raw_path") or scope["path"].encode("latin-1")
            match = _ABSOLUTE.match(raw)
            if match is not None:
                rest = raw[match.end() :] or b"/"
                authority = match.group(1).rpartition(b"@")[2]  # never user:password@
                headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
                headers.append((b"host", authority))
                scope = {
                    **scope,
                    "raw_path": rest,
                    "path": unquote(rest.decode("latin-1")),
                    "headers": headers,
                }
        await self.app(scope, receive, send)


def mount_cloud(app: FastAPI, directory: CloudDirectory) -> None:
    """Add the platform routes (after the routes already there) and
    :class:`AbsoluteFormMiddleware` (outside the body guard and routing; the console's header
    middleware may wrap it) to ``app``, before it starts.

    Raises:
        ValueError: a plan id equals a path segment the app already routes under ``/api/v1/``
            (``GET /api/v1/{that id}`` would never reach the catalog).
    """
    taken = {
        segment
        for route in app.routes
        for segment in [getattr(route, "path", "")]
        if segment.startswith("/api/v1/")
    }
    for plan_id in directory.instances.plans:
        if f"/api/v1/{plan_id}" in taken:
            raise ValueError(f"plan id {plan_id!r} clashes with the route /api/v1/{plan_id}")
    app.include_router(cloud_router(directory))
    app.add_middleware(AbsoluteFormMiddleware)
