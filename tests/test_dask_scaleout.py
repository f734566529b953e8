"""Scale-out onto a Dask cluster: the local service with ``dask_scheduler=`` runs each job's
simulation as a task of a real ``distributed.LocalCluster`` (two worker processes, one thread
each), started and stopped here.

Covered: sampler and estimator results through our client; a Dask worker killed mid-job (its
simulation process does not outlive it; the job runs again on the other worker and its final
state is written once; killed twice, it fails with a reason naming the lost workers, never left
Running); cancelling a job that runs on Dask (the simulation process on the worker is killed,
the worker takes the next job).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import psutil
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import EstimatorV2, QiskitRestProvider, SamplerV2
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.dask_pool import DaskPool

from .service_helpers import running_server, wait_final

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.slow, pytest.mark.service]

#: About four seconds of simulation on local_heron (60 circuits x 100k shots of a Bell pair):
#: long enough to kill a worker or cancel while it runs.
HEAVY_CIRCUITS, HEAVY_SHOTS = 60, 100_000


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A two-worker LocalCluster on loopback; every process it started is gone afterwards."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    try:
        yield local
    finally:
        local.close()
        # The workers' simulation processes end when their worker does; any straggler (a
        # simulation that was still running) is stopped here.
        left = [p for p in me.children(recursive=True) if p.pid not in before]
        for proc in left:
            proc.kill()
        psutil.wait_procs(left, timeout=30)


@pytest.fixture(scope="module")
def server(cluster: Any) -> Iterator[LocalRuntimeServer]:
    with running_server(dask_scheduler=cluster.scheduler_address) as srv:
        yield srv


@pytest.fixture(scope="module")
def dask_provider(server: LocalRuntimeServer) -> Iterator[QiskitRestProvider]:
    with server.provider() as prov:
        yield prov


def _bell(provider: QiskitRestProvider, backend: str, measure: bool = True) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    if measure:
        qc.measure_all()
    pm = generate_preset_pass_manager(
        optimization_level=1, backend=provider.backend(backend), seed_transpiler=7
    )
    return pm.run(qc)


def _pool(server: LocalRuntimeServer) -> DaskPool:
    pool = server.service._scheduler._pool
    assert isinstance(pool, DaskPool)
    return pool


def _worker_of(server: LocalRuntimeServer, job_id: str, after: str | None = None) -> str:
    """The Dask worker the job is running on (another than ``after``, if given)."""
    scheduler = server.service._scheduler
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        future = scheduler._running.get(job_id)
        where = _pool(server).where(future) if future is not None else None
        if where is not None and where != after:
            return where
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never started on a Dask worker")


def _worker_process(cluster: Any, address: str) -> psutil.Process:
    pids = [n.pid for n in cluster.workers.values() if n.worker_address == address]
    assert pids and pids[0], f"no worker process for {address}"
    return psutil.Process(pids[0])


def _kill_worker(cluster: Any, address: str) -> None:
    """SIGKILL the Dask worker at ``address`` (a lost machine), and check that its simulation
    processes, in the middle of a job, die with it (none is left running on its own)."""
    worker = _worker_process(cluster, address)
    simulations = [
        p
        for p in worker.children(recursive=True)
        if "qiskit_rest_provider.server.workers" in " ".join(p.cmdline())
    ]
    assert simulations, "the task runs its simulation in a process of the worker"
    worker.kill()
    psutil.wait_procs([worker], timeout=30)
    # 30 s: a bound for "at once" on a loaded machine. (The simulation has only seconds left:
    # tests/test_worker_orphans.py, with a ten-minute job, is the one that tells "dies with
    # its parent" from "ends after its job".)
    _, orphans = psutil.wait_procs(simulations, timeout=30)
    for proc in orphans:  # stopped here all the same: the test leaves nothing running
        proc.kill()
    psutil.wait_procs(orphans, timeout=30)
    assert not orphans, f"simulation processes outlived their Dask worker: {orphans}"


def _final_writes(server: LocalRuntimeServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the job ids of every final-state write the service makes from now on."""
    store = server.service.store
    writes: list[str] = []
    update_job = store.update_job

    def counting(job_id: str, **fields: Any) -> bool:
        changed = update_job(job_id, **fields)
        if changed and fields.get("status") in ("Completed", "Failed", "Cancelled"):
            writes.append(job_id)
        return changed

    monkeypatch.setattr(store, "update_job", counting)
    return writes


def test_sampler_and_estimator_run_on_the_cluster(
    server: LocalRuntimeServer, dask_provider: QiskitRestProvider, cluster: Any
) -> None:
    sim = dask_provider.backend("local_simulator")
    counts = (
        SamplerV2(sim)
        .run([_bell(dask_provider, "local_simulator")], shots=4000)
        .result()[0]
        .data.meas.get_counts()
    )
    # Noiseless Bell pair: only 00 and 11; each has p = 1/2, so |n00 - 2000| < 200 is
    # about 6.3 standard deviations (sd = sqrt(4000)/2 ~ 31.6): false alarm < 1e-9.
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 4000
    assert abs(counts["00"] - 2000) < 200

    heron = dask_provider.backend("local_heron")
    circuit = _bell(dask_provider, "local_heron", measure=False)
    zz = SparsePauliOp("ZZ").apply_layout(circuit.layout)
    xx = SparsePauliOp("XX").apply_layout(circuit.layout)
    estimator = EstimatorV2(heron, options={"default_precision": 0.02, "seed_estimator": 11})
    evs = np.asarray(estimator.run([(circuit, [zz, xx])]).result()[0].data.evs)
    # <ZZ> = <XX> = 1 on a Bell pair; readout mitigation (level 1) leaves the two-qubit
    # gate error (~1e-2) and the shot noise (precision 0.02): 0.15 is > 5 standard errors.
    assert evs.shape == (2,)
    np.testing.assert_allclose(evs, [1.0, 1.0], atol=0.15)

    # They ran on Dask: the cluster's scheduler saw the pool's tasks; no job was rerun.
    assert "qiskit-rest-job" in cluster.scheduler.task_prefixes
    assert _pool(server).slots == 2
    assert _pool(server).retried == 0


def test_a_worker_killed_mid_job_reruns_it_once_and_writes_one_result(
    server: LocalRuntimeServer,
    dask_provider: QiskitRestProvider,
    cluster: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes = _final_writes(server, monkeypatch)
    retried = _pool(server).retried
    heron = dask_provider.backend("local_heron")
    circuit = _bell(dask_provider, "local_heron")
    job = SamplerV2(heron).run([circuit] * HEAVY_CIRCUITS, shots=HEAVY_SHOTS)
    first = _worker_of(server, job.job_id())
    _kill_worker(cluster, first)
    second = _worker_of(server, job.job_id(), after=first)
    assert second != first
    doc = wait_final(dask_provider, job.job_id(), timeout=120)
    assert doc["status"] == "Completed", doc
    result = job.result()
    assert len(result) == HEAVY_CIRCUITS
    assert sum(result[0].data.meas.get_counts().values()) == HEAVY_SHOTS
    # Run twice on the cluster, written once: one final state, one completion in the log.
    assert writes.count(job.job_id()) == 1
    logs = server.service.store.job(job.job_id())["logs"]
    assert logs.count("job completed") == 1 and "job failed" not in logs
    assert _pool(server).retried == retried + 1


def test_a_job_whose_workers_keep_dying_fails_with_a_clear_reason(
    server: LocalRuntimeServer,
    dask_provider: QiskitRestProvider,
    cluster: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes = _final_writes(server, monkeypatch)
    heron = dask_provider.backend("local_heron")
    circuit = _bell(dask_provider, "local_heron")
    job = SamplerV2(heron).run([circuit] * HEAVY_CIRCUITS, shots=HEAVY_SHOTS)
    first = _worker_of(server, job.job_id())
    _kill_worker(cluster, first)
    second = _worker_of(server, job.job_id(), after=first)
    _kill_worker(cluster, second)
    # It starts a third time (on a restarted worker); the pool gives up and the job fails.
    doc = wait_final(dask_provider, job.job_id(), timeout=120)
    assert doc["status"] == "Failed", doc
    reason = server.service.store.job(job.job_id())["reason"]
    assert "Dask worker" in reason and "died" in reason, reason
    assert first in reason and second in reason
    assert writes.count(job.job_id()) == 1
    # The cluster still runs jobs afterwards.
    sim = dask_provider.backend("local_simulator")
    again = SamplerV2(sim).run([_bell(dask_provider, "local_simulator")], shots=100)
    assert wait_final(dask_provider, again.job_id(), timeout=120)["status"] == "Completed"


def test_cancelling_a_running_job_stops_its_simulation_on_the_worker(
    server: LocalRuntimeServer, dask_provider: QiskitRestProvider, cluster: Any
) -> None:
    heron = dask_provider.backend("local_heron")
    circuit = _bell(dask_provider, "local_heron")
    job = SamplerV2(heron).run([circuit] * HEAVY_CIRCUITS, shots=HEAVY_SHOTS)
    address = _worker_of(server, job.job_id())
    simulations = _worker_process(cluster, address).children(recursive=True)
    assert simulations, "the task runs its simulation in a process of the worker"
    job.cancel()
    assert wait_final(dask_provider, job.job_id())["status"] == "Cancelled"
    # The Dask future was cancelled and the task killed the simulation process.
    _, alive = psutil.wait_procs(simulations, timeout=30)
    assert not alive, f"simulation processes still running: {alive}"
    # The worker thread is free: the next jobs run (on either worker).
    sim = dask_provider.backend("local_simulator")
    bell = _bell(dask_provider, "local_simulator")
    jobs = [SamplerV2(sim).run([bell], shots=100) for _ in range(2)]
    for later in jobs:
        assert wait_final(dask_provider, later.job_id(), timeout=120)["status"] == "Completed"
