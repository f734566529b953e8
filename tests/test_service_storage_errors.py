"""Storage failures of the local service: a full database fails one request (507 with the
API's error body) or holds one job's final state, never the queue; work resumes once writes
succeed, and a final state that cannot be written is neither lost silently nor left Running.

The database is filled for real: SQLite's ``max_page_count`` caps the file (through
``Store.set_size_limit``), and writes beyond it fail with SQLITE_FULL, as on a full disk.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from qiskit_rest_provider import QiskitRestProvider
from qiskit_rest_provider.core.codec.results import decode_result
from qiskit_rest_provider.server import LocalRuntimeServer

from .service_helpers import auth_headers

pytestmark = [pytest.mark.slow, pytest.mark.service]

COIN = 'OPENQASM 3.0; include "stdgates.inc"; bit[1] c; h $0; c[0] = measure $0;'
ONE = 'OPENQASM 3.0; include "stdgates.inc"; bit[1] c; x $0; c[0] = measure $0;'
#: Random outcomes of 400,000 shots: a result of about 85 KB, far more than the headroom.
BIG_SHOTS = 400_000
HEADROOM_PAGES = 4


@pytest.fixture()
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _body(qasm: str, shots: int) -> dict[str, Any]:
    return {
        "program_id": "sampler",
        "backend": "local_simulator",
        "params": {"pubs": [[qasm, None, shots]], "version": 2},
    }


def _status(provider: QiskitRestProvider, job_id: str) -> str:
    return str(provider.client.get_job(job_id)["status"])


def _until(predicate: Any, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _wait_final(provider: QiskitRestProvider, job_id: str) -> dict[str, Any]:
    _until(
        lambda: _status(provider, job_id) in ("Completed", "Failed", "Cancelled"),
        what=f"job {job_id}",
    )
    return provider.client.get_job(job_id)


def _fill(server: LocalRuntimeServer) -> None:
    """Cap the database a few pages above its current size."""
    store = server.service.store
    current = store.set_size_limit(0)  # the cap never goes below the current size
    store.set_size_limit(current + HEADROOM_PAGES * 4096)


def _finished_but_unwritten(server: LocalRuntimeServer, provider: QiskitRestProvider) -> str:
    """Submit a job whose result cannot be written, and wait until it has run."""
    job_id = str(provider.client.create_job(_body(COIN, BIG_SHOTS))["id"])
    _until(lambda: job_id in server.service.pending_writes, what="the result write to fail")
    return job_id


def test_a_full_database_fails_requests_not_the_queue(tmp_path: Path, quiet: None) -> None:
    with LocalRuntimeServer(db=tmp_path / "full.db", workers=0) as server:
        provider = server.provider()
        headers = auth_headers(server, timeout=30)
        warm = provider.client.create_job(_body(ONE, 10))["id"]
        assert _wait_final(provider, warm)["status"] == "Completed"
        _fill(server)

        big = _finished_but_unwritten(server, provider)
        assert _status(provider, big) == "Running"  # not lost: written once space returns
        # Jobs submitted meanwhile are stored but wait: nothing new starts while a finished
        # job's result is held in memory.
        queued = [str(provider.client.create_job(_body(ONE, 20))["id"])]
        # Submit until the database is full: that request, and only it, fails with 507.
        refused = None
        for _ in range(200):
            response = requests.post(
                f"{server.url}/api/v1/jobs", json=_body(ONE, 20), headers=headers, timeout=30
            )
            if response.status_code != 200:
                refused = response
                break
            queued.append(response.json()["id"])
        assert refused is not None and refused.status_code == 507, refused and refused.text
        error = refused.json()["errors"][0]
        assert error["code"] == "storage_full" and "Retry later" in error["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Reads still work; the service answers promptly.
        versions = requests.get(f"{server.url}/api/v1/versions", timeout=3)
        assert versions.status_code == 200
        assert {_status(provider, j) for j in queued} == {"Queued"}
        assert _status(provider, big) == "Running"

        server.service.store.set_size_limit(None)  # space returns
        document = _wait_final(provider, big)
        assert document["status"] == "Completed"
        result = decode_result(provider.client.job_results(big) or b"")
        assert result[0].data.c.num_shots == BIG_SHOTS
        for job_id in queued:
            assert _wait_final(provider, job_id)["status"] == "Completed"
            counts = decode_result(provider.client.job_results(job_id) or b"")[0].data.c
            assert counts.get_counts() == {"1": 20}
        assert "job completed" in provider.client.job_logs(big)
        later = provider.client.create_job(_body(ONE, 5))["id"]
        assert _wait_final(provider, later)["status"] == "Completed"
        assert server.service.responses["5xx"] == 1  # the 507 above, nothing else
        provider.close()


def test_a_result_that_never_fits_fails_its_job_only(tmp_path: Path, quiet: None) -> None:
    with LocalRuntimeServer(db=tmp_path / "tight.db", workers=0) as server:
        server.service.result_write_patience = 0.5
        provider = server.provider()
        _fill(server)
        big = _finished_but_unwritten(server, provider)
        # The storage never gets room for the result: after the patience, the job fails with
        # a reason that says why (a small write that fits), and the queue moves on.
        document = _wait_final(provider, big)
        assert document["status"] == "Failed"
        assert "result could not be stored" in document["state"]["reason"]
        assert provider.client.job_results(big) is None
        after = provider.client.create_job(_body(ONE, 5))["id"]
        assert _wait_final(provider, after)["status"] == "Completed"
        provider.close()


def test_a_restart_fails_a_job_whose_result_was_never_written(tmp_path: Path, quiet: None) -> None:
    db = tmp_path / "restart.db"
    with LocalRuntimeServer(db=db, workers=0) as server:
        instance = server.instance
        provider = server.provider()
        _fill(server)
        big = _finished_but_unwritten(server, provider)
        assert _status(provider, big) == "Running"
        provider.close()
    with LocalRuntimeServer(db=db, workers=0, instance=instance) as again:
        provider = again.provider()
        document = provider.client.get_job(big)
        assert document["status"] == "Failed" and document["state"]["reason_code"] == 1520
        assert "submit it again" in document["state"]["reason"]
        provider.close()
