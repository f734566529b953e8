"""Shared fixtures: one local Runtime service per test session, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from qiskit_rest_provider.provider import QiskitRestProvider
from qiskit_rest_provider.server import LocalRuntimeServer

from .service_helpers import running_server

# Property tests judge the code, not the machine: a slow CI box must not fail them on timing.
# Every failure prints the blob that replays it (@reproduce_failure).
settings.register_profile(
    "qiskit-rest",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("qiskit-rest")


@pytest.fixture(scope="session")
def server() -> Iterator[LocalRuntimeServer]:
    with running_server(workers=1) as srv:
        yield srv


@pytest.fixture()
def provider(server: LocalRuntimeServer) -> Iterator[QiskitRestProvider]:
    prov = server.provider()
    try:
        yield prov
    finally:
        prov.close()
