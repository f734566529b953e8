"""pytest fixtures for testing your own Qiskit code offline against the local service.

Installed with the package (``pytest11`` entry point ``qiskit_rest``); needs the ``server``
extra. Fixtures:

``local_runtime_server``
    A :class:`~qiskit_rest_provider.server.LocalRuntimeServer` on a loopback port, one per test
    session, stopped at the end.
``local_provider``
    A :class:`~qiskit_rest_provider.QiskitRestProvider` connected to it (one per test).

Example::

    def test_bell(local_provider):
        backend = local_provider.backend("local_falcon")
        isa = generate_preset_pass_manager(1, backend=backend).run(bell)
        counts = SamplerV2(backend).run([isa]).result()[0].data.meas.get_counts()
        assert counts["00"] + counts["11"] > 3500

Options: ``--qiskit-rest-workers N`` (simulation worker processes, default 1),
``--qiskit-rest-backends-dir DIR`` (serve device snapshot files instead of the synthetic
catalog), and ``--qiskit-rest-queue-delay S`` / ``--qiskit-rest-min-job-seconds S`` (keep every
job Queued / Running at least S seconds, to test code that must see those states).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..client.provider import QiskitRestProvider
    from ..server import LocalRuntimeServer

__all__ = ["local_provider", "local_runtime_server"]


def pytest_addoption(parser: Any) -> None:
    """Add the ``--qiskit-rest-*`` options (workers, timing, device snapshots)."""
    group = parser.getgroup("qiskit-rest", "local Qiskit Runtime service fixtures")
    group.addoption(
        "--qiskit-rest-workers",
        type=int,
        default=1,
        help="simulation worker processes of the local service (default 1)",
    )
    group.addoption(
        "--qiskit-rest-queue-delay",
        type=float,
        default=0.0,
        help="seconds every job of the local service stays Queued at least (default 0)",
    )
    group.addoption(
        "--qiskit-rest-min-job-seconds",
        type=float,
        default=0.0,
        help="seconds every job of the local service stays Running at least (default 0)",
    )
    group.addoption(
        "--qiskit-rest-backends-dir",
        default=None,
        help="serve device snapshot files from this folder instead of the synthetic catalog",
    )


@pytest.fixture(scope="session")
def local_runtime_server(request: pytest.FixtureRequest) -> Iterator[LocalRuntimeServer]:
    """A running local Qiskit Runtime service (session scope)."""
    try:
        from ..server import LocalRuntimeServer
    except ImportError as exc:  # pragma: no cover - depends on installed extras
        pytest.skip(f"the local service needs qiskit-rest-provider[server]: {exc}")
    server = LocalRuntimeServer(
        workers=request.config.getoption("--qiskit-rest-workers"),
        backends_dir=request.config.getoption("--qiskit-rest-backends-dir"),
        queue_delay=request.config.getoption("--qiskit-rest-queue-delay"),
        min_job_seconds=request.config.getoption("--qiskit-rest-min-job-seconds"),
    )
    with warnings.catch_warnings():  # the simulator's import-time warnings are not the test's
        warnings.simplefilter("ignore")
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def local_provider(local_runtime_server: LocalRuntimeServer) -> Iterator[QiskitRestProvider]:
    """A provider connected to :func:`local_runtime_server` (closed after the test)."""
    provider = local_runtime_server.provider()
    try:
        yield provider
    finally:
        provider.close()
