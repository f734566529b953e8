"""The official qiskit-ibm-runtime client drives the local service (reference §9): tokens,
backends, Targets, sampler and estimator jobs with QPY circuits, sessions, job retrieval — and
both clients read each other's jobs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import QiskitRestProvider, SamplerV2

runtime = pytest.importorskip("qiskit_ibm_runtime")

pytestmark = [pytest.mark.slow, pytest.mark.service, pytest.mark.official]


@pytest.fixture()
def service(official_service: Any) -> Any:
    """The official client on the local service (conftest's ``official_service``)."""
    return official_service


def _bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def test_official_client_lists_backends_and_builds_the_same_target(
    service: Any, provider: QiskitRestProvider
) -> None:
    names = {b.name for b in service.backends()}
    assert {"local_heron", "local_eagle", "local_falcon", "local_nighthawk"} <= names
    theirs = service.backend("local_eagle").target
    ours = provider.backend("local_eagle").target
    assert set(theirs.operation_names) == set(ours.operation_names)
    assert theirs.num_qubits == ours.num_qubits
    for name in ("ecr", "sx", "measure"):
        assert set(theirs[name]) == set(ours[name])
        for qargs in ours[name]:
            a, b = theirs[name][qargs], ours[name][qargs]
            assert (a.error, a.duration) == pytest.approx((b.error, b.duration))


def test_official_sampler_and_estimator_jobs(service: Any, provider: QiskitRestProvider) -> None:
    backend = service.backend("local_falcon")
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=5)
    sampler = runtime.SamplerV2(mode=backend)
    job = sampler.run([pm.run(_bell())], shots=500)
    counts = job.result()[0].data.meas.get_counts()
    assert sum(counts.values()) == 500
    assert counts.get("00", 0) + counts.get("11", 0) > 400

    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.ry(theta, 0)
    isa = pm.run(qc)
    estimator = runtime.EstimatorV2(mode=backend)
    estimator.options.resilience_level = 0
    observable = SparsePauliOp("Z").apply_layout(isa.layout)
    est_job = estimator.run([(isa, observable, [[0.0], [np.pi]])])
    evs = est_job.result()[0].data.evs
    assert evs[0] > 0.8 and evs[1] < -0.8

    # Our client reads the official client's job (QPY circuits) and its result.
    ours = provider.job(job.job_id())
    assert ours.result()[0].data.meas.get_counts() == counts
    assert isinstance(ours.inputs["pubs"][0][0], QuantumCircuit)
    # ... and the official client reads ours.
    our_job = SamplerV2(provider.backend("local_falcon")).run([pm.run(_bell())], shots=64)
    our_job.result(timeout=60)
    theirs = service.job(our_job.job_id())
    assert sum(theirs.result()[0].data.meas.get_counts().values()) == 64
    assert str(theirs.status()) in ("DONE", "JobStatus.DONE")


def test_official_session_and_job_listing(service: Any) -> None:
    backend = service.backend("local_falcon")
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=5)
    circuit = pm.run(_bell())
    with runtime.Session(backend=backend) as session:
        sampler = runtime.SamplerV2(mode=session)
        jobs = [sampler.run([circuit], shots=20) for _ in range(2)]
        for job in jobs:
            job.result()
        assert all(job.session_id == session.session_id for job in jobs)
        assert session.details()["backend_name"] == "local_falcon"
    listed = service.jobs(session_id=session.session_id, limit=10)
    assert {j.job_id() for j in listed} == {j.job_id() for j in jobs}


def test_official_batch_cancel_metrics_and_logs(service: Any) -> None:
    backend = service.backend("local_falcon")
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=5)
    circuit = pm.run(_bell())
    with runtime.Batch(backend=backend) as batch:
        sampler = runtime.SamplerV2(mode=batch)
        done = sampler.run([circuit], shots=20)
        done.result()
        blocker = sampler.run([circuit] * 40, shots=100_000)
        queued = sampler.run([circuit], shots=20)
        queued.cancel()
        blocker.cancel()
    assert str(queued.status()) in ("CANCELLED", "JobStatus.CANCELLED")
    assert done.metrics()["timestamps"]["finished"]
    assert "job completed" in done.logs()
    assert done.session_id == batch.session_id
