"""``RestBackend``: a Qiskit ``BackendV2`` whose Target comes from the REST API.

Nothing is fetched when the object is created. Configuration and properties are fetched on
first need and cached; the Target is built once per calibration and shared by every backend
object of the same provider. ``refresh()`` fetches again.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qiskit.circuit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target

from ..core.configuration import BackendConfiguration, is_fractional_name
from ..core.properties import BackendProperties
from ..wire.times import to_utc_iso
from .backend_run import BackendRunJob, run_circuits
from .context import ClientContext

if TYPE_CHECKING:
    from .provider import QiskitRestProvider

__all__ = ["BackendStatus", "RestBackend"]


@dataclass(frozen=True)
class BackendStatus:
    """A backend's status as reported by ``/v1/backends/{name}/status``."""

    backend_name: str
    backend_version: str
    operational: bool
    pending_jobs: int
    status_msg: str

    @classmethod
    def from_wire(cls, name: str, data: Mapping[str, Any]) -> BackendStatus:
        """The status of backend ``name`` from its ``/status`` document (missing fields: not
        operational, empty queue)."""
        return cls(
            backend_name=name,
            backend_version=str(data.get("backend_version") or "0.0.0"),
            operational=bool(data.get("state", False)),
            pending_jobs=max(int(data.get("length_queue") or 0), 0),
            status_msg=str(data.get("status") or ""),
        )


class RestBackend(BackendV2):
    """A device or simulator reachable through the Qiskit Runtime REST API.

    Obtain one from :meth:`QiskitRestProvider.backend` or :meth:`QiskitRestProvider.backends`.

    Args:
        name: The backend name.
        context: The context of the provider it belongs to (or the provider itself).
        listing: Its entry in ``GET /v1/backends`` if known (qubits, status, processor type).
        use_fractional_gates: Offer fractional gates (``rzz``, ``rx``) in the Target.
        calibration_id: Pin the backend to one calibration.
    """

    def __init__(
        self,
        name: str,
        context: ClientContext | QiskitRestProvider,
        *,
        listing: Mapping[str, Any] | None = None,
        use_fractional_gates: bool = False,
        calibration_id: str | None = None,
    ) -> None:
        self._context = context if isinstance(context, ClientContext) else context.context
        self._listing = dict(listing or {})
        self._use_fractional_gates = bool(use_fractional_gates)
        self._calibration_id = calibration_id
        self._lock = threading.RLock()
        self._configuration: BackendConfiguration | None = None
        self._properties: BackendProperties | None = None
        self._properties_fetched = False
        self._target: Target | None = None
        super().__init__(provider=None, name=name)
        self._options.update_options(use_fractional_gates=self._use_fractional_gates)

    def __repr__(self) -> str:
        return f"<RestBackend('{self.name}')>"

    @classmethod
    def _default_options(cls) -> Options:
        return Options(shots=4000, memory=False, seed_simulator=None, use_fractional_gates=False)

    # Identity fields that BackendV2.__init__ assigns; ours are derived lazily. -----------------

    @property
    def online_date(self) -> _dt.datetime | None:
        """When the device went online (from its configuration; fetched on first use)."""
        return self.configuration().online_date

    @online_date.setter
    def online_date(self, value: Any) -> None:  # BackendV2.__init__ assigns None
        pass

    @property
    def backend_version(self) -> str | None:
        """The configuration's ``backend_version``."""
        value = self.configuration().get("backend_version")
        return None if value is None else str(value)

    @backend_version.setter
    def backend_version(self, value: Any) -> None:
        pass

    @property
    def description(self) -> str | None:
        """The configuration's ``description``."""
        value = self.configuration().get("description")
        return None if value is None else str(value)

    @description.setter
    def description(self, value: Any) -> None:
        pass

    @property
    def provider(self) -> QiskitRestProvider:
        """The provider this backend belongs to."""
        return self._context.owner  # type: ignore[no-any-return]

    @property
    def context(self) -> ClientContext:
        """The provider's shared context (REST client, Target cache)."""
        return self._context

    def update_listing(self, listing: Mapping[str, Any]) -> None:
        """Replace this backend's ``GET /v1/backends`` entry with a newer one."""
        self._listing = dict(listing)

    @property
    def use_fractional_gates(self) -> bool:
        """Whether the Target offers fractional gates (``rzz``, ``rx`` with any angle)."""
        return self._use_fractional_gates

    @property
    def calibration_id(self) -> str | None:
        """The calibration this backend is pinned to, if any (jobs are submitted with it)."""
        return self._calibration_id

    @property
    def listing(self) -> dict[str, Any]:
        """This backend's entry from ``GET /v1/backends`` (may be empty)."""
        return dict(self._listing)

    @property
    def known_num_qubits(self) -> int | None:
        """The width this backend is already known to have, without a request: from its
        configuration if it was fetched, else from its listing entry; ``None`` if neither."""
        config = self._configuration
        known = config.n_qubits if config is not None else self._listing.get("qubits")
        if isinstance(known, int) and not isinstance(known, bool) and known > 0:
            return known
        return None

    @property
    def processor_type(self) -> dict[str, Any] | None:
        """The processor family and revision (``{"family": ..., "revision": ...}``), if known."""
        value = self._listing.get("processor_type") or self.configuration().get("processor_type")
        return dict(value) if isinstance(value, dict) else None

    @property
    def simulator(self) -> bool:
        """Whether this is a simulator (from the listing if known, else the configuration)."""
        if "is_simulator" in self._listing:
            return bool(self._listing["is_simulator"])
        return self.configuration().simulator

    # Data -------------------------------------------------------------------------------------

    def configuration(self) -> BackendConfiguration:
        """The backend configuration (fetched once, then cached)."""
        config = self._configuration
        if config is None:
            with self._lock:
                if self._configuration is None:
                    raw = self._context.rest.backend_configuration(
                        self.name, calibration_id=self._calibration_id
                    )
                    config = BackendConfiguration(raw)
                    if not self._use_fractional_gates:
                        config = config.without_fractional_gates()
                    self._configuration = config
                config = self._configuration
        return config

    def properties(
        self, refresh: bool = False, datetime: _dt.datetime | None = None
    ) -> BackendProperties | None:
        """Calibration data; ``None`` for backends without properties (simulators).

        Args:
            refresh: Fetch again instead of using the cached copy.
            datetime: Return the calibration in force at this time (not cached).
        """
        if datetime is not None:
            # A naive datetime is local time, as in the official client.
            return self._fetch_properties(updated_before=to_utc_iso(datetime))
        if refresh or not self._properties_fetched:
            with self._lock:
                if refresh or not self._properties_fetched:
                    self._properties = self._fetch_properties()
                    self._properties_fetched = True
        return self._properties

    def _fetch_properties(self, updated_before: str | None = None) -> BackendProperties | None:
        config = self.configuration()
        if config.simulator and not updated_before:
            return None
        raw = self._context.rest.backend_properties(
            self.name, updated_before=updated_before, calibration_id=self._calibration_id
        )
        if not raw or not (raw.get("qubits") or raw.get("gates")):
            return None
        if not self._use_fractional_gates:
            raw = _strip_fractional_properties(raw)
        return BackendProperties(raw, dt=config.get("dt"))

    def status(self) -> BackendStatus:
        """Operational state and queue length, fetched now."""
        return BackendStatus.from_wire(self.name, self._context.rest.backend_status(self.name))

    def refresh(self) -> None:
        """Fetch configuration and properties again and rebuild the Target if they changed."""
        with self._lock:
            self._configuration = None
            self._properties_fetched = False
            self._target = None
            self._coupling_map = None
        self.configuration()
        self.properties()

    @property
    def target(self) -> Target:
        """The Qiskit Target built from the configuration and properties (built once and shared
        through the provider's Target cache; :meth:`refresh` rebuilds it)."""
        target = self._target
        if target is None:
            with self._lock:
                if self._target is None:
                    self._target = self._context.targets.get(
                        self.name,
                        self.configuration(),
                        self.properties(),
                        self._use_fractional_gates,
                    )
                target = self._target
        return target

    def target_history(self, datetime: _dt.datetime) -> Target:
        """The Target as it was at ``datetime`` (not cached on this backend)."""
        props = self.properties(datetime=datetime)
        return self._context.targets.get(
            self.name, self.configuration(), props, self._use_fractional_gates
        )

    @property
    def max_circuits(self) -> int | None:
        """The maximum number of circuits (pubs) per job (``max_experiments``)."""
        return self.configuration().max_experiments

    @property
    def max_shots(self) -> int | None:
        """The most shots a pub may ask for (``max_shots``), if the backend limits them."""
        return self.configuration().max_shots

    @property
    def dtm(self) -> float | None:
        """Measurement sample time in seconds."""
        value = self.configuration().get("dtm")
        return None if value is None else float(value)

    @property
    def meas_map(self) -> list[list[int]]:
        """Groups of qubits measured together (one group of every qubit if not configured)."""
        value = self.configuration().get("meas_map")
        if value:
            return [list(group) for group in value]
        return [list(range(self.configuration().n_qubits))]

    @property
    def supports_dynamic_circuits(self) -> bool:
        """Whether circuits may contain control flow (mid-circuit measurement and feed-forward)."""
        return self.configuration().supports_dynamic_circuits

    def check_faulty(self, circuit: QuantumCircuit) -> None:
        """Raise ``ValueError`` if ``circuit`` uses a qubit or edge marked non-operational."""
        props = self.properties()
        if props is None:
            return
        faulty_qubits = set(props.faulty_qubits())
        faulty_edges = {qargs for _name, qargs in props.faulty_gates()}
        for instruction in circuit.data:
            qubits = tuple(circuit.find_bit(q).index for q in instruction.qubits)
            bad = faulty_qubits.intersection(qubits)
            if bad:
                raise ValueError(
                    f"{instruction.operation.name} on qubits {list(qubits)} uses faulty "
                    f"qubit(s) {sorted(bad)}"
                )
            if len(qubits) > 1 and qubits in faulty_edges:
                raise ValueError(
                    f"{instruction.operation.name} on qubits {list(qubits)} uses a faulty edge"
                )

    def run(
        self,
        run_input: QuantumCircuit | Sequence[QuantumCircuit],
        **options: Any,
    ) -> BackendRunJob:
        """Run ISA circuits as one sampler job; ``job.result()`` is a ``qiskit.result.Result``.

        Options: ``shots`` (default ``backend.options.shots``), ``memory`` (per-shot results
        for ``get_memory()``), ``seed_simulator``, ``job_tags``, ``init_qubits``,
        ``rep_delay``. Circuits are checked against the Target first, as for the primitives.
        """
        return run_circuits(self, run_input, options, defaults=self.options)


def _strip_fractional_properties(raw: dict[str, Any]) -> dict[str, Any]:
    gates = raw.get("gates")
    if not isinstance(gates, list):
        return raw
    kept = [
        g for g in gates if not (isinstance(g, dict) and is_fractional_name(str(g.get("gate"))))
    ]
    if len(kept) == len(gates):
        return raw
    return {**raw, "gates": kept}
