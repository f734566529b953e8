"""Validation the service performs before queueing a job: options and ISA."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from qiskit.circuit import ParameterExpression, QuantumCircuit
from qiskit.transpiler import Target

__all__ = ["check_isa", "validate_options"]

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
_EXEMPT = frozenset({"barrier", "store"})


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


def check_isa(circuit: QuantumCircuit, target: Target) -> str | None:
    """A description of the first non-ISA instruction, or None if the circuit is ISA."""
    return _check(circuit, target, list(range(circuit.num_qubits)))


def _check(circuit: QuantumCircuit, target: Target, qubit_map: list[int]) -> str | None:
    index = {q: qubit_map[i] for i, q in enumerate(circuit.qubits)}
    for inst in circuit.data:
        op = inst.operation
        name = op.name
        if name in _EXEMPT:
            continue
        qargs = tuple(index[q] for q in inst.qubits)
        if any(q >= target.num_qubits for q in qargs):
            return f"{name} on qubits {list(qargs)}: the backend has {target.num_qubits} qubits"
        if hasattr(op, "blocks") and op.blocks:
            if name not in target.operation_names:
                return f"{name} (control flow) is not supported by the backend"
            for block in op.blocks:
                problem = _check(block, target, list(qargs))
                if problem:
                    return f"inside {name}: {problem}"
            continue
        if not target.instruction_supported(name, qargs):
            if name not in target.operation_names:
                return f"{name} on qubits {list(qargs)} is not in the backend's instruction set"
            return f"{name} on qubits {list(qargs)} is not supported on those qubits"
        if name == "rzz" and op.params:
            angle = op.params[0]
            if not isinstance(angle, ParameterExpression) or not angle.parameters:
                value = float(angle)
                if not (0 <= value <= math.pi / 2 + 1e-10):
                    return f"rzz on qubits {list(qargs)} has angle {value} outside [0, pi/2]"
    return None
