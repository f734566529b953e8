"""The local service's refusals, and the rule for writes whose failure must not spread.

:class:`ServiceError` carries the status, code and message of an API error body; the HTTP
layer (:mod:`.app`) turns it into ``{"errors": [{code, message}], "trace"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = [
    "STORAGE_RETRY_AFTER",
    "RetryLaterError",
    "ServiceError",
    "StorageUnavailableError",
    "best_effort",
]

logger = logging.getLogger(__name__)

#: Retry-After of a request refused because the storage failed, in seconds.
STORAGE_RETRY_AFTER = 5


class ServiceError(Exception):
    """An error answered to the client as ``{"errors": [{code, message}], "trace"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


class RetryLaterError(ServiceError):
    """A refusal the client may retry after ``retry_after`` seconds (sent as ``Retry-After``)."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: int) -> None:
        super().__init__(status, code, message)
        self.retry_after = max(1, int(retry_after))


class StorageUnavailableError(RetryLaterError):
    """The database failed (507 when full, 503 otherwise): this request fails, nothing else."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message, retry_after=STORAGE_RETRY_AFTER)


def best_effort(fn: Callable[..., Any], *args: Any) -> None:
    """Run a secondary write (a log line, a session timestamp); a failure is logged, not
    raised, so it cannot strand the job it belongs to."""
    try:
        fn(*args)
    except Exception:
        logger.warning("secondary write %s failed", getattr(fn, "__name__", fn), exc_info=True)
