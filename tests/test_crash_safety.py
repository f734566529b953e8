"""Crash safety: the service process is killed (SIGKILL) with jobs completed, running and
queued, then restarted on the same database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import QiskitRestProvider, SamplerV2

from .serve_process import start_serve

pytestmark = [pytest.mark.slow, pytest.mark.service]

API_KEY = "crash-test-key-0123456789"
INSTANCE = "crn:v1:bluemix:public:quantum-computing:us-east:a/crashtest:0000::"


def _serve(db: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    # one worker: the heavy job holds it, so the jobs after it stay queued until the kill
    return start_serve(
        "--db", str(db), "--api-key", API_KEY, "--instance", INSTANCE, "--workers", "1"
    )


def _provider(info: dict[str, Any]) -> QiskitRestProvider:
    return QiskitRestProvider(
        token=API_KEY, instance=INSTANCE, url=info["url"], iam_url=info["iam_url"]
    )


def _wait(job: Any, status: JobStatus, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while job.status() is not status:
        assert time.monotonic() < deadline, f"{job.job_id()} never became {status.name}"
        time.sleep(0.05)


def test_sigkill_and_restart_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runtime.db"
    proc, info = _serve(db)
    try:
        provider = _provider(info)
        backend = provider.backend("local_heron")
        bell = QuantumCircuit(2)
        bell.h(0)
        bell.cx(0, 1)
        bell.measure_all()
        pm = generate_preset_pass_manager(optimization_level=2, backend=backend)
        circuit = pm.run(bell)
        sampler = SamplerV2(backend)
        done = sampler.run([circuit], shots=300)
        counts = done.result(timeout=60)[0].data.meas.get_counts()
        heavy = sampler.run([circuit] * 60, shots=100_000)
        _wait(heavy, JobStatus.RUNNING)
        queued = [sampler.run([circuit], shots=100) for _ in range(3)]
        assert all(j.status() is JobStatus.QUEUED for j in queued)
        provider.close()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    proc, info = _serve(db)
    try:
        with _provider(info) as provider:
            again = provider.job(done.job_id())
            assert again.result()[0].data.meas.get_counts() == counts
            crashed = provider.job(heavy.job_id())
            assert crashed.status() is JobStatus.ERROR and crashed.reason_code == 1520
            assert "submit it again" in (crashed.error_message() or "")
            for job in queued:
                finished = provider.job(job.job_id())
                assert finished.result(timeout=120)[0].data.meas.num_shots == 100
            listed = {j.job_id() for j in provider.jobs(limit=None)}
            assert listed == {done.job_id(), heavy.job_id(), *(j.job_id() for j in queued)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored_keys = [row[0] for row in conn.execute("SELECT key_hash FROM api_keys")]
    assert stored_keys and API_KEY not in stored_keys  # keys are stored hashed
    assert API_KEY.encode() not in db.read_bytes()
