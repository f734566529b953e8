"""The estimator on the emulator: expectation values from measured shots, mitigated as IBM does.

Per pub, as on hardware:

1. The observables' Pauli terms on the qubits the circuit uses are grouped into qubit-wise
   commuting sets (``PauliList.group_qubit_wise_commuting``); each set is one measurement
   basis: the circuit, a basis change (``h`` for X, ``sdg h`` for Y, each with the error of an
   ``sx``), and measurements. Terms on qubits no instruction touches are factored out
   (:mod:`.observables`); such a qubit reads Z as ``1 - 2 P(1|0)`` without mitigation.
2. Each basis circuit is twirled (``twirling``; the resilience level fills the defaults), given
   the device's noise and decoupling, and run for ``num_randomizations x
   shots_per_randomization`` shots; the shots go through the calibrated readout error and the
   measurement frames are undone.
3. Level 0 estimates each term from those bits: readout error biases it. Level 1 (TREX,
   ``measure_mitigation``) also runs readout calibration shots with twirled measurements
   (``measure_noise_learning``) and divides each term by its calibrated parity, which removes
   the bias of twirled readout. Level 2 adds ZNE: the whole estimate at each
   ``zne.noise_factors`` (gate folding, or on the emulator exact amplification for ``"pea"``,
   :mod:`.amplification`), extrapolated to zero (:mod:`.extrapolation`). PEC
   (``pec_mitigation``) draws the inverse of each two-qubit gate's twirled noise per
   randomization and reweights.

``stds`` is the standard error from the shot-to-shot spread (correlations between terms of a
basis included); ``ensemble_standard_error`` the spread of the randomizations' estimates over
``sqrt(num_randomizations)`` (equal to ``stds`` with one randomization). With PEC, whose one
sample per randomization makes a randomization's shots correlated, ``stds`` is the ensemble
error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit.circuit import ClassicalRegister, QuantumCircuit
from qiskit.primitives import DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers import EstimatorPub
from qiskit.quantum_info import PauliList
from scipy import sparse

from .amplification import (
    FOLDABLE_GATES,
    PauliChannel,
    PecSampler,
    achieved_noise_factor,
    amplified_channel_factory,
    fold_gates,
    foldable_gate_count,
)
from .circuits import active_qubits, compact
from .engine import RUN_SHOT_LIMIT, DeviceEmulator, Prepared
from .extrapolation import extrapolate
from .methods import requested_method
from .observables import split_observables
from .plan import (
    MAX_RANDOMIZATIONS,
    MAX_SIMULATED_SHOTS,
    MeasureMitigationPlan,
    PecPlan,
    TwirlingPlan,
    ZnePlan,
    decoupling_metadata,
    decoupling_plan,
    estimator_shots,
    resilience_plans,
    twirling_metadata,
    twirling_plan,
)
from .sampler import RANDOMIZATION_CHUNK, bindings
from .twirling import TwirlTemplate, twirl_circuits

__all__ = ["MAX_SIMULATED_SHOTS", "run_estimator"]

#: Values (bindings x shots x observables) processed at once.
_CHUNK = 1 << 22


@dataclass
class _Terms:
    """The distinct Pauli terms of a pub's simulated observables."""

    paulis: npt.NDArray[np.int8]
    """``(terms, qubits)`` codes: 0 I, 1 X, 2 Y, 3 Z (qubit ``j`` = column ``j``)."""
    coefficients: sparse.csr_matrix
    """``(elements, terms)``, sparse: each flattened observable's coefficient of each term
    (dense, it would hold elements x terms numbers: a million for a thousand observables of a
    thousand distinct terms)."""
    identity: npt.NDArray[np.float64]
    """Per element, the coefficient of the identity (exact)."""


def _terms(observables: Any, num_qubits: int) -> _Terms:
    elements = observables.sparse_observables_array().ravel()
    index: dict[bytes, int] = {}
    rows: list[npt.NDArray[np.int8]] = []
    element_of: list[int] = []
    term_of: list[int] = []
    values: list[float] = []
    identity = np.zeros(len(elements))
    code_of = np.zeros(4, dtype=np.int8)
    code_of[[0b01, 0b10, 0b11]] = (3, 1, 2)
    for e, obs in enumerate(elements):
        bits = code_of[np.asarray(obs.bit_terms, dtype=np.uint8)]
        qubits = np.asarray(obs.indices, dtype=np.intp)
        bounds = np.asarray(obs.boundaries, dtype=np.intp)
        for t, coeff in enumerate(np.asarray(obs.coeffs)):
            lo, hi = bounds[t], bounds[t + 1]
            if lo == hi:
                identity[e] += float(np.real(coeff))
                continue
            row = np.zeros(num_qubits, dtype=np.int8)
            row[qubits[lo:hi]] = bits[lo:hi]
            key = row.tobytes()
            k = index.get(key)
            if k is None:
                k = index[key] = len(rows)
                rows.append(row)
            element_of.append(e)
            term_of.append(k)
            values.append(float(np.real(coeff)))
    coefficients = sparse.csr_matrix(
        (values, (element_of, term_of)), shape=(len(elements), len(rows)), dtype=np.float64
    )
    coefficients.sum_duplicates()
    paulis = np.array(rows, dtype=np.int8).reshape(len(rows), num_qubits)
    return _Terms(paulis, coefficients, identity)


def _groups(paulis: npt.NDArray[np.int8]) -> list[npt.NDArray[np.intp]]:
    """Term indices grouped into qubit-wise commuting sets."""
    if len(paulis) == 0:
        return []
    letters = np.array(list("IXYZ"))
    labels = ["".join(letters[row[::-1]]) for row in paulis]
    where = {label: i for i, label in enumerate(labels)}
    groups = PauliList(labels).group_qubit_wise_commuting()
    return [
        np.array([where[label] for label in group.to_labels()], dtype=np.intp) for group in groups
    ]


def _basis_circuit(base: QuantumCircuit, basis: npt.NDArray[np.int8]) -> QuantumCircuit:
    """``base`` measured in ``basis`` (codes per qubit) on its non-identity qubits."""
    qubits = [q for q in range(base.num_qubits) if basis[q]]
    circuit = base.copy()
    register = ClassicalRegister(len(qubits), "basis")
    circuit.add_register(register)
    for q in qubits:
        if basis[q] == 2:
            circuit.sdg(q)
        if basis[q] in (1, 2):
            circuit.h(q)
    circuit.measure(qubits, list(register))
    return circuit


def run_estimator(
    pubs: Sequence[EstimatorPub],
    emulator: DeviceEmulator,
    options: Mapping[str, Any],
    level: int,
    seed: int | None,
    default_shots: int | None,
    max_shots: int = 1_000_000,
) -> PrimitiveResult[PubResult]:
    """Run estimator pubs on ``emulator`` at ``resilience_level`` ``level``.

    A pub's shots are ``ceil(1 / precision**2)`` (or ``default_shots``), at most ``max_shots``
    (the device's limit; ``stds`` then says what precision was reached). Raises ``ValueError``
    when a pub would simulate more than :data:`MAX_SIMULATED_SHOTS` shots in all (bindings x
    shots x measurement bases x noise factors)."""
    rng = np.random.default_rng(seed)
    results = []
    plans: tuple[Any, ...] = ()
    for i, pub in enumerate(pubs):
        shots, precision = estimator_shots(pub.precision, default_shots, max_shots)
        trex, zne, pec = resilience_plans(options, level, shots)
        twirl = twirling_plan(
            options,
            shots,
            gates_default=level >= 2 or pec is not None,
            measure_default=level >= 1,
            pec=pec is not None,
        )
        if pec is not None and not twirl.enabled:
            # PEC draws one sample per randomization: it needs randomizations of its own
            per = 64
            twirl = replace(
                twirl, num_randomizations=math.ceil(shots / per), shots_per_randomization=per
            )
        plans = (twirl, trex, zne, pec)
        results.append(
            _run_pub(
                pub, emulator, options, rng, precision, twirl, trex, zne, pec, where=f"pub {i}"
            )
        )
    twirl, trex, zne, pec = plans if plans else (twirling_plan(options, 1), None, None, None)
    resilience: dict[str, Any] = {
        "measure_mitigation": trex is not None,
        "zne_mitigation": zne is not None,
        "pec_mitigation": pec is not None,
    }
    if zne is not None:
        resilience["zne"] = {
            "noise_factors": list(zne.noise_factors),
            "extrapolator": list(zne.extrapolators),
            "extrapolated_noise_factors": list(zne.extrapolated_noise_factors),
            "amplifier": zne.amplifier,
        }
    return PrimitiveResult(
        results,
        metadata={
            "dynamical_decoupling": decoupling_metadata(options),
            "twirling": twirling_metadata(options, twirl),
            "resilience": resilience,
            "version": 2,
        },
    )


def _idle_factor(
    emulator: DeviceEmulator, width: int, trex: Any, twirl: TwirlingPlan
) -> npt.NDArray[np.float64] | None:
    noise = emulator.noise
    if noise is None or trex is not None:
        return None
    factor = np.ones(width)
    n = min(width, noise.num_qubits)
    if twirl.enable_measure:
        factor[:n] = 1 - noise.p01[:n] - noise.p10[:n]
    else:
        factor[:n] = 1 - 2 * noise.p10[:n]
    return factor


@dataclass
class _Estimate:
    """Estimates per (binding, observable) pair of the pub (flattened) at one noise factor."""

    mean: npt.NDArray[np.float64]
    variance: npt.NDArray[np.float64]
    """Of the mean."""
    ensemble_variance: npt.NDArray[np.float64]
    """Of the mean, from the spread over randomizations."""


@dataclass(frozen=True)
class _Pairs:
    """The pub's (binding, observable) pairs: its broadcast shape, flattened, sorted by
    binding (so that a chunk of bindings is a contiguous range of pairs)."""

    order: npt.NDArray[np.intp]
    """Position in the flattened pub shape of each sorted pair."""
    binding: npt.NDArray[np.intp]
    """Per sorted pair, the parameter set whose simulated bits it reads (every parameter set
    gets shots of its own, parameters or not, as on hardware)."""
    element: npt.NDArray[np.intp]
    """Per sorted pair, the flattened observable."""

    @classmethod
    def of(cls, pub: EstimatorPub) -> _Pairs:
        shape = pub.shape
        observables = np.arange(math.prod(pub.observables.shape)).reshape(pub.observables.shape)
        element = np.broadcast_to(observables, shape).ravel()
        params = np.arange(math.prod(pub.parameter_values.shape))
        binding = np.broadcast_to(params.reshape(pub.parameter_values.shape), shape).ravel()
        order = np.argsort(binding, kind="stable")
        return cls(order, binding[order], element[order])


def _run_pub(
    pub: EstimatorPub,
    emulator: DeviceEmulator,
    options: Mapping[str, Any],
    rng: np.random.Generator,
    precision: float,
    twirl: TwirlingPlan,
    trex: MeasureMitigationPlan | None,
    zne: ZnePlan | None,
    pec: PecPlan | None,
    *,
    where: str,
) -> PubResult:
    circuit = pub.circuit
    width = circuit.num_qubits
    # as at submission (the memory check): a qubit that is only measured rests in |0>
    keep = sorted(active_qubits(circuit, delays_idle=True, measures_idle=True)) or [0]
    split = split_observables(
        pub.observables, keep, width, _idle_factor(emulator, width, trex, twirl)
    )
    terms = _terms(split.simulated, len(keep))
    groups = _groups(terms.paulis)
    base = compact(circuit, keep)
    binds, count = bindings(pub.parameter_values, base)
    pairs = _Pairs.of(pub)
    factors = zne.noise_factors if zne is not None else (1.0,)
    gain = 0.0
    if pec is not None:
        # the estimate's variance grows with the sampling overhead: IBM scales the samples by
        # it, and so does the emulator (one PEC sample per randomization)
        gain, overhead = _pec_gain(base, keep, emulator.noise, pec)
        asked = (options.get("twirling") or {}).get("num_randomizations", "auto")
        if asked in (None, "auto"):  # a number the user set is run as set
            count_needed = math.ceil(twirl.num_randomizations * overhead)
            twirl = replace(twirl, num_randomizations=min(count_needed, MAX_RANDOMIZATIONS))
    simulated = count * twirl.shots * len(groups) * len(factors)
    if simulated > MAX_SIMULATED_SHOTS:
        raise ValueError(
            f"{where}: {count} parameter sets x {twirl.shots} shots x {len(groups)} "
            f"measurement bases x {len(factors)} noise factors = {simulated} simulated shots, "
            f"more than the emulator runs for one pub ({MAX_SIMULATED_SHOTS}); lower the "
            "precision asked for, or split the pub"
        )
    calibration = _trex_calibration(emulator, keep, terms.paulis, trex, rng)
    estimates = []
    info: dict[str, Any] = {}
    methods: set[str] = set()
    approximations: set[str] = set()
    run_factors: list[float] = []
    for factor in factors:
        estimate, info = _estimate(
            base,
            keep,
            emulator,
            options,
            rng,
            twirl,
            zne,
            pec,
            factor,
            groups,
            terms,
            calibration,
            binds,
            count,
            pairs,
            where,
            gain,
        )
        methods.update(info.get("methods", ()))
        approximations.update(info.get("approximations", ()))
        run_factors.append(float(info.get("noise_factor", factor)))
        estimates.append(estimate)
    shape = pub.shape
    # per sorted pair, the exactly evaluated part of its observable
    constant = split.constant.reshape(-1)[pairs.element] + terms.identity[pairs.element]

    def unsort(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.empty(values.shape, dtype=float)
        out[pairs.order] = values
        return np.asarray(out.reshape(shape), dtype=float)

    evs_f = np.stack([unsort(e.mean + constant) for e in estimates], axis=-1)
    stds_f = np.stack([unsort(np.sqrt(e.variance)) for e in estimates], axis=-1)
    ens_f = np.stack([unsort(np.sqrt(e.ensemble_variance)) for e in estimates], axis=-1)
    metadata: dict[str, Any] = {
        "target_precision": precision,
        "shots": twirl.shots,
        "circuit_metadata": dict(circuit.metadata or {}),
        "num_randomizations": twirl.num_randomizations,
        "resilience": {},
    }
    if pec is not None:
        metadata["resilience"]["pec"] = info.get("pec", {})
    # not an IBM field: what the emulator ran (docs/local_service.md, "Sizing and scaling")
    metadata["emulator"] = {
        "method": ", ".join(sorted(methods)) or "none",
        "approximation": "; ".join(sorted(approximations)) or "none",
        "pauli_twirled_noise": "stabilizer" in methods,
    }
    if zne is None:
        data = DataBin(
            evs=evs_f[..., 0],
            stds=stds_f[..., 0],
            ensemble_standard_error=ens_f[..., 0],
            shape=shape,
        )
        return PubResult(data, metadata=metadata)
    if run_factors != [float(f) for f in zne.noise_factors]:
        # folding whole gates reaches only some factors: the fit uses those really run
        metadata["emulator"]["noise_factors_run"] = run_factors
    # an observable's value lies within +- the sum of its coefficients' magnitudes: a fit that
    # leaves that range is not trusted (see .extrapolation)
    bound = _coefficient_bound(pub.observables)
    fit = extrapolate(
        run_factors,
        evs_f,
        stds_f,
        list(zne.extrapolators),
        list(zne.extrapolated_noise_factors),
        ideal_range=(-bound, bound),
    )
    # as IBM's pub metadata (what qiskit_ibm_runtime.visualization.draw_zne_* read): the
    # noise factors run, the extrapolators of evs_extrapolated's axis, the points evaluated
    metadata["resilience"]["zne"] = {
        "noise_factors": list(zne.noise_factors),
        "extrapolators": list(zne.extrapolators),
        "extrapolated_noise_factors": list(zne.extrapolated_noise_factors),
    }
    data = DataBin(
        evs=np.asarray(fit.evs, dtype=float),
        stds=np.asarray(fit.stds, dtype=float),
        evs_noise_factors=evs_f,
        stds_noise_factors=stds_f,
        ensemble_stds_noise_factors=ens_f,
        evs_extrapolated=np.asarray(fit.evs_extrapolated, dtype=float),
        stds_extrapolated=np.asarray(fit.stds_extrapolated, dtype=float),
        shape=shape,
    )
    return PubResult(data, metadata=metadata)


def _coefficient_bound(observables: Any) -> npt.NDArray[np.float64]:
    """Per observable (in the observables' shape, which broadcasts to the pub's), the sum of
    the magnitudes of its coefficients."""
    elements = observables.sparse_observables_array()
    flat = [float(np.abs(np.asarray(obs.coeffs)).sum()) for obs in elements.ravel()]
    bound: npt.NDArray[np.float64] = np.asarray(flat, dtype=float).reshape(elements.shape)
    return bound


#: Parity of each byte value.
_BYTE_PARITY = np.array([bin(v).count("1") & 1 for v in range(256)], dtype=np.uint8)


def _parities(
    packed: npt.NDArray[np.uint8], supports: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """``packed[i]`` (shots, bytes) read against ``supports[i]`` (bytes): per shot, the parity
    of the bits inside the support, ``(i, shots)``."""
    masked = packed & supports[:, None, :]
    return np.asarray(_BYTE_PARITY[np.bitwise_xor.reduce(masked, axis=-1)], dtype=np.uint8)


def _trex_calibration(
    emulator: DeviceEmulator,
    keep: Sequence[int],
    paulis: npt.NDArray[np.int8],
    trex: MeasureMitigationPlan | None,
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    """Per term, its parity as read from ``|0...0>`` with twirled measurements (1 without
    TREX or noise): the readout calibration TREX divides by. Randomizations and terms are
    processed in chunks, so memory stays bounded whatever the shots and terms."""
    noise = emulator.noise
    if trex is None or noise is None or len(paulis) == 0:
        return np.ones(len(paulis))
    per = trex.shots_per_randomization
    supports = np.packbits(paulis != 0, axis=1, bitorder="little")  # (terms, bytes)
    width = max(1, supports.shape[1])
    total = np.zeros(len(paulis))
    randomization_step = max(1, _CHUNK // max(1, per * len(keep)))
    for start in range(0, trex.num_randomizations, randomization_step):
        n = min(randomization_step, trex.num_randomizations - start)
        frames = rng.integers(0, 2, size=(n, 1, len(keep)), dtype=np.uint8)
        frames = np.broadcast_to(frames, (n, per, len(keep))).reshape(n * per, len(keep))
        read = noise.apply_readout(frames, keep, rng) ^ frames
        packed = np.packbits(read, axis=1, bitorder="little")[None]  # (1, shots, bytes)
        term_step = max(1, _CHUNK // max(1, n * per * width))
        for lo in range(0, len(paulis), term_step):
            parity = _parities(
                np.broadcast_to(packed, (min(term_step, len(paulis) - lo), *packed.shape[1:])),
                supports[lo : lo + term_step],
            )
            total[lo : lo + term_step] += (1.0 - 2.0 * parity).sum(axis=1)
    calibration = total / (trex.num_randomizations * per)
    # a calibration that reads no signal cannot be divided by: leave such terms unmitigated
    return np.where(np.abs(calibration) > 1e-3, calibration, 1.0)


@dataclass
class _Moments:
    """Running sums over shots and randomizations, per pair, for one measurement basis."""

    sums: npt.NDArray[np.float64]
    squares: npt.NDArray[np.float64]
    randomization_sums: npt.NDArray[np.float64]
    """Of each randomization's mean."""
    randomization_squares: npt.NDArray[np.float64]

    @classmethod
    def zeros(cls, size: int) -> _Moments:
        return cls(*(np.zeros(size) for _ in range(4)))


def _reduce(
    weights: sparse.csr_matrix,
    pairs: slice,
    binding: npt.NDArray[np.intp],
    packed: npt.NDArray[np.uint8],
    supports: npt.NDArray[np.uint8],
    per: int,
    scale: npt.NDArray[np.float64],
    moments: _Moments,
) -> None:
    """Add to ``moments`` the values of ``pairs`` (a range of sorted pairs) in one block of
    simulated shots.

    ``weights`` (pairs, terms): each pair's coefficient of each term of the basis (over the
    TREX calibration); ``binding[p]`` the row of ``packed`` (bindings, randomizations x
    ``per`` shots, bytes of measured bits) pair ``p`` reads; ``supports`` (terms, bytes) the
    terms' qubits; ``scale`` per randomization (PEC's ``gamma x sign``, else 1).

    A pair's value in a shot is ``sum_t w_t (-1)^(parity of the bits in t)``: parities are
    computed once per distinct (binding, term) the pairs use, then combined by a sparse
    product, in chunks that hold at most ``_CHUNK`` numbers. Memory and work follow the
    pairs' nonzero coefficients, never bindings x observables."""
    shots = packed.shape[1]
    num_terms = weights.shape[1]
    randomizations = shots // per
    width = max(1, packed.shape[2])
    pair_step = max(1, _CHUNK // shots)
    entry_step = max(1, _CHUNK // (shots * width))
    for p0 in range(pairs.start, pairs.stop, pair_step):
        p1 = min(pairs.stop, p0 + pair_step)
        values = np.zeros((p1 - p0, shots))
        lo, hi = int(weights.indptr[p0]), int(weights.indptr[p1])
        rows = np.repeat(np.arange(p1 - p0), np.diff(weights.indptr[p0 : p1 + 1]))
        for z0 in range(lo, hi, entry_step):
            z1 = min(hi, z0 + entry_step)
            row = rows[z0 - lo : z1 - lo]
            keys = binding[p0 + row].astype(np.int64) * num_terms + weights.indices[z0:z1]
            unique, inverse = np.unique(keys, return_inverse=True)
            parity = _parities(packed[unique // num_terms], supports[unique % num_terms])
            signs = 1.0 - 2.0 * parity  # (distinct, shots)
            combine = sparse.csr_matrix(
                (weights.data[z0:z1], (row, inverse.ravel())), shape=(p1 - p0, len(unique))
            )
            values += combine @ signs
        by_randomization = values.reshape(p1 - p0, randomizations, per)
        sums = by_randomization.sum(axis=2) * scale
        squares = np.square(by_randomization).sum(axis=2) * np.square(scale)
        moments.sums[p0:p1] += sums.sum(axis=1)
        moments.squares[p0:p1] += squares.sum(axis=1)
        means = sums / per
        moments.randomization_sums[p0:p1] += means.sum(axis=1)
        moments.randomization_squares[p0:p1] += np.square(means).sum(axis=1)


def _estimate(
    base: QuantumCircuit,
    keep: Sequence[int],
    emulator: DeviceEmulator,
    options: Mapping[str, Any],
    rng: np.random.Generator,
    twirl: TwirlingPlan,
    zne: ZnePlan | None,
    pec: PecPlan | None,
    factor: float,
    groups: Sequence[npt.NDArray[np.intp]],
    terms: _Terms,
    calibration: npt.NDArray[np.float64],
    binds: dict[Any, npt.NDArray[np.float64]] | None,
    count: int,
    pairs: _Pairs,
    where: str,
    gain: float,
) -> tuple[_Estimate, dict[str, Any]]:
    size = len(pairs.element)
    mean = np.zeros(size)
    variance = np.zeros(size)
    ensemble = np.zeros(size)
    info: dict[str, Any] = {"methods": set(), "noise_factor": factor}
    if not groups or size == 0:
        return _Estimate(mean, variance, ensemble), info
    circuit = base
    gate_channel: Callable[[str, tuple[int, ...]], Any] | None = None
    noise = emulator.noise
    if zne is not None and factor != 1:
        if zne.amplifier == "pea" and noise is not None:
            gate_channel = amplified_channel_factory(noise.gate_channel, factor)
        else:
            circuit = fold_gates(base, factor, zne.amplifier, rng)
            info["noise_factor"] = achieved_noise_factor(foldable_gate_count(base), factor)
    decoupling = decoupling_plan(options)
    method = requested_method(options)
    randomizations = twirl.num_randomizations
    per = twirl.shots_per_randomization
    total = randomizations * per
    # bindings and randomizations in chunks: one simulator call returns at most
    # RUN_SHOT_LIMIT shots, and the bits of a chunk are all that is held at once
    binding_step = max(1, RUN_SHOT_LIMIT // per)
    randomization_step = max(
        1, min(RANDOMIZATION_CHUNK, RUN_SHOT_LIMIT // (per * min(binding_step, count)))
    )
    starts = np.searchsorted(pairs.binding, np.arange(0, count + binding_step, binding_step))
    gamma = 1.0
    pec_cache: dict[Any, Any] = {}
    methods: set[str] = set()
    approximations: set[str] = set()
    for group in groups:
        basis = terms.paulis[group].max(axis=0)
        measured = [q for q in range(len(keep)) if basis[q]]
        physical = [keep[q] for q in measured]
        supports = np.packbits(terms.paulis[group][:, measured] != 0, axis=1, bitorder="little")
        scaled = terms.coefficients[:, group] @ sparse.diags(1.0 / calibration[group])
        weights = sparse.csr_matrix(scaled)[pairs.element]  # (pairs, terms of the basis)
        twirled = twirl_circuits(
            _basis_circuit(circuit, basis),
            randomizations,
            rng,
            gates=twirl.enable_gates,
            measure=twirl.enable_measure,
            strategy=twirl.strategy,
        )
        moments = _Moments.zeros(size)
        template, template_prepared = (None, None)
        if pec is None:  # PEC's draws differ per randomization
            template, template_prepared = emulator.prepare_template(
                twirled,
                keep,
                decoupling=decoupling,
                gate_channel=gate_channel,
                shots=per,
                method=method,
            )
        if template_prepared is not None:
            methods.add(template_prepared.method)
            approximations.add(template_prepared.approximation)
        for r0 in range(0, randomizations, randomization_step):
            chunk_size = min(randomization_step, randomizations - r0)
            prepared: list[Prepared] = []
            signs = [1.0] * chunk_size
            if template is None:
                signs = []
                for c in twirled[r0 : r0 + chunk_size]:
                    channel = gate_channel
                    if pec is not None and noise is not None:
                        channel = PecSampler(noise.gate_channel, gain, rng, pec_cache)
                    prepared.append(
                        emulator.prepare(
                            c,
                            keep,
                            decoupling=decoupling,
                            gate_channel=channel,
                            shots=per,
                            method=method,
                        )
                    )
                    if isinstance(channel, PecSampler):
                        signs.append(channel.sign)
                        gamma = channel.gamma
                    else:
                        signs.append(1.0)
                methods.update(item.method for item in prepared)
                approximations.update(item.approximation for item in prepared)
            scale = gamma * np.asarray(signs) if pec is not None else np.ones(chunk_size)
            flips = twirled.measure_flips[r0 : r0 + chunk_size, -len(measured) :]
            for k, b0 in enumerate(range(0, count, binding_step)):
                b1 = min(count, b0 + binding_step)
                first, last = int(starts[k]), int(starts[k + 1])
                if first == last:
                    continue
                bits = _simulate_block(
                    emulator,
                    prepared,
                    (template, template_prepared, r0),
                    binds,
                    (b0, b1),
                    chunk_size,
                    per,
                    len(measured),
                    int(rng.integers(2**31)),
                    where,
                )
                if noise is not None:
                    bits = noise.apply_readout(bits, physical, rng)
                bits ^= np.repeat(flips, per, axis=0)[None]
                packed = np.packbits(bits, axis=2, bitorder="little")
                _reduce(
                    weights,
                    slice(first, last),
                    pairs.binding - b0,
                    packed,
                    supports,
                    per,
                    scale,
                    moments,
                )
        group_mean = moments.sums / total
        mean += group_mean
        spread = np.maximum(moments.squares / total - group_mean**2, 0.0)
        variance += spread * (total / max(total - 1, 1)) / total
        if randomizations > 1:
            # the bases are measured on independent randomizations: their spreads add
            r_mean = moments.randomization_sums / randomizations
            r_var = np.maximum(moments.randomization_squares / randomizations - r_mean**2, 0.0) * (
                randomizations / (randomizations - 1)
            )
            ensemble += r_var / randomizations
    if randomizations <= 1:
        ensemble = variance.copy()
    if pec is not None:
        # one PEC sample per randomization: the signs make the shots of a randomization
        # correlated, so only the spread between randomizations measures the error
        variance = ensemble.copy()
    info["methods"] = methods
    info["approximations"] = approximations
    if pec is not None:
        info["pec"] = {"sampling_overhead": gamma**2, "noise_gain": gain}
    return _Estimate(mean, variance, ensemble), info


def _simulate_block(
    emulator: DeviceEmulator,
    prepared: Sequence[Prepared],
    template: tuple[TwirlTemplate | None, Prepared | None, int],
    binds: dict[Any, npt.NDArray[np.float64]] | None,
    sets: tuple[int, int],
    randomizations: int,
    per: int,
    measured: int,
    seed: int,
    where: str,
) -> npt.NDArray[np.uint8]:
    """The true bits of the last ``measured`` clbits, ``(sets, randomizations x per, measured)``,
    for parameter sets ``sets[0]..sets[1]-1`` of a chunk of ``randomizations`` (from the
    template's third item on): run as one template with every (randomization, set) a
    parameter set (randomization-major), or as the chunk's ``prepared`` circuits."""
    b0, b1 = sets
    n = b1 - b0
    frames, frames_prepared, first = template
    if frames is not None and frames_prepared is not None:
        circuit_values = None if binds is None else {p: v[b0:b1] for p, v in binds.items()}
        run_binds = frames.bindings(first, first + randomizations, circuit_values, n)
        [block] = emulator.run([frames_prepared], [run_binds], per, seed, where=where)
        return np.asarray(
            block[..., -measured:]
            .reshape(randomizations, n, per, measured)
            .transpose(1, 0, 2, 3)
            .reshape(n, randomizations * per, measured),
            dtype=np.uint8,
        )
    circuit_binds = None
    shots = per * n  # no parameters: the sets' shots in one run, then split
    if binds is not None:
        circuit_binds = [{p: v[b0:b1] for p, v in binds.items()}] * len(prepared)
        shots = per
    true = emulator.run(prepared, circuit_binds, shots, seed, where=where)
    return np.asarray(
        np.stack([block[..., -measured:].reshape(n, per, -1) for block in true], axis=1).reshape(
            n, randomizations * per, measured
        ),
        dtype=np.uint8,
    )


def _pec_gain(
    circuit: QuantumCircuit, keep: Sequence[int], noise: Any, pec: PecPlan
) -> tuple[float, float]:
    """``(noise_gain, sampling overhead gamma**2)``. The gain is as given, or ("auto") 0
    unless the overhead would exceed ``max_overhead``; then the smallest gain that keeps it
    within (bisection)."""
    if noise is None:
        return pec.noise_gain or 0.0, 1.0
    channels = []
    for inst in circuit.data:
        if inst.operation.name in FOLDABLE_GATES and len(inst.qubits) == 2:
            qubits = tuple(keep[circuit.find_bit(q).index] for q in inst.qubits)
            channel = noise.gate_channel(inst.operation.name, qubits)
            if channel is not None:
                channels.append(PauliChannel.twirl_of(channel, 2))

    def log_overhead(gain: float) -> float:
        return 2 * sum(math.log(np.abs(c.quasi_probabilities(gain - 1)).sum()) for c in channels)

    if pec.noise_gain is not None:
        return pec.noise_gain, math.exp(log_overhead(pec.noise_gain))
    limit = math.log(pec.max_overhead) if pec.max_overhead is not None else math.inf
    if log_overhead(0.0) <= limit:
        return 0.0, math.exp(log_overhead(0.0))
    low, high = 0.0, 1.0
    for _ in range(30):
        mid = (low + high) / 2
        low, high = (low, mid) if log_overhead(mid) <= limit else (mid, high)
    return high, math.exp(log_overhead(high))
