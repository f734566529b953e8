"""Fairness of the local service: round robin across instances, a queue limit per instance
(429 with Retry-After and the API's error body) and a cap on any job's execution time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from qiskit_rest_provider import QiskitRestProvider
from qiskit_rest_provider.server import LocalRuntimeServer

from .service_helpers import auth_headers, running_server, wait_final

pytestmark = [pytest.mark.slow, pytest.mark.service]

SMALL = 'OPENQASM 3.0; include "stdgates.inc"; bit[1] c; x $0; c[0] = measure $0;'
LIMIT = 5
MAX_SECONDS = 2.0


@pytest.fixture(scope="module")
def fair_server() -> Iterator[LocalRuntimeServer]:
    with running_server(
        workers=1, max_queued_per_instance=LIMIT, max_execution_seconds=MAX_SECONDS
    ) as server:
        yield server


def _tenant(server: LocalRuntimeServer, name: str) -> QiskitRestProvider:
    instance = f"crn:v1:bluemix:public:quantum-computing:us-east:a/{name}:{name}::"
    key = f"{name}-key-0123456789abcdef"
    server.service.add_api_key(key, [instance], f"{name}-user")
    return QiskitRestProvider(token=key, instance=instance, url=server.url, iam_url=server.iam_url)


def _small_job(provider: QiskitRestProvider) -> str:
    body = {
        "program_id": "sampler",
        "backend": "local_simulator",
        "params": {"pubs": [[SMALL, None, 10]], "version": 2},
    }
    return str(provider.client.create_job(body)["id"])


def _wait(provider: QiskitRestProvider, job_id: str) -> dict[str, Any]:
    """Jobs here may queue behind other tenants' jobs: allow two minutes."""
    return wait_final(provider, job_id, timeout=120)


def _long_job(provider: QiskitRestProvider) -> str:
    """A job that would run for minutes: a mid-circuit measurement on 20 qubits makes Aer
    simulate each of the 1,000,000 shots separately."""
    qasm = (
        'OPENQASM 3.0; include "stdgates.inc"; bit[2] c; '
        + " ".join(f"h ${i};" for i in range(20))
        + " c[0] = measure $0; h $0; c[1] = measure $0;"
    )
    body = {
        "program_id": "sampler",
        "backend": "local_simulator",
        "params": {"pubs": [[qasm, None, 1_000_000]], "version": 2},
    }
    return str(provider.client.create_job(body)["id"])


def test_round_robin_queue_limit_and_execution_cap(fair_server: LocalRuntimeServer) -> None:
    a = fair_server.provider()
    b, c = _tenant(fair_server, "tenant-b"), _tenant(fair_server, "tenant-c")
    try:
        _wait(a, _small_job(a))  # the worker process is up before the clock matters
        long_job = _long_job(a)
        while a.client.get_job(long_job)["status"] == "Queued":
            time.sleep(0.02)
        # While the long job holds the only worker, three instances queue jobs: A first (its
        # backlog), then B and C.
        a_jobs = [_small_job(a) for _ in range(3)]
        b_jobs = [_small_job(b) for _ in range(2)]
        c_jobs = [_small_job(c)]
        a_jobs.append(_small_job(a))  # A's fifth queued-or-running job: the limit

        # The sixth is refused with 429, the API's error body and a Retry-After; the other
        # instances are not limited by A's queue.
        headers = auth_headers(fair_server)
        refused = requests.post(
            f"{fair_server.url}/api/v1/jobs",
            json={
                "program_id": "sampler",
                "backend": "local_simulator",
                "params": {"pubs": [[SMALL, None, 10]], "version": 2},
            },
            headers=headers,
            timeout=10,
        )
        assert refused.status_code == 429, refused.text
        error = refused.json()["errors"][0]
        assert error["code"] == "queue_limit_reached" and f"is {LIMIT}" in error["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        b_jobs.append(_small_job(b))  # B has 2 of its own 5: accepted

        # The long job is stopped at the service's cap (its cost allowed 3 hours).
        stopped = _wait(a, long_job)
        assert stopped["status"] == "Cancelled"
        assert stopped["state"]["reason_code"] == 1305
        assert "service's maximum execution time" in stopped["state"]["reason"]

        started: dict[str, str] = {}
        for provider, jobs in ((a, a_jobs), (b, b_jobs), (c, c_jobs)):
            for job_id in jobs:
                assert _wait(provider, job_id)["status"] == "Completed"
                started[job_id] = provider.client.job_metrics(job_id)["timestamps"]["running"]
        order = sorted(started, key=started.__getitem__)
        # Round robin, least recently served instance first: B and C (never served) before
        # A's backlog, then alternating while several instances have jobs queued.
        expected = [b_jobs[0], c_jobs[0], a_jobs[0], b_jobs[1], a_jobs[1], b_jobs[2], a_jobs[2]]
        assert order[: len(expected)] == expected
        assert order[len(expected) :] == [a_jobs[3]]
    finally:
        for provider in (a, b, c):
            provider.close()
