"""RuntimeJob states, errors, polling and time limits."""

from __future__ import annotations

import random
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import (
    ExecutionTimeLimitError,
    JobFailedError,
    JobTimeoutError,
    PollPolicy,
    QiskitRestProvider,
    RuntimeJob,
    SamplerV2,
)
from qiskit_rest_provider.api import ConflictError
from qiskit_rest_provider.client.job import job_status_from_document


@pytest.mark.parametrize(
    "document, expected",
    [
        ({"state": {"status": "Queued"}}, (JobStatus.QUEUED, None)),
        ({"state": {"status": "RUNNING"}}, (JobStatus.RUNNING, None)),
        ({"state": {"status": "Completed"}, "status": "Completed"}, (JobStatus.DONE, None)),
        ({"state": {"status": "Failed", "reason_code": 1517}}, (JobStatus.ERROR, 1517)),
        ({"state": {"status": "Failed", "reasonCode": "1500"}}, (JobStatus.ERROR, 1500)),
        ({"state": {"status": "Cancelled"}}, (JobStatus.CANCELLED, None)),
        ({"state": {"status": "Cancelled", "reason_code": 1305}}, (JobStatus.ERROR, 1305)),
        ({"status": "Cancelled - Ran too long"}, (JobStatus.ERROR, 1305)),
        ({"state": {"status": "Validating"}}, (JobStatus.INITIALIZING, None)),
        ({}, (JobStatus.INITIALIZING, None)),
    ],
)
def test_status_mapping(document: dict[str, Any], expected: tuple[JobStatus, int | None]) -> None:
    status, _text, code = job_status_from_document(document)
    assert (status, code) == expected


@pytest.mark.service
def test_failed_job_raises_with_the_servers_reason(provider: QiskitRestProvider) -> None:
    document = {
        "id": "failedjob0001",
        "program": {"id": "sampler"},
        "backend": "local_heron",
        "created": "2026-11-01T12:00:00Z",
        "state": {
            "status": "Failed",
            "reason": "Circuit is not ISA for the target",
            "reason_code": 1517,
            "reason_solution": "Transpile it first.",
        },
        "status": "Failed",
    }
    job = RuntimeJob("failedjob0001", provider, program_id="sampler", document=document)
    assert job.status() is JobStatus.ERROR and job.in_final_state() and not job.done()
    message = job.error_message()
    assert message == "Error code 1517; Circuit is not ISA for the target Transpile it first."
    with pytest.raises(JobFailedError, match="Error code 1517") as info:
        job.result()
    assert info.value.reason_code == 1517 and info.value.job_id == "failedjob0001"
    assert job.creation_date is not None and job.creation_date.year == 2026


def test_poll_policy_backs_off_to_its_cap_with_jitter() -> None:
    intervals = PollPolicy(initial=0.1, factor=2, maximum=1.0, jitter=0.1).intervals(
        random.Random(4)
    )
    values = [next(iter(intervals)) for _ in range(8)]
    nominal = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    for value, expected in zip(values, nominal, strict=True):
        assert expected * 0.9 <= value <= expected * 1.1
    with pytest.raises(ValueError):
        PollPolicy(initial=0)
    with pytest.raises(ValueError):
        PollPolicy(factor=0.5)


def _heavy(provider: QiskitRestProvider) -> QuantumCircuit:
    backend = provider.backend("local_heron")
    qc = QuantumCircuit(14)
    qc.h(0)
    for i in range(13):
        qc.cx(i, i + 1)
    for _ in range(6):
        for i in range(13):
            qc.cx(i, i + 1)
    qc.measure_all()
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=2)
    return pm.run(qc)


@pytest.mark.slow
@pytest.mark.service
def test_result_timeout_leaves_the_job_running_and_cancel_works(
    provider: QiskitRestProvider,
) -> None:
    backend = provider.backend("local_heron")
    job = SamplerV2(backend).run([_heavy(provider)] * 10, shots=100_000)
    with pytest.raises(JobTimeoutError) as info:
        job.result(timeout=0.2)
    assert info.value.job_id == job.job_id()
    assert not job.in_final_state()
    job.cancel()
    assert job.status() is JobStatus.CANCELLED
    job.cancel()  # cancelling a cancelled job is a no-op (a retried cancel lands here too)
    done = SamplerV2(provider.backend("local_heron")).run([_heavy(provider)], shots=5)
    done.result(timeout=60)
    with pytest.raises(ConflictError):
        done.cancel()


@pytest.mark.slow
@pytest.mark.service
def test_max_execution_time_cancels_with_1305(provider: QiskitRestProvider) -> None:
    backend = provider.backend("local_heron")
    sampler = SamplerV2(backend)
    sampler.options.max_execution_time = 1
    job = sampler.run([_heavy(provider)] * 30, shots=100_000)
    with pytest.raises(ExecutionTimeLimitError) as info:
        job.result(timeout=60)
    assert info.value.reason_code == 1305
    assert job.status() is JobStatus.ERROR and "1305" in (job.error_message() or "")
    # The worker that was killed is replaced: the next job runs normally.
    small = SamplerV2(backend).run([_heavy(provider)], shots=10)
    assert small.result(timeout=60)[0].data.meas.num_shots == 10


@pytest.mark.service
def test_tags_are_replaced_and_cleared(provider: QiskitRestProvider) -> None:
    backend = provider.backend("local_simulator")
    qc = QuantumCircuit(1)
    qc.measure_all()
    job = SamplerV2(backend).run([qc], shots=5)
    assert job.update_tags(["one", "two"]) == ["one", "two"]
    job.refresh()
    assert job.tags == ["one", "two"]
    job.update_tags([])
    job.refresh()
    assert job.tags == []
    job.result(timeout=60)
    assert job.usage() >= 0
