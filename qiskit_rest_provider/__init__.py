"""qiskit-rest-provider: Qiskit 2.x on IBM Quantum through the Qiskit Runtime REST API.

Everything a user needs is importable from here::

    from qiskit_rest_provider import QiskitRestProvider, SamplerV2, EstimatorV2, Session, Batch
"""

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
