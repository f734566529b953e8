"""``LocalRuntimeServer``: run the local service on a loopback port, in this process."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .instances import InstanceSpec

if TYPE_CHECKING:
    from ..client.provider import QiskitRestProvider
    from .proxy import CloudProxy

__all__ = ["LocalRuntimeServer"]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class LocalRuntimeServer:
    """The local service on ``http://127.0.0.1:<port>``, as a context manager.

    Args:
        host: Bind address; loopback by default. A non-loopback address needs
            ``allow_remote=True`` and an explicit ``api_key``.
        port: Port (0 picks a free ephemeral port).
        db: SQLite database path (``":memory:"`` by default: nothing persists), or a
            PostgreSQL URL (``postgresql://user@host:port/dbname``) that several service
            processes share as one queue.
        backends_dir: Serve devices from snapshot files instead of the synthetic catalog.
        api_key: The API key clients use (random if omitted). It replaces the keys stored in
            ``db`` for ``instance`` by an earlier run: the old key stops working.
        instance: The instance CRN the key may use (random if omitted; keep it to reuse ``db``).
        instances: Several instances to serve instead (CRN, name, plan, backends, usage limit,
            tags: :class:`~qiskit_rest_provider.server.instances.InstanceSpec`); the API key may
            use all of them, and clients given no instance discover them.
        mock_backends: Also serve each device's dry-run twin (``mock_*``).
        proxy: Also run :attr:`proxy_url`, the HTTP proxy through which the official client
            reaches this service with no instance (see :meth:`official_client_options`).
        token_lifetime: Lifetime of issued access tokens, in seconds.
        workers: Simulation worker processes.
        max_queued_per_instance: Queued plus running jobs per instance; more are refused with
            429 (0: no limit).
        max_execution_seconds: The longest any job may run (reason code 1305 beyond it).
        revoke_keys: Revoke every API key stored in ``db`` before storing ``api_key``.
        max_auth_failures: Failed API-key attempts per client address within
            ``auth_failure_window`` seconds before the client is answered 429 (0: never).
        auth_failure_window: That window, in seconds.
        usage_limit_seconds: The usage limit of ``instance`` in seconds per usage period (the
            calendar month, UTC): reported by ``GET /v1/instances/usage``, and once the
            instance's jobs have used it, new jobs are refused with 409. ``None``: unlimited.
        queue_delay: Seconds a job stays Queued at least (default 0: it starts at once).
        min_job_seconds: Seconds a job stays Running at least (default 0: it ends when its
            simulation does). With these two, tests can see Queued and Running, time out
            waiting for a result and cancel a running job.
        emulate_static_zz: Emulate the calibrated static ZZ between coupled idle qubits
            (default True; see :class:`~qiskit_rest_provider.server.LocalService`).
        emulate_idle_noise: Apply relaxation and ZZ to idle windows and delays (default True).
        max_job_memory_bytes: Bytes one job's simulation may hold; wider jobs are refused at
            submission (default: half the machine's memory shared by the workers).
        dask_scheduler: Run every job's simulation on the Dask cluster of this scheduler
            address (``tcp://host:8786``) instead of on ``workers`` local processes.
        faults: Deprecated: use :class:`~qiskit_rest_provider.testing.FaultyRuntimeServer`,
            which this argument still builds (with a ``DeprecationWarning``) for one release.
    """

    def __new__(cls, *args: Any, faults: Any = None, **kwargs: Any) -> LocalRuntimeServer:
        if faults is not None and cls is LocalRuntimeServer:
            import warnings

            # Deprecated alias (the fault proxy moved to the testing kit); the one place the
            # server refers to the kit, declared in the import contracts.
            from ..testing.servers import FaultyRuntimeServer

            warnings.warn(
                "LocalRuntimeServer(faults=...) is deprecated; use "
                "qiskit_rest_provider.testing.FaultyRuntimeServer(faults=...)",
                DeprecationWarning,
                stacklevel=2,
            )
            return super().__new__(FaultyRuntimeServer)
        return super().__new__(cls)

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str | Path = ":memory:",
        backends_dir: str | Path | None = None,
        api_key: str | None = None,
        instance: str | None = None,
        instances: Sequence[InstanceSpec] | None = None,
        mock_backends: bool = True,
        proxy: bool = True,
        token_lifetime: int = 3600,
        workers: int = 1,
        allow_remote: bool = False,
        max_queued_per_instance: int = 100,
        max_execution_seconds: float = 600.0,
        revoke_keys: bool = False,
        max_auth_failures: int = 10,
        auth_failure_window: float = 60.0,
        usage_limit_seconds: float | None = None,
        queue_delay: float = 0.0,
        min_job_seconds: float = 0.0,
        emulate_static_zz: bool = True,
        emulate_idle_noise: bool = True,
        max_job_memory_bytes: int | None = None,
        dask_scheduler: str | None = None,
    ) -> None:
        if not _is_loopback(host) and not (allow_remote and api_key):
            raise ValueError(
                f"refusing to bind {host}: the local service binds loopback only unless "
                "allow_remote=True and an api_key are given"
            )
        self.host = host
        self._port = port
        self._options: dict[str, Any] = dict(
            db=db,
            backends_dir=backends_dir,
            api_key=api_key,
            instance=instance,
            instances=instances,
            mock_backends=mock_backends,
            token_lifetime=token_lifetime,
            workers=workers,
            max_queued_per_instance=max_queued_per_instance,
            max_execution_seconds=max_execution_seconds,
            revoke_keys=revoke_keys,
            max_auth_failures=max_auth_failures,
            auth_failure_window=auth_failure_window,
            usage_limit_seconds=usage_limit_seconds,
            queue_delay=queue_delay,
            min_job_seconds=min_job_seconds,
            emulate_static_zz=emulate_static_zz,
            emulate_idle_noise=emulate_idle_noise,
            max_job_memory_bytes=max_job_memory_bytes,
            dask_scheduler=dask_scheduler,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._want_proxy = proxy
        self._cloud_proxy: CloudProxy | None = None
        self.service: Any = None

    @property
    def port(self) -> int:
        """The port clients use."""
        return self._port

    @property
    def service_port(self) -> int:
        """The port the service itself listens on (0 before :meth:`start` if none was given)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL clients use (the REST API lives under ``/api/v1``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def upstream_url(self) -> str:
        """The service itself (the same as :attr:`url` unless a subclass puts a proxy in
        front, as :class:`~qiskit_rest_provider.testing.FaultyRuntimeServer` does)."""
        return f"http://{self.host}:{self._port}"

    @property
    def iam_url(self) -> str:
        """The IAM token endpoint's host (the service serves ``/identity/token`` itself)."""
        return self.url

    @property
    def api_key(self) -> str:
        """The API key clients use."""
        return str(self.service.api_key)

    @property
    def instance(self) -> str:
        """The instance CRN the API key may use (the first one, with several)."""
        return str(self.service.instance)

    @property
    def instances(self) -> list[str]:
        """Every instance CRN the API key may use."""
        return list(self.service.instances.crns)

    @property
    def cloud_proxy(self) -> CloudProxy | None:
        """The proxy of :attr:`proxy_url` (its port and counters), or None before
        :meth:`start` or without ``proxy=True``."""
        return self._cloud_proxy

    @property
    def proxy_url(self) -> str:
        """The HTTP proxy that leads IBM Cloud host names to this service (see
        :meth:`official_client_options`)."""
        if self._cloud_proxy is None:
            raise RuntimeError("the proxy runs only with proxy=True, once the server started")
        return str(self._cloud_proxy.url)

    def official_client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``qiskit_ibm_runtime.QiskitRuntimeService`` that reach this
        service with documented options only: ``channel``, ``token``, ``url``, ``proxies``
        (this service's proxy, for http and https) and ``verify=False`` (the proxy ends the
        client's TLS to IBM Cloud IAM with a self-signed certificate). Add ``instance=`` to
        pick one; without it the client discovers the instances."""
        proxies = {"urls": {"http": self.proxy_url, "https": self.proxy_url}}
        return {
            "channel": "ibm_quantum_platform",
            "token": self.api_key,
            "url": self.url,
            "proxies": proxies,
            "verify": False,
        }

    def start(self) -> LocalRuntimeServer:
        """Start the service and its HTTP server; returns ``self`` once it accepts requests."""
        import uvicorn

        from .app import create_app
        from .service import LocalService

        self.service = LocalService(**self._options)
        self.service.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this: without it, Nagle's algorithm holds back the body
        # written after the headers until the client's delayed ACK (about 40 ms per request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.service), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="local-runtime-server",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local service failed to start")
            time.sleep(0.01)
        if self._want_proxy:
            from .proxy import CloudProxy

            self._cloud_proxy = CloudProxy(
                self.service_port, upstream_host=self.host, host=self.host
            )
            self._cloud_proxy.start()
        return self

    def stop(self) -> None:
        """Stop the HTTP server and the service (its workers included)."""
        if self._cloud_proxy is not None:
            self._cloud_proxy.stop()
            self._cloud_proxy = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self.service is not None:
            self.service.stop()

    def __enter__(self) -> LocalRuntimeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def provider(self, **kwargs: Any) -> QiskitRestProvider:
        """A provider connected to this service (``kwargs`` go to the provider).

        The one place the server refers to the client (imported here, declared in the import
        contracts): a convenience for tests and examples.
        """
        from ..client.provider import QiskitRestProvider

        return QiskitRestProvider(
            token=self.api_key, instance=self.instance, url=self.url, iam_url=self.iam_url, **kwargs
        )
