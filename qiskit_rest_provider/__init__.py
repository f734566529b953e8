"""qiskit-rest-provider: Qiskit 2.x on IBM Quantum through the Qiskit Runtime REST API.

Everything a user needs is importable from here::

    from qiskit_rest_provider import QiskitRestProvider, SamplerV2, EstimatorV2, Session, Batch

The names are loaded on first use (PEP 562), so importing a subpackage that needs no Qiskit
(``qiskit_rest_provider.api``, ``qiskit_rest_provider.wire``) loads no Qiskit and no numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api.errors import ApiError, QiskitRestError
    from .backend import RestBackend
    from .backend_run import BackendRunJob
    from .exceptions import (
        ExecutionTimeLimitError,
        ISAValidationError,
        JobCancelledError,
        JobFailedError,
        JobTimeoutError,
        PubValidationError,
    )
    from .job import PollPolicy, RuntimeJob, wait_for_jobs
    from .primitives import EstimatorOptions, EstimatorV2, SamplerOptions, SamplerV2, Unset
    from .provider import QiskitRestProvider
    from .session import Batch, Session

__all__ = [
    "ApiError",
    "BackendRunJob",
    "Batch",
    "EstimatorOptions",
    "EstimatorV2",
    "ExecutionTimeLimitError",
    "ISAValidationError",
    "JobCancelledError",
    "JobFailedError",
    "JobTimeoutError",
    "PollPolicy",
    "PubValidationError",
    "QiskitRestError",
    "QiskitRestProvider",
    "RestBackend",
    "RuntimeJob",
    "SamplerOptions",
    "SamplerV2",
    "Session",
    "Unset",
    "wait_for_jobs",
]

#: Where each public name lives (the module that defines or re-exports it).
_EXPORTS: dict[str, str] = {
    "ApiError": ".api.errors",
    "QiskitRestError": ".api.errors",
    "RestBackend": ".backend",
    "BackendRunJob": ".backend_run",
    "ExecutionTimeLimitError": ".exceptions",
    "ISAValidationError": ".exceptions",
    "JobCancelledError": ".exceptions",
    "JobFailedError": ".exceptions",
    "JobTimeoutError": ".exceptions",
    "PubValidationError": ".exceptions",
    "PollPolicy": ".job",
    "RuntimeJob": ".job",
    "wait_for_jobs": ".job",
    "EstimatorOptions": ".primitives",
    "EstimatorV2": ".primitives",
    "SamplerOptions": ".primitives",
    "SamplerV2": ".primitives",
    "Unset": ".primitives",
    "QiskitRestProvider": ".provider",
    "Batch": ".session",
    "Session": ".session",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and keep the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    """The module's attributes, the public names not loaded yet included."""
    return sorted({*globals(), *__all__})
