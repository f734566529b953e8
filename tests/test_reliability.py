"""Reliability under injected faults: retries, exactly-once submission, and a soak run.

The local service's fault proxy (``FaultConfig``) answers error statuses, resets connections
before and after the service processed a request, fails IAM, and adds latency — seeded, so a
failing run replays exactly.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import (
    Batch,
    EstimatorV2,
    QiskitRestProvider,
    SamplerV2,
    Session,
)
from qiskit_rest_provider.api import NotFoundError, ServerError
from qiskit_rest_provider.api.transport import RetryPolicy, Timeouts
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.faults import FaultConfig

FAST_RETRY = RetryPolicy(max_attempts=8, backoff_base=0.02, backoff_max=0.3, deadline=30)


def _server(config: FaultConfig, **kwargs: Any) -> LocalRuntimeServer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LocalRuntimeServer(faults=config, **kwargs).start()


@pytest.fixture()
def faulty() -> Iterator[LocalRuntimeServer]:
    server = _server(FaultConfig.uniform(0.2, seed=42))
    try:
        yield server
    finally:
        server.stop()


def _upstream(server: LocalRuntimeServer) -> QiskitRestProvider:
    """A provider that bypasses the fault proxy, to inspect the service's true state."""
    return QiskitRestProvider(
        token=server.api_key,
        instance=server.instance,
        url=server.upstream_url,
        iam_url=server.upstream_url,
    )


def _bell(backend: Any) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return generate_preset_pass_manager(optimization_level=1, backend=backend).run(qc)


def test_error_statuses_are_retried_and_exhaustion_names_the_operation() -> None:
    config = FaultConfig(seed=1, error_rate=1.0, error_statuses=(503,), paths=("/backends",))
    server = _server(config)
    try:
        with server.provider(retry=RetryPolicy(max_attempts=3, backoff_base=0.01)) as provider:
            with pytest.raises(ServerError) as info:
                provider.backends()
            error = info.value
            assert error.status_code == 503 and error.code == "injected_fault"
            assert error.trace_id and error.trace_id.startswith("fault-")
            assert "GET /v1/backends" in str(error)
            assert provider.transport.stats["retries"] == 2
    finally:
        server.stop()


def test_rate_limits_honour_retry_after() -> None:
    config = FaultConfig(seed=3, error_rate=0.5, error_statuses=(429,), retry_after=0.05)
    server = _server(config)
    try:
        with server.provider(retry=FAST_RETRY) as provider:
            for _ in range(10):
                assert provider.backends()
            assert provider.transport.stats["retries"] >= 3
        counts = server.fault_counts
        assert counts.get("status_429_retry_after", 0) and counts.get("status_429", 0)
    finally:
        server.stop()


def test_ambiguous_submissions_never_duplicate_jobs() -> None:
    # Half of all job submissions are processed by the service but their response is lost.
    config = FaultConfig(seed=7, reset_after_rate=0.5, paths=("/v1/jobs",), methods=("POST",))
    server = _server(config)
    try:
        with server.provider(retry=FAST_RETRY) as provider:
            backend = provider.backend("local_falcon")
            sampler = SamplerV2(backend)
            sampler.options.environment.job_tags = ["exactly-once"]
            circuit = _bell(backend)
            jobs = [sampler.run([circuit], shots=50) for _ in range(12)]
            provider.wait_for_jobs(jobs, timeout=120)
        assert server.fault_counts.get("reset_after:POST", 0) >= 3
        with _upstream(server) as clean:
            stored = list(clean.jobs(limit=None, job_tags=["exactly-once"]))
        assert sorted(j.job_id() for j in stored) == sorted(j.job_id() for j in jobs)
    finally:
        server.stop()


def test_delete_whose_response_was_lost_is_not_reported_as_missing() -> None:
    # Half of the deletions are carried out but their response is lost: the retry then gets a
    # 404, which means the earlier attempt deleted the job; only a real 404 is an error.
    config = FaultConfig(seed=11, reset_after_rate=0.5, paths=("/v1/jobs",), methods=("DELETE",))
    server = _server(config)
    try:
        with server.provider(retry=FAST_RETRY) as provider:
            backend = provider.backend("local_falcon")
            jobs = [SamplerV2(backend).run([_bell(backend)], shots=20) for _ in range(8)]
            provider.wait_for_jobs(jobs, timeout=120)
            for job in jobs:
                provider.delete_job(job.job_id())
            assert server.fault_counts.get("reset_after:DELETE", 0) >= 2
        with _upstream(server) as clean:
            assert list(clean.jobs(limit=None)) == []
            with pytest.raises(NotFoundError):  # without a lost response, 404 is an error
                clean.delete_job(jobs[0].job_id())
    finally:
        server.stop()


def test_fault_decisions_replay_whatever_unrelated_traffic_ran() -> None:
    # Seeded decisions for the faulted requests do not depend on how often the client polled.
    from qiskit_rest_provider.server.faults import _Decider

    config = FaultConfig(seed=11, reset_after_rate=0.5, paths=("/v1/jobs",), methods=("DELETE",))
    quiet, busy = _Decider(config), _Decider(config)
    expected = [quiet.decide("DELETE", "/api/v1/jobs/a")[0] for _ in range(20)]
    seen = []
    for i in range(20):
        for _ in range(i % 4):
            assert busy.decide("GET", "/api/v1/jobs/a")[0] == "forward"
        seen.append(busy.decide("DELETE", "/api/v1/jobs/a")[0])
    assert seen == expected and "reset_after" in seen and "forward" in seen


def test_iam_failures_and_short_tokens_are_survived() -> None:
    config = FaultConfig(seed=5, iam_failure_rate=0.5)
    server = _server(config, token_lifetime=2)
    try:
        with server.provider(retry=FAST_RETRY) as provider:
            for _ in range(6):
                assert provider.backends()
                time.sleep(0.4)
            requests_made = provider.transport.authenticator.token_requests  # type: ignore[attr-defined]
            assert requests_made >= 2  # tokens expired and were refreshed
        assert sum(v for k, v in server.fault_counts.items() if k.startswith("iam_")) >= 1
    finally:
        server.stop()


def test_soak_mixed_jobs_under_ten_percent_faults() -> None:
    """200+ sampler and estimator jobs in sessions, batches and alone, from four threads, with
    about 10% of all requests faulted: every result correct, nothing lost or duplicated."""
    config = FaultConfig.uniform(0.10, seed=2026)
    server = _server(config, workers=2)
    threads, per_thread = 4, 52
    latencies: dict[str, list[float]] = {"submit": [], "status": []}
    results: list[tuple[str, Any]] = []
    errors: list[BaseException] = []
    retries: list[int] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        try:
            provider = server.provider(retry=FAST_RETRY, timeouts=Timeouts(5, 30))
            backend = provider.backend("local_falcon")
            bell = _bell(backend)
            ghz_free = generate_preset_pass_manager(optimization_level=1, backend=backend).run(
                _unmeasured_bell()
            )
            zz = SparsePauliOp("ZZ").apply_layout(ghz_free.layout)
            for k in range(per_thread):
                kind = (index + k) % 3
                mode: Any = backend
                if kind == 1:
                    mode = Session(backend)
                elif kind == 2:
                    mode = Batch(backend)
                sampler = SamplerV2(mode)
                estimator = EstimatorV2(mode, options={"resilience_level": 0})
                for primitive in (sampler, estimator):
                    primitive.options.environment.job_tags = ["soak"]
                start = time.perf_counter()
                if k % 2:
                    job = sampler.run([bell], shots=200)
                    label = "sampler"
                else:
                    job = estimator.run([(ghz_free, zz)], precision=0.05)
                    label = "estimator"
                submitted = time.perf_counter()
                job.status()
                polled = time.perf_counter()
                value = job.result(timeout=120)
                if isinstance(mode, Session):
                    mode.close()
                with lock:
                    latencies["submit"].append(submitted - start)
                    latencies["status"].append(polled - submitted)
                    results.append((label, value))
            with lock:
                retries.append(provider.transport.stats["retries"])
            provider.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=600)
        elapsed = time.perf_counter() - started
        assert not any(w.is_alive() for w in workers), "a client hung"
        assert not errors, errors[0]
        assert len(results) == threads * per_thread
        for label, value in results:
            if label == "sampler":
                counts = value[0].data.meas.get_counts()
                assert counts.get("00", 0) + counts.get("11", 0) > 170
            else:
                assert float(value[0].data.evs) > 0.8  # <ZZ> of a Bell state is 1
        with _upstream(server) as clean:
            stored = list(clean.jobs(limit=None, job_tags=["soak"]))
        duplicates = len(stored) - len({j.job_id() for j in stored})
        lost = threads * per_thread - len(stored)
        faults = {k: v for k, v in server.fault_counts.items() if k != "requests"}
        report = {
            "jobs": threads * per_thread,
            "stored": len(stored),
            "duplicates": duplicates,
            "lost": lost,
            "requests_seen": server.fault_counts.get("requests"),
            "faults": faults,
            "client_retries": sum(retries),
            "elapsed_s": round(elapsed, 1),
            "submit_p50_ms": round(1e3 * statistics.median(latencies["submit"]), 1),
            "submit_p99_ms": round(1e3 * float(np.percentile(latencies["submit"], 99)), 1),
            "status_p50_ms": round(1e3 * statistics.median(latencies["status"]), 1),
            "status_p99_ms": round(1e3 * float(np.percentile(latencies["status"], 99)), 1),
        }
        print("soak report:", json.dumps(report))
        assert duplicates == 0 and lost == 0 and len(stored) == threads * per_thread
        assert sum(faults.values()) >= 0.05 * report["requests_seen"]
    finally:
        server.stop()


def _unmeasured_bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    return qc
