"""Pauli twirling of gates and measurements (:mod:`.twirling`), against ideal simulation.

A twirled circuit, with ``measure_flips`` XOR-ed into its recorded bits, must be the circuit
it came from: for every randomization, in every shot. That includes dynamic circuits: a
measurement whose bit is read by feed-forward (or overwritten later) must not be twirled,
since flipping its bit back after the simulation comes too late (or flips the wrong write).
All simulations are ideal (no noise) and seeded, so the assertions are exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit.classical import expr
from qiskit.quantum_info import Statevector
from qiskit_aer import AerSimulator

from qiskit_rest_provider.server.emulator.twirling import TWIRL_LABEL, twirl_circuits

STRATEGIES = ("active", "active-accum", "active-circuit", "all")


def _shots(circuits: list[QuantumCircuit], shots: int, seed: int) -> npt.NDArray[np.uint8]:
    """``(circuits, shots, clbits)``: each circuit's recorded bits, clbit ``i`` in column
    ``i`` (ideal simulation). The circuits have one classical register each."""
    result = AerSimulator().run(circuits, shots=shots, memory=True, seed_simulator=seed).result()
    memory = "".join("".join(result.get_memory(i)) for i in range(len(circuits)))
    bits = np.frombuffer(memory.encode(), dtype=np.uint8) - ord("0")
    # memory strings are little-endian: clbit 0 is the last character
    return bits.reshape(len(circuits), shots, circuits[0].num_clbits)[..., ::-1]


def _unflipped(
    circuit: QuantumCircuit, randomizations: int, seed: int, *, gates: bool = False
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The twirled circuits' simulated bits with ``measure_flips`` undone, and the flips."""
    twirled = twirl_circuits(
        circuit, randomizations, np.random.default_rng(seed), gates=gates, measure=True
    )
    assert len(twirled) == randomizations
    bits = _shots(list(twirled), 32, seed)
    return bits ^ twirled.measure_flips[:, None, :], twirled.measure_flips


def _framed_before_measure(circuit: QuantumCircuit) -> list[int]:
    """Clbit indices of the measurements that have a flipping twirl frame (an X) just before
    them (every twirled measurement has a frame, the identity where it does not flip)."""
    data = circuit.data
    return sorted(
        circuit.find_bit(inst.clbits[0]).index
        for k, inst in enumerate(data)
        if inst.operation.name == "measure"
        and k > 0
        and data[k - 1].operation.label == TWIRL_LABEL
        and data[k - 1].operation.params[0] != "I"
        and data[k - 1].qubits == inst.qubits
    )


def _feed_forward() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.measure(1, 1)
    return qc


def test_feed_forward_reads_the_true_measured_bit() -> None:
    """``c1`` copies ``c0`` through an ``if_test``: after undoing the flips, ``c1 == c0`` in
    every shot of every randomization (twirling ``c0``'s measurement breaks it half the
    time), and both outcomes occur (P(miss) = 2 * 2^-2048)."""
    bits, flips = _unflipped(_feed_forward(), 64, seed=11)
    assert np.array_equal(bits[..., 1], bits[..., 0])
    assert 0 < bits[..., 0].mean() < 1
    assert not flips[:, 0].any()  # c0 is read by the condition: never twirled
    assert flips[:, 1].any()  # c1 is an ordinary final measurement: twirled


def _switch(qc: QuantumCircuit) -> None:
    with qc.switch(qc.clbits[0]) as case, case(1):
        qc.x(1)


def _while(qc: QuantumCircuit) -> None:
    with qc.while_loop((qc.clbits[0], 0)):
        qc.measure(1, 1)  # never runs: c0 is 1


def _store(qc: QuantumCircuit) -> None:
    qc.store(qc.clbits[1], expr.lift(qc.clbits[0]))


def _register_condition(qc: QuantumCircuit) -> None:
    with qc.if_test(expr.equal(qc.cregs[0], 1)):
        qc.x(1)


def _measure_in_block(qc: QuantumCircuit) -> None:
    with qc.if_test((qc.clbits[1], 0)):
        qc.measure(1, 0)  # a second write of c0, inside a block


@pytest.mark.parametrize(
    "read",
    [_switch, _while, _store, _register_condition, _measure_in_block],
    ids=lambda f: f.__name__,
)
def test_measurements_whose_bit_another_operation_touches_are_not_twirled(
    read: Callable[[QuantumCircuit], None],
) -> None:
    """q0's final measurement into c0, then an operation that reads or writes c0: c0 gets no
    frame and no flip in any randomization; q2's independent measurement into c2 still does
    (P(no frame in 64 randomizations) = 2^-64)."""
    # c2 in a register of its own: a condition on register c reads c0 and c1 only
    qc = QuantumCircuit(
        QuantumRegister(3, "q"), ClassicalRegister(2, "c"), ClassicalRegister(1, "d")
    )
    qc.x(0)
    qc.measure(0, 0)
    read(qc)
    qc.measure(2, 2)
    twirled = twirl_circuits(qc, 64, np.random.default_rng(5), gates=False, measure=True)
    assert not twirled.measure_flips[:, :2].any()
    assert twirled.measure_flips[:, 2].any()
    for r, circuit in enumerate(twirled):
        assert _framed_before_measure(circuit) == np.flatnonzero(twirled.measure_flips[r]).tolist()


def test_a_clbit_written_twice_is_flipped_for_its_last_write_only() -> None:
    """``q0 -> c0`` (q0 = |1>), then ``q1 -> c0`` (q1 = |0>) and ``q2 -> c1`` (q2 = |1>):
    only the last write of c0 may be twirled, and after undoing the flips every shot is the
    untwirled circuit's ideal outcome ``c0 = 0, c1 = 1`` (twirling both writes of c0 flips
    it back wrongly whenever the first frame is X: P(no such frame) = 2^-64)."""
    qc = QuantumCircuit(3, 2)
    qc.x(0)
    qc.x(2)
    qc.measure(0, 0)
    qc.measure(1, 0)
    qc.measure(2, 1)
    bits, flips = _unflipped(qc, 64, seed=7)
    ideal = _shots([qc], 32, seed=7)[0]
    assert np.array_equal(ideal, np.tile([0, 1], (32, 1)))
    assert np.array_equal(bits, np.broadcast_to(ideal, bits.shape))
    assert flips[:, 0].any() and flips[:, 1].any()
    twirled = twirl_circuits(qc, 64, np.random.default_rng(7), gates=False, measure=True)
    for r, circuit in enumerate(twirled):
        # a frame is only ever before q1's and q2's measurements, where the flips say
        framed = sorted(
            circuit.find_bit(inst.qubits[0]).index
            for inst in circuit.data
            if inst.operation.label == TWIRL_LABEL and inst.operation.params[0] != "I"
        )
        assert framed == [q for q, c in ((1, 0), (2, 1)) if twirled.measure_flips[r, c]]


def test_ordinary_measurements_are_twirled_and_undone() -> None:
    """A GHZ state: the recorded bits differ across randomizations (the frames), but after
    undoing the flips all three bits agree in every shot and both outcomes occur."""
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure([0, 1, 2], [0, 1, 2])
    bits, flips = _unflipped(qc, 64, seed=3)
    # P(some clbit never flipped in 64 randomizations) <= 3 * 2^-64
    assert flips.any(axis=0).all() and not flips.all(axis=0).any()
    assert (bits == bits[..., :1]).all()
    assert 0 < bits[..., 0].mean() < 1


def _clifford() -> QuantumCircuit:
    qc = QuantumCircuit(4, 4)
    qc.h([0, 2])
    qc.s(1)
    qc.cz(0, 1)
    qc.ecr(2, 3)
    qc.sx(1)
    qc.cx(1, 2)
    qc.h(3)
    qc.ecr(0, 3)
    qc.cz(1, 2)
    qc.measure(range(4), range(4))
    return qc


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gate_and_measure_twirling_preserve_the_ideal_distribution(strategy: str) -> None:
    """Every randomization of a Clifford circuit with ``cz``/``ecr``/``cx`` layers has the
    ideal outcome distribution once its measurement flips are undone (exact, statevector)."""
    qc = _clifford()
    ideal = Statevector(qc.remove_final_measurements(inplace=False)).probabilities()
    twirled = twirl_circuits(
        qc, 16, np.random.default_rng(2), gates=True, measure=True, strategy=strategy
    )
    assert twirled.num_twirled_layers >= 2
    outcomes = np.arange(2**qc.num_qubits)
    weights = 1 << np.arange(qc.num_clbits)  # clbit i measures qubit i
    for r, circuit in enumerate(twirled):
        probabilities = Statevector(
            circuit.remove_final_measurements(inplace=False)
        ).probabilities()
        unflipped = np.empty_like(probabilities)
        unflipped[outcomes ^ int(twirled.measure_flips[r] @ weights)] = probabilities
        np.testing.assert_allclose(unflipped, ideal, atol=1e-12)


@pytest.mark.parametrize("strategy", ["active", "active-accum", "active-circuit", "all"])
def test_the_template_bound_to_a_randomization_is_that_randomization(strategy: str) -> None:
    """One parameterized circuit for all randomizations: bound to randomization r's frame
    angles it is the circuit ``twirled[r]`` up to a global phase (equal output states)."""
    from qiskit.quantum_info import Statevector

    qc = QuantumCircuit(4)
    qc.rz(0.4, 0)
    qc.sx(0)
    qc.sx(2)
    qc.cz(0, 1)
    qc.ecr(2, 3)
    qc.rz(1.1, 1)
    qc.sx(1)
    qc.cx(1, 2)
    qc.cz(0, 3)
    twirled = twirl_circuits(
        qc, 6, np.random.default_rng(4), gates=True, measure=False, strategy=strategy
    )
    template = twirled.template()
    values = template.values(0, 6)
    assert values.shape == (6, len(template.parameters))
    for r in range(6):
        bound = template.circuit.assign_parameters(
            dict(zip(template.parameters, values[r], strict=True))
        )
        expected = Statevector(twirled[r].remove_final_measurements(inplace=False))
        state = Statevector(bound.remove_final_measurements(inplace=False))
        assert abs(abs(np.vdot(expected.data, state.data)) - 1) < 1e-9, r


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_fused_template_bound_to_a_randomization_is_that_randomization(
    strategy: str,
) -> None:
    """Frames fused with the one-qubit gates around them (one ``u`` per run, its angles per
    randomization): bound to randomization r's values the fused circuit is still
    ``twirled[r]`` up to a global phase, with fewer instructions and no frame left as
    ``rz``/``rx``. A run without frames (the leading ``rz``/``sx``) becomes a fixed ``u``."""
    qc = QuantumCircuit(4)
    qc.rz(0.4, 0)
    qc.sx(0)
    qc.sx(2)
    qc.cz(0, 1)
    qc.ecr(2, 3)
    qc.rz(1.1, 1)
    qc.sx(1)
    qc.x(3)
    qc.cx(1, 2)
    qc.cz(0, 3)
    qc.h(2)
    twirled = twirl_circuits(
        qc, 8, np.random.default_rng(5), gates=True, measure=False, strategy=strategy
    )
    template = twirled.template()
    fused, circuit = template.fused(template.circuit)
    assert fused is not template and circuit is fused.circuit
    assert len(circuit.data) < len(template.circuit.data)
    assert set(circuit.parameters) == set(fused.parameters)
    frames = [inst.operation for inst in circuit.data if inst.operation.label == TWIRL_LABEL]
    assert frames and all(op.name == "u" for op in frames)
    assert fused.fused(circuit) == (fused, circuit)  # fusing twice changes nothing
    values = fused.values(0, 8)
    assert values.shape == (8, len(fused.parameters))
    for r in range(8):
        bound = circuit.assign_parameters(dict(zip(fused.parameters, values[r], strict=True)))
        expected = Statevector(twirled[r])
        state = Statevector(bound)
        assert abs(abs(np.vdot(expected.data, state.data)) - 1) < 1e-9, r
    # values of a later range of randomizations are those randomizations' own
    np.testing.assert_allclose(fused.values(3, 5), values[3:5])


def test_the_fused_template_keeps_the_measurement_frames_and_other_parameters() -> None:
    """A measurement frame fuses with the basis change before it, and a gate with one of
    the circuit's own parameters is left as it is (its value comes with each binding): bound,
    the fused template records the bits of each randomization."""
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    qc = QuantumCircuit(3, 3)
    qc.sx(0)
    qc.rz(theta, 0)
    qc.sx(0)
    qc.cz(0, 1)
    qc.h(1)
    qc.sdg(2)
    qc.measure(range(3), range(3))
    twirled = twirl_circuits(qc, 16, np.random.default_rng(2), gates=True, measure=True)
    template = twirled.template()
    fused, circuit = template.fused(template.circuit)
    assert theta in set(circuit.parameters)
    values = fused.bindings(0, 16, {theta: np.array([0.7])}, 1)
    simulator = AerSimulator(method="statevector")
    for r in range(16):
        bound = circuit.assign_parameters({p: v[r] for p, v in values.items()})
        a = simulator.run(bound, shots=1, seed_simulator=1, memory=True).result().get_memory()
        alone = twirled[r].assign_parameters({theta: 0.7})
        b = simulator.run(alone, shots=1, seed_simulator=1, memory=True).result().get_memory()
        assert a == b, r


def test_the_template_carries_the_measurement_frames() -> None:
    qc = QuantumCircuit(3, 3)
    qc.sx(0)
    qc.cz(0, 1)
    qc.measure(range(3), range(3))
    twirled = twirl_circuits(qc, 16, np.random.default_rng(2), gates=True, measure=True)
    template = twirled.template()
    values = template.values(0, 16)
    simulator = AerSimulator(method="statevector")
    for r in range(16):
        bound = template.circuit.assign_parameters(
            dict(zip(template.parameters, values[r], strict=True))
        )
        a = simulator.run(bound, shots=1, seed_simulator=1, memory=True).result().get_memory()
        b = simulator.run(twirled[r], shots=1, seed_simulator=1, memory=True).result().get_memory()
        assert a == b, r


@pytest.mark.parametrize("scheduling_method", ["alap", "asap"])
@pytest.mark.parametrize("skip_reset_qubits", [False, True])
@pytest.mark.parametrize(("shots", "method"), [(100, "density_matrix"), (4, "statevector")])
def test_the_template_is_scheduled_and_decoupled_as_each_randomization(
    scheduling_method: str, skip_reset_qubits: bool, shots: int, method: str
) -> None:
    """Frames take no time, but they still split idle windows and mark a qubit's first use:
    every randomization carries a frame (identity included) wherever the template has one, so
    decoupling puts the same pulses into both, and each bound template is the same noisy
    circuit as its randomization (equal density-matrix outcome probabilities). That holds
    with the frames fused into the gates around them, and on trajectories (few shots), where
    each gate and its error are also merged into one channel."""
    from qiskit_rest_provider.server.devices import default_catalog
    from qiskit_rest_provider.server.emulator.engine import DecouplingPlan
    from qiskit_rest_provider.server.simulation import emulator_for

    device = next(d for d in default_catalog() if d.name == "local_heron")
    emulator = emulator_for(device.configuration, device.calibration().properties)
    qc = QuantumCircuit(3, 3)
    qc.sx(0)
    qc.rz(0.3, 0)  # not Clifford: few shots run on trajectories, not on the stabilizer method
    qc.sx(1)
    qc.cz(0, 1)
    for _ in range(4):
        qc.sx(1)
        qc.sx(2)
        qc.cz(1, 2)
        qc.delay(400, 1)
        qc.delay(400, 2)
    plan = DecouplingPlan(scheduling_method=scheduling_method, skip_reset_qubits=skip_reset_qubits)
    twirled = twirl_circuits(qc, 6, np.random.default_rng(1), gates=True, measure=False)
    template, prepared = emulator.prepare_template(twirled, [0, 1, 2], decoupling=plan, shots=shots)
    assert template is not None and prepared is not None
    assert prepared.method == method
    alone_size = len(emulator.prepare(twirled[0], [0, 1, 2], decoupling=plan).circuit.data)
    assert len(prepared.circuit.data) < alone_size
    values = template.values(0, 6)
    simulator = AerSimulator(method="density_matrix")

    def probabilities(circuit: QuantumCircuit) -> npt.NDArray[np.float64]:
        circuit = circuit.remove_final_measurements(inplace=False)
        circuit.save_probabilities()
        return np.asarray(simulator.run(circuit).result().data()["probabilities"])

    for r in range(6):
        alone = emulator.prepare(twirled[r], [0, 1, 2], decoupling=plan, shots=shots)
        assert alone.decoupling_pulses == prepared.decoupling_pulses, r
        binding = dict(zip(template.parameters, values[r], strict=True))
        bound = prepared.circuit.assign_parameters(binding)
        np.testing.assert_allclose(probabilities(bound), probabilities(alone.circuit), atol=1e-12)
