"""Checked and serialized circuits, remembered per circuit object.

A VQE loop submits the same circuit object hundreds of times with new parameter values. The ISA
check and the OpenQASM 3 text depend only on the circuit and the Target, so both are computed
once and reused while the circuit object is alive and unchanged.

"Unchanged" is judged by a cheap fingerprint (instruction count, per-name operation counts,
parameters, registers) that catches appends, removals, replaced operations and re-parametrised
circuits in microseconds. Moving an existing operation to other qubits in place keeps the same
fingerprint: treat submitted circuits as immutable, or call :meth:`CircuitCache.clear`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from qiskit.circuit import QuantumCircuit
from qiskit.transpiler import Target

from ..core.codec.qasm3 import dumps_isa, is_identifier
from ..core.isa import find_isa_problem
from ..errors import ISAValidationError

__all__ = ["CircuitCache", "circuit_fingerprint"]


def circuit_fingerprint(circuit: QuantumCircuit) -> tuple[Any, ...]:
    """A cheap summary that changes when instructions are added, removed or replaced."""
    # CircuitData answers these in Rust; the public ``circuit.data`` wraps it in a list-like view
    # without count_ops or num_parameters, and the fingerprint runs on every submission.
    data = circuit._data  # noqa: SLF001
    return (
        len(data),
        tuple(sorted(data.count_ops())),
        data.num_parameters,
        circuit.num_qubits,
        circuit.num_clbits,
        tuple((reg.name, reg.size) for reg in circuit.cregs),
    )


@dataclass
class _Entry:
    ref: weakref.ref[QuantumCircuit]
    fingerprint: tuple[Any, ...]
    target_id: int
    qasm: str


class CircuitCache:
    """Maps circuit objects (weakly) to their checked OpenQASM 3 text for one Target.

    Circuits are unhashable, so entries are keyed by ``id()`` and hold a weak reference that
    removes the entry when the circuit is garbage collected.
    """

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        """Forget every cached circuit (after a circuit was mutated in place)."""
        with self._lock:
            self._entries.clear()

    def prepare(
        self,
        circuit: QuantumCircuit,
        target: Target,
        *,
        faulty_qubits: Collection[int] = (),
        where: str = "pub",
    ) -> str:
        """The OpenQASM 3 text of ``circuit`` after checking it is ISA for ``target``.

        Raises:
            ISAValidationError: the circuit is not executable on ``target`` as given, or a
                classical register name cannot be kept in OpenQASM 3 (results are keyed by it).
        """
        fingerprint = circuit_fingerprint(circuit)
        with self._lock:
            entry = self._entries.get(id(circuit))
        if (
            entry is not None
            and entry.ref() is circuit
            and entry.fingerprint == fingerprint
            and entry.target_id == id(target)
        ):
            self.hits += 1
            return entry.qasm
        self.misses += 1
        check_register_names(circuit, where)
        problem = find_isa_problem(circuit, target, faulty_qubits=faulty_qubits)
        if problem:
            raise ISAValidationError(
                f"{where}: the circuit is not ISA for the backend: {problem}. Transpile it "
                "against backend.target first (e.g. generate_preset_pass_manager("
                "optimization_level=1, backend=backend).run(circuit))."
            )
        qasm = dumps_isa(circuit)
        with self._lock:
            # Keep the target alive only through the id check: the backend caches its Target,
            # so the id is stable for as long as results could be reused.
            key = id(circuit)
            ref = weakref.ref(circuit, lambda _, key=key: self._forget(key))  # type: ignore[misc]
            self._entries[key] = _Entry(ref, fingerprint, id(target), qasm)
        return qasm

    def _forget(self, key: int) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.ref() is None:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


def check_register_names(circuit: QuantumCircuit, where: str) -> None:
    """Refuse classical registers whose names OpenQASM 3 would have to change.

    Results come back keyed by register name; a renamed register would silently change the
    name of the result field.
    """
    seen: set[str] = set()
    for reg in circuit.cregs:
        if not is_identifier(reg.name) or reg.name in seen:
            raise ISAValidationError(
                f"{where}: classical register {reg.name!r} cannot keep its name in OpenQASM 3 "
                "(not an identifier, a reserved word, or a duplicate); rename the register"
            )
        seen.add(reg.name)
    named = {bit for reg in circuit.cregs for bit in reg}
    if any(bit not in named for bit in circuit.clbits):
        raise ISAValidationError(
            f"{where}: the circuit has classical bits outside any register; their results "
            "would be lost. Add them to a ClassicalRegister"
        )
