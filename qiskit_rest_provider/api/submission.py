"""Submitting a job exactly once, even when the network fails at the worst moment.

``POST /v1/jobs`` is not idempotent by HTTP's rules: if the connection drops after the request
was sent, the service may or may not have created the job, or may still be creating it (a large
job takes seconds to validate), and a careless retry could run (and bill) it twice.

:func:`submit_job` attaches a unique *submission tag* (``qiskit-rest:submit-`` and 24 random hex
digits, :data:`~qiskit_rest_provider.wire.constants.SUBMISSION_TAG_PREFIX`) to the job, keeps
the same tag on every attempt, and after a failure that may have created the job (the
connection was lost after the request was sent, or a 5xx) does two things:

1. **Looks the tag up** (``GET /v1/jobs?tags=…``) repeatedly over a lookup window (``0, 0.25,
   0.5, 1, 2`` s by default, 3.75 s in all) that covers a service's processing time, and returns
   the job it finds.
2. Only if no job appeared, **submits the same tagged body again**.

The guarantee:

* **Against a service that deduplicates on the submission tag**, such as this package's local
  service (``qiskit-rest serve``, ``LocalRuntimeServer``), exactly one job is created under any
  timing. The service treats the tag as an idempotency key: a submission carrying the tag of a
  job created on the same instance within a day returns that job (same id, 200), and one that
  arrives while the first is still being validated waits for it. Re-posting the same tagged
  body is therefore always safe; the lookup only saves a request.
* **Against a service that does not deduplicate** (IBM's Qiskit Runtime does not document an
  idempotency key), exactly once relies on the service making a job it accepted visible to
  ``GET /v1/jobs?tags=`` within the lookup window after the client saw the failure. A service
  that takes longer than that to create the job (a gateway that timed out long before the
  upstream finished) can still end up with two jobs carrying the same submission tag; widen
  ``lookup_delays`` for such a service. Each job then still carries the tag, so
  ``provider.jobs(job_tags=[tag])`` finds both.

If no attempt succeeds and no job with the tag exists, :class:`JobSubmissionError` names the
tag. A body that already holds the maximum number of tags leaves no room for the submission
tag and is sent once, without reconciliation.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import JobSubmissionError
from ..wire.constants import INTERNAL_TAG_PREFIX, MAX_TAGS, SUBMISSION_TAG_PREFIX
from ..wire.models import JobCreated
from .client import RuntimeRestClient
from .errors import (
    AmbiguousSubmissionError,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    ConflictError,
    ServerError,
)

__all__ = ["DEFAULT_LOOKUP_DELAYS", "INTERNAL_TAG_PREFIX", "is_internal_tag", "submit_job"]

logger = logging.getLogger(__name__)

#: Waits (seconds) before each look-up of the submission tag after an ambiguous failure: the
#: window (3.75 s) covers the time a service takes to validate and store a large job.
DEFAULT_LOOKUP_DELAYS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)

#: The local service's answer while an earlier request with the same submission tag is still
#: being processed (the re-post comes back after a backoff and gets the job).
_IN_PROGRESS = "submission_in_progress"


def is_internal_tag(tag: str) -> bool:
    """Whether ``tag`` is one of this package's bookkeeping tags (hidden from users)."""
    return tag.startswith(INTERNAL_TAG_PREFIX)


def submit_job(
    client: RuntimeRestClient,
    body: Mapping[str, Any],
    *,
    attempts: int = 6,
    lookup_delays: tuple[float, ...] = DEFAULT_LOOKUP_DELAYS,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> JobCreated:
    """Create the job described by ``body`` once; returns the create response
    (``{"id", "backend", ...}``) of the job that exists.

    Args:
        client: The REST client to submit with.
        body: The ``POST /v1/jobs`` body (its ``tags`` are kept; the submission tag is added).
        attempts: Submissions at most.
        lookup_delays: Waits before each look-up of the submission tag after a failure that
            may have created the job; their sum is the lookup window.
        backoff: Wait before the second attempt, doubling for each further one.
        sleep: The function that waits (replaceable for tests).

    Raises:
        JobSubmissionError: every attempt failed and no job with the submission tag exists.
        AmbiguousSubmissionError: the job may exist but the tag could not be looked up; its
            ``client_tag`` finds it later.
        ApiError: the service rejected the job (4xx); nothing to reconcile.
    """
    tags = [str(t) for t in body.get("tags") or ()]
    if len(tags) >= MAX_TAGS:  # no room for the submission tag: a single, unreconciled attempt
        return client.create_job(body)
    tag = f"{SUBMISSION_TAG_PREFIX}{uuid.uuid4().hex[:24]}"
    # The same tagged body on every attempt: the tag is what lets the service recognise a
    # repeated submission, and what the look-up searches for.
    tagged = {**body, "tags": [*tags, tag]}
    last: ApiError | None = None
    for attempt in range(1, attempts + 1):
        try:
            return client.create_job(tagged)
        except (AmbiguousSubmissionError, ServerError) as exc:
            last = exc
            found = _lookup(client, tag, lookup_delays, sleep, exc)
            if found is not None:
                logger.info(
                    "job submission %s failed (%s) but the job exists: %s", tag, exc, found["id"]
                )
                return found
        except ConflictError as exc:
            if exc.code != _IN_PROGRESS:
                raise
            last = exc  # an earlier attempt is still being validated: ask again after a pause
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
    failure: ApiError,
) -> JobCreated | None:
    """The job carrying ``tag``, looked up after each delay (the service may still be creating
    it when the connection dropped); ``None`` if it did not appear within the window."""
    for delay in delays:
        if delay:
            sleep(delay)
        try:
            page = client.list_jobs(limit=1, tags=[tag])
        except ApiError as exc:  # the look-up itself failed (after its own retries)
            raise AmbiguousSubmissionError(
                f"the job submission failed ({failure}) and looking up its tag {tag} failed "
                f"too ({exc}); the job may exist: look for that tag",
                client_tag=tag,
                method="POST",
                path="/v1/jobs",
            ) from exc
        jobs = page.get("jobs") or []
        if jobs:
            job = jobs[0]
            return {
                "id": job["id"],
                "backend": job.get("backend", ""),
                "session_id": job.get("session_id"),
            }
    return None
