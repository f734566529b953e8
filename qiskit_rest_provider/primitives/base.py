"""What both V2 primitives share: where jobs go (backend, session or batch), the pre-flight
checks, and the construction of the ``POST /v1/jobs`` body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from qiskit.circuit import QuantumCircuit

from ..backend import RestBackend
from ..exceptions import PubValidationError
from ..job import PollPolicy, RuntimeJob
from ..session import Session, current_session
from ..submission import submit_job
from .circuit_cache import CircuitCache
from .options import PrimitiveOptions

if TYPE_CHECKING:
    from qiskit.transpiler import Target

__all__ = ["Mode", "RestPrimitive", "looks_like_single_pub"]

Mode = RestBackend | Session
OptionsT = TypeVar("OptionsT", bound=PrimitiveOptions)


class RestPrimitive(Generic[OptionsT]):
    """Base of :class:`SamplerV2` and :class:`EstimatorV2`."""

    _program_id: str
    _options_class: type[OptionsT]

    def __init__(
        self,
        mode: Mode | None = None,
        options: OptionsT | Mapping[str, Any] | None = None,
        *,
        poll: PollPolicy | None = None,
    ) -> None:
        if mode is None:
            mode = current_session()
            if mode is None:
                raise ValueError(
                    f"{type(self).__name__} needs mode=: a RestBackend, a Session or a Batch "
                    "(or create it inside a `with Session(...)` block)"
                )
        if not isinstance(mode, (RestBackend, Session)):
            raise TypeError(
                f"mode must be a RestBackend, Session or Batch, not {type(mode).__name__}"
            )
        self._mode: Mode = mode
        self._options: OptionsT = self._options_class()
        if isinstance(options, PrimitiveOptions):
            if not isinstance(options, self._options_class):
                raise TypeError(
                    f"{type(self).__name__} takes {self._options_class.__name__}, "
                    f"not {type(options).__name__}"
                )
            self._options.update(**options.to_dict())
        elif options is not None:
            self._options.update(**dict(options))
        self._poll = poll
        self._cache = CircuitCache()

    # Properties -------------------------------------------------------------------------------

    @property
    def options(self) -> OptionsT:
        """The options; set attributes or call ``options.update(...)``."""
        return self._options

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def backend(self) -> RestBackend:
        """The backend jobs run on."""
        mode = self._mode
        return mode.backend_object if isinstance(mode, Session) else mode

    @property
    def session(self) -> Session | None:
        return self._mode if isinstance(self._mode, Session) else None

    def clear_cache(self) -> None:
        """Forget the checked and serialized circuits (after mutating a circuit in place)."""
        self._cache.clear()

    # Submission -------------------------------------------------------------------------------

    def _check_pub_count(self, count: int) -> None:
        if count == 0:
            raise PubValidationError("no pubs to run")
        limit = self.backend.max_circuits
        if limit is not None and count > limit:
            raise PubValidationError(
                f"{count} pubs exceed the backend's limit of {limit} per job "
                f"(max_experiments); split them over several jobs"
            )

    def _prepare(self, circuits: Sequence[QuantumCircuit]) -> list[str]:
        """Check every circuit against the Target and serialize it (cached per circuit)."""
        backend = self.backend
        target: Target = backend.target
        props = backend.properties()
        faulty = props.faulty_qubits() if props is not None else []
        dynamic = any(_has_control_flow(c) for c in circuits)
        if dynamic and self._options.dynamical_decoupling.enable:
            raise PubValidationError(
                "dynamical decoupling cannot be combined with dynamic circuits (control flow); "
                "set options.dynamical_decoupling.enable = False"
            )
        self._check_rep_delay()
        return [
            self._cache.prepare(c, target, faulty_qubits=faulty, where=f"pub {i}")
            for i, c in enumerate(circuits)
        ]

    def _check_rep_delay(self) -> None:
        rep_delay = self._options.execution.rep_delay
        if not isinstance(rep_delay, float):  # Unset, or None (the backend's default)
            return
        bounds = self.backend.configuration().get("rep_delay_range")
        if bounds and len(bounds) == 2 and not bounds[0] <= rep_delay <= bounds[1]:
            raise ValueError(
                f"options.execution.rep_delay={rep_delay} s is outside the backend's range "
                f"[{bounds[0]}, {bounds[1]}] s"
            )

    def _submit(self, pubs: list[Any], expected_result_bytes: int | None = None) -> RuntimeJob:
        options, top_params = self._options.to_params()
        params: dict[str, Any] = {
            "pubs": pubs,
            "options": options,
            "version": 2,
            "support_qiskit": True,
            **top_params,
        }
        backend = self.backend
        body: dict[str, Any] = {
            "program_id": self._program_id,
            "backend": backend.name,
            "params": params,
            **self._options.job_fields(),
        }
        session_id = self.session._id_for_job() if self.session is not None else None
        if session_id:
            body["session_id"] = session_id
        if backend.calibration_id:
            body["calibration_id"] = backend.calibration_id
        created = submit_job(backend.provider.client, body)
        return self._make_job(created, body, expected_result_bytes)

    def _make_job(
        self,
        created: Mapping[str, Any],
        body: Mapping[str, Any],
        expected_result_bytes: int | None = None,
    ) -> RuntimeJob:
        return RuntimeJob(
            str(created["id"]),
            self.backend.provider,
            program_id=self._program_id,
            backend_name=str(created.get("backend") or body["backend"]),
            session_id=created.get("session_id") or body.get("session_id"),
            tags=body.get("tags"),
            poll=self._poll,
            expected_result_bytes=expected_result_bytes,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(backend='{self.backend.name}', options={self._options})>"


def looks_like_single_pub(pubs: Any, pub_class: type) -> bool:
    """Whether ``pubs`` is one pub passed where a list of pubs belongs."""
    if isinstance(pubs, (QuantumCircuit, pub_class)):
        return True
    if isinstance(pubs, tuple) and pubs and isinstance(pubs[0], QuantumCircuit):
        return any(not isinstance(p, (QuantumCircuit, tuple, list, pub_class)) for p in pubs[1:])
    return False


def _has_control_flow(circuit: QuantumCircuit) -> bool:
    return bool(circuit._data.has_control_flow_op())
