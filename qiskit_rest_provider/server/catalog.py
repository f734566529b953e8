"""The device catalog: the devices served, their Targets, and their listing, status and
properties documents."""

from __future__ import annotations

import threading
from typing import Any

from qiskit.transpiler import Target

from ..core.target import build_target
from ..wire.times import parse_iso
from .devices import Device
from .errors import ServiceError
from .store import Store

__all__ = ["MAX_CACHED_TARGETS", "Catalog"]

#: Targets kept built (least recently used dropped first); only known calibrations are cached.
MAX_CACHED_TARGETS = 16


class Catalog:
    """The devices a service serves, by name, with a bounded cache of their Targets.

    ``store`` is read for queue lengths only.
    """

    def __init__(self, devices: list[Device], store: Store) -> None:
        #: The devices served, by name.
        self.devices = {d.name: d for d in devices}
        self.store = store
        #: Built Targets by ``(device name, calibration id)``, least recently used first.
        self.targets: dict[tuple[str, str | None], Target] = {}
        self._lock = threading.Lock()

    def device(self, name: str) -> Device:
        """The device called ``name`` (404 if there is none)."""
        device = self.devices.get(name)
        if device is None:
            raise ServiceError(404, "backend_not_found", f"Backend {name!r} not found.")
        return device

    def target(self, device: Device, calibration_id: str | None) -> Target:
        """The Target of ``device`` at a calibration (its latest without an id).

        Raises a 404 :class:`ServiceError` for an unknown calibration id. Targets are cached by
        resolved calibration, at most ``MAX_CACHED_TARGETS`` of them (least recently used
        dropped first), so arbitrary ids cannot grow the cache.
        """
        cal = (
            device.calibration(calibration_id=calibration_id)
            if calibration_id
            else device.calibration()
        )
        if calibration_id and cal is None:
            raise ServiceError(
                404, "calibration_not_found", f"Calibration {calibration_id!r} not found."
            )
        key = (device.name, cal.calibration_id if cal else None)
        with self._lock:
            target = self.targets.pop(key, None)
            if target is not None:
                self.targets[key] = target  # dicts keep order: last is most recently used
        if target is None:
            target = build_target(device.configuration, cal.properties if cal else None)
            with self._lock:
                self.targets[key] = target
                while len(self.targets) > MAX_CACHED_TARGETS:
                    del self.targets[next(iter(self.targets))]
        return target

    def device_entry(self, device: Device) -> dict[str, Any]:
        """The entry of ``device`` in ``GET /v1/backends``."""
        config = device.configuration
        queue = self.store.count_queued(device.name)
        return {
            "name": device.name,
            "status": {"name": device.status},
            "is_simulator": device.simulator,
            "qubits": device.num_qubits,
            "clops": {"type": "virtual", "value": 250000 if not device.simulator else 0},
            "processor_type": config.get("processor_type"),
            "queue_length": queue,
            "wait_time_seconds": {"average": queue * 2.0, "p50": queue * 2.0, "p95": queue * 4.0},
            "physical_qubits": device.num_qubits,
        }

    def device_status(self, device: Device) -> dict[str, Any]:
        """The status document of ``device``."""
        return {
            "state": device.status == "online",
            "status": "active" if device.status == "online" else device.status,
            "message": "",
            "length_queue": self.store.count_queued(device.name),
            "backend_version": str(device.configuration.get("backend_version", "1.0.0")),
        }

    def properties(
        self, device: Device, updated_before: str | None, calibration_id: str | None
    ) -> dict[str, Any]:
        """The properties document of ``device`` (empty for a simulator without a calibration
        id, or when no calibration matches)."""
        if device.simulator and not calibration_id:
            return {}
        before = None
        if updated_before:
            try:
                before = parse_iso(updated_before)
            except ValueError:
                raise ServiceError(
                    400, "invalid_request", f"updated_before {updated_before!r} is not a datetime"
                ) from None
        cal = device.calibration(updated_before=before, calibration_id=calibration_id)
        if cal is None:
            if calibration_id:
                raise ServiceError(
                    404, "calibration_not_found", f"Calibration {calibration_id!r} not found."
                )
            return {}
        return cal.properties
