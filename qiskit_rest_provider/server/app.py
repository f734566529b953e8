"""The HTTP face of the local service (FastAPI)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .service import LocalService, ServiceError

__all__ = ["create_app"]

MAX_BODY_BYTES = 64 * 1024 * 1024
MORE_INFO = "https://quantum.cloud.ibm.com/docs/errors"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={
            "errors": [{"code": code, "message": message, "more_info": MORE_INFO}],
            "trace": str(uuid.uuid4()),
        },
    )


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise ServiceError(400, "invalid_request", "The body is not valid JSON.") from None


def create_app(service: LocalService) -> FastAPI:
    """Build the FastAPI application serving ``service``."""
    app = FastAPI(title="qiskit-rest-provider local Qiskit Runtime service", version="1.0")

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "invalid_request", str(exc.errors())[:1000])

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.middleware("http")
    async def _limit_body(request: Request, call_next: Any) -> Any:
        service.requests[request.method] += 1
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            service.responses["4xx"] += 1
            return _error(
                413, "payload_too_large", f"Request bodies are limited to {MAX_BODY_BYTES} bytes."
            )
        response = await call_next(request)
        service.responses[f"{response.status_code // 100}xx"] += 1
        return response

    @app.post("/identity/token")
    async def token(request: Request) -> dict[str, Any]:
        from urllib.parse import parse_qs

        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        if form.get("grant_type") != "urn:ibm:params:oauth:grant-type:apikey":
            raise ServiceError(400, "BXNIM0109E", "Unsupported grant_type.")
        return service.issue_token(str(form.get("apikey") or ""))

    def instance(request: Request) -> str:
        return service.authenticate(
            request.headers.get("Authorization"), request.headers.get("Service-CRN")
        )

    v1 = APIRouter()

    @v1.get("/versions")
    def versions() -> dict[str, Any]:
        return {"versions": ["2025-05-01", "2026-02-15", "2026-03-15", "2026-04-15"]}

    @v1.get("/backends")
    def backends(_: str = Depends(instance)) -> dict[str, Any]:
        return {"devices": [service.device_entry(d) for d in service.devices.values()]}

    @v1.get("/backends/{name}/configuration")
    def configuration(
        name: str, calibration_id: str | None = None, _: str = Depends(instance)
    ) -> dict[str, Any]:
        return service.device(name).configuration

    @v1.get("/backends/{name}/properties")
    def properties(
        name: str,
        updated_before: str | None = None,
        calibration_id: str | None = None,
        _: str = Depends(instance),
    ) -> Any:
        return service.properties(service.device(name), updated_before, calibration_id)

    @v1.get("/backends/{name}/status")
    def status(name: str, _: str = Depends(instance)) -> dict[str, Any]:
        return service.device_status(service.device(name))

    @v1.get("/backends/{name}/defaults")
    def defaults(name: str, _: str = Depends(instance)) -> dict[str, Any]:
        service.device(name)
        return {}

    @v1.post("/jobs")
    async def create_job(request: Request, inst: str = Depends(instance)) -> dict[str, Any]:
        body = await _json_body(request)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(
            service.create_job, inst, body, request.headers.get("X-Qx-Client-Application")
        )

    @v1.get("/jobs")
    def list_jobs(request: Request, inst: str = Depends(instance)) -> dict[str, Any]:
        query: dict[str, Any] = dict(request.query_params)
        query["tags"] = request.query_params.getlist("tags")
        return service.list_jobs(inst, query)

    @v1.get("/jobs/{job_id}")
    def get_job(
        job_id: str, exclude_params: bool = True, inst: str = Depends(instance)
    ) -> dict[str, Any]:
        return service.job_document(
            service.get_job(inst, job_id), include_params=not exclude_params
        )

    @v1.delete("/jobs/{job_id}", status_code=204)
    def delete_job(job_id: str, inst: str = Depends(instance)) -> Response:
        service.delete_job(inst, job_id)
        return Response(status_code=204)

    @v1.get("/jobs/{job_id}/results")
    def results(job_id: str, inst: str = Depends(instance)) -> Response:
        row = service.get_job(inst, job_id)
        if row["status"] in ("Completed", "Failed") and row["result"]:
            return PlainTextResponse(
                row["result"],
                media_type="application/json" if row["status"] == "Completed" else "text/plain",
            )
        return Response(status_code=204)

    @v1.post("/jobs/{job_id}/cancel", status_code=204)
    def cancel(job_id: str, inst: str = Depends(instance)) -> Response:
        service.cancel_job(inst, job_id)
        return Response(status_code=204)

    @v1.get("/jobs/{job_id}/logs")
    def logs(job_id: str, inst: str = Depends(instance)) -> PlainTextResponse:
        return PlainTextResponse(service.get_job(inst, job_id)["logs"])

    @v1.get("/jobs/{job_id}/metrics")
    def metrics(job_id: str, inst: str = Depends(instance)) -> dict[str, Any]:
        return service.metrics(inst, job_id)

    @v1.put("/jobs/{job_id}/tags", status_code=204)
    async def tags(job_id: str, request: Request, inst: str = Depends(instance)) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or "tags" not in body:
            raise ServiceError(400, "invalid_request", 'Expected {"tags": [...]}.')
        service.update_tags(inst, job_id, body["tags"])
        return Response(status_code=204)

    @v1.post("/sessions")
    async def create_session(request: Request, inst: str = Depends(instance)) -> dict[str, Any]:
        body = await _json_body(request)
        return service.create_session(inst, body)

    @v1.get("/sessions/{session_id}")
    def get_session(session_id: str, inst: str = Depends(instance)) -> dict[str, Any]:
        return service.session_document(service.get_session(inst, session_id))

    @v1.patch("/sessions/{session_id}", status_code=204)
    async def patch_session(
        session_id: str, request: Request, inst: str = Depends(instance)
    ) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ServiceError(400, "invalid_request", "The body must be a JSON object.")
        service.close_session(inst, session_id, body.get("accepting_jobs"))
        return Response(status_code=204)

    @v1.delete("/sessions/{session_id}/close", status_code=204)
    def cancel_session(session_id: str, inst: str = Depends(instance)) -> Response:
        service.cancel_session(inst, session_id)
        return Response(status_code=204)

    @v1.get("/instances/usage")
    def usage(inst: str = Depends(instance)) -> dict[str, Any]:
        return service.usage(inst)

    app.include_router(v1, prefix="/api/v1")
    app.include_router(v1, prefix="/experimental/api/v1")
    return app
