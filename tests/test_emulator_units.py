"""The emulator's building blocks, each against its definition (no service needed).

No double counting of gate errors; ALAP/ASAP schedules; twirled, folded and decoupled circuits
that are the same operation; the exact PEA/PEC channels; the static ZZ of the synthetic
devices.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator, SuperOp, average_gate_fidelity

from qiskit_rest_provider.core.properties import BackendProperties
from qiskit_rest_provider.server.devices import default_catalog
from qiskit_rest_provider.server.emulator.amplification import PauliChannel, fold_gates
from qiskit_rest_provider.server.emulator.decoupling import insert_decoupling
from qiskit_rest_provider.server.emulator.device_noise import DeviceNoise
from qiskit_rest_provider.server.emulator.schedule import schedule_circuit
from qiskit_rest_provider.server.emulator.twirling import twirl_circuits

DEVICES = {d.name: d for d in default_catalog()}


def _noise(name: str) -> DeviceNoise:
    return DeviceNoise(BackendProperties(DEVICES[name].calibration().properties))


@pytest.mark.parametrize("device", ["local_eagle", "local_heron"])
def test_gate_channels_have_exactly_the_calibrated_error(device: str) -> None:
    """Relaxation over the gate plus the derived depolarizing part: the total average gate
    infidelity is the calibrated one, for one- and two-qubit gates (no double counting)."""
    noise = _noise(device)
    twoq = "ecr" if device == "local_eagle" else "cz"
    pair = next(iter(noise._props.gate_property(twoq)))
    for name, qubits in (("sx", (0,)), ("x", (5,)), ("sx", (7,)), (twoq, pair)):
        cal = noise.gate(name, qubits)
        assert cal is not None and cal.error > 0 and cal.duration > 0
        channel = noise.gate_channel(name, qubits)
        infidelity = 1 - average_gate_fidelity(channel.to_quantumchannel())
        relax = noise.relaxation(qubits[0], cal.duration)
        if len(qubits) == 2:
            relax = noise.relaxation(qubits[1], cal.duration).tensor(relax)
        relaxation_only = 1 - average_gate_fidelity(relax.to_quantumchannel())
        # the calibrated error, unless relaxation alone exceeds it (then that, as Aer does)
        assert infidelity == pytest.approx(max(cal.error, relaxation_only), rel=1e-6)


def test_synthetic_devices_carry_seeded_static_zz_typical_of_their_family() -> None:
    eagle, heron = _noise("local_eagle"), _noise("local_heron")
    assert np.median(list(eagle.zz.values())) == pytest.approx(45e3, rel=0.25)
    assert np.median(list(heron.zz.values())) == pytest.approx(1e3, rel=0.25)
    assert eagle.zz == _noise("local_eagle").zz  # seeded: the same every time
    off = DeviceNoise(
        BackendProperties(DEVICES["local_eagle"].calibration().properties), static_zz=False
    )
    assert off.zz == {}


def test_schedules_as_late_or_as_soon_as_possible() -> None:
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.x(0)
    qc.x(1)
    qc.measure([0, 1], [0, 1])

    def duration(instruction: object, qubits: object) -> float:
        return 10.0 if instruction.operation.name == "x" else 5.0  # type: ignore[attr-defined]

    alap = schedule_circuit(qc, 1.0, duration, "alap")
    asap = schedule_circuit(qc, 1.0, duration, "asap")
    assert alap is not None and asap is not None
    starts = {m: [(o.qubits, o.start) for o in s.ops] for m, s in (("a", alap), ("s", asap))}
    assert ((1,), 10) in starts["a"] and ((1,), 0) in starts["s"]  # x on qubit 1: late / soon
    assert alap.total == asap.total == 25
    assert asap.idle_windows(1) == [(15, 25)] and alap.idle_windows(1) == []


def test_twirled_and_folded_circuits_are_the_same_operation() -> None:
    qc = QuantumCircuit(4)
    qc.sx(0)
    qc.cz(0, 1)
    qc.sx(2)
    qc.ecr(2, 3)
    qc.cx(1, 2)
    qc.rz(0.3, 3)
    qc.cz(0, 1)
    reference = Operator(qc)
    for strategy in ("active", "active-accum", "active-circuit", "all"):
        twirled = twirl_circuits(
            qc, 6, np.random.default_rng(1), gates=True, measure=False, strategy=strategy
        )
        for circuit in twirled:
            assert Operator(circuit.remove_final_measurements(inplace=False)).equiv(reference)
    for factor, amplifier in (
        (3, "gate_folding"),
        (2.2, "gate_folding_front"),
        (4, "gate_folding"),
    ):
        folded = fold_gates(qc, factor, amplifier, np.random.default_rng(2))
        assert Operator(folded).equiv(reference)
        twoq = sum(1 for inst in folded.data if len(inst.qubits) == 2)
        assert twoq == 4 + round((factor - 1) / 2 * 4) * 2


def test_measurement_twirl_flips_are_undone_by_the_recorded_frames() -> None:
    qc = QuantumCircuit(3, 3)
    qc.x(1)
    qc.measure([0, 1, 2], [0, 1, 2])
    twirled = twirl_circuits(qc, 8, np.random.default_rng(3), gates=False, measure=True)
    for r, circuit in enumerate(twirled):
        flipped = [
            circuit.find_bit(inst.qubits[0]).index
            for inst in circuit.data
            if inst.operation.name == "pauli" and inst.operation.params[0] != "I"
        ]
        assert sorted(flipped) == sorted(np.flatnonzero(twirled.measure_flips[r]).tolist())


def test_staggered_decoupling_echoes_zz_between_neighbours() -> None:
    """Two coupled qubits idling together: colour 0 plays XX, colour 1 plays XX twice, so the
    product of their toggling frames integrates to zero over the window (ZZ is echoed), and
    each qubit's own frame integrates to zero too (Z is echoed)."""
    qc = QuantumCircuit(2)
    qc.sx([0, 1])
    qc.barrier()
    qc.delay(8000, [0, 1])
    qc.barrier()
    qc.sx([0, 1])
    schedule = schedule_circuit(
        qc, 1.0, lambda inst, q: 0.0 if inst.operation.name == "delay" else 40.0
    )
    assert schedule is not None
    inserted = insert_decoupling(schedule, [0, 1], lambda q: 40, neighbours={0: {1}, 1: {0}})
    assert inserted == 2 + 4
    (start, stop) = (40, 8040)
    sign = np.ones((2, stop - start))
    for op in schedule.ops:
        if op.instruction.operation.label == "dd":
            (q,) = op.qubits
            sign[q, op.start + op.duration // 2 - start :] *= -1
    assert abs(sign[0].sum()) < 100 and abs(sign[1].sum()) < 100
    assert abs((sign[0] * sign[1]).sum()) < 100  # against 8000 without staggering


def test_pea_and_pec_channels_are_exact_powers_of_the_twirled_noise() -> None:
    noise = _noise("local_heron")
    pair = next(iter(noise._props.gate_property("cz")))
    channel = PauliChannel.twirl_of(noise.gate_channel("cz", pair), 2)
    identity = SuperOp(np.eye(16))
    # amplified three times = the channel applied three times
    thrice = SuperOp(channel.power(1.0).to_quantumchannel()).power(3)
    assert np.allclose(SuperOp(channel.power(3.0).to_quantumchannel()).data, thrice.data)
    # the quasi-probability inverse composed with the channel is the identity
    from qiskit.quantum_info import Pauli

    q = channel.quasi_probabilities(-1.0)
    inverse = sum(
        (qq * SuperOp(Pauli(label)) for qq, label in zip(q, channel.labels, strict=True)),
        start=SuperOp(np.zeros((16, 16))),
    )
    total = SuperOp(channel.power(1.0).to_quantumchannel()).compose(inverse)
    assert np.allclose(total.data, identity.data, atol=1e-9)
    assert np.abs(q).sum() > 1  # a sampling overhead
