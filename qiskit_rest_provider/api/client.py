"""One method per Qiskit Runtime REST endpoint. JSON in, JSON out; no circuit machinery."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

from ..wire.models import (
    BackendStatusDocument,
    DeviceEntry,
    JobCreated,
    JobDocument,
    JobMetrics,
    JobsPage,
    SessionDocument,
    UsageDocument,
)
from .errors import ApiError
from .transport import Timeouts, Transport

__all__ = ["RuntimeRestClient"]

JobDict = dict[str, Any]


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _as_dict(body: Any, method: str, path: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(
            f"expected a JSON object, got {type(body).__name__}", method=method, path=path
        )
    return body


class RuntimeRestClient:
    """Typed access to the Runtime REST API over a :class:`Transport`."""

    #: Read timeout for job submission, which may upload large payloads.
    SUBMIT_TIMEOUT = Timeouts(connect=5.0, read=300.0)

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def __repr__(self) -> str:
        return f"RuntimeRestClient({self.transport.base_url!r})"

    def _get(self, path: str, params: Any = None) -> dict[str, Any]:
        return _as_dict(self.transport.get_json(path, params=params), "GET", path)

    # Backends -------------------------------------------------------------------------------

    def list_backends(
        self, *, fields: str | None = None, include_mocks: bool = False
    ) -> list[DeviceEntry]:
        """``GET /v1/backends``: the device entries (with ``include_mocks``, the dry-run
        ``mock_*`` twins too)."""
        params: dict[str, str] = {}
        if fields:
            params["fields"] = fields
        if include_mocks:
            params["include_mocks"] = "true"
        body = self._get("/v1/backends", params or None)
        devices = body.get("devices", [])
        if not isinstance(devices, list):
            raise ApiError("'devices' is not a list", method="GET", path="/v1/backends")
        return [cast(DeviceEntry, d) for d in devices if isinstance(d, dict)]

    def backend_configuration(
        self, name: str, *, calibration_id: str | None = None
    ) -> dict[str, Any]:
        """``GET /v1/backends/{name}/configuration``: the backend's configuration document
        (``QasmBackendConfiguration`` JSON), optionally as of the calibration ``calibration_id``.
        """
        path = f"/v1/backends/{_segment(name, 'backend name')}/configuration"
        params = {"calibration_id": calibration_id} if calibration_id else None
        return self._get(path, params)

    def backend_properties(
        self,
        name: str,
        *,
        updated_before: str | None = None,
        calibration_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET …/properties``; ``{}`` for backends without properties."""
        path = f"/v1/backends/{_segment(name, 'backend name')}/properties"
        params: dict[str, str] = {}
        if updated_before:
            params["updated_before"] = updated_before
        if calibration_id:
            params["calibration_id"] = calibration_id
        body = self.transport.get_json(path, params=params or None)
        return body if isinstance(body, dict) else {}

    def backend_status(self, name: str) -> BackendStatusDocument:
        """``GET /v1/backends/{name}/status``: ``{"state", "status", "message",
        "length_queue", "backend_version"}``."""
        return cast(
            BackendStatusDocument,
            self._get(f"/v1/backends/{_segment(name, 'backend name')}/status"),
        )

    def backend_defaults(self, name: str) -> dict[str, Any]:
        """``GET /v1/backends/{name}/defaults``: the pulse defaults, a free-form object (the
        official client no longer calls this endpoint)."""
        return self._get(f"/v1/backends/{_segment(name, 'backend name')}/defaults")

    # Jobs -----------------------------------------------------------------------------------

    def create_job(self, body: Mapping[str, Any]) -> JobCreated:
        """``POST /v1/jobs``. Never retried once sent (see :class:`Transport`)."""
        # The deadline bounds the whole request; a large submission may legitimately take as
        # long as its read timeout, so it gets at least that (plus the connect timeout).
        deadline = max(
            self.transport.retry.deadline, self.SUBMIT_TIMEOUT.connect + self.SUBMIT_TIMEOUT.read
        )
        response = self.transport.request(
            "POST",
            "/v1/jobs",
            json=dict(body),
            timeout=self.SUBMIT_TIMEOUT,
            idempotent=False,
            deadline=deadline,
        )
        return cast(JobCreated, _as_dict(response.json(), "POST", "/v1/jobs"))

    def list_jobs(
        self,
        *,
        limit: int = 20,
        offset: int = 0,
        pending: bool | None = None,
        program: str | None = None,
        backend: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        descending: bool = True,
        tags: Sequence[str] | None = None,
        session_id: str | None = None,
        exclude_params: bool = True,
        include_mocks: bool = False,
    ) -> JobsPage:
        """``GET /v1/jobs``: one page ``{"jobs", "count", "limit", "offset"}``."""
        params: list[tuple[str, str]] = [
            ("limit", str(int(limit))),
            ("offset", str(int(offset))),
            ("exclude_params", "true" if exclude_params else "false"),
        ]
        if not descending:
            params.append(("sort", "ASC"))
        if pending is not None:
            params.append(("pending", "true" if pending else "false"))
        if include_mocks:
            params.append(("include_mocks", "true"))
        for key, value in (
            ("program", program),
            ("backend", backend),
            ("created_after", created_after),
            ("created_before", created_before),
            ("session_id", session_id),
        ):
            if value:
                params.append((key, value))
        for tag in tags or ():
            params.append(("tags", tag))
        return cast(JobsPage, self._get("/v1/jobs", params))

    def get_job(self, job_id: str, *, exclude_params: bool = True) -> JobDocument:
        """``GET /v1/jobs/{id}``: the job document (state, timestamps, backend, tags, …).

        Args:
            job_id: The job's id.
            exclude_params: Leave the submitted ``params`` out of the document (they can be
                large); False to get them, as ``job.inputs`` needs.
        """
        path = f"/v1/jobs/{_segment(job_id, 'job id')}"
        return cast(
            JobDocument, self._get(path, {"exclude_params": "true" if exclude_params else "false"})
        )

    def delete_job(self, job_id: str) -> None:
        """Delete a job. A 404 on a retry after a lost response means the job is gone: done."""
        self.transport.request(
            "DELETE", f"/v1/jobs/{_segment(job_id, 'job id')}", settled_statuses=(404,)
        )

    def job_results(self, job_id: str) -> bytes | None:
        """The result body as bytes (UTF-8 JSON), or None while there is no final result (204).

        Bytes, not text: decoding a large body with ``requests``' charset guessing is slow."""
        response = self.transport.request(
            "GET", f"/v1/jobs/{_segment(job_id, 'job id')}/results", headers={"Accept": "*/*"}
        )
        if response.status_code == 204 or not response.content:
            return None
        return response.content

    def cancel_job(self, job_id: str) -> None:
        """``POST /v1/jobs/{id}/cancel`` (answered 204). Retried like an idempotent request:
        cancelling twice is harmless.

        Raises:
            ~qiskit_rest_provider.errors.ConflictError: the job is no longer cancellable (409).
        """
        self.transport.request(
            "POST", f"/v1/jobs/{_segment(job_id, 'job id')}/cancel", idempotent=True
        )

    def job_logs(self, job_id: str) -> str:
        """``GET /v1/jobs/{id}/logs``: the job's log, as plain text."""
        response = self.transport.request(
            "GET", f"/v1/jobs/{_segment(job_id, 'job id')}/logs", headers={"Accept": "*/*"}
        )
        return response.text

    def job_metrics(self, job_id: str) -> JobMetrics:
        """``GET /v1/jobs/{id}/metrics``: timestamps, usage and ``qiskit_version`` of a job."""
        return cast(JobMetrics, self._get(f"/v1/jobs/{_segment(job_id, 'job id')}/metrics"))

    def update_job_tags(self, job_id: str, tags: Iterable[str]) -> None:
        """``PUT /v1/jobs/{id}/tags``: replace the job's tags with ``tags`` (empty clears them).

        Raises:
            ~qiskit_rest_provider.errors.ApiError: the API answered a success status other than 204
                (the only one it documents), as well as for every error status.
        """
        path = f"/v1/jobs/{_segment(job_id, 'job id')}/tags"
        response = self.transport.request("PUT", path, json={"tags": list(tags)})
        if response.status_code != 204:
            raise ApiError(
                f"expected 204, got {response.status_code}",
                status_code=response.status_code,
                method="PUT",
                path=path,
            )

    # Sessions -------------------------------------------------------------------------------

    def create_session(
        self,
        *,
        mode: str,
        backend: str | None = None,
        instance: str | None = None,
        max_ttl: int | None = None,
    ) -> SessionDocument:
        """``POST /v1/sessions``: open a session or batch; returns the session document
        (``{"id", "mode", "backend_name", "state", "max_ttl", …}``).

        Args:
            mode: ``"dedicated"`` for a session, ``"batch"`` for a batch.
            backend: The backend the session runs on.
            instance: The instance CRN, sent in the body as the official client does.
            max_ttl: Maximum time to live, in seconds.
        """
        body: dict[str, Any] = {"mode": mode}
        if backend:
            body["backend"] = backend
        if instance:
            body["instance"] = instance
        if max_ttl is not None:
            body["max_ttl"] = int(max_ttl)
        # Retried like an idempotent request: if a response is lost, a second session may be
        # created, which is harmless (it holds no jobs and expires after its TTL).
        response = self.transport.request("POST", "/v1/sessions", json=body, idempotent=True)
        return cast(SessionDocument, _as_dict(response.json(), "POST", "/v1/sessions"))

    def get_session(self, session_id: str) -> SessionDocument:
        """``GET /v1/sessions/{id}``: the session document (state, ``accepting_jobs``,
        timestamps, TTLs)."""
        return cast(
            SessionDocument, self._get(f"/v1/sessions/{_segment(session_id, 'session id')}")
        )

    def close_session(self, session_id: str) -> None:
        """Stop accepting jobs; queued and running jobs finish (``PATCH accepting_jobs=false``)."""
        self.transport.request(
            "PATCH",
            f"/v1/sessions/{_segment(session_id, 'session id')}",
            json={"accepting_jobs": False},
            idempotent=True,  # setting a flag to the same value twice is safe
        )

    def cancel_session(self, session_id: str) -> None:
        """Close and drop queued jobs (``DELETE …/close``)."""
        self.transport.request("DELETE", f"/v1/sessions/{_segment(session_id, 'session id')}/close")

    # Instance -------------------------------------------------------------------------------

    def usage(self) -> UsageDocument:
        """``GET /v1/instances/usage``: the instance's usage, ``usage_consumed_seconds`` and,
        where the plan has them, its limit and allocation (seconds) and usage period."""
        return cast(UsageDocument, self._get("/v1/instances/usage"))

    def versions(self) -> dict[str, Any]:
        """``GET /v1/versions``: the API versions the service knows,
        ``{"versions": [{"version", "status", "sunset_date"?}]}``."""
        return self._get("/v1/versions")
