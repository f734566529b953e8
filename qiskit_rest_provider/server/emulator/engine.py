"""The emulator's engine: a circuit on device qubits in, measured bits out.

:class:`DeviceEmulator` holds one calibration's noise. :meth:`DeviceEmulator.prepare` turns
a circuit (already reduced to the qubits it uses, with their device indices) into what is
simulated: scheduled ALAP (:mod:`.schedule`), decoupled if asked (:mod:`.decoupling`), every
gate and idle window followed by its noise (:mod:`.idle_noise`). Circuits that cannot be
scheduled (control flow) fall back to gate noise attached by an Aer noise model.
:meth:`DeviceEmulator.run` simulates many prepared circuits, each over many parameter
bindings, in one Aer call, and returns the *true* measured bits (readout error is applied
afterwards, with numpy, so that kerneled measurement can draw IQ points from the same bits).

A device without calibration (the simulator) emulates no noise at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit.circuit import CircuitInstruction, ControlFlowOp, QuantumCircuit

from .decoupling import insert_decoupling
from .device_noise import DeviceNoise
from .idle_noise import NOISELESS_LABELS, calibration_name, noisy_circuit
from .methods import default_job_memory, is_clifford, simulation_bytes, simulation_method
from .schedule import schedule_circuit
from .stabilizer import sample_stabilizer

__all__ = ["DecouplingPlan", "DeviceEmulator", "Prepared", "bits_from_memory"]

#: Shots (circuits x bindings x shots) one simulator call returns at most.
RUN_SHOT_LIMIT = 2_000_000


@dataclass(frozen=True)
class DecouplingPlan:
    """What ``dynamical_decoupling`` asks for."""

    sequence_type: str = "XX"
    extra_slack_distribution: str = "middle"
    scheduling_method: str = "alap"
    skip_reset_qubits: bool = False


@dataclass
class Prepared:
    """A circuit ready to simulate."""

    circuit: QuantumCircuit
    """The circuit with its noise as instructions."""
    noise_model: Any = None
    """An Aer noise model when the circuit could not be scheduled (gate noise only)."""
    scheduled: bool = True
    """Whether idle time was timed (and got its noise)."""
    decoupling_pulses: int = 0
    """Pulses inserted by dynamical decoupling."""
    method: str = "automatic"
    """The simulation method (:func:`.methods.simulation_method`)."""


class DeviceEmulator:
    """Prepares and runs circuits with one calibration's noise (``noise`` None: noiseless).

    Args:
        noise: The device's noise.
        dt: Seconds per sample.
        coupling: Coupled device qubit pairs (for staggered decoupling).
        idle_noise: Apply relaxation and ZZ to idle windows.
        memory_budget: Bytes one simulation may hold (default: half the machine's memory).
    """

    def __init__(
        self,
        noise: DeviceNoise | None,
        dt: float | None,
        coupling: Sequence[tuple[int, int]] = (),
        *,
        idle_noise: bool = True,
        memory_budget: int | None = None,
    ) -> None:
        self.noise = noise
        self.memory_budget = memory_budget or default_job_memory(1)
        """Bytes one simulation may hold (see :mod:`.methods`)."""
        """The calibration's noise (None: noiseless)."""
        self.dt = dt or 1e-9
        self.idle_noise = idle_noise and noise is not None and dt is not None
        """Whether idle windows get noise."""
        self._neighbours: dict[int, set[int]] = {}
        for a, b in coupling:
            self._neighbours.setdefault(a, set()).add(b)
            self._neighbours.setdefault(b, set()).add(a)

    def duration(self, instruction: CircuitInstruction, physical: Sequence[int]) -> float:
        """Seconds ``instruction`` takes on device qubits ``physical``."""
        noise = self.noise
        if noise is None:
            return 0.0
        name = instruction.operation.name
        if name == "measure":
            return float(noise.readout_length[physical[0]])
        if name == "reset":
            cal = noise.gate("reset", tuple(physical))
            return cal.duration if cal else float(noise.readout_length[physical[0]])
        if instruction.operation.label in NOISELESS_LABELS:
            return 0.0
        cal = noise.gate(calibration_name(name), tuple(physical))
        return cal.duration if cal else 0.0

    def prepare(
        self,
        circuit: QuantumCircuit,
        physical: Sequence[int],
        *,
        decoupling: DecouplingPlan | None = None,
        gate_channel: Any = None,
        shots: int = 0,
    ) -> Prepared:
        """What to simulate for ``circuit``, whose qubit ``i`` is device qubit ``physical[i]``.

        ``gate_channel(name, device_qubits)`` replaces the calibrated gate errors (noise
        amplification). ``shots`` (per binding) decides the method with the width and whether
        the circuit is Clifford (:mod:`.methods`); on the stabilizer method every noise is
        Pauli-twirled."""
        noise = self.noise
        if noise is None:
            return Prepared(circuit, scheduled=False)
        schedule = None
        if self.dt:
            schedule = schedule_circuit(
                circuit,
                self.dt,
                lambda inst, qubits: self.duration(inst, [physical[q] for q in qubits]),
                decoupling.scheduling_method if decoupling is not None else "alap",
            )
        if schedule is None:
            return Prepared(circuit, self._gate_noise_model(circuit, physical), scheduled=False)
        pulses = 0
        if decoupling is not None:
            index = {p: i for i, p in enumerate(physical)}
            neighbours = {
                index[p]: {index[n] for n in self._neighbours.get(p, ()) if n in index}
                for p in physical
            }
            x_dt = {i: round(self._x_duration(p) / self.dt) for i, p in enumerate(physical)}
            active = sorted(q for q in range(circuit.num_qubits) if schedule.busy[q])
            pulses = insert_decoupling(
                schedule,
                active,
                x_dt.__getitem__,
                sequence_type=decoupling.sequence_type,
                extra_slack_distribution=decoupling.extra_slack_distribution,
                skip_reset_qubits=decoupling.skip_reset_qubits,
                neighbours=neighbours,
            )
        method = simulation_method(
            circuit.num_qubits, shots, noisy=True, clifford=is_clifford(circuit)
        )
        out = noisy_circuit(
            schedule,
            physical,
            noise,
            gate_channel=gate_channel,
            idle=self.idle_noise,
            pauli=method == "stabilizer",
        )
        return Prepared(out, decoupling_pulses=pulses, method=method)

    def _run_stabilizer(
        self,
        item: Prepared,
        binds: Mapping[Any, Any] | None,
        shots: int,
        seed: int | None,
        index: int,
    ) -> npt.NDArray[np.uint8]:
        """Sample a Clifford circuit with Pauli noise on Stim: ``(1, shots, num_clbits)`` (a
        Clifford circuit has no parameters left, so one binding)."""
        count = len(next(iter(binds.values()))) if binds else 1
        sample = sample_stabilizer(item.circuit, shots, None if seed is None else seed + index)
        return np.array(np.broadcast_to(sample, (count, *sample.shape)), dtype=np.uint8)

    def _x_duration(self, qubit: int) -> float:
        """Seconds an X pulse takes on device qubit ``qubit`` (0 if not calibrated)."""
        cal = self.noise.gate("x", (qubit,)) if self.noise is not None else None
        return cal.duration if cal is not None else 0.0

    def _gate_noise_model(self, circuit: QuantumCircuit, physical: Sequence[int]) -> Any:
        from qiskit_aer.noise import NoiseModel

        noise = self.noise
        assert noise is not None
        model = NoiseModel()
        seen: set[tuple[str, tuple[int, ...]]] = set()
        for name, label, qubits in _walk(circuit, list(range(circuit.num_qubits))):
            if (name, qubits) in seen or label in NOISELESS_LABELS:
                continue
            seen.add((name, qubits))
            channel = noise.gate_channel(calibration_name(name), tuple(physical[q] for q in qubits))
            if channel is not None:
                model.add_quantum_error(channel, name, list(qubits), warnings=False)
        return model if not model.is_ideal() else None

    def run(
        self,
        prepared: Sequence[Prepared],
        binds: Sequence[Mapping[Any, Any]] | None,
        shots: int,
        seed: int | None,
        *,
        where: str = "",
    ) -> list[npt.NDArray[np.uint8]]:
        """Simulate each circuit over its bindings (``binds[i]``: parameter -> values, all of
        one length ``n``; None: no parameters) with ``shots`` shots each.

        Returns, per circuit, the true measured bits ``(n, shots, num_clbits)`` (``n = 1``
        without parameters), column ``j`` being clbit ``j``.

        Raises:
            ValueError: a circuit is too wide for the memory the simulation may use (checked
                before anything is simulated), or the simulator failed; ``where`` (the pub)
                starts the message.
        """
        from qiskit_aer import AerSimulator

        out: list[npt.NDArray[np.uint8] | None] = [None] * len(prepared)
        groups: dict[int, list[int]] = {}
        for i, item in enumerate(prepared):
            if item.method == "stabilizer":
                out[i] = self._run_stabilizer(item, binds[i] if binds else None, shots, seed, i)
                continue
            groups.setdefault(id(item.noise_model), []).append(i)
        chunks: list[list[int]] = []
        for indices in groups.values():
            n = 1
            if binds is not None and binds[indices[0]]:
                n = len(next(iter(binds[indices[0]].values())))
            # at most RUN_SHOT_LIMIT shots per simulator call (Aer returns one string a shot)
            step = max(1, RUN_SHOT_LIMIT // max(1, n * shots))
            chunks.extend(indices[k : k + step] for k in range(0, len(indices), step))
        for indices in chunks:
            model = prepared[indices[0]].noise_model
            width = max(prepared[i].circuit.num_qubits for i in indices)
            noisy = self.noise is not None
            clifford = not noisy and all(is_clifford(prepared[i].circuit) for i in indices)
            method = simulation_method(width, shots, noisy=noisy, clifford=clifford)
            needed = simulation_bytes(method, width)
            if needed > self.memory_budget:
                raise ValueError(
                    f"{where}: the circuit acts on {width} qubits: the {method} simulation "
                    f"needs {_mib(needed)}, more than this service's per-job memory budget "
                    f"({_mib(self.memory_budget)}); qubits that no instruction touches cost "
                    "nothing, only the circuit's own width counts: run a narrower circuit"
                )
            if not noisy:
                method = "automatic"  # Aer's choice: stabilizer for Clifford circuits
            simulator = AerSimulator(method=method, noise_model=model)
            circuits = [prepared[i].circuit for i in indices]
            run_binds = None
            if binds is not None and any(circuit.parameters for circuit in circuits):
                run_binds = [
                    {
                        p: list(values)
                        for p, values in binds[i].items()
                        if p in prepared[i].circuit.parameters
                    }
                    for i in indices
                ]
            result = simulator.run(
                circuits,
                shots=shots,
                seed_simulator=seed,
                parameter_binds=run_binds,
                memory=True,
            ).result()
            if not result.success:
                raise ValueError(f"{where}: the simulation failed: {result.status}")
            per_circuit = len(result.results) // len(indices)
            for k, i in enumerate(indices):
                num_clbits = prepared[i].circuit.num_clbits
                blocks = [
                    # a circuit that measures nothing has no memory: its clbits read 0
                    bits_from_memory(
                        getattr(result.results[k * per_circuit + j].data, "memory", None)
                        or ["0x0"] * shots,
                        num_clbits,
                    )
                    for j in range(per_circuit)
                ]
                out[i] = np.stack(blocks)
        return [bits for bits in out if bits is not None]


def _mib(size: int) -> str:
    """A byte count for people: MiB below a GiB, else GiB."""
    return f"{size / (1 << 20):,.0f} MiB" if size < 1 << 30 else f"{size / (1 << 30):,.1f} GiB"


def _walk(
    circuit: QuantumCircuit, outer: Sequence[int]
) -> list[tuple[str, str | None, tuple[int, ...]]]:
    """Name, label and outer-circuit qubit indices of every instruction, control-flow blocks
    included (``outer[i]``: the outer index of ``circuit``'s qubit ``i``)."""
    out = []
    for inst in circuit.data:
        qubits = tuple(outer[circuit.find_bit(q).index] for q in inst.qubits)
        operation = inst.operation
        if isinstance(operation, ControlFlowOp):
            for block in operation.blocks:
                out.extend(_walk(block, qubits))
            continue
        out.append((operation.name, operation.label, qubits))
    return out


def bits_from_memory(memory: Sequence[str], num_clbits: int) -> npt.NDArray[np.uint8]:
    """Aer's hexadecimal per-shot memory as bits ``(shots, num_clbits)``, column ``j`` = clbit
    ``j``."""
    shots = len(memory)
    if num_clbits == 0 or shots == 0:
        return np.zeros((shots, num_clbits), dtype=np.uint8)
    num_bytes = (num_clbits + 7) // 8
    raw = b"".join(int(h, 16).to_bytes(num_bytes, "little") for h in memory)
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(shots, num_bytes)
    return np.unpackbits(packed, axis=1, bitorder="little")[:, :num_clbits]
