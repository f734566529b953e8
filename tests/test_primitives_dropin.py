"""SamplerV2/EstimatorV2 as code written for qiskit-ibm-runtime's and Qiskit's primitives expects
them (issue 13, items 11, 12 and 13): each pub's ``circuit_metadata``, the three ways of reaching
the backend, ``mode``/``options``/``version``, and error messages that name the call -- through
the real local service over loopback."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import (
    EstimatorOptions,
    EstimatorV2,
    ISAValidationError,
    PubValidationError,
    QiskitRestProvider,
    RestBackend,
    SamplerOptions,
    SamplerV2,
    Session,
)

pytestmark = [pytest.mark.service]


def isa(backend: RestBackend, circuit: QuantumCircuit) -> QuantumCircuit:
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=3)
    return pm.run(circuit)


def bell(metadata: dict[str, Any] | None = None) -> QuantumCircuit:
    qc = QuantumCircuit(2, metadata=metadata)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


@pytest.fixture()
def falcon(provider: QiskitRestProvider) -> RestBackend:
    return provider.backend("local_falcon")


@pytest.fixture()
def simulator(provider: QiskitRestProvider) -> RestBackend:
    return provider.backend("local_simulator")


# Item 11: circuit_metadata ----------------------------------------------------------------------


def test_sampler_and_estimator_results_carry_each_circuits_metadata(
    provider: QiskitRestProvider, simulator: RestBackend
) -> None:
    first = isa(simulator, bell({"xval": 1e-6, "qubits": [0, 1], "nested": {"k": (1, 2)}}))
    second = isa(simulator, bell({"xval": 2e-6}))
    plain = isa(simulator, bell())
    job = SamplerV2(simulator).run([first, second, plain], shots=10)
    first.metadata["xval"] = "changed after submission"  # the job keeps what was submitted
    result = job.result(timeout=60)
    assert [pub.metadata["circuit_metadata"] for pub in result] == [
        {"xval": 1e-6, "qubits": [0, 1], "nested": {"k": (1, 2)}},
        {"xval": 2e-6},
        {},
    ]
    unmeasured = QuantumCircuit(2, metadata={"label": "zz"})
    unmeasured.h(0)
    estimator = EstimatorV2(simulator, options={"resilience_level": 0})
    evs = estimator.run([(isa(simulator, unmeasured), "ZZ")]).result(timeout=60)
    assert evs[0].metadata["circuit_metadata"] == {"label": "zz"}
    # A job fetched again from the service has no circuits to take it from: the service's {}.
    again = provider.job(job.job_id()).result()
    assert [pub.metadata.get("circuit_metadata") for pub in again] == [{}, {}, {}]


@pytest.mark.slow
def test_circuit_metadata_reaches_a_qiskit_experiments_analysis(falcon: RestBackend) -> None:
    """qiskit-experiments reads each pub's circuit_metadata["xval"]; without it the analysis
    has no x values."""
    library = pytest.importorskip("qiskit_experiments.library")
    delays = [1e-6, 20e-6, 60e-6, 120e-6]
    experiment = library.T1(physical_qubits=(0,), delays=delays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = experiment.run(sampler=SamplerV2(falcon)).block_for_results(timeout=120)
    assert data.analysis_errors() == "" and len(data.analysis_results(dataframe=True)) > 0
    # The delays as T1 wrote them in each circuit's metadata (rounded to the device's dt).
    assert sorted(d["metadata"]["xval"] for d in data.data()) == pytest.approx(delays, rel=1e-2)
    assert data.backend is falcon  # qiskit-experiments took it from sampler._backend


# Item 12: the backend, mode, options and version ------------------------------------------------


def test_the_backend_three_ways_mode_options_and_version(falcon: RestBackend) -> None:
    for primitive in (SamplerV2(falcon), EstimatorV2(falcon)):
        assert primitive.backend is falcon  # Qiskit's BackendSamplerV2: a property
        assert primitive.backend() is falcon  # qiskit-ibm-runtime: a method
        assert primitive._backend is falcon  # qiskit-experiments reads the private attribute
        assert primitive.backend.name == "local_falcon"
        assert primitive.mode is None  # job mode, as qiskit-ibm-runtime reports it
        assert primitive.version == 2
    assert isinstance(SamplerV2(falcon).options, SamplerOptions)
    assert isinstance(EstimatorV2(falcon).options, EstimatorOptions)
    with Session(falcon) as session:
        inside = SamplerV2()
        assert inside.mode is session and inside.backend is falcon and inside._backend is falcon
        assert SamplerV2(session).backend() is falcon
    runtime = pytest.importorskip("qiskit_ibm_runtime")
    for ours, theirs in ((SamplerV2, runtime.SamplerV2), (EstimatorV2, runtime.EstimatorV2)):
        public = {name for name in dir(theirs) if not name.startswith("_")}
        assert public <= set(dir(ours))


# Item 13: errors name the call ------------------------------------------------------------------


def test_primitive_errors_name_the_call_the_pub_and_what_to_do(
    provider: QiskitRestProvider, falcon: RestBackend
) -> None:
    raw = bell()
    with pytest.raises(ISAValidationError, match=r"^SamplerV2\.run\(\): pub 1: .*Transpile it"):
        SamplerV2(falcon).run([isa(falcon, raw), raw])
    estimator = EstimatorV2(falcon)
    hadamard = QuantumCircuit(2)
    hadamard.h(0)  # not a gate of the device
    with pytest.raises(ISAValidationError, match=r"^EstimatorV2\.run\(\): pub 0: .*Transpile"):
        estimator.run([(hadamard, "ZZ")])
    with pytest.raises(PubValidationError, match=r"^EstimatorV2\.run\(\): precision must be"):
        estimator.run([(isa(falcon, QuantumCircuit(2)), "ZZ")], precision=0)
    with pytest.raises(PubValidationError, match=r"^SamplerV2\.run\(\): pub 0: .*measure_all"):
        SamplerV2(falcon).run([isa(falcon, QuantumCircuit(2))])
    with pytest.raises(PubValidationError, match=r"^SamplerV2\.run\(\) takes a list of pubs"):
        SamplerV2(falcon).run(isa(falcon, raw))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^SamplerV2\(mode=\.\.\.\) takes a RestBackend"):
        SamplerV2("local_falcon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^EstimatorV2\(\) needs mode="):
        EstimatorV2()
    nighthawk = provider.backend("local_nighthawk")
    limit = nighthawk.configuration().max_experiments
    assert limit is not None and nighthawk.max_circuits is None
    circuit = isa(nighthawk, QuantumCircuit(2))
    with pytest.raises(
        PubValidationError,
        match=rf"^EstimatorV2\.run\(\): {limit + 1} pubs exceed the backend's limit of {limit}",
    ):
        EstimatorV2(nighthawk).run([(circuit, "ZZ")] * (limit + 1))
    with pytest.raises(PubValidationError, match=r"^SamplerV2\.run\(\): pub 0: 200000 shots"):
        SamplerV2(nighthawk).run([isa(nighthawk, raw)], shots=200_000)
    slow = SamplerV2(falcon, options={"execution": {"rep_delay": 5.0}})
    with pytest.raises(
        ValueError, match=r"^SamplerV2\.run\(\): options\.execution\.rep_delay=5\.0 s is outside"
    ):
        slow.run([isa(falcon, raw)])
    values = np.zeros((2, 1))
    with pytest.raises(PubValidationError, match=r"^SamplerV2\.run\(\): pub 0: "):
        SamplerV2(falcon).run([(isa(falcon, raw), values)])
