"""HTTP error responses to exceptions: which :class:`~qiskit_rest_provider.errors.ApiError`
subclass a status maps to, the trace id from the body or a header, and ``Retry-After``.

Every error raised by the transport is an :class:`ApiError` (itself a :class:`QiskitRestError`)
carrying the HTTP status, the server's error code and message, and the trace id, so callers can
branch on the subclass (``NotFoundError``, ``RateLimitError``, ...) or on the attributes. The
classes are defined in :mod:`qiskit_rest_provider.errors` (the package's one exception tree)
and re-exported here. Error bodies are read by
:func:`~qiskit_rest_provider.wire.error_body.parse_error_body` (both shapes of the Runtime API's
body, the legacy and IAM shapes), re-exported here too.
"""

from __future__ import annotations

from typing import Any

from ..errors import (
    AmbiguousSubmissionError,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    QiskitRestError,
    RateLimitError,
    RedirectError,
    ServerError,
)
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
