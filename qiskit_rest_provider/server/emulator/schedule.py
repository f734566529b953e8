"""Timing a circuit as the hardware plays it: as late as possible, in units of ``dt``.

(``dynamical_decoupling.scheduling_method="asap"`` schedules as soon as possible instead.)

IBM devices schedule every circuit ALAP: each instruction starts as late as the instructions
after it on the same qubits (and classical bits) allow, so qubits sit in ``|0>`` until they are
first needed and idle *between* their gates. Durations come from the calibration (``dt``
granularity, the device's sample time); ``rz`` and the emulator's own frame changes are
virtual (no duration); ``barrier`` aligns its qubits; ``delay`` is an idle window of its own
length. :class:`Schedule` holds every non-delay instruction with its start and the idle
windows between them, which :mod:`.idle_noise` fills with relaxation and ZZ and
:mod:`.decoupling` with pulse sequences.

Circuits with control flow or unbound durations (stretches, parameterized delays) are not
scheduled (:func:`schedule_circuit` returns None); the emulator then applies gate noise only.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qiskit.circuit import CircuitInstruction, ControlFlowOp, QuantumCircuit

__all__ = ["Schedule", "TimedOp", "schedule_circuit"]

#: Instructions that take no time on any IBM device.
VIRTUAL = frozenset({"rz", "barrier", "global_phase", "frame", "cp_zz"})
#: Delay units, to seconds.
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12}


@dataclass(frozen=True)
class TimedOp:
    """One instruction at its place in time."""

    start: int
    """Start, in ``dt``."""
    duration: int
    """Length, in ``dt``."""
    instruction: CircuitInstruction
    """The instruction (of the scheduled circuit)."""
    qubits: tuple[int, ...]
    """Its qubits' indices in the circuit."""

    @property
    def stop(self) -> int:
        """End, in ``dt``."""
        return self.start + self.duration


@dataclass
class Schedule:
    """The instructions of a circuit in time order, with their starts and durations."""

    circuit: QuantumCircuit
    """The scheduled circuit."""
    dt: float
    """Seconds per ``dt``."""
    ops: list[TimedOp]
    """Every instruction but delays, in an order that keeps each qubit's order."""
    total: int
    """The circuit's length, in ``dt``."""
    busy: list[list[TimedOp]] = field(default_factory=list)
    """Per qubit, its operations in time order (barriers excluded)."""

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        """Recompute :attr:`busy` from :attr:`ops` (after inserting operations)."""
        self.ops.sort(key=_order)
        self.busy = [[] for _ in range(self.circuit.num_qubits)]
        for op in self.ops:
            if op.instruction.operation.name == "barrier":
                continue
            for q in op.qubits:
                self.busy[q].append(op)

    def idle_windows(self, qubit: int) -> list[tuple[int, int]]:
        """The windows ``[start, stop)`` in which ``qubit`` idles after its first operation:
        between two of its operations, and from its last one to the end of the circuit (its
        state still matters to coupled neighbours). Not before its first one: it rests in
        ``|0>`` then, which relaxation and ZZ leave alone."""
        ops = self.busy[qubit]
        windows = []
        for before, after in itertools.pairwise(ops):
            if after.start > before.stop:
                windows.append((before.stop, after.start))
        if ops and self.total > ops[-1].stop:
            windows.append((ops[-1].stop, self.total))
        return windows


def _order(op: TimedOp) -> tuple[int, int]:
    # time order; at equal starts, zero-length operations (frames, rz, barriers) first, each
    # group in circuit order (the sort is stable)
    return (op.start, 1 if op.duration else 0)


def _delay_dt(instruction: CircuitInstruction, dt: float) -> int | None:
    operation = instruction.operation
    value = operation.params[0] if operation.params else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None  # parameterized delay or stretch
    unit = getattr(operation, "unit", "dt")
    if unit == "dt":
        return max(round(value), 0)
    scale = _TIME_UNITS.get(unit)
    return None if scale is None else max(round(value * scale / dt), 0)


def schedule_circuit(
    circuit: QuantumCircuit,
    dt: float,
    duration: Callable[[CircuitInstruction, Sequence[int]], float],
    method: str = "alap",
) -> Schedule | None:
    """Schedule ``circuit`` as late (``"alap"``) or as soon (``"asap"``) as possible.

    Args:
        circuit: The circuit (qubit ``i`` is the circuit's ``i``-th qubit).
        dt: Seconds per sample.
        duration: Seconds an instruction takes on the given qubit indices.
        method: ``"alap"`` (IBM's default) or ``"asap"``.

    Returns:
        The schedule, or None when the circuit cannot be timed (control flow, unbound delays).
    """
    find_bit = circuit.find_bit
    # ALAP is ASAP on the reversed circuit, its times counted back from the end: for ALAP,
    # rev_* and the placed stops are "how long before the end" an instruction starts
    data = list(circuit.data) if method == "asap" else list(reversed(circuit.data))
    rev_qubit = [0] * circuit.num_qubits
    rev_clbit = [0] * circuit.num_clbits
    placed: list[tuple[int, int, CircuitInstruction, tuple[int, ...]]] = []
    for instruction in data:
        operation = instruction.operation
        if isinstance(operation, ControlFlowOp):
            return None
        qubits = tuple(find_bit(q).index for q in instruction.qubits)
        clbits = tuple(find_bit(c).index for c in instruction.clbits)
        if operation.name == "delay":
            length = _delay_dt(instruction, dt)
            if length is None:
                return None
        elif operation.name in VIRTUAL:
            length = 0
        else:
            length = max(round(duration(instruction, qubits) / dt), 0)
        rev_start = max([rev_qubit[q] for q in qubits] + [rev_clbit[c] for c in clbits], default=0)
        rev_stop = rev_start + length
        for q in qubits:
            rev_qubit[q] = rev_stop
        for c in clbits:
            rev_clbit[c] = rev_stop
        placed.append((rev_stop, length, instruction, qubits))
    total = max(rev_qubit + rev_clbit, default=0)
    if method == "asap":
        ops = [
            TimedOp(stop - length, length, instruction, qubits)
            for stop, length, instruction, qubits in placed
            if instruction.operation.name != "delay"
        ]
    else:
        ops = [
            TimedOp(total - rev_stop, length, instruction, qubits)
            for rev_stop, length, instruction, qubits in reversed(placed)
            if instruction.operation.name != "delay"
        ]
    return Schedule(circuit, dt, ops, total)
