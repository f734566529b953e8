"""SamplerV2, EstimatorV2, sessions, batches and backend.run end to end against the local
service over loopback HTTP."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.primitives import PrimitiveResult
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.result import Result
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import (
    BackendRunJob,
    Batch,
    EstimatorV2,
    ISAValidationError,
    JobCancelledError,
    PubValidationError,
    QiskitRestProvider,
    RestBackend,
    RuntimeJob,
    SamplerV2,
    Session,
)
from qiskit_rest_provider.server import LocalRuntimeServer

pytestmark = [pytest.mark.service]


def isa(backend: RestBackend, circuit: QuantumCircuit) -> QuantumCircuit:
    pm = generate_preset_pass_manager(optimization_level=2, backend=backend, seed_transpiler=11)
    return pm.run(circuit)


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


@pytest.fixture()
def falcon(provider: QiskitRestProvider) -> RestBackend:
    return provider.backend("local_falcon")


@pytest.fixture()
def simulator(provider: QiskitRestProvider) -> RestBackend:
    return provider.backend("local_simulator")


# Sampler ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_bell_and_ghz_sampling_on_a_noisy_device(provider: QiskitRestProvider) -> None:
    heron = provider.backend("local_heron")
    job = SamplerV2(heron).run([isa(heron, bell()), isa(heron, ghz(4))], shots=2000)
    assert isinstance(job, RuntimeJob) and job.program_id == "sampler"
    result = job.result(timeout=120)
    assert isinstance(result, PrimitiveResult) and len(result) == 2
    bell_counts = result[0].data.meas.get_counts()
    assert sum(bell_counts.values()) == 2000
    assert bell_counts.get("00", 0) + bell_counts.get("11", 0) > 0.85 * 2000
    assert 0 < sum(v for k, v in bell_counts.items() if k in ("01", "10")) < 0.15 * 2000
    ghz_counts = result[1].data.meas.get_counts()
    assert ghz_counts.get("0000", 0) + ghz_counts.get("1111", 0) > 0.75 * 2000
    assert job.status() is JobStatus.DONE and job.done() and job.in_final_state()
    assert not job.running() and not job.cancelled() and job.error_message() is None
    assert job.result() is result  # decoded once, cached
    assert job.creation_date is not None and job.backend() is heron


def test_parameter_sweep_broadcasts_and_keeps_registers(simulator: RestBackend) -> None:
    theta = Parameter("theta")
    qr = QuantumRegister(2)
    alpha, beta = ClassicalRegister(1, "alpha"), ClassicalRegister(1, "beta")
    qc = QuantumCircuit(qr, alpha, beta)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    qc.measure(0, alpha[0])
    qc.measure(1, beta[0])
    circuit = isa(simulator, qc)
    angles = np.linspace(0, np.pi, 5).reshape(5, 1)
    sampler = SamplerV2(simulator, options={"simulator": {"seed_simulator": 7}})
    result = sampler.run([(circuit, angles, 4000)]).result(timeout=60)
    data = result[0].data
    assert data.alpha.shape == (5,) and data.beta.shape == (5,)
    assert data.alpha.num_shots == 4000
    ones = data.alpha.bitcount().mean(axis=-1)
    np.testing.assert_allclose(ones, np.sin(angles.ravel() / 2) ** 2, atol=0.04)
    # beta copies alpha (cx), per shot
    np.testing.assert_array_equal(data.alpha.array, data.beta.array)


def test_sampler_default_shots_option_and_null_shots(simulator: RestBackend) -> None:
    sampler = SamplerV2(simulator)
    sampler.options.default_shots = 123
    job = sampler.run([isa(simulator, bell())])
    assert job.result(timeout=60)[0].data.meas.num_shots == 123
    raw = simulator.provider.client.get_job(job.job_id(), exclude_params=False)["params"]
    assert raw["pubs"][0][2] is None and raw["options"] == {"default_shots": 123}


def test_vqe_resubmission_reuses_the_checked_circuit(simulator: RestBackend) -> None:
    theta = Parameter("t")
    qc = QuantumCircuit(2)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    qc.measure_all()
    circuit = isa(simulator, qc)
    sampler = SamplerV2(simulator)
    jobs = [sampler.run([(circuit, [value])], shots=64) for value in (0.1, 0.2, 0.3)]
    assert (sampler._cache.misses, sampler._cache.hits) == (1, 2)
    circuit.x(1)  # a mutation changes the fingerprint: checked and serialized again
    jobs.append(sampler.run([(circuit, [0.4])], shots=64))
    assert sampler._cache.misses == 2
    for job in jobs:
        job.result(timeout=60)
    texts = [j.inputs["pubs"][0][1] for j in jobs]
    assert [float(t[0]) for t in texts] == [0.1, 0.2, 0.3, 0.4]


# Estimator -------------------------------------------------------------------------------------


def test_estimator_shaped_observables_match_exact_values(simulator: RestBackend) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(2)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    circuit = isa(simulator, qc)
    observables = [[SparsePauliOp("ZZ")], [SparsePauliOp("XX")], [SparsePauliOp("IZ")]]  # (3, 1)
    values = np.linspace(0, np.pi, 4).reshape(1, 4, 1)  # (1, 4) parameter sets
    estimator = EstimatorV2(simulator, options={"default_precision": 0.01})
    result = estimator.run([(circuit, observables, values)]).result(timeout=60)
    evs = result[0].data.evs
    assert evs.shape == (3, 4)
    exact = np.empty((3, 4))
    for j, value in enumerate(values.ravel()):
        state = Statevector(qc.assign_parameters([value]))
        for i, obs in enumerate(("ZZ", "XX", "IZ")):
            exact[i, j] = state.expectation_value(SparsePauliOp(obs)).real
    np.testing.assert_allclose(evs, exact, atol=0.06)
    assert result[0].data.stds.shape == (3, 4)
    assert result[0].metadata["target_precision"] == pytest.approx(0.01)


def test_estimator_maps_virtual_observables_through_the_layout(
    provider: QiskitRestProvider,
) -> None:
    heron = provider.backend("local_heron")
    qc = QuantumCircuit(3)
    qc.x(2)
    circuit = isa(heron, qc)
    assert circuit.num_qubits == heron.num_qubits
    estimator = EstimatorV2(heron, options={"resilience_level": 0})
    job = estimator.run([(circuit, ["ZII", "IIZ"])])  # on the 3 virtual qubits
    evs = job.result(timeout=120)[0].data.evs
    assert evs[0] < -0.8 and evs[1] > 0.8
    raw = provider.client.get_job(job.job_id(), exclude_params=False)["params"]
    labels = [next(iter(o)) for o in raw["pubs"][0][1]]
    assert all(len(label) == heron.num_qubits for label in labels)
    assert raw["resilience_level"] == 0 and "resilience_level" not in raw["options"]


# Pre-flight checks -----------------------------------------------------------------------------


def test_non_isa_circuit_is_refused_before_submission(falcon: RestBackend) -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    with pytest.raises(ISAValidationError, match=r"pub 0: .*\bh on qubits \[0\]"):
        SamplerV2(falcon).run([qc])
    wide = isa(falcon, bell())
    uncoupled = QuantumCircuit(7, 2)
    uncoupled.cx(0, 6)
    with pytest.raises(ISAValidationError, match=r"pub 1: .*cx on qubits \[0, 6\]"):
        SamplerV2(falcon).run([wide, uncoupled])


def test_non_isa_instruction_inside_control_flow_is_found(provider: QiskitRestProvider) -> None:
    heron = provider.backend("local_heron")
    qc = QuantumCircuit(2, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.h(1)
    circuit = QuantumCircuit(heron.num_qubits, 1)
    circuit.compose(qc, qubits=[0, 1], clbits=[0], inplace=True)
    with pytest.raises(ISAValidationError, match=r"inside if_else: h on qubits \[1\]"):
        SamplerV2(heron).run([circuit])


def test_rzz_angle_bounds_on_fractional_backend(provider: QiskitRestProvider) -> None:
    heron = provider.backend("local_heron", use_fractional_gates=True)
    a, b = next(iter(heron.target["rzz"]))
    qc = QuantumCircuit(heron.num_qubits)
    qc.rzz(2.5, a, b)
    qc.measure_all()
    with pytest.raises(ISAValidationError, match=r"rzz on qubits .* outside \[0, pi/2\]"):
        SamplerV2(heron).run([qc])


def test_missing_parameter_values_and_bad_shots(simulator: RestBackend) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    qc.measure_all()
    circuit = isa(simulator, qc)
    with pytest.raises(PubValidationError, match=r"pub 0: .*parameters"):
        SamplerV2(simulator).run([circuit])
    with pytest.raises(PubValidationError, match="positive integer"):
        SamplerV2(simulator).run([(circuit, [0.1])], shots=0)
    limit = simulator.max_shots
    assert limit is not None
    with pytest.raises(PubValidationError, match=rf"pub 0: {limit + 1} shots exceed"):
        SamplerV2(simulator).run([(circuit, [0.1], limit + 1)])
    with pytest.raises(PubValidationError, match="nothing to sample"):
        SamplerV2(simulator).run([isa(simulator, QuantumCircuit(1))])
    with pytest.raises(PubValidationError, match="list of pubs"):
        SamplerV2(simulator).run(circuit)  # type: ignore[arg-type]
    est = EstimatorV2(simulator)
    with pytest.raises(PubValidationError, match="pub 0:"):
        est.run([(isa(simulator, QuantumCircuit(2)), "ZZZ")])
    with pytest.raises(PubValidationError, match="precision"):
        est.run([(isa(simulator, QuantumCircuit(2)), "ZZ")], precision=-1)


def test_too_many_pubs_for_the_backend(provider: QiskitRestProvider) -> None:
    nighthawk = provider.backend("local_nighthawk")
    assert nighthawk.max_circuits is None  # as IBMBackend reports it (issue 13)
    limit = nighthawk.configuration().max_experiments
    assert limit is not None
    circuit = isa(nighthawk, bell())
    with pytest.raises(PubValidationError, match=rf"{limit + 1} pubs exceed .* {limit}"):
        SamplerV2(nighthawk).run([circuit] * (limit + 1))


def test_register_names_that_openqasm_would_change_are_refused(simulator: RestBackend) -> None:
    qc = QuantumCircuit(QuantumRegister(1), ClassicalRegister(1, "output"))
    qc.measure(0, 0)
    with pytest.raises(ISAValidationError, match="'output' cannot keep its name"):
        SamplerV2(simulator).run([isa(simulator, qc)])


def test_dynamical_decoupling_with_dynamic_circuits_is_refused(
    provider: QiskitRestProvider,
) -> None:
    heron = provider.backend("local_heron")
    qc = QuantumCircuit(heron.num_qubits, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    sampler = SamplerV2(heron, options={"dynamical_decoupling": {"enable": True}})
    with pytest.raises(PubValidationError, match="dynamical decoupling"):
        sampler.run([qc])


# Jobs ------------------------------------------------------------------------------------------


def test_job_retrieved_by_id_from_a_new_provider(
    server: LocalRuntimeServer, simulator: RestBackend
) -> None:
    job = SamplerV2(simulator).run([isa(simulator, bell())], shots=50)
    job.update_tags(["retrieval"])
    job.result(timeout=60)
    with server.provider() as other:
        again = other.job(job.job_id())
        assert type(again) is RuntimeJob and again.program_id == "sampler"
        assert again.tags == ["retrieval"] and again.backend().name == "local_simulator"
        counts = again.result().__getitem__(0).data.meas.get_counts()
        assert sum(counts.values()) == 50
        assert again.metrics()["timestamps"]["finished"]
        assert "job completed" in again.logs()
        assert isinstance(again.inputs["pubs"][0][0], QuantumCircuit)


def test_cancel_a_queued_job(server: LocalRuntimeServer, provider: QiskitRestProvider) -> None:
    heron = provider.backend("local_heron")
    circuit = isa(heron, ghz(10))
    sampler = SamplerV2(heron)
    blockers = [sampler.run([circuit], shots=100_000) for _ in range(2)]
    victim = sampler.run([circuit], shots=10)
    victim.cancel()
    assert victim.status() is JobStatus.CANCELLED and victim.cancelled()
    with pytest.raises(JobCancelledError):
        victim.result()
    assert victim.error_message()
    for job in blockers:
        job.cancel() if not job.in_final_state() else None
    provider.wait_for_jobs(blockers, timeout=120)


@pytest.mark.slow
def test_jobs_listing_is_lazy_and_filtered(
    provider: QiskitRestProvider, simulator: RestBackend
) -> None:
    sampler = SamplerV2(simulator)
    sampler.options.environment.job_tags = ["listing-primitives"]
    circuit = isa(simulator, bell())
    submitted = [sampler.run([circuit], shots=10) for _ in range(5)]
    provider.wait_for_jobs(submitted, timeout=60)
    ids = [j.job_id() for j in submitted]
    found = list(provider.jobs(limit=None, job_tags=["listing-primitives"], page_size=2))
    assert [j.job_id() for j in found] == ids[::-1]  # newest first
    oldest = list(provider.jobs(limit=2, job_tags=["listing-primitives"], descending=False))
    assert [j.job_id() for j in oldest] == ids[:2]
    skipped = list(provider.jobs(limit=10, skip=3, job_tags=["listing-primitives"]))
    assert [j.job_id() for j in skipped] == ids[::-1][3:]
    assert not list(provider.jobs(job_tags=["listing-primitives"], pending=True))
    assert not list(provider.jobs(job_tags=["listing-primitives"], program_id="estimator"))
    provider.delete_job(ids[0])
    assert len(list(provider.jobs(limit=None, job_tags=["listing-primitives"]))) == 4


@pytest.mark.slow
def test_generic_run_submits_raw_params(
    provider: QiskitRestProvider, simulator: RestBackend
) -> None:
    qasm = 'OPENQASM 3.0; include "stdgates.inc"; bit[1] c; x $0; c[0] = measure $0;'
    job = provider.run("sampler", {"pubs": [[qasm]], "version": 2}, simulator)
    assert job.result(timeout=60)[0].data.c.get_counts() == {"1": 4096}


# Sessions and batches --------------------------------------------------------------------------


@pytest.mark.slow
def test_session_runs_several_jobs_and_closes(
    provider: QiskitRestProvider, falcon: RestBackend
) -> None:
    circuit = isa(falcon, bell())
    with Session(falcon, max_time=600) as session:
        assert session.session_id is None and session.details() is None
        sampler = SamplerV2(session)
        estimator = EstimatorV2(options={"resilience_level": 0})  # picks up the open session
        jobs = [sampler.run([circuit], shots=100), sampler.run([circuit], shots=100)]
        jobs.append(estimator.run([(isa(falcon, QuantumCircuit(2)), "ZZ")]))
        assert session.session_id and all(j.session_id == session.session_id for j in jobs)
        provider.wait_for_jobs(jobs, timeout=120)
        details = session.details()
        assert details is not None and details["mode"] == "dedicated"
        assert details["max_time"] == 600 and details["backend_name"] == "local_falcon"
    assert session.status() == "Closed"
    with pytest.raises(ValueError, match="closed"):
        sampler.run([circuit])
    listed = {j.job_id() for j in provider.jobs(limit=None, session_id=session.session_id)}
    assert listed == {j.job_id() for j in jobs}
    again = Session.from_id(session.session_id, provider)
    assert again.backend() == "local_falcon"
    with pytest.raises(ValueError, match=r"Session\.from_id"):
        Batch.from_id(session.session_id, provider)


def test_batch_and_cancel(falcon: RestBackend) -> None:
    circuit = isa(falcon, bell())
    batch = Batch(falcon)
    sampler = SamplerV2(batch)
    jobs = [sampler.run([circuit], shots=50) for _ in range(3)]
    assert batch.session_id and batch.mode == "batch"
    assert Batch.from_id(batch.session_id, falcon.provider).mode == "batch"
    batch.cancel()
    for job in jobs:
        job.wait_for_final_state(timeout=60)
    assert {job.status() for job in jobs} <= {JobStatus.DONE, JobStatus.CANCELLED}
    details = batch.details()
    assert details is not None and details["accepting_jobs"] is False


def test_session_on_a_simulator_runs_plain_jobs(simulator: RestBackend) -> None:
    with pytest.warns(UserWarning, match="simulator"), Session(simulator) as session:
        job = SamplerV2(session).run([isa(simulator, bell())], shots=10)
    assert job.session_id is None and job.result(timeout=60)


# backend.run -----------------------------------------------------------------------------------


def test_backend_run_returns_qiskit_result(
    provider: QiskitRestProvider, falcon: RestBackend
) -> None:
    qr = QuantumRegister(2)
    low, high = ClassicalRegister(1, "low"), ClassicalRegister(2, "high")
    qc = QuantumCircuit(qr, low, high, name="two-registers")
    qc.x(1)
    qc.measure(0, low[0])
    qc.measure(1, high[1])
    circuits = [isa(falcon, bell()), isa(falcon, qc)]
    job = falcon.run(circuits, shots=300, memory=True)
    assert isinstance(job, BackendRunJob)
    result = job.result(timeout=120)
    assert isinstance(result, Result) and result.success
    bell_counts = result.get_counts(0)
    assert sum(bell_counts.values()) == 300 and set(bell_counts) <= {"00", "01", "10", "11"}
    counts = result.get_counts("two-registers")
    assert max(counts, key=counts.get) == "10 0"  # high register leftmost, as in Qiskit
    memory = result.get_memory(1)
    assert len(memory) == 300 and memory.count("10 0") == counts["10 0"]
    again = provider.job(job.job_id())
    assert isinstance(again, BackendRunJob)
    assert again.result().get_counts(1) == counts
    assert again.result().get_memory(1) == memory  # memory=True survives retrieval
    assert again.tags == []  # internal bookkeeping tags are hidden
    no_memory = falcon.run(circuits[0], shots=20).result(timeout=60)
    with pytest.raises(Exception, match="memory"):
        no_memory.get_memory(0)
    with pytest.raises(ValueError, match=r"unknown backend\.run option"):
        falcon.run(circuits[0], shots=20, meas_levels=1)


def test_backend_run_rejects_non_isa(falcon: RestBackend) -> None:
    with pytest.raises(ISAValidationError):
        falcon.run(bell())


def _exact_zz(theta: float) -> float:
    return math.cos(theta)


def test_estimator_noiseless_simulator_precision(simulator: RestBackend) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.ry(theta, 0)
    circuit = isa(simulator, qc)
    values: Any = np.array([[0.0], [1.0], [2.0]])
    result = EstimatorV2(simulator).run([(circuit, "Z", values)], precision=0.005).result(60)
    np.testing.assert_allclose(
        result[0].data.evs, [_exact_zz(v) for v in values.ravel()], atol=0.03
    )


def test_seeds_make_results_reproducible(provider: QiskitRestProvider) -> None:
    heron = provider.backend("local_heron")
    theta = Parameter("theta")
    qc = QuantumCircuit(2)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    circuit = isa(heron, qc)
    estimator = EstimatorV2(heron, options={"seed_estimator": 11, "resilience_level": 0})
    first, second = (
        estimator.run([(circuit, "ZZ", [0.4])], precision=0.05).result()[0].data.evs
        for _ in range(2)
    )
    assert first == second
    measured = qc.copy()
    measured.measure_all()
    sampler = SamplerV2(heron, options={"simulator": {"seed_simulator": 5}})
    a, b = (
        sampler.run([(isa(heron, measured), [0.4])], shots=200).result()[0].data.meas.array
        for _ in range(2)
    )
    np.testing.assert_array_equal(a, b)
