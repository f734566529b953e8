"""Exceptions raised above the wire layer (backends, primitives, jobs).

Every exception of the package derives from :class:`QiskitRestError`; wire failures are
:class:`~qiskit_rest_provider.api.errors.ApiError` subclasses.
"""

from __future__ import annotations

from .api.errors import ApiError, QiskitRestError

__all__ = [
    "ApiError",
    "BackendDataError",
    "ExecutionTimeLimitError",
    "ISAValidationError",
    "JobCancelledError",
    "JobFailedError",
    "JobSubmissionError",
    "JobTimeoutError",
    "PubValidationError",
    "QiskitRestError",
    "ResultDecodeError",
]


class BackendDataError(QiskitRestError, ValueError):
    """A backend's configuration or properties JSON cannot be turned into a Target."""


class PubValidationError(QiskitRestError, ValueError):
    """A pub cannot be submitted as given (missing parameter values, bad shapes, too many shots
    or pubs, ...). The message names the pub."""


class ISAValidationError(PubValidationError):
    """A pub's circuit is not executable on the backend's Target as given (not ISA)."""


class ResultDecodeError(QiskitRestError, ValueError):
    """A result payload is malformed or uses an unknown type tag."""


#: What Python and Qiskit raise on input shapes no specific check anticipated; the readers of
#: results and pubs turn these into their own errors, so bad input never escapes as a crash.
MALFORMED_INPUT_ERRORS = (
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
)


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


class ExecutionTimeLimitError(JobCancelledError):
    """The service stopped the job because it exceeded its maximum execution time
    (``options.max_execution_time``; reason code 1305)."""


class JobSubmissionError(QiskitRestError):
    """Submitting a job failed after every retry, and no job was created.

    ``client_tag`` is the tag the attempts carried; ``provider.jobs(job_tags=[client_tag])``
    confirms that no job exists."""

    def __init__(self, message: str, *, client_tag: str) -> None:
        self.client_tag = client_tag
        super().__init__(message)
