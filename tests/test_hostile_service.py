"""Hostile requests to the local service (issue 11 items 3, 4, 5, 7; issue 13 item 2).

Every attack here was observed to stall, bloat or crash the service (5xx) before; each now gets
a 4xx with the API's error body, and the service answers other clients meanwhile. All requests go
to the real service over loopback; memory is the service's own, measured in this process (the
``server`` fixture runs the service in the test process, its simulations in worker processes).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import select
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from qiskit_rest_provider.core.target import build_target
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.devices import default_catalog
from qiskit_rest_provider.server.service import LocalService
from qiskit_rest_provider.server.validation import (
    MAX_JOB_BODY_BYTES,
    MAX_JOB_RESULT_BITS,
    MAX_JSON_DEPTH,
    MAX_PUB_RESULT_BITS,
    MAX_TOKEN_BODY_BYTES,
    json_depth_exceeds,
)

from .service_helpers import PeakGrowth, ResponsivenessProbe, auth_headers

MiB = 1024 * 1024
X0 = "OPENQASM 3.0;\nx $0;\n"
BELL = "OPENQASM 3.0;\nbit[2] c;\nx $0;\ncx $0, $1;\nc[0] = measure $0;\nc[1] = measure $1;\n"


def _measure_one_qubit(bits: int) -> str:
    """A circuit with ``bits`` classical bits, all measured from qubit 0 (cheap to simulate)."""
    lines = [f"c[{i}] = measure $0;" for i in range(bits)]
    body = "\n".join(lines)
    return f"OPENQASM 3.0;\nbit[{bits}] c;\n{body}\n"


# Helpers ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def headers(server: LocalRuntimeServer) -> dict[str, str]:
    return {**auth_headers(server), "Content-Type": "application/json"}


def _assert_error_body(response: requests.Response, status: int | tuple[int, ...]) -> str:
    """Assert the status and the API's error body; return the message."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    body = response.json()
    error = body["errors"][0]
    assert error["code"] and error["message"] and error["more_info"] and body["trace"]
    return str(error["message"])


def _post_job(server: LocalRuntimeServer, headers: dict[str, str], body: Any) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{server.url}/api/v1/jobs", data=data, headers=headers, timeout=60)


def _cancel(server: LocalRuntimeServer, headers: dict[str, str], job_id: str) -> None:
    requests.post(f"{server.url}/api/v1/jobs/{job_id}/cancel", headers=headers, timeout=10)


def _sampler(pubs: list[Any], backend: str = "local_falcon", **fields: Any) -> dict[str, Any]:
    return {"program_id": "sampler", "backend": backend, "params": {"pubs": pubs}, **fields}


def _chunked_post(
    url: str, path: str, headers: dict[str, str], total: int, chunk: int = MiB
) -> tuple[int, bytes, int]:
    """POST ``total`` bytes with chunked framing; stop sending once the service answers.

    Returns ``(status, body, bytes_sent)``.
    """
    host, port = url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    try:
        head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Transfer-Encoding: chunked"]
        head += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        payload = b"[" + b"0," * (chunk // 2 - 1)
        frame = f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
        sent = 0
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the service answered (413) before the body ended
            try:
                sock.sendall(frame)
            except OSError:  # the service closed the connection: read what it answered
                break
            sent += len(payload)
        else:
            sock.sendall(b"0\r\n\r\n")
        response = _read_http_response(sock)
        return response[0], response[1], sent
    finally:
        sock.close()


def _read_http_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        assert part, f"connection closed before a response: {data[:200]!r}"
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    assert length is not None, head
    while len(body) < int(length.group(1)):
        part = sock.recv(65536)
        assert part
        body += part
    return status, body


# Item 3: body limits by framing -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize(
    ("path", "limit", "authenticated"),
    [
        ("/identity/token", MAX_TOKEN_BODY_BYTES, False),
        ("/api/v1/jobs", MAX_JOB_BODY_BYTES, True),
    ],
)
def test_chunked_bodies_over_the_limit_get_413_and_memory_stays_bounded(
    server: LocalRuntimeServer,
    headers: dict[str, str],
    path: str,
    limit: int,
    authenticated: bool,
) -> None:
    sent_headers = dict(headers) if authenticated else {"Content-Type": "application/json"}
    with ResponsivenessProbe(server.url), PeakGrowth() as memory:
        status, body, sent = _chunked_post(server.url, path, sent_headers, total=200 * MiB)
    assert status == 413, body[:300]
    error = json.loads(body)["errors"][0]
    assert error["code"] == "payload_too_large" and str(limit) in error["message"]
    # The service cut the body off near the limit (plus what the socket buffers held) ...
    assert sent < limit + 32 * MiB, sent
    # ... and never held much more than the limit: the old service buffered all 200 MiB and
    # then parsed them (+780 MiB).
    print(f"{path}: sent {sent / MiB:.1f} MiB, peak growth {memory.growth / MiB:.1f} MiB")
    assert memory.growth < limit + 64 * MiB, memory.growth / MiB


@pytest.mark.service
def test_declared_oversized_bodies_are_refused_before_reading(server: LocalRuntimeServer) -> None:
    sock = socket.create_connection((server.host, server.port), timeout=30)
    try:
        sock.sendall(
            b"POST /identity/token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {MAX_TOKEN_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        status, body = _read_http_response(sock)  # no body byte sent at all
    finally:
        sock.close()
    assert status == 413 and json.loads(body)["errors"][0]["code"] == "payload_too_large"


@pytest.mark.service
def test_small_bodies_still_work_with_chunked_framing(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"grant_type=urn:ibm:params:oauth:grant-type:apikey&"
        yield f"apikey={server.api_key}".encode()

    response = requests.post(
        f"{server.url}/identity/token",
        data=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["access_token"]
    body = json.dumps(_sampler([[BELL, None, 10]])).encode()
    response = requests.post(
        f"{server.url}/api/v1/jobs",
        data=iter([body[:20], body[20:]]),
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text


# Item 7: JSON nesting, non-finite numbers, invalid Unicode ----------------------------------------


@pytest.mark.service
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        "[" * 100_000,  # unterminated
        '{"program_id": "sampler", "params": ' + "[" * 5000 + "]" * 5000 + "}",
    ],
    ids=["arrays", "objects", "unterminated", "inside-a-job"],
)
def test_deeply_nested_json_is_refused_quickly(
    server: LocalRuntimeServer, headers: dict[str, str], raw: str
) -> None:
    with ResponsivenessProbe(server.url):
        for route, method in (
            ("/api/v1/jobs", "POST"),
            ("/api/v1/sessions", "POST"),
            ("/api/v1/jobs/anyjob/tags", "PUT"),
        ):
            for _ in range(3):
                response = requests.request(
                    method, f"{server.url}{route}", data=raw, headers=headers, timeout=30
                )
                message = _assert_error_body(response, 400)
                assert "deeper" in message or "JSON" in message


def test_json_depth_scan_matches_the_real_depth() -> None:
    for depth in (1, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 5000):
        text = ("[" * depth + "]" * depth).encode()
        assert json_depth_exceeds(text) == (depth > MAX_JSON_DEPTH)
    # Brackets inside strings (with escaped quotes) do not count.
    fake = json.dumps({"a": '\\"' + "[" * 500, "b": ["]" * 500]}).encode()
    assert not json_depth_exceeds(fake)


@pytest.mark.service
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("log_level", "\ud800"),
        ("tags", ["\ud800"]),
        ("tags", ["ok", "\udfff tail"]),
        ("program_id", "\udc80"),
        ("backend", "local_falcon\ud800"),
        ("session_id", "\ud800"),
        ("calibration_id", "\ud800"),
        ("runtime", "\udbff"),
    ],
)
def test_strings_that_are_not_unicode_are_refused_and_never_stored(
    server: LocalRuntimeServer, headers: dict[str, str], field: str, value: Any
) -> None:
    body = {**_sampler([[BELL, None, 10]]), field: value}
    _assert_error_body(_post_job(server, headers, body), 400)  # json.dumps escapes: \ud800
    listing = requests.get(f"{server.url}/api/v1/jobs", headers=headers, timeout=30)
    assert listing.status_code == 200, listing.text[:300]
    assert not any("\\ud" in json.dumps(job.get("tags")) for job in listing.json()["jobs"])


@pytest.mark.service
def test_invalid_unicode_is_refused_in_every_json_body(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    response = _post_job(server, headers, _sampler([[BELL, None, 10]], tags=["good"]))
    assert response.status_code == 200, response.text
    job_id = response.json()["id"]
    tags_url = f"{server.url}/api/v1/jobs/{job_id}/tags"
    _assert_error_body(requests.put(tags_url, json={"tags": ["\ud800"]}, timeout=10), 401)
    _assert_error_body(
        requests.put(tags_url, data='{"tags": ["\\ud800"]}', headers=headers, timeout=10), 400
    )
    session = requests.post(
        f"{server.url}/api/v1/sessions",
        data='{"mode": "batch", "backend": "local_falcon\\udfff"}',
        headers=headers,
        timeout=10,
    )
    _assert_error_body(session, 400)
    # Raw UTF-8 bytes of a surrogate (not even valid UTF-8) are refused as well.
    raw = b'{"program_id": "sampler", "backend": "local_falcon", "tags": ["\xed\xa0\x80"]}'
    _assert_error_body(_post_job(server, headers, raw), 400)
    job = requests.get(f"{server.url}/api/v1/jobs/{job_id}", headers=headers, timeout=10)
    assert job.status_code == 200 and job.json()["tags"] == ["good"]


@pytest.mark.service
@pytest.mark.parametrize(
    "raw",
    [
        '{"program_id": "sampler", "backend": "local_falcon", "cost": NaN}',
        '{"program_id": "sampler", "backend": "local_falcon", "cost": Infinity}',
        '{"program_id": "sampler", "backend": "local_falcon", "cost": -Infinity}',
        '{"program_id": "sampler", "backend": "local_falcon", "cost": 1e999}',
        '{"program_id": "sampler", "cost": 1' + "0" * 400 + ".5}",
    ],
)
def test_non_finite_numbers_are_refused(
    server: LocalRuntimeServer, headers: dict[str, str], raw: str
) -> None:
    _assert_error_body(_post_job(server, headers, raw), 400)


# Item 7: job options that used to fail inside the worker ------------------------------------------


@pytest.mark.service
@pytest.mark.parametrize(
    ("program", "params", "needle"),
    [
        ("estimator", {"pubs": [[X0, "Z", None, 1e-300]]}, "precision"),
        ("estimator", {"pubs": [[X0, "Z", None, 1e300]]}, "precision"),
        (
            "estimator",
            {"pubs": [[X0, "Z"]], "precision": 1e-200},
            "precision",
        ),
        (
            "estimator",
            {"pubs": [[X0, "Z"]], "options": {"default_precision": 1e-300}},
            "default_precision",
        ),
        (
            "estimator",
            {"pubs": [[X0, "Z"]], "options": {"default_shots": 10**400}},
            "default_shots",
        ),
        (
            "estimator",
            {"pubs": [[X0, "Z"]], "options": {"seed_estimator": 2**64}},
            "seed_estimator",
        ),
        (
            "sampler",
            {"pubs": [[BELL, None, 10]], "options": {"simulator": {"seed_simulator": 2**70}}},
            "seed_simulator",
        ),
        (
            "sampler",
            {"pubs": [[BELL, None, 10]], "options": {"simulator": {"seed_simulator": -1}}},
            "seed_simulator",
        ),
        (
            "sampler",
            {
                "pubs": [[BELL, None, 10]] * 2,
                "options": {"simulator": {"seed_simulator": 2**63 - 1}},
            },
            "seed_simulator",
        ),
        ("sampler", {"pubs": [[BELL, None, 10]], "shots": 10**30}, "params.shots"),
        ("sampler", {"pubs": [[BELL]], "options": {"default_shots": 0}}, "default_shots"),
        ("sampler", {"pubs": [[BELL]], "options": {"max_execution_time": "x"}}, "max_execution"),
        ("sampler", {"pubs": [[BELL]], "options": {"experimental": 3}}, "experimental"),
        # the emulator builds a circuit per randomization and folds gates per noise factor
        (
            "sampler",
            {"pubs": [[BELL]], "options": {"twirling": {"num_randomizations": 10**7}}},
            "twirling.num_randomizations",
        ),
        (
            "sampler",
            {
                "pubs": [[BELL]],
                "options": {
                    "twirling": {"num_randomizations": 5000, "shots_per_randomization": 5000}
                },
            },
            "above max_shots",
        ),
        (
            "sampler",
            {"pubs": [[BELL]], "options": {"twirling": {"shots_per_randomization": 10**9}}},
            "shots_per_randomization",
        ),
        (
            "estimator",
            {
                "pubs": [[X0, "Z"]],
                "options": {
                    "resilience": {"measure_noise_learning": {"num_randomizations": 10**6}}
                },
            },
            "measure_noise_learning.num_randomizations",
        ),
        (
            "estimator",
            {
                "pubs": [[X0, "Z"]],
                "resilience_level": 2,
                "options": {"resilience": {"zne": {"noise_factors": [1, 3, 10**6]}}},
            },
            "noise_factors",
        ),
        (
            "estimator",
            {
                "pubs": [[X0, "Z"]],
                "resilience_level": 2,
                "options": {"resilience": {"zne": {"noise_factors": list(range(1, 40, 2))}}},
            },
            "noise_factors",
        ),
    ],
)
def test_options_that_would_fail_in_the_worker_are_refused_at_submission(
    server: LocalRuntimeServer,
    headers: dict[str, str],
    program: str,
    params: dict[str, Any],
    needle: str,
) -> None:
    body = {"program_id": program, "backend": "local_falcon", "params": params}
    assert needle in _assert_error_body(_post_job(server, headers, body), 400)


@pytest.mark.service
def test_extreme_seeds_and_precisions_inside_the_range_run(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    """The bounds are not too tight: their extremes complete."""
    seeded = _sampler([[BELL, None, 10]])
    seeded["params"]["options"] = {"simulator": {"seed_simulator": 2**63 - 1}}
    precise = {
        "program_id": "estimator",
        "backend": "local_falcon",
        "params": {"pubs": [[X0, "Z", None, 1e-8]]},
    }
    jobs = [_post_job(server, headers, seeded), _post_job(server, headers, precise)]
    for response in jobs:
        assert response.status_code == 200, response.text
        job_url = f"{server.url}/api/v1/jobs/{response.json()['id']}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = requests.get(job_url, headers=headers, timeout=10).json()["status"]
            if status in ("Completed", "Failed", "Cancelled"):
                break
            time.sleep(0.1)
        assert status == "Completed", requests.get(job_url, headers=headers, timeout=10).json()


# Item 7: job listing filters ----------------------------------------------------------------------


@pytest.mark.service
@pytest.mark.parametrize(
    "query",
    [
        "created_after=0001-01-01T00:00:00%2B14:00",
        "created_before=9999-12-31T23:59:59-14:00",
        "created_after=9999-12-31T23:59:59-14:00",
        "created_before=0001-01-01T00:00:00%2B14:00",
    ],
)
def test_extreme_datetimes_in_job_filters_are_clamped(
    server: LocalRuntimeServer, headers: dict[str, str], query: str
) -> None:
    response = requests.get(f"{server.url}/api/v1/jobs?{query}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    everything = requests.get(f"{server.url}/api/v1/jobs", headers=headers, timeout=10).json()
    # Before year 1 / after 9999 in UTC: all jobs are after / before it, none the other way.
    matches_all = query.startswith(("created_after=0001", "created_before=9999"))
    assert response.json()["count"] == (everything["count"] if matches_all else 0)


@pytest.mark.service
def test_too_many_tag_filters_are_refused(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    query = "&".join(f"tags=t{i}" for i in range(1001))
    message = _assert_error_body(
        requests.get(f"{server.url}/api/v1/jobs?{query}", headers=headers, timeout=30), 400
    )
    assert "8" in message
    # Repeating one tag is one filter.
    repeated = "&".join(["tags=same"] * 50)
    response = requests.get(f"{server.url}/api/v1/jobs?{repeated}", headers=headers, timeout=30)
    assert response.status_code == 200


# Item 4: result size ------------------------------------------------------------------------------


@pytest.mark.service
def test_results_too_large_for_a_pub_are_refused_with_the_limit(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    # 2000 measurements x 100,000 shots: a 41 KB pub asking for a 2e8-bit result.
    body = _sampler([[_measure_one_qubit(2000), None, 100_000]], backend="local_simulator")
    message = _assert_error_body(_post_job(server, headers, body), 400)
    assert f"{MAX_PUB_RESULT_BITS:,}" in message and "200,000,000" in message


@pytest.mark.service
def test_results_too_large_for_a_job_are_refused_with_the_limit(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    pub = [_measure_one_qubit(156), None, 100_000]  # 1.56e7 bits: fine on its own
    count = MAX_JOB_RESULT_BITS // (156 * 100_000) + 1
    message = _assert_error_body(
        _post_job(server, headers, _sampler([pub] * count, backend="local_heron")), 400
    )
    assert f"{MAX_JOB_RESULT_BITS:,}" in message and "per job" in message


@pytest.mark.service
def test_realistic_large_results_are_accepted(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    # 156 classical bits x 100,000 shots (a full Heron register at max_shots) is accepted.
    response = _post_job(
        server, headers, _sampler([[_measure_one_qubit(156), None, 100_000]], "local_heron")
    )
    assert response.status_code == 200, response.text
    _cancel(server, headers, response.json()["id"])  # the size check is what is tested


# Item 5 and issue 13 item 2: calibration ids ------------------------------------------------------


@pytest.mark.service
@pytest.mark.parametrize("value", [{"id": "x"}, ["x"], 7, True])
def test_calibration_ids_must_be_strings(
    server: LocalRuntimeServer, headers: dict[str, str], value: Any
) -> None:
    body = _sampler([[BELL, None, 10]], calibration_id=value)
    assert "calibration_id" in _assert_error_body(_post_job(server, headers, body), 400)


def _falcon_document(
    server: LocalRuntimeServer, headers: dict[str, str], endpoint: str, calibration_id: str
) -> requests.Response:
    """GET local_falcon's ``configuration`` or ``properties`` for one calibration id."""
    return requests.get(
        f"{server.url}/api/v1/backends/local_falcon/{endpoint}",
        params={"calibration_id": calibration_id},
        headers=headers,
        timeout=10,
    )


@pytest.mark.service
def test_unknown_calibration_ids_are_404_everywhere_and_never_cached(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    service = server.service
    device = service.devices["local_falcon"]
    known = device.calibrations[0].calibration_id
    cached = len(service._targets)
    for i in range(20):
        unknown = f"no-such-calibration-{i}"
        body = _sampler([[BELL, None, 10]], calibration_id=unknown)
        message = _assert_error_body(_post_job(server, headers, body), 404)
        assert unknown in message
        for endpoint in ("configuration", "properties"):
            response = _falcon_document(server, headers, endpoint, unknown)
            assert _assert_error_body(response, 404) == message
    assert len(service._targets) <= max(cached, 16)
    # A known id still works on all three.
    for endpoint in ("configuration", "properties"):
        response = _falcon_document(server, headers, endpoint, known)
        assert response.status_code == 200 and response.json()
    response = _post_job(server, headers, _sampler([[BELL, None, 10]], calibration_id=known))
    assert response.status_code == 200, response.text
    job = requests.get(
        f"{server.url}/api/v1/jobs/{response.json()['id']}", headers=headers, timeout=10
    )
    assert job.json()["calibration_id"] == known


def test_the_target_cache_is_bounded() -> None:
    falcon = next(d for d in default_catalog() if d.name == "local_falcon")
    devices = [dataclasses.replace(falcon, name=f"falcon_{i}") for i in range(8)]
    service = LocalService(devices=devices, workers=0)
    try:
        pairs = [(d, c.calibration_id) for d in devices for c in d.calibrations]
        assert len(pairs) > 16
        for device, calibration_id in pairs:
            service.target(device, calibration_id)
            assert len(service._targets) <= 16
        device, calibration_id = pairs[-1]
        assert service.target(device, calibration_id) is service.target(device, calibration_id)
        # Without an id, the latest calibration's cached Target is used.
        assert service.target(device, None) is service.target(device, calibration_id)
    finally:
        service.stop()


# Catch-all: an unexpected exception still answers the API's error body ----------------------------


class _BrokenService(LocalService):
    def usage(self, instance: str) -> dict[str, Any]:
        raise RuntimeError("a bug in the service")


def test_unexpected_exceptions_answer_500_with_the_error_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import uvicorn

    from qiskit_rest_provider.server.app import create_app

    service = _BrokenService(workers=0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(service), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{port}"
        token = service.issue_token(service.api_key)["access_token"]
        auth = {"Authorization": f"Bearer {token}", "Service-CRN": service.instance}
        with caplog.at_level(logging.ERROR, logger="qiskit_rest_provider.server.app"):
            response = requests.get(f"{url}/api/v1/instances/usage", headers=auth, timeout=10)
        _assert_error_body(response, 500)
        trace = response.json()["trace"]
        assert any(trace in r.getMessage() for r in caplog.records)
        assert service.responses["5xx"] == 1
        # The service goes on answering.
        assert requests.get(f"{url}/api/v1/versions", timeout=10).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        service.stop()


# Fuzzing: hostile job bodies never get a 5xx ------------------------------------------------------

_SURROGATES = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
_STRINGS = st.one_of(st.text(max_size=20), _SURROGATES, st.sampled_from(["", "WARNING", "x" * 300]))
_NUMBERS = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e-300, 1e300, 2**63, 2**64, 10**30, 5e-324]),
)
_LEAVES = st.one_of(st.none(), st.booleans(), _NUMBERS, _STRINGS)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_STRINGS, inner, max_size=4)
    ),
    max_leaves=12,
)


def _nested(depth: int) -> str:
    """A placeholder for ``depth`` nested arrays, spliced into the JSON text by
    :func:`_serialize` (hypothesis cannot print, nor json.dumps write, 3000 nested lists)."""
    return f"__nest_{depth}__"


def _serialize(body: Any) -> str:
    text = json.dumps(body, allow_nan=True)
    return re.sub(r'"__nest_(\d+)__"', lambda m: "[" * int(m[1]) + "0" + "]" * int(m[1]), text)


_HOSTILE = st.one_of(
    _VALUES, st.sampled_from([MAX_JSON_DEPTH - 5, MAX_JSON_DEPTH + 1, 3000]).map(_nested)
)
_OPTION_KEYS = st.sampled_from(
    [
        "default_shots",
        "default_precision",
        "seed_estimator",
        "simulator",
        "execution",
        "twirling",
        "resilience",
        "dynamical_decoupling",
        "experimental",
        "environment",
        "max_execution_time",
        "nonsense",
    ]
)


@st.composite
def _job_bodies(draw: Callable[..., Any]) -> dict[str, Any]:
    program = draw(st.sampled_from(["sampler", "estimator", "\ud800", None]))
    if program == "estimator":
        pub: list[Any] = [X0, "Z", None, draw(st.one_of(st.none(), _NUMBERS))]
    else:
        pub = [BELL, None, draw(st.one_of(st.just(10), _NUMBERS, _STRINGS))]
    options = draw(st.dictionaries(_OPTION_KEYS, _HOSTILE, max_size=3))
    if draw(st.booleans()):
        options["simulator"] = {"seed_simulator": draw(_HOSTILE)}
    params: dict[str, Any] = {"pubs": [pub], "options": options}
    for key in draw(st.lists(st.sampled_from(["shots", "precision", "version"]), max_size=2)):
        params[key] = draw(_HOSTILE)
    body: dict[str, Any] = {"program_id": program, "backend": "local_falcon", "params": params}
    for key in draw(
        st.lists(
            st.sampled_from(
                [
                    "log_level",
                    "tags",
                    "session_id",
                    "calibration_id",
                    "private",
                    "cost",
                    "runtime",
                    "start_session",
                    "session_time",
                    "backend",
                ]
            ),
            max_size=3,
        )
    ):
        body[key] = draw(_HOSTILE)
    return body


@pytest.mark.slow
@pytest.mark.service
@settings(max_examples=80, database=None)
@given(body=_job_bodies())
def test_hostile_job_bodies_never_get_a_server_error(
    server: LocalRuntimeServer, headers: dict[str, str], body: dict[str, Any]
) -> None:
    response = _post_job(server, headers, _serialize(body))
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        _assert_error_body(response, response.status_code)
    else:
        _cancel(server, headers, response.json()["id"])


@pytest.mark.service
@settings(max_examples=40, database=None)
@given(
    params=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "tags",
                    "created_after",
                    "created_before",
                    "program",
                    "backend",
                    "session_id",
                    "limit",
                    "offset",
                    "pending",
                    "sort",
                    "exclude_params",
                ]
            ),
            st.one_of(
                st.text(max_size=30),
                st.binary(max_size=12).map(lambda b: "".join(f"%{x:02X}" for x in b)),
                st.sampled_from(
                    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "%ED%A0%80"]
                ),
            ),
        ),
        max_size=12,
    )
)
def test_hostile_job_listings_never_get_a_server_error(
    server: LocalRuntimeServer, headers: dict[str, str], params: list[tuple[str, str]]
) -> None:
    query = "&".join(f"{k}={v if v.startswith('%') else quote(v)}" for k, v in params)
    response = requests.get(f"{server.url}/api/v1/jobs?{query}", headers=headers, timeout=30)
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        _assert_error_body(response, response.status_code)


@pytest.mark.service
def test_twirled_and_kerneled_results_count_in_the_result_size_limit(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    """The size check counts the shots the emulator runs (randomizations x shots per
    randomization), not the pub's nominal shots, and 128 bits a kerneled point."""
    many = "OPENQASM 3.0;\nbit[100] c;\n" + "".join(f"c[{k}] = measure $0;\n" for k in range(100))
    twirled = _sampler([[many, None, 1]], backend="local_simulator")
    twirled["params"]["options"] = {
        "twirling": {
            "enable_measure": True,
            "num_randomizations": 1000,
            "shots_per_randomization": 1000,
        }
    }
    message = _assert_error_body(_post_job(server, headers, twirled), 400)
    assert "bits" in message
    # one shot of 100 clbits without twirling is small: accepted
    plain = _sampler([[many, None, 1]], backend="local_simulator")
    assert _post_job(server, headers, plain).status_code == 200
    kerneled = _sampler([[many, None, 60_000]])
    kerneled["params"]["options"] = {"execution": {"meas_type": "kerneled"}}
    message = _assert_error_body(_post_job(server, headers, kerneled), 400)
    assert "bits" in message


@pytest.mark.service
def test_averaged_kerneled_pubs_are_bounded_by_the_shots_they_simulate(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    """avg_kerneled returns one point per parameter set however many shots: the result is
    small, the simulation is not. The service counts the shots it would simulate."""
    qasm = "OPENQASM 3.0;\ninput float[64] a;\nbit[1] c;\nrz(a) $0;\nc[0] = measure $0;\n"
    sets = [[0.1]] * 60_000
    body = _sampler([[qasm, sets, 1000]])
    body["params"]["options"] = {"execution": {"meas_type": "avg_kerneled"}}
    message = _assert_error_body(_post_job(server, headers, body), 400)
    assert "60,000,000" in message and "simulate" in message, message
    # the same sets with few shots are accepted
    body["params"]["pubs"] = [[qasm, sets[:100], 100]]
    response = _post_job(server, headers, body)
    assert response.status_code == 200, response.text[:300]
    _cancel(server, headers, response.json()["id"])


@pytest.mark.service
def test_estimator_shots_count_default_shots_and_noise_factors_at_submission(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    """An estimator pub's simulation is parameter sets x shots (``default_shots`` when set)
    x ZNE noise factors: refused at submission when that exceeds the emulator's limit, not
    failed later in the worker."""
    qasm = "OPENQASM 3.0;\ninput float[64] a;\nrz(a) $0;\nsx $0;\n"
    sets = [[0.1]] * 200
    body = {
        "program_id": "estimator",
        "backend": "local_falcon",  # max_shots 100,000
        "params": {
            "pubs": [[qasm, "Z", sets]],
            "resilience_level": 2,  # three noise factors
            "options": {"default_shots": 100_000},
        },
    }
    message = _assert_error_body(_post_job(server, headers, body), 400)
    assert "60,000,000" in message and "noise factors" in message, message
    body["params"]["resilience_level"] = 1  # 2e7: within
    response = _post_job(server, headers, body)
    assert response.status_code == 200, response.text[:300]
    _cancel(server, headers, response.json()["id"])


def _wide(width: int, clifford: bool) -> str:
    """OpenQASM 3 entangling ``width`` qubits along a tree of local_heron's coupling map."""
    device = next(d for d in default_catalog() if d.name == "local_heron")
    target = build_target(device.configuration, device.calibration().properties)
    neighbours: dict[int, set[int]] = {}
    for a, b in target.build_coupling_map().get_edges():
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    chosen, edges, frontier = [0], [], [0]
    while len(chosen) < width:
        a = frontier.pop(0)
        for b in sorted(neighbours[a]):
            if b not in chosen and len(chosen) < width:
                chosen.append(b)
                edges.append((a, b))
                frontier.append(b)
    lines = ["OPENQASM 3.0;", f"bit[{width}] c;"]
    lines += [f"sx ${q};" for q in chosen]
    if not clifford:
        lines += [f"rz(0.3) ${q};" for q in chosen]
    lines += [f"cz ${a}, ${b};" for a, b in edges]
    lines += [f"c[{k}] = measure ${q};" for k, q in enumerate(chosen)]
    return "\n".join(lines) + "\n"


@pytest.mark.service
def test_a_job_too_wide_for_the_memory_budget_is_refused_at_submission(
    server: LocalRuntimeServer, headers: dict[str, str]
) -> None:
    """Before anything runs: the width of the qubits the circuit uses, the method that would
    simulate it and the budget are named in a 400. (Left to choose, the service runs such a
    circuit on the matrix-product-state method, whose memory is bounded.)"""
    body = _sampler([[_wide(40, clifford=False), None, 10]], backend="local_heron")
    body["params"]["options"] = {"simulator": {"method": "statevector"}}
    message = _assert_error_body(_post_job(server, headers, body), 400)
    assert "40 qubits" in message and "statevector" in message and "budget" in message
    body["params"]["options"] = {"simulator": {"method": "stabilizer"}}
    message = _assert_error_body(_post_job(server, headers, body), 400)
    assert "stabilizer" in message and "Clifford" in message
    del body["params"]["options"]
    response = _post_job(server, headers, body)
    assert response.status_code == 200, response.text[:300]
    _cancel(server, headers, response.json()["id"])


def test_the_memory_budget_is_configurable() -> None:
    with LocalRuntimeServer(max_job_memory_bytes=16 << 20) as small:
        headers = {**auth_headers(small), "Content-Type": "application/json"}
        # 16 qubits on the statevector method need 1 MiB: within 16 MiB
        fits = _sampler([[_wide(16, clifford=False), None, 10]], backend="local_heron")
        response = _post_job(small, headers, fits)
        assert response.status_code == 200, response.text
        # 21 qubits need 32 MiB on the statevector method: refused when asked for
        wide = _sampler([[_wide(21, clifford=False), None, 10]], backend="local_heron")
        wide["params"]["options"] = {"simulator": {"method": "statevector"}}
        message = _assert_error_body(_post_job(small, headers, wide), 400)
        assert "21 qubits" in message and "0.0 GiB" in message
        # and the bounded matrix product state of 21 qubits (21 MiB) does not fit 16 MiB either
        del wide["params"]["options"]
        message = _assert_error_body(_post_job(small, headers, wide), 400)
        assert "21 qubits" in message and "matrix_product_state" in message
