"""Constants of the Runtime REST protocol as this package speaks it (standard library only).

Both the client and the local service import these, so neither writes the protocol down twice.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "INTERNAL_TAG_PREFIX",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "SUBMISSION_DEDUPE_WINDOW_SECONDS",
    "SUBMISSION_TAG_PREFIX",
]

#: Job tags this package adds for its own bookkeeping; the client hides them from
#: ``RuntimeJob.tags``.
INTERNAL_TAG_PREFIX: Final = "qiskit-rest:"

#: The client's submission tag: ``SUBMISSION_TAG_PREFIX`` followed by a random token, one per
#: :func:`~qiskit_rest_provider.submission.submit_job` call and kept across its retries. The local
#: service treats it as an idempotency key: a job created with it on the same instance within
#: :data:`SUBMISSION_DEDUPE_WINDOW_SECONDS` is returned instead of creating another.
SUBMISSION_TAG_PREFIX: Final = INTERNAL_TAG_PREFIX + "submit-"

#: How long (seconds) the local service remembers a submission tag: a job created on the same
#: instance with the same tag this recently answers a repeated submission. A day outlasts any
#: client's retries by far.
SUBMISSION_DEDUPE_WINDOW_SECONDS: Final = 24 * 3600

#: At most this many tags per job, each of 1 to ``MAX_TAG_LENGTH`` characters.
MAX_TAGS: Final = 8
MAX_TAG_LENGTH: Final = 86
