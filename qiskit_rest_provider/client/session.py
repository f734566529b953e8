"""Sessions and batches: groups of jobs that the service schedules together.

A :class:`Session` (``mode: dedicated``) gives its jobs priority on the device while it is
active; a :class:`Batch` (``mode: batch``) lets the scheduler run independent jobs together.
Both are context managers: leaving the ``with`` block closes them gracefully (queued and
running jobs finish, new ones are refused).

The session is created on the service when its first job is submitted (or by :meth:`open`),
never in the constructor. Simulator backends have no sessions: jobs submitted through a session
on a simulator run as ordinary jobs, as with the official client.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..api.errors import NotFoundError
from ..wire.constants import (
    SESSION_ACTIVE,
    SESSION_CLOSED,
    SESSION_INACTIVE,
    SESSION_MODE_BATCH,
    SESSION_MODE_DEDICATED,
    SESSION_MODES,
    SESSION_OPEN,
    SESSION_PENDING_CLOSED,
    SESSION_PENDING_INACTIVE,
)
from .backend import RestBackend

if TYPE_CHECKING:  # annotations only
    from .provider import QiskitRestProvider

__all__ = ["Batch", "Session", "current_session"]

_CURRENT: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "qiskit_rest_session", default=None
)


def current_session() -> Session | None:
    """The session of the innermost active ``with Session(...)`` block, if any."""
    return _CURRENT.get()


class Session:
    """A dedicated session on one backend.

    Args:
        backend: The backend whose jobs the session groups.
        max_time: Maximum lifetime in seconds (``max_ttl``); the service's default otherwise.
    """

    _mode = SESSION_MODE_DEDICATED

    def __init__(self, backend: RestBackend, max_time: int | None = None) -> None:
        if max_time is not None and (
            isinstance(max_time, bool) or not isinstance(max_time, int) or max_time < 1
        ):
            raise ValueError("max_time must be a positive number of seconds")
        self._backend = backend
        self._max_time = max_time
        self._session_id: str | None = None
        self._closed = False
        self._warned = False
        self._lock = threading.Lock()
        self._tokens: list[contextvars.Token[Session | None]] = []

    @classmethod
    def from_id(
        cls,
        session_id: str,
        service: QiskitRestProvider,
        use_fractional_gates: bool = False,
        calibration_id: str | None = None,
    ) -> Session:
        """Attach to an existing session or batch (fetches its details).

        Args:
            session_id: The session's id.
            service: The provider to reach it through (``qiskit_ibm_runtime`` calls it the
                service; passed by position, both spellings work).
            use_fractional_gates: Build the session's backend with fractional gates.
            calibration_id: Pin the session's backend to this calibration.
        """
        provider = service
        details = provider.client.get_session(session_id)
        backend_name = details.get("backend_name") or details.get("backend")
        mode = details.get("mode")
        if not isinstance(backend_name, str) or not backend_name:
            raise ValueError(f"session {session_id} has no backend_name")
        if mode not in SESSION_MODES:
            raise ValueError(f"session {session_id} has an unknown mode {mode!r}")
        if mode != cls._mode:
            kind = "a batch" if mode == SESSION_MODE_BATCH else "a dedicated session"
            other = "Batch" if mode == SESSION_MODE_BATCH else "Session"
            raise ValueError(f"{session_id} is {kind}; use {other}.from_id")
        session = cls(
            provider.backend(
                backend_name,
                use_fractional_gates=use_fractional_gates,
                calibration_id=calibration_id,
            )
        )
        session._session_id = session_id
        session._closed = (
            details.get("state") == SESSION_CLOSED or details.get("accepting_jobs") is False
        )
        return session

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(id={self._session_id!r}, backend='{self._backend.name}')>"

    # Identity ---------------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The id on the service; ``None`` until the first job (or :meth:`open`)."""
        return self._session_id

    @property
    def mode(self) -> str:
        """``"dedicated"`` for a :class:`Session`, ``"batch"`` for a :class:`Batch`."""
        return self._mode

    @property
    def backend_object(self) -> RestBackend:
        """The backend the session runs on."""
        return self._backend

    def backend(self) -> str:
        """The backend's name (as ``qiskit_ibm_runtime.Session.backend()``)."""
        return str(self._backend.name)

    @property
    def provider(self) -> QiskitRestProvider:
        """The provider of the session's backend."""
        return self._backend.provider

    @property
    def service(self) -> QiskitRestProvider:
        """The provider (``qiskit_ibm_runtime``'s name for it)."""
        return self._backend.provider

    # Lifecycle --------------------------------------------------------------------------------

    def open(self) -> str | None:
        """Create the session on the service now (idempotent). Returns its id, or ``None`` on a
        simulator backend, where jobs run without a session."""
        with self._lock:
            if self._closed:
                raise ValueError(f"{type(self).__name__} {self._session_id} is closed")
            if self._session_id is None:
                if self._backend.simulator:
                    if not self._warned:
                        self._warned = True
                        warnings.warn(
                            f"{self._backend.name} is a simulator: it has no sessions, so jobs "
                            f"of this {type(self).__name__} run as ordinary jobs",
                            UserWarning,
                            stacklevel=4,
                        )
                    return None
                context = self._backend.context
                created = context.rest.create_session(
                    mode=self._mode,
                    backend=self._backend.name,
                    instance=context.instance,
                    max_ttl=self._max_time,
                )
                self._session_id = str(created["id"])
            return self._session_id

    def session_id_for_submission(self) -> str | None:
        """The id a new job of this session is submitted with: the session is created on
        first use; ``None`` on a simulator (jobs run without a session).

        Raises:
            ValueError: the session is closed and accepts no new jobs.
        """
        if self._closed:
            raise ValueError(
                f"{type(self).__name__} {self._session_id} is closed and accepts no new jobs"
            )
        return self._session_id or self.open()

    def close(self) -> None:
        """Stop accepting new jobs; queued and running jobs still finish."""
        self._closed = True
        if self._session_id is None:
            return
        with contextlib.suppress(NotFoundError):  # already gone
            self._backend.context.rest.close_session(self._session_id)

    def cancel(self) -> None:
        """Close the session and drop its queued jobs (running jobs finish)."""
        self._closed = True
        if self._session_id is not None:
            self._backend.context.rest.cancel_session(self._session_id)

    # Information ------------------------------------------------------------------------------

    def details(self) -> dict[str, Any] | None:
        """The session document from the service, or ``None`` if it was never created."""
        if self._session_id is None:
            return None
        data = self._backend.context.rest.get_session(self._session_id)
        return {
            "id": data.get("id"),
            "backend_name": data.get("backend_name"),
            "mode": data.get("mode"),
            "state": data.get("state"),
            "state_reason": data.get("state_reason"),
            "accepting_jobs": data.get("accepting_jobs"),
            "max_time": data.get("max_ttl"),
            "active_timeout": data.get("active_ttl"),
            "interactive_timeout": data.get("interactive_ttl"),
            "started_at": data.get("started_at"),
            "activated_at": data.get("activated_at"),
            "closed_at": data.get("closed_at"),
            "last_job_started": data.get("last_job_started"),
            "last_job_completed": data.get("last_job_completed"),
            "usage_time": data.get("elapsed_time"),
        }

    def status(self) -> str | None:
        """``Pending``, ``In progress, accepting new jobs``, ``In progress, not accepting new
        jobs`` or ``Closed`` (``None`` if the session was never created)."""
        details = self.details()
        return None if details is None else session_status_text(details)

    def usage(self) -> float | None:
        """Seconds of quantum time used by the session so far."""
        details = self.details()
        if details is None:
            return None
        value = details.get("usage_time")
        return float(value) if isinstance(value, (int, float)) else None

    # Context manager --------------------------------------------------------------------------

    def __enter__(self) -> Session:
        self._tokens.append(_CURRENT.set(self))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tokens:
            _CURRENT.reset(self._tokens.pop())
        self.close()


class Batch(Session):
    """A batch: independent jobs the scheduler may run together (``mode: batch``)."""

    _mode = SESSION_MODE_BATCH


def session_status_text(details: Mapping[str, Any]) -> str:
    """The official client's wording of a session's state."""
    state = str(details.get("state") or "")
    accepting = details.get("accepting_jobs")
    if state in (SESSION_OPEN, SESSION_INACTIVE):
        return "Pending"
    if (state == SESSION_ACTIVE and accepting) or state == SESSION_PENDING_INACTIVE:
        return "In progress, accepting new jobs"
    if (state == SESSION_ACTIVE and not accepting) or state == SESSION_PENDING_CLOSED:
        return "In progress, not accepting new jobs"
    return state.capitalize()
