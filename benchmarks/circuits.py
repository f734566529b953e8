"""Benchmark inputs: ISA circuits built directly on a Target's gates and couplers."""

from __future__ import annotations

from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector

__all__ = ["ansatz", "coupling_path", "random_isa"]


def coupling_path(coupling: Any, length: int) -> list[int]:
    """A simple path of ``length`` device qubits on ``coupling`` (pairs), depth first from
    qubit 0: neighbours on it are coupled, so a chain circuit laid on it is ISA."""
    neighbours: dict[int, set[int]] = {}
    for a, b in coupling:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)

    def extend(path: list[int]) -> list[int] | None:
        if len(path) == length:
            return path
        for n in sorted(neighbours[path[-1]]):
            if n not in path and (found := extend([*path, n])):
                return found
        return None

    path = extend([0])
    if path is None:
        raise ValueError(f"no simple path of {length} qubits from qubit 0")
    return path


def ansatz(target: Any, layers: int = 4) -> QuantumCircuit:
    """Hardware-efficient ansatz: per layer rz(θ) and sx on every qubit and the two-qubit gate
    on every coupler; final rotations and measurements. 127 qubits, 4 layers: ~1,900 ops."""
    twoq = next(g for g in ("ecr", "cz", "cx") if g in target.operation_names)
    n = target.num_qubits
    edges = sorted(target[twoq])
    theta = ParameterVector("θ", n * (layers + 1))
    qc = QuantumCircuit(n)
    k = 0
    for _ in range(layers):
        for q in range(n):
            qc.rz(theta[k], q)
            qc.sx(q)
            k += 1
        for a, b in edges:
            getattr(qc, twoq)(a, b)
    for q in range(n):
        qc.rz(theta[k], q)
        k += 1
    qc.measure_all()
    return qc


def random_isa(
    target: Any, num_qubits: int, depth: int, seed: int, *, measure: bool = True
) -> QuantumCircuit:
    """Random layers of rz/sx/x and two-qubit gates on the Target's couplers (ISA as built)."""
    rng = np.random.default_rng(seed)
    twoq = next(g for g in ("ecr", "cz", "cx") if g in target.operation_names)
    edges = [e for e in target[twoq] if max(e) < num_qubits]
    qc = QuantumCircuit(num_qubits)
    for _ in range(depth):
        used: set[int] = set()
        for index in rng.permutation(len(edges)):
            a, b = edges[index]
            if a not in used and b not in used and rng.random() < 0.5:
                getattr(qc, twoq)(a, b)
                used.update((a, b))
        for q in range(num_qubits):
            if q in used:
                continue
            kind = rng.integers(3)
            if kind == 0:
                qc.rz(float(rng.uniform(-np.pi, np.pi)), q)
            elif kind == 1:
                qc.sx(q)
            else:
                qc.x(q)
    if measure:
        qc.measure_all()
    return qc
