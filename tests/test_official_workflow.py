"""The official client's own workflow, end to end, against the local service, configured only
with what IBM's users set (an API key, a URL, documented constructor options; no environment
switch): account saved with no instance → instance discovery → least_busy → backend → Target →
transpile → SamplerV2 and EstimatorV2 in a Session and a Batch → job listing with filters →
``job.inputs`` → private job → usage → cancel → delete."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.instances import STANDARD_PLANS, InstanceSpec, instance_crn

runtime = pytest.importorskip("qiskit_ibm_runtime")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.service,
    pytest.mark.official,
    pytest.mark.usefixtures("only_official_client_arguments"),
]

OPEN = InstanceSpec(instance_crn(), "open-instance", STANDARD_PLANS["open"], ("local_falcon",))
PREMIUM = InstanceSpec(
    instance_crn("eu-de"),
    "premium-instance",
    STANDARD_PLANS["premium"],
    ("local_heron", "local_falcon"),
)


@pytest.fixture(scope="module")
def two_instances() -> Iterator[LocalRuntimeServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = LocalRuntimeServer(instances=[OPEN, PREMIUM]).start()
    try:
        yield server
    finally:
        server.stop()


def _bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def _wait(job: Any, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while (status := job.status()) not in ("DONE", "ERROR", "CANCELLED"):
        assert time.monotonic() < deadline, f"job {job.job_id()} still {status}"
        time.sleep(0.1)
    return str(status)


def test_the_official_workflow_end_to_end(
    two_instances: LocalRuntimeServer, tmp_path: Path
) -> None:
    logging.getLogger("qiskit_ibm_runtime").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")  # the official client's deprecations; urllib3's TLS note
    options = two_instances.official_client_options()
    accounts = tmp_path / "qiskit-ibm.json"

    # An account saved with no instance; the client discovers the key's instances.
    runtime.QiskitRuntimeService.save_account(
        channel=options["channel"],
        token=options["token"],
        url=options["url"],
        proxies=options["proxies"],
        verify=options["verify"],
        filename=str(accounts),
        name="local",
        set_as_default=True,
    )
    service = runtime.QiskitRuntimeService(filename=str(accounts), name="local")
    plans = {entry["crn"]: entry["plan"] for entry in service.instances()}
    assert plans == {OPEN.crn: "open", PREMIUM.crn: "premium"}

    # least_busy across the instances: only the premium one has a 100+ qubit device.
    backend = service.least_busy(min_num_qubits=100)
    assert backend.name == "local_heron" and backend.num_qubits == 156
    assert "cz" in backend.target.operation_names
    manager = generate_preset_pass_manager(1, backend=backend, seed_transpiler=1)
    isa = manager.run(_bell())
    unmeasured = _bell()
    unmeasured.remove_final_measurements()
    isa_unmeasured = manager.run(unmeasured)
    observable = SparsePauliOp("ZZ").apply_layout(isa_unmeasured.layout)

    # SamplerV2 and EstimatorV2 in a Session and in a Batch.
    session_ids = {}
    for mode_class in (runtime.Session, runtime.Batch):
        with mode_class(backend=backend) as mode:
            counts = (
                runtime.SamplerV2(mode=mode).run([isa], shots=400).result()[0].data.meas
            ).get_counts()
            assert counts.get("00", 0) + counts.get("11", 0) > 300
            evs = runtime.EstimatorV2(mode=mode).run([(isa_unmeasured, observable)]).result()
            assert float(evs[0].data.evs) > 0.7
            session_ids[mode_class.__name__] = mode.session_id
    assert all(session_ids.values())

    # Job listing with filters, and job.inputs.
    in_session = service.jobs(session_id=session_ids["Session"], limit=10)
    assert {job.primitive_id for job in in_session} == {"sampler", "estimator"}
    samplers = service.jobs(backend_name="local_heron", program_id="sampler", limit=10)
    assert len(samplers) >= 2
    inputs = service.job(samplers[0].job_id()).inputs
    assert len(inputs["pubs"]) == 1

    # A private job: its result can be read once; its inputs are never returned.
    sampler = runtime.SamplerV2(mode=backend)
    sampler.options.environment.private = True
    private = sampler.run([isa], shots=100)
    assert private.result()[0].data.meas.num_shots == 100
    assert service.job(private.job_id()).inputs == {}

    # Usage of the instance in use.
    usage = service.usage()
    assert usage["usage_consumed_seconds"] >= 0

    # Cancel a queued job (the service holds jobs queued for a while here), then delete it.
    two_instances.service.queue_delay = 30
    try:
        waiting = runtime.SamplerV2(mode=backend).run([isa], shots=100)
        waiting.cancel()
        assert _wait(waiting) == "CANCELLED"
    finally:
        two_instances.service.queue_delay = 0
    service.delete_job(waiting.job_id())
    with pytest.raises(Exception, match=r"(?i)not found|does not exist|404"):
        service.job(waiting.job_id())
