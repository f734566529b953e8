"""qiskit-rest-provider: Qiskit 2.x on IBM Quantum through the Qiskit Runtime REST API.

Everything a user needs is importable from here::

    from qiskit_rest_provider import QiskitRestProvider, SamplerV2, EstimatorV2, Session, Batch

The names are loaded on first use (PEP 562), so importing a subpackage that needs no Qiskit
(``qiskit_rest_provider.api``, ``qiskit_rest_provider.wire``) loads no Qiskit and no numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _moved

if TYPE_CHECKING:
    from .client.backend import RestBackend
    from .client.backend_run import BackendRunJob
    from .client.executor import Executor
    from .client.job import PollPolicy, RuntimeJob, wait_for_jobs
    from .client.primitives import EstimatorOptions, EstimatorV2, SamplerOptions, SamplerV2, Unset
    from .client.provider import QiskitRestProvider
    from .client.session import Batch, Session
    from .errors import (
        ApiError,
        ExecutionTimeLimitError,
        ISAValidationError,
        JobCancelledError,
        JobFailedError,
        JobTimeoutError,
        PubValidationError,
        QiskitRestError,
    )

__all__ = [
    "ApiError",
    "BackendRunJob",
    "Batch",
    "EstimatorOptions",
    "EstimatorV2",
    "ExecutionTimeLimitError",
    "Executor",
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

_moved.install()  # the deprecated module paths (see _moved.MOVED) keep working for a release

#: Where each public name lives (the module that defines or re-exports it).
_EXPORTS: dict[str, str] = {
    "ApiError": ".errors",
    "QiskitRestError": ".errors",
    "RestBackend": ".client.backend",
    "BackendRunJob": ".client.backend_run",
    "Executor": ".client.executor",
    "ExecutionTimeLimitError": ".errors",
    "ISAValidationError": ".errors",
    "JobCancelledError": ".errors",
    "JobFailedError": ".errors",
    "JobTimeoutError": ".errors",
    "PubValidationError": ".errors",
    "PollPolicy": ".client.job",
    "RuntimeJob": ".client.job",
    "wait_for_jobs": ".client.job",
    "EstimatorOptions": ".client.primitives",
    "EstimatorV2": ".client.primitives",
    "SamplerOptions": ".client.primitives",
    "SamplerV2": ".client.primitives",
    "Unset": ".client.primitives",
    "QiskitRestProvider": ".client.provider",
    "Batch": ".client.session",
    "Session": ".client.session",
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
