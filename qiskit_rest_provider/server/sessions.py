"""The session state machine: Open → Active ⇄ Inactive → Closed.

A session becomes Active when one of its jobs starts and Inactive when it has had no job for
``interactive_ttl`` seconds after its last one completed; it closes when its ``max_ttl``
expires, or when it stops accepting jobs and has none pending. Time-driven transitions are
applied when a session is read or one of its jobs finishes (:meth:`Sessions.refresh`), so a
read of a session may close it and cancel its queued jobs.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from ..wire.constants import (
    DEFAULT_SESSION_MAX_TTL,
    JOB_PENDING_STATES,
    JOB_QUEUED,
    SESSION_ACTIVE,
    SESSION_CLOSED,
    SESSION_INACTIVE,
    SESSION_MODES,
    SESSION_OPEN,
)
from ..wire.times import parse_iso, utcnow_iso
from .devices import Device
from .errors import ServiceError
from .ids import new_id
from .store import Store

__all__ = ["Sessions"]


class Sessions:
    """Sessions of ``store``.

    Args:
        store: Where sessions live.
        device: Looks a backend up by name (404 :class:`ServiceError` if unknown).
        cancel: Cancels a queued job with a reason (the scheduler's).
    """

    def __init__(
        self,
        store: Store,
        device: Callable[[str], Device],
        cancel: Callable[[str, str], None],
    ) -> None:
        self.store = store
        self._device = device
        self._cancel = cancel

    def create(self, instance: str, body: Any) -> dict[str, Any]:
        """Create a session from a ``POST /v1/sessions`` body; return its document."""
        if not isinstance(body, Mapping):
            raise ServiceError(400, "invalid_request", "The body must be a JSON object.")
        mode = body.get("mode")
        if mode not in SESSION_MODES:
            raise ServiceError(400, "invalid_request", "mode must be 'dedicated' or 'batch'.")
        backend = body.get("backend") or body.get("backend_name")
        if backend is not None:
            device = self._device(str(backend))
            if device.simulator:
                raise ServiceError(
                    400, "invalid_request", "Sessions are only available on non-simulator backends."
                )
        max_ttl = body.get("max_ttl", DEFAULT_SESSION_MAX_TTL)
        if (
            isinstance(max_ttl, bool)
            or not isinstance(max_ttl, int)
            or not 1 <= max_ttl <= 2**31 - 1
        ):
            raise ServiceError(400, "invalid_request", "max_ttl must be an integer >= 1.")
        session_id = new_id()
        now = utcnow_iso()
        self.store.insert_session(
            id=session_id,
            instance=instance,
            backend=backend,
            mode=mode,
            state=SESSION_OPEN,
            accepting=1,
            max_ttl=max_ttl,
            interactive_ttl=60,
            created=now,
            timestamps=json.dumps([{"status": SESSION_OPEN, "timestamp": now}]),
            user_id="local-user",
        )
        return self.document(self.refresh(dict(self.store.session(session_id) or {})))

    def document(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The API document of a session row, as it is (no transition is applied)."""
        started = parse_iso(row["created"])
        elapsed = (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds() if started else 0
        return {
            "id": row["id"],
            "backend_name": row["backend"],
            "mode": row["mode"],
            "state": row["state"],
            "state_reason": None,
            "accepting_jobs": bool(row["accepting"]),
            "max_ttl": row["max_ttl"],
            "active_ttl": max(0, int(row["max_ttl"] - elapsed)),
            "interactive_ttl": row["interactive_ttl"],
            "started_at": row["created"],
            "activated_at": row["activated"],
            "closed_at": row["closed"],
            "last_job_started": row["last_job_started"],
            "last_job_completed": row["last_job_completed"],
            "elapsed_time": elapsed,
            "user_id": row["user_id"],
            "timestamps": json.loads(row["timestamps"]),
        }

    def refresh(self, row: dict[str, Any]) -> dict[str, Any]:
        """Apply TTL expiry and close-when-empty rules to ``row`` (updated in place and
        returned); closing cancels the session's queued jobs."""
        if row["state"] == SESSION_CLOSED:
            return row
        now = _dt.datetime.now(_dt.timezone.utc)
        started = parse_iso(row["created"]) or now
        pending = self.store.session_jobs(row["id"], JOB_PENDING_STATES)
        reason = None
        if (now - started).total_seconds() >= row["max_ttl"]:
            reason = "max_ttl"
        elif not row["accepting"] and not pending:
            reason = "closed"
        if reason:
            for job_id in self.store.session_jobs(row["id"], (JOB_QUEUED,)):
                self._cancel(job_id, "The session ended before the job ran.")
            self.set_state(row, SESSION_CLOSED, accepting=0, closed=utcnow_iso())
        elif row["state"] == SESSION_ACTIVE and not pending and row["last_job_completed"]:
            last = parse_iso(row["last_job_completed"]) or now
            if (now - last).total_seconds() > row["interactive_ttl"]:
                self.set_state(row, SESSION_INACTIVE)
        return row

    def set_state(self, row: dict[str, Any], state: str, **fields: Any) -> None:
        """Move a session to ``state`` (stamped in its timestamps), writing ``fields`` too."""
        stamps = json.loads(row["timestamps"])
        stamps.append({"status": state, "timestamp": utcnow_iso()})
        row.update(state=state, timestamps=json.dumps(stamps), **fields)
        self.store.update_session(row["id"], state=state, timestamps=row["timestamps"], **fields)

    def get(self, instance: str, session_id: str) -> dict[str, Any]:
        """The row of a session of ``instance`` (404 if there is none)."""
        row = self.store.session(session_id, instance)
        if row is None:
            raise ServiceError(404, "session_not_found", f"Session {session_id} not found.")
        return row

    def close(self, instance: str, session_id: str, accepting: Any) -> None:
        """Stop a session accepting jobs (``accepting`` must be ``False``); it closes once its
        pending jobs are done."""
        row = self.get(instance, session_id)
        if accepting is not False:
            raise ServiceError(400, "invalid_request", "Only accepting_jobs=false is supported.")
        self.store.update_session(session_id, accepting=0)
        self.refresh({**row, "accepting": 0})

    def cancel(self, instance: str, session_id: str) -> None:
        """Close a session now, cancelling its queued jobs."""
        row = self.get(instance, session_id)
        self.store.update_session(session_id, accepting=0)
        for job_id in self.store.session_jobs(session_id, (JOB_QUEUED,)):
            self._cancel(job_id, "The session was cancelled.")
        if row["state"] != SESSION_CLOSED:
            self.set_state(
                {**row, "accepting": 0}, SESSION_CLOSED, accepting=0, closed=utcnow_iso()
            )

    def job_started(self, session_id: str) -> None:
        """A job of the session started: the session becomes Active."""
        session = self.store.session(session_id)
        if session is None:
            return
        now = utcnow_iso()
        if session["state"] in (SESSION_OPEN, SESSION_INACTIVE):
            self.set_state(session, SESSION_ACTIVE, activated=session["activated"] or now)
        self.store.update_session(session_id, last_job_started=now)

    def job_finished(self, session_id: str, finished: str) -> None:
        """A job of the session reached its final state at ``finished``."""
        self.store.update_session(session_id, last_job_completed=finished)
        session = self.store.session(session_id)
        if session is not None:
            self.refresh(session)
