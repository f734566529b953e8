"""Constants of the Runtime REST protocol as this package speaks it (standard library only).

Both the client and the local service import these, so neither writes the protocol down twice:
job and session state names, reason codes, limits, defaults, API versions and option enums.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "API_VERSIONS",
    "DD_SEQUENCE_TYPES",
    "DEFAULT_API_VERSION",
    "DEFAULT_PRECISION",
    "DEFAULT_SESSION_MAX_TTL",
    "DEFAULT_SHOTS",
    "ERROR_MORE_INFO_URL",
    "EXECUTOR_PROGRAM",
    "INTERNAL_TAG_PREFIX",
    "JOB_CANCELLED",
    "JOB_COMPLETED",
    "JOB_FAILED",
    "JOB_FINAL_STATES",
    "JOB_PENDING_STATES",
    "JOB_QUEUED",
    "JOB_RUNNING",
    "JOB_STATES",
    "MAX_COST_SECONDS",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "PROGRAM_IDS",
    "REASON_INTERRUPTED",
    "REASON_JOB_ERROR",
    "REASON_MAX_EXECUTION_TIME",
    "SESSION_ACTIVE",
    "SESSION_CLOSED",
    "SESSION_INACTIVE",
    "SESSION_MODES",
    "SESSION_MODE_BATCH",
    "SESSION_MODE_DEDICATED",
    "SESSION_OPEN",
    "SESSION_PENDING_CLOSED",
    "SESSION_PENDING_INACTIVE",
    "SUBMISSION_DEDUPE_WINDOW_SECONDS",
    "SUBMISSION_TAG_PREFIX",
    "JobState",
    "SessionMode",
]

# Job tags ---------------------------------------------------------------------------------------

#: Job tags this package adds for its own bookkeeping; the client hides them from
#: ``RuntimeJob.tags``.
INTERNAL_TAG_PREFIX: Final = "qiskit-rest:"

#: The client's submission tag: ``SUBMISSION_TAG_PREFIX`` followed by a random token, one per
#: :func:`~qiskit_rest_provider.api.submission.submit_job` call and kept across its retries. The
#: local service treats it as an idempotency key: a job created with it on the same instance within
#: :data:`SUBMISSION_DEDUPE_WINDOW_SECONDS` is returned instead of creating another.
SUBMISSION_TAG_PREFIX: Final = INTERNAL_TAG_PREFIX + "submit-"

#: How long (seconds) the local service remembers a submission tag: a job created on the same
#: instance with the same tag this recently answers a repeated submission. A day outlasts any
#: client's retries by far.
SUBMISSION_DEDUPE_WINDOW_SECONDS: Final = 24 * 3600

#: At most this many tags per job, each of 1 to ``MAX_TAG_LENGTH`` characters.
MAX_TAGS: Final = 8
MAX_TAG_LENGTH: Final = 86

# Jobs -------------------------------------------------------------------------------------------

#: A job's ``state.status`` (and top-level ``status``) as the API writes it.
JobState = Literal["Queued", "Running", "Completed", "Failed", "Cancelled"]
JOB_QUEUED: Final = "Queued"
JOB_RUNNING: Final = "Running"
JOB_COMPLETED: Final = "Completed"
JOB_FAILED: Final = "Failed"
JOB_CANCELLED: Final = "Cancelled"
#: Every job state, in lifecycle order.
JOB_STATES: Final = (JOB_QUEUED, JOB_RUNNING, JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED)
#: States a job may still leave (``pending=true`` in a job listing).
JOB_PENDING_STATES: Final = (JOB_QUEUED, JOB_RUNNING)
#: States a job never leaves.
JOB_FINAL_STATES: Final = (JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED)

#: ``state.reason_code`` of a job cancelled because it ran longer than its maximum execution
#: time (the job's ``cost``, from ``options.max_execution_time``). The only code the API
#: documents; clients raise a specific error for it.
REASON_MAX_EXECUTION_TIME: Final = 1305
#: ``state.reason_code`` the local service gives a job that failed while running or could not
#: be started (an error of the simulation, a crashed worker, a result that could not be stored).
REASON_JOB_ERROR: Final = 1500
#: ``state.reason_code`` the local service gives a job that was running when the service stopped
#: (marked failed on the next start).
REASON_INTERRUPTED: Final = 1520

#: The program that runs quantum programs (IBM's directed-execution model: circuit and samplex
#: items, raw shot data per item).
EXECUTOR_PROGRAM: Final = "executor"
#: The programs ``POST /v1/jobs`` runs (``program_id``).
PROGRAM_IDS: Final = ("sampler", "estimator", EXECUTOR_PROGRAM)

#: The longest a job may run, in seconds: the upper bound of its ``cost`` and of
#: ``options.max_execution_time``, and the ``cost`` of a job that states none (3 hours).
MAX_COST_SECONDS: Final = 10800

#: Shots of a sampler pub when neither the pub, ``params.shots`` nor ``options.default_shots``
#: gives any.
DEFAULT_SHOTS: Final = 4096
#: Target precision of an estimator pub when nothing else gives one (``1 / sqrt(4096)``).
DEFAULT_PRECISION: Final = 0.015625

#: ``options.dynamical_decoupling.sequence_type`` values.
DD_SEQUENCE_TYPES: Final = ("XX", "XpXm", "XY4")

# Sessions ---------------------------------------------------------------------------------------

#: ``mode`` of ``POST /v1/sessions``: a dedicated session or a batch.
SessionMode = Literal["dedicated", "batch"]
SESSION_MODE_DEDICATED: Final = "dedicated"
SESSION_MODE_BATCH: Final = "batch"
SESSION_MODES: Final = (SESSION_MODE_DEDICATED, SESSION_MODE_BATCH)

#: A session's ``state``: ``open`` until its first job runs, ``active`` while jobs run,
#: ``inactive`` after its interactive TTL passes idle, ``closed`` for good. IBM's service also
#: reports the transitions ``pending_inactive`` and ``pending_closed``.
SESSION_OPEN: Final = "open"
SESSION_ACTIVE: Final = "active"
SESSION_INACTIVE: Final = "inactive"
SESSION_CLOSED: Final = "closed"
SESSION_PENDING_INACTIVE: Final = "pending_inactive"
SESSION_PENDING_CLOSED: Final = "pending_closed"

#: A session's ``max_ttl`` when its creation states none, in seconds (8 hours).
DEFAULT_SESSION_MAX_TTL: Final = 28800

# API versions and errors ------------------------------------------------------------------------

#: ``IBM-API-Version`` values ``GET /v1/versions`` lists, oldest first.
API_VERSIONS: Final = ("2025-05-01", "2026-02-15", "2026-03-15", "2026-04-15")
#: The ``IBM-API-Version`` header the client sends by default (the newest it speaks).
DEFAULT_API_VERSION: Final = API_VERSIONS[-1]

#: ``more_info`` of every entry of the API's error body.
ERROR_MORE_INFO_URL: Final = "https://quantum.cloud.ibm.com/docs/errors"
