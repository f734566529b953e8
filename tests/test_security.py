"""Security: every /v1 route refuses missing, expired and foreign credentials; instances are
isolated; secrets stay out of logs; hostile payloads get clear errors, never code execution."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import re
import time
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qiskit_rest_provider import QiskitRestProvider
from qiskit_rest_provider.api import NotFoundError
from qiskit_rest_provider.api.transport import make_session
from qiskit_rest_provider.core.codec.ndarray import npy_bytes
from qiskit_rest_provider.core.codec.pubs import PubError, decode_pubs
from qiskit_rest_provider.core.codec.qasm3 import QASM3Error, loads_isa
from qiskit_rest_provider.core.codec.results import decode_result, decode_tagged
from qiskit_rest_provider.errors import ResultDecodeError
from qiskit_rest_provider.server import LocalRuntimeServer

from .service_helpers import access_token, auth_headers, running_server

FOREIGN = "crn:v1:bluemix:public:quantum-computing:us-east:a/other:other::"


@pytest.fixture(scope="module")
def short_lived() -> Iterator[LocalRuntimeServer]:
    with running_server(token_lifetime=1) as server:
        yield server


def _routes(server: LocalRuntimeServer) -> list[tuple[str, str]]:
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    routes = []
    for path, methods in spec["paths"].items():
        if not path.startswith("/api/v1/") or path.endswith("/versions"):
            continue
        concrete = re.sub(r"\{[^}]+\}", "abc123", path)
        routes.extend((method.upper(), concrete) for method in methods)
    return routes


@pytest.mark.slow
@pytest.mark.service
def test_every_route_refuses_bad_credentials(
    short_lived: LocalRuntimeServer, server: LocalRuntimeServer
) -> None:
    routes = _routes(short_lived)
    assert len(routes) >= 18
    expired = access_token(short_lived)
    time.sleep(2.1)
    # The foreign-CRN case needs a token that stays valid for the whole sweep: it comes from
    # the long-lived session server (the short-lived one's tokens expire after a second).
    fresh = access_token(server)
    cases = {
        "no token": (short_lived, {"Service-CRN": short_lived.instance}, 401),
        "garbage token": (
            short_lived,
            {"Authorization": "Bearer not.a.token", "Service-CRN": short_lived.instance},
            401,
        ),
        "expired token": (
            short_lived,
            {"Authorization": f"Bearer {expired}", "Service-CRN": short_lived.instance},
            401,
        ),
        "foreign CRN": (server, {"Authorization": f"Bearer {fresh}", "Service-CRN": FOREIGN}, 403),
    }
    for method, path in routes:
        for name, (target, headers, expected) in cases.items():
            response = requests.request(
                method, f"{target.url}{path}", headers=headers, json={}, timeout=10
            )
            assert response.status_code == expected, (name, method, path, response.text)
            body = response.json()
            assert body["errors"][0]["message"], (name, method, path)


@pytest.mark.service
def test_jobs_and_sessions_are_invisible_to_another_instance(
    server: LocalRuntimeServer, provider: QiskitRestProvider
) -> None:
    qasm = 'OPENQASM 3.0; include "stdgates.inc"; bit[1] c; x $0; c[0] = measure $0;'
    job_id = provider.client.create_job(
        {"program_id": "sampler", "backend": "local_simulator", "params": {"pubs": [[qasm]]}}
    )["id"]
    session_id = provider.client.create_session(mode="batch", backend="local_falcon")["id"]
    other_instance = "crn:v1:bluemix:public:quantum-computing:us-east:a/second:second::"
    other_key = "second-instance-key-123456"
    server.service.add_api_key(other_key, [other_instance], "second-user")
    with QiskitRestProvider(
        token=other_key, instance=other_instance, url=server.url, iam_url=server.iam_url
    ) as other:
        assert other.backends()  # the key itself works
        for call in (
            lambda: other.client.get_job(job_id),
            lambda: other.client.job_results(job_id),
            lambda: other.client.cancel_job(job_id),
            lambda: other.client.delete_job(job_id),
            lambda: other.client.get_session(session_id),
            lambda: other.client.close_session(session_id),
        ):
            with pytest.raises(Exception) as info:
                call()
            assert getattr(info.value, "status_code", None) == 404
        assert job_id not in {j["id"] for j in other.client.list_jobs(limit=200)["jobs"]}


@pytest.mark.service
def test_no_secret_in_any_log_line(
    server: LocalRuntimeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with QiskitRestProvider(
        token=server.api_key, instance=server.instance, url=server.url, iam_url=server.iam_url
    ) as provider:
        provider.backends()
        token = provider.transport.authenticator.token()  # type: ignore[attr-defined]
        with pytest.raises(NotFoundError):
            provider.client.get_job("nosuchjob")
        text = (
            repr(provider) + repr(provider.transport.authenticator) + str(provider.active_account())
        )
    with QiskitRestProvider(
        token="wrong-key-abcdef", instance=server.instance, url=server.url, iam_url=server.iam_url
    ) as wrong:
        with pytest.raises(Exception) as info:
            wrong.backends()
        text += str(info.value) + repr(info.value)
    logged = "\n".join(r.getMessage() for r in caplog.records) + text
    assert caplog.records  # debug logging did happen
    for secret in (server.api_key, token, "wrong-key-abcdef"):
        assert secret not in logged


def test_tls_is_verified_by_default() -> None:
    assert make_session().verify is True
    provider = QiskitRestProvider(token="k", instance=FOREIGN)
    assert provider.transport.session.verify is True


@pytest.mark.service
def test_request_bodies_are_size_limited(server: LocalRuntimeServer) -> None:
    headers = {**auth_headers(server), "Content-Type": "application/json"}
    big = b'{"program_id": "sampler", "params": "' + b"A" * (65 * 1024 * 1024) + b'"}'
    response = requests.post(f"{server.url}/api/v1/jobs", data=big, headers=headers, timeout=60)
    assert response.status_code == 413 and response.json()["errors"][0]["code"]


# Hostile payloads -------------------------------------------------------------------------------


def _wrapper(raw: bytes) -> dict[str, str]:
    return {"__type__": "ndarray", "__value__": base64.b64encode(zlib.compress(raw)).decode()}


class _Boom:
    def __reduce__(self) -> Any:
        return (exec, ("raise SystemExit('pickle executed')",))


def test_pickled_npy_payloads_are_refused_without_execution() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Boom()], dtype=object), allow_pickle=True)
    with pytest.raises(ResultDecodeError, match="refusing dtype"):
        decode_tagged(json.dumps(_wrapper(buffer.getvalue())))


def test_enormous_declared_shapes_are_refused_before_allocation() -> None:
    header = npy_bytes(np.zeros(1, dtype=np.uint8))
    forged = header.replace(b"(1,)", b"(999999999999,)")
    with pytest.raises(ResultDecodeError):
        decode_tagged(json.dumps(_wrapper(forged)))


def test_deeply_nested_json_is_a_clear_error() -> None:
    with pytest.raises(ResultDecodeError):
        decode_result("[" * 100_000 + "]" * 100_000)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_decoder_fuzz_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(ResultDecodeError):
        decode_result(data)


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(["__type__", "__value__", "array", "num_bits", "fields", "x"]),
                children,
                max_size=4,
            )
            | st.builds(
                lambda tag, value: {"__type__": tag, "__value__": value},
                st.sampled_from(
                    [
                        "ndarray",
                        "BitArray",
                        "DataBin",
                        "PrimitiveResult",
                        "SamplerPubResult",
                        "ExecutionSpans",
                        "DoubleSliceSpan",
                        "datetime",
                        "complex",
                        "set",
                        "Other",
                    ]
                ),
                children,
            )
        ),
        max_leaves=20,
    )
)
def test_decoder_fuzz_structured_json(document: Any) -> None:
    with contextlib.suppress(ResultDecodeError):
        decode_result(json.dumps(document))


@pytest.mark.parametrize(
    "document",
    [
        {"__type__": "complex", "__value__": [None, 1]},  # found by the fuzzer in CI
        {"__type__": "complex", "__value__": [True, 1.0]},
        {"__type__": "complex", "__value__": ["1", "2"]},
        {"__type__": "set", "__value__": [[1]]},
        {"__type__": "set", "__value__": [{"a": 1}]},
        {"__type__": "ndarray", "__value__": "\u0000ndarray:0"},
        {"__type__": "DataBin", "__value__": {"fields": {"a": 1}, "shape": [1, [2]]}},
    ],
)
def test_decoder_rejects_malformed_tagged_values(document: Any) -> None:
    with pytest.raises(ResultDecodeError, match=r"malformed|must be"):
        decode_tagged(json.dumps(document))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
def test_qasm_reader_fuzz(text: str) -> None:
    source = 'OPENQASM 3.0; include "stdgates.inc"; ' + text
    with contextlib.suppress(QASM3Error):
        loads_isa(source, max_qubits=8)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(max_size=30),
            st.lists(st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=10)), max_size=4),
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        ),
        max_size=4,
    ),
    st.sampled_from(["sampler", "estimator"]),
)
def test_params_reader_fuzz(pubs: list[Any], program: str) -> None:
    with contextlib.suppress(PubError):
        decode_pubs(program, pubs, num_qubits=8, default_shots=10, default_precision=0.1)
