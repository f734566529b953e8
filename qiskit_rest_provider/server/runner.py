"""``LocalRuntimeServer``: run the local service on a loopback port, in this process."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..provider import QiskitRestProvider
    from .faults import FaultConfig, FaultProxy

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
        db: SQLite database path (``":memory:"`` by default: nothing persists).
        backends_dir: Serve devices from snapshot files instead of the synthetic catalog.
        api_key: The API key clients use (random if omitted). It replaces the keys stored in
            ``db`` for ``instance`` by an earlier run: the old key stops working.
        instance: The instance CRN the key may use (random if omitted; keep it to reuse ``db``).
        token_lifetime: Lifetime of issued access tokens, in seconds.
        workers: Simulation worker processes.
        max_queued_per_instance: Queued plus running jobs per instance; more are refused with
            429 (0: no limit).
        max_execution_seconds: The longest any job may run (reason code 1305 beyond it).
        revoke_keys: Revoke every API key stored in ``db`` before storing ``api_key``.
        max_auth_failures: Failed API-key attempts per client address within
            ``auth_failure_window`` seconds before the client is answered 429 (0: never).
        auth_failure_window: That window, in seconds.
        faults: Inject faults through a proxy in front of the service (off by default); see
            :class:`~qiskit_rest_provider.server.faults.FaultConfig`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str | Path = ":memory:",
        backends_dir: str | Path | None = None,
        api_key: str | None = None,
        instance: str | None = None,
        token_lifetime: int = 3600,
        workers: int = 1,
        allow_remote: bool = False,
        faults: FaultConfig | None = None,
        max_queued_per_instance: int = 100,
        max_execution_seconds: float = 600.0,
        revoke_keys: bool = False,
        max_auth_failures: int = 10,
        auth_failure_window: float = 60.0,
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
            token_lifetime=token_lifetime,
            workers=workers,
            max_queued_per_instance=max_queued_per_instance,
            max_execution_seconds=max_execution_seconds,
            revoke_keys=revoke_keys,
            max_auth_failures=max_auth_failures,
            auth_failure_window=auth_failure_window,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._faults = faults
        self._proxy: FaultProxy | None = None
        self.service: Any = None

    @property
    def port(self) -> int:
        """The port clients use (the fault proxy's when faults are injected)."""
        return self._proxy.port if self._proxy is not None else self._port

    @property
    def url(self) -> str:
        """Base URL clients use (the REST API lives under ``/api/v1``); with ``faults``, the
        fault-injecting proxy's."""
        return f"http://{self.host}:{self.port}"

    @property
    def upstream_url(self) -> str:
        """The service itself, bypassing any fault proxy."""
        return f"http://{self.host}:{self._port}"

    @property
    def fault_counts(self) -> dict[str, int]:
        """Requests seen and faults injected by kind (empty without ``faults``)."""
        return self._proxy.counts if self._proxy is not None else {}

    @property
    def iam_url(self) -> str:
        return self.url

    @property
    def api_key(self) -> str:
        return str(self.service.api_key)

    @property
    def instance(self) -> str:
        return str(self.service.instance)

    def start(self) -> LocalRuntimeServer:
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
        if self._faults is not None:
            from .faults import FaultProxy

            self._proxy = FaultProxy(self._port, self._faults, host=self.host).start()
        return self

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
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
        """A provider connected to this service."""
        from ..provider import QiskitRestProvider

        return QiskitRestProvider(
            token=self.api_key, instance=self.instance, url=self.url, iam_url=self.iam_url, **kwargs
        )
