"""What both V2 primitives share: where jobs go (backend, session or batch), their options and
circuit cache; the checks and the job body are the pipeline's (:mod:`..pipeline`).

The backend a primitive runs on is reachable the three ways code written for other primitives
reaches it: ``primitive.backend`` (a property, as Qiskit's ``BackendSamplerV2``),
``primitive.backend()`` (a call, as qiskit-ibm-runtime's primitives: the property returns the
:class:`~qiskit_rest_provider.RestBackend`, and calling a ``RestBackend`` returns itself, as
``IBMBackend.__call__`` does) and ``primitive._backend`` (the attribute both of those classes
set, which qiskit-experiments reads). ``mode`` is the session or batch, or ``None`` when jobs
run in job mode on a backend, as in qiskit-ibm-runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from qiskit.circuit import QuantumCircuit

from ..backend import RestBackend
from ..circuit_cache import CircuitCache
from ..job import PollPolicy, RuntimeJob
from ..options import PrimitiveOptions
from ..pipeline import job_body, restore_circuit_metadata, submit
from ..session import Session, current_session

__all__ = ["Mode", "RestPrimitive"]

Mode = RestBackend | Session
OptionsT = TypeVar("OptionsT", bound=PrimitiveOptions)


class RestPrimitive(Generic[OptionsT]):
    """Base of :class:`SamplerV2` and :class:`EstimatorV2`."""

    _program_id: str
    _options_class: type[OptionsT]

    #: The primitives' interface version (``BaseSamplerV2``/``BaseEstimatorV2``), as
    #: qiskit-ibm-runtime's primitives report it.
    version = 2

    def __init__(
        self,
        mode: Mode | None = None,
        options: OptionsT | Mapping[str, Any] | None = None,
        *,
        poll: PollPolicy | None = None,
    ) -> None:
        name = type(self).__name__
        if mode is None:
            mode = current_session()
            if mode is None:
                raise ValueError(
                    f"{name}() needs mode=: a RestBackend, a Session or a Batch "
                    f"(e.g. {name}(provider.backend(name)), or create it inside a "
                    "`with Session(backend):` block)"
                )
        if not isinstance(mode, (RestBackend, Session)):
            raise TypeError(
                f"{name}(mode=...) takes a RestBackend, Session or Batch of qiskit_rest_provider, "
                f"not {type(mode).__name__}; get a backend with QiskitRestProvider().backend(name)"
            )
        self._mode: Mode = mode
        #: The backend jobs run on (the attribute qiskit-experiments reads, as on Qiskit's and
        #: qiskit-ibm-runtime's primitives).
        self._backend: RestBackend = mode.backend_object if isinstance(mode, Session) else mode
        self._options: OptionsT = self._options_class()
        if isinstance(options, PrimitiveOptions):
            if not isinstance(options, self._options_class):
                raise TypeError(
                    f"{name}(options=...) takes {self._options_class.__name__} or a dict, "
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
    def mode(self) -> Session | None:
        """The session or batch jobs go to, or ``None`` in job mode (a backend was given), as
        qiskit-ibm-runtime's primitives report it."""
        return self._mode if isinstance(self._mode, Session) else None

    @property
    def backend(self) -> RestBackend:
        """The backend jobs run on.

        A property, as on Qiskit's ``BackendSamplerV2``; ``primitive.backend()`` works too, as
        on qiskit-ibm-runtime's primitives, because calling a ``RestBackend`` returns itself.
        """
        return self._backend

    @property
    def session(self) -> Session | None:
        """The session or batch jobs go to, if any."""
        return self._mode if isinstance(self._mode, Session) else None

    def clear_cache(self) -> None:
        """Forget the checked and serialized circuits (after mutating a circuit in place)."""
        self._cache.clear()

    # Submission -------------------------------------------------------------------------------

    def _session_id(self) -> str | None:
        session = self.session
        return session.session_id_for_submission() if session is not None else None

    def _submit(
        self,
        pubs: list[Any],
        circuits: Sequence[QuantumCircuit],
        expected_result_bytes: int | None = None,
    ) -> RuntimeJob:
        """Submit wire ``pubs`` made of ``circuits`` (whose metadata the job's result gets
        back as each pub's ``metadata["circuit_metadata"]``)."""
        body = job_body(
            self._backend, self._program_id, pubs, self._options, session_id=self._session_id()
        )
        return submit(
            self._backend,
            body,
            RuntimeJob,
            poll=self._poll,
            expected_result_bytes=expected_result_bytes,
            decoder=restore_circuit_metadata(circuits),
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(backend='{self._backend.name}', options={self._options})>"
