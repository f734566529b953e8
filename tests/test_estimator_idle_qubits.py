"""Estimator observables on qubits that no instruction of the circuit touches ("idle" qubits).

Idle qubits stay in |0>, so the service factors them out of every Pauli term (I, Z -> 1;
X, Y -> 0) and simulates only the circuit's active qubits: ``"X" * 156`` on a transpiled
156-qubit circuit evaluates, and so does any observable whose active part fits in memory.
Through the real service over loopback, plus a property test of the factoring against the same
simulation without it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives.containers import EstimatorPub
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import SparseObservable, SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import EstimatorV2, QiskitRestError, QiskitRestProvider, RestBackend
from qiskit_rest_provider.server.devices import default_catalog
from qiskit_rest_provider.server.emulator.circuits import compact
from qiskit_rest_provider.server.emulator.observables import observed_qubits, split_observables

pytestmark = [pytest.mark.service]

PRECISION = 0.01
#: Gaussian sampling error the estimator adds, in standard deviations, that a test accepts.
SIGMAS = 6


@pytest.fixture()
def heron(provider: QiskitRestProvider) -> RestBackend:
    backend = provider.backend("local_heron")
    assert backend.num_qubits == 156
    return backend


def active_qubits(circuit: QuantumCircuit) -> list[int]:
    """The qubits that an instruction other than a barrier or a delay touches."""
    found: set[int] = set()
    for inst in circuit.data:
        if inst.operation.name not in ("barrier", "delay"):
            found.update(circuit.find_bit(q).index for q in inst.qubits)
    return sorted(found)


def bell_isa(backend: RestBackend, **transpile: Any) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    pm = generate_preset_pass_manager(
        optimization_level=2, backend=backend, seed_transpiler=3, **transpile
    )
    isa = pm.run(qc)
    assert isa.num_qubits == backend.num_qubits
    return isa


def label(width: int, paulis: dict[int, str]) -> str:
    """A Pauli label of ``width`` qubits (qubit 0 rightmost) with ``paulis`` placed."""
    chars = ["I"] * width
    for qubit, pauli in paulis.items():
        chars[width - 1 - qubit] = pauli
    return "".join(chars)


# Analytic values on a 156-qubit circuit -------------------------------------------------------


def test_full_width_observables_on_a_bell_pair_evaluate(heron: RestBackend) -> None:
    isa = bell_isa(heron)
    a, b = active_qubits(isa)
    assert 0 not in (a, b)
    idle = next(q for q in range(156) if q not in (a, b))
    estimator = EstimatorV2(heron, options={"seed_estimator": 21, "default_precision": PRECISION})
    pubs = [
        (isa, "X" * 156),
        (isa, "Z" * 156),
        (isa, label(156, {idle: "Z"})),
        (isa, "I" * 155 + "Z"),
        (isa, label(156, {a: "Z", b: "Z"})),  # the active part of "Z" * 156, alone
        (isa, "Y" * 156),
    ]
    result = estimator.run(pubs).result(timeout=120)
    x_all, z_all, z_idle, z_first, zz, y_all = (float(r.data.evs) for r in result)
    # Exact where the idle part decides: X/Y on an idle qubit make every term 0, and at the
    # default level (TREX) a Z on an idle qubit reads 1. Nothing is measured: no error bar.
    assert x_all == 0.0 and y_all == 0.0 and z_idle == 1.0 and z_first == 1.0
    for k in (0, 2, 3, 5):
        assert float(result[k].data.stds) == 0.0
    # <ZZ> of a noisy Bell pair: near 1 (one CZ, a few single-qubit gates of ~1e-3 error).
    std = float(result[4].data.stds)
    assert 0 < std < 2 * PRECISION
    assert 0.9 - SIGMAS * std < zz <= 1 + SIGMAS * std
    # "Z" * 156 is the same measurement as its active part: equal within their shot noise.
    both = np.hypot(float(result[1].data.stds), std)
    assert abs(z_all - zz) < SIGMAS * both


def test_idle_factored_observables_are_exact(heron: RestBackend) -> None:
    isa = bell_isa(heron)
    # 400 observables that are exactly 0 and 1 once their idle qubits are factored out (at the
    # default resilience level, TREX reads an idle Z as 1): nothing to measure, no shot noise.
    assert 155 not in active_qubits(isa)
    observables = [["X" * 156] * 200, [label(156, {155: "Z"})] * 200]
    result = EstimatorV2(heron).run([(isa, observables)], precision=PRECISION).result(120)[0]
    assert result.data.evs.shape == (2, 200)
    np.testing.assert_array_equal(result.data.evs, np.array([[0.0] * 200, [1.0] * 200]))
    np.testing.assert_array_equal(result.data.stds, 0.0)


def test_idle_z_reads_the_readout_bias_at_level_0(heron: RestBackend) -> None:
    isa = bell_isa(heron)
    estimator = EstimatorV2(heron, options={"resilience_level": 0})
    value = float(estimator.run([(isa, label(156, {155: "Z"}))]).result(120)[0].data.evs)
    p10 = heron.properties().qubit_property(155, "prob_meas1_prep0")[0]
    # Without mitigation a qubit resting in |0> reads 1 with P(1|0): <Z> = 1 - 2 P(1|0).
    assert value == pytest.approx(1 - 2 * p10, abs=1e-12)


def test_mixed_observable_on_the_noiseless_simulator_matches_statevector(
    provider: QiskitRestProvider,
) -> None:
    simulator = provider.backend("local_simulator")  # noiseless: exact up to the precision
    width = simulator.num_qubits
    qc = QuantumCircuit(width)
    qc.u(0.7, 0, 0, 3)  # ry(0.7)
    qc.cx(3, 17)
    qc.t(17)
    qc.h(17)
    qc.delay(200, 9)  # a delay leaves qubit 9 in |0>: it stays idle
    qc.barrier()
    observable = SparsePauliOp.from_sparse_list(
        [
            ("ZZ", [3, 17], 0.7),  # active qubits only
            ("XY", [3, 17], -0.4),
            ("X", [17], 0.3),
            ("Z", [25], 0.5),  # idle qubits only
            ("X", [9], 0.9),
            ("ZZ", [9, 25], -0.3),
            ("ZXZ", [3, 17, 25], 0.6),  # both
            ("XZY", [3, 17, 9], 0.25),
            ("YZ", [17, 9], 1.1),
            ("", [], 0.15),  # identity
        ],
        num_qubits=width,
    )
    result = (
        EstimatorV2(simulator, options={"seed_estimator": 5})
        .run([(qc, observable)], precision=0.001)
        .result(timeout=120)
    )
    # The exact value, simulating the idle qubits the observable touches explicitly.
    kept = [3, 17, 9, 25]
    small = QuantumCircuit(len(kept))
    small.ry(0.7, 0)
    small.cx(0, 1)
    small.t(1)
    small.h(1)
    exact = Statevector(small).expectation_value(
        SparsePauliOp.from_sparse_list(
            [(p, [kept.index(q) for q in qs], c) for p, qs, c in observable.to_sparse_list()],
            num_qubits=len(kept),
        )
    )
    assert abs(float(result[0].data.evs) - exact.real) < SIGMAS * 0.001
    assert abs(exact.real - 0.15) > 0.1  # the check is not trivially the identity term


def error_budget(backend: RestBackend, circuit: QuantumCircuit) -> float:
    """A bound on how far noise moves a Pauli expectation of ``circuit`` on ``backend``.

    The service's noise model gives each gate a depolarizing channel of parameter at most
    twice its calibrated error (``2 e`` for one-qubit gates, ``4 e / 3`` for two-qubit ones)
    and thermal relaxation over its duration; each channel is within ``2 e + sum over its
    qubits of t (1/T1 + 1/T2)`` of the identity, and a Pauli expectation moves by at most twice
    the sum of those distances.
    """
    target = backend.target
    total = 0.0
    for inst in circuit.data:
        name = inst.operation.name
        if name in ("barrier", "delay") or name not in target.operation_names:
            continue
        qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
        props = target[name].get(qargs)
        if props is None:
            continue
        total += 2 * (props.error or 0.0)
        for q in qargs:
            qprops = target.qubit_properties[q] if target.qubit_properties else None
            if props.duration and qprops is not None and qprops.t1 and qprops.t2:
                total += props.duration * (1 / qprops.t1 + 1 / qprops.t2)
    return 2 * total


def test_mixed_observable_on_156_qubits_matches_statevector_within_the_error_budget(
    heron: RestBackend,
) -> None:
    isa = bell_isa(heron)
    a, b = active_qubits(isa)
    i1, i2 = [q for q in range(156) if q not in (a, b)][:2]
    terms = [
        ("ZZ", [a, b], 0.7),
        ("XX", [a, b], -0.4),
        ("YY", [a, b], 0.3),
        ("Z", [a], 0.2),
        ("Z", [i1], 0.5),
        ("X", [i2], 0.9),
        ("ZZ", [i1, i2], -0.3),
        ("ZZZ", [a, b, i1], 0.6),
        ("XXZ", [a, b, i2], 0.25),
        ("ZY", [a, i1], 1.1),
        ("", [], 0.15),
    ]
    observable = SparsePauliOp.from_sparse_list(terms, num_qubits=156)
    result = (
        EstimatorV2(heron, options={"seed_estimator": 8})
        .run([(isa, observable)], precision=0.002)
        .result(timeout=120)
    )
    kept = [a, b, i1, i2]
    small = QuantumCircuit(len(kept))
    for inst in isa.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        small.append(inst.operation, [kept.index(isa.find_bit(q).index) for q in inst.qubits])
    exact = Statevector(small).expectation_value(
        SparsePauliOp.from_sparse_list(
            [(p, [kept.index(q) for q in qs], c) for p, qs, c in terms], num_qubits=len(kept)
        )
    )
    budget = error_budget(heron, isa)
    assert 0 < budget < 0.1  # a Bell pair: one CZ and a few single-qubit gates
    weight = sum(abs(c) for p, _, c in terms if p)
    tolerance = weight * budget + SIGMAS * 0.002
    assert abs(float(result[0].data.evs) - exact.real) < tolerance


def test_parameters_broadcast_with_idle_factored_observables(heron: RestBackend) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    isa = generate_preset_pass_manager(optimization_level=1, backend=heron, seed_transpiler=1).run(
        qc
    )
    (q,) = active_qubits(isa)
    idle = next(k for k in range(156) if k != q)
    values = np.linspace(0, np.pi, 5)
    observables = [[label(156, {q: "Z", idle: "Z"})], [label(156, {q: "Z", idle: "X"})]]  # (2, 1)
    estimator = EstimatorV2(heron, options={"seed_estimator": 4, "default_precision": PRECISION})
    factored, alone = estimator.run(
        [
            (isa, observables, values),
            (isa, [[label(156, {q: "Z"})], [label(156, {q: "Z", idle: "X"})]], values),
        ]
    ).result(timeout=120)
    assert factored.data.evs.shape == (2, 5)
    # Z (x) Z_idle is Z (TREX reads the idle Z as 1): the same within the two estimates' noise
    both = np.hypot(factored.data.stds[0], alone.data.stds[0])
    assert np.all(np.abs(factored.data.evs[0] - alone.data.evs[0]) < SIGMAS * both)
    # an X on the idle qubit makes the term exactly 0
    np.testing.assert_array_equal(factored.data.evs[1], 0.0)
    np.testing.assert_array_equal(alone.data.evs[1], 0.0)
    # <Z> after rx(theta) is cos(theta), up to the gates' noise.
    np.testing.assert_allclose(
        factored.data.evs[0], np.cos(values), atol=0.05 + SIGMAS * float(factored.data.stds.max())
    )


def test_scheduled_circuit_keeps_delay_padded_qubits_idle(heron: RestBackend) -> None:
    isa = bell_isa(heron, scheduling_method="alap")
    delayed = {
        isa.find_bit(q).index
        for inst in isa.data
        if inst.operation.name == "delay"
        for q in inst.qubits
    }
    assert len(delayed) > 100  # the scheduler padded the idle qubits
    evs = (
        EstimatorV2(heron)
        .run([(isa, ["Z" * 156, "X" * 156])], precision=PRECISION)
        .result(timeout=120)[0]
        .data.evs
    )
    assert evs[0] > 0.9 - SIGMAS * PRECISION and abs(evs[1]) < SIGMAS * PRECISION


# The active part still has to fit -------------------------------------------------------------


def wide_circuit(backend: RestBackend, size: int) -> QuantumCircuit:
    """Entangle ``size`` physical qubits along a tree of the coupling map (non-Clifford)."""
    cmap = backend.target.build_coupling_map()
    chosen, edges, frontier = [0], [], deque([0])
    while len(chosen) < size:
        a = frontier.popleft()
        for b in cmap.neighbors(a):
            if b not in chosen and len(chosen) < size:
                chosen.append(b)
                edges.append((a, b))
                frontier.append(b)
    qc = QuantumCircuit(backend.num_qubits)
    for q in chosen:
        qc.sx(q)
        qc.rz(0.3, q)
    for a, b in edges:
        qc.cz(a, b)
    return qc


def test_an_active_part_too_wide_is_refused_at_submission(heron: RestBackend) -> None:
    qc = wide_circuit(heron, 36)  # a 36-qubit statevector needs 1 TiB
    estimator = EstimatorV2(heron)
    # (left to choose, the service would run it on the bounded matrix product state)
    estimator.options.simulator.method = "statevector"
    # X on the idle qubits makes every term 0: the width that counts is still the circuit's
    with pytest.raises(QiskitRestError, match=r"pub 0: the circuit acts on 36 qubits.*memory"):
        estimator.run([(qc, "Z" * 156)])


# Factoring versus simulating the idle qubits --------------------------------------------------

_HERON = next(d for d in default_catalog() if d.name == "local_heron")
_CAL_KEY = "test_estimator_idle_qubits/heron"
_TWOQ = ("cz",)


@st.composite
def embedded_pubs(draw: st.DrawFn) -> tuple[EstimatorPub, bool, bool]:
    """A few gates on 1-3 coupled qubits of a 20-40 qubit register, and random Pauli
    observables over some active and at most four idle qubits (so that the unfactored
    simulation stays small). Returns the pub, whether an observable touches an idle qubit, and
    whether the circuit has delays."""
    width = draw(st.integers(20, 40))
    pairs = [(a, b) for a, b in _HERON.configuration["coupling_map"] if a < width and b < width]
    a, b = draw(st.sampled_from(pairs))
    c = draw(st.sampled_from([q for q in range(width) if q not in (a, b)]))
    active = draw(st.sampled_from([[a], [a, b], [a, b, c]]))
    theta = Parameter("t")
    qc = QuantumCircuit(width)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["sx", "x", "rz", "prz", "cz"]))
        q = draw(st.sampled_from(active))
        if kind == "sx":
            qc.sx(q)
        elif kind == "x":
            qc.x(q)
        elif kind == "rz":
            qc.rz(draw(st.floats(-3.2, 3.2)), q)
        elif kind == "prz":
            qc.rz(theta, q)
        elif len(active) > 1:
            qc.cz(a, b)
    idle_pool = draw(
        st.lists(st.sampled_from([q for q in range(width) if q not in active]), max_size=4)
    )
    has_delay = draw(st.booleans())
    if has_delay:
        for q in idle_pool[:2]:
            qc.delay(draw(st.integers(1, 500)), q)
    if draw(st.booleans()):
        qc.barrier()
    support = sorted(set(active) | set(idle_pool))

    def observable() -> dict[str, float]:
        # Each term draws its alphabets, so that the cases the factoring tells apart are all
        # common: Z-only on idle qubits (factor 1), identity on the active ones (exactly its
        # coefficient), and terms that coincide once their idle Z are dropped (to be merged).
        terms: dict[str, float] = {}
        for _ in range(draw(st.integers(1, 5))):
            on_active = draw(st.sampled_from(["I", "Z", "IXYZ"]))
            on_idle = draw(st.sampled_from(["IZ", "IXYZ"]))
            paulis = {
                q: draw(st.sampled_from(on_active if q in active else on_idle)) for q in support
            }
            terms[label(width, paulis)] = draw(st.floats(-2, 2).filter(lambda x: abs(x) > 0.01))
        return terms

    observables = ObservablesArray([observable() for _ in range(draw(st.integers(1, 3)))])
    values = BindingsArray(
        {(theta,): np.array(draw(st.lists(st.floats(-3, 3), min_size=1, max_size=3)))[:, None]}
        if qc.num_parameters
        else {}
    )
    if qc.num_parameters:
        observables = observables.reshape(-1, 1)
    idle = set(range(width)) - set(active_qubits(qc))
    touches_idle = any(
        pauli != "I" and width - 1 - k in idle
        for obs in observables.ravel().tolist()
        for term in obs
        for k, pauli in enumerate(term)
    )
    return EstimatorPub(qc, observables, values, PRECISION), touches_idle, has_delay


def _expectations(pub: EstimatorPub, qubits: list[int], observables: ObservablesArray) -> Any:
    """Exact noiseless <O> of ``pub``'s circuit reduced to ``qubits``, per binding and
    observable (broadcast to the pub's shape)."""
    circuit = compact(pub.circuit, qubits)
    out = np.zeros(pub.shape)
    bound = pub.parameter_values.bind_all(circuit)
    obs = np.broadcast_to(
        np.asarray(observables.ravel().tolist(), dtype=object).reshape(observables.shape), pub.shape
    )
    circuits = np.broadcast_to(bound, pub.shape)
    for index in np.ndindex(pub.shape):
        state = Statevector(circuits[index].remove_final_measurements(inplace=False))
        terms = obs[index]
        if isinstance(terms, SparseObservable):
            out[index] = float(
                np.real(state.expectation_value(SparsePauliOp.from_sparse_observable(terms)))
            )
        else:
            out[index] = sum(
                coeff * float(np.real(state.expectation_value(SparsePauliOp(term))))
                for term, coeff in terms.items()
            )
    return out


def _restricted(observables: ObservablesArray, qubits: list[int], width: int, factor: Any) -> Any:
    """The observables on ``qubits`` only (their labels cut to those positions), each term
    scaled by ``factor`` of every Z it has on a qubit outside ``circuit_active``."""
    out = []
    for obs in observables.ravel().tolist():
        terms: dict[str, float] = {}
        for term, coeff in obs.items():
            kept = "".join(term[width - 1 - q] for q in reversed(qubits))
            terms[kept] = terms.get(kept, 0.0) + coeff * factor(term)
        out.append(terms)
    return ObservablesArray(np.array(out, dtype=object).reshape(observables.shape))


@settings(max_examples=40, deadline=None)
@given(case=embedded_pubs(), seed=st.integers(0, 2**31))
def test_factoring_idle_qubits_matches_simulating_them(
    case: tuple[EstimatorPub, bool, bool], seed: int
) -> None:
    """The factoring is exact: <O> from the active qubits plus the factored constants equals
    <O> simulated on every qubit the observables touch, also when each idle Z reads a factor
    other than 1 (the readout bias at level 0)."""
    pub, _touches_idle, _has_delay = case
    width = pub.circuit.num_qubits
    keep = sorted(active_qubits(pub.circuit)) or [0]
    factors = np.random.default_rng(seed).uniform(0.5, 1.0, width)
    split = split_observables(pub.observables, keep, width, factors)
    factored = _expectations(pub, keep, split.simulated) + np.broadcast_to(
        split.constant, pub.shape
    )
    support = sorted(set(keep) | observed_qubits(pub.observables))

    def idle_factor(term: str) -> float:
        idle_z = [q for q in range(width) if term[width - 1 - q] == "Z" and q not in keep]
        return float(np.prod(factors[idle_z])) if idle_z else 1.0

    simulated = _expectations(
        pub, support, _restricted(pub.observables, support, width, idle_factor)
    )
    np.testing.assert_allclose(factored, simulated, rtol=0, atol=1e-9)
