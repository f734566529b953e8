"""The local service emulates IBM's devices and primitives, measured through the real service.

Every test runs jobs over loopback HTTP and checks a statistic against the device calibration
or the ideal value, with a fixed seed and the confidence stated at each assertion:

* idle time is noisy: T1 and Hahn-echo T2 curves fit the calibrated values within 5%;
* the estimator's resilience levels act: level 0 shows the readout bias, level 1 (TREX)
  removes it, level 2 (ZNE) lands closer to the ideal value than level 1, PEC is unbiased;
* dynamical decoupling echoes the static ZZ of a fixed-coupler device;
* gate twirling turns the coherent ZZ of idling qubits into stochastic error;
* counts of shots and randomizations, and the metadata, are what the options ask for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from qiskit import QuantumCircuit
from qiskit.quantum_info import Pauli, SparsePauliOp
from scipy.optimize import curve_fit

from qiskit_rest_provider import EstimatorV2, QiskitRestProvider, RestBackend, SamplerV2
from qiskit_rest_provider.core.properties import BackendProperties
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.devices import default_catalog
from qiskit_rest_provider.server.simulation import emulator_for

from .service_helpers import auth_headers

pytestmark = [pytest.mark.service, pytest.mark.slow]

#: Qubit used for the coherence and readout tests on local_eagle.
QUBIT = 3


@pytest.fixture(scope="module")
def module_provider(server: LocalRuntimeServer) -> Iterator[QiskitRestProvider]:
    provider = server.provider()
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture(scope="module")
def eagle(module_provider: QiskitRestProvider) -> RestBackend:
    return module_provider.backend("local_eagle")


@pytest.fixture(scope="module")
def heron(module_provider: QiskitRestProvider) -> RestBackend:
    return module_provider.backend("local_heron")


def _device(name: str) -> Any:
    return next(d for d in default_catalog() if d.name == name)


def _calibration(name: str) -> BackendProperties:
    return BackendProperties(_device(name).calibration().properties)


def _dt(backend: RestBackend) -> float:
    return float(backend.target.dt)


def _on(backend: RestBackend, qubits: int = 1, clbits: int = 0) -> QuantumCircuit:
    return QuantumCircuit(backend.num_qubits, clbits)


def _decay(t: Any, a: float, tau: float, b: float) -> Any:
    return a * np.exp(-t / tau) + b


def _fit_decay(times: Any, values: Any, guess: float) -> float:
    params, _ = curve_fit(_decay, times, values, p0=(values[0] - values[-1], guess, values[-1]))
    return float(params[1])


# Idle time ------------------------------------------------------------------------------------


def test_t1_curve_matches_the_calibrated_t1(eagle: RestBackend) -> None:
    t1 = _calibration("local_eagle").t1(QUBIT)
    assert t1
    dt = _dt(eagle)
    times = np.linspace(0, 3 * t1, 9)
    circuits = []
    for tau in times:
        qc = _on(eagle, clbits=1)
        qc.x(QUBIT)
        qc.delay(round(tau / dt), QUBIT, unit="dt")
        qc.measure(QUBIT, 0)
        circuits.append(qc)
    sampler = SamplerV2(eagle, options={"simulator": {"seed_simulator": 11}})
    result = sampler.run(circuits, shots=20000).result(timeout=300)
    ones = np.array([r.data.c.get_counts().get("1", 0) / 20000 for r in result])
    # 20,000 shots a point: the fitted T1's standard error is about 1%; 5% is > 4 sigma.
    fitted = _fit_decay(times, ones, t1)
    assert fitted == pytest.approx(t1, rel=0.05)


def test_hahn_echo_t2_curve_matches_the_calibrated_t2(eagle: RestBackend) -> None:
    props = _calibration("local_eagle")
    t1, t2 = props.t1(QUBIT), props.t2(QUBIT)
    assert t1 and t2
    t2 = min(t2, 2 * t1)
    dt = _dt(eagle)
    times = np.linspace(0, 3 * t2, 9)
    circuits = []
    for tau in times:
        half = round(tau / 2 / dt / 16) * 16
        qc = _on(eagle, clbits=1)
        qc.sx(QUBIT)
        qc.delay(half, QUBIT, unit="dt")
        qc.x(QUBIT)
        qc.delay(half, QUBIT, unit="dt")
        qc.sx(QUBIT)
        qc.measure(QUBIT, 0)
        circuits.append(qc)
    sampler = SamplerV2(eagle, options={"simulator": {"seed_simulator": 12}})
    result = sampler.run(circuits, shots=20000).result(timeout=300)
    zeros = np.array([r.data.c.get_counts().get("0", 0) / 20000 for r in result])
    # P(0) = (1 + exp(-tau / T2)) / 2 through the readout's affine map; about 1.5% standard
    # error on the fitted T2 at 20,000 shots a point, so 5% is > 3 sigma.
    fitted = _fit_decay(times, zeros, t2)
    assert fitted == pytest.approx(t2, rel=0.05)


def test_delays_on_a_qubit_in_the_ground_state_cost_nothing(eagle: RestBackend) -> None:
    qc = _on(eagle, clbits=1)
    qc.delay(100_000, QUBIT, unit="dt")
    qc.measure(QUBIT, 0)
    result = SamplerV2(eagle).run([qc], shots=20000).result(timeout=120)[0]
    p10 = _calibration("local_eagle").prob_meas1_prep0(QUBIT)
    ones = result.data.c.get_counts().get("1", 0) / 20000
    # only the readout error: binomial, 5 sigma
    assert abs(ones - p10) < 5 * np.sqrt(p10 * (1 - p10) / 20000) + 1e-4


# Estimator resilience -------------------------------------------------------------------------


def _readout_free(name: str, circuit: QuantumCircuit, pauli: str, qubits: list[int]) -> float:
    """<pauli> on ``qubits`` of ``circuit`` with the device's gate and idle noise, without
    readout error: the emulator's own prepared circuit, evaluated exactly (density matrix)."""
    from qiskit_aer import AerSimulator

    device = _device(name)
    emulator = emulator_for(device.configuration, device.calibration().properties)
    from qiskit_rest_provider.server.emulator.circuits import compact

    small = compact(circuit, qubits)
    prepared = emulator.prepare(small, qubits, shots=1 << 20)  # density matrix: exact
    assert prepared.method == "density_matrix"
    exact = prepared.circuit.copy()
    exact.save_expectation_value(Pauli(pauli), list(range(len(qubits))))
    value = AerSimulator(method="density_matrix").run(exact).result().data()["expectation_value"]
    return float(np.real(value))


def test_level_0_shows_the_readout_bias_and_level_1_removes_it(eagle: RestBackend) -> None:
    qc = _on(eagle)
    qc.x(QUBIT)
    observable = "I" * (eagle.num_qubits - QUBIT - 1) + "Z" + "I" * QUBIT
    truth = _readout_free("local_eagle", qc, "Z", [QUBIT])
    assert truth < -0.99
    values = {}
    for level in (0, 1):
        estimator = EstimatorV2(
            eagle, options={"resilience_level": level, "seed_estimator": 100 + level}
        )
        result = estimator.run([(qc, observable)], precision=0.004).result(timeout=300)[0]
        values[level] = (float(result.data.evs), float(result.data.stds))
    props = _calibration("local_eagle")
    bias = 2 * props.prob_meas0_prep1(QUBIT)  # <Z> of |1> read with P(0|1): -1 + 2 P(0|1)
    assert bias > 10 * values[0][1]
    # level 0: the biased value, within 4 sigma
    assert abs(values[0][0] - (truth + bias)) < 4 * values[0][1]
    # level 1: the readout-free value within 3 sigma
    assert abs(values[1][0] - truth) < 3 * values[1][1]


def _bell_with_identity_layers(backend: RestBackend, a: int, b: int, layers: int) -> Any:
    qc = _on(backend)
    qc.sx(a)
    qc.sx(b)
    qc.rz(np.pi / 2, b)
    for _ in range(layers):
        qc.cz(a, b)
    return qc


def test_level_2_is_closer_to_the_ideal_value_than_level_1(heron: RestBackend) -> None:
    a, b = next(tuple(e) for e in heron.coupling_map.get_edges())
    qc = _on(heron)
    qc.sx(a)
    for _ in range(20):  # an even number of CZs: the identity, 20 times the CZ's noise
        qc.cz(a, b)
    qc.sx(a)  # ideally |1> on a: <Z_a> = -1
    observable = SparsePauliOp.from_sparse_list([("Z", [a], 1.0)], heron.num_qubits)
    values = {}
    for level in (1, 2):
        estimator = EstimatorV2(heron, options={"resilience_level": level, "seed_estimator": 7})
        result = estimator.run([(qc, observable)], precision=0.005).result(timeout=600)[0]
        values[level] = (float(result.data.evs), float(result.data.stds), result)
    ideal = -1.0
    biased = values[1][0] - ideal
    assert biased > 5 * values[1][1]  # the gates' noise biases level 1 (> 5 sigma)
    assert abs(values[2][0] - ideal) < abs(values[1][0] - ideal)
    zne = values[2][2]
    assert zne.data.evs_noise_factors.shape == (3,)
    assert zne.data.evs_extrapolated.shape == (2, 4)
    # the noise factors' values decrease in magnitude with more noise
    assert abs(zne.data.evs_noise_factors[0]) > abs(zne.data.evs_noise_factors[2])


def test_pec_is_unbiased_within_its_error_bars(heron: RestBackend) -> None:
    a, b = next(tuple(e) for e in heron.coupling_map.get_edges())
    qc = _on(heron)
    qc.sx(a)
    for _ in range(20):
        qc.cz(a, b)
    qc.sx(a)
    observable = SparsePauliOp.from_sparse_list([("Z", [a], 1.0)], heron.num_qubits)
    estimator = EstimatorV2(
        heron,
        options={
            "resilience_level": 1,
            "seed_estimator": 3,
            "resilience": {"pec_mitigation": True},
        },
    )
    # four independent pubs (each its own PEC samples), pooled
    pubs = [(qc, observable)] * 4
    results = estimator.run(pubs, precision=0.01).result(timeout=600)
    value = float(np.mean([float(r.data.evs) for r in results]))
    std = float(np.sqrt(np.sum([float(r.data.stds) ** 2 for r in results]))) / 4
    overhead = results[0].metadata["resilience"]["pec"]["sampling_overhead"]
    assert overhead > 1
    plain = EstimatorV2(heron, options={"resilience_level": 1, "seed_estimator": 3})
    level1 = plain.run([(qc, observable)], precision=0.005).result(timeout=600)[0]
    # level 1 is biased by the CZs' noise (> 5 sigma); PEC is not: within 3 sigma of the ideal
    # -1 (the single-qubit and idle noise it leaves is a few 1e-4 here, far below sigma)
    assert float(level1.data.evs) + 1 > 5 * float(level1.data.stds)
    assert abs(value + 1) < 3 * std
    assert std < 0.03


# Suppression ----------------------------------------------------------------------------------


def _zz_pair(backend: RestBackend) -> tuple[int, int, float]:
    """The coupled pair of ``backend`` with the strongest static ZZ, and its strength (Hz)."""
    props = BackendProperties(backend.properties().to_dict())
    best = (0, 1, 0.0)
    for entry in props.general:
        name = str(entry["name"])
        if name.startswith("zz_"):
            a, b = (int(x) for x in name[3:].split("_"))
            value = float(entry["value"]) * 1e9
            if value > best[2]:
                best = (a, b, value)
    return best


def test_dynamical_decoupling_echoes_static_zz(eagle: RestBackend) -> None:
    a, b, zeta = _zz_pair(eagle)
    assert zeta > 20e3  # a fixed-coupler device: tens of kHz
    qc = _zz_probe(eagle, a, b)
    observable = SparsePauliOp.from_sparse_list(
        [("Z", [a], 0.5), ("Z", [b], 0.5)], eagle.num_qubits
    )
    errors = {}
    for dd in (False, True):
        options: dict[str, Any] = {"resilience_level": 1, "seed_estimator": 5}
        if dd:
            options["dynamical_decoupling"] = {"enable": True, "sequence_type": "XY4"}
        result = (
            EstimatorV2(eagle, options=options)
            .run([(qc, observable)], precision=0.005)
            .result(timeout=300)[0]
        )
        errors[dd] = (abs(float(result.data.evs) + 1), float(result.data.stds))
        pulses = result.metadata.get("emulator", {})
        del pulses
    # decoupling cuts the error by more than half, far beyond the estimates' noise (> 10 sigma)
    assert errors[True][0] < errors[False][0] / 2
    assert errors[False][0] - errors[True][0] > 10 * np.hypot(errors[False][1], errors[True][1])


def _zz_probe(backend: RestBackend, a: int, b: int) -> QuantumCircuit:
    """Both qubits of a coupled pair on the equator for 8 us, then back: <Z> = -1 ideally."""
    idle = round(8e-6 / _dt(backend) / 16) * 16
    qc = _on(backend)
    for q in (a, b):
        qc.sx(q)
    qc.barrier(a, b)
    qc.delay(idle, a, unit="dt")
    qc.delay(idle, b, unit="dt")
    qc.barrier(a, b)
    for q in (a, b):
        qc.sx(q)
    return qc


def test_static_zz_and_idle_noise_switch_off() -> None:
    """``emulate_static_zz=False`` removes the coherent error (what is left is relaxation);
    ``emulate_idle_noise=False`` removes idle noise altogether."""
    errors = {}
    for settings in ({}, {"emulate_static_zz": False}, {"emulate_idle_noise": False}):
        with LocalRuntimeServer(**settings) as local:
            provider = local.provider()
            try:
                backend = provider.backend("local_eagle")
                a, b, _zeta = _zz_pair(backend)
                observable = SparsePauliOp.from_sparse_list(
                    [("Z", [a], 0.5), ("Z", [b], 0.5)], backend.num_qubits
                )
                estimator = EstimatorV2(backend, options={"seed_estimator": 8})
                result = estimator.run([(_zz_probe(backend, a, b), observable)], precision=0.005)
                pub = result.result(timeout=300)[0]
            finally:
                provider.close()
        errors[tuple(settings)] = (abs(float(pub.data.evs) + 1), float(pub.data.stds))
    full, no_zz, no_idle = (
        errors[()],
        errors[("emulate_static_zz",)],
        errors[("emulate_idle_noise",)],
    )
    # each switch removes an error far beyond the estimates' noise (> 10 sigma)
    assert full[0] - no_zz[0] > 10 * np.hypot(full[1], no_zz[1])
    assert no_zz[0] - no_idle[0] > 5 * np.hypot(no_zz[1], no_idle[1])
    # without idle noise only the four sx gates' errors remain: a few 1e-3
    assert no_idle[0] < 0.02


def test_gate_twirling_turns_coherent_zz_into_stochastic_error(eagle: RestBackend) -> None:
    a, b, zeta = _zz_pair(eagle)
    # two other coupled qubits host the two-qubit layers while a and b idle in them
    edges = [tuple(e) for e in eagle.coupling_map.get_edges()]
    c, d = next((x, y) for x, y in edges if len({x, y, a, b}) == 4)
    length = _calibration("local_eagle").gate_length("ecr", (c, d))
    assert length
    # enough layers for a ZZ phase of about pi on |11>: the largest coherent effect
    layers = max(1, round(0.5 / (zeta * length)))
    qc = _on(eagle, clbits=1)
    qc.sx(a)
    qc.sx(b)
    qc.barrier(a, b, c, d)  # a and b idle on the equator while the layers play
    for _ in range(layers):
        qc.ecr(c, d)
    qc.barrier(a, b, c, d)
    qc.sx(a)
    qc.measure(a, 0)
    shots, randomizations = 256, 24
    results = {}
    for twirl in (False, True):
        options: dict[str, Any] = {"simulator": {"seed_simulator": 9}}
        if twirl:
            options["twirling"] = {
                "enable_gates": True,
                "num_randomizations": randomizations,
                "shots_per_randomization": shots,
                "strategy": "all",
            }
        result = (
            SamplerV2(eagle, options=options)
            .run([qc], shots=shots * randomizations)
            .result(timeout=300)[0]
        )
        bits = result.data.c.to_bool_array(order="little")[:, 0]
        results[twirl] = bits.reshape(randomizations, shots).mean(axis=1)
    untwirled, twirled = results[False], results[True]

    # Without twirling every block of shots sees the same coherent error: their spread is
    # binomial. With twirling each randomization sees its own Pauli frame around the idle
    # ZZ, so the per-randomization outcome varies beyond the binomial spread (a chi-square test
    # on 23 degrees of freedom at 99.9% confidence: the statistic exceeds 49.7).
    def chi2(values: Any) -> float:
        p = values.mean()
        return float(((values - p) ** 2).sum() / (p * (1 - p) / shots))

    assert chi2(untwirled) < 49.7
    assert chi2(twirled) > 49.7
    # and the average error differs from the coherent one (stochastic errors add in
    # probability, coherent ones in amplitude): > 5 sigma
    diff = abs(twirled.mean() - untwirled.mean())
    assert diff > 5 * np.sqrt(0.25 / (shots * randomizations) * 2)


# Counts and metadata --------------------------------------------------------------------------


def test_twirled_estimator_reports_the_shots_and_randomizations_asked_for(
    eagle: RestBackend,
) -> None:
    qc = _on(eagle)
    qc.sx(QUBIT)
    observable = "I" * (eagle.num_qubits - QUBIT - 1) + "Z" + "I" * QUBIT
    estimator = EstimatorV2(
        eagle,
        options={
            "resilience_level": 1,
            "twirling": {"num_randomizations": 16, "shots_per_randomization": 100},
        },
    )
    result = estimator.run([(qc, observable)]).result(timeout=300)
    assert result[0].metadata["shots"] == 1600
    assert result[0].metadata["num_randomizations"] == 16
    assert result.metadata["resilience"]["measure_mitigation"] is True
    assert result.metadata["twirling"]["num_randomizations"] == 16
    assert result.metadata["twirling"]["enable_measure"] is True


def test_twirled_sampler_returns_the_pub_shots_with_ibm_spans(eagle: RestBackend) -> None:
    qc = _on(eagle, clbits=1)
    qc.x(QUBIT)
    qc.measure(QUBIT, 0)
    sampler = SamplerV2(
        eagle,
        options={
            "twirling": {
                "enable_measure": True,
                "num_randomizations": 16,
                "shots_per_randomization": 100,
            }
        },
    )
    result = sampler.run([qc], shots=1000).result(timeout=300)
    # 16 x 100 shots run, the pub's 1,000 returned (as IBM does), with a span that says so
    assert result[0].data.c.num_shots == 1000
    assert result[0].metadata["num_randomizations"] == 16
    (span,) = result.metadata["execution"]["execution_spans"]
    assert type(span).__name__ == "TwirledSliceSpanV2"
    assert span.mask(0).shape == (1000,) and span.mask(0).all()


def test_official_decoder_reads_the_new_results(
    server: LocalRuntimeServer, eagle: RestBackend
) -> None:
    from qiskit_ibm_runtime import RuntimeDecoder

    qc = _on(eagle, clbits=1)
    qc.x(QUBIT)
    qc.measure(QUBIT, 0)
    est_qc = _on(eagle)
    est_qc.sx(QUBIT)
    observable = "I" * (eagle.num_qubits - QUBIT - 1) + "Z" + "I" * QUBIT
    twirl = {"enable_measure": True, "num_randomizations": 4, "shots_per_randomization": 20}
    a, b = next(tuple(e) for e in eagle.coupling_map.get_edges())
    pec_qc = _on(eagle)
    pec_qc.sx(a)
    pec_qc.ecr(a, b)
    pec_qc.ecr(a, b)
    pec_observable = SparsePauliOp.from_sparse_list([("Z", [a], 1.0)], eagle.num_qubits)
    jobs = {
        "kerneled": SamplerV2(eagle, options={"execution": {"meas_type": "kerneled"}}).run(
            [qc], shots=64
        ),
        "avg_kerneled": SamplerV2(eagle, options={"execution": {"meas_type": "avg_kerneled"}}).run(
            [qc], shots=64
        ),
        "twirled": SamplerV2(eagle, options={"twirling": twirl}).run([qc], shots=64),
        "zne": EstimatorV2(eagle, options={"resilience_level": 2}).run(
            [(est_qc, observable)], precision=0.05
        ),
        "pec": EstimatorV2(eagle, options={"resilience": {"pec_mitigation": True}}).run(
            [(pec_qc, pec_observable)], precision=0.05
        ),
    }
    headers = auth_headers(server)
    for name, job in jobs.items():
        ours = job.result(timeout=300)
        body = requests.get(
            f"{server.url}/api/v1/jobs/{job.job_id()}/results", headers=headers, timeout=30
        )
        assert body.status_code == 200, name
        official = json.loads(body.text, cls=RuntimeDecoder)
        assert len(official) == len(ours) == 1, name
        for field in ours[0].data:
            theirs, mine = getattr(official[0].data, field), getattr(ours[0].data, field)
            if hasattr(mine, "array"):
                np.testing.assert_array_equal(theirs.array, mine.array)
            else:
                np.testing.assert_array_equal(np.asarray(theirs), np.asarray(mine))
        assert official[0].metadata == ours[0].metadata, name
    points = jobs["kerneled"].result()[0].data.c
    assert points.dtype == np.complex128 and points.shape == (64, 1)
    assert jobs["avg_kerneled"].result()[0].data.c.shape == (1,)
    fields = set(jobs["zne"].result()[0].data)
    assert {"evs", "stds", "evs_noise_factors", "evs_extrapolated", "stds_extrapolated"} <= fields
    zne_meta = jobs["zne"].result()[0].metadata["resilience"]["zne"]
    assert set(zne_meta) == {"noise_factors", "extrapolators", "extrapolated_noise_factors"}
    assert jobs["pec"].result()[0].metadata["resilience"]["pec"]["sampling_overhead"] > 1
