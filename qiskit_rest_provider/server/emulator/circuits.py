"""Reducing a device-wide circuit to what the emulator simulates, and reading its layout.

Circuits reach the service on all of a device's qubits (156 on a Heron); the emulator
simulates only the qubits an instruction acts on, relabelled ``0..k-1``, and keeps their
device indices to look up their noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from qiskit.circuit import ControlFlowOp, QuantumCircuit
from qiskit.circuit.library import Barrier

__all__ = ["active_qubits", "clbit_qubits", "compact", "is_fixed_delay"]


def is_fixed_delay(operation: Any) -> bool:
    """A delay whose duration is a number (not a parameter or a stretch)."""
    return operation.name == "delay" and all(
        isinstance(p, (int, float, np.integer, np.floating)) for p in operation.params
    )


def active_qubits(
    circuit: QuantumCircuit, *, delays_idle: bool = False, measures_idle: bool = False
) -> set[int]:
    """Indices of the qubits an instruction other than a barrier touches.

    With ``delays_idle``, fixed-length delays do not count either: a qubit in |0> stays in |0>
    under a delay (relaxation towards the ground state leaves |0> alone, and a controlled
    phase with a neighbour does nothing to it). Resets count. Measurements count unless
    ``measures_idle``: a qubit that is only measured reads 0 (before readout error), which the
    sampler fills in without simulating it (``measure_all()`` on a 156-qubit device).
    """
    active: set[int] = set()
    for inst in circuit.data:
        operation = inst.operation
        if operation.name == "barrier" or (delays_idle and is_fixed_delay(operation)):
            continue
        if measures_idle and operation.name == "measure":
            continue
        active.update(circuit.find_bit(q).index for q in inst.qubits)
    return active


def compact(circuit: QuantumCircuit, keep: Sequence[int]) -> QuantumCircuit:
    """``circuit`` on the qubits ``keep`` only (in that order). Barriers keep their part on
    ``keep`` (they constrain the schedule, as on hardware); delays on dropped qubits go (they
    act on nothing simulated), and so do measurements of dropped qubits (their clbits keep 0:
    the qubit rests in |0>; the caller applies the readout error)."""
    if len(keep) == circuit.num_qubits and list(keep) == list(range(circuit.num_qubits)):
        return circuit
    kept = [circuit.qubits[q] for q in keep]
    kept_set = set(kept)
    out = QuantumCircuit(kept, circuit.clbits, global_phase=circuit.global_phase)
    for register in circuit.cregs:
        out.add_register(register)
    out.metadata = circuit.metadata
    out.name = circuit.name
    for inst in circuit.data:
        if all(q in kept_set for q in inst.qubits):
            out.append(inst)
        elif inst.operation.name == "barrier":
            on = [q for q in inst.qubits if q in kept_set]
            if on:
                out.append(Barrier(len(on)), on)
        elif inst.operation.name not in ("delay", "measure"):
            raise ValueError(f"{inst.operation.name} acts on a qubit outside the kept ones")
    return out


def clbit_qubits(circuit: QuantumCircuit) -> list[int | None]:
    """Per clbit, the qubit index of the last measurement that writes it (None: never
    measured at the top level)."""
    out: list[int | None] = [None] * circuit.num_clbits
    find = circuit.find_bit
    for inst in circuit.data:
        if inst.operation.name == "measure":
            out[find(inst.clbits[0]).index] = find(inst.qubits[0]).index
        elif isinstance(inst.operation, ControlFlowOp):
            continue
    return out
