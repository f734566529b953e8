"""Libraries written by others take our backend unchanged: qiskit-experiments runs its
experiments with ``exp.run(backend)``, ``exp.run(backend, backend_run=True)`` and
``exp.run(sampler=SamplerV2(backend))`` and completes their analyses; mthree calibrates through
``backend.run`` and corrects counts from ``backend.run`` and from SamplerV2.

The runs and analyses must complete and produce their results; T1, T2Ramsey and ReadoutAngle must
also fit what the device's calibration says (the emulator's idle noise and kerneled IQ data).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import QiskitRestProvider, RestBackend, SamplerV2
from qiskit_rest_provider.server import LocalRuntimeServer

experiments = pytest.importorskip("qiskit_experiments")
mthree = pytest.importorskip("mthree")

from qiskit_experiments.framework import AnalysisStatus  # noqa: E402
from qiskit_experiments.library import (  # noqa: E402
    T1,
    LocalReadoutError,
    StandardRB,
    T2Ramsey,
)

pytestmark = [pytest.mark.slow, pytest.mark.service]

DEVICE = "local_falcon"


@pytest.fixture(scope="module")
def module_provider(server: LocalRuntimeServer) -> Iterator[QiskitRestProvider]:
    provider = server.provider()
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture(scope="module")
def backend(module_provider: QiskitRestProvider) -> RestBackend:
    return module_provider.backend(DEVICE)


def _t1() -> Any:
    return T1(physical_qubits=(0,), delays=np.linspace(1e-6, 300e-6, 8))


def _t2ramsey() -> Any:
    return T2Ramsey(physical_qubits=(0,), delays=np.linspace(1e-6, 60e-6, 8), osc_freq=1e5)


def _readout() -> Any:
    return LocalReadoutError(physical_qubits=(0, 1))


def _rb() -> Any:
    # Lengths long enough that the decay is well resolved with 400 shots: with 1-30 Cliffords
    # the curve barely leaves 1 at falcon's error rates, and the fit failed now and then (a
    # failed fit gives no analysis results at all).
    return StandardRB(physical_qubits=(0,), lengths=[1, 50, 150, 300], num_samples=3, seed=7)


EXPERIMENTS: dict[str, Callable[[], Any]] = {
    "T1": _t1,
    "T2Ramsey": _t2ramsey,
    "LocalReadoutError": _readout,
    "StandardRB": _rb,
}


def _completed(data: Any) -> Any:
    data.block_for_results(timeout=300)
    assert data.analysis_status() is AnalysisStatus.DONE, data.errors()
    assert not data.errors(), data.errors()
    return data


@pytest.mark.parametrize("mode", ["backend", "backend_run", "sampler"])
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_qiskit_experiments_run_and_analyse(backend: RestBackend, name: str, mode: str) -> None:
    experiment = EXPERIMENTS[name]()
    experiment.set_run_options(shots=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if mode == "backend":
            data = experiment.run(backend)
        elif mode == "backend_run":
            data = experiment.run(backend, backend_run=True)
        else:
            data = experiment.run(sampler=SamplerV2(backend))
        data = _completed(data)
    results = data.analysis_results(dataframe=True)
    assert len(results) > 0
    if name == "T1":
        # A fitted value exists (the fits against the calibration are below).
        t1 = data.analysis_results("T1", dataframe=True).iloc[0]["value"]
        assert np.isfinite(t1.nominal_value)
    if name == "LocalReadoutError":
        assert "Local Readout Mitigator" in set(results["name"])
    if name == "StandardRB":
        epc = data.analysis_results("EPC", dataframe=True).iloc[0]["value"]
        assert 0 <= epc.nominal_value < 0.5


def _bell(backend: RestBackend) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    manager = generate_preset_pass_manager(
        1, backend=backend, initial_layout=[0, 1], seed_transpiler=3
    )
    return manager.run(circuit)


def test_mthree_calibrates_through_backend_run_and_corrects_both_kinds_of_counts(
    backend: RestBackend,
) -> None:
    mitigator = mthree.M3Mitigation(backend)
    mitigator.cals_from_system([0, 1], shots=2000, async_cal=False)
    isa = _bell(backend)
    mapping = mthree.utils.final_measurement_mapping(isa)
    from_run = backend.run(isa, shots=4000).result().get_counts()
    from_sampler = SamplerV2(backend).run([isa], shots=4000).result()[0].data.meas.get_counts()
    for counts in (from_run, from_sampler):
        raw = (counts.get("00", 0) + counts.get("11", 0)) / sum(counts.values())
        quasi = mitigator.apply_correction(counts, mapping)
        assert abs(sum(quasi.values()) - 1) < 1e-6
        corrected = quasi.get("00", 0) + quasi.get("11", 0)
        # Readout correction moves weight back to the Bell outcomes (the calibrated readout
        # errors of local_falcon are a few percent).
        assert corrected >= raw - 0.01, (raw, corrected)


# Fits against the calibration (the emulator's idle noise and kerneled data) --------------------

FIT_QUBIT = 3


@pytest.fixture(scope="module")
def eagle(module_provider: QiskitRestProvider) -> RestBackend:
    return module_provider.backend("local_eagle")


def _fitted(data: Any, name: str) -> float:
    data = _completed(data)
    value = data.analysis_results(name, dataframe=True).iloc[0]["value"]
    return float(getattr(value, "nominal_value", value))


def test_qiskit_experiments_t1_fits_the_calibrated_t1(eagle: RestBackend) -> None:
    t1 = eagle.properties().t1(FIT_QUBIT)
    experiment = T1(physical_qubits=(FIT_QUBIT,), delays=np.linspace(0, 3 * t1, 12))
    experiment.set_run_options(shots=4000, seed_simulator=21)
    # 12 delays x 4,000 shots: the fit's standard error is about 2%; 10% is 5 sigma.
    assert _fitted(experiment.run(eagle), "T1") == pytest.approx(t1, rel=0.10)


def test_qiskit_experiments_t2ramsey_fits_the_calibrated_t2(eagle: RestBackend) -> None:
    t1, t2 = eagle.properties().t1(FIT_QUBIT), eagle.properties().t2(FIT_QUBIT)
    t2 = min(t2, 2 * t1)
    # the emulator's dephasing is Markovian: Ramsey's T2* is the calibrated T2
    experiment = T2Ramsey(
        physical_qubits=(FIT_QUBIT,), delays=np.linspace(0, 2.5 * t2, 24), osc_freq=4 / t2
    )
    experiment.set_run_options(shots=4000, seed_simulator=22)
    assert _fitted(experiment.run(eagle), "T2star") == pytest.approx(t2, rel=0.10)


def test_qiskit_experiments_readout_angle_fits_the_kerneled_clouds(eagle: RestBackend) -> None:
    from qiskit_experiments.library import ReadoutAngle

    from qiskit_rest_provider.server.emulator.iq import IQModel

    props = eagle.properties()
    model = IQModel.from_assignment_errors(
        [props.qubit_property(FIT_QUBIT, "prob_meas0_prep1")[0]],
        [props.qubit_property(FIT_QUBIT, "prob_meas1_prep0")[0]],
        qubits=[FIT_QUBIT],
    )
    experiment = ReadoutAngle(physical_qubits=(FIT_QUBIT,))
    experiment.set_run_options(shots=4000)
    angle = _fitted(experiment.run(eagle, backend_run=True), "readout_angle")
    # ReadoutAngle reports the mean of the angles of the |0> and |1> averages; the clouds'
    # centres give it exactly, up to the decay fraction pulling the |1> average (a few %).
    c0, c1 = model.centers0[0], model.centers1[0]
    expected = (np.angle(c0) % (2 * np.pi) + np.angle(c1) % (2 * np.pi)) / 2
    assert min(abs(angle - expected), 2 * np.pi - abs(angle - expected)) < 0.1
