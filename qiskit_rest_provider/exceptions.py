"""Exceptions raised above the wire layer (backends, primitives, jobs).

Every exception of the package derives from :class:`QiskitRestError`; wire failures are
:class:`~qiskit_rest_provider.api.errors.ApiError` subclasses.
"""

from __future__ import annotations

from .api.errors import ApiError, QiskitRestError

__all__ = [
    "ApiError",
    "BackendDataError",
    "ISAValidationError",
    "JobCancelledError",
    "JobFailedError",
    "JobTimeoutError",
    "QiskitRestError",
    "ResultDecodeError",
]


class BackendDataError(QiskitRestError, ValueError):
    """A backend's configuration or properties JSON cannot be turned into a Target."""


class ISAValidationError(QiskitRestError, ValueError):
    """A pub is not executable on the backend as given (not ISA, too many shots, ...)."""


class ResultDecodeError(QiskitRestError, ValueError):
    """A result payload is malformed or uses an unknown type tag."""


class JobFailedError(QiskitRestError):
    """The job ended in the ``Failed`` state. ``reason_code`` holds the server's code."""

    def __init__(self, message: str, *, job_id: str, reason_code: int | None = None) -> None:
        self.job_id = job_id
        self.reason_code = reason_code
        super().__init__(message)


class JobCancelledError(QiskitRestError):
    """The job was cancelled (by the user, its session, or the execution-time limit)."""

    def __init__(self, message: str, *, job_id: str, reason_code: int | None = None) -> None:
        self.job_id = job_id
        self.reason_code = reason_code
        super().__init__(message)


class JobTimeoutError(QiskitRestError, TimeoutError):
    """Waiting for a job exceeded the caller's timeout (the job itself goes on)."""

    def __init__(self, message: str, *, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(message)
