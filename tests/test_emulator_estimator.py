"""The emulator's estimator on the shapes pubs really take: zipped and outer-product
broadcasts of parameter sets against observables, many distinct terms, parameter sets without
parameters, and qubits that are only measured. Values are checked against exact expectation
values; memory against what the pub's own shape needs (never bindings x observables)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives.containers import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import SparsePauliOp, Statevector

from qiskit_rest_provider.server.devices import default_catalog
from qiskit_rest_provider.server.emulator.engine import DeviceEmulator
from qiskit_rest_provider.server.emulator.estimator import run_estimator
from qiskit_rest_provider.server.simulation import emulator_for

#: No noise: estimates differ from the exact values by shot noise only.
NOISELESS = DeviceEmulator(None, None)


def _ry_circuit() -> tuple[QuantumCircuit, Parameter]:
    theta = Parameter("theta")
    qc = QuantumCircuit(2)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    return qc, theta


def _within(values: np.ndarray, exact: np.ndarray, stds: np.ndarray, sigmas: float) -> None:
    errors = np.abs(values - exact)
    assert np.all(errors <= sigmas * np.maximum(stds, 1e-9)), (values, exact, stds)


def test_zipped_parameter_sets_and_observables_pair_elementwise() -> None:
    """Shape (n,) against (n,): element i reads set i against observable i (a product would
    compute n x n values). Z0 on ry(theta) gives cos(theta); Z0 Z1 after the cx gives 1."""
    qc, _theta = _ry_circuit()
    n = 40
    angles = np.linspace(0, np.pi, n)
    observables = [SparsePauliOp("IZ") if i % 2 else SparsePauliOp("ZZ") for i in range(n)]
    pub = EstimatorPub.coerce((qc, observables, angles[:, None]), precision=0.05)
    [result] = run_estimator([pub], NOISELESS, {}, 0, 11, None)
    exact = np.where(np.arange(n) % 2, np.cos(angles), 1.0)
    assert result.data.evs.shape == (n,)
    # each within 5 sigma (two-sided 5.7e-7 each: the 40 together fail with p < 3e-5); the
    # ZZ elements are exactly 1 with zero spread
    _within(result.data.evs, exact, result.data.stds, 5)
    assert np.all(result.data.evs[::2] == 1.0)


def test_outer_product_broadcast_gives_every_pair() -> None:
    qc, _theta = _ry_circuit()
    angles = np.array([0.0, np.pi / 3, np.pi / 2, np.pi])
    observables = ObservablesArray([["IZ", "ZI", "XX", "ZZ"]])  # shape (1, 4)
    pub = EstimatorPub.coerce((qc, observables, angles[:, None, None]), precision=0.03)
    [result] = run_estimator([pub], NOISELESS, {}, 0, 5, None)
    assert result.data.evs.shape == (4, 4)
    exact = np.zeros((4, 4))
    for i, angle in enumerate(angles):
        state = Statevector(qc.assign_parameters([angle]))
        for j, label in enumerate(["IZ", "ZI", "XX", "ZZ"]):
            exact[i, j] = state.expectation_value(SparsePauliOp(label)).real
    _within(result.data.evs, exact, result.data.stds, 5)


@pytest.mark.slow
def test_memory_follows_the_pub_shape_not_sets_times_observables() -> None:
    """5,000 zipped pairs: a (sets x observables) array of estimates would hold 2.5e7 numbers
    (200 MB, and the estimator keeps several); its own allocations stay far below. tracemalloc sees
    numpy's allocations (Aer's are outside it and bounded by the shots)."""
    qc, _theta = _ry_circuit()
    n = 5_000
    angles = np.linspace(0, np.pi, n)
    observables = [SparsePauliOp("IZ")] * n
    pub = EstimatorPub.coerce((qc, observables, angles[:, None]), precision=0.5)
    tracemalloc.start()
    try:
        [result] = run_estimator([pub], NOISELESS, {}, 0, 3, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.data.evs.shape == (n,)
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    # 4 shots a set: the mean over sets still follows cos(theta) on average
    assert abs(float(np.mean(result.data.evs)) - float(np.mean(np.cos(angles)))) < 0.05


def test_many_distinct_terms_in_one_basis() -> None:
    """Every two-qubit Z string of 12 qubits (66 terms, one measurement basis) in separate
    observables and summed in one: each reads its exact value on a basis state."""
    width = 12
    qc = QuantumCircuit(width)
    flipped = [1, 4, 5, 9]
    for q in flipped:
        qc.x(q)
    labels = []
    for a in range(width):
        for b in range(a + 1, width):
            label = ["I"] * width
            label[width - 1 - a] = label[width - 1 - b] = "Z"
            labels.append("".join(label))
    summed = SparsePauliOp(labels, np.linspace(0.1, 1.0, len(labels)))
    pub = EstimatorPub.coerce((qc, [*labels, summed]), precision=0.1)
    [result] = run_estimator([pub], NOISELESS, {}, 0, 2, None)
    state = Statevector(qc)
    exact = [state.expectation_value(SparsePauliOp(label)).real for label in labels]
    exact.append(state.expectation_value(summed).real)
    # a basis state: every shot reads the same, so the estimates are exact
    np.testing.assert_allclose(result.data.evs, exact, atol=1e-12)


def test_parameter_sets_without_parameters_get_shots_of_their_own() -> None:
    """Five parameter sets of a circuit with no parameters are five executions: independent
    estimates (identical ones would mean one execution copied five times)."""
    qc = QuantumCircuit(1)
    qc.h(0)
    pub = EstimatorPub.coerce((qc, "Z", np.zeros((5, 0))), precision=0.05)
    assert pub.shape == (5,)
    [result] = run_estimator([pub], NOISELESS, {}, 0, 9, None)
    evs = result.data.evs
    assert evs.shape == (5,)
    # 400 shots of a fair coin each: five equal means have probability < 1e-4
    assert len(set(np.round(evs, 12))) > 1
    _within(evs, np.zeros(5), result.data.stds, 5)


def test_qubits_that_are_only_measured_are_not_simulated() -> None:
    """An estimator circuit that measures 40 otherwise idle qubits of local_heron (too wide to
    simulate exactly with noise) evaluates on the qubit that does something, as the
    submission's memory check assumed."""
    device = next(d for d in default_catalog() if d.name == "local_heron")
    emulator = emulator_for(device.configuration, device.calibration().properties)
    qc = QuantumCircuit(device.num_qubits, 40)
    qc.x(0)
    qc.measure(range(1, 41), range(40))
    observable = SparsePauliOp.from_sparse_list([("Z", [0], 1.0)], device.num_qubits)
    pub = EstimatorPub.coerce((qc, observable), precision=0.05)
    [result] = run_estimator([pub], emulator, {}, 1, 4, None)
    # level 1 removes the readout bias: -1 up to the x gate's small error, within 5 sigma
    assert abs(float(result.data.evs) + 1) < 5 * float(result.data.stds) + 0.01


def test_sampler_parameter_sets_without_parameters_get_shots_of_their_own() -> None:
    """The sampler likewise: a (5,)-shaped pub of a parameterless circuit returns five
    independent sets of shots (it used to fail on the shape)."""
    import datetime as dt

    from qiskit.primitives.containers import SamplerPub

    from qiskit_rest_provider.server.emulator.sampler import run_sampler

    qc = QuantumCircuit(1)
    qc.h(0)
    qc.measure_all()
    pub = SamplerPub.coerce((qc, np.zeros((5, 0))), shots=64)
    started = dt.datetime.now(dt.timezone.utc)
    [result] = run_sampler([pub], NOISELESS, {}, 3, started)
    bits = result.data.meas
    assert bits.shape == (5,) and bits.num_shots == 64
    rows = {bytes(bits.array[i].ravel()) for i in range(5)}
    # 64 fair coins per set: two equal sets have probability 2**-64
    assert len(rows) == 5


def test_twirled_randomizations_run_as_one_template_give_the_exact_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Level 1 with 16 gate-and-measurement randomizations over 4 parameter sets x 4
    observables: the randomizations run as one parameterized circuit (randomization-major
    bindings, flips undone per randomization) and every estimate lands within 4 sigma of the
    exact noiseless value plus the noise's small bias (0.03)."""
    from qiskit.circuit import Parameter

    device = next(d for d in default_catalog() if d.name == "local_heron")
    emulator = emulator_for(device.configuration, device.calibration().properties)
    used = []
    original = DeviceEmulator.prepare_template

    def spy(self: DeviceEmulator, *args: object, **kwargs: object) -> object:
        out = original(self, *args, **kwargs)  # type: ignore[arg-type]
        used.append(out[0] is not None)
        return out

    monkeypatch.setattr(DeviceEmulator, "prepare_template", spy)
    theta = Parameter("theta")
    qc = QuantumCircuit(device.num_qubits)
    small = QuantumCircuit(2)
    for circuit in (qc, small):
        circuit.sx(0)
        circuit.rz(theta, 0)
        circuit.sx(0)
        circuit.rz(0.4, 1)
        circuit.sx(1)
        circuit.cz(0, 1)
        circuit.sx(1)
    labels = ("IZ", "IX", "IY", "ZZ")  # little-endian: qubit 0 is the last letter
    observables = ObservablesArray(
        [[SparsePauliOp.from_sparse_list([(label[::-1], [0, 1], 1.0)], 156) for label in labels]]
    )
    angles = np.array([0.0, 1.0, 2.0, 3.0])
    pub = EstimatorPub.coerce((qc, observables, angles[:, None, None]), precision=0.01)
    options = {"twirling": {"enable_gates": True, "enable_measure": True, "num_randomizations": 16}}
    [result] = run_estimator([pub], emulator, options, 1, 7, None)
    assert used and all(used)
    exact = np.zeros((4, 4))
    for i, angle in enumerate(angles):
        state = Statevector(small.assign_parameters([angle]))
        for j, label in enumerate(labels):
            exact[i, j] = state.expectation_value(SparsePauliOp(label)).real
    assert result.data.evs.shape == (4, 4)
    assert np.all(np.abs(result.data.evs - exact) < 4 * result.data.stds + 0.03)
