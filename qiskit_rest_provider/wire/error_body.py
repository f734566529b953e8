"""The Runtime API's error body: building it (the local service) and reading it (the client).

The API answers every failure with::

    {"errors": [{"code": "invalid_request", "message": "...", "more_info": "..."}], "trace": "..."}

and some endpoints with a numeric code and a ``solution``::

    {"errors": [{"code": 1234, "message": "...", "solution": "...", "more_info": "..."}], ...}

:func:`parse_error_body` also understands the legacy ``{"error": {"code", "message"}}`` body,
IAM's ``{"errorCode", "errorMessage"}`` body and the ``{"detail": ...}`` of generic frameworks.
Standard library only.
"""

from __future__ import annotations

import json
import uuid
from typing import TypedDict

from .constants import ERROR_MORE_INFO_URL

__all__ = ["ErrorBody", "ErrorEntry", "error_body", "parse_error_body"]

#: Longest message :func:`parse_error_body` keeps from a body it cannot read as an error body.
_MAX_RAW_MESSAGE = 500


class ErrorEntry(TypedDict):
    """One entry of an error body's ``errors`` list."""

    code: str | int
    message: str
    more_info: str


class ErrorBody(TypedDict):
    """The API's error body."""

    errors: list[ErrorEntry]
    trace: str


def error_body(code: str | int, message: str, trace: str | None = None) -> ErrorBody:
    """The error body for one error, with ``trace`` (a new random trace id if not given).

    The message may quote client input (a hostile tag, a lone surrogate): characters that UTF-8
    cannot encode are replaced by backslash escapes, so the body always serialises.
    """
    text = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return {
        "errors": [{"code": code, "message": text, "more_info": ERROR_MORE_INFO_URL}],
        "trace": trace or str(uuid.uuid4()),
    }


def parse_error_body(text: str) -> tuple[str | int | None, str | None, str | None, str | None]:
    """Extract ``(code, message, solution, trace)`` from an error body of any known shape.

    Unknown or non-JSON bodies give ``(None, <text, truncated>, None, None)``; an empty body gives
    all ``None``. The messages of every entry of an ``errors`` list are joined with ``"; "``.
    """
    if not text:
        return None, None, None, None
    try:
        body = json.loads(text)
    except ValueError:
        return None, text.strip()[:_MAX_RAW_MESSAGE] or None, None, None
    if not isinstance(body, dict):
        return None, text.strip()[:_MAX_RAW_MESSAGE], None, None
    trace = body.get("trace")
    trace = str(trace) if trace is not None else None
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        messages = [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
        message = "; ".join(m for m in messages if m) or None
        solution = first.get("solution")
        return first.get("code"), message, str(solution) if solution else None, trace
    legacy = body.get("error")
    if isinstance(legacy, dict):
        return legacy.get("code"), legacy.get("message"), None, trace
    if isinstance(legacy, str):
        return None, legacy, None, trace
    if "errorCode" in body or "errorMessage" in body:  # IAM
        return body.get("errorCode"), body.get("errorMessage"), None, trace
    if "detail" in body:  # generic frameworks
        detail = body["detail"]
        return (
            None,
            detail if isinstance(detail, str) else json.dumps(detail)[:_MAX_RAW_MESSAGE],
            None,
            trace,
        )
    if "message" in body:
        return body.get("code"), str(body["message"]), None, trace
    return None, text.strip()[:_MAX_RAW_MESSAGE], None, trace
