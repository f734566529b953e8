"""Submitting a job exactly once, even when the network fails at the worst moment.

``POST /v1/jobs`` is not idempotent: if the connection drops after the request was sent, the
service may or may not have created the job, and blindly sending it again could run (and bill)
it twice. :func:`submit_job` attaches a unique client tag to the job; when a submission fails
ambiguously or with a 5xx, it looks the tag up (``GET /v1/jobs?tags=...``, itself retried)
before trying again, and returns the job that exists instead of creating a second one.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .api.client import RuntimeRestClient
from .api.errors import (
    AmbiguousSubmissionError,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    ServerError,
)
from .exceptions import JobSubmissionError

__all__ = ["INTERNAL_TAG_PREFIX", "is_internal_tag", "submit_job"]

logger = logging.getLogger(__name__)

#: Tags this package adds for its own bookkeeping (hidden from ``RuntimeJob.tags``).
INTERNAL_TAG_PREFIX = "qiskit-rest:"
_SUBMIT_PREFIX = INTERNAL_TAG_PREFIX + "submit-"
_MAX_TAGS = 8


def is_internal_tag(tag: str) -> bool:
    return tag.startswith(INTERNAL_TAG_PREFIX)


def submit_job(
    client: RuntimeRestClient,
    body: Mapping[str, Any],
    *,
    attempts: int = 6,
    lookup_delays: tuple[float, ...] = (0.0, 0.5),
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Create the job described by ``body`` once; returns the create response
    (``{"id", "backend", ...}``) of the job that exists.

    Raises:
        JobSubmissionError: every attempt failed and no job with the client tag exists.
        ApiError: the service rejected the job (4xx); nothing to reconcile.
    """
    tags = [str(t) for t in body.get("tags") or ()]
    if len(tags) >= _MAX_TAGS:  # no room for the client tag: a single, unreconciled attempt
        return client.create_job(body)
    tag = f"{_SUBMIT_PREFIX}{uuid.uuid4().hex[:24]}"
    tagged = {**body, "tags": [*tags, tag]}
    last: ApiError | None = None
    for attempt in range(1, attempts + 1):
        try:
            return client.create_job(tagged)
        except (AmbiguousSubmissionError, ServerError) as exc:
            last = exc
            found = _lookup(client, tag, lookup_delays, sleep)
            if found is not None:
                logger.info(
                    "job submission %s failed (%s) but the job exists: %s", tag, exc, found["id"]
                )
                return found
        except (ApiConnectionError, ApiTimeoutError) as exc:  # never reached the service
            last = exc
        if attempt < attempts:
            delay = backoff * 2 ** (attempt - 1)
            logger.info(
                "job submission %s failed (%s); attempt %d in %.2f s", tag, last, attempt + 1, delay
            )
            sleep(delay)
    raise JobSubmissionError(
        f"submitting the job failed {attempts} times ({last}); no job tagged {tag} exists, "
        "so none was created",
        client_tag=tag,
    ) from last


def _lookup(
    client: RuntimeRestClient,
    tag: str,
    delays: tuple[float, ...],
    sleep: Callable[[float], None],
) -> dict[str, Any] | None:
    """The job carrying ``tag``, looked up after each delay (the service may still be creating
    it when the connection dropped)."""
    for delay in delays:
        if delay:
            sleep(delay)
        page = client.list_jobs(limit=1, tags=[tag])
        jobs = page.get("jobs") or []
        if jobs:
            job = jobs[0]
            return {
                "id": job["id"],
                "backend": job.get("backend"),
                "session_id": job.get("session_id"),
            }
    return None
