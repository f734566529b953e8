"""Shared fixtures: one local Runtime service per test session, over real loopback HTTP."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from qiskit_rest_provider.client.provider import QiskitRestProvider
from qiskit_rest_provider.server import LocalRuntimeServer

# Property tests judge the code, not the machine: a slow CI box must not fail them on timing.
# Every failure prints the blob that replays it (@reproduce_failure).
settings.register_profile(
    "qiskit-rest",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("qiskit-rest")


# The service and provider fixtures are the shipped plugin's (qiskit_rest_provider.testing.
# pytest_plugin, registered by the package's pytest11 entry point): the suite uses what users
# get. `server` and `provider` are the short names the tests use for them.


@pytest.fixture(scope="session")
def server(local_runtime_server: LocalRuntimeServer) -> LocalRuntimeServer:
    """The session's local Runtime service (the plugin's ``local_runtime_server``)."""
    return local_runtime_server


@pytest.fixture()
def provider(local_provider: QiskitRestProvider) -> QiskitRestProvider:
    """A provider connected to it, closed after the test (the plugin's ``local_provider``)."""
    return local_provider


def pytest_configure(config: pytest.Config) -> None:
    """Fail early, and clearly, if the shipped plugin is not registered."""
    if not config.pluginmanager.has_plugin("qiskit_rest"):
        raise pytest.UsageError(
            "the qiskit_rest pytest plugin is not registered: install the package "
            '(pip install -e ".[test]") so that its pytest11 entry point is found'
        )


@pytest.fixture()
def official_service(server: LocalRuntimeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The official client configured by environment variables only (reference §9), talking
    to the service's ``/experimental/api/v1`` prefix."""
    monkeypatch.setenv("IAM_URL", server.iam_url)
    monkeypatch.setenv("QISKIT_FUNCTIONS_EXPERIMENTAL", "1")
    monkeypatch.setenv("QISKIT_IBM_TOKEN", server.api_key)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", server.instance)
    monkeypatch.setenv("QISKIT_IBM_URL", server.url)
    monkeypatch.setenv("QISKIT_IBM_CHANNEL", "ibm_quantum_platform")
    runtime = pytest.importorskip("qiskit_ibm_runtime")
    api = f"{server.url}/experimental/api/v1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield runtime.QiskitRuntimeService(url_resolver=lambda *_args: api)


@pytest.fixture(autouse=True)
def _environment_unchanged() -> Iterator[None]:
    """A test leaves os.environ as it found it (use monkeypatch): a variable leaked by one test
    (QISKIT_*, IAM_URL, ...) would silently reconfigure the official client in later ones."""
    ignored = "PYTEST_CURRENT_TEST"  # pytest's own bookkeeping
    before = {k: v for k, v in os.environ.items() if k != ignored}
    yield
    after = {k: v for k, v in os.environ.items() if k != ignored}
    if after != before:
        changed = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
        for key in changed:
            if key in before:
                os.environ[key] = before[key]
            else:
                os.environ.pop(key, None)
        pytest.fail(f"the test changed os.environ: {changed} (use monkeypatch)")


@pytest.fixture()
def only_official_client_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """No QISKIT_* or IAM_* variable reaches the official client: only its arguments (what
    IBM's users pass). For tests that must hold without any environment switch."""
    for name in list(os.environ):
        if name.startswith(("QISKIT_", "IAM_")):
            monkeypatch.delenv(name)
