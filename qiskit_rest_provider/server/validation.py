"""Option validation the service performs before queueing a job (ISA checks: :mod:`..isa`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["validate_options"]

_COMMON = {
    "dynamical_decoupling",
    "execution",
    "twirling",
    "simulator",
    "experimental",
    "default_shots",
    "environment",
    "max_execution_time",
}
_SAMPLER = _COMMON
_ESTIMATOR = _COMMON | {"default_precision", "seed_estimator", "resilience"}


def validate_options(program: str, options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first invalid option."""
    allowed = _SAMPLER if program == "sampler" else _ESTIMATOR
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"unknown option(s) for {program}: {sorted(unknown)}")
    shots = options.get("default_shots")
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise ValueError("default_shots must be an integer >= 1")
    precision = options.get("default_precision")
    if precision is not None and (
        isinstance(precision, bool) or not isinstance(precision, (int, float)) or precision <= 0
    ):
        raise ValueError("default_precision must be > 0")
    seed = options.get("seed_estimator")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError("seed_estimator must be an integer >= 0")
    for section in ("dynamical_decoupling", "execution", "twirling", "simulator", "resilience"):
        value = options.get(section)
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(f"{section} must be an object")
    sim = options.get("simulator") or {}
    seed_sim = sim.get("seed_simulator")
    if seed_sim is not None and (isinstance(seed_sim, bool) or not isinstance(seed_sim, int)):
        raise ValueError("simulator.seed_simulator must be an integer")
    resilience = options.get("resilience") or {}
    if resilience.get("pec_mitigation") and resilience.get("zne_mitigation"):
        raise ValueError("pec_mitigation and zne_mitigation cannot both be true")
    dd = options.get("dynamical_decoupling") or {}
    seq = dd.get("sequence_type")
    if seq is not None and seq not in ("XX", "XpXm", "XY4"):
        raise ValueError("dynamical_decoupling.sequence_type must be XX, XpXm or XY4")
