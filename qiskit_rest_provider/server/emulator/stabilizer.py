"""Clifford circuits with Pauli noise on Stim: wide circuits in milliseconds.

A circuit whose gates are all Clifford (IBM's ``sx``, ``x``, ``rz`` by multiples of pi/2,
``cz``, ``ecr``, ``cx``, the emulator's Pauli frames and decoupling pulses) is simulated with
the stabilizer formalism when it is too wide for a density matrix. Its noise must then be
Pauli: every channel is replaced by its Pauli twirl, which is what twirling makes of it on
hardware (and what it is on average over randomizations). Thermal relaxation over ``t``
twirls to ``p_X = p_Y = (1 - e^(-t/T1)) / 4``, ``p_Z = (1 - e^(-t/T2)) / 2 - p_X``; the static
ZZ phase ``diag(1, 1, 1, e^(-i phi))`` to ``Z_a``, ``Z_b``, ``Z_a Z_b`` each with probability
``(1 - cos phi) / 8``; gate channels through their process matrix
(:meth:`.amplification.PauliChannel.twirl_of`). The approximation is reported in the
result metadata.

Stim (Gidney, *Stim: a fast stabilizer circuit simulator*, Quantum 5, 497 (2021)) samples
such circuits with Pauli-frame simulation, all shots at once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit.circuit import Instruction, QuantumCircuit
from qiskit.circuit.library import ECRGate
from qiskit.quantum_info import Operator

from .amplification import PauliChannel
from .device_noise import DeviceNoise, depolarizing_parameter

__all__ = [
    "PauliNoise",
    "relaxation_pauli_noise",
    "sample_stabilizer",
    "to_aer",
    "to_stim",
    "zz_pauli_noise",
]

#: Qiskit's little-endian two-qubit labels in Stim's PAULI_CHANNEL_2 order (first target first).
_STIM_PAIRS = [a + b for a in "IXYZ" for b in "IXYZ"][1:]
_SINGLE = {
    "id": "I",
    "x": "X",
    "y": "Y",
    "z": "Z",
    "h": "H",
    "s": "S",
    "sdg": "S_DAG",
    "sx": "SQRT_X",
    "sxdg": "SQRT_X_DAG",
}
_TWO = {"cx": "CX", "cz": "CZ", "cy": "CY", "swap": "SWAP"}
#: Quarter turns of rotations: name -> Stim gates for 1, 2, 3 quarter turns.
_QUARTERS = {
    "rz": ("S", "Z", "S_DAG"),
    "p": ("S", "Z", "S_DAG"),
    "rx": ("SQRT_X", "X", "SQRT_X_DAG"),
    "ry": ("SQRT_Y", "Y", "SQRT_Y_DAG"),
    "rzz": ("SQRT_ZZ", "Z", "SQRT_ZZ_DAG"),  # a half turn of ZZ is Z on both qubits
    "rxx": ("SQRT_XX", "X", "SQRT_XX_DAG"),
    "ryy": ("SQRT_YY", "Y", "SQRT_YY_DAG"),
}


class PauliNoise(Instruction):
    """A Pauli channel as an instruction of the emulator's own (never sent to Aer):
    ``probabilities`` by qiskit label (little-endian), identity excluded."""

    def __init__(self, num_qubits: int, probabilities: dict[str, float]) -> None:
        super().__init__("pauli_noise", num_qubits, 0, [])
        self.probabilities = probabilities
        """Probability of each non-identity Pauli (qiskit label)."""


def relaxation_pauli_noise(t1: float, t2: float, duration: float) -> PauliNoise:
    """The Pauli twirl of thermal relaxation over ``duration`` seconds."""
    decay = 1 - math.exp(-duration / t1)
    dephase = 1 - math.exp(-duration / t2)
    px = decay / 4
    return PauliNoise(1, {"X": px, "Y": px, "Z": max(dephase / 2 - px, 0.0)})


def zz_pauli_noise(phase: float) -> PauliNoise:
    """The Pauli twirl of the controlled phase ``diag(1, 1, 1, e^(-i phase))``."""
    p = (1 - math.cos(phase)) / 8
    return PauliNoise(2, {"IZ": p, "ZI": p, "ZZ": p})


def _relaxation_fidelities(t1: float, t2: float, duration: float) -> tuple[float, float, float]:
    """Pauli fidelities ``(f_X, f_Y, f_Z)`` of thermal relaxation over ``duration``."""
    if not (math.isfinite(t1) and math.isfinite(t2)) or duration <= 0:
        return 1.0, 1.0, 1.0
    t1_decay, t2_decay = math.exp(-duration / t1), math.exp(-duration / t2)
    return t2_decay, t2_decay, t1_decay


@functools.lru_cache(maxsize=8192)
def gate_pauli_noise(noise: DeviceNoise, name: str, qubits: tuple[int, ...]) -> PauliNoise | None:
    """The Pauli twirl of a gate's calibrated channel, in closed form: Pauli fidelities
    multiply under composition, so relaxation over the gate (per qubit, ``f_X = f_Y =
    e^(-t/T2)``, ``f_Z = e^(-t/T1)``) times the derived depolarizing part (``1 - p`` for every
    non-identity Pauli) gives the fidelities, and the probabilities follow
    (:class:`.amplification.PauliChannel`). Equal to twirling :meth:`.DeviceNoise.gate_channel`
    numerically, without building its process matrix."""
    cal = noise.gate(name, qubits)
    if cal is None or (cal.error <= 0 and cal.duration <= 0):
        return None
    n = len(qubits)
    per_qubit = [
        _relaxation_fidelities(float(noise.t1[q]), float(noise.t2[q]), cal.duration) for q in qubits
    ]
    labels = _labels(n)
    fidelities = np.ones(len(labels))
    for k, label in enumerate(labels):
        for position, letter in enumerate(reversed(label)):  # little-endian: qubit 0 last
            if letter != "I":
                fidelities[k] *= per_qubit[position]["XYZ".index(letter)]
    d2 = 4**n
    relax_process_fidelity = float(fidelities.sum()) / d2
    p = depolarizing_parameter(cal.error, relax_process_fidelity, n) if cal.error > 0 else 0.0
    fidelities[1:] *= 1 - p  # depolarizing (Aer's parameter p): f = 1 - p
    probabilities = np.clip(PauliChannel.signs(n) @ fidelities / d2, 0.0, None)
    return PauliNoise(
        n,
        {
            label: float(q)
            for label, q in zip(labels, probabilities, strict=True)
            if q > 0 and label != "I" * n
        },
    )


@functools.cache
def _labels(num_qubits: int) -> tuple[str, ...]:
    from qiskit.quantum_info import pauli_basis

    return tuple(pauli_basis(num_qubits).to_labels())


def pauli_noise_of(channel: Any, num_qubits: int) -> PauliNoise:
    """The Pauli twirl of an Aer ``QuantumError``."""
    twirled = PauliChannel.twirl_of(channel, num_qubits)
    return PauliNoise(
        num_qubits,
        {
            label: float(p)
            for label, p in zip(twirled.labels, twirled.probabilities, strict=True)
            if p > 0 and set(label) != {"I"}
        },
    )


@functools.cache
def _ecr_stim() -> Any:
    """ECR as a Stim circuit on targets 0 (first qubit) and 1."""
    import stim

    tableau = stim.Tableau.from_unitary_matrix(Operator(ECRGate()).data, endian="little")
    return tableau.to_circuit(method="elimination")


def _quarter_turns(angle: Any) -> int:
    turns = float(angle) / (math.pi / 2)
    return round(turns) % 4


def to_stim(circuit: QuantumCircuit) -> tuple[Any, list[int]]:
    """A Clifford ``circuit`` with :class:`PauliNoise` as a Stim circuit, and the clbit each
    of its measurements writes (in Stim's measurement order).

    Raises:
        ValueError: an instruction is neither Clifford nor Pauli noise.
    """
    import stim

    out = stim.Circuit()
    records: list[int] = []
    find = circuit.find_bit
    for inst in circuit.data:
        operation = inst.operation
        name = operation.name
        q = [find(bit).index for bit in inst.qubits]
        if name in ("barrier", "delay"):
            continue
        if isinstance(operation, PauliNoise):
            _append_noise(out, operation, q)
        elif name in _SINGLE:
            out.append(_SINGLE[name], q)
        elif name in _TWO:
            out.append(_TWO[name], q)
        elif name == "ecr":
            for step in _ecr_stim():
                out.append(step.name, [q[t.value] for t in step.targets_copy()])
        elif name == "pauli":
            for k, letter in enumerate(reversed(operation.params[0])):
                if letter != "I":
                    out.append(letter, [q[k]])
        elif name in _QUARTERS:
            turns = _quarter_turns(operation.params[0])
            if turns:
                # Z, X, Y on each target of a two-qubit half turn; the others take all targets
                out.append(_QUARTERS[name][turns - 1], q)
        elif name == "measure":
            out.append("M", q)
            records.append(find(inst.clbits[0]).index)
        elif name == "reset":
            out.append("R", q)
        else:
            raise ValueError(f"{name} is not a Clifford operation")
    return out, records


def _append_noise(out: Any, noise: PauliNoise, qubits: Sequence[int]) -> None:
    probabilities = noise.probabilities
    if noise.num_qubits == 1:
        px, py, pz = (probabilities.get(letter, 0.0) for letter in "XYZ")
        if px or py or pz:
            out.append("PAULI_CHANNEL_1", qubits, [px, py, pz])
        return
    # Stim's label "AB": A on the first target; qiskit's little-endian label is "BA"
    args = [probabilities.get(label[::-1], 0.0) for label in _STIM_PAIRS]
    if any(args):
        out.append("PAULI_CHANNEL_2", qubits, args)


def to_aer(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` with its :class:`PauliNoise` as Aer Pauli errors (the same channels), for
    Aer's own stabilizer or density-matrix methods (comparisons, benchmarks)."""
    from qiskit_aer.noise import pauli_error

    out = circuit.copy_empty_like()
    for inst in circuit.data:
        operation = inst.operation
        if isinstance(operation, PauliNoise):
            identity = "I" * operation.num_qubits
            terms = [(identity, 1 - sum(operation.probabilities.values()))]
            out.append(pauli_error(terms + list(operation.probabilities.items())), inst.qubits)
        else:
            out.append(inst)
    return out


def sample_stabilizer(
    circuit: QuantumCircuit, shots: int, seed: int | None
) -> npt.NDArray[np.uint8]:
    """Sample ``circuit`` (Clifford, Pauli noise) with Stim: bits ``(shots, num_clbits)``,
    column ``j`` being clbit ``j`` (the last measurement that writes it)."""
    program, records = to_stim(circuit)
    bits = np.zeros((shots, circuit.num_clbits), dtype=np.uint8)
    if not records:
        return bits
    sampler = program.compile_sampler(seed=seed)
    measured = np.asarray(sampler.sample(shots), dtype=np.uint8)
    for k, clbit in enumerate(records):  # later measurements overwrite earlier ones
        bits[:, clbit] = measured[:, k]
    return bits
