"""The emulator's engine on circuits it cannot schedule, its seeds and its memory cap, and the
noise factor gate folding really achieves.

Circuits with control flow get their gate noise from an Aer noise model: the randomizations of
one pub share one (cached) model and run in one Aer call; every Aer call of one ``run`` gets
its own seed; PEA's amplified channels reach such circuits and PEC is refused on them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator

from qiskit_rest_provider.core.properties import BackendProperties
from qiskit_rest_provider.server.devices import default_catalog
from qiskit_rest_provider.server.emulator import engine
from qiskit_rest_provider.server.emulator.amplification import (
    FOLDABLE_GATES,
    AmplifiedChannel,
    PecSampler,
    achieved_noise_factor,
    amplified_channel_factory,
    fold_gates,
    foldable_gate_count,
)
from qiskit_rest_provider.server.emulator.device_noise import DeviceNoise
from qiskit_rest_provider.server.emulator.engine import (
    GATE_MODEL_CACHE_SIZE,
    DeviceEmulator,
    run_seeds,
)
from qiskit_rest_provider.server.emulator.twirling import twirl_circuits

_HERON = next(d for d in default_catalog() if d.name == "local_heron")
_CALIBRATION = _HERON.calibration()
assert _CALIBRATION is not None
_NOISE = DeviceNoise(BackendProperties(_CALIBRATION.properties))


def _emulator(memory_budget: int | None = None) -> DeviceEmulator:
    """A fresh emulator of ``local_heron`` (its own gate-model cache)."""
    configuration = _HERON.configuration
    return DeviceEmulator(
        _NOISE,
        float(configuration["dt"]) * 1e-9,
        [(int(a), int(b)) for a, b in configuration["coupling_map"]],
        memory_budget=memory_budget,
    )


def _coin() -> QuantumCircuit:
    """A dynamic circuit (cannot be scheduled) whose two clbits both read a fair coin."""
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.measure(1, 1)
    return qc


def _cz_chain(count: int) -> QuantumCircuit:
    """``|11>`` through ``count`` CZs, behind a branch that never runs (qubit 0 reads 0) but
    makes the circuit unschedulable; clbits 0 and 1 should read 1."""
    qc = QuantumCircuit(2, 3)
    qc.measure(0, 2)
    with qc.if_test((qc.clbits[2], 1)):
        qc.x(1)
    qc.x([0, 1])
    for _ in range(count):
        qc.cz(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


@pytest.fixture()
def aer_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every ``AerSimulator.run``: its number of circuits, seed and memory cap."""
    calls: list[dict[str, Any]] = []
    original = AerSimulator.run

    def counting(self: AerSimulator, circuits: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(
            {
                "circuits": len(circuits),
                "seed": kwargs.get("seed_simulator"),
                "max_memory_mb": self.options.max_memory_mb,
                "fusion_enable": self.options.fusion_enable,
                "parameter_sets": len(next(iter(kwargs["parameter_binds"][0].values())))
                if kwargs.get("parameter_binds")
                else 1,
            }
        )
        return original(self, circuits, *args, **kwargs)

    monkeypatch.setattr(AerSimulator, "run", counting)
    yield calls


def test_randomizations_of_a_dynamic_circuit_share_one_model_and_one_aer_call(
    aer_calls: list[dict[str, Any]],
) -> None:
    emulator = _emulator()
    qc = _coin()
    qc.cz(0, 1)
    twirled = twirl_circuits(qc, 6, np.random.default_rng(4), gates=True, measure=True)
    prepared = [emulator.prepare(c, [0, 1], shots=32) for c in twirled]
    assert not any(item.scheduled for item in prepared)
    model = prepared[0].noise_model
    assert model is not None
    assert all(item.noise_model is model for item in prepared)
    emulator.run(prepared, None, 32, 5)
    assert [call["circuits"] for call in aer_calls] == [6]
    # a PEA channel is part of the key: equal channels share a model, other factors do not
    pea = emulator.prepare(
        qc, [0, 1], gate_channel=amplified_channel_factory(_NOISE.gate_channel, 3)
    )
    again = emulator.prepare(
        qc, [0, 1], gate_channel=amplified_channel_factory(_NOISE.gate_channel, 3)
    )
    other = emulator.prepare(
        qc, [0, 1], gate_channel=amplified_channel_factory(_NOISE.gate_channel, 5)
    )
    assert pea.noise_model is again.noise_model
    assert pea.noise_model is not model and other.noise_model is not pea.noise_model
    # other device qubits: another model
    assert emulator.prepare(qc, [1, 2]).noise_model is not model


def test_the_gate_model_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    emulator = _emulator()
    one = QuantumCircuit(1, 1)
    one.sx(0)
    one.measure(0, 0)
    with one.if_test((one.clbits[0], 1)):
        one.x(0)
    first = emulator.prepare(one, [0]).noise_model
    for q in range(1, GATE_MODEL_CACHE_SIZE):  # fills the cache
        emulator.prepare(one, [q])
    assert emulator.prepare(one, [0]).noise_model is first  # hit: now the most recent
    emulator.prepare(one, [GATE_MODEL_CACHE_SIZE])  # evicts qubit 1's model, not qubit 0's
    assert emulator.prepare(one, [0]).noise_model is first
    second = emulator.prepare(one, [1]).noise_model
    assert second is not None and emulator.prepare(one, [1]).noise_model is second


def test_unscheduled_copies_in_one_call_draw_different_shots(
    aer_calls: list[dict[str, Any]],
) -> None:
    emulator = _emulator()
    prepared = [emulator.prepare(_coin(), [0, 1], shots=64) for _ in range(2)]
    first, second = emulator.run(prepared, None, 64, 7)
    assert len(aer_calls) == 1
    # two fair-coin sequences of 64 shots agree with probability 2**-64 when independent
    assert not np.array_equal(first, second)
    replay = emulator.run(prepared, None, 64, 7)
    assert np.array_equal(replay[0], first) and np.array_equal(replay[1], second)


def test_unscheduled_copies_in_separate_calls_get_different_seeds(
    aer_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "RUN_SHOT_LIMIT", 64)  # one circuit per Aer call
    emulator = _emulator()
    prepared = [emulator.prepare(_coin(), [0, 1], shots=64) for _ in range(3)]
    bits = emulator.run(prepared, None, 64, 7)
    assert [call["circuits"] for call in aer_calls] == [1, 1, 1]
    assert len({call["seed"] for call in aer_calls}) == 3
    # independent fair-coin sequences of 64 shots agree with probability 2**-64
    assert not np.array_equal(bits[0], bits[1])
    assert not np.array_equal(bits[1], bits[2])
    assert not np.array_equal(bits[0], bits[2])


def test_run_seeds_are_distinct_reproducible_and_far_apart() -> None:
    seeds = run_seeds(7, 100)
    assert seeds == run_seeds(7, 100)
    assert run_seeds(None, 3) == [None, None, None]
    values = np.array(seeds, dtype=np.int64)
    assert len(set(seeds)) == 100 and values.min() >= 0 and values.max() < 2**62
    # Aer gives experiment j of a call the seed + 2113 j: calls' streams must not meet
    gaps = np.diff(np.sort(values))
    assert gaps.min() > 2113 * 10**6
    assert set(run_seeds(8, 100)).isdisjoint(seeds)


def test_stabilizer_circuits_of_one_run_are_independent() -> None:
    """Clifford circuits with fewer shots than ``2**width`` run on Stim, each its own seed."""
    emulator = _emulator()
    qc = QuantumCircuit(4, 4)
    qc.h(range(4))
    qc.measure(range(4), range(4))
    prepared = [emulator.prepare(qc, [0, 1, 2, 3], shots=8) for _ in range(3)]
    assert {item.method for item in prepared} == {"stabilizer"}
    bits = emulator.run(prepared, None, 8, 3)
    # independent uniform 32-bit samples agree with probability 2**-32
    assert not np.array_equal(bits[0], bits[1]) and not np.array_equal(bits[1], bits[2])
    replay = emulator.run(prepared, None, 8, 3)
    assert all(np.array_equal(a, b) for a, b in zip(bits, replay, strict=True))


def test_pea_amplifies_the_gate_noise_of_an_unscheduled_circuit() -> None:
    emulator = _emulator()
    qc = _cz_chain(20)
    shots = 2000
    rates = []
    for factor in (1.0, 3.0):
        channel = amplified_channel_factory(_NOISE.gate_channel, factor)
        prepared = emulator.prepare(qc, [0, 1], gate_channel=channel, shots=shots)
        assert not prepared.scheduled
        bits = emulator.run([prepared], None, shots, 11)[0][0]
        rates.append(float(np.mean(~np.all(bits[:, :2] == 1, axis=1))))
    low, high = rates
    std = np.sqrt((low * (1 - low) + high * (1 - high)) / shots)
    # 20 CZs of error 0.003: about 6% of shots leave |11> at factor 1, about 3 times that at
    # factor 3; the difference must exceed 5 sigma (a chance failure < 3e-7 if it were real)
    assert (high - low) / std > 5
    assert 2 < high / low < 4


def test_pec_on_an_unscheduled_circuit_is_refused_clearly() -> None:
    emulator = _emulator()
    sampler = PecSampler(_NOISE.gate_channel, 0.0, np.random.default_rng(1))
    assert PecSampler.draws_per_instance is True
    pea = amplified_channel_factory(_NOISE.gate_channel, 2)
    assert isinstance(pea, AmplifiedChannel) and pea.draws_per_instance is False
    with pytest.raises(ValueError, match="PEC is not emulated on circuits with control flow"):
        emulator.prepare(_cz_chain(2), [0, 1], gate_channel=sampler, shots=100)
    # a schedulable circuit still takes PEC
    plain = QuantumCircuit(2, 2)
    plain.cz(0, 1)
    plain.measure([0, 1], [0, 1])
    assert emulator.prepare(plain, [0, 1], gate_channel=sampler, shots=100).scheduled


def test_a_mitigated_pub_runs_one_aer_call_per_noise_factor(
    aer_calls: list[dict[str, Any]],
) -> None:
    """Level 2 (TREX; ZNE by gate folding at noise factors 1, 3 and 5; gates and measurements
    twirled, 16 randomizations) on a 6-qubit pub measured in one basis: each noise factor's
    randomizations are the parameter sets of one circuit in one Aer call, on trajectories
    (25 shots a randomization), with Aer's own fusion off (it mixes the parameter sets of
    Kraus channels fused with gates bound at run time)."""
    from qiskit.primitives.containers import EstimatorPub
    from qiskit.quantum_info import SparsePauliOp

    from qiskit_rest_provider.server.emulator.estimator import run_estimator

    chain = [0, 1, 2, 3, 4, 5]
    assert all([a, b] in _HERON.configuration["coupling_map"] for a, b in itertools.pairwise(chain))
    qc = QuantumCircuit(_HERON.num_qubits)
    for layer in range(2):
        for q in chain:
            qc.sx(q)
            qc.rz(0.3 + layer, q)
        for i in range(layer % 2, len(chain) - 1, 2):
            qc.cz(chain[i], chain[i + 1])
    observables = [
        SparsePauliOp.from_sparse_list([("Z", [q], 1.0)], _HERON.num_qubits) for q in chain
    ]
    pub = EstimatorPub.coerce((qc, observables), precision=0.05)
    options = {"twirling": {"num_randomizations": 16}}
    [result] = run_estimator([pub], _emulator(), options, 2, 3, None)
    assert result.metadata["emulator"]["method"] == "statevector"
    assert [(call["circuits"], call["parameter_sets"]) for call in aer_calls] == [(1, 16)] * 3
    assert not any(call["fusion_enable"] for call in aer_calls)
    assert np.all(np.isfinite(result.data.evs))


@pytest.mark.parametrize("budget", [3 << 20, 1000])
def test_aer_gets_the_memory_budget_as_its_cap(
    aer_calls: list[dict[str, Any]], budget: int
) -> None:
    emulator = _emulator(memory_budget=budget)
    emulator.run([emulator.prepare(_coin(), [0, 1], shots=16)], None, 16, 1)
    assert [call["max_memory_mb"] for call in aer_calls] == [max(1, budget >> 20)]


def test_folding_factor_two_on_one_gate_folds_it_once() -> None:
    qc = QuantumCircuit(2)
    qc.cz(0, 1)
    folded = fold_gates(qc, 2.0, "gate_folding", np.random.default_rng(0))
    assert sum(1 for inst in folded.data if inst.operation.name == "cz") == 3
    assert achieved_noise_factor(1, 2.0) == 3.0


@pytest.mark.parametrize("num_gates", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("factor", [1.0, 1.2, 1.5, 2.0, 2.2, 2.5, 3.0, 5.0])
def test_achieved_noise_factor_matches_the_folding(num_gates: int, factor: float) -> None:
    qc = QuantumCircuit(2)
    for _ in range(num_gates):
        qc.cz(0, 1)
        qc.sx(0)
    assert foldable_gate_count(qc) == num_gates
    for amplifier in ("gate_folding", "gate_folding_front", "gate_folding_back"):
        folded = fold_gates(qc, factor, amplifier, np.random.default_rng(3))
        count = sum(1 for inst in folded.data if inst.operation.name in FOLDABLE_GATES)
        # each gate with its k folds plays 2k + 1 times: the factor run is count / num_gates
        assert achieved_noise_factor(num_gates, factor) == pytest.approx(count / num_gates)
    # the nearest achievable factor, ties rounded up (folds come in steps of 2 / num_gates)
    achieved = achieved_noise_factor(num_gates, factor)
    assert abs(achieved - factor) <= 1 / num_gates + 1e-9
    if factor > 1:
        assert achieved >= factor - 1 / num_gates + 1e-9


def test_achieved_noise_factor_without_gates_or_amplification_is_the_factor() -> None:
    assert achieved_noise_factor(0, 3.0) == 3.0
    assert achieved_noise_factor(4, 1.0) == 1.0
    assert achieved_noise_factor(4, 0.5) == 0.5
    # (1.2 - 1) / 2 * 5 is 0.4999... in floats: still one fold, as 0.5 rounds up
    assert achieved_noise_factor(5, 1.2) == pytest.approx(1.4)
