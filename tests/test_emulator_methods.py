"""Which simulation method runs a circuit, and that the stabilizer method agrees with the exact
one: the Stim translation is the same Clifford operation, and a GHZ-8 with the device's
Pauli-twirled noise samples the distribution a density matrix gives for the same noise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import PauliGate
from qiskit.quantum_info import Operator
from qiskit_aer import AerSimulator

from benchmarks.circuits import coupling_path
from qiskit_rest_provider import QiskitRestProvider, SamplerV2
from qiskit_rest_provider.server.devices import default_catalog
from qiskit_rest_provider.server.emulator.methods import (
    is_clifford,
    method_problem,
    simulation_bytes,
    simulation_method,
)
from qiskit_rest_provider.server.emulator.stabilizer import sample_stabilizer, to_aer, to_stim
from qiskit_rest_provider.server.simulation import emulator_for

stim = pytest.importorskip("stim")


def _random_clifford(seed: int, width: int = 3, depth: int = 12) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(width)
    for _ in range(depth):
        kind = rng.integers(8)
        a, b = (int(q) for q in rng.choice(width, 2, replace=False))
        if kind == 0:
            qc.sx(a)
        elif kind == 1:
            qc.rz(float(rng.integers(4)) * np.pi / 2, a)
        elif kind == 2:
            qc.cz(a, b)
        elif kind == 3:
            qc.ecr(a, b)
        elif kind == 4:
            qc.cx(a, b)
        elif kind == 5:
            qc.append(PauliGate("".join(rng.choice(list("IXYZ"), 2))), [a, b])
        elif kind == 6:
            qc.h(a)
        else:
            qc.rzz(float(rng.integers(4)) * np.pi / 2, a, b)
    return qc


@pytest.mark.parametrize("seed", range(12))
def test_the_stim_translation_is_the_same_clifford(seed: int) -> None:
    qc = _random_clifford(seed)
    assert is_clifford(qc)
    program, records = to_stim(qc)
    assert records == []
    expected = stim.Tableau.from_unitary_matrix(Operator(qc).data, endian="little")
    assert program.to_tableau() == expected


def test_method_choice() -> None:
    assert simulation_method(8, 10_000, noisy=True, clifford=False) == "density_matrix"
    assert simulation_method(8, 100, noisy=True, clifford=False) == "statevector"
    assert simulation_method(8, 100, noisy=True, clifford=True) == "stabilizer"
    assert simulation_method(156, 4000, noisy=True, clifford=True) == "stabilizer"
    assert simulation_method(30, 4000, noisy=False, clifford=False) == "statevector"
    # a non-Clifford circuit whose state vector exceeds the budget: the bounded MPS
    budget = 1 << 30
    assert simulation_method(20, 100, noisy=True, budget=budget) == "statevector"
    assert simulation_method(40, 100, noisy=True, budget=budget) == "matrix_product_state"
    assert simulation_method(40, 100, noisy=True, clifford=True, budget=budget) == "stabilizer"
    assert simulation_bytes("matrix_product_state", 156) < budget
    # asked for: taken as it is, and refused where it cannot run
    assert simulation_method(8, 10_000, noisy=True, requested="statevector") == "statevector"
    assert method_problem("stabilizer", 8, clifford=False, budget=budget) is not None
    assert method_problem("stabilizer", 8, clifford=True, budget=budget) is None
    qc = QuantumCircuit(1)
    qc.rz(0.3, 0)
    assert not is_clifford(qc)


@pytest.mark.slow
def test_ghz8_on_the_stabilizer_method_matches_the_density_matrix_of_the_same_noise() -> None:
    """Total variation distance between Stim's 40,000 shots and the exact distribution of the
    same (Pauli-twirled) noise is within its sampling error (about 0.01 at 256 outcomes)."""
    device = next(d for d in default_catalog() if d.name == "local_heron")
    emulator = emulator_for(device.configuration, device.calibration().properties)
    chain = [0, 1, 2, 3, 4, 5, 6, 7]
    qc = QuantumCircuit(8, 8)

    def hadamard(q: int) -> None:  # H as the devices play it: rz(pi/2) sx rz(pi/2)
        qc.rz(np.pi / 2, q)
        qc.sx(q)
        qc.rz(np.pi / 2, q)

    hadamard(0)
    for a in range(7):
        hadamard(a + 1)
        qc.cz(a, a + 1)
        hadamard(a + 1)
    qc.barrier()
    qc.delay(4000, range(8), unit="dt")
    qc.measure(range(8), range(8))
    prepared = emulator.prepare(qc, chain, shots=0)
    assert prepared.method == "stabilizer"
    shots = 40_000
    sampled = sample_stabilizer(prepared.circuit, shots, seed=5)
    values = sampled @ (1 << np.arange(8))
    observed = np.bincount(values, minlength=256) / shots
    exact_circuit = to_aer(prepared.circuit.remove_final_measurements(inplace=False))
    exact_circuit.save_probabilities()
    result = AerSimulator(method="density_matrix").run(exact_circuit).result()
    exact = np.asarray(result.data()["probabilities"])
    distance = 0.5 * np.abs(observed - exact).sum()
    # E[TVD] ~ sum sqrt(p (1 - p) / shots) / 2 ~ 0.01 here; 0.03 is far beyond it
    assert distance < 0.03
    assert exact[0] + exact[255] > 0.5  # a GHZ state, with noise


@pytest.mark.slow
@pytest.mark.service
def test_a_156_qubit_ghz_runs_through_the_service_on_the_stabilizer_method(
    provider: QiskitRestProvider,
) -> None:
    """Every qubit of local_heron, with its calibrated noise Pauli-twirled: accepted (a
    statevector would need 2**156 amplitudes), run, and reported as such."""
    backend = provider.backend("local_heron")
    coupling = backend.target.build_coupling_map()
    chosen, edges, frontier = [0], [], [0]
    while frontier:
        a = frontier.pop(0)
        for b in sorted(coupling.neighbors(a)):
            if b not in chosen:
                chosen.append(b)
                edges.append((a, b))
                frontier.append(b)
    assert len(chosen) == 156
    qc = QuantumCircuit(156, 156)

    def hadamard(q: int) -> None:
        qc.rz(np.pi / 2, q)
        qc.sx(q)
        qc.rz(np.pi / 2, q)

    hadamard(0)
    for a, b in edges:
        hadamard(b)
        qc.cz(a, b)
        hadamard(b)
    qc.measure(chosen, range(156))
    result = SamplerV2(backend).run([qc], shots=4000).result(timeout=300)[0]
    assert result.metadata["emulator"]["method"] == "stabilizer"
    assert result.metadata["emulator"]["pauli_twirled_noise"] is True
    counts = result.data.c.get_counts()
    # GHZ: the all-0 and all-1 strings are the two most frequent outcomes by far
    top = sorted(counts, key=counts.get, reverse=True)[:2]
    assert set(top) == {"0" * 156, "1" * 156}


@pytest.mark.parametrize("device", ["local_eagle", "local_heron"])
def test_closed_form_gate_twirls_equal_the_numerical_twirl(device: str) -> None:
    from qiskit_rest_provider.core.properties import BackendProperties
    from qiskit_rest_provider.server.emulator.device_noise import DeviceNoise
    from qiskit_rest_provider.server.emulator.stabilizer import gate_pauli_noise, pauli_noise_of

    noise = DeviceNoise(
        BackendProperties(
            next(d for d in default_catalog() if d.name == device).calibration().properties
        )
    )
    twoq = "ecr" if device == "local_eagle" else "cz"
    pairs = list(noise._props.gate_property(twoq))[:5]
    for name, qubits in [("sx", (q,)) for q in range(8)] + [(twoq, p) for p in pairs]:
        closed = gate_pauli_noise(noise, name, qubits)
        numeric = pauli_noise_of(noise.gate_channel(name, qubits), len(qubits))
        assert closed is not None
        for label in set(closed.probabilities) | set(numeric.probabilities):
            assert closed.probabilities.get(label, 0.0) == pytest.approx(
                numeric.probabilities.get(label, 0.0), rel=1e-5, abs=1e-9
            ), (name, qubits, label)


@pytest.mark.slow
def test_pec_on_the_stabilizer_method_draws_per_gate_and_is_unbiased() -> None:
    """Seven qubits, 64 shots per randomization: the stabilizer method. Each gate instance
    draws its own Pauli (a cache per gate would draw once and bias the estimate)."""
    from qiskit.primitives.containers import EstimatorPub
    from qiskit.quantum_info import SparsePauliOp

    from qiskit_rest_provider.server.emulator.estimator import run_estimator

    device = next(d for d in default_catalog() if d.name == "local_heron")
    emulator = emulator_for(device.configuration, device.calibration().properties)
    a, b = 0, 1
    qc = QuantumCircuit(device.num_qubits)
    qc.sx(a)
    for _ in range(20):
        qc.cz(a, b)
    qc.sx(a)
    for q in (2, 3, 4, 5, 6):
        qc.x(q)
        qc.x(q)
    observable = SparsePauliOp.from_sparse_list([("Z", [a], 1.0)], device.num_qubits)
    pub = EstimatorPub.coerce((qc, observable), precision=0.02)
    options = {"resilience": {"pec_mitigation": True}}
    results = run_estimator([pub] * 4, emulator, options, 1, 17, None)
    assert results[0].metadata["emulator"]["method"] == "stabilizer"
    values = [float(r.data.evs) for r in results]
    std = float(np.sqrt(sum(float(r.data.stds) ** 2 for r in results))) / 4
    # unbiased: the pooled estimate within 3 sigma of the ideal -1
    assert abs(np.mean(values) + 1) < 3 * std


def _brickwork(width: int, layers: int) -> QuantumCircuit:
    """Non-Clifford rotations and cz layers along a chain."""
    qc = QuantumCircuit(width, width)
    for layer in range(layers):
        for q in range(width):
            qc.rz(0.3 + 0.2 * q, q)
            qc.sx(q)
        for q in range(layer % 2, width - 1, 2):
            qc.cz(q, q + 1)
    qc.measure(range(width), range(width))
    return qc


@pytest.mark.slow
@pytest.mark.service
def test_the_method_asked_for_runs_and_the_mps_agrees_with_the_exact_method(
    provider: QiskitRestProvider,
) -> None:
    """``options.simulator.method`` overrides the choice and the metadata say what ran; on 5
    qubits (which the MPS holds exactly) the MPS, whose noise is Pauli-twirled, samples the
    distribution the density matrix gives with the exact noise, within sampling error (the
    twirl changes these probabilities by far less)."""
    backend = provider.backend("local_heron")
    chain = [0, 1, 2, 3, 4]  # a path on local_heron's coupling map
    coupling = backend.target.build_coupling_map()
    assert all(
        coupling.graph.has_edge(a, b) or coupling.graph.has_edge(b, a)
        for a, b in itertools.pairwise(chain)
    )
    qc = QuantumCircuit(backend.num_qubits, 5)
    qc.compose(_brickwork(5, 4), qubits=chain, clbits=range(5), inplace=True)
    shots = 6000
    distributions = {}
    for method in ("density_matrix", "matrix_product_state"):
        sampler = SamplerV2(backend)
        sampler.options.simulator.method = method
        sampler.options.simulator.seed_simulator = 3
        result = sampler.run([qc], shots=shots).result(timeout=300)[0]
        assert result.metadata["emulator"]["method"] == method
        assert result.metadata["emulator"]["approximation"]
        counts = result.data.c.get_counts()
        distributions[method] = np.array([counts.get(format(k, "05b"), 0) for k in range(32)])
    p = distributions["density_matrix"] / shots
    q = distributions["matrix_product_state"] / shots
    distance = 0.5 * np.abs(p - q).sum()
    # two samples of 6000 over 32 outcomes: E[TVD] ~ 0.03; 0.07 is beyond 4 sigma of it
    assert distance < 0.07, distance
    # the stabilizer method is refused for this non-Clifford circuit, at submission
    sampler = SamplerV2(backend)
    sampler.options.simulator.method = "stabilizer"
    with pytest.raises(Exception, match="Clifford"):
        sampler.run([qc], shots=10).result(timeout=60)


@pytest.mark.slow
def test_a_wide_non_clifford_circuit_runs_on_the_bounded_mps() -> None:
    """40 qubits of local_heron with rotations and two cz layers: a state vector would need
    16 TiB; the MPS runs it within its memory bound, with the device's noise."""
    device = next(d for d in default_catalog() if d.name == "local_heron")
    emulator = emulator_for(device.configuration, device.calibration().properties)
    path = coupling_path(device.configuration["coupling_map"], 40)
    qc = _brickwork(40, 2)
    prepared = emulator.prepare(qc, path, shots=50)
    assert prepared.method == "matrix_product_state"
    [bits] = emulator.run([prepared], None, 50, 7)
    assert bits.shape == (1, 50, 40)
    # Before the last (diagonal) cz layer, pairs (2k, 2k+1) evolve on their own: each pair's
    # exact marginals, noise aside
    from qiskit.quantum_info import Statevector

    expected = np.zeros(40)
    for k in range(20):
        pair = QuantumCircuit(2)
        for layer in range(2):
            for j in range(2):
                pair.rz(0.3 + 0.2 * (2 * k + j), j)
                pair.sx(j)
            if layer == 0:
                pair.cz(0, 1)
        probabilities = Statevector(pair).probabilities_dict()
        for j in range(2):
            expected[2 * k + j] = sum(
                p for label, p in probabilities.items() if label[1 - j] == "1"
            )
    observed = bits[0].mean(axis=0)
    # 50 shots a qubit: the mean over 40 qubits is within 0.05 of the expected mean (the
    # standard error is about 0.01; readout is not applied here, gate noise is small)
    assert abs(observed.mean() - expected.mean()) < 0.05
