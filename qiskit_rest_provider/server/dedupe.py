"""Idempotent job submission: at most one job per client submission tag.

A client tags a job-creation request with a tag starting with ``SUBMISSION_TAG_PREFIX``; a
retry of the same request (after a lost response, say) is answered with the job the first one
created instead of creating a second job.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..wire.constants import (
    MAX_TAG_LENGTH,
    MAX_TAGS,
    SUBMISSION_DEDUPE_WINDOW_SECONDS,
    SUBMISSION_TAG_PREFIX,
)
from ..wire.times import to_utc_iso, utcnow_iso
from .errors import ServiceError, best_effort
from .ids import ID_ALPHABET, ID_LENGTH, new_id
from .store import DuplicateJobError, Store

__all__ = ["CreateJob", "SubmissionGate", "new_job_id", "submission_job_ids", "submission_key"]

logger = logging.getLogger(__name__)

#: Creates a job: ``(instance, body, caller) -> creation response``.
CreateJob = Callable[[str, Any, "str | None"], dict[str, Any]]
#: How long a repeated submission waits for the first one (still validating) to finish.
_SUBMISSION_WAIT_SECONDS = 60.0
#: Repeated submissions that may wait for one key at a time; more are refused (409) rather
#: than let one key tie up the request threads.
_SUBMISSION_MAX_WAITERS = 4
#: Job ids derived from one submission tag (see :func:`submission_job_ids`).
_SUBMISSION_ID_SLOTS = 8


def submission_key(body: Any) -> str | None:
    """The client's submission tag in a job-creation body, if it carries a usable one.

    Cheap and total on hostile bodies: anything malformed yields ``None`` and is refused by the
    ordinary validation afterwards.
    """
    if not isinstance(body, Mapping):
        return None
    tags = body.get("tags")
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        return None
    for tag in tags:
        if (
            isinstance(tag, str)
            and tag.startswith(SUBMISSION_TAG_PREFIX)
            and len(tag) <= MAX_TAG_LENGTH
        ):
            try:
                tag.encode("utf-8")  # a lone surrogate cannot be looked up in SQLite
            except UnicodeEncodeError:
                return None
            return tag
    return None


def submission_job_ids(instance: str, key: str) -> list[str]:
    """The ids a job created with submission tag ``key`` on ``instance`` may get.

    Deriving the id from the key makes finding a submitted job a few primary-key lookups,
    however many jobs the store holds, and it survives restarts. A job takes the first free id;
    the later ones serve when an earlier holder no longer counts (created before the window, or
    its tags were changed). Each looks like any other job id (20 characters of ``[a-z0-9]``,
    about 103 bits) and reveals nothing beyond what its instance's tokens may read anyway.
    """
    ids = []
    for slot in range(_SUBMISSION_ID_SLOTS):
        text = f"{instance}\n{key}\n{slot}".encode("utf-8", "surrogatepass")
        number = int.from_bytes(hashlib.sha256(text).digest()[:16], "big")
        chars = []
        for _ in range(ID_LENGTH):
            number, digit = divmod(number, len(ID_ALPHABET))
            chars.append(ID_ALPHABET[digit])
        ids.append("".join(chars))
    return ids


def new_job_id(store: Store, instance: str, body: Any) -> str:
    """The id of a job being created: the first free id derived from its submission tag when it
    carries one, random otherwise (or when all derived ids are taken).

    Raises:
        DuplicateJobError: a derived id holds a job that this tag created within the window:
            another service process sharing the store created it since this request looked.
    """
    key = submission_key(body)
    if key is not None:
        oldest = _window_start()
        for job_id in submission_job_ids(instance, key):
            row = store.job(job_id)
            if row is None:
                return job_id
            if _counts(row, instance, key, oldest):
                raise DuplicateJobError(job_id)
    return new_id()


def _window_start() -> str:
    """The creation time from which a job with a submission tag counts as submitted."""
    since = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(
        seconds=SUBMISSION_DEDUPE_WINDOW_SECONDS
    )
    return to_utc_iso(since)


def _counts(row: Mapping[str, Any], instance: str, key: str, oldest: str) -> bool:
    """Whether job ``row`` is the one submission tag ``key`` created on ``instance``."""
    return bool(
        row["instance"] == instance and row["created"] >= oldest and key in json.loads(row["tags"])
    )


class _Submission:
    """A submission key whose first request is being processed."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.waiters = 0


class SubmissionGate:
    """Makes job creation idempotent on the client's submission tag.

    A job-creation request whose tags hold a tag starting with ``SUBMISSION_TAG_PREFIX`` claims
    the key ``(instance, tag)`` before anything is validated. While it holds the claim, a
    request with the same key waits for it; the owner then looks the key up in the store (job
    ids are derived from the key, so this is a few primary-key lookups; a job of this instance
    created within ``SUBMISSION_DEDUPE_WINDOW_SECONDS`` counts) and answers the job it finds,
    or creates the job and releases the claim only after the job is stored. So a key yields at
    most one job in the window, however the requests interleave; and if the first request is
    refused, a waiting one proceeds on its own. The state is one small entry per submission
    being processed; nothing is kept once it is answered.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Submission] = {}
        self._waited = 0

    def waited(self) -> int:
        """How many repeated submissions have waited for a first one since the gate started."""
        with self._lock:
            return self._waited

    def in_progress(self) -> int:
        """How many submission keys a request is processing right now (claimed, not answered)."""
        with self._lock:
            return len(self._pending)

    def create_once(
        self, instance: str, body: Any, caller: str | None, create: CreateJob
    ) -> dict[str, Any]:
        """``create(instance, body, caller)``, unless ``body``'s submission tag already created
        a job of ``instance`` in the window: then that job's creation response."""
        key = submission_key(body)
        if key is None:
            return create(instance, body, caller)
        slot = (instance, key)
        while True:
            with self._lock:
                pending = self._pending.get(slot)
                if pending is None:
                    claim = self._pending[slot] = _Submission()
                    break
                if pending.waiters >= _SUBMISSION_MAX_WAITERS:
                    raise _submission_in_progress(key)
                pending.waiters += 1
                self._waited += 1
            try:
                finished = pending.done.wait(_SUBMISSION_WAIT_SECONDS)
            finally:
                with self._lock:
                    pending.waiters -= 1
            if not finished:
                raise _submission_in_progress(key)
            # The first request finished: its job is in the store now, or it was refused and
            # this request claims the key itself. Either way, go round again.
        try:
            existing = self._submitted_job(instance, key)
            if existing is not None:
                response = _repeated_submission(existing, body, key)
                # Visible in the job's logs: a client's retry met the job it had created.
                best_effort(
                    self.store.append_log,
                    existing["id"],
                    f"{utcnow_iso()} repeated submission answered with this job",
                )
                return response
            try:
                return create(instance, body, caller)
            except DuplicateJobError:
                # another service process sharing the store created this submission's job
                # between the lookup and the insert: answer it, as a repeat
                existing = self._submitted_job(instance, key)
                if existing is None:
                    raise _submission_in_progress(key) from None
                return _repeated_submission(existing, body, key)
        finally:
            with self._lock:
                del self._pending[slot]
            claim.done.set()

    def _submitted_job(self, instance: str, key: str) -> dict[str, Any] | None:
        """The job of ``instance`` created with submission tag ``key`` within the window."""
        oldest = _window_start()
        # Every slot is checked (a few lookups by primary key): a deleted job frees an early slot.
        for job_id in submission_job_ids(instance, key):
            row = self.store.job(job_id, instance)
            if row is not None and _counts(row, instance, key, oldest):
                return row
        return None


def _submission_in_progress(key: str) -> ServiceError:
    return ServiceError(
        409,
        "submission_in_progress",
        f"A job submission tagged {key!r} is still being processed; retry shortly.",
    )


def _repeated_submission(row: Mapping[str, Any], body: Any, key: str) -> dict[str, Any]:
    """The creation response of the job ``row``, answered again to a repeated submission."""
    if row["program"] != body.get("program_id") or row["backend"] != body.get("backend"):
        raise ServiceError(
            409,
            "submission_tag_reused",
            f"Submission tag {key!r} already created job {row['id']} "
            f"({row['program']} on {row['backend']}); a different job needs a new tag.",
        )
    logger.info("repeated submission %s answered with job %s", key, row["id"])
    response: dict[str, Any] = {"id": row["id"], "backend": row["backend"]}
    if row["session_id"]:
        response["session_id"] = row["session_id"]
    if row["private"]:
        response["private"] = True
    return response
