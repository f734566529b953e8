"""The local Qiskit Runtime service: a real HTTP server speaking the REST API.

Requires the ``server`` extra (FastAPI, uvicorn, qiskit-aer)::

    from qiskit_rest_provider.server import LocalRuntimeServer

    with LocalRuntimeServer() as server:
        provider = server.provider()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LocalRuntimeServer"]

if TYPE_CHECKING:
    from .runner import LocalRuntimeServer


def __getattr__(name: str) -> Any:
    if name == "LocalRuntimeServer":
        from .runner import LocalRuntimeServer

        return LocalRuntimeServer
    raise AttributeError(name)
