"""The exception hierarchy for everything that crosses the wire.

Every error raised by the transport is an :class:`ApiError` (itself a :class:`QiskitRestError`)
carrying the HTTP status, the server's error code and message, and the trace id, so callers can
branch on the subclass (``NotFoundError``, ``RateLimitError``, ...) or on the attributes.

Error bodies are read by :func:`~qiskit_rest_provider.wire.error_body.parse_error_body` (both
shapes of the Runtime API's body, the legacy and IAM shapes), re-exported here.
"""

from __future__ import annotations

from typing import Any

from ..wire.error_body import parse_error_body

__all__ = [
    "AmbiguousSubmissionError",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "QiskitRestError",
    "RateLimitError",
    "RedirectError",
    "ServerError",
    "error_for_response",
    "parse_error_body",
    "parse_retry_after",
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


_STATUS_CLASSES: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}

TRACE_HEADERS = ("x-request-id", "x-correlation-id", "uber-trace-id", "x-global-transaction-id")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime as _dt

    now = _dt.datetime.now(when.tzinfo or _dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def error_for_response(
    status_code: int,
    text: str,
    headers: Any,
    *,
    method: str | None = None,
    path: str | None = None,
) -> ApiError:
    """Build the right :class:`ApiError` subclass for an HTTP error response."""
    code, message, solution, trace = parse_error_body(text)
    if trace is None:
        for name in TRACE_HEADERS:
            value = headers.get(name) if headers is not None else None
            if value:
                trace = str(value)
                break
    if message is None:
        message = _default_message(status_code)
    kwargs: dict[str, Any] = dict(
        status_code=status_code,
        code=code,
        trace_id=trace,
        method=method,
        path=path,
        solution=solution,
    )
    if status_code == 429:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else ApiError
    return cls(message, **kwargs)


def _default_message(status_code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Unexpected response"
