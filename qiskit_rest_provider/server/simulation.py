"""Run sampler and estimator jobs on Aer with noise from the device's calibration.

Circuits are first reduced to the qubits their instructions touch, so a Bell pair on a 156-qubit
device simulates two qubits; noise models are built for exactly those qubits and cached per
(calibration, qubits). The simulator backend (no properties) is noiseless.

Estimator observables may act on qubits that no instruction touches (``"X" * 156`` on a
transpiled circuit). Those *idle* qubits stay in |0> for the whole circuit, so each Pauli term
factors into (the expectation of its part on the active qubits) x (a product over its idle
qubits of I, Z -> 1 and X, Y -> 0): terms with X or Y on an idle qubit are exactly 0, terms that
are Z/I on their idle qubits and identity elsewhere are exactly their coefficient, and only the
rest, restricted to the active qubits, are simulated. Any observable therefore evaluates if the
circuit's active part fits in memory, whatever the register's width.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from qiskit.circuit import QuantumCircuit
from qiskit.converters import circuit_to_dag, dag_to_circuit
from qiskit.exceptions import QiskitError
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import EstimatorPub, SamplerPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import SparseObservable

from ..core.codec.pubs import decode_pubs
from ..core.codec.results import encode_result
from ..core.execution_span import DoubleSliceSpan, ExecutionSpans
from ..core.properties import BackendProperties
from ..wire.constants import DEFAULT_PRECISION, DEFAULT_SHOTS

__all__ = ["execute_job"]


def _is_fixed_delay(operation: Any) -> bool:
    """A delay whose duration is a number (not a parameter or a stretch)."""
    return operation.name == "delay" and all(
        isinstance(p, (int, float, np.integer, np.floating)) for p in operation.params
    )


def _active_qubits(circuit: QuantumCircuit, *, delays_idle: bool = False) -> set[int]:
    """Indices of the qubits an instruction other than a barrier touches.

    With ``delays_idle``, fixed-length delays do not count either: a qubit in |0> stays in |0>
    under a delay (the noise models here put no error on delays, and relaxation towards the
    ground state would leave |0> alone as well). Scheduled circuits pad every idle qubit with
    delays, so this keeps them idle. Measurements and resets count: they write clbits that the
    circuit may read.
    """
    active: set[int] = set()
    for inst in circuit.data:
        operation = inst.operation
        if operation.name == "barrier" or (delays_idle and _is_fixed_delay(operation)):
            continue
        active.update(circuit.find_bit(q).index for q in inst.qubits)
    return active


def _compact(circuit: QuantumCircuit, keep: Sequence[int]) -> QuantumCircuit:
    keep_set = set(keep)
    idle = [q for i, q in enumerate(circuit.qubits) if i not in keep_set]
    if not idle:
        return circuit
    idle_set = set(idle)
    dag = circuit_to_dag(circuit)
    # barriers may span idle qubits: drop them (they do not affect simulation); delays left on
    # dropped qubits are those _active_qubits(delays_idle=True) ignored
    for node in list(dag.op_nodes()):
        if node.op.name == "barrier" or (
            node.op.name == "delay" and all(q in idle_set for q in node.qargs)
        ):
            dag.remove_op_node(node)
    dag.remove_qubits(*idle)
    return dag_to_circuit(dag)


#: Calibrations seen by this process, by key (device/calibration id): parsed once each.
_CALIBRATIONS: dict[str, BackendProperties] = {}


def _calibration(key: str, properties: Mapping[str, Any]) -> BackendProperties:
    props = _CALIBRATIONS.get(key)
    if props is None:
        if len(_CALIBRATIONS) >= 32:
            _CALIBRATIONS.clear()
        props = _CALIBRATIONS[key] = BackendProperties(properties)
    return props


@functools.lru_cache(maxsize=64)
def _noise_model(cal_key: str, qubits: tuple[int, ...], twoq_names: tuple[str, ...]) -> Any:
    from qiskit_aer.noise import (
        NoiseModel,
        ReadoutError,
        depolarizing_error,
        thermal_relaxation_error,
    )

    props = _CALIBRATIONS[cal_key]
    index = {q: i for i, q in enumerate(qubits)}
    model = NoiseModel(basis_gates=["id", "rz", "sx", "x", "rx", *twoq_names])

    def relax(q: int, length: float | None) -> Any:
        t1, t2 = props.t1(q), props.t2(q)
        if not length or not t1 or not t2:
            return None
        return thermal_relaxation_error(t1, min(t2, 2 * t1), length)

    for q in qubits:
        i = index[q]
        for gate in ("sx", "x", "id", "rx"):
            try:
                error = props.gate_error(gate, q)
                length = props.gate_length(gate, q)
            except KeyError:
                continue
            channel = depolarizing_error(min(2 * (error or 0.0), 1.0), 1)
            thermal = relax(q, length)
            if thermal is not None:
                channel = channel.compose(thermal)
            model.add_quantum_error(channel, gate, [i])
        p01, p10 = props.prob_meas0_prep1(q), props.prob_meas1_prep0(q)
        if p01 is None or p10 is None:
            ro = props.readout_error(q)
            p01 = p10 = ro
        if p01 is not None and p10 is not None:
            model.add_readout_error(ReadoutError([[1 - p10, p10], [p01, 1 - p01]]), [i])
    for name in twoq_names:
        try:
            entries = props.gate_property(name)
        except KeyError:
            continue
        for qargs, params in entries.items():
            if not all(q in index for q in qargs):
                continue
            error = params.get("gate_error", (0.0,))[0]
            length = params.get("gate_length", (None,))[0]
            channel = depolarizing_error(min(error * 4 / 3, 1.0), 2)
            ta, tb = relax(qargs[0], length), relax(qargs[1], length)
            if ta is not None and tb is not None:
                channel = channel.compose(tb.tensor(ta))
            model.add_quantum_error(channel, name, [index[q] for q in qargs])
    return model


#: SparseObservable bit-term flag set for X (0b10) and Y (0b11), clear for Z (0b01).
_XY_FLAG = 0b10


class _SplitObservables(NamedTuple):
    """An estimator pub's observables split into what is simulated and what is exact."""

    simulated: ObservablesArray
    """The terms to simulate, restricted to the kept qubits (an element may have none)."""
    constant: npt.NDArray[np.float64]
    """Per observable, the sum of the terms evaluated exactly (the observables' shape)."""
    any_simulated: bool
    """Whether any observable has a term to simulate."""


def _split_observables(
    observables: ObservablesArray, keep: Sequence[int], width: int
) -> _SplitObservables:
    """Factor the qubits outside ``keep`` (all in |0>) out of every Pauli term.

    A term with X or Y on such a qubit has expectation 0; a term with only Z (or I) there has
    the expectation of its part on ``keep``, which is exactly 1 when that part is the identity
    (every channel the simulator applies preserves the trace). Terms that touch no such qubit
    are only relabelled, in their order, so observables within ``keep`` reach Aer exactly as
    they always did. Vectorized over all terms of all observables.
    """
    elements = observables.sparse_observables_array().ravel()
    count = elements.size
    num_keep = len(keep)
    bits_parts: list[npt.NDArray[np.uint8]] = [np.zeros(0, np.uint8)]
    index_parts: list[npt.NDArray[np.intp]] = [np.zeros(0, np.intp)]
    coeff_parts: list[npt.NDArray[np.complex128]] = [np.zeros(0, np.complex128)]
    length_parts: list[npt.NDArray[np.intp]] = [np.zeros(0, np.intp)]
    for obs in elements:
        bits_parts.append(np.asarray(obs.bit_terms, dtype=np.uint8))
        index_parts.append(np.asarray(obs.indices, dtype=np.intp))
        coeff_parts.append(np.asarray(obs.coeffs, dtype=np.complex128))
        boundaries = np.asarray(obs.boundaries, dtype=np.intp)
        length_parts.append(boundaries[1:] - boundaries[:-1])
    terms_per_element = np.fromiter(
        (len(part) for part in coeff_parts[1:]), dtype=np.intp, count=count
    )
    bits = np.concatenate(bits_parts)
    coeffs = np.concatenate(coeff_parts)
    term_length = np.concatenate(length_parts)
    num_terms = term_length.size
    term_of_entry = np.repeat(np.arange(num_terms), term_length)
    element_of_term = np.repeat(np.arange(count), terms_per_element)

    position = np.full(width, -1, dtype=np.intp)
    position[np.asarray(keep, dtype=np.intp)] = np.arange(num_keep)
    new_index = position[np.concatenate(index_parts)]
    idle = new_index < 0
    idle_per_term = np.bincount(term_of_entry[idle], minlength=num_terms)
    flips_idle = np.bincount(term_of_entry[idle & (bits & _XY_FLAG != 0)], minlength=num_terms)
    active_length = term_length - idle_per_term
    exact = (idle_per_term > 0) & ((flips_idle > 0) | (active_length == 0))
    exact_one = exact & (flips_idle == 0)
    constant = np.bincount(
        element_of_term[exact_one], weights=coeffs.real[exact_one], minlength=count
    ).astype(np.float64)

    simulated = ~exact
    entry_kept = simulated[term_of_entry] & ~idle
    kept_bits = bits[entry_kept]
    kept_index = new_index[entry_kept].astype(np.uint32)
    kept_coeffs = coeffs[simulated]
    term_start = np.zeros(int(simulated.sum()) + 1, dtype=np.intp)
    np.cumsum(active_length[simulated], out=term_start[1:])
    element_start = np.zeros(count + 1, dtype=np.intp)
    np.cumsum(np.bincount(element_of_term[simulated], minlength=count), out=element_start[1:])

    out = np.empty(count, dtype=object)
    nothing = SparseObservable.zero(num_keep)  # for observables whose every term is exact
    for e in range(count):
        t0, t1 = int(element_start[e]), int(element_start[e + 1])
        if t0 == t1:
            out[e] = nothing
            continue
        e0, e1 = int(term_start[t0]), int(term_start[t1])
        # simplify() merges terms that became equal once their idle Z were dropped; it is what
        # ObservablesArray applied to the relabelled terms before, so observables without idle
        # qubits reach Aer with the same terms in the same order (the same sums, bit for bit)
        out[e] = SparseObservable.from_raw_parts(
            num_keep,
            kept_coeffs[t0:t1],
            kept_bits[e0:e1],
            kept_index[e0:e1],
            term_start[t0 : t1 + 1] - e0,
        ).simplify()
    shape = observables.shape
    return _SplitObservables(
        ObservablesArray(out.reshape(shape), num_qubits=num_keep, copy=False, validate=False),
        constant.reshape(shape),
        bool(kept_coeffs.size),
    )


def _observed_qubits(observables: ObservablesArray) -> set[int]:
    """Indices of the qubits on which some term of some observable is not the identity."""
    elements = observables.sparse_observables_array().ravel()
    parts = [np.asarray(obs.indices, dtype=np.intp) for obs in elements]
    return {int(q) for q in np.unique(np.concatenate([np.zeros(0, np.intp), *parts]))}


def _prepare(
    circuit: QuantumCircuit, cal_key: str | None, twoq: tuple[str, ...]
) -> tuple[QuantumCircuit, list[int], Any]:
    keep = sorted(_active_qubits(circuit)) or [0]
    compact = _compact(circuit, keep)
    model = _noise_model(cal_key, tuple(keep), twoq) if cal_key else None
    return compact, keep, model


def execute_job(
    program: str,
    params: Mapping[str, Any],
    configuration: Mapping[str, Any],
    properties: Mapping[str, Any] | None,
    calibration_key: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Run a job. Returns ``(result_text, metrics)``. Raises ``ValueError`` for bad input.

    ``calibration_key`` names ``properties`` uniquely (device/calibration id) so this process
    parses each calibration and builds each noise model once.
    """
    options = dict(params.get("options") or {})
    sim = dict(options.get("simulator") or {})
    cal_key = None
    if properties:
        cal_key = (
            calibration_key
            or "sha256/"
            + hashlib.sha256(json.dumps(properties, sort_keys=True).encode()).hexdigest()
        )
        _calibration(cal_key, properties)
    twoq = tuple(g for g in configuration.get("basis_gates", []) if g in ("cz", "cx", "ecr", "rzz"))
    num_qubits = int(configuration["n_qubits"])
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    if program == "sampler":
        default_shots = params.get("shots") or options.get("default_shots") or DEFAULT_SHOTS
        pubs = decode_pubs(
            program, params["pubs"], num_qubits=num_qubits, default_shots=int(default_shots)
        )
        result = _run_sampler(pubs, cal_key, twoq, sim.get("seed_simulator"), started)
    else:
        precision = params.get("precision") or options.get("default_precision") or DEFAULT_PRECISION
        pubs = decode_pubs(
            program, params["pubs"], num_qubits=num_qubits, default_precision=float(precision)
        )
        seed = options.get("seed_estimator", sim.get("seed_simulator"))
        result = _run_estimator(pubs, cal_key, twoq, seed, options.get("default_shots"))
    elapsed = time.perf_counter() - t0
    return encode_result(result), {"circuits_execution_time_ns": int(elapsed * 1e9)}


def _run_sampler(
    pubs: Sequence[SamplerPub],
    cal_key: str | None,
    twoq: tuple[str, ...],
    seed: int | None,
    started: _dt.datetime,
) -> PrimitiveResult[Any]:
    from qiskit_aer.primitives import SamplerV2 as AerSampler

    results = []
    slices = {}
    for i, pub in enumerate(pubs):
        compact, _keep, model = _prepare(pub.circuit, cal_key, twoq)
        backend_options: dict[str, Any] = {}
        if model is not None:
            backend_options["noise_model"] = model
        # The seed goes to the constructor: qiskit-aer 0.17 passes a run_options seed twice.
        sampler = AerSampler(
            seed=None if seed is None else int(seed) + i,
            options={"backend_options": backend_options},
        )
        aer_pub = SamplerPub(compact, pub.parameter_values, pub.shots)
        res = sampler.run([aer_pub]).result()[0]
        res.metadata.pop("simulator_metadata", None)
        res.metadata.setdefault("circuit_metadata", dict(pub.circuit.metadata or {}))
        results.append(res)
        shape = (*pub.shape, pub.shots)
        slices[i] = (shape, slice(0, max(1, math.prod(pub.shape))), slice(0, pub.shots))
    stopped = _dt.datetime.now(_dt.timezone.utc)
    spans = ExecutionSpans([DoubleSliceSpan(started, stopped, slices)])
    return PrimitiveResult(
        results, metadata={"execution": {"execution_spans": spans}, "version": 2}
    )


def _run_estimator(
    pubs: Sequence[EstimatorPub],
    cal_key: str | None,
    twoq: tuple[str, ...],
    seed: int | None,
    default_shots: int | None,
    *,
    factor_idle: bool = True,
) -> PrimitiveResult[Any]:
    """Evaluate estimator pubs.

    ``factor_idle=False`` simulates every qubit an observable touches, as this service did
    before idle qubits were factored out (kept to test the factoring against)."""
    from qiskit.primitives import DataBin, PubResult

    results = []
    for i, pub in enumerate(pubs):
        precision = pub.precision or DEFAULT_PRECISION
        if default_shots:
            precision = 1 / math.sqrt(int(default_shots))
        width = pub.circuit.num_qubits
        if factor_idle:
            active = _active_qubits(pub.circuit, delays_idle=True)
        else:
            active = _active_qubits(pub.circuit) | _observed_qubits(pub.observables)
        keep = sorted(active) or [0]
        split = _split_observables(pub.observables, keep, width)
        if split.any_simulated:
            evs = _simulate_expectations(
                pub, split.simulated, keep, precision, cal_key, twoq, seed, where=f"pub {i}"
            )
        else:
            # Nothing left to simulate: the Gaussian draw Aer's estimator makes, done here.
            evs = np.zeros(pub.shape, dtype=float)
            if precision > 0:
                evs = np.random.default_rng(seed).normal(evs, precision, evs.shape)
        if split.constant.any():
            evs = evs + split.constant
        stds = np.full(evs.shape, precision, dtype=float)
        data = DataBin(evs=evs, stds=stds, ensemble_standard_error=stds.copy(), shape=evs.shape)
        shots = math.ceil(1 / precision**2)
        results.append(
            PubResult(
                data,
                metadata={
                    "target_precision": precision,
                    "shots": shots,
                    "circuit_metadata": dict(pub.circuit.metadata or {}),
                    "num_randomizations": 1,
                    "resilience": {},
                },
            )
        )
    return PrimitiveResult(
        results,
        metadata={
            "dynamical_decoupling": {"enable": False},
            "twirling": {"enable_gates": False, "enable_measure": False},
            "resilience": {
                "measure_mitigation": False,
                "zne_mitigation": False,
                "pec_mitigation": False,
            },
            "version": 2,
        },
    )


def _simulate_expectations(
    pub: EstimatorPub,
    observables: ObservablesArray,
    keep: list[int],
    precision: float,
    cal_key: str | None,
    twoq: tuple[str, ...],
    seed: int | None,
    *,
    where: str,
) -> npt.NDArray[np.float64]:
    """Expectation values of ``observables`` (on the ``keep`` qubits) over ``pub``'s parameter
    values, with the Gaussian sampling error of ``precision``, on Aer with the device's noise
    (no readout error: expectation values are read from the state, nothing is measured)."""
    from qiskit_aer.primitives import EstimatorV2 as AerEstimator

    compact = _compact(pub.circuit, keep)
    backend_options: dict[str, Any] = {}
    if cal_key:
        backend_options["noise_model"] = _noise_model(cal_key, tuple(keep), twoq)
        if len(keep) <= 12:
            backend_options["method"] = "density_matrix"
    estimator = AerEstimator(
        options={
            "default_precision": precision,
            "backend_options": backend_options,
            "run_options": {"seed_simulator": seed},
        }
    )
    # validate=False: an observable whose terms are all exact is empty here (and Aer then
    # gives it 0 plus the same Gaussian draw as the others)
    aer_pub = EstimatorPub(compact, observables, pub.parameter_values, precision, validate=False)
    try:
        res = estimator.run([aer_pub]).result()[0]
    except QiskitError as exc:
        if "max_memory_mb" not in str(exc):
            raise
        raise ValueError(
            f"{where}: the circuit acts on {len(keep)} qubits, too many to simulate within the "
            "memory this service may use (observables on qubits that no instruction touches "
            "cost nothing: only the circuit's own width counts); run a narrower circuit"
        ) from None
    return np.asarray(res.data.evs, dtype=float)
