"""Libraries written by others take our backend unchanged: qiskit-experiments runs its
experiments with ``exp.run(backend)``, ``exp.run(backend, backend_run=True)`` and
``exp.run(sampler=SamplerV2(backend))`` and completes their analyses; mthree calibrates through
``backend.run`` and corrects counts from ``backend.run`` and from SamplerV2.

Whether a fitted T1 matches the calibration is the emulator's business (noise on delays); here the
runs and analyses must complete and produce their results.
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
    return StandardRB(physical_qubits=(0,), lengths=[1, 10, 30], num_samples=3, seed=7)


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
        # A fitted value exists; matching the calibration needs noise on delays (issue 14).
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
