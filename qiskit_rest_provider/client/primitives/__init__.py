"""Qiskit V2 primitives over the REST API."""

from ..options import EstimatorOptions, SamplerOptions, Unset
from .estimator import EstimatorV2
from .sampler import SamplerV2

__all__ = ["EstimatorOptions", "EstimatorV2", "SamplerOptions", "SamplerV2", "Unset"]
