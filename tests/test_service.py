"""The local service over real HTTP, driven by our REST client and by raw requests."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import requests
from qiskit import QuantumCircuit, transpile

from qiskit_rest_provider.api import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
)
from qiskit_rest_provider.client.provider import QiskitRestProvider
from qiskit_rest_provider.core.codec.qasm3 import dumps_isa
from qiskit_rest_provider.core.codec.results import decode_result
from qiskit_rest_provider.server import LocalRuntimeServer

from .service_helpers import access_token, wait_final


def bell_qasm(provider: QiskitRestProvider, backend: str) -> str:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    target = provider.backend(backend).target
    return dumps_isa(transpile(qc, target=target, optimization_level=1, seed_transpiler=7))


@pytest.mark.service
def test_backends_listing_and_target(provider: QiskitRestProvider) -> None:
    names = {b.name for b in provider.backends()}
    assert {
        "local_heron",
        "local_eagle",
        "local_nighthawk",
        "local_falcon",
        "local_simulator",
    } <= names
    assert [b.name for b in provider.backends(simulator=True)] == ["local_simulator"]
    assert {b.name for b in provider.backends(min_num_qubits=127)} == {"local_heron", "local_eagle"}
    assert {b.name for b in provider.backends(dynamic_circuits=True)} >= {"local_heron"}
    heron = provider.backend("local_heron")
    assert heron.num_qubits == 156 and "cz" in heron.operation_names
    assert "rzz" not in heron.operation_names  # fractional gates need opting in
    assert "rzz" in provider.backend("local_heron", use_fractional_gates=True).operation_names
    assert heron.max_circuits is None  # as IBMBackend reports it; the limit is the config's
    assert heron.configuration().max_experiments == 300
    assert heron.configuration().max_shots == 100000
    assert heron.status().operational
    assert provider.backend("local_simulator").properties() is None


@pytest.mark.service
def test_properties_history(provider: QiskitRestProvider) -> None:
    import datetime as dt

    heron = provider.backend("local_heron")
    latest = heron.properties()
    old = heron.properties(datetime=dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc))
    assert latest is not None and old is not None
    assert old.last_update_date < latest.last_update_date
    assert (
        heron.target_history(dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)) is not heron.target
    )


@pytest.mark.service
def test_sampler_job_over_rest(provider: QiskitRestProvider) -> None:
    body = {
        "program_id": "sampler",
        "backend": "local_simulator",
        "params": {
            "pubs": [[bell_qasm(provider, "local_simulator"), None, 2000]],
            "options": {"simulator": {"seed_simulator": 5}},
            "version": 2,
        },
    }
    created = provider.client.create_job(body)
    assert created["backend"] == "local_simulator"
    doc = wait_final(provider, created["id"])
    assert doc["status"] == "Completed", doc
    result = decode_result(provider.client.job_results(created["id"]) or b"")
    counts = result[0].data.meas.get_counts()
    assert set(counts) == {"00", "11"} and abs(counts["00"] - 1000) < 150
    metrics = provider.client.job_metrics(created["id"])
    assert metrics["timestamps"]["finished"]
    assert "completed" in provider.client.job_logs(created["id"])


@pytest.mark.service
def test_noisy_device_shows_readout_errors(provider: QiskitRestProvider) -> None:
    body = {
        "program_id": "sampler",
        "backend": "local_eagle",
        "params": {"pubs": [[bell_qasm(provider, "local_eagle"), None, 4000]], "version": 2},
    }
    job_id = provider.client.create_job(body)["id"]
    assert wait_final(provider, job_id)["status"] == "Completed"
    counts = decode_result(provider.client.job_results(job_id) or b"")[0].data.meas.get_counts()
    errors = counts.get("01", 0) + counts.get("10", 0)
    assert 0 < errors < 800


@pytest.mark.service
def test_estimator_raw_rest_forms(provider: QiskitRestProvider) -> None:
    qasm = 'OPENQASM 3.0; include "stdgates.inc"; h $0; cx $0, $1;'
    body = {
        "program_id": "estimator",
        "backend": "local_simulator",
        "params": {
            "pubs": [[qasm, ["ZZ", "XX", "ZI"]]],
            "version": 2,
            "options": {"seed_estimator": 3, "default_precision": 0.01},
        },
    }
    job_id = provider.client.create_job(body)["id"]
    assert wait_final(provider, job_id)["status"] == "Completed"
    evs = decode_result(provider.client.job_results(job_id) or b"")[0].data.evs
    assert np.allclose(evs, [1.0, 1.0, 0.0], atol=0.05)


@pytest.mark.service
def test_rejected_jobs_get_400_naming_the_pub(provider: QiskitRestProvider) -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)  # cx is not in local_heron's ISA
    qasm = 'OPENQASM 3.0; include "stdgates.inc"; bit[2] c; h $0; cx $0, $1; c[0] = measure $0;'
    cases = [
        ({"pubs": [[qasm]], "version": 2}, "pub 0"),
        ({"pubs": [[qasm]], "version": 2, "bogus": 1}, "bogus"),
        ({"pubs": [["OPENQASM 3.0; rz(t) $0;"]], "version": 2}, "pub 0"),
    ]
    for params, needle in cases:
        with pytest.raises(BadRequestError) as info:
            provider.client.create_job(
                {"program_id": "sampler", "backend": "local_heron", "params": params}
            )
        assert needle in str(info.value)
    too_many = {"pubs": [[bell_qasm(provider, "local_heron"), None, 10**6]], "version": 2}
    with pytest.raises(BadRequestError, match="max_shots"):
        provider.client.create_job(
            {"program_id": "sampler", "backend": "local_heron", "params": too_many}
        )
    with pytest.raises(NotFoundError):
        provider.client.create_job(
            {"program_id": "sampler", "backend": "nope", "params": {"pubs": []}}
        )


@pytest.mark.service
def test_cancel_delete_tags_and_listing(provider: QiskitRestProvider) -> None:
    qasm = bell_qasm(provider, "local_simulator")
    body = {
        "program_id": "sampler",
        "backend": "local_simulator",
        "tags": ["listing-test"],
        "params": {"pubs": [[qasm, None, 100]], "version": 2},
    }
    ids = [provider.client.create_job(body)["id"] for _ in range(3)]
    for job_id in ids:
        wait_final(provider, job_id)
    page = provider.client.list_jobs(limit=2, tags=["listing-test"])
    assert page["count"] == 3 and len(page["jobs"]) == 2
    rest = provider.client.list_jobs(limit=2, offset=2, tags=["listing-test"])
    assert sorted(j["id"] for j in page["jobs"] + rest["jobs"]) == sorted(ids)
    provider.client.update_job_tags(ids[0], ["renamed"])
    assert provider.client.get_job(ids[0])["tags"] == ["renamed"]
    with pytest.raises(ConflictError):
        provider.client.cancel_job(ids[0])
    provider.client.delete_job(ids[0])
    with pytest.raises(NotFoundError):
        provider.client.get_job(ids[0])


@pytest.mark.service
def test_sessions_lifecycle(provider: QiskitRestProvider) -> None:
    session = provider.client.create_session(mode="dedicated", backend="local_falcon")
    assert session["state"] == "open" and session["accepting_jobs"]
    body = {
        "program_id": "sampler",
        "backend": "local_falcon",
        "session_id": session["id"],
        "params": {"pubs": [[bell_qasm(provider, "local_falcon"), None, 100]], "version": 2},
    }
    job_id = provider.client.create_job(body)["id"]
    wait_final(provider, job_id)
    assert provider.client.get_session(session["id"])["state"] in ("active", "closed", "inactive")
    provider.client.close_session(session["id"])
    with pytest.raises(BadRequestError):
        provider.client.create_job(body)
    assert provider.client.get_session(session["id"])["state"] == "closed"
    with pytest.raises(BadRequestError):
        provider.client.create_session(mode="dedicated", backend="local_simulator")


@pytest.mark.service
def test_auth_is_required_everywhere(server: LocalRuntimeServer) -> None:
    base = f"{server.url}/api/v1"
    assert requests.get(f"{base}/backends", timeout=10).status_code == 401
    headers = {"Authorization": f"Bearer {access_token(server)}"}
    foreign = "crn:v1:bluemix:public:quantum-computing:us-east:a/other:other::"
    assert (
        requests.get(
            f"{base}/backends", headers={**headers, "Service-CRN": foreign}, timeout=10
        ).status_code
        == 403
    )
    bad = requests.get(
        f"{base}/backends",
        headers={"Authorization": "Bearer x.y.z", "Service-CRN": server.instance},
        timeout=10,
    )
    assert bad.status_code == 401 and bad.json()["errors"][0]["message"]
    ok = requests.get(
        f"{server.url}/experimental/api/v1/backends",
        headers={**headers, "Service-CRN": server.instance},
        timeout=10,
    )
    assert ok.status_code == 200
    wrong = QiskitRestProvider(
        token="wrong-key", instance=server.instance, url=server.url, iam_url=server.iam_url
    )
    with pytest.raises(AuthenticationError):
        wrong.backends()
    assert requests.get(f"{server.url}/openapi.json", timeout=10).json()["paths"]


@pytest.mark.slow
@pytest.mark.service
def test_restart_keeps_jobs_and_results(tmp_path: Any) -> None:
    db = tmp_path / "service.db"
    with LocalRuntimeServer(db=db, api_key="restart-key", instance=None) as first:
        instance = first.instance
        prov = first.provider()
        qasm = 'OPENQASM 3.0; include "stdgates.inc"; bit[1] c; x $0; c[0] = measure $0;'
        job_id = prov.client.create_job(
            {
                "program_id": "sampler",
                "backend": "local_simulator",
                "params": {"pubs": [[qasm, None, 50]], "version": 2},
            }
        )["id"]
        wait_final(prov, job_id)
    with LocalRuntimeServer(db=db, api_key="restart-key", instance=instance) as second:
        prov = second.provider()
        assert prov.client.get_job(job_id)["status"] == "Completed"
        counts = decode_result(prov.client.job_results(job_id) or b"")[0].data.c.get_counts()
        assert counts == {"1": 50}


def test_non_loopback_bind_is_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LocalRuntimeServer(host="0.0.0.0")


@pytest.mark.service
@pytest.mark.official
def test_results_validate_against_schemas_and_official_decoder(
    provider: QiskitRestProvider,
) -> None:
    schemas = pytest.importorskip("ibm_quantum_schemas.sampler.version_0_1")
    from qiskit.primitives import PrimitiveResult
    from qiskit_ibm_runtime import RuntimeDecoder

    body = {
        "program_id": "sampler",
        "backend": "local_falcon",
        "params": {"pubs": [[bell_qasm(provider, "local_falcon"), None, 64]], "version": 2},
    }
    job_id = provider.client.create_job(body)["id"]
    wait_final(provider, job_id)
    text = provider.client.job_results(job_id) or b""
    schemas.PrimitiveResultWrapperModel.model_validate_json(text)
    assert isinstance(json.loads(text, cls=RuntimeDecoder), PrimitiveResult)


def test_store_reads_are_consistent_under_concurrent_writes(tmp_path: Any) -> None:
    # The service's threads share one SQLite connection: every read must see what was written,
    # whatever other threads run at the same time.
    import threading

    from qiskit_rest_provider.server.store import Store, utcnow_iso

    store = Store(tmp_path / "store.db")
    missing: list[str] = []

    def worker(n: int) -> None:
        for i in range(150):
            job_id = f"job-{n}-{i}"
            store.insert_job(
                id=job_id,
                instance="crn:a",
                program="sampler",
                backend="b",
                status="Queued",
                created=utcnow_iso(),
                params="{}",
            )
            if store.job(job_id, "crn:a") is None:
                missing.append(job_id)
            store.update_job(job_id, status="Completed", only_if_status=("Queued",))
            store.list_jobs("crn:a", [], [], descending=True, limit=5, offset=0)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert missing == []
        rows, total = store.list_jobs("crn:a", [], [], descending=False, limit=2000, offset=0)
        assert total == len(rows) == 900
        assert {r["status"] for r in rows} == {"Completed"}
    finally:
        store.close()
