"""``FaultyRuntimeServer``: the local service behind a fault-injecting proxy (for clients'
tests)."""

from __future__ import annotations

from typing import Any

from ..server.runner import LocalRuntimeServer
from .faults import FaultConfig, FaultProxy

__all__ = ["FaultyRuntimeServer"]


class FaultyRuntimeServer(LocalRuntimeServer):
    """A :class:`~qiskit_rest_provider.server.LocalRuntimeServer` whose clients reach it through
    a :class:`~qiskit_rest_provider.testing.faults.FaultProxy`.

    :attr:`url` is the proxy's (clients meet the faults); :attr:`upstream_url` is the service's
    own (for setting up and checking without faults). Every other argument is
    :class:`~qiskit_rest_provider.server.LocalRuntimeServer`'s.

    Args:
        faults: What to inject, at which rates, from which seed.
        kwargs: The arguments of :class:`~qiskit_rest_provider.server.LocalRuntimeServer`.

    Example::

        with FaultyRuntimeServer(faults=FaultConfig.uniform(0.1, seed=7)) as server:
            provider = server.provider()  # through the proxy
            ...
            print(server.fault_counts)  # faults injected by kind
    """

    def __init__(self, *, faults: FaultConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._faults = faults
        self._fault_proxy: FaultProxy | None = None

    @property
    def faults(self) -> FaultConfig:
        """What the proxy injects."""
        return self._faults

    @property
    def port(self) -> int:
        """The proxy's port once started (the service's before)."""
        return self._fault_proxy.port if self._fault_proxy is not None else super().port

    @property
    def fault_counts(self) -> dict[str, int]:
        """Requests seen and faults injected, by kind (empty before :meth:`start`)."""
        return self._fault_proxy.counts if self._fault_proxy is not None else {}

    def start(self) -> FaultyRuntimeServer:
        """Start the service, then the proxy in front of it."""
        super().start()
        self._fault_proxy = FaultProxy(self.service_port, self._faults, host=self.host).start()
        return self

    def stop(self) -> None:
        """Stop the proxy, then the service."""
        if self._fault_proxy is not None:
            self._fault_proxy.stop()
        super().stop()

    def __enter__(self) -> FaultyRuntimeServer:
        return self.start()
