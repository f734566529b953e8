"""schemathesis against the service's OpenAPI document: generated requests to every operation
never produce a 5xx, and every 4xx carries an error body."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from qiskit_rest_provider.server import LocalRuntimeServer

from .service_helpers import auth_headers

schemathesis = pytest.importorskip("schemathesis")

pytestmark = [pytest.mark.slow, pytest.mark.service]

EXAMPLES_PER_OPERATION = 40


def test_generated_requests_never_get_a_server_error(server: LocalRuntimeServer) -> None:
    headers = auth_headers(server)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.startswith("/api/v1/")
    ]
    assert len(operations) >= 18
    seen: dict[str, int] = {}
    failures: list[str] = []

    def checker(operation: Any) -> Any:
        key = f"{operation.method.upper()} {operation.path}"

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=server.url, headers=headers, timeout=30)
            seen[key] = seen.get(key, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{key}: {response.status_code} {response.text[:200]}")
            elif response.status_code >= 400:
                body = response.json()
                if not body.get("errors") or not body["errors"][0].get("message"):
                    failures.append(f"{key}: {response.status_code} without an error body")

        return check

    for operation in operations:
        checker(operation)()

    assert not failures, failures[:5]
    total = sum(seen.values())
    print(f"schemathesis: {total} generated requests over {len(seen)} operations")
    assert total >= len(operations) * 5
