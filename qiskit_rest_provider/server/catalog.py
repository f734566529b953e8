"""The device catalog: the devices served, which instance may use which, their Targets, and
their listing, status and properties documents."""

from __future__ import annotations

import threading
from typing import Any

from qiskit.transpiler import Target

from ..core.target import build_target
from ..wire.times import parse_iso
from .devices import Device, mock_twin
from .errors import ServiceError
from .instances import Instances
from .store import Store

__all__ = ["MAX_CACHED_TARGETS", "Catalog"]

#: Targets kept built (least recently used dropped first); only known calibrations are cached.
MAX_CACHED_TARGETS = 16


class Catalog:
    """The devices a service serves, by name, with a bounded cache of their Targets.

    Args:
        devices: The devices to serve.
        store: Read for queue lengths only.
        instances: The configured instances: which devices each may use (every instance may
            use every device if not given; see :meth:`Instances.allows`).
        mocks: Also serve each device's dry-run twin (``mock_*``, see
            :func:`~.devices.mock_twin`): listed only with ``include_mocks``, usable by the
            instances that may use its device.

    Raises:
        ValueError: an instance names a device that is not served.
    """

    def __init__(
        self,
        devices: list[Device],
        store: Store,
        instances: Instances | None = None,
        *,
        mocks: bool = False,
    ) -> None:
        #: The devices served (mock twins included), by name.
        self.devices = {d.name: d for d in devices}
        self.store = store
        self.instances = instances if instances is not None else Instances([])
        self.instances.check_backends(self.devices)
        #: The device each mock twin stands for, by the twin's name.
        self.twins: dict[str, str] = {}
        #: Built Targets by ``(device name, calibration id)``, least recently used first.
        self.targets: dict[tuple[str, str | None], Target] = {}
        self._lock = threading.Lock()
        if mocks:
            self.add_mock_twins()

    def add_mock_twins(self) -> list[str]:
        """Serve the dry-run twin of every device that has none yet (in :attr:`devices`, which
        the scheduler shares, so jobs run on them); the names added."""
        added = []
        for device in list(self.devices.values()):
            twin = mock_twin(device)
            if twin is not None and twin.name not in self.devices:
                self.devices[twin.name] = twin
                self.twins[twin.name] = device.name
                added.append(twin.name)
        return added

    def allows(self, instance: str, device: Device) -> bool:
        """Whether ``instance`` may use ``device`` (a mock twin: whether it may use the twin's
        device)."""
        return self.instances.allows(instance, self.twins.get(device.name, device.name))

    def device(self, name: str, instance: str | None = None) -> Device:
        """The device called ``name`` (404 if there is none, or if ``instance`` is given and
        may not use it: an instance cannot tell another instance's devices from unknown
        names)."""
        device = self.devices.get(name)
        if device is None or (instance is not None and not self.allows(instance, device)):
            raise ServiceError(404, "backend_not_found", f"Backend {name!r} not found.")
        return device

    def visible(self, instance: str, *, include_mocks: bool = False) -> list[Device]:
        """The devices ``instance`` may use, in catalog order; mock twins only with
        ``include_mocks`` (as ``GET /v1/backends?include_mocks=true`` lists them)."""
        return [
            d
            for d in self.devices.values()
            if (include_mocks or not d.mock) and self.allows(instance, d)
        ]

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
        entry: dict[str, Any] = {
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
        if device.mock:
            # What the official client reads to tell a dry-run twin from a device.
            entry["class"] = "mock"
        return entry

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
