"""``RestBackend``: a Qiskit ``BackendV2`` whose Target comes from the REST API.

Nothing is fetched when the object is created. Configuration and properties are fetched on
first need and cached; the Target is built once per calibration and shared by every backend
object of the same provider. ``refresh()`` fetches again.

Copies and pickles (code that deep-copies its options, as qiskit-ibm-runtime's local mode and
qiskit-experiments do, or sends a backend to another process):

- ``copy.copy`` and ``copy.deepcopy`` share the provider's connection (as ``IBMBackend``'s
  ``__deepcopy__`` shares its service) and the data already fetched; the copy's ``options`` are
  its own.
- A pickle holds the backend's name, flags, calibration id, listing entry and options, and an
  :class:`~qiskit_rest_provider.client.context.AccountReference` (the provider's class,
  instance, API and IAM URLs, TLS setting and saved-account name): never a token, an API key or
  a bearer token. The unpickled backend connects on its first network use, with the saved
  account of that name in the unpickling process, or else for the pickled instance and URL with
  the API key of ``QISKIT_IBM_TOKEN`` (or the default saved account); if none is there, that
  first use raises :class:`~qiskit_rest_provider.errors.AccountNotFoundError` saying what to
  set. Backends unpickled from the same account share one connection per process.
"""

from __future__ import annotations

import copy
import datetime as _dt
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from qiskit.circuit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.result import MeasLevel, MeasReturnType
from qiskit.transpiler import Target

from ..core.configuration import BackendConfiguration, is_fractional_name
from ..core.properties import BackendProperties
from ..errors import QiskitRestError
from ..wire.times import to_utc_iso
from .backend_run import BackendRunJob, run_circuits
from .context import AccountReference, ClientContext

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

    def to_dict(self) -> dict[str, Any]:
        """The status as a dict (the fields of qiskit-ibm-runtime's ``BackendStatus``)."""
        return asdict(self)


class RestBackend(BackendV2):
    """A device or simulator reachable through the Qiskit Runtime REST API.

    Obtain one from :meth:`QiskitRestProvider.backend` or :meth:`QiskitRestProvider.backends`.

    Besides ``BackendV2``'s interface it offers what ``qiskit_ibm_runtime.IBMBackend`` offers
    over REST: ``service``, ``instance``, ``configuration()``, ``properties(refresh=,
    datetime=)``, ``status()``, ``target_history(datetime=)``, ``refresh()``,
    ``check_faulty()``, ``get_translation_stage_plugin()``, ``calibration_id``, ``is_mock``,
    ``physical_qubits``, ``max_circuits`` (``None``, as IBM's), calling the backend returns it,
    and any configuration field is readable as an attribute (``backend.meas_levels``,
    ``backend.rep_delay_range``, ...). Unlike ``IBMBackend``, :meth:`run` runs circuits (as
    one sampler job). Two backend objects are equal when they are the same backend (name,
    fractional gates, calibration) of the same provider connection: copies equal the original.
    See the module's docstring for copies and pickles.

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
        # The names and defaults of IBMBackend's that apply over REST (see backend_run for what
        # each does); options of other backends that cannot apply are refused by run().
        return Options(
            shots=4000,
            memory=False,
            meas_level=MeasLevel.CLASSIFIED,
            meas_return=MeasReturnType.AVERAGE,
            rep_delay=None,
            init_qubits=True,
            seed_simulator=None,
            use_fractional_gates=False,
        )

    # Copies, pickles, identity -----------------------------------------------------------------

    def _clone(self) -> RestBackend:
        """A new backend object of the same backend and context, with the data fetched so far
        (configuration, properties and Target are never changed in place, only replaced, so
        sharing them is safe)."""
        clone = type(self)(
            self.name,
            self._context,
            listing=self._listing,
            use_fractional_gates=self._use_fractional_gates,
            calibration_id=self._calibration_id,
        )
        with self._lock:
            # The clone is a fresh instance of this class: its private cache is ours to fill.
            clone._configuration = self._configuration  # noqa: SLF001
            clone._properties = self._properties  # noqa: SLF001
            clone._properties_fetched = self._properties_fetched  # noqa: SLF001
            clone._target = self._target  # noqa: SLF001
            clone._coupling_map = self._coupling_map  # noqa: SLF001
        return clone

    def __copy__(self) -> RestBackend:
        """A copy sharing the provider's connection and fetched data; its options are a copy."""
        clone = self._clone()
        clone._options = copy.copy(self._options)  # noqa: SLF001 - see _clone
        return clone

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> RestBackend:
        """A copy sharing the provider's connection and fetched data (as ``IBMBackend``'s
        deep copy shares its service); its options are a deep copy."""
        clone = self._clone()
        if memo is not None:
            memo[id(self)] = clone
        clone._options = copy.deepcopy(self._options, memo)  # noqa: SLF001 - see _clone
        return clone

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by reference to the account, never with a credential (see the module's
        docstring).

        Raises:
            TypeError: the backend belongs to no provider whose account could be named.
        """
        return (
            _restore_backend,
            (
                self._context.account_reference(),
                self.name,
                self._use_fractional_gates,
                self._calibration_id,
                dict(self._listing),
                dict(self._options.items()),
            ),
        )

    def __eq__(self, other: object) -> bool:
        """Same backend (name, fractional gates, calibration) of the same provider connection."""
        if not isinstance(other, RestBackend):
            return NotImplemented
        return (
            self.name == other.name
            and self.use_fractional_gates == other.use_fractional_gates
            and self.calibration_id == other.calibration_id
            and self._context.same_service(other.context)
        )

    def __hash__(self) -> int:
        return hash(
            (type(self).__name__, self.name, self._use_fractional_gates, self._calibration_id)
        )

    def __call__(self) -> RestBackend:
        """The backend itself, as ``IBMBackend.__call__``: code written for qiskit-ibm-runtime's
        primitives calls ``primitive.backend()``, which on ours is this backend's property."""
        return self

    if not TYPE_CHECKING:  # at run time only: static checks keep flagging misspelt attributes

        def __getattr__(self, name: str) -> Any:
            """A configuration field read as an attribute (``backend.meas_levels``), as
            ``IBMBackend`` allows (the configuration is fetched if needed)."""
            if name.startswith("_"):
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            try:
                config = self.configuration()
            except QiskitRestError as exc:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}, and its "
                    f"configuration, where configuration fields are looked up, cannot be "
                    f"fetched: {exc}"
                ) from exc
            try:
                return getattr(config, name)
            except AttributeError:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r} "
                    f"(nor has backend {self.name!r}'s configuration such a field)"
                ) from None

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
        """The provider this backend belongs to (for an unpickled backend, the provider it
        reconnected through: this connects it)."""
        return self._context.owner  # type: ignore[no-any-return]

    @property
    def service(self) -> QiskitRestProvider:
        """The provider this backend belongs to (``IBMBackend.service``'s name for it)."""
        return self.provider

    @property
    def instance(self) -> str | None:
        """The instance CRN jobs on this backend are submitted for."""
        return self._context.instance

    @property
    def is_mock(self) -> bool:
        """Whether the service lists this backend as a mock (dry-run) device; ``False`` when it
        was not obtained from a listing."""
        return self._listing.get("class") == "mock"

    @property
    def physical_qubits(self) -> int | None:
        """The qubits of the device, including any not offered for use, as the listing reports
        them (``None`` when the backend was not obtained from a listing or the service does not
        say), as ``IBMBackend.physical_qubits``."""
        value = self._listing.get("physical_qubits")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

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

        Raises:
            TypeError: ``refresh`` is not a bool or ``datetime`` not a ``datetime`` (as
                ``IBMBackend.properties``).
        """
        if not isinstance(refresh, bool):
            raise TypeError(f"properties(refresh=...) takes True or False, not {refresh!r}")
        if datetime is not None and not isinstance(datetime, _dt.datetime):
            raise TypeError(
                f"properties(datetime=...) takes a datetime.datetime, not {type(datetime).__name__}"
            )
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

    def target_history(self, datetime: _dt.datetime | None = None) -> Target:
        """The Target as it was at ``datetime`` (not cached on this backend); the current
        Target when ``datetime`` is ``None``."""
        if datetime is None:
            return self.target
        props = self.properties(datetime=datetime)
        return self._context.targets.get(
            self.name, self.configuration(), props, self._use_fractional_gates
        )

    @property
    def max_circuits(self) -> None:
        """``None``, as ``IBMBackend.max_circuits`` reports since qiskit-ibm-runtime stopped
        treating ``max_experiments`` as the limit of circuits per job: code that splits its
        circuits into jobs of ``max_circuits`` (qiskit-experiments, ``BackendSamplerV2``) sends
        them as one job, as it does on IBM's backends.

        The service still enforces the configuration's ``max_experiments`` (pubs per job), and
        so does the client before submitting: see ``configuration().max_experiments``.
        """
        return None

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
        """Raise ``ValueError`` if ``circuit`` uses a qubit or edge marked non-operational
        (barriers excepted, as in ``IBMBackend.check_faulty``)."""
        props = self.properties()
        if props is None:
            return
        faulty_qubits = set(props.faulty_qubits())
        faulty_edges = {qargs for _name, qargs in props.faulty_gates() if len(qargs) > 1}
        for instruction in circuit.data:
            if instruction.operation.name == "barrier":
                continue
            qubits = tuple(circuit.find_bit(q).index for q in instruction.qubits)
            bad = faulty_qubits.intersection(qubits)
            if bad:
                raise ValueError(
                    f"circuit {circuit.name!r}: {instruction.operation.name} on qubits "
                    f"{list(qubits)} uses faulty qubit(s) {sorted(bad)} of {self.name}; "
                    "transpile it again against backend.target, which leaves them out"
                )
            if len(qubits) > 1 and qubits in faulty_edges:
                raise ValueError(
                    f"circuit {circuit.name!r}: {instruction.operation.name} on qubits "
                    f"{list(qubits)} uses a faulty edge of {self.name}; transpile it again "
                    "against backend.target, which leaves it out"
                )

    def get_translation_stage_plugin(self) -> str:
        """The transpiler's translation stage for this backend: Qiskit's ``"default"``.

        ``IBMBackend`` names qiskit-ibm-runtime's ``"ibm_dynamic_circuits"`` plugin, which
        adds nothing for these Targets (it turns ``id`` into ``delay`` only where the Target
        lacks ``id``) and would make every transpilation import qiskit-ibm-runtime.
        """
        return "default"

    def run(
        self,
        run_input: QuantumCircuit | Sequence[QuantumCircuit],
        **options: Any,
    ) -> BackendRunJob:
        """Run ISA circuits as one sampler job; ``job.result()`` is a ``qiskit.result.Result``
        whose experiments carry each circuit's header (``name``, ``metadata``, register
        layout), as ``AerSimulator``'s do.

        Options (defaults from ``backend.options``): ``shots``, ``memory`` (per-shot results
        for ``get_memory()``), ``meas_level`` (2; or 1 where ``configuration().meas_levels``
        lists it), ``meas_return`` (``"single"``/``"avg"``, for ``meas_level=1``),
        ``parameter_binds`` (one dict per circuit, ``{parameter: [values, ...]}``; one
        experiment per binding, as Aer), ``rep_delay``, ``init_qubits``, ``seed_simulator``,
        ``job_tags``. Options of other backends that cannot apply (``noise_model``, ...) raise
        ``ValueError`` naming them. Circuits are checked against the Target first, as for the
        primitives.
        """
        return run_circuits(self, run_input, options, defaults=self.options)


def _restore_backend(
    reference: AccountReference,
    name: str,
    use_fractional_gates: bool,
    calibration_id: str | None,
    listing: dict[str, Any],
    options: dict[str, Any],
) -> RestBackend:
    """Unpickle a :class:`RestBackend`: a backend on a context that connects through
    ``reference`` on first use (no I/O, no credential lookup now)."""
    backend = RestBackend(
        name,
        ClientContext.deferred(reference),
        listing=listing,
        use_fractional_gates=use_fractional_gates,
        calibration_id=calibration_id,
    )
    backend.options.update_options(**options)
    return backend


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
