"""Pauli twirling of two-qubit-gate layers and of measurements, with fresh randomizations.

As IBM's primitives do it (``twirling`` options):

* **Gates** (``enable_gates``). The circuit's two-qubit Clifford gates (``cz``, ``cx``,
  ``ecr``) are grouped into layers (``DAGCircuit.layers``: gates on disjoint qubits).
  Around each layer a random Pauli ``P`` is applied before and ``P' = G P G^dagger`` after,
  so the ideal circuit is unchanged while the layer's noise, averaged over randomizations,
  becomes a Pauli channel: coherent errors (the static ZZ of qubits idling during the layer,
  the non-Pauli part of relaxation) turn into stochastic ones. Which qubits get frames is the
  ``strategy``: ``"active"`` the layer's gate qubits; ``"active-accum"`` also every qubit that
  some earlier twirled layer acted on; ``"active-circuit"`` every qubit some layer of the
  circuit acts on; ``"all"`` every qubit of the circuit. Idle qubits in the frame get the same
  Pauli on both sides. Frames are applied with barriers around the layer, as the hardware's
  twirled boxes are: the layer's idle time sits between the frames. Frames carry no error of
  their own (on hardware they are merged into the neighbouring single-qubit gates).
  Fractional ``rzz`` gates are not twirled.
* **Measurements** (``enable_measure``). Each measured qubit gets a random ``X`` (or nothing)
  before its final measurement, and the recorded bit is flipped back afterwards: readout
  error becomes symmetric (the basis of TREX). The flip-back happens after the simulation,
  so only a measurement whose bit nothing else sees is twirled: one whose clbit no other
  operation touches (no control-flow condition or block, no ``store``: feed-forward would
  read the flipped value) and that is the last write of its clbit (an overwritten result
  has nothing to flip back). Other measurements are left as they are.

Randomizations are drawn with numpy from the job's seed; each is one circuit, and all of a
pub's randomizations run in one simulator call, as the parameter sets of one template
(:meth:`TwirledCircuits.template`: each frame an ``rz``/``rx`` pair of parameters), whose
frames the emulator fuses with the one-qubit gates around them once noise is in place
(:meth:`TwirlTemplate.fused`: one ``u`` per run of one-qubit gates).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, overload

import numpy as np
import numpy.typing as npt
from qiskit.circuit import (
    CircuitError,
    CircuitInstruction,
    ClassicalRegister,
    Clbit,
    Gate,
    Instruction,
    Parameter,
    ParameterExpression,
    QuantumCircuit,
    Qubit,
)
from qiskit.circuit.classical import expr
from qiskit.circuit.library import (
    Barrier,
    CXGate,
    CZGate,
    ECRGate,
    PauliGate,
    RXGate,
    RZGate,
    UGate,
)
from qiskit.converters import circuit_to_dag
from qiskit.quantum_info import Pauli

__all__ = [
    "TWIRLED_GATES",
    "TWIRL_LABEL",
    "TwirlTemplate",
    "TwirledCircuits",
    "frame_gate",
    "layer_structure",
    "twirl_circuits",
]

#: Gates twirled, and the label of every frame gate.
TWIRLED_GATES = frozenset({"cz", "cx", "ecr"})
TWIRL_LABEL = "twirl"
_LETTERS = "IXYZ"


def _conjugation_table(name: str) -> npt.NDArray[np.int8]:
    """``table[a, b] = (a', b')``: the Pauli after a gate for ``a`` on its first qubit and
    ``b`` on its second before it (indices into ``"IXYZ"``)."""
    gate = {"cz": CZGate(), "cx": CXGate(), "ecr": ECRGate()}[name]
    table = np.zeros((4, 4, 2), dtype=np.int8)
    for a in range(4):
        for b in range(4):
            # qiskit labels are little-endian: the first qubit's letter is the last
            after = Pauli(_LETTERS[b] + _LETTERS[a]).evolve(gate, frame="s")
            label = after.to_label().lstrip("-i")
            table[a, b] = (_LETTERS.index(label[1]), _LETTERS.index(label[0]))
    return table


_TABLES = {name: _conjugation_table(name) for name in sorted(TWIRLED_GATES)}


@dataclass(frozen=True)
class _Layer:
    """One layer of the circuit (operations on disjoint qubits), with its twirl."""

    operations: list[tuple[Instruction, tuple[Qubit, ...], tuple[Clbit, ...]]]
    """The layer's operations, with their qubits and clbits."""
    gates: list[tuple[str, int, int]]
    """The twirled gates: name, first and second qubit index."""
    framed: list[int]
    """Qubit indices that get frames around the layer (empty: not twirled)."""


def layer_structure(circuit: QuantumCircuit, strategy: str, *, gates: bool = True) -> list[_Layer]:
    """``circuit`` as layers (``DAGCircuit.layers``), each with the qubits to frame around it
    (none when ``gates`` is false or the layer holds no twirlable gate)."""
    dag = circuit_to_dag(circuit, copy_operations=False)
    find = circuit.find_bit
    raw = []
    all_active: set[int] = set()
    for layer in dag.layers():
        nodes = layer["graph"].op_nodes()
        twirled = [
            (n.op.name, find(n.qargs[0]).index, find(n.qargs[1]).index)
            for n in nodes
            if gates and n.op.name in TWIRLED_GATES and len(n.qargs) == 2
        ]
        busy = {find(q).index for n in nodes for q in n.qargs}
        raw.append(([(n.op, tuple(n.qargs), tuple(n.cargs)) for n in nodes], twirled, busy))
        for _name, a, b in twirled:
            all_active.update((a, b))
    out: list[_Layer] = []
    accumulated: set[int] = set()
    for operations, twirled, busy in raw:
        framed: list[int] = []
        if twirled:
            gate_qubits = {q for _n, a, b in twirled for q in (a, b)}
            if strategy == "all":
                extra = set(range(circuit.num_qubits))
            elif strategy == "active-circuit":
                extra = set(all_active)
            elif strategy == "active-accum":
                extra = set(accumulated)
            else:
                extra = set()
            accumulated |= gate_qubits
            framed = sorted(gate_qubits | (extra - busy))
        out.append(_Layer(operations, twirled, framed))
    return out


class TwirledCircuits(Sequence[QuantumCircuit]):
    """A pub's randomized circuits, built when indexed (a pub may ask for thousands), and
    what undoes their measurement frames."""

    def __init__(
        self,
        circuit: QuantumCircuit,
        layers: list[_Layer],
        frames: list[npt.NDArray[np.int64]],
        final_index: dict[tuple[int, int], int],
        measure_frames: npt.NDArray[np.uint8],
        measure_flips: npt.NDArray[np.uint8],
    ) -> None:
        self._circuit = circuit
        self._layers = layers
        self._frames = frames
        self._final_index = final_index
        self._measure_frames = measure_frames
        self.measure_flips = measure_flips
        """``(randomizations, num_clbits)``: 1 where a clbit's recorded value is to be
        flipped."""
        self.num_twirled_layers = sum(1 for layer in layers if layer.framed)
        """Layers that got gate frames."""

    @classmethod
    def untwirled(cls, circuit: QuantumCircuit) -> TwirledCircuits:
        """The circuit itself, as one randomization."""
        flips = np.zeros((1, circuit.num_clbits), np.uint8)
        return cls(circuit, [], [], {}, np.zeros((1, 0), np.uint8), flips)

    def __len__(self) -> int:
        return len(self.measure_flips)

    @overload
    def __getitem__(self, index: int) -> QuantumCircuit: ...
    @overload
    def __getitem__(self, index: slice) -> list[QuantumCircuit]: ...
    def __getitem__(self, index: int | slice) -> QuantumCircuit | list[QuantumCircuit]:
        if isinstance(index, slice):
            return [self[r] for r in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._build(index % len(self))

    def template(self) -> TwirlTemplate:
        """All randomizations as one parameterized circuit: every frame slot (each framed
        qubit before and after each twirled layer, each twirled measurement) is ``rz(lam)``
        then ``rx(theta)`` labelled :data:`TWIRL_LABEL` (no error, no time), ``X^a Z^b`` up to
        a global phase with ``theta = pi a`` and ``lam = pi b``. Binding
        :meth:`TwirlTemplate.values` of randomization ``r`` gives the circuit ``self[r]``
        (up to a global phase), so a simulator prepares it once and runs every randomization
        as a parameter set."""
        qubits = self._circuit.qubits
        circuit = self._circuit.copy_empty_like()
        slots: list[tuple[str, int, int]] = []  # (kind, layer or column, position)
        parameters: list[Parameter] = []
        # a random prefix: no clash with the names of the circuit's own parameters
        prefix = f"_twirl_{secrets.token_hex(6)}_"

        def frame(qubit: Qubit, kind: str, index: int, position: int) -> None:
            slot = len(slots)
            slots.append((kind, index, position))
            lam, theta = Parameter(f"{prefix}l{slot}"), Parameter(f"{prefix}t{slot}")
            parameters.extend((lam, theta))
            circuit.append(_frame_rotation("rz", lam), [qubit], copy=False)
            circuit.append(_frame_rotation("rx", theta), [qubit], copy=False)

        for k, layer in enumerate(self._layers):
            framed_bits = [qubits[q] for q in layer.framed]
            if layer.framed:
                for j, q in enumerate(framed_bits):
                    frame(q, "before", k, j)
                circuit.append(Barrier(len(framed_bits)), framed_bits)
            for j, (operation, qargs, cargs) in enumerate(layer.operations):
                frame_column = self._final_index.get((k, j))
                if frame_column is not None:
                    frame(qargs[0], "measure", 0, frame_column)
                circuit.append(operation, qargs, cargs, copy=False)
            if layer.framed:
                circuit.append(Barrier(len(framed_bits)), framed_bits)
                for j, q in enumerate(framed_bits):
                    frame(q, "after", k, j)
        return TwirlTemplate(circuit, slots, parameters, self)

    def pauli_codes(self, kind: str, index: int, r: int) -> npt.NDArray[np.int64]:
        """The Pauli codes (``"IXYZ"`` indices) of randomization ``r``'s frames of ``kind``
        (``"before"``/``"after"`` layer ``index``; ``"measure"``: X or I per twirled
        measurement)."""
        if kind == "before":
            return np.asarray(self._frames[index][r], dtype=np.int64)
        if kind == "after":
            return _after_frame(self._layers[index], self._frames[index][r])
        return np.asarray(self._measure_frames[r], dtype=np.int64)  # 0 or 1 = X

    def _build(self, r: int) -> QuantumCircuit:
        if not self._layers:
            return self._circuit
        qubits = self._circuit.qubits
        twirled = self._circuit.copy_empty_like()
        for k, layer in enumerate(self._layers):
            framed_bits = [qubits[q] for q in layer.framed]
            if layer.framed:
                paulis = self._frames[k][r]
                _frame(twirled, framed_bits, paulis)
                twirled.append(Barrier(len(framed_bits)), framed_bits)
            for j, (operation, qargs, cargs) in enumerate(layer.operations):
                frame_column = self._final_index.get((k, j))
                if frame_column is not None:
                    letter = "X" if self._measure_frames[r, frame_column] else "I"
                    twirled.append(frame_gate(letter), qargs)
                twirled.append(operation, qargs, cargs, copy=False)
            if layer.framed:
                twirled.append(Barrier(len(framed_bits)), framed_bits)
                _frame(twirled, framed_bits, _after_frame(layer, self._frames[k][r]))
        return twirled


#: One gate of a fused run: a fixed matrix, or a frame's ``("rz" | "rx", column)`` whose angle
#: is that column of the unfused frame angles.
_Element: TypeAlias = "npt.NDArray[np.complex128] | tuple[str, int]"


@dataclass(frozen=True)
class _Run:
    """One-qubit gates fused into one ``u`` (:meth:`TwirlTemplate.fused`), in the order they
    act, neighbouring fixed matrices multiplied together."""

    elements: tuple[_Element, ...]
    fixed: npt.NDArray[np.complex128] | None
    """The run's matrix when it holds no frame (None otherwise)."""

    @classmethod
    def of(cls, elements: Sequence[_Element]) -> _Run:
        merged: list[_Element] = []
        for element in elements:
            last = merged[-1] if merged else None
            if isinstance(element, np.ndarray) and isinstance(last, np.ndarray):
                merged[-1] = element @ last
            else:
                merged.append(element)
        only = merged[0] if len(merged) == 1 else None
        return cls(tuple(merged), only if isinstance(only, np.ndarray) else None)

    def matrices(self, angles: npt.NDArray[np.float64]) -> npt.NDArray[np.complex128]:
        """``(rows, 2, 2)``: the run's matrix for each row of unfused frame angles."""
        out = np.zeros((len(angles), 2, 2), dtype=complex)
        out[:, 0, 0] = out[:, 1, 1] = 1.0
        for element in self.elements:
            if isinstance(element, np.ndarray):
                out = element @ out
                continue
            name, column = element
            half = angles[:, column] / 2
            if name == "rz":
                out[:, 0, :] *= np.exp(-1j * half)[:, None]
                out[:, 1, :] *= np.exp(1j * half)[:, None]
            else:
                step = np.empty_like(out)
                step[:, 0, 0] = step[:, 1, 1] = np.cos(half)
                step[:, 0, 1] = step[:, 1, 0] = -1j * np.sin(half)
                out = step @ out
        return out


def _fusable(instruction: CircuitInstruction, columns: Mapping[Parameter, int]) -> _Element | None:
    """What ``instruction`` contributes to a fused run: a frame gate of the template (its
    parameter's column), a one-qubit gate with fixed angles (its matrix), or None (it ends
    the runs of its qubits)."""
    operation = instruction.operation
    if len(instruction.qubits) != 1 or instruction.clbits or not isinstance(operation, Gate):
        return None
    params = operation.params
    if operation.label == TWIRL_LABEL and operation.name in ("rz", "rx") and len(params) == 1:
        column = columns.get(params[0]) if isinstance(params[0], Parameter) else None
        return None if column is None else (operation.name, column)
    if any(isinstance(param, ParameterExpression) for param in params):
        return None
    try:
        matrix = operation.to_matrix()
    except CircuitError:  # a gate without a matrix: left as it is
        return None
    return np.asarray(matrix, dtype=complex)


def _u_angles(matrices: npt.NDArray[np.complex128]) -> npt.NDArray[np.float64]:
    """``(rows, 3)``: ``theta, phi, lam`` of the ``u`` gate equal to each one-qubit unitary
    of ``matrices`` ``(rows, 2, 2)`` up to a global phase."""
    det = matrices[:, 0, 0] * matrices[:, 1, 1] - matrices[:, 0, 1] * matrices[:, 1, 0]
    special = matrices / np.sqrt(det)[:, None, None]  # [[conj(a), -conj(b)], [b, a]]
    a, b = special[:, 1, 1], special[:, 1, 0]
    out = np.empty((len(matrices), 3))
    out[:, 0] = 2 * np.arctan2(np.abs(b), np.abs(a))
    out[:, 1] = np.angle(a) + np.angle(b)
    out[:, 2] = np.angle(a) - np.angle(b)
    return out


class TwirlTemplate:
    """A :class:`TwirledCircuits`' randomizations as one parameterized circuit
    (:meth:`TwirledCircuits.template`), possibly with its frames fused into the one-qubit
    gates around them (:meth:`fused`)."""

    def __init__(
        self,
        circuit: QuantumCircuit,
        slots: list[tuple[str, int, int]],
        parameters: list[Parameter],
        owner: TwirledCircuits,
        runs: list[_Run] | None = None,
    ) -> None:
        self.circuit = circuit
        """The circuit, with a ``rz``/``rx`` pair per frame slot (fused: a ``u`` per run of
        one-qubit gates that holds frames)."""
        self._slots = slots
        self._owner = owner
        self._runs = runs
        self.parameters = parameters
        """The frame parameters, in the column order of :meth:`values`: ``rz`` then ``rx``
        of each slot (fused: ``theta``, ``phi``, ``lam`` of each fused ``u``)."""

    def _frame_angles(self, start: int, stop: int) -> npt.NDArray[np.float64]:
        """``(stop - start, 2 x slots)``: the ``rz`` and ``rx`` angles of every frame slot."""
        rows = range(start, stop)
        out = np.zeros((len(rows), 2 * len(self._slots)))
        if not self._slots:
            return out
        # Pauli codes per randomization and slot, gathered per (kind, index) once per row
        codes = np.zeros((len(rows), len(self._slots)), dtype=np.int64)
        groups: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for slot, (kind, index, position) in enumerate(self._slots):
            groups.setdefault((kind, index), []).append((slot, position))
        for (kind, index), members in groups.items():
            slot_ids = [slot for slot, _ in members]
            positions = [position for _, position in members]
            for i, r in enumerate(rows):
                codes[i, slot_ids] = self._owner.pauli_codes(kind, index, r)[positions]
        x_part = np.isin(codes, (1, 2))
        z_part = np.isin(codes, (2, 3))
        out[:, 0::2] = np.pi * z_part  # rz angle
        out[:, 1::2] = np.pi * x_part  # rx angle
        return out

    def values(self, start: int, stop: int) -> npt.NDArray[np.float64]:
        """``(stop - start, len(parameters))``: the frame angles of randomizations
        ``start..stop-1``."""
        angles = self._frame_angles(start, stop)
        if self._runs is None:
            return angles
        out = np.zeros((len(angles), 3 * len(self._runs)))
        for k, run in enumerate(self._runs):
            out[:, 3 * k : 3 * k + 3] = _u_angles(run.matrices(angles))
        return out

    def fused(self, circuit: QuantumCircuit) -> tuple[TwirlTemplate, QuantumCircuit]:
        """This template's frames merged with the one-qubit gates next to them in
        ``circuit`` (the template's circuit as the emulator simulates it: its frame gates,
        the circuit's gates and their noise as instructions of their own).

        Every run of one-qubit gates with fixed angles and frames on a qubit that nothing
        else touches in between (no noise, no two-qubit gate, no measurement) becomes one
        ``u`` gate: with three parameters of its own when it holds a frame (their values, by
        :meth:`values`, the product of the run's matrices for each randomization), or fixed
        angles when it holds none. Each randomization's circuit is unchanged up to a global
        phase, and the simulator applies one gate where it applied up to six: a pub's
        randomizations cost that much less. Returns the fused template and circuit (this
        template and ``circuit`` when there is nothing to fuse, or it is fused already)."""
        if self._runs is not None:
            return self, circuit
        columns = {p: j for j, p in enumerate(self.parameters)}
        items: list[CircuitInstruction | int] = []  # an int: the run at that index
        runs: list[tuple[CircuitInstruction, list[_Element]]] = []
        open_runs: dict[Qubit, int] = {}
        for instruction in circuit.data:
            element = _fusable(instruction, columns)
            if element is None:
                for qubit in instruction.qubits:
                    open_runs.pop(qubit, None)
                items.append(instruction)
                continue
            k = open_runs.get(instruction.qubits[0])
            if k is None:
                k = open_runs[instruction.qubits[0]] = len(runs)
                runs.append((instruction, []))
                items.append(k)
            runs[k][1].append(element)
        out = circuit.copy_empty_like()
        parameters: list[Parameter] = []
        fused_runs: list[_Run] = []
        prefix = f"_twirl_{secrets.token_hex(6)}_u"
        for item in items:
            if not isinstance(item, int):
                out.append(item, copy=False)
                continue
            first, elements = runs[item]
            run = _Run.of(elements)
            if len(elements) == 1 and run.fixed is not None:
                out.append(first, copy=False)  # a lone gate stays as it is
            elif run.fixed is not None:
                theta, phi, lam = _u_angles(run.fixed[None])[0]
                out.append(UGate(float(theta), float(phi), float(lam)), first.qubits, copy=False)
            else:
                k = len(fused_runs)
                angles = [Parameter(f"{prefix}{k}_{name}") for name in ("t", "p", "l")]
                gate = UGate(*angles)
                gate.label = TWIRL_LABEL
                out.append(gate, first.qubits, copy=False)
                parameters.extend(angles)
                fused_runs.append(run)
        if not fused_runs:
            return self, circuit
        return TwirlTemplate(out, self._slots, parameters, self._owner, fused_runs), out

    def bindings(
        self,
        start: int,
        stop: int,
        circuit_values: Mapping[Parameter, npt.NDArray[np.float64]] | None,
        sets: int,
    ) -> dict[Parameter, npt.NDArray[np.float64]]:
        """Parameter values that run randomizations ``start..stop-1`` on each of ``sets``
        parameter sets, randomization-major (row ``r * sets + b``): the frame angles, and the
        circuit's own parameters (``circuit_values``: parameter -> ``sets`` values; None when
        it has none)."""
        values = self.values(start, stop)
        out = {p: np.repeat(values[:, j], sets) for j, p in enumerate(self.parameters)}
        if circuit_values is not None:
            out.update({p: np.tile(v, stop - start) for p, v in circuit_values.items()})
        return out


def _frame_rotation(name: str, angle: Parameter) -> Instruction:
    """A frame's ``rz``/``rx`` with a parameter angle, labelled :data:`TWIRL_LABEL`."""
    gate = RZGate(angle) if name == "rz" else RXGate(angle)
    gate.label = TWIRL_LABEL
    return gate


def _final_measurements(layers: Sequence[_Layer], circuit: QuantumCircuit) -> list[tuple[int, int]]:
    """``(layer, position)`` of the measurements that can be twirled: their qubit is not used
    after them, no other operation touches their clbit (:func:`_clbits_of_other_operations`),
    and they are the last write of that clbit."""
    last: dict[int, tuple[int, int]] = {}
    writer: dict[int, tuple[int, int]] = {}
    find = circuit.find_bit
    for k, layer in enumerate(layers):
        for j, (op, qargs, cargs) in enumerate(layer.operations):
            for q in qargs:
                last[find(q).index] = (k, j)
            if op.name == "measure":
                # layers are in order along each clbit's wire: the last seen is the last write
                for c in cargs:
                    writer[find(c).index] = (k, j)
    shared = _clbits_of_other_operations(layers, circuit)
    return sorted(
        {
            where
            for where in last.values()
            if layers[where[0]].operations[where[1]][0].name == "measure"
            and all(
                (c := find(bit).index) not in shared and writer[c] == where
                for bit in layers[where[0]].operations[where[1]][2]
            )
        }
    )


def _clbits_of_other_operations(layers: Sequence[_Layer], circuit: QuantumCircuit) -> set[int]:
    """Indices of the clbits that some operation other than a measurement reads or writes.

    A control-flow operation's ``cargs`` are every clbit of its blocks (block bits map onto
    them by position), so what its nested operations touch is among them; its condition or
    target, and a ``store``'s expressions (which have no ``cargs``), are read as well."""
    find = circuit.find_bit
    touched: set[int] = set()
    for layer in layers:
        for op, _qargs, cargs in layer.operations:
            if op.name == "measure":
                continue
            touched.update(find(c).index for c in cargs)
            for name in ("condition", "target", "lvalue", "rvalue"):
                touched.update(find(c).index for c in _classical_bits(getattr(op, name, None)))
    return touched


def _classical_bits(value: object) -> list[Clbit]:
    """The clbits a condition, switch target or classical expression refers to."""
    if isinstance(value, tuple) and value:
        return _classical_bits(value[0])
    if isinstance(value, Clbit):
        return [value]
    if isinstance(value, ClassicalRegister):
        return list(value)
    if isinstance(value, expr.Expr):
        return [bit for var in expr.iter_vars(value) for bit in _classical_bits(var.var)]
    return []


def twirl_circuits(
    circuit: QuantumCircuit,
    randomizations: int,
    rng: np.random.Generator,
    *,
    gates: bool,
    measure: bool,
    strategy: str = "active-accum",
) -> TwirledCircuits:
    """``randomizations`` twirled copies of ``circuit`` (see the module docstring); the frames
    are drawn now, each circuit is built when it is indexed."""
    layers = layer_structure(circuit, strategy, gates=gates)
    final = _final_measurements(layers, circuit) if measure else []
    final_index = {where: k for k, where in enumerate(final)}
    measure_frames = rng.integers(0, 2, size=(randomizations, len(final)), dtype=np.uint8)
    flips = np.zeros((randomizations, circuit.num_clbits), dtype=np.uint8)
    # each twirled measurement is its clbit's only twirled writer: one column per clbit
    clbits = [circuit.find_bit(layers[k].operations[j][2][0]).index for k, j in final]
    flips[:, clbits] = measure_frames
    frames = [rng.integers(0, 4, size=(randomizations, len(layer.framed))) for layer in layers]
    return TwirledCircuits(circuit, layers, frames, final_index, measure_frames, flips)


def _after_frame(layer: _Layer, paulis: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The Paulis after ``layer`` given ``paulis`` (per framed qubit) before it."""
    where = {q: k for k, q in enumerate(layer.framed)}
    after = np.array(paulis, copy=True)
    for name, a, b in layer.gates:
        a2, b2 = _TABLES[name][int(paulis[where[a]]), int(paulis[where[b]])]
        after[where[a]], after[where[b]] = a2, b2
    return after


def frame_gate(letter: str) -> PauliGate:
    """A one-qubit Pauli frame change (labelled :data:`TWIRL_LABEL`: no error of its own)."""
    gate = PauliGate(letter)
    gate.label = TWIRL_LABEL
    return gate


def _frame(circuit: QuantumCircuit, qubits: Sequence[Qubit], paulis: npt.NDArray[np.int64]) -> None:
    # identity frames too: a frame is a (zero-length) instruction wherever the template has
    # one, so every randomization is scheduled and decoupled as the template is
    for q, p in zip(qubits, paulis, strict=False):
        circuit.append(frame_gate(_LETTERS[int(p)]), [q], copy=False)
