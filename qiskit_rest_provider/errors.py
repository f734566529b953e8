"""Every exception qiskit-rest-provider raises, in one tree (standard library only).

::

    QiskitRestError                      root: catch this for any failure of the package
    ├── ApiError                         anything that crossed the wire: .status_code, .code,
    │   │                                .message, .trace_id, .method, .path, .solution
    │   ├── BadRequestError              400
    │   ├── AuthenticationError          401, or the IAM token exchange failed
    │   ├── ForbiddenError               403
    │   ├── NotFoundError                404
    │   ├── ConflictError                409
    │   ├── RateLimitError               429 (.retry_after)
    │   ├── ServerError                  5xx
    │   ├── RedirectError                a 3xx the client refuses to follow
    │   ├── ApiConnectionError           no response: refused, reset, DNS, TLS
    │   │   └── ApiTimeoutError          connect/read timeout or the request's deadline
    │   └── AmbiguousSubmissionError     a job submission may or may not have been created
    ├── AccountError (ValueError)        an account is invalid, or cannot be saved or loaded
    │   └── AccountNotFoundError
    ├── BackendDataError (ValueError)    configuration/properties cannot become a Target
    ├── PubValidationError (ValueError)  a pub cannot be submitted as given
    │   └── ISAValidationError           a circuit is not ISA for the backend's Target
    ├── PubError (ValueError)            a wire pub cannot be decoded
    ├── QASM3Error (ValueError)          OpenQASM 3 text cannot be read or written
    │   └── QASM3LimitError              a program exceeds a reader limit
    ├── ResultDecodeError (ValueError)   a result payload is malformed
    ├── JobSubmissionError               a submission failed for good; no job was created
    ├── JobFailedError                   the job ended Failed (.job_id, .reason_code)
    ├── JobCancelledError                the job was cancelled (.job_id, .reason_code)
    │   └── ExecutionTimeLimitError      ... by its maximum execution time (reason 1305)
    └── JobTimeoutError (TimeoutError)   waiting for a job exceeded the caller's timeout

The HTTP status mapping lives with the transport in :mod:`qiskit_rest_provider.api.errors`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MALFORMED_INPUT_ERRORS",
    "AccountError",
    "AccountNotFoundError",
    "AmbiguousSubmissionError",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "BackendDataError",
    "BadRequestError",
    "ConflictError",
    "ExecutionTimeLimitError",
    "ForbiddenError",
    "ISAValidationError",
    "JobCancelledError",
    "JobFailedError",
    "JobSubmissionError",
    "JobTimeoutError",
    "NotFoundError",
    "PubError",
    "PubValidationError",
    "QASM3Error",
    "QASM3LimitError",
    "QiskitRestError",
    "RateLimitError",
    "RedirectError",
    "ResultDecodeError",
    "ServerError",
]


class QiskitRestError(Exception):
    """Base class of every exception raised by qiskit-rest-provider."""


class ApiError(QiskitRestError):
    """An error reported by (or while talking to) the Runtime REST API.

    Attributes:
        status_code: HTTP status, or ``None`` when no response was received.
        code: The server's error code (a string or an int), if it sent one.
        message: The server's error message, or a description of the failure.
        trace_id: The server's trace id (body ``trace`` or a trace header), if any.
        method: HTTP method of the failed request.
        path: URL path of the failed request (never a query string or credentials).
        solution: The server's suggested solution, if it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | int | None = None,
        trace_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        solution: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.code = code
        self.trace_id = trace_id
        self.method = method
        self.path = path
        self.solution = solution
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        status = f"HTTP {self.status_code} " if self.status_code is not None else ""
        code = f"[{self.code}] " if self.code not in (None, "") else ""
        text = f"{where}{status}{code}{self.message}"
        if self.solution:
            text += f" Solution: {self.solution}"
        if self.trace_id:
            text += f" (trace id {self.trace_id})"
        return text


class BadRequestError(ApiError):
    """HTTP 400: the request was rejected as invalid (bad payload, closed session, ...)."""


class AuthenticationError(ApiError):
    """HTTP 401, or the IAM token exchange failed: credentials missing, invalid or expired."""


class ForbiddenError(ApiError):
    """HTTP 403: the credentials may not use this instance or operation."""


class NotFoundError(ApiError):
    """HTTP 404: unknown job, session or backend (or one owned by another instance)."""


class ConflictError(ApiError):
    """HTTP 409: the operation conflicts with the resource's state (e.g. cancel a finished job)."""


class RateLimitError(ApiError):
    """HTTP 429: too many requests. ``retry_after`` holds the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(ApiError):
    """HTTP 5xx: the service failed (after any retries the transport was allowed to make)."""


class RedirectError(ApiError):
    """The server answered a redirect (``status_code`` is the 3xx) that the client refuses to
    follow: any redirect of an IAM token request or of a request other than GET/HEAD, a redirect
    to another origin (scheme, host and port), or too many redirects. Credentials and request
    bodies are never re-sent to a redirect target of another origin."""


class ApiConnectionError(ApiError):
    """No response was received: connection refused, reset, DNS or TLS failure."""


class ApiTimeoutError(ApiConnectionError):
    """The connect or read timeout, or the request's overall deadline, expired.

    The deadline bounds the whole request (connecting, sending, waiting for and reading the
    headers and the body, and any retries), so a server that trickles its answer cannot hold
    the caller past it."""


class AmbiguousSubmissionError(ApiError):
    """A non-idempotent request may or may not have been processed by the server.

    Raised when the connection failed after a job submission was sent: the job may exist.
    ``client_tag`` is the unique tag the client attached, to look the job up.
    """

    def __init__(self, message: str, *, client_tag: str | None = None, **kwargs: Any) -> None:
        self.client_tag = client_tag
        super().__init__(message, **kwargs)


class AccountError(QiskitRestError, ValueError):
    """An account is invalid, or cannot be saved or loaded."""


class AccountNotFoundError(AccountError):
    """No account matches what was asked for."""


class PubError(QiskitRestError, ValueError):
    """A pub cannot be decoded; the message names the pub and the problem."""


class QASM3Error(QiskitRestError, ValueError):
    """The OpenQASM 3 text cannot be read (or the circuit cannot be written)."""


class QASM3LimitError(QASM3Error):
    """The program exceeds one of the reader's limits (``ReaderLimits``, the width)."""


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
