"""The local service behaves as IBM's service does where clients notice (issue #13): job
documents carry ``params`` unless excluded (the official ``job.inputs``), private jobs keep no
inputs and give their result once, the instance usage document carries the limit fields and
the limit is enforced, and opt-in timing keeps jobs Queued and Running long enough to see."""

from __future__ import annotations

import datetime as _dt
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import (
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    QiskitRestProvider,
    RuntimeJob,
    SamplerV2,
)
from qiskit_rest_provider.api import ConflictError
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.scheduler import PRIVATE_INPUTS_LOST

pytestmark = [pytest.mark.slow, pytest.mark.service]

BACKEND = "local_falcon"
#: Realistic timing of the timed service, in seconds (short: the file stays fast).
QUEUE_DELAY = 0.5
MIN_JOB_SECONDS = 0.5
#: Generous bound on any single request (a loaded 2-core CI box), in seconds.
REQUEST_TIMEOUT = 3.0
#: A second instance of each service, with its own key.
OTHER_INSTANCE = (
    "crn:v1:bluemix:public:quantum-computing:us-east:a/local0000000000000000000000000000"
    ":00000000-0000-4000-8000-00000000d120::"
)
OTHER_KEY = "local-dropin-other-instance-key"


# Fixtures and helpers -----------------------------------------------------------------------


def _start(**kwargs: Any) -> LocalRuntimeServer:
    server = LocalRuntimeServer(workers=0, **kwargs).start()
    server.service.add_api_key(OTHER_KEY, [OTHER_INSTANCE])
    return server


@pytest.fixture(scope="module")
def fast() -> Iterator[LocalRuntimeServer]:
    """A service with the default timing."""
    server = _start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def timed() -> Iterator[LocalRuntimeServer]:
    """A service whose jobs stay Queued and Running a while."""
    server = _start(queue_delay=QUEUE_DELAY, min_job_seconds=MIN_JOB_SECONDS)
    yield server
    server.stop()


def _provider(server: LocalRuntimeServer, *, other: bool = False) -> QiskitRestProvider:
    if not other:
        return server.provider()
    return QiskitRestProvider(
        token=OTHER_KEY, instance=OTHER_INSTANCE, url=server.url, iam_url=server.iam_url
    )


def _headers(server: LocalRuntimeServer, *, other: bool = False) -> dict[str, str]:
    key, instance = (OTHER_KEY, OTHER_INSTANCE) if other else (server.api_key, server.instance)
    token = requests.post(
        f"{server.url}/identity/token",
        data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": key},
        timeout=REQUEST_TIMEOUT,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}", "Service-CRN": instance}


def _get(server: LocalRuntimeServer, path: str, *, other: bool = False) -> requests.Response:
    return requests.get(
        f"{server.url}/api/v1{path}",
        headers=_headers(server, other=other),
        timeout=REQUEST_TIMEOUT,
    )


def _bell_isa(provider: QiskitRestProvider) -> QuantumCircuit:
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    backend = provider.backend(BACKEND)
    return generate_preset_pass_manager(optimization_level=1, backend=backend).run(bell)


def _sampler(provider: QiskitRestProvider, *, private: bool = False) -> SamplerV2:
    sampler = SamplerV2(provider.backend(BACKEND))
    if private:
        sampler.options.environment.private = True
    return sampler


def _sampler_job(provider: QiskitRestProvider, *, private: bool = False) -> RuntimeJob:
    return _sampler(provider, private=private).run([_bell_isa(provider)], shots=64)


def _wait_until_running(job: RuntimeJob) -> None:
    deadline = time.monotonic() + 60
    while job.status() is JobStatus.QUEUED:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)


def _assert_error_body(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == {"errors", "trace"}
    (error,) = body["errors"]
    assert set(error) == {"code", "message", "more_info"}
    assert error["code"] == code
    return dict(error)


@pytest.fixture()
def official_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Builds the official client for a server, configured as tests/test_official_client.py
    does (environment only; Global Search is skipped until the service serves it)."""
    runtime = pytest.importorskip("qiskit_ibm_runtime")

    def build(server: LocalRuntimeServer) -> Any:
        monkeypatch.setenv("IAM_URL", server.iam_url)
        monkeypatch.setenv("QISKIT_FUNCTIONS_EXPERIMENTAL", "1")
        api = f"{server.url}/api/v1"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return runtime.QiskitRuntimeService(
                channel="ibm_quantum_platform",
                token=server.api_key,
                instance=server.instance,
                url=server.url,
                url_resolver=lambda *_args: api,
            )

    yield build


# 1. Job documents and query defaults --------------------------------------------------------


def test_a_job_document_carries_params_unless_excluded(fast: LocalRuntimeServer) -> None:
    provider = _provider(fast)
    job = _sampler_job(provider)
    job.result()
    plain = _get(fast, f"/jobs/{job.job_id()}").json()
    assert plain["params"]["pubs"], "no exclude_params: the params are in the document"
    assert "params" not in _get(fast, f"/jobs/{job.job_id()}?exclude_params=true").json()
    assert "params" in _get(fast, f"/jobs/{job.job_id()}?exclude_params=false").json()
    assert "params" in _get(fast, f"/jobs/{job.job_id()}?exclude_params=False").json()
    # Our client always says what it wants, so it is unaffected by the default.
    assert "params" not in provider.client.get_job(job.job_id())
    # The listing leaves them out unless asked.
    listed = _get(fast, "/jobs?limit=1").json()["jobs"][0]
    assert listed["id"] == job.job_id() and "params" not in listed
    assert "params" in _get(fast, "/jobs?limit=1&exclude_params=false").json()["jobs"][0]


@pytest.mark.parametrize(
    "query",
    [
        "/jobs/{id}?exclude_params=maybe",
        "/jobs?exclude_params=maybe",
        "/jobs?pending=sometimes",
    ],
)
def test_a_boolean_query_parameter_that_is_not_one_is_refused(
    fast: LocalRuntimeServer, query: str
) -> None:
    job = _sampler_job(_provider(fast))
    response = _get(fast, query.format(id=job.job_id()))
    assert response.status_code == 400, response.text[:300]
    assert response.json()["errors"][0]["message"]


def test_listing_defaults_match_the_reference(fast: LocalRuntimeServer) -> None:
    provider = _provider(fast)
    jobs = [_sampler_job(provider) for _ in range(3)]
    for job in jobs:
        job.result()
    page = _get(fast, "/jobs").json()
    assert (page["limit"], page["offset"]) == (200, 0)
    # Out-of-range limits silently become the default (reference §3.2).
    for limit in ("0", "201", "-5", "many"):
        assert _get(fast, f"/jobs?limit={limit}").json()["limit"] == 200
    newest_first = [d["id"] for d in _get(fast, "/jobs?limit=3").json()["jobs"]]
    assert newest_first == [j.job_id() for j in reversed(jobs)]
    oldest_first = [d["id"] for d in _get(fast, "/jobs?sort=ASC").json()["jobs"]]
    assert oldest_first.index(jobs[0].job_id()) < oldest_first.index(jobs[2].job_id())
    finished = {d["id"] for d in _get(fast, "/jobs?pending=false").json()["jobs"]}
    assert {j.job_id() for j in jobs} <= finished
    assert not {j.job_id() for j in jobs} & {
        d["id"] for d in _get(fast, "/jobs?pending=true").json()["jobs"]
    }


@pytest.mark.official
def test_the_official_job_inputs_are_the_submitted_pubs(
    fast: LocalRuntimeServer, official_service: Any
) -> None:
    from qiskit_ibm_runtime import SamplerV2 as OfficialSampler

    service = official_service(fast)
    backend = service.backend(BACKEND)
    isa = _bell_isa(_provider(fast))
    job = OfficialSampler(mode=backend).run([isa], shots=32)
    job.result()
    inputs = service.job(job.job_id()).inputs
    (pub,) = inputs["pubs"]
    assert pub[0] == isa
    assert pub[2] == 32
    # Jobs submitted by our client read back too (OpenQASM 3 there, decoded by our client).
    ours = _sampler_job(_provider(fast))
    ours.result()
    assert ours.inputs["pubs"][0][0].num_qubits == isa.num_qubits
    assert service.job(ours.job_id()).inputs["pubs"]


# 2. Private jobs ----------------------------------------------------------------------------


def test_a_private_job_stores_no_inputs_and_gives_its_result_once(
    fast: LocalRuntimeServer,
) -> None:
    provider = _provider(fast)
    job = _sampler_job(provider, private=True)
    counts = job.result()[0].data.meas.get_counts()
    assert sum(counts.values()) == 64
    row = fast.service.store.job(job.job_id())
    assert row["private"] == 1
    assert "OPENQASM" not in row["params"] and json.loads(row["params"]) is None
    document = _get(fast, f"/jobs/{job.job_id()}?exclude_params=false").json()
    assert document["private"] is True and "params" not in document
    assert _get(fast, "/jobs?exclude_params=false&limit=1").json()["jobs"][0]["private"] is True
    # Read once (by job.result() above): the result is gone from the store...
    assert fast.service.store.job(job.job_id())["result"] is None
    # ...and a second read is refused with the API's error body.
    error = _assert_error_body(_get(fast, f"/jobs/{job.job_id()}/results"), 404, "result_not_found")
    assert "already retrieved" in error["message"] and job.job_id() in error["message"]
    # The job itself stays, private and completed; our client's cached result still answers.
    assert _get(fast, f"/jobs/{job.job_id()}").json()["state"]["status"] == "Completed"
    assert job.result()[0].data.meas.get_counts() == counts
    with pytest.raises(JobFailedError, match="private"):
        _ = provider.job(job.job_id()).inputs


def test_a_private_result_is_given_to_one_reader_only(fast: LocalRuntimeServer) -> None:
    provider = _provider(fast)
    job = _sampler_job(provider, private=True)
    job.wait_for_final_state(timeout=60)
    answers = [_get(fast, f"/jobs/{job.job_id()}/results") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 404, 404]
    assert json.loads(answers[0].text)


@pytest.mark.official
def test_the_official_client_sees_no_private_inputs(
    fast: LocalRuntimeServer, official_service: Any
) -> None:
    job = _sampler_job(_provider(fast), private=True)
    job.wait_for_final_state(timeout=60)
    official = official_service(fast).job(job.job_id())
    assert official.inputs == {}
    assert official.result()[0].data.meas.num_shots == 64
    with pytest.raises(Exception, match=r"404|already retrieved"):
        official.result()


def test_a_private_job_queued_when_the_service_stopped_fails_clearly(tmp_path: Path) -> None:
    options: dict[str, Any] = {
        "db": tmp_path / "service.db",
        "api_key": "local-dropin-restart-key",
        "instance": OTHER_INSTANCE,
    }
    first = LocalRuntimeServer(workers=0, queue_delay=3600, **options).start()
    try:
        job = _sampler_job(first.provider(), private=True)
        assert job.status() is JobStatus.QUEUED
    finally:
        first.stop()
    second = LocalRuntimeServer(workers=0, **options).start()
    try:
        status = second.provider().job(job.job_id()).wait_for_final_state(timeout=60)
        assert status is JobStatus.ERROR
        document = second.provider().client.get_job(job.job_id())
        assert document["state"]["reason"] == PRIVATE_INPUTS_LOST
    finally:
        second.stop()


# 3. Instance usage and its limit ------------------------------------------------------------


@pytest.mark.official
def test_usage_document_of_an_unlimited_instance(
    fast: LocalRuntimeServer, official_service: Any
) -> None:
    _sampler_job(_provider(fast)).result()
    document = _get(fast, "/instances/usage").json()
    assert document["instance_id"] == fast.instance
    assert document["plan_id"]
    assert document["usage_consumed_seconds"] > 0
    assert document["usage_limit_reached"] is False
    period = document["usage_period"]
    start, end = (_dt.datetime.fromisoformat(period[k].replace("Z", "+00:00")) for k in period)
    now = _dt.datetime.now(_dt.timezone.utc)
    assert start <= now < end and start.day == 1 and end.day == 1
    for field in ("usage_limit_seconds", "usage_allocation_seconds", "usage_remaining_seconds"):
        assert field not in document
    assert "usage_remaining_seconds" not in official_service(fast).usage()


@pytest.mark.official
def test_usage_limit_is_reported_and_enforced(
    fast: LocalRuntimeServer, official_service: Any
) -> None:
    service = fast.service
    provider = _provider(fast, other=True)
    _sampler_job(provider).result()
    consumed = _get(fast, "/instances/usage", other=True).json()["usage_consumed_seconds"]
    service.set_usage_limit(OTHER_INSTANCE, consumed + 100)
    try:
        document = _get(fast, "/instances/usage", other=True).json()
        assert document["usage_limit_seconds"] == consumed + 100
        assert document["usage_allocation_seconds"] == consumed + 100
        assert document["usage_remaining_seconds"] == pytest.approx(100, abs=1e-3)
        assert document["usage_limit_reached"] is False
        _sampler_job(provider).result()  # below the limit: accepted

        # Exactly used up: refused, for this instance only.
        used = _get(fast, "/instances/usage", other=True).json()["usage_consumed_seconds"]
        service.set_usage_limit(OTHER_INSTANCE, used)
        document = _get(fast, "/instances/usage", other=True).json()
        assert document["usage_limit_reached"] is True
        assert document["usage_remaining_seconds"] == 0
        body = {
            "program_id": "sampler",
            "backend": BACKEND,
            "params": {"pubs": [], "version": 2},
        }
        refused = requests.post(
            f"{fast.url}/api/v1/jobs",
            json=body,
            headers=_headers(fast, other=True),
            timeout=REQUEST_TIMEOUT,
        )
        error = _assert_error_body(refused, 409, "usage_limit_reached")
        assert f"{used:g} s" in error["message"] and f"{used:.3f} s" in error["message"]
        with pytest.raises(ConflictError, match="usage limit"):
            _sampler_job(provider)
        # Everything else still answers.
        for path in ("/jobs", "/instances/usage", "/backends", f"/backends/{BACKEND}/status"):
            assert _get(fast, path, other=True).status_code == 200
        # The other instances are not limited.
        _sampler_job(_provider(fast)).result()
    finally:
        service.set_usage_limit(OTHER_INSTANCE, None)
    assert "usage_limit_seconds" not in _get(fast, "/instances/usage", other=True).json()


@pytest.mark.official
def test_the_official_usage_computes_the_remaining_seconds(official_service: Any) -> None:
    with LocalRuntimeServer(workers=0, usage_limit_seconds=600) as server:
        assert server.service.usage_limit(server.instance) == 600
        _sampler_job(server.provider()).result()
        service = official_service(server)
        usage = service.usage()
        consumed = usage["usage_consumed_seconds"]
        assert 0 < consumed < 600
        assert usage["usage_limit_seconds"] == 600
        assert usage["usage_remaining_seconds"] == pytest.approx(600 - consumed)
        server.service.set_usage_limit(server.instance, consumed / 2)
        assert service.usage()["usage_remaining_seconds"] == 0
        from qiskit_ibm_runtime import SamplerV2 as OfficialSampler

        backend = service.backend(BACKEND)
        with pytest.raises(Exception, match=r"409|usage limit"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the official client warns first, then submits
            OfficialSampler(mode=backend).run([_bell_isa(server.provider())])


def test_deleting_jobs_gives_no_usage_back(fast: LocalRuntimeServer) -> None:
    provider = _provider(fast)
    job = _sampler_job(provider)
    job.result()
    store = fast.service.store
    assert store.job(job.job_id())["exec_ns"] > 0
    before = store.usage_seconds(fast.instance)
    provider.delete_job(job.job_id())
    assert store.job(job.job_id()) is None
    assert store.usage_seconds(fast.instance) == before


def test_bad_settings_are_refused_before_the_service_starts() -> None:
    for kwargs in (
        {"usage_limit_seconds": -1},
        {"queue_delay": -0.5},
        {"min_job_seconds": float("nan")},
        {"queue_delay": float("inf")},
    ):
        server = LocalRuntimeServer(workers=0, **kwargs)
        with pytest.raises(ValueError, match="seconds"):
            server.start()
        server.stop()


# 4. Realistic timing ------------------------------------------------------------------------


def _seconds_between(earlier: str, later: str) -> float:
    def parse(text: str) -> _dt.datetime:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(later) - parse(earlier)).total_seconds()


def test_timed_jobs_are_seen_queued_then_running_then_done(timed: LocalRuntimeServer) -> None:
    ours, theirs = _provider(timed), _provider(timed, other=True)
    isa = _bell_isa(ours)
    samplers = [_sampler(ours), _sampler(theirs)]
    first, second = (sampler.run([isa], shots=64) for sampler in samplers)
    seen: list[JobStatus] = []
    first.wait_for_final_state(
        timeout=60,
        on_poll=lambda status: seen.append(status) if not seen or seen[-1] != status else None,
    )
    assert seen == [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE]
    assert sum(first.result()[0].data.meas.get_counts().values()) == 64
    assert second.result(timeout=60)
    a, b = first.metrics()["timestamps"], second.metrics()["timestamps"]
    for times in (a, b):
        # Lower bounds the feature promises (timestamps are cut to milliseconds).
        assert _seconds_between(times["created"], times["running"]) >= QUEUE_DELAY - 0.001
        assert _seconds_between(times["running"], times["finished"]) >= MIN_JOB_SECONDS - 0.001
    # One worker, yet the other instance's job started while the first was held Running: a
    # held result does not hold up the queue.
    assert _seconds_between(b["running"], a["finished"]) > 0


def test_result_and_wait_time_out_while_the_job_is_queued(timed: LocalRuntimeServer) -> None:
    job = _sampler_job(_provider(timed))
    with pytest.raises(JobTimeoutError, match="QUEUED"):
        job.result(timeout=0.2)
    with pytest.raises(JobTimeoutError):
        job.wait_for_final_state(timeout=0.1)
    job.cancel()
    assert job.status() is JobStatus.CANCELLED


def test_a_running_job_can_be_cancelled(timed: LocalRuntimeServer) -> None:
    provider = _provider(timed)
    job = _sampler_job(provider)
    _wait_until_running(job)
    job.cancel()
    assert job.status() is JobStatus.CANCELLED
    # The held result is dropped: the job stays cancelled once its hold is over.
    time.sleep(MIN_JOB_SECONDS + 0.2)
    later = provider.job(job.job_id())
    assert later.status() is JobStatus.CANCELLED
    assert "job completed" not in later.logs()
    assert timed.service.store.job(job.job_id())["result"] is None
    assert _get(timed, f"/jobs/{job.job_id()}/results").status_code == 204
    with pytest.raises(JobCancelledError):
        later.result()


# The command line -------------------------------------------------------------------------


def test_serve_flags_set_the_limit_and_the_timing() -> None:
    from qiskit_rest_provider.cli.main import build_parser, server_options

    args = build_parser().parse_args(
        [
            "serve",
            "--port",
            "0",
            "--db",
            ":memory:",
            "--workers",
            "0",
            "--instance-usage-limit",
            "1000",
            "--queue-delay",
            "600",
            "--min-job-seconds",
            "0.5",
        ]
    )
    options = server_options(args)
    assert (options["queue_delay"], options["min_job_seconds"]) == (600, 0.5)
    defaults = server_options(build_parser().parse_args(["serve"]))
    assert (defaults["queue_delay"], defaults["min_job_seconds"]) == (0, 0)
    assert defaults["usage_limit_seconds"] is None
    with LocalRuntimeServer(**options) as server:
        provider = server.provider()
        usage = provider.usage()
        assert usage["usage_limit_seconds"] == usage["usage_allocation_seconds"] == 1000
        assert usage["usage_remaining_seconds"] == 1000
        measure = QuantumCircuit(1, 1)
        measure.measure(0, 0)  # ISA everywhere: no transpiling needed
        job = _sampler(provider).run([measure], shots=8)
        with pytest.raises(JobTimeoutError):
            job.wait_for_final_state(timeout=0.3)
        assert job.status() is JobStatus.QUEUED
        job.cancel()
        provider.close()


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--instance-usage-limit", "-1"),
        ("--queue-delay", "soon"),
        ("--min-job-seconds", "inf"),
        ("--queue-delay", "nan"),
    ],
)
def test_serve_refuses_bad_durations(flag: str, value: str, capsys: Any) -> None:
    from qiskit_rest_provider.cli.main import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["serve", flag, value])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err
