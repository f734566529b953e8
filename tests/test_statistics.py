"""Statistics of the local service's simulations: noiseless results match the statevector within
shot noise; calibrated noise shows up with the direction and size the calibration predicts."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import EstimatorV2, QiskitRestProvider, SamplerV2

pytestmark = [pytest.mark.slow, pytest.mark.service]

SHOTS = 20_000


def _tvd(counts: dict[str, int], probabilities: dict[str, float]) -> float:
    keys = set(counts) | set(probabilities)
    total = sum(counts.values())
    return 0.5 * sum(abs(counts.get(k, 0) / total - probabilities.get(k, 0.0)) for k in keys)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sampler_matches_the_statevector(provider: QiskitRestProvider, seed: int) -> None:
    backend = provider.backend("local_simulator")
    circuit = random_circuit(4, depth=6, max_operands=2, seed=seed)
    expected = Statevector(circuit).probabilities_dict()
    measured = circuit.copy()
    measured.measure_all()
    isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(measured)
    sampler = SamplerV2(backend, options={"simulator": {"seed_simulator": seed}})
    counts = sampler.run([isa], shots=SHOTS).result()[0].data.meas.get_counts()
    # With K outcomes and N shots the expected TVD is below sqrt(K / (2 pi N)) / ... ~ 0.01.
    bound = 4 * np.sqrt(len(expected) / (2 * np.pi * SHOTS))
    assert _tvd(counts, expected) < bound


def test_estimator_values_lie_within_their_stds(provider: QiskitRestProvider) -> None:
    backend = provider.backend("local_simulator")
    circuit = random_circuit(3, depth=5, max_operands=2, seed=11)
    rng = np.random.default_rng(3)
    labels = ["".join(rng.choice(list("IXYZ"), 3)) for _ in range(12)]
    observables = [SparsePauliOp(label) for label in labels]
    isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(circuit)
    estimator = EstimatorV2(backend, options={"seed_estimator": 5})
    data = estimator.run([(isa, observables)], precision=0.01).result()[0].data
    state = Statevector(circuit)
    exact = np.array([state.expectation_value(o).real for o in observables])
    stds = np.maximum(data.stds, 1e-3)
    assert np.all(np.abs(data.evs - exact) < 5 * stds)
    assert np.mean(np.abs(data.evs - exact)) < 0.02


def test_readout_error_matches_the_calibration(provider: QiskitRestProvider) -> None:
    backend = provider.backend("local_eagle")
    props = backend.properties()
    assert props is not None
    qubit = int(np.argmax([props.readout_error(q) or 0 for q in range(len(props.qubits))]))
    p01 = props.prob_meas0_prep1(qubit)
    p10 = props.prob_meas1_prep0(qubit)
    assert p01 is not None and p10 is not None
    prepared_one = QuantumCircuit(backend.num_qubits, 1)
    prepared_one.x(qubit)
    prepared_one.measure(qubit, 0)
    prepared_zero = QuantumCircuit(backend.num_qubits, 1)
    prepared_zero.measure(qubit, 0)
    result = SamplerV2(backend).run([prepared_one, prepared_zero], shots=SHOTS).result()
    flipped_from_one = result[0].data.c.get_counts().get("0", 0) / SHOTS
    flipped_from_zero = result[1].data.c.get_counts().get("1", 0) / SHOTS
    sigma = np.sqrt(max(p01, 0.01) / SHOTS)
    # The x gate adds its own small error on top of the readout flip.
    assert p01 - 5 * sigma < flipped_from_one < p01 + 5 * sigma + 0.01
    assert abs(flipped_from_zero - p10) < 5 * np.sqrt(max(p10, 0.01) / SHOTS)


def test_gate_errors_accumulate_with_depth(provider: QiskitRestProvider) -> None:
    backend = provider.backend("local_heron")
    target = backend.target
    working = sorted(
        (target["cz"][qargs].error, qargs)
        for qargs in target["cz"]
        if (target["cz"][qargs].error or 1) < 1
    )
    a, b = working[len(working) // 2][1]  # a typical coupler

    def identity_chain(pairs: int) -> QuantumCircuit:
        qc = QuantumCircuit(backend.num_qubits, 2)
        for _ in range(pairs):
            qc.cz(a, b)
            qc.cz(a, b)
        qc.measure([a, b], [0, 1])
        return qc

    short, long = identity_chain(1), identity_chain(40)
    result = SamplerV2(backend).run([short, long], shots=SHOTS).result()
    survival = [pub.data.c.get_counts().get("00", 0) / SHOTS for pub in result]
    # Depolarizing cz errors compound: each extra gate with error e loses about e of |00>.
    error = target["cz"][(a, b)].error
    predicted_loss = 1 - (1 - error) ** 78
    assert survival[0] > survival[1] + predicted_loss / 2
    assert survival[0] - survival[1] == pytest.approx(predicted_loss, rel=0.35)
