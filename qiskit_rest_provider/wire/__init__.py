"""The Qiskit Runtime REST protocol's vocabulary, shared by the client and the local service.

Standard library only: importing this package loads no Qiskit, numpy or HTTP library, so both
halves (and the ``api`` layer) can depend on it. It starts with :mod:`.constants`; the typed
wire documents and the time/JWT helpers of issue 12 join it here.
"""

from __future__ import annotations

from .constants import (
    INTERNAL_TAG_PREFIX,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    SUBMISSION_DEDUPE_WINDOW_SECONDS,
    SUBMISSION_TAG_PREFIX,
)

__all__ = [
    "INTERNAL_TAG_PREFIX",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "SUBMISSION_DEDUPE_WINDOW_SECONDS",
    "SUBMISSION_TAG_PREFIX",
]
