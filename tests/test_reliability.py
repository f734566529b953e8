"""Reliability under injected faults: retries, exactly-once submission, and a soak run.

The local service's fault proxy (``FaultConfig``) answers error statuses, resets connections
before and after the service processed a request, cuts them while the service is still
processing one, fails IAM, and adds latency — seeded, so a failing run replays exactly.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

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
from qiskit_rest_provider.api import (
    BadRequestError,
    ConflictError,
    IAMAuthenticator,
    NotFoundError,
    RuntimeRestClient,
    ServerError,
    Transport,
)
from qiskit_rest_provider.api.submission import submit_job
from qiskit_rest_provider.api.transport import RetryPolicy, Timeouts
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.testing import FaultyRuntimeServer
from qiskit_rest_provider.testing.faults import FaultConfig, _Decider
from qiskit_rest_provider.wire.constants import SUBMISSION_TAG_PREFIX

from .scripted_server import ScriptedServer

FAST_RETRY = RetryPolicy(max_attempts=8, backoff_base=0.02, backoff_max=0.3, deadline=30)


def _server(config: FaultConfig, **kwargs: Any) -> FaultyRuntimeServer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FaultyRuntimeServer(faults=config, **kwargs).start()


@pytest.fixture()
def faulty() -> Iterator[FaultyRuntimeServer]:
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


@pytest.mark.service
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


@pytest.mark.slow
@pytest.mark.service
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


@pytest.mark.slow
@pytest.mark.service
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


@pytest.mark.slow
@pytest.mark.service
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
    config = FaultConfig(seed=11, reset_after_rate=0.5, paths=("/v1/jobs",), methods=("DELETE",))
    quiet, busy = _Decider(config), _Decider(config)
    expected = [quiet.decide("DELETE", "/api/v1/jobs/a")[0] for _ in range(20)]
    seen = []
    for i in range(20):
        for _ in range(i % 4):
            assert busy.decide("GET", "/api/v1/jobs/a")[0] == "forward"
        seen.append(busy.decide("DELETE", "/api/v1/jobs/a")[0])
    assert seen == expected and "reset_after" in seen and "forward" in seen


@pytest.mark.slow
@pytest.mark.service
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


@pytest.mark.slow
@pytest.mark.service
def test_soak_mixed_jobs_under_ten_percent_faults() -> None:
    """200+ sampler and estimator jobs in sessions, batches and alone, from four threads, with
    about 10% of all requests faulted: every result correct, nothing lost or duplicated."""
    # On top of uniform faults everywhere, a tenth of the job submissions are cut right after
    # they were forwarded, while the service is still creating the job.
    config = FaultConfig.uniform(
        0.10,
        seed=2026,
        reset_after_forward_rate=0.10,
        reset_after_forward_paths=("/v1/jobs",),
        reset_after_forward_methods=("POST",),
    )
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
        assert faults.get("reset_after_forward:POST", 0) >= 5
    finally:
        server.stop()


def _unmeasured_bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    return qc


# Exactly-once submission when the service is slow ------------------------------------------------


def _slow_params(tail: str = "", layers: int = 30000) -> dict[str, Any]:
    """Sampler params for local_heron whose circuit (120,000 instructions on two qubits) takes
    the service a second or more to validate; ``tail`` is appended before the measurements."""
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', "bit[2] meas;"]
    for _ in range(layers):
        lines += ["sx $0;", "rz(0.1) $0;", "sx $1;", "rz(0.1) $1;"]
    lines += [tail, "meas[0] = measure $0;", "meas[1] = measure $1;"]
    return {"pubs": [["\n".join(lines) + "\n", None, 10]], "version": 2}


def _jobs_tagged(server: LocalRuntimeServer, tag: str) -> list[dict[str, Any]]:
    """The instance's jobs carrying ``tag``, read past the fault proxy; each is cancelled so
    that the workers do not spend the test simulating large circuits."""
    with _upstream(server) as clean:
        jobs: list[dict[str, Any]] = clean.client.list_jobs(limit=200, tags=[tag])["jobs"]
        for job in jobs:
            with contextlib.suppress(ConflictError):
                clean.client.cancel_job(job["id"])
    return jobs


def _direct_provider(server: LocalRuntimeServer) -> QiskitRestProvider:
    """API calls through the fault proxy, IAM past it: only API requests meet the faults."""
    return QiskitRestProvider(
        token=server.api_key,
        instance=server.instance,
        url=server.url,
        iam_url=server.upstream_url,
    )


def test_fault_proxy_cuts_after_forwarding_only_where_selected() -> None:
    base = FaultConfig.uniform(0.3, seed=9)
    cut = FaultConfig.uniform(
        0.3,
        seed=9,
        reset_after_forward_rate=0.4,
        reset_after_forward_delay=0.3,
        reset_after_forward_paths=("/v1/jobs",),
        reset_after_forward_methods=("post",),
    )
    plain, cutting = _Decider(base), _Decider(cut)
    for i in range(200):
        path = f"/api/v1/jobs/j{i}"
        # Requests outside the cut's filter see exactly the decisions they saw without it.
        assert cutting.decide("GET", path) == plain.decide("GET", path)
    actions = [cutting.decide("POST", "/api/v1/jobs")[0] for _ in range(400)]
    assert actions.count("reset_after_forward") == cutting.counts["reset_after_forward:POST"]
    assert 100 <= actions.count("reset_after_forward") <= 220  # 0.4 of all rolls
    assert {"error", "reset_before", "reset_after", "forward"} <= set(actions)
    assert all(
        cutting.decide("DELETE", "/api/v1/jobs/x")[0] != "reset_after_forward" for _ in range(50)
    )
    with pytest.raises(ValueError):
        FaultConfig(error_rate=0.5, reset_after_forward_rate=0.6)
    with pytest.raises(ValueError):
        FaultConfig(reset_after_forward_rate=0.1, reset_after_forward_delay=-1)


@pytest.mark.slow
@pytest.mark.service
def test_slow_job_cut_after_forwarding_then_reposted_is_created_once() -> None:
    """The issue's scenario with a client that posts again after one empty look-up: the gateway
    forwards the submission of a large job and resets the client 0.3 s later, while the service
    is still validating it; the re-post carries the same submission tag and is answered with the
    first job instead of creating a second."""
    # Seed 1 cuts the first job submission and forwards the second (only POST /v1/jobs draws).
    config = FaultConfig(
        seed=1,
        reset_after_forward_rate=0.5,
        reset_after_forward_delay=0.3,
        paths=("/v1/jobs",),
        methods=("POST",),
    )
    server = _server(config)
    tag = f"slow-{uuid.uuid4().hex[:12]}"
    try:
        with _direct_provider(server) as provider:
            body = {
                "program_id": "sampler",
                "backend": "local_heron",
                "params": _slow_params(),
                "tags": [tag],
            }
            created = submit_job(provider.client, body, lookup_delays=(0.0,), backoff=0.1)
        assert server.fault_counts.get("reset_after_forward:POST") == 1
        stored = _jobs_tagged(server, tag)
        assert [j["id"] for j in stored] == [created["id"]]
        # The second post was answered with the first job: the look-up had found nothing.
        with _upstream(server) as clean:
            assert "repeated submission" in clean.client.job_logs(created["id"])
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.service
def test_slow_job_cut_after_forwarding_through_the_provider_is_created_once() -> None:
    """The same with the provider's default client and every submission cut 0.3 s after it was
    forwarded: the look-up window covers the validation, re-posts are deduplicated, and exactly
    one job exists afterwards."""
    config = FaultConfig(
        reset_after_forward_rate=1.0,
        reset_after_forward_delay=0.3,
        paths=("/v1/jobs",),
        methods=("POST",),
    )
    server = _server(config)
    tag = f"slow-{uuid.uuid4().hex[:12]}"
    try:
        with _direct_provider(server) as provider:
            job = provider.run("sampler", _slow_params(), "local_heron", tags=[tag])
        assert server.fault_counts.get("reset_after_forward:POST", 0) >= 1
        assert [j["id"] for j in _jobs_tagged(server, tag)] == [job.job_id()]
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.service
def test_service_deduplicates_submissions_on_the_submission_tag() -> None:
    server = LocalRuntimeServer().start()
    other_key = f"other-{uuid.uuid4().hex}"
    other_instance = (
        "crn:v1:bluemix:public:quantum-computing:us-east:a/local0000000000000000000000000000"
        f":{uuid.uuid4()}::"
    )
    server.service.add_api_key(other_key, [other_instance])
    submission_tag = f"{SUBMISSION_TAG_PREFIX}{uuid.uuid4().hex[:24]}"
    body = {
        "program_id": "sampler",
        "backend": "local_heron",
        "params": _slow_params(),
        "tags": ["dedupe", submission_tag],
    }
    try:
        with server.provider() as provider:
            provider.client.list_jobs(limit=1)  # a token, so both posts leave at once
            start = threading.Barrier(2)
            answers: list[Any] = [None, None]

            def post(i: int) -> None:
                start.wait()
                try:
                    answers[i] = provider.client.create_job(body)
                except BaseException as exc:  # reported below
                    answers[i] = exc

            posts = [threading.Thread(target=post, args=(i,)) for i in range(2)]
            for t in posts:
                t.start()
            for t in posts:
                t.join(timeout=120)
            assert all(isinstance(a, dict) for a in answers), answers
            assert answers[0] == answers[1]  # same id, same response: one job
            first = answers[0]["id"]
            # Later, the same tag on the same instance still answers the first job.
            assert provider.client.create_job(body)["id"] == first
            # The tag is the first job's: reusing it for a different job is refused.
            falcon = {**body, "backend": "local_falcon"}
            with pytest.raises(ConflictError) as info:
                provider.client.create_job(falcon)
            assert info.value.code == "submission_tag_reused"
            stored = provider.client.list_jobs(limit=200, tags=[submission_tag])["jobs"]
            assert [j["id"] for j in stored] == [first]
        # Another instance with the same tag gets its own job.
        with QiskitRestProvider(
            token=other_key, instance=other_instance, url=server.url, iam_url=server.url
        ) as other:
            second = other.client.create_job(body)["id"]
            assert second != first
            assert [j["id"] for j in other.client.list_jobs(tags=[submission_tag])["jobs"]] == [
                second
            ]
            other.client.cancel_job(second)
        _jobs_tagged(server, submission_tag)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.service
def test_submission_tag_outlives_a_restart_but_not_the_window_or_a_tag_change(
    tmp_path: Path,
) -> None:
    options: dict[str, Any] = {
        "db": tmp_path / "runtime.db",
        "api_key": f"restart-{uuid.uuid4().hex}",
        "instance": (
            "crn:v1:bluemix:public:quantum-computing:us-east:a/local0000000000000000000000000000"
            f":{uuid.uuid4()}::"
        ),
    }
    submission_tag = f"{SUBMISSION_TAG_PREFIX}{uuid.uuid4().hex[:24]}"
    body = {
        "program_id": "sampler",
        "backend": "local_heron",
        "params": _slow_params(layers=1),
        "tags": [submission_tag],
    }
    server = LocalRuntimeServer(**options).start()
    try:
        with server.provider() as provider:
            first = provider.client.create_job(body)["id"]
    finally:
        server.stop()
    server = LocalRuntimeServer(**options).start()
    try:
        with server.provider() as provider:
            client = provider.client
            assert client.create_job(body)["id"] == first  # the store remembers the tag
            # Once the tag is gone from the job, the tag names no job: a new one is created
            # (under another id derived from the tag), and found again from then on.
            client.update_job_tags(first, ["renamed"])
            second = client.create_job(body)["id"]
            assert second != first and client.create_job(body)["id"] == second
            # A job older than the window does not count either.
            old = "2000-01-01T00:00:00.000Z"
            assert server.service.store.update_job(second, created=old)
            third = client.create_job(body)["id"]
            assert third not in (first, second) and client.create_job(body)["id"] == third
            stored = client.list_jobs(limit=200, tags=[submission_tag])["jobs"]
            assert sorted(j["id"] for j in stored) == sorted([second, third])
            for job_id in (first, second, third):
                with contextlib.suppress(ConflictError):
                    client.cancel_job(job_id)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.service
def test_a_repeated_submission_waits_and_proceeds_when_the_first_is_refused() -> None:
    # The first post is slow and fails validation at its very end (`h` is not in local_heron's
    # ISA). A small post with the same submission tag, sent meanwhile, waits for the first to be
    # answered (without the wait it would be answered first), then creates its own job. (The
    # order in which the two answers reach the client is not the evidence: the claim is released
    # just before the first refusal is written, so the second answer may overtake it on the
    # wire. The gate counts the waits.)
    server = LocalRuntimeServer().start()
    submission_tag = f"{SUBMISSION_TAG_PREFIX}{uuid.uuid4().hex[:24]}"

    def body(params: dict[str, Any]) -> dict[str, Any]:
        return {
            "program_id": "sampler",
            "backend": "local_heron",
            "params": params,
            "tags": [submission_tag],
        }

    try:
        with server.provider() as provider:
            provider.client.list_jobs(limit=1)  # a token, so the next POSTs are job posts
            answered: list[tuple[str, Any]] = []  # in the order the answers arrived

            def invalid() -> None:
                slow = body(_slow_params(tail="h $0;", layers=60000))  # seconds to validate
                answered.append(("invalid", _attempt(provider.client.create_job, slow)))

            first = threading.Thread(target=invalid)
            first.start()
            # The slow body is read and its key claimed; its validation takes seconds, and the
            # small post must arrive while that one is validated.
            _wait_for(lambda: server.service.submissions_in_progress() > 0)
            small = body(_slow_params(layers=1))
            answered.append(("valid", _attempt(provider.client.create_job, small)))
            first.join(timeout=120)
            assert server.service.submissions_waited() == 1
            outcomes = dict(answered)
            assert isinstance(outcomes["invalid"], BadRequestError), answered
            created = outcomes["valid"]
            assert isinstance(created, dict), answered
            assert [j["id"] for j in _jobs_tagged(server, submission_tag)] == [created["id"]]
    finally:
        server.stop()


def _attempt(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except Exception as exc:  # the test inspects it
        return exc


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


class _SlowNonDedupingService:
    """A stand-in for a service that does not deduplicate submissions: each POST /v1/jobs is
    accepted, its connection dropped, and the job appears ``processing`` seconds later on a
    simulated clock that the client's waits advance (so the test does not sleep)."""

    def __init__(self, server: ScriptedServer, processing: float) -> None:
        self.clock = 0.0
        self.jobs: list[dict[str, Any]] = []
        self.processing = processing
        server.script("POST", "/api/v1/jobs", *[self._create] * 20)
        server.script("GET", "/api/v1/jobs", *[self._list] * 100)

    def sleep(self, seconds: float) -> None:
        self.clock += seconds

    def _create(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        body = json.loads(request["body"])
        job = {"id": f"job{len(self.jobs)}", "backend": body["backend"], "tags": body["tags"]}
        self.jobs.append({**job, "visible_at": self.clock + self.processing})
        return -1, {}, b""  # the connection drops after the request was processed

    def _list(self, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        wanted = parse_qs(request["query"]).get("tags", [])
        jobs = [
            {k: v for k, v in j.items() if k != "visible_at"}
            for j in self.jobs
            if j["visible_at"] <= self.clock and all(t in j["tags"] for t in wanted)
        ]
        return 200, {}, json.dumps({"jobs": jobs, "count": len(jobs)}).encode()


@pytest.mark.parametrize("lookup_delays, jobs_created", [(None, 1), ((0.0, 0.5), 3)])
def test_lookup_window_covers_a_slow_service_that_does_not_deduplicate(
    lookup_delays: tuple[float, ...] | None, jobs_created: int
) -> None:
    """Against a service without deduplication that takes 2.5 s to create a job, the default
    look-up window (3.75 s) finds the job instead of posting again; the old window (0 and
    0.5 s) posts again twice before the first job appears and creates three jobs: the residual
    risk the module docstring states for services that do not deduplicate."""
    with ScriptedServer() as stand_in:
        service = _SlowNonDedupingService(stand_in, processing=2.5)
        transport = Transport(
            f"{stand_in.url}/api",
            IAMAuthenticator("key", iam_url=stand_in.url),
            service_crn="crn:v1:bluemix:public:quantum-computing:us-east:a/abc:def::",
            retry=RetryPolicy(backoff_base=0.01, backoff_max=0.05),
            sleep=service.sleep,
        )
        client = RuntimeRestClient(transport)
        body = {"program_id": "sampler", "backend": "b", "params": {}}
        extra = {} if lookup_delays is None else {"lookup_delays": lookup_delays}
        created = submit_job(client, body, sleep=service.sleep, **extra)
        assert len(service.jobs) == jobs_created
        assert created["id"] == "job0"
        assert stand_in.calls("POST", "/api/v1/jobs") == jobs_created


def test_submission_in_progress_is_asked_again_after_a_pause() -> None:
    # The local service answers 409 submission_in_progress when too many repeats of one
    # submission wait at once; the client pauses and posts the same tagged body again.
    with ScriptedServer() as stand_in:
        in_progress = {
            "errors": [{"code": "submission_in_progress", "message": "wait", "more_info": "u"}],
            "trace": "t",
        }
        created = {"id": "job0", "backend": "b"}
        stand_in.script(
            "POST",
            "/api/v1/jobs",
            (409, {}, json.dumps(in_progress).encode()),
            (200, {}, json.dumps(created).encode()),
        )
        pauses: list[float] = []
        transport = Transport(
            f"{stand_in.url}/api",
            IAMAuthenticator("key", iam_url=stand_in.url),
            service_crn="crn:v1:bluemix:public:quantum-computing:us-east:a/abc:def::",
            sleep=pauses.append,
        )
        body = {"program_id": "sampler", "backend": "b", "params": {}}
        assert submit_job(RuntimeRestClient(transport), body, sleep=pauses.append) == created
        posted = [json.loads(r["body"]) for r in stand_in.requests if r["path"] == "/api/v1/jobs"]
        assert len(posted) == 2 and posted[0] == posted[1]  # the same tag both times
        assert posted[0]["tags"][0].startswith(SUBMISSION_TAG_PREFIX)
        assert pauses == [0.5]
