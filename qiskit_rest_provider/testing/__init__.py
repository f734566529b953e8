"""The testing kit: fixtures and fault injection for code that talks to a Runtime service.

- :mod:`.pytest_plugin`: the ``local_runtime_server`` and ``local_provider`` fixtures
  (registered as the ``qiskit_rest`` pytest plugin when the package is installed);
- :mod:`.faults`: :class:`FaultConfig` and :class:`FaultProxy`, a seeded TCP proxy that injects
  latency, error statuses and connection resets in front of a service;
- :mod:`.servers`: :class:`FaultyRuntimeServer`, the local service behind that proxy.

Needs the ``server`` extra. Sits above the client and the server; neither imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .faults import FaultConfig, FaultProxy
    from .servers import FaultyRuntimeServer

__all__ = ["FaultConfig", "FaultProxy", "FaultyRuntimeServer"]

_EXPORTS = {"FaultConfig": ".faults", "FaultProxy": ".faults", "FaultyRuntimeServer": ".servers"}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    """The module's attributes, the public names not loaded yet included."""
    return sorted({*globals(), *__all__})
