"""What both V2 primitives share: where jobs go (backend, session or batch), their options and
circuit cache; the checks and the job body are the pipeline's (:mod:`..pipeline`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from ..backend import RestBackend
from ..circuit_cache import CircuitCache
from ..job import PollPolicy, RuntimeJob
from ..options import PrimitiveOptions
from ..pipeline import job_body, submit
from ..session import Session, current_session

__all__ = ["Mode", "RestPrimitive"]

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
        """Where jobs go: the backend, session or batch given at construction."""
        return self._mode

    @property
    def backend(self) -> RestBackend:
        """The backend jobs run on."""
        mode = self._mode
        return mode.backend_object if isinstance(mode, Session) else mode

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

    def _submit(self, pubs: list[Any], expected_result_bytes: int | None = None) -> RuntimeJob:
        body = job_body(
            self.backend, self._program_id, pubs, self._options, session_id=self._session_id()
        )
        return submit(
            self.backend,
            body,
            RuntimeJob,
            poll=self._poll,
            expected_result_bytes=expected_result_bytes,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(backend='{self.backend.name}', options={self._options})>"
