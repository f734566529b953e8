"""The HTTP face of the local service (FastAPI).

Every answer other than a success is the API's error body,
``{"errors": [{"code", "message", "more_info"}], "trace"}``: refusals are 4xx, and an unexpected
exception is logged with its trace id and answered 500 with the same body shape. Request bodies
are limited on the bytes actually received (whatever the framing) before any route reads them.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..wire.constants import API_VERSIONS, JOB_COMPLETED
from ..wire.error_body import error_body
from .cloud_http import mount_cloud
from .console import mount_console
from .service import LocalService, ServiceError
from .validation import body_limit, parse_json_body

__all__ = ["create_app"]

#: Bodies up to this size are parsed on the event loop; larger ones in a worker thread.
_INLINE_PARSE_BYTES = 256 * 1024

logger = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, trace: str | None = None) -> JSONResponse:
    # error_body escapes what UTF-8 cannot encode: a message may quote hostile client input.
    return JSONResponse(status_code=status, content=error_body(code, message, trace))


def _internal_error(scope: Scope, exc: BaseException) -> JSONResponse:
    trace = str(uuid.uuid4())
    logger.error(
        "unexpected error answering %s %s (trace %s)",
        scope.get("method"),
        scope.get("path"),
        trace,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return _error(500, "internal_error", "The service failed to process the request.", trace)


class _Guard:
    """ASGI middleware around every route: body limits, counters and the error-body backstop.

    The body limit (:func:`.validation.body_limit`) is checked on a declared ``Content-Length``
    before the route runs, and on the bytes ``receive`` actually delivers, so a chunked body is
    cut off with 413 as soon as it passes the limit; nothing beyond it is ever buffered.
    """

    def __init__(self, app: ASGIApp, service: LocalService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service = self.service
        service.requests[scope["method"]] += 1
        limit = body_limit(scope["method"], scope["path"])
        too_large = ServiceError(
            413, "payload_too_large", f"Request bodies here are limited to {limit} bytes."
        )
        started = False

        async def counted_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                service.responses[f"{int(message['status']) // 100}xx"] += 1
            await send(message)

        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                response = _error(too_large.status, too_large.code, too_large.message)
                await response(scope, receive, counted_send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body read: answered 413 by the ServiceError
                    # handler, and the connection's remaining bytes are discarded by the server.
                    raise too_large
            return message

        try:
            await self.app(scope, limited_receive, counted_send)
        except Exception as exc:
            if started:
                raise
            await _internal_error(scope, exc)(scope, receive, counted_send)


async def _read_body(request: Request) -> bytearray:
    """The request body, limited by :class:`_Guard` (one growing buffer, no chunk list)."""
    data = bytearray()
    try:
        async for chunk in request.stream():
            data += chunk
    except ClientDisconnect:
        raise ServiceError(400, "client_disconnected", "The client closed the request.") from None
    return data


def _parse_json(data: bytearray) -> Any:
    try:
        return parse_json_body(data)
    except ValueError as exc:
        raise ServiceError(400, "invalid_request", str(exc)) from None


async def _json_body(request: Request) -> Any:
    data = await _read_body(request)
    if len(data) > _INLINE_PARSE_BYTES:
        return await run_in_threadpool(_parse_json, data)
    return _parse_json(data)


def create_app(service: LocalService) -> FastAPI:  # noqa: C901 - one closure per route
    """Build the FastAPI application serving ``service``.

    The IAM stand-in answers ``POST /identity/token``; the REST API is served under both
    ``/api/v1`` and ``/experimental/api/v1``, so either base URL works for clients. The web
    console (:mod:`.console`) is served at ``/``, and every answer carries its security headers.
    """
    # No API browser pages (/docs, /redoc): they load scripts from a CDN, and the console on
    # this origin keeps its token where any same-origin script can read it. /openapi.json stays.
    app = FastAPI(
        title="qiskit-rest-provider local Qiskit Runtime service",
        version="1.0",
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        response = _error(exc.status, exc.code, exc.message)
        retry_after = getattr(exc, "retry_after", None)  # 429/503 refusals say when to retry
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "invalid_request", str(exc.errors())[:1000])

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only if :class:`_Guard` itself fails; it answers everything else.
        return _internal_error(request.scope, exc)

    app.add_middleware(_Guard, service=service)

    @app.post("/identity/token")
    async def token(request: Request) -> dict[str, Any]:
        """``POST /identity/token``: the local IAM, trading an API key for a bearer token."""
        from urllib.parse import parse_qs

        raw = (await _read_body(request)).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        if form.get("grant_type") != "urn:ibm:params:oauth:grant-type:apikey":
            raise ServiceError(400, "BXNIM0109E", "Unsupported grant_type.")
        client = request.client.host if request.client else None
        # In a thread: checking a key runs a salted KDF, which must not hold up the event loop.
        return await run_in_threadpool(service.issue_token, str(form.get("apikey") or ""), client)

    def instance(request: Request) -> str:
        """The instance the request's bearer token and ``Service-CRN`` header authenticate
        (401/403 otherwise)."""
        return service.authenticate(
            request.headers.get("Authorization"), request.headers.get("Service-CRN")
        )

    v1 = APIRouter()

    @v1.get("/versions")
    def versions() -> dict[str, Any]:
        """``GET /v1/versions``: the API versions the service accepts (no authentication)."""
        return {"versions": list(API_VERSIONS)}

    @v1.get("/backends")
    def backends(include_mocks: bool = False, inst: str = Depends(instance)) -> dict[str, Any]:
        """``GET /v1/backends``: the devices the instance may use (their ``mock_*`` dry-run
        twins too with ``include_mocks=true``)."""
        devices = service.list_devices(inst, include_mocks=include_mocks)
        return {"devices": [service.device_entry(d) for d in devices]}

    @v1.get("/backends/{name}/configuration")
    def configuration(
        name: str, calibration_id: str | None = None, inst: str = Depends(instance)
    ) -> dict[str, Any]:
        """``GET /v1/backends/{name}/configuration``: the backend's configuration document."""
        device = service.device(name, inst)
        if calibration_id and device.calibration(calibration_id=calibration_id) is None:
            # As /properties answers: the official client then fails clearly for this id.
            raise ServiceError(
                404, "calibration_not_found", f"Calibration {calibration_id!r} not found."
            )
        return device.configuration

    @v1.get("/backends/{name}/properties")
    def properties(
        name: str,
        updated_before: str | None = None,
        calibration_id: str | None = None,
        inst: str = Depends(instance),
    ) -> Any:
        """``GET /v1/backends/{name}/properties``: the latest or the selected calibration."""
        return service.properties(service.device(name, inst), updated_before, calibration_id)

    @v1.get("/backends/{name}/status")
    def status(name: str, inst: str = Depends(instance)) -> dict[str, Any]:
        """``GET /v1/backends/{name}/status``: operational state and queue length."""
        return service.device_status(service.device(name, inst))

    @v1.get("/backends/{name}/defaults")
    def defaults(name: str, inst: str = Depends(instance)) -> dict[str, Any]:
        """``GET /v1/backends/{name}/defaults``: always ``{}`` (no pulse defaults here)."""
        service.device(name, inst)
        return {}

    @v1.post("/jobs")
    async def create_job(request: Request, inst: str = Depends(instance)) -> dict[str, Any]:
        """``POST /v1/jobs``: submit a Sampler or Estimator job; answers its id."""
        body = await _json_body(request)
        return await run_in_threadpool(
            service.create_job, inst, body, request.headers.get("X-Qx-Client-Application")
        )

    @v1.get("/jobs")
    def list_jobs(request: Request, inst: str = Depends(instance)) -> dict[str, Any]:
        """``GET /v1/jobs``: one page of the instance's jobs, filtered by the query."""
        query: dict[str, Any] = dict(request.query_params)
        query["tags"] = request.query_params.getlist("tags")
        return service.list_jobs(inst, query)

    @v1.get("/jobs/{job_id}")
    def get_job(
        job_id: str, exclude_params: bool = False, inst: str = Depends(instance)
    ) -> dict[str, Any]:
        """``GET /v1/jobs/{job_id}``: the job document, with its ``params`` unless
        ``exclude_params=true`` or the job is private (the official client's ``job.inputs``
        sends no ``exclude_params``: the default is false)."""
        return service.job_document(
            service.get_job(inst, job_id), include_params=not exclude_params
        )

    @v1.delete("/jobs/{job_id}", status_code=204)
    def delete_job(job_id: str, inst: str = Depends(instance)) -> Response:
        """``DELETE /v1/jobs/{job_id}``: delete a job in a final state (204)."""
        service.delete_job(inst, job_id)
        return Response(status_code=204)

    @v1.get("/jobs/{job_id}/results")
    def results(job_id: str, inst: str = Depends(instance)) -> Response:
        """``GET /v1/jobs/{job_id}/results``: the result (or a failed job's error), else 204;
        a private job's result once, then 404."""
        found = service.job_result(inst, job_id)
        if found is None:
            return Response(status_code=204)
        text, status = found
        return PlainTextResponse(
            text, media_type="application/json" if status == JOB_COMPLETED else "text/plain"
        )

    @v1.post("/jobs/{job_id}/cancel", status_code=204)
    def cancel(job_id: str, inst: str = Depends(instance)) -> Response:
        """``POST /v1/jobs/{job_id}/cancel``: cancel a queued or running job (204)."""
        service.cancel_job(inst, job_id)
        return Response(status_code=204)

    @v1.get("/jobs/{job_id}/logs")
    def logs(job_id: str, inst: str = Depends(instance)) -> PlainTextResponse:
        """``GET /v1/jobs/{job_id}/logs``: the job's log, as plain text."""
        return PlainTextResponse(service.get_job(inst, job_id)["logs"])

    @v1.get("/jobs/{job_id}/metrics")
    def metrics(job_id: str, inst: str = Depends(instance)) -> dict[str, Any]:
        """``GET /v1/jobs/{job_id}/metrics``: the job's timestamps and usage."""
        return service.metrics(inst, job_id)

    @v1.put("/jobs/{job_id}/tags", status_code=204)
    async def tags(job_id: str, request: Request, inst: str = Depends(instance)) -> Response:
        """``PUT /v1/jobs/{job_id}/tags``: replace the job's tags with ``{"tags": [...]}`` (204)."""
        body = await _json_body(request)
        if not isinstance(body, dict) or "tags" not in body:
            raise ServiceError(400, "invalid_request", 'Expected {"tags": [...]}.')
        service.update_tags(inst, job_id, body["tags"])
        return Response(status_code=204)

    @v1.post("/sessions")
    async def create_session(request: Request, inst: str = Depends(instance)) -> dict[str, Any]:
        """``POST /v1/sessions``: open a session or batch; answers its document."""
        body = await _json_body(request)
        return service.create_session(inst, body)

    @v1.get("/sessions/{session_id}")
    def get_session(session_id: str, inst: str = Depends(instance)) -> dict[str, Any]:
        """``GET /v1/sessions/{session_id}``: the session document."""
        return service.session_document(service.get_session(inst, session_id))

    @v1.patch("/sessions/{session_id}", status_code=204)
    async def patch_session(
        session_id: str, request: Request, inst: str = Depends(instance)
    ) -> Response:
        """``PATCH /v1/sessions/{session_id}``: ``accepting_jobs: false`` closes it gracefully."""
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ServiceError(400, "invalid_request", "The body must be a JSON object.")
        service.close_session(inst, session_id, body.get("accepting_jobs"))
        return Response(status_code=204)

    @v1.delete("/sessions/{session_id}/close", status_code=204)
    def cancel_session(session_id: str, inst: str = Depends(instance)) -> Response:
        """``DELETE /v1/sessions/{session_id}/close``: close now, cancelling queued jobs."""
        service.cancel_session(inst, session_id)
        return Response(status_code=204)

    @v1.get("/instances/usage")
    def usage(inst: str = Depends(instance)) -> dict[str, Any]:
        """``GET /v1/instances/usage``: the instance's usage, in seconds."""
        return service.usage(inst)

    app.include_router(v1, prefix="/api/v1")
    app.include_router(v1, prefix="/experimental/api/v1")
    # The catalog's GET /api/v1/{plan id} only sees paths no Runtime route takes, and the
    # absolute-form middleware goes outside the body guard (which then sees the real path).
    mount_cloud(app, service.cloud)
    # Last: the web console (docs/local_service.md, "Console"), a static page at / that uses the
    # API above like any client, and the headers that keep it to this origin, outermost so that
    # every answer carries them (the body guard's, and the absolute-form middleware's refusal
    # of CONNECT).
    mount_console(app)
    return app
