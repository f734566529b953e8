"""The session state machine: Open → Active ⇄ Inactive → Closed.

A session becomes Active when one of its jobs starts and Inactive when it has had no job for
``interactive_ttl`` seconds after its last one completed; it closes when its ``max_ttl``
expires, or when it stops accepting jobs and has none pending.

Reads never write. The time-driven transitions are computed, not stored, when a session is
read (:func:`session_at`, a pure function of the stored row, the clock and whether jobs are
pending), so ``GET /v1/sessions/{id}`` reports the state due at that moment; the scheduler's
background loop calls :meth:`Sessions.sweep` periodically to persist them (and to cancel the
queued jobs of sessions that expired). Transitions caused by a request or an event (closing,
cancelling, a job starting or finishing) are written by that write.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

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
from ..wire.times import parse_iso, to_utc_iso, utcnow_iso
from .devices import Device
from .errors import ServiceError
from .ids import new_id
from .store import Store

__all__ = ["SWEEP_BATCH", "Sessions", "session_at"]

#: Most sessions one sweep looks at; the rest wait for the next sweep, so one sweep holds the
#: dispatcher for tens of milliseconds at most (about 0.2 ms per due session).
SWEEP_BATCH: Final = 200
#: Stored columns a due transition is computed from: a sweep writes only if they are unchanged.
_SOURCE_COLUMNS: Final = ("state", "accepting", "timestamps", "last_job_completed")


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _stamp(view: dict[str, Any], state: str, when: _dt.datetime) -> str:
    """Move ``view`` to ``state`` at ``when`` (never before its last stamp, so the stamps
    stay in order); returns the time stamped."""
    stamps = json.loads(view["timestamps"])
    text = to_utc_iso(when)
    if stamps and isinstance(stamps[-1].get("timestamp"), str):
        text = max(text, stamps[-1]["timestamp"])  # same format: texts compare as times
    stamps.append({"status": state, "timestamp": text})
    view.update(state=state, timestamps=json.dumps(stamps))
    return text


def session_at(row: Mapping[str, Any], now: _dt.datetime, *, has_pending: bool) -> dict[str, Any]:
    """The session ``row`` as it stands at ``now``: a copy with the time-driven transitions due
    by then applied. Pure: nothing is read or written.

    - ``max_ttl`` after its creation, a session closes (stamped at that moment);
    - a session that no longer accepts jobs and has none pending (``has_pending``) closes
      (stamped ``now``: the moment is not stored);
    - an active session with nothing pending goes inactive ``interactive_ttl`` seconds after
      its last job completed (stamped at that moment, if that came before it closed).
    """
    view = dict(row)
    if view["state"] == SESSION_CLOSED:
        return view
    created = parse_iso(view["created"]) or now
    expiry = created + _dt.timedelta(seconds=int(view["max_ttl"]))
    closes_at: _dt.datetime | None = None
    if now >= expiry:
        closes_at = expiry
    elif not view["accepting"] and not has_pending:
        closes_at = now
    last = parse_iso(view["last_job_completed"])
    if view["state"] == SESSION_ACTIVE and not has_pending and last is not None:
        idle_at = last + _dt.timedelta(seconds=int(view["interactive_ttl"]))
        if idle_at < (closes_at or now):
            _stamp(view, SESSION_INACTIVE, idle_at)
    if closes_at is not None:
        view.update(accepting=0, closed=_stamp(view, SESSION_CLOSED, closes_at))
    return view


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
        device: Callable[[str, str | None], Device],
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
            device = self._device(str(backend), instance)
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
        return self.document(self.view(self.get(instance, session_id)))

    def document(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The API document of a session row, as it is (see :meth:`view` for the row as it
        stands now)."""
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

    def _has_pending(self, session_id: str) -> bool:
        return bool(self.store.session_jobs(session_id, JOB_PENDING_STATES))

    def view(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The session ``row`` as it stands now (:func:`session_at`); reads, never writes."""
        if row["state"] == SESSION_CLOSED:
            return dict(row)
        return session_at(row, _utcnow(), has_pending=self._has_pending(row["id"]))

    def apply_due(self, row: Mapping[str, Any], now: _dt.datetime | None = None) -> bool:
        """Persist the transitions due for ``row`` at ``now``; a session that closes has its
        queued jobs cancelled. Written only if the row's state is still the one read (a
        request that changed it meanwhile wins; the next sweep looks again). True if written.
        """
        if row["state"] == SESSION_CLOSED:
            return False
        due = session_at(row, now or _utcnow(), has_pending=self._has_pending(row["id"]))
        changes = {k: v for k, v in due.items() if row.get(k) != v}
        if not changes:
            return False
        expected = {column: row[column] for column in _SOURCE_COLUMNS}
        if not self.store.update_session_if(row["id"], expected, **changes):
            return False
        if due["state"] == SESSION_CLOSED:
            for job_id in self.store.session_jobs(row["id"], (JOB_QUEUED,)):
                self._cancel(job_id, "The session ended before the job ran.")
        return True

    def sweep(self, now: _dt.datetime | None = None) -> int:
        """Persist the time-driven transitions due at ``now`` (the clock by default) for at
        most :data:`SWEEP_BATCH` sessions; the number of sessions written."""
        now = now or _utcnow()
        rows = self.store.sessions_due(to_utc_iso(now), limit=SWEEP_BATCH)
        return sum(self.apply_due(row, now) for row in rows)

    def set_state(self, row: Mapping[str, Any], state: str, **fields: Any) -> bool:
        """Move a session to ``state`` (stamped now in its timestamps), writing ``fields``
        too, if its state is still the one ``row`` holds (else a concurrent change won and
        nothing is written). True if written."""
        stamps = json.loads(row["timestamps"])
        stamps.append({"status": state, "timestamp": utcnow_iso()})
        expected = {"state": row["state"], "timestamps": row["timestamps"]}
        return self.store.update_session_if(
            row["id"], expected, state=state, timestamps=json.dumps(stamps), **fields
        )

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
        self.apply_due({**row, "accepting": 0})

    def cancel(self, instance: str, session_id: str) -> None:
        """Close a session now, cancelling its queued jobs."""
        self.get(instance, session_id)  # 404 for another instance's session
        self.store.update_session(session_id, accepting=0)
        for job_id in self.store.session_jobs(session_id, (JOB_QUEUED,)):
            self._cancel(job_id, "The session was cancelled.")
        # Retried on a lost race (the sweep may close or idle it at the same moment).
        for _ in range(3):
            row = self.get(instance, session_id)
            if row["state"] == SESSION_CLOSED or self.set_state(
                row, SESSION_CLOSED, accepting=0, closed=utcnow_iso()
            ):
                break

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
            self.apply_due(session)
