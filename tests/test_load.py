"""Load: several clients submit and poll concurrently for a fixed time; no 5xx, no lost job;
p50/p99 latencies of submission and status are reported."""

from __future__ import annotations

import json
import statistics
import threading
import time

import numpy as np
import pytest
from qiskit import QuantumCircuit

from qiskit_rest_provider import SamplerV2
from qiskit_rest_provider.server import LocalRuntimeServer

pytestmark = [pytest.mark.slow, pytest.mark.service]

CLIENTS = 8
DURATION_S = 6.0


def test_concurrent_clients_for_a_fixed_time() -> None:
    server = LocalRuntimeServer(workers=2).start()
    submit: list[float] = []
    status: list[float] = []
    submitted: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    stop_at = time.monotonic() + DURATION_S

    def client(index: int) -> None:
        try:
            with server.provider() as provider:
                sampler = SamplerV2(provider.backend("local_simulator"))
                sampler.options.environment.job_tags = ["load"]
                while time.monotonic() < stop_at:
                    t0 = time.perf_counter()
                    job = sampler.run([circuit], shots=8)
                    t1 = time.perf_counter()
                    job.status()
                    t2 = time.perf_counter()
                    counts = job.result(timeout=120)[0].data.meas.get_counts()
                    assert counts == {"1": 8}
                    with lock:
                        submit.append(t1 - t0)
                        status.append(t2 - t1)
                        submitted.append(job.job_id())
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors[0]
        with server.provider() as provider:
            stored = {j.job_id() for j in provider.jobs(limit=None, job_tags=["load"])}
        assert stored == set(submitted)  # nothing lost, nothing extra
        assert server.service.responses.get("5xx", 0) == 0
        report = {
            "clients": CLIENTS,
            "jobs": len(submitted),
            "jobs_per_s": round(len(submitted) / DURATION_S, 1),
            "submit_p50_ms": round(1e3 * statistics.median(submit), 1),
            "submit_p99_ms": round(1e3 * float(np.percentile(submit, 99)), 1),
            "status_p50_ms": round(1e3 * statistics.median(status), 1),
            "status_p99_ms": round(1e3 * float(np.percentile(status, 99)), 1),
            "responses": dict(server.service.responses),
        }
        print("load report:", json.dumps(report))
    finally:
        server.stop()
