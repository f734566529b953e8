"""Transport and IAM behaviour against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from qiskit_rest_provider.api import (
    AmbiguousSubmissionError,
    ApiConnectionError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    IAMAuthenticator,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    RuntimeRestClient,
    ServerError,
    Timeouts,
    Transport,
)
from qiskit_rest_provider.api.errors import parse_error_body

from .scripted_server import ScriptedServer

API_KEY = "very-secret-api-key-123"
CRN = "crn:v1:bluemix:public:quantum-computing:us-east:a/abc:def::"


@pytest.fixture()
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def make_client(
    srv: ScriptedServer, sleeps: list[float] | None = None, **policy: float
) -> RuntimeRestClient:
    session = requests.Session()
    auth = IAMAuthenticator(API_KEY, iam_url=srv.url, session=session)
    retry = RetryPolicy(backoff_base=0.01, backoff_max=0.05, **policy)  # type: ignore[arg-type]
    transport = Transport(
        f"{srv.url}/api",
        auth,
        service_crn=CRN,
        session=session,
        retry=retry,
        sleep=(sleeps.append if sleeps is not None else time.sleep),
    )
    return RuntimeRestClient(transport)


def err(
    status: int, code: str = "x", message: str = "boom", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    body = {"errors": [{"code": code, "message": message, "more_info": "u"}], "trace": "tr-1"}
    return status, headers, json.dumps(body).encode()


def test_headers_and_service_crn(scripted: ScriptedServer) -> None:
    client = make_client(scripted)
    scripted.script("GET", "/api/v1/backends", (200, {}, b'{"devices": [{"name": "a"}]}'))
    assert client.list_backends() == [{"name": "a"}]
    sent = next(r for r in scripted.requests if r["path"] == "/api/v1/backends")["headers"]
    assert sent["Service-CRN"] == CRN
    assert sent["Authorization"].startswith("Bearer ")
    assert sent["IBM-API-Version"] == "2026-04-15"
    assert (
        sent["User-Agent"].startswith("qiskit-rest-provider/") and "qiskit/" in sent["User-Agent"]
    )
    token_request = next(r for r in scripted.requests if r["path"] == "/identity/token")
    form = dict(p.split("=", 1) for p in token_request["body"].decode().split("&"))
    assert form["grant_type"] == "urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey"
    assert form["apikey"] == API_KEY and form["response_type"] == "cloud_iam"


def test_get_is_retried_on_503_then_succeeds(scripted: ScriptedServer) -> None:
    sleeps: list[float] = []
    client = make_client(scripted, sleeps)
    scripted.script("GET", "/api/v1/jobs/j1", err(503), err(502), (200, {}, b'{"id": "j1"}'))
    assert client.get_job("j1") == {"id": "j1"}
    assert scripted.calls("GET", "/api/v1/jobs/j1") == 3
    assert len(sleeps) == 2 and all(0 < s <= 0.05 for s in sleeps)
    assert client.transport.stats["retries"] == 2


def test_retry_after_is_honoured(scripted: ScriptedServer) -> None:
    sleeps: list[float] = []
    client = make_client(scripted, sleeps)
    scripted.script("GET", "/api/v1/jobs/j1", err(429, **{"Retry-After": "2"}), (200, {}, b"{}"))
    client.get_job("j1")
    assert sleeps == [2.0]


def test_retries_stop_at_the_deadline(scripted: ScriptedServer) -> None:
    sleeps: list[float] = []
    client = make_client(scripted, sleeps, deadline=1.0)
    scripted.script("GET", "/api/v1/jobs/j1", err(429, **{"Retry-After": "30"}))
    with pytest.raises(RateLimitError) as info:
        client.get_job("j1")
    assert info.value.retry_after == 30.0 and sleeps == []


def test_retries_are_bounded_by_max_attempts(scripted: ScriptedServer) -> None:
    client = make_client(scripted, [], max_attempts=3)
    scripted.script("GET", "/api/v1/jobs/j1", *[err(500)] * 5)
    with pytest.raises(ServerError) as info:
        client.get_job("j1")
    assert info.value.status_code == 500 and info.value.trace_id == "tr-1"
    assert scripted.calls("GET", "/api/v1/jobs/j1") == 3


def test_job_submission_is_never_retried_on_5xx(scripted: ScriptedServer) -> None:
    client = make_client(scripted, [])
    scripted.script("POST", "/api/v1/jobs", err(503), (200, {}, b'{"id": "x", "backend": "b"}'))
    with pytest.raises(ServerError):
        client.create_job({"program_id": "sampler", "backend": "b", "params": {}})
    assert scripted.calls("POST", "/api/v1/jobs") == 1


def test_dropped_connection_after_submission_is_ambiguous(scripted: ScriptedServer) -> None:
    client = make_client(scripted, [])
    scripted.script("POST", "/api/v1/jobs", (-1, {}, b""))
    with pytest.raises(AmbiguousSubmissionError):
        client.create_job({"program_id": "sampler", "backend": "b", "params": {}})
    assert scripted.calls("POST", "/api/v1/jobs") == 1


def test_401_refreshes_the_token_once_then_succeeds(scripted: ScriptedServer) -> None:
    client = make_client(scripted)
    scripted.script("GET", "/api/v1/jobs/j1", err(401, message="expired"), (200, {}, b"{}"))
    client.get_job("j1")
    assert scripted.tokens_issued == 2
    tokens = [
        r["headers"]["Authorization"] for r in scripted.requests if r["path"] == "/api/v1/jobs/j1"
    ]
    assert tokens[0] != tokens[1]


def test_persistent_401_raises_authentication_error(scripted: ScriptedServer) -> None:
    client = make_client(scripted)
    scripted.script("GET", "/api/v1/jobs/j1", err(401), err(401), err(401))
    with pytest.raises(AuthenticationError):
        client.get_job("j1")
    assert scripted.calls("GET", "/api/v1/jobs/j1") == 2


def test_token_is_refreshed_ahead_of_expiry(scripted: ScriptedServer) -> None:
    clock = [time.time()]
    scripted.token_lifetime = 100
    auth = IAMAuthenticator(API_KEY, iam_url=scripted.url, clock=lambda: clock[0])
    first = auth.token()
    clock[0] += 70  # 70 % of the lifetime: still cached
    assert auth.token() == first and auth.token_requests == 1
    clock[0] += 15  # 85 %: refreshed although the token has not expired yet
    assert clock[0] < auth.expires_at
    assert auth.token() != first and auth.token_requests == 2


def test_concurrent_threads_share_one_refresh(scripted: ScriptedServer) -> None:
    auth = IAMAuthenticator(API_KEY, iam_url=scripted.url)
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        auth.token()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert scripted.tokens_issued == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, ServerError),
    ],
)
def test_status_codes_map_to_exceptions(scripted: ScriptedServer, status: int, cls: type) -> None:
    client = make_client(scripted, [], max_attempts=1)
    scripted.script("DELETE", "/api/v1/jobs/j1", err(status, code=f"c{status}", message="nope"))
    with pytest.raises(cls) as info:
        client.delete_job("j1")
    assert info.value.status_code == status and info.value.code == f"c{status}"
    assert info.value.message == "nope" and info.value.trace_id == "tr-1"


def test_error_body_shapes() -> None:
    numeric = json.dumps(
        {
            "errors": [
                {
                    "code": 1234,
                    "message": "Instance not found",
                    "solution": "Check",
                    "more_info": "u",
                }
            ],
            "trace": "t",
        }
    )
    assert parse_error_body(numeric) == (1234, "Instance not found", "Check", "t")
    legacy = json.dumps({"error": {"code": "E1", "message": "old"}})
    assert parse_error_body(legacy)[:2] == ("E1", "old")
    iam = json.dumps({"errorCode": "BXNIM0415E", "errorMessage": "bad key"})
    assert parse_error_body(iam)[:2] == ("BXNIM0415E", "bad key")
    assert parse_error_body("<html>gateway</html>")[1] == "<html>gateway</html>"


def test_timeouts_are_bounded(scripted: ScriptedServer) -> None:
    def slow(_: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
        time.sleep(1.0)
        return 200, {}, b"{}"

    client = make_client(scripted, [], max_attempts=1)
    client.transport.timeouts = Timeouts(connect=1.0, read=0.2)
    scripted.script("GET", "/api/v1/jobs/slow", slow)
    with pytest.raises(ApiTimeoutError):
        client.get_job("slow")
    with pytest.raises(ValueError):
        Timeouts(read=float("inf"))


def test_connection_refused_is_retried_even_for_post() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    from qiskit_rest_provider.api import BearerTokenAuthenticator

    sleeps: list[float] = []
    transport = Transport(
        f"http://127.0.0.1:{port}/api",
        BearerTokenAuthenticator("tok"),
        service_crn=CRN,
        retry=RetryPolicy(max_attempts=3, backoff_base=0.01),
        sleep=sleeps.append,
    )
    with pytest.raises(ApiConnectionError):
        RuntimeRestClient(transport).create_job({"program_id": "sampler"})
    assert len(sleeps) == 2  # safe: the request never reached a server


def test_secrets_never_in_logs_or_errors(
    scripted: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(scripted, [], max_attempts=2)
    scripted.script(
        "GET",
        "/api/v1/jobs/j1",
        err(500, message=f"echo {API_KEY}"),
        err(404, message=f"key {API_KEY}"),
    )
    with pytest.raises(NotFoundError) as info:
        client.get_job("j1")
    assert API_KEY not in str(info.value)
    token = client.transport.authenticator.secrets()[-1]
    for record in caplog.records:
        assert API_KEY not in record.getMessage() and token not in record.getMessage()
    assert API_KEY not in repr(client.transport.authenticator)


def test_iam_rejection_is_an_authentication_error(scripted: ScriptedServer) -> None:
    auth = IAMAuthenticator(API_KEY, iam_url=scripted.url + "/nowhere")
    with pytest.raises(AuthenticationError) as info:
        auth.token()
    assert info.value.status_code is not None and API_KEY not in str(info.value)
