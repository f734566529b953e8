"""Is a circuit executable as given on a Target? Shared by the primitives' pre-flight check and the
local service, so that both reject exactly the same circuits with the same words."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from qiskit.circuit import ParameterExpression, QuantumCircuit
from qiskit.transpiler import Target

__all__ = ["RZZ_MAX_ANGLE", "find_isa_problem"]

RZZ_MAX_ANGLE = math.pi / 2
_EXEMPT = frozenset({"barrier", "store"})
_TOLERANCE = 1e-10


def find_isa_problem(
    circuit: QuantumCircuit,
    target: Target,
    *,
    faulty_qubits: Collection[int] = (),
) -> str | None:
    """Describe the first instruction of ``circuit`` that ``target`` cannot execute, or ``None``.

    Checks every instruction, inside control-flow blocks too (their qubits are mapped to the
    outer circuit's physical qubits): the operation name, the qubits it acts on, numeric
    ``rzz`` angles within ``[0, pi/2]``, and the circuit width. ``faulty_qubits`` only makes
    the message more helpful: faulty qubits are already absent from a Target built by this
    package.
    """
    if circuit.num_qubits > target.num_qubits:
        return (
            f"the circuit has {circuit.num_qubits} qubits but the backend has {target.num_qubits}"
        )
    return _check(circuit, target, list(range(circuit.num_qubits)), frozenset(faulty_qubits))


def _check(
    circuit: QuantumCircuit,
    target: Target,
    qubit_map: Sequence[int],
    faulty: frozenset[int],
) -> str | None:
    index = {q: qubit_map[i] for i, q in enumerate(circuit.qubits)}
    for inst in circuit.data:
        op = inst.operation
        name = op.name
        if name in _EXEMPT:
            continue
        qargs = tuple(index[q] for q in inst.qubits)
        if any(q >= target.num_qubits for q in qargs):
            return f"{name} on qubits {list(qargs)}: the backend has {target.num_qubits} qubits"
        blocks = getattr(op, "blocks", None)
        if blocks:
            if name not in target.operation_names:
                return f"{name} (control flow) is not supported by the backend"
            for block in blocks:
                problem = _check(block, target, qargs, faulty)
                if problem:
                    return f"inside {name}: {problem}"
            continue
        if not target.instruction_supported(name, qargs):
            bad = sorted(faulty.intersection(qargs))
            if bad:
                return f"{name} on qubits {list(qargs)} uses faulty qubit(s) {bad}"
            if name not in target.operation_names:
                return (
                    f"{name} on qubits {list(qargs)} is not in the backend's instruction set "
                    f"({', '.join(sorted(target.operation_names))})"
                )
            return f"{name} on qubits {list(qargs)} is not supported on those qubits"
        if name == "rzz" and op.params:
            angle = op.params[0]
            if not isinstance(angle, ParameterExpression) or not angle.parameters:
                value = float(angle)
                if not -_TOLERANCE <= value <= RZZ_MAX_ANGLE + _TOLERANCE:
                    return f"rzz on qubits {list(qargs)} has angle {value} outside [0, pi/2]"
    return None
