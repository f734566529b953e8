"""The emulator's engine: a circuit on device qubits in, measured bits out.

:class:`DeviceEmulator` holds one calibration's noise. :meth:`DeviceEmulator.prepare` turns
a circuit (already reduced to the qubits it uses, with their device indices) into what is
simulated: scheduled ALAP (:mod:`.schedule`), decoupled if asked (:mod:`.decoupling`), every
gate and idle window followed by its noise (:mod:`.idle_noise`).

**Circuits that cannot be scheduled** (control flow, delays of unbound length) fall back to
gate noise only, attached by an Aer noise model: each instruction name on each tuple of the
circuit's qubits gets the channel of its calibrated gate on the device qubits (or, with a
``gate_channel``, that channel: PEA's amplified channels apply there too). Such a model says
"every ``cz`` on these qubits is followed by this channel", so a ``gate_channel`` that draws a
new channel per gate *instance* (``draws_per_instance``, PEC's :class:`.PecSampler`) cannot be
expressed and is refused. The models are cached on the emulator (the
:data:`GATE_MODEL_CACHE_SIZE` most recently used), keyed by the set of (instruction, circuit
qubits, device qubits) the circuit uses and the ``gate_channel``: the randomizations of one pub
differ only in noiseless frame gates, so they share one model and run in one Aer call.

:meth:`DeviceEmulator.run` simulates many prepared circuits, each over many parameter
bindings, in as few Aer calls as the noise models and :data:`RUN_SHOT_LIMIT` allow, and returns
the *true* measured bits (readout error is applied afterwards, with numpy, so that kerneled
measurement can draw IQ points from the same bits).

**Randomizations.** :meth:`DeviceEmulator.prepare_template` prepares a pub's twirled
randomizations once, as one circuit whose parameter sets are the randomizations (Aer binds
them at run time: one call per pub and noise factor). Its noisy circuit is then made cheap to
simulate without changing what it simulates: every run of one-qubit gates and frames between
two noisy instructions becomes one ``u`` (:meth:`.TwirlTemplate.fused`), and on trajectories
(the state-vector method) each gate and its error become one channel. A trajectory then
applies a third to a half of the instructions it applied before; on Aer's shot branching
every instruction costs a fixed overhead per branch (far more than its arithmetic on ten
qubits), so that is most of the cost of a mitigated pub. Aer's own fusion is off for noisy
trajectories with parameters bound at run time: it fuses Kraus channels with such gates
across parameter sets, and the run can fail.

**Seeds.** Within one Aer call Aer gives every experiment its own seed (``seed + 2113 j``), but
two calls with the same ``seed_simulator`` replay the same random stream. So every Aer call and
every stabilizer (Stim) circuit of one :meth:`~DeviceEmulator.run` gets its own seed, drawn
from ``numpy.random.SeedSequence(seed)`` (62-bit: far apart, and clear of overflow when Aer
adds its per-experiment offsets); the same ``seed`` reproduces the same bits.

**Memory.** Before anything is simulated, a call whose state would exceed the emulator's
``memory_budget`` is refused (:mod:`.methods`); Aer itself gets the budget as
``max_memory_mb``, so that it refuses rather than exceeds it.

A device without calibration (the simulator) emulates no noise at all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from qiskit.circuit import CircuitInstruction, ControlFlowOp, QuantumCircuit

from .decoupling import insert_decoupling
from .device_noise import DeviceNoise
from .idle_noise import NOISELESS_LABELS, calibration_name, noisy_circuit
from .methods import (
    MPS_MAX_BOND_DIMENSION,
    default_job_memory,
    is_clifford,
    method_approximation,
    simulation_bytes,
    simulation_method,
)
from .schedule import schedule_circuit
from .stabilizer import sample_stabilizer, to_aer
from .twirling import TwirledCircuits, TwirlTemplate

__all__ = [
    "GATE_MODEL_CACHE_SIZE",
    "RUN_EXPERIMENT_LIMIT",
    "RUN_SHOT_LIMIT",
    "DecouplingPlan",
    "DeviceEmulator",
    "Prepared",
    "bits_from_memory",
    "run_seeds",
]

#: Shots (circuits x bindings x shots) one simulator call returns at most.
RUN_SHOT_LIMIT = 2_000_000
#: Experiments (circuits x bindings) one simulator call runs at most.
RUN_EXPERIMENT_LIMIT = 256
#: Gate noise models (for circuits that cannot be scheduled) one emulator keeps.
GATE_MODEL_CACHE_SIZE: Final = 64
#: Bits of the seeds :func:`run_seeds` derives (Aer adds ``2113 j`` for experiment ``j``).
_SEED_BITS: Final = 62

#: A gate noise model's key: the gate channel, and (name, circuit qubits, device qubits) used.
_ModelKey = tuple[Any, frozenset[tuple[str, tuple[int, ...], tuple[int, ...]]]]


def run_seeds(seed: int | None, count: int) -> list[int | None]:
    """``count`` distinct seeds derived from ``seed`` (all None when ``seed`` is None): one per
    simulator call or Stim circuit of one :meth:`DeviceEmulator.run`, independent streams
    where ``seed + k`` would replay neighbouring ones."""
    if seed is None:
        return [None] * count
    state = np.random.SeedSequence(seed % 2**64).generate_state(count, dtype=np.uint64)
    return [int(value) >> (64 - _SEED_BITS) for value in state]


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
    approximation: str = "noiseless"
    """What the method and the noise's form imply (:func:`.methods.method_approximation`)."""


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
        """The calibration's noise (None: noiseless)."""
        self.memory_budget = memory_budget or default_job_memory(1)
        """Bytes one simulation may hold (see :mod:`.methods`)."""
        self.dt = dt or 1e-9
        self.idle_noise = idle_noise and noise is not None and dt is not None
        """Whether idle windows get noise."""
        self._neighbours: dict[int, set[int]] = {}
        for a, b in coupling:
            self._neighbours.setdefault(a, set()).add(b)
            self._neighbours.setdefault(b, set()).add(a)
        self._gate_models: OrderedDict[_ModelKey, tuple[Any, Any]] = OrderedDict()
        """Gate noise models by key, least recently used first: (gate channel kept alive so
        that the key's identity cannot be reused, model or None when ideal)."""
        self._gate_models_lock = threading.Lock()

    @property
    def memory_budget_mb(self) -> int:
        """The memory budget in whole MiB (at least 1), Aer's ``max_memory_mb``."""
        return max(1, self.memory_budget >> 20)

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
        method: str = "automatic",
    ) -> Prepared:
        """What to simulate for ``circuit``, whose qubit ``i`` is device qubit ``physical[i]``.

        ``method`` (``options.simulator.method``) overrides the automatic choice.

        ``gate_channel(name, device_qubits)`` replaces the calibrated gate errors (noise
        amplification). ``shots`` (per binding) decides the method with the width and whether
        the circuit is Clifford (:mod:`.methods`); on the stabilizer method every noise is
        Pauli-twirled.

        A circuit that cannot be scheduled gets gate noise from a (cached) Aer noise model,
        built from ``gate_channel`` when given.

        Raises:
            ValueError: the circuit cannot be scheduled and ``gate_channel`` draws a channel
                per gate instance (``draws_per_instance``: PEC), which a noise model cannot
                express.
        """
        return self._prepare(
            circuit,
            physical,
            decoupling=decoupling,
            gate_channel=gate_channel,
            shots=shots,
            method=method,
        )

    def _prepare(
        self,
        circuit: QuantumCircuit,
        physical: Sequence[int],
        *,
        decoupling: DecouplingPlan | None,
        gate_channel: Any,
        shots: int,
        method: str,
        merge_gates: bool = False,
    ) -> Prepared:
        """:meth:`prepare`; ``merge_gates``: on the state-vector method, each gate and its
        error become one channel (:func:`.idle_noise.noisy_circuit`)."""
        noise = self.noise
        if noise is None:
            chosen = simulation_method(
                circuit.num_qubits,
                shots,
                noisy=False,
                clifford=is_clifford(circuit),
                requested=method,
                budget=self.memory_budget,
            )
            # noiseless: Aer's own choice, unless a method was asked for or the state vector
            # does not fit
            if method == "automatic" and chosen != "matrix_product_state":
                chosen = "automatic"
            return Prepared(circuit, scheduled=False, method=chosen, approximation="noiseless")
        schedule = None
        if self.dt:
            schedule = schedule_circuit(
                circuit,
                self.dt,
                lambda inst, qubits: self.duration(inst, [physical[q] for q in qubits]),
                decoupling.scheduling_method if decoupling is not None else "alap",
            )
        if schedule is None:
            if getattr(gate_channel, "draws_per_instance", False):
                raise ValueError(
                    "PEC is not emulated on circuits with control flow (or delays of unbound "
                    "length): such a circuit cannot be scheduled, so its gate noise is attached "
                    "per gate type and qubits, while PEC draws a new Pauli for every gate "
                    "instance; run it without pec_mitigation, or without control flow"
                )
            model = self._gate_noise_model(circuit, physical, gate_channel)
            chosen = simulation_method(
                circuit.num_qubits,
                shots,
                noisy=True,
                clifford=False,  # Stim does not run control flow: Aer does
                requested="statevector" if method == "stabilizer" else method,
                budget=self.memory_budget,
            )
            return Prepared(
                circuit,
                model,
                scheduled=False,
                method=chosen,
                approximation=method_approximation(chosen, pauli_noise=False),
            )
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
            circuit.num_qubits,
            shots,
            noisy=True,
            clifford=is_clifford(circuit),
            requested=method,
            budget=self.memory_budget,
        )
        out = noisy_circuit(
            schedule,
            physical,
            noise,
            gate_channel=gate_channel,
            idle=self.idle_noise,
            # Stim needs Pauli noise; Aer's MPS samples Pauli errors robustly where general
            # Kraus channels on wide states fail numerically
            pauli=method in ("stabilizer", "matrix_product_state"),
            merge_gates=merge_gates and method == "statevector",
        )
        if method == "matrix_product_state":
            out = to_aer(out)
        return Prepared(
            out,
            decoupling_pulses=pulses,
            method=method,
            approximation=method_approximation(method),
        )

    def prepare_template(
        self,
        twirled: TwirledCircuits,
        physical: Sequence[int],
        *,
        decoupling: DecouplingPlan | None = None,
        gate_channel: Any = None,
        shots: int = 0,
        method: str = "automatic",
    ) -> tuple[TwirlTemplate | None, Prepared | None]:
        """A pub's randomizations as one prepared parameterized circuit
        (:meth:`.TwirledCircuits.template`), whose parameter sets are the randomizations, when
        they can run so: more than one, not on the stabilizer method (Stim runs bound Clifford
        circuits, cheaply one by one), and schedulable (or noiseless). Otherwise ``(None,
        None)``: the caller prepares each randomization on its own. ``gate_channel`` must be
        the same for every randomization (not PEC's draws).

        With noise, on the state-vector or density-matrix method, the frames are fused with
        the one-qubit gates around them (:meth:`.TwirlTemplate.fused`: the returned template's
        parameters are those of the returned circuit) and, on the state-vector method, each
        gate is merged with its error (see the module docstring)."""
        if len(twirled) < 2 or getattr(gate_channel, "draws_per_instance", False):
            return None, None
        chosen = simulation_method(
            len(physical),
            shots,
            noisy=self.noise is not None,
            clifford=is_clifford(twirled[0]),
            requested=method,
            budget=self.memory_budget,
        )
        if chosen == "stabilizer":
            return None, None
        template = twirled.template()
        prepared = self._prepare(
            template.circuit,
            physical,
            decoupling=decoupling,
            gate_channel=gate_channel,
            shots=shots,
            method=chosen,
            # trajectories: one instruction less per noisy gate
            merge_gates=True,
        )
        if self.noise is None:
            return template, prepared
        if not prepared.scheduled:
            return None, None
        if prepared.method in ("statevector", "density_matrix"):
            # frames merged with the gates around them: each trajectory (or density-matrix
            # run) applies one gate per run of one-qubit gates instead of up to six
            template, fused = template.fused(prepared.circuit)
            prepared = replace(prepared, circuit=fused)
        return template, prepared

    def _run_stabilizer(
        self,
        item: Prepared,
        binds: Mapping[Any, Any] | None,
        shots: int,
        seed: int | None,
    ) -> npt.NDArray[np.uint8]:
        """Sample a Clifford circuit with Pauli noise on Stim: ``(1, shots, num_clbits)`` (a
        Clifford circuit has no parameters left, so one binding); ``seed`` is its own."""
        count = len(next(iter(binds.values()))) if binds else 1
        sample = sample_stabilizer(item.circuit, shots, seed)
        return np.array(np.broadcast_to(sample, (count, *sample.shape)), dtype=np.uint8)

    def _x_duration(self, qubit: int) -> float:
        """Seconds an X pulse takes on device qubit ``qubit`` (0 if not calibrated)."""
        cal = self.noise.gate("x", (qubit,)) if self.noise is not None else None
        return cal.duration if cal is not None else 0.0

    def _gate_noise_model(
        self,
        circuit: QuantumCircuit,
        physical: Sequence[int],
        gate_channel: Callable[[str, tuple[int, ...]], Any] | None = None,
    ) -> Any:
        """The Aer noise model of ``circuit``'s gates (None: no gate has noise), from
        ``gate_channel`` (default: the calibrated channels); cached (see the module
        docstring)."""
        entries = frozenset(
            (name, qubits, tuple(physical[q] for q in qubits))
            for name, label, qubits in _walk(circuit, list(range(circuit.num_qubits)))
            if label not in NOISELESS_LABELS
        )
        key: _ModelKey = (gate_channel, entries)
        try:
            hash(key)
        except TypeError:  # an unhashable gate channel: build, do not cache
            return self._build_gate_noise_model(entries, gate_channel)
        with self._gate_models_lock:
            hit = self._gate_models.get(key)
            if hit is not None:
                self._gate_models.move_to_end(key)
                return hit[1]
        model = self._build_gate_noise_model(entries, gate_channel)
        with self._gate_models_lock:
            self._gate_models[key] = (gate_channel, model)
            self._gate_models.move_to_end(key)
            while len(self._gate_models) > GATE_MODEL_CACHE_SIZE:
                self._gate_models.popitem(last=False)
        return model

    def _build_gate_noise_model(
        self,
        entries: frozenset[tuple[str, tuple[int, ...], tuple[int, ...]]],
        gate_channel: Callable[[str, tuple[int, ...]], Any] | None,
    ) -> Any:
        from qiskit_aer.noise import NoiseModel

        noise = self.noise
        assert noise is not None
        channel_of = gate_channel or noise.gate_channel
        model = NoiseModel()
        for name, qubits, device in sorted(entries):
            channel = channel_of(calibration_name(name), device)
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
        without parameters), column ``j`` being clbit ``j``. Circuits sharing a noise model
        run in one Aer call (as long as :data:`RUN_SHOT_LIMIT` allows); every Aer call and
        every stabilizer circuit gets its own seed (:func:`run_seeds`), the same ``seed`` the
        same bits. Aer may use at most the emulator's ``memory_budget``.

        Raises:
            ValueError: a circuit is too wide for the memory the simulation may use (checked
                before anything is simulated), or the simulator failed; ``where`` (the pub)
                starts the message.
        """
        from qiskit_aer import AerSimulator

        out: list[npt.NDArray[np.uint8] | None] = [None] * len(prepared)
        groups: dict[tuple[int, str], list[int]] = {}
        stabilizer: list[int] = []
        noisy = self.noise is not None
        for i, item in enumerate(prepared):
            if item.method == "stabilizer" and noisy:
                stabilizer.append(i)  # Stim, with the noise Pauli-twirled by prepare()
            else:
                groups.setdefault((id(item.noise_model), item.method), []).append(i)
        # (circuits, binding range): at most RUN_SHOT_LIMIT shots (Aer returns one string a
        # shot) and RUN_EXPERIMENT_LIMIT experiments (Aer holds each bound circuit) per call
        chunks: list[tuple[list[int], int, int]] = []
        for indices in groups.values():
            n = 1
            if binds is not None and binds[indices[0]]:
                n = len(next(iter(binds[indices[0]].values())))
            rows = max(1, min(RUN_EXPERIMENT_LIMIT, RUN_SHOT_LIMIT // max(1, shots)))
            if n > rows:  # one circuit at a time, its bindings in ranges
                chunks.extend(
                    ([i], lo, min(n, lo + rows)) for i in indices for lo in range(0, n, rows)
                )
                continue
            step = max(1, min(RUN_SHOT_LIMIT // max(1, n * shots), RUN_EXPERIMENT_LIMIT // n))
            chunks.extend((indices[k : k + step], 0, n) for k in range(0, len(indices), step))
        methods: list[str] = []
        for indices, _lo, _hi in chunks:  # every chunk checked before anything is simulated
            width = max(prepared[i].circuit.num_qubits for i in indices)
            method = prepared[indices[0]].method
            if method == "automatic":  # noiseless, Aer's choice: what it needs at most
                clifford = all(is_clifford(prepared[i].circuit) for i in indices)
                needed = simulation_bytes(
                    simulation_method(width, shots, noisy=False, clifford=clifford), width
                )
            else:
                needed = simulation_bytes(method, width)
            if needed > self.memory_budget:
                raise ValueError(
                    f"{where}: the circuit acts on {width} qubits: the {method} simulation "
                    f"needs {_mib(needed)}, more than this service's per-job memory budget "
                    f"({_mib(self.memory_budget)}); qubits that no instruction touches cost "
                    "nothing, only the circuit's own width counts: run a narrower circuit"
                )
            methods.append(method)
        # one seed per Stim circuit, then one per Aer call: no two replay the same stream
        seeds = run_seeds(seed, len(stabilizer) + len(chunks))
        for i, stabilizer_seed in zip(stabilizer, seeds, strict=False):
            out[i] = self._run_stabilizer(
                prepared[i], binds[i] if binds else None, shots, stabilizer_seed
            )
        parts: dict[int, list[npt.NDArray[np.uint8]]] = {}
        for (indices, lo, hi), method, call_seed in zip(
            chunks, methods, seeds[len(stabilizer) :], strict=True
        ):
            model = prepared[indices[0]].noise_model
            extra: dict[str, Any] = {}
            if method == "matrix_product_state":
                extra["matrix_product_state_max_bond_dimension"] = MPS_MAX_BOND_DIMENSION
            elif method == "statevector" and self.noise is not None:
                # Trajectories share their state until a noise draw tells them apart (Aer's
                # shot branching): the same samples, 3-4x faster when errors are rare
                extra["shot_branching_enable"] = True
                extra["shot_branching_sampling_enable"] = True
            circuits = [prepared[i].circuit for i in indices]
            run_binds = None
            if binds is not None and any(circuit.parameters for circuit in circuits):
                if method == "statevector" and self.noise is not None:
                    # Aer's fusion of Kraus noise with gates bound at run time mixes the
                    # parameter sets' matrices (the run can fail), and on noisy trajectories
                    # it costs more than it saves
                    extra["fusion_enable"] = False
                run_binds = []
                for i in indices:
                    wanted = set(prepared[i].circuit.parameters)  # once: a view's test is slow
                    run_binds.append(
                        {p: list(v[lo:hi]) for p, v in binds[i].items() if p in wanted}
                    )
                # bound as Aer runs them, not as one copy of the circuit per binding
                extra["runtime_parameter_bind_enable"] = True
            simulator = AerSimulator(
                method=method, noise_model=model, max_memory_mb=self.memory_budget_mb, **extra
            )
            result = simulator.run(
                circuits,
                shots=shots,
                seed_simulator=call_seed,
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
                parts.setdefault(i, []).append(np.stack(blocks))
        for i, blocks_of_i in parts.items():
            out[i] = blocks_of_i[0] if len(blocks_of_i) == 1 else np.concatenate(blocks_of_i)
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
