"""The Qiskit Runtime REST protocol's vocabulary, shared by the client and the local service.

Standard library only: importing this package loads no Qiskit, numpy or HTTP library, so both
halves (and the ``api`` layer) can depend on it. An import-linter contract in ``pyproject.toml``
keeps it so.

- :mod:`.constants`: job and session states, reason codes, limits, defaults, API versions;
- :mod:`.error_body`: the API's error body, built by the service and parsed by the client;
- :mod:`.times`: ISO 8601 timestamps as the API writes and reads them;
- :mod:`.jwt`: base64url and the IAM access token's claims;
- :mod:`.tensors`: the executor models' tensor dtypes and a bounded count of what a compressed
  tensor inflates to;
- :mod:`.options`: primitive option names, allowed values and ranges, shared by the client's
  option classes and the service's validation.
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
