"""The REST API's documents as typed dictionaries (standard library only).

Field names are the wire's; ``total=False`` parts are the optional fields. The client's REST
client (:class:`~qiskit_rest_provider.api.client.RuntimeRestClient`) returns these types, so a
misspelt key is a type error, and the test suite checks the local service's documents against
them (required keys present, no key the model does not name). They describe shape only: values
from the network are still checked where they are used (a ``TypedDict`` does not validate at
run time).
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "BackendStatusDocument",
    "DeviceEntry",
    "DeviceStatus",
    "DevicesPage",
    "JobCreateBody",
    "JobCreated",
    "JobDocument",
    "JobMetrics",
    "JobProgram",
    "JobState",
    "JobUsage",
    "JobsPage",
    "SessionCreateBody",
    "SessionDocument",
    "UsageDocument",
]


class DeviceStatus(TypedDict, total=False):
    """``status`` of a device entry: ``name`` is ``online``, ``paused`` or ``offline``."""

    name: str
    reason: str


class DeviceEntry(TypedDict, total=False):
    """One device of ``GET /v1/backends`` (``name``, ``status`` and ``queue_length`` required)."""

    name: str
    status: DeviceStatus
    queue_length: int
    is_simulator: bool
    qubits: int
    clops: dict[str, Any]
    processor_type: dict[str, Any]
    performance_metrics: dict[str, Any]
    wait_time_seconds: dict[str, float]
    #: Read by the official client, absent from the published spec: ``class`` (``"mock"``
    #: marks a dry-run twin, ``mock_*``; not expressible as a field name here) and this.
    physical_qubits: int


class DevicesPage(TypedDict):
    """``GET /v1/backends``."""

    devices: list[DeviceEntry]


class BackendStatusDocument(TypedDict, total=False):
    """``GET /v1/backends/{name}/status`` (``length_queue`` required)."""

    state: bool
    status: str
    message: str
    length_queue: int
    backend_version: str


class JobProgram(TypedDict):
    """``program`` of a job document."""

    id: str


class JobState(TypedDict, total=False):
    """``state`` of a job document: ``status`` is a state name of
    :data:`~qiskit_rest_provider.wire.constants.JOB_STATES`; ``reason_code`` 1305 means the
    execution time limit."""

    status: str
    reason: str
    reason_code: int
    reason_solution: str


class JobUsage(TypedDict, total=False):
    """``usage`` of a job document or its metrics (``status``: ``pending`` or ``complete``)."""

    qpu_charge_time_seconds: float
    status: str


class _JobDocumentRequired(TypedDict):
    id: str
    created: str
    program: JobProgram
    state: JobState
    status: str


class JobDocument(_JobDocumentRequired, total=False):
    """``GET /v1/jobs/{id}``, and each entry of ``GET /v1/jobs``. ``params`` is present only
    when asked for (``exclude_params=false``) and the job is not private."""

    cost: int
    backend: str
    params: dict[str, Any]
    runtime: str
    tags: list[str]
    session_id: str | None
    user_id: str
    usage: JobUsage
    private: bool
    estimated_running_time_seconds: float
    calibration_id: str


class JobsPage(TypedDict):
    """``GET /v1/jobs``: ``count`` is the number of matches, ignoring ``limit``/``offset``."""

    jobs: list[JobDocument]
    count: int
    limit: int
    offset: int


class _JobCreateRequired(TypedDict):
    program_id: str
    backend: str
    params: dict[str, Any]


class JobCreateBody(_JobCreateRequired, total=False):
    """The body of ``POST /v1/jobs``."""

    log_level: str
    session_id: str
    tags: list[str]
    #: The maximum execution time in seconds (0 to 10800).
    cost: int
    private: bool
    calibration_id: str
    runtime: str


class _JobCreatedRequired(TypedDict):
    id: str
    backend: str


class JobCreated(_JobCreatedRequired, total=False):
    """The answer to ``POST /v1/jobs``."""

    session_id: str | None
    private: bool
    calibration_id: str


class JobMetrics(TypedDict, total=False):
    """``GET /v1/jobs/{id}/metrics``: ``timestamps`` holds ``created``, ``running`` and
    ``finished`` (ISO 8601)."""

    timestamps: dict[str, str | None]
    usage: JobUsage
    circuits_execution_time_ns: int
    qiskit_version: str
    caller: str


class _SessionCreateRequired(TypedDict):
    mode: str


class SessionCreateBody(_SessionCreateRequired, total=False):
    """The body of ``POST /v1/sessions`` (``mode``: ``dedicated`` or ``batch``)."""

    backend: str
    instance: str
    max_ttl: int


class _SessionRequired(TypedDict):
    id: str
    mode: str
    state: str


class SessionDocument(_SessionRequired, total=False):
    """``GET /v1/sessions/{id}`` (``state``: ``open``, ``active``, ``inactive`` or ``closed``)."""

    backend_name: str
    state_reason: str | None
    accepting_jobs: bool
    max_ttl: int
    active_ttl: int
    interactive_ttl: int
    started_at: str | None
    activated_at: str | None
    closed_at: str | None
    last_job_started: str | None
    last_job_completed: str | None
    elapsed_time: float
    user_id: str
    timestamps: list[dict[str, str]]


class UsageDocument(TypedDict, total=False):
    """``GET /v1/instances/usage`` (``usage_consumed_seconds`` required)."""

    instance_id: str
    plan_id: str
    usage_consumed_seconds: float
    usage_limit_seconds: float
    usage_allocation_seconds: float
    usage_limit_reached: bool
    usage_remaining_seconds: float
    usage_period: dict[str, str]
