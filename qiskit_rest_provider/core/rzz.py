"""Fold ``rzz`` angles into the hardware range ``[0, π/2]`` for the transpiler.

A Target whose ``rzz`` carries angle bounds makes Qiskit's preset pass managers run
``WrapAngles``, which looks the gate up in ``WrapAngles.DEFAULT_REGISTRY``. Without an entry,
transpiling an out-of-range ``rzz`` fails with ``KeyError``. :func:`register_rzz_wrapper` adds one.

With ``w`` the angle wrapped into ``(-π, π]`` and ``X₀`` an X on the first qubit:

* ``0 ≤ w ≤ π/2``: ``rzz(w)``
* ``-π/2 ≤ w < 0``: ``X₀ · rzz(-w) · X₀``
* ``π/2 < w ≤ π``: ``X₀ · rzz(π - w) · X₀ · rz(π)⊗rz(π)``
* ``-π ≤ w < -π/2``: ``rzz(w + π) · rz(π)⊗rz(π)``

and the global phase that makes each exactly equal to ``rzz(θ)`` is computed from the matrices.
"""

from __future__ import annotations

import cmath
import math
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qiskit.circuit import QuantumCircuit
from qiskit.converters import circuit_to_dag
from qiskit.dagcircuit import DAGCircuit

__all__ = ["fold_rzz", "register_rzz_wrapper"]

_LOCK = threading.Lock()
_REGISTERED = False
_HALF_PI = math.pi / 2


def _rzz_matrix(theta: float) -> NDArray[Any]:
    phase = np.exp(-0.5j * theta)
    conj = np.exp(0.5j * theta)
    return np.diag([phase, conj, conj, phase])


def fold_rzz(angle: float) -> QuantumCircuit:
    """A 2-qubit circuit equal to ``rzz(angle)`` that uses ``rzz`` only within ``[0, π/2]``."""
    theta = float(angle)
    wrapped = math.remainder(theta, 2 * math.pi)  # in [-π, π]
    if wrapped == -math.pi:
        wrapped = math.pi
    qc = QuantumCircuit(2)
    if 0.0 <= wrapped <= _HALF_PI:
        qc.rzz(wrapped, 0, 1)
    elif -_HALF_PI <= wrapped < 0.0:
        qc.x(0)
        qc.rzz(-wrapped, 0, 1)
        qc.x(0)
    elif wrapped > _HALF_PI:
        qc.x(0)
        qc.rzz(math.pi - wrapped, 0, 1)
        qc.x(0)
        qc.rz(math.pi, 0)
        qc.rz(math.pi, 1)
    else:
        qc.rzz(wrapped + math.pi, 0, 1)
        qc.rz(math.pi, 0)
        qc.rz(math.pi, 1)
    # Fix the global phase exactly: compare one diagonal entry of both unitaries.
    from qiskit.quantum_info import Operator

    built = Operator(qc).data
    wanted = _rzz_matrix(theta)
    ratio = wanted[0, 0] / built[0, 0] if abs(built[0, 0]) > 1e-12 else wanted[1, 1] / built[1, 1]
    qc.global_phase = cmath.phase(ratio)
    return qc


def _wrapper(angles: list[float], qubits: list[object]) -> DAGCircuit:
    return circuit_to_dag(fold_rzz(float(angles[0])))


def register_rzz_wrapper() -> None:
    """Register the ``rzz`` folding callback with Qiskit's ``WrapAngles`` (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    with _LOCK:
        if _REGISTERED:
            return
        from qiskit.transpiler.passes.utils.wrap_angles import WrapAngles

        WrapAngles.DEFAULT_REGISTRY.add_wrapper("rzz", _wrapper)
        _REGISTERED = True
