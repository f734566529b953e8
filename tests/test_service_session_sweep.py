"""Sessions change state in a sweep, never on a read (issue 12).

``GET /v1/sessions/{id}`` reports the state due at the moment of the read (a session past its
``max_ttl`` reads as closed) without writing it; the scheduler's background loop persists it
(:meth:`LocalService.sweep_sessions`, every ``session_sweep_interval`` seconds), and cancels the
queued jobs of sessions that expired. The moments of time-driven transitions are the moments
they fell due, so the document a read reports and the row the sweep writes agree.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.service import LocalService
from qiskit_rest_provider.server.sessions import session_at
from qiskit_rest_provider.wire.times import parse_iso, to_utc_iso

from .service_helpers import auth_headers, running_server

BACKEND = "local_falcon"
BELL = "OPENQASM 3.0;\nbit[2] c;\nx $0;\ncx $0, $1;\nc[0] = measure $0;\nc[1] = measure $1;\n"
T0 = dt.datetime(2026, 1, 5, 12, 0, 0, tzinfo=dt.timezone.utc)


def _job(session_id: str) -> dict[str, Any]:
    return {
        "program_id": "sampler",
        "backend": BACKEND,
        "session_id": session_id,
        "params": {"pubs": [[BELL, None, 10]], "version": 2},
    }


def _poll(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# Over HTTP, with the scheduler's own loop -------------------------------------------------------


@pytest.fixture()
def server() -> Iterator[LocalRuntimeServer]:
    with running_server(workers=0) as server:
        yield server


@pytest.mark.service
@pytest.mark.slow
def test_a_read_reports_expiry_and_only_the_sweep_writes_it(server: LocalRuntimeServer) -> None:
    service = server.service
    service.session_sweep_interval = 3600  # the loop does not sweep until told again
    headers = auth_headers(server)
    base = f"{server.url}/api/v1"
    created = requests.post(
        f"{base}/sessions",
        json={"mode": "dedicated", "backend": BACKEND, "max_ttl": 1},
        headers=headers,
        timeout=10,
    ).json()
    assert created["state"] == "open" and created["accepting_jobs"]
    session_id = created["id"]
    stored = service.store.session(session_id)
    assert stored["state"] == "open"

    def read() -> dict[str, Any]:
        response = requests.get(f"{base}/sessions/{session_id}", headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    _poll(lambda: read()["state"] == "closed")
    expired = read()
    expiry = to_utc_iso(parse_iso(created["started_at"]) + dt.timedelta(seconds=1))
    assert not expired["accepting_jobs"] and expired["closed_at"] == expiry
    assert expired["timestamps"][-1] == {"status": "closed", "timestamp": expiry}
    assert service.store.session(session_id) == stored, "a read wrote the session"

    # A job for the expired session is refused before the sweep has closed it...
    refused = requests.post(f"{base}/jobs", json=_job(session_id), headers=headers, timeout=30)
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "session_closed"
    assert service.store.session(session_id) == stored

    # ...the loop persists what the reads reported once it sweeps...
    service.session_sweep_interval = 0.05
    _poll(lambda: service.store.session(session_id)["state"] == "closed")
    persisted = service.store.session(session_id)
    assert persisted["accepting"] == 0 and persisted["closed"] == expiry
    assert json.loads(persisted["timestamps"]) == expired["timestamps"]
    after = read()
    for key in ("state", "accepting_jobs", "closed_at", "timestamps"):
        assert after[key] == expired[key], key

    # ...and the job is refused as before.
    again = requests.post(f"{base}/jobs", json=_job(session_id), headers=headers, timeout=30)
    assert again.status_code == 400 and again.json()["errors"][0]["code"] == "session_closed"


# The sweep cancels what an expired session left queued --------------------------------------


@pytest.mark.service
@pytest.mark.slow
def test_the_sweep_cancels_the_queued_jobs_of_an_expired_session() -> None:
    """A service that is not started has no dispatcher: its jobs stay queued and nothing
    sweeps unless asked, so each step is observed in order."""
    service = LocalService(workers=0)
    try:
        instance = service.instance
        session = service.create_session(
            instance, {"mode": "batch", "backend": BACKEND, "max_ttl": 1}
        )
        job_id = service.create_job(instance, _job(session["id"]), caller=None)["id"]
        assert service.sweep_sessions() == 0  # nothing due yet
        stored = service.store.session(session["id"])
        _poll(lambda: service.session_document(stored)["state"] == "closed")
        assert service.get_job(instance, job_id)["status"] == "Queued"  # the read left it
        assert service.store.session(session["id"]) == stored
        assert service.sweep_sessions() == 1
        job = service.get_job(instance, job_id)
        assert job["status"] == "Cancelled" and "session ended" in job["reason"]
        assert service.store.session(session["id"])["state"] == "closed"
        assert service.sweep_sessions() == 0  # closed sessions are not looked at again
    finally:
        service.stop()


# The reported state, a pure function of the row and the clock --------------------------------


def _row(**fields: Any) -> dict[str, Any]:
    row = {
        "id": "s1",
        "state": "active",
        "accepting": 1,
        "max_ttl": 3600,
        "interactive_ttl": 60,
        "created": to_utc_iso(T0),
        "activated": to_utc_iso(T0),
        "closed": None,
        "last_job_started": None,
        "last_job_completed": None,
        "timestamps": json.dumps(
            [
                {"status": "open", "timestamp": to_utc_iso(T0)},
                {"status": "active", "timestamp": to_utc_iso(T0)},
            ]
        ),
    }
    row.update(fields)
    return row


def _states(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["status"], s["timestamp"]) for s in json.loads(view["timestamps"])][2:]


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_an_idle_active_session_goes_inactive_when_its_interactive_ttl_has_passed() -> None:
    row = _row(last_job_completed=to_utc_iso(_at(100)))
    frozen = dict(row)
    assert session_at(row, _at(160), has_pending=False)["state"] == "active"  # not yet
    view = session_at(row, _at(161), has_pending=False)
    assert view["state"] == "inactive" and _states(view) == [("inactive", to_utc_iso(_at(160)))]
    assert session_at(row, _at(500), has_pending=True)["state"] == "active"  # jobs pending
    assert row == frozen  # pure: the row is not touched


def test_an_expired_session_closes_at_its_max_ttl_after_going_idle() -> None:
    row = _row(last_job_completed=to_utc_iso(_at(100)))
    view = session_at(row, _at(7200), has_pending=False)
    assert (view["state"], view["accepting"], view["closed"]) == (
        "closed",
        0,
        to_utc_iso(_at(3600)),
    )
    assert _states(view) == [
        ("inactive", to_utc_iso(_at(160))),
        ("closed", to_utc_iso(_at(3600))),
    ]
    assert session_at(view, _at(9000), has_pending=False) == view  # closed stays closed


def test_a_session_that_stopped_accepting_closes_once_nothing_is_pending() -> None:
    row = _row(accepting=0)
    assert session_at(row, _at(10), has_pending=True)["state"] == "active"
    view = session_at(row, _at(10), has_pending=False)
    assert view["state"] == "closed" and view["closed"] == to_utc_iso(_at(10))
