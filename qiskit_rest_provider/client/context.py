"""``ClientContext``: what the backends, jobs and sessions of one provider share.

A provider owns one context; every backend, job and session it makes holds that context instead
of the provider, so none of them needs the provider's internals: the REST client (one method per
endpoint), the instance, a cache of built Targets, and a way to look a backend up by name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qiskit.transpiler import Target

from ..api.client import RuntimeRestClient
from ..core.configuration import BackendConfiguration
from ..core.properties import BackendProperties
from ..core.target import build_target
from ..errors import BackendDataError

if TYPE_CHECKING:  # annotations only: backends hold a context, never the other way round
    from .backend import RestBackend

__all__ = ["ClientContext", "TargetCache", "check_target_data"]


def check_target_data(config: BackendConfiguration, props: BackendProperties | None) -> Target:
    """Build a Target, turning any data problem into :class:`BackendDataError`."""
    try:
        return build_target(config, props)
    except BackendDataError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise BackendDataError(f"backend {config.backend_name}: {exc}") from exc


class TargetCache:
    """Built Targets, one per backend, configuration version, calibration and fractional flag
    (building a 156-qubit Target takes tens of milliseconds; backends and ``target_history``
    share them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: dict[tuple[Any, ...], Target] = {}

    def get(
        self,
        name: str,
        config: BackendConfiguration,
        props: BackendProperties | None,
        fractional: bool,
    ) -> Target:
        """The Target of this configuration and calibration, built once."""
        raw_props = props.to_dict() if props is not None else {}
        key = (
            name,
            str(config.get("backend_version")),
            raw_props.get("last_update_date"),
            raw_props.get("calibration_id"),
            fractional,
            len(raw_props.get("qubits") or ()),
        )
        with self._lock:
            cached = self._targets.get(key)
        if cached is not None:
            return cached
        target = check_target_data(config, props)
        with self._lock:
            return self._targets.setdefault(key, target)

    def __len__(self) -> int:
        with self._lock:
            return len(self._targets)


class ClientContext:
    """The shared state of one provider's backends, jobs and sessions.

    Args:
        rest: The REST client every request goes through.
        instance: The instance CRN, if any.
        backend_lookup: Returns the backend object of a name (the provider's cached one); used
            by jobs and sessions rebuilt from the service, which know only a backend's name.
        owner: The object that made this context (the provider), returned by
            ``RestBackend.provider``.
    """

    def __init__(
        self,
        rest: RuntimeRestClient,
        *,
        instance: str | None,
        backend_lookup: Callable[[str], RestBackend],
        owner: Any = None,
    ) -> None:
        self.rest = rest
        self.instance = instance
        self.targets = TargetCache()
        self.owner = owner
        self._backend_lookup = backend_lookup

    def backend(self, name: str) -> RestBackend:
        """The backend object of ``name`` (no request is made)."""
        return self._backend_lookup(name)

    def __repr__(self) -> str:
        return f"<ClientContext(instance=..., targets={len(self.targets)})>"
