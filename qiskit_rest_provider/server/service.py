"""The local service's state machine: auth, devices, job queue, sessions and workers.

HTTP lives in :mod:`.app`; this module knows nothing about requests or responses except
:class:`ServiceError`, which carries the status, code and message of an error body.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures as cf
import datetime as _dt
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qiskit.transpiler import Target

from ..codec.pubs import PubError, decode_pubs
from ..isa import find_isa_problem
from ..properties import parse_datetime
from ..target import build_target
from .devices import Device, default_catalog, load_snapshot_dir
from .simulation import execute_job
from .store import Store, utcnow_iso
from .validation import validate_options
from .workers import JobExecutionError, WorkerPool

__all__ = ["LocalService", "ServiceError"]

logger = logging.getLogger(__name__)

TERMINAL = ("Completed", "Failed", "Cancelled")
_JOB_KEYS = {
    "program_id",
    "backend",
    "params",
    "log_level",
    "session_id",
    "tags",
    "cost",
    "private",
    "calibration_id",
    "runtime",
    "start_session",
    "session_time",
}
_PARAM_KEYS = {
    "pubs",
    "options",
    "version",
    "support_qiskit",
    "resilience_level",
    "shots",
    "precision",
}
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class ServiceError(Exception):
    """An error answered to the client as ``{"errors": [{code, message}], "trace"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


def new_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class LocalService:
    """Everything the HTTP layer needs, independent of the web framework.

    Args:
        db: SQLite path (``":memory:"`` for a throwaway service).
        devices: Devices to serve (the synthetic catalog by default).
        api_key: The API key clients exchange for tokens (random if not given).
        instance: The instance CRN the key may use.
        token_lifetime: Access-token lifetime in seconds.
        workers: Simulation worker processes (0 runs jobs in a thread of this process).
    """

    def __init__(
        self,
        *,
        db: str | Path = ":memory:",
        devices: list[Device] | None = None,
        backends_dir: str | Path | None = None,
        api_key: str | None = None,
        instance: str | None = None,
        token_lifetime: int = 3600,
        workers: int = 1,
    ) -> None:
        self.store = Store(db)
        if devices is None:
            devices = load_snapshot_dir(backends_dir) if backends_dir else default_catalog()
        self.devices = {d.name: d for d in devices}
        self.api_key = api_key or f"local-{secrets.token_urlsafe(24)}"
        self.instance = instance or (
            "crn:v1:bluemix:public:quantum-computing:us-east:a/local0000000000000000000000000000"
            f":{uuid.uuid4()}::"
        )
        self.store.add_api_key(hash_key(self.api_key), [self.instance], "local-user")
        self.token_lifetime = int(token_lifetime)
        self._secret = secrets.token_bytes(32)
        self._targets: dict[tuple[str, str | None], Target] = {}
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[str, cf.Future[tuple[str, dict[str, Any]]]] = {}
        self._deadlines: dict[str, float] = {}
        self._workers = max(0, int(workers))
        #: HTTP requests served, by method (for load and polling measurements).
        self.requests: collections.Counter[str] = collections.Counter()
        #: HTTP responses sent, by status class ("2xx", "4xx", "5xx").
        self.responses: collections.Counter[str] = collections.Counter()
        self._pool: WorkerPool | cf.ThreadPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None
        recovered = self.store.recover_running(
            "The service stopped while this job was running; submit it again."
        )
        if recovered:
            logger.warning("Marked %d interrupted job(s) as failed", len(recovered))

    # Lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._workers:
            self._pool = WorkerPool(self._workers)
        else:
            self._pool = cf.ThreadPoolExecutor(1)
        self._dispatcher = threading.Thread(
            target=self._dispatch, name="job-dispatcher", daemon=True
        )
        self._dispatcher.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=10)
        if self._pool is not None:
            if isinstance(self._pool, WorkerPool):
                self._pool.shutdown()
            else:
                self._pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    # Auth -------------------------------------------------------------------------------------

    def issue_token(self, api_key: str) -> dict[str, Any]:
        record = self.store.api_key(hash_key(api_key or ""))
        if record is None:
            raise ServiceError(400, "BXNIM0415E", "Provided API key could not be found.")
        now = int(time.time())
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(
            json.dumps(
                {
                    "iat": now,
                    "exp": now + self.token_lifetime,
                    "sub": record[1],
                    "instances": record[0],
                    "jti": uuid.uuid4().hex,
                }
            ).encode()
        )
        sig = _b64url(hmac.new(self._secret, f"{header}.{payload}".encode(), "sha256").digest())
        return {
            "access_token": f"{header}.{payload}.{sig}",
            "refresh_token": "not_supported",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "expiration": now + self.token_lifetime,
            "scope": "ibm openid",
        }

    def authenticate(self, authorization: str | None, service_crn: str | None) -> str:
        """Check a request's credentials; return the instance it may act on."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ServiceError(401, "unauthorized", "Missing bearer token.")
        token = authorization[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise ServiceError(401, "unauthorized", "Invalid bearer token.")
        expected = _b64url(
            hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), "sha256").digest()
        )
        if not hmac.compare_digest(expected, parts[2]):
            raise ServiceError(401, "unauthorized", "Invalid bearer token.")
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            raise ServiceError(401, "unauthorized", "Invalid bearer token.") from None
        if int(claims.get("exp", 0)) <= time.time():
            raise ServiceError(401, "token_expired", "The bearer token has expired.")
        if not service_crn:
            raise ServiceError(400, "missing_crn", "The Service-CRN header is required.")
        instances = claims.get("instances")
        if not isinstance(instances, list) or service_crn not in instances:
            raise ServiceError(403, "forbidden", "The token may not use this instance.")
        return service_crn

    def add_api_key(self, api_key: str, instances: list[str], user_id: str = "local-user") -> None:
        """Let ``api_key`` use ``instances`` (stored hashed). Jobs and sessions stay private to
        the instance they were created in."""
        if not api_key or not instances:
            raise ValueError("an API key and at least one instance are required")
        self.store.add_api_key(hash_key(api_key), instances, user_id)

    # Backends ---------------------------------------------------------------------------------

    def device(self, name: str) -> Device:
        device = self.devices.get(name)
        if device is None:
            raise ServiceError(404, "backend_not_found", f"Backend {name!r} not found.")
        return device

    def target(self, device: Device, calibration_id: str | None) -> Target:
        key = (device.name, calibration_id)
        with self._lock:
            target = self._targets.get(key)
        if target is None:
            cal = (
                device.calibration(calibration_id=calibration_id)
                if calibration_id
                else (device.calibration())
            )
            target = build_target(device.configuration, cal.properties if cal else None)
            with self._lock:
                self._targets[key] = target
        return target

    def device_entry(self, device: Device) -> dict[str, Any]:
        config = device.configuration
        queue = self.store.count_queued(device.name)
        return {
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

    def device_status(self, device: Device) -> dict[str, Any]:
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
        if device.simulator:
            return {}
        before = None
        if updated_before:
            try:
                before = parse_datetime(updated_before)
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

    # Jobs -------------------------------------------------------------------------------------

    def create_job(self, instance: str, body: Any, caller: str | None) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise ServiceError(400, "invalid_request", "The body must be a JSON object.")
        unknown = set(body) - _JOB_KEYS
        if unknown:
            raise ServiceError(400, "invalid_request", f"Unknown field(s): {sorted(unknown)}")
        program = body.get("program_id")
        if program not in ("sampler", "estimator"):
            raise ServiceError(404, "program_not_found", f"Program {program!r} not found.")
        backend_name = body.get("backend")
        if not isinstance(backend_name, str):
            raise ServiceError(400, "invalid_request", "'backend' is required.")
        device = self.device(backend_name)
        params = body.get("params")
        if not isinstance(params, Mapping):
            raise ServiceError(400, "invalid_request", "'params' must be an object.")
        self._validate_params(program, params, device, body.get("calibration_id"))
        cost = body.get("cost", 10800)
        if isinstance(cost, bool) or not isinstance(cost, int) or not 0 <= cost <= 10800:
            raise ServiceError(400, "invalid_request", "'cost' must be an integer in 0..10800.")
        tags = body.get("tags") or []
        _check_tags(tags)
        session_id = body.get("session_id")
        if session_id is not None:
            session = self.store.session(str(session_id), instance)
            if session is None:
                raise ServiceError(404, "session_not_found", f"Session {session_id!r} not found.")
            if not session["accepting"] or session["state"] == "closed":
                raise ServiceError(
                    400, "session_closed", f"Session {session_id} is not accepting jobs."
                )
            if session["backend"] and session["backend"] != backend_name:
                raise ServiceError(
                    400, "invalid_request", f"Session {session_id} runs on {session['backend']}."
                )
        job_id = new_id()
        self.store.insert_job(
            id=job_id,
            instance=instance,
            program=program,
            backend=backend_name,
            status="Queued",
            created=utcnow_iso(),
            params=json.dumps(params),
            tags=json.dumps(list(tags)),
            session_id=session_id,
            cost=cost,
            log_level=str(body.get("log_level") or "WARNING").upper(),
            private=1 if body.get("private") else 0,
            calibration_id=body.get("calibration_id"),
            caller=caller,
            user_id="local-user",
        )
        self.store.append_log(job_id, f"{utcnow_iso()} job queued on {backend_name}")
        self._wakeup.set()
        response: dict[str, Any] = {"id": job_id, "backend": backend_name}
        if session_id:
            response["session_id"] = session_id
        if body.get("private"):
            response["private"] = True
        return response

    def _validate_params(
        self, program: str, params: Mapping[str, Any], device: Device, calibration_id: Any
    ) -> None:
        unknown = set(params) - _PARAM_KEYS
        if unknown:
            raise ServiceError(
                400, "invalid_request", f"Unknown params field(s): {sorted(unknown)}"
            )
        if params.get("version", 2) != 2:
            raise ServiceError(400, "invalid_request", "Only params version 2 is supported.")
        level = params.get("resilience_level")
        if level is not None and (program != "estimator" or level not in (0, 1, 2)):
            raise ServiceError(400, "invalid_request", "resilience_level must be 0, 1 or 2.")
        options = params.get("options") or {}
        if not isinstance(options, Mapping):
            raise ServiceError(400, "invalid_request", "params.options must be an object.")
        try:
            validate_options(program, options)
        except ValueError as exc:
            raise ServiceError(400, "invalid_request", str(exc)) from None
        config = device.configuration
        max_experiments = config.get("max_experiments")
        pubs = params.get("pubs")
        if isinstance(pubs, list) and max_experiments and len(pubs) > max_experiments:
            raise ServiceError(
                400,
                "invalid_request",
                f"{len(pubs)} pubs exceed max_experiments={max_experiments}.",
            )
        try:
            decoded = decode_pubs(
                program,
                pubs,
                num_qubits=device.num_qubits,
                default_shots=params.get("shots") or options.get("default_shots") or 4096,
                default_precision=params.get("precision") or options.get("default_precision"),
            )
        except PubError as exc:
            raise ServiceError(400, "invalid_pub", str(exc)) from None
        target = self.target(device, calibration_id if isinstance(calibration_id, str) else None)
        max_shots = config.get("max_shots")
        for i, pub in enumerate(decoded):
            shots = getattr(pub, "shots", None)
            if max_shots and shots and shots > max_shots:
                raise ServiceError(
                    400, "invalid_pub", f"pub {i}: {shots} shots exceed max_shots={max_shots}."
                )
            problem = find_isa_problem(pub.circuit, target)
            if problem:
                raise ServiceError(400, "invalid_pub", f"pub {i}: {problem}")

    def job_document(self, row: Mapping[str, Any], *, include_params: bool) -> dict[str, Any]:
        state: dict[str, Any] = {"status": row["status"]}
        if row["reason"]:
            state["reason"] = row["reason"]
        if row["reason_code"]:
            state["reason_code"] = row["reason_code"]
        doc: dict[str, Any] = {
            "id": row["id"],
            "backend": row["backend"],
            "program": {"id": row["program"]},
            "state": state,
            "status": row["status"],
            "created": row["created"],
            "cost": row["cost"],
            "tags": json.loads(row["tags"]),
            "session_id": row["session_id"],
            "user_id": row["user_id"],
            "calibration_id": row["calibration_id"],
            "usage": {
                "qpu_charge_time_seconds": (row["exec_ns"] or 0) // 1_000_000_000,
                "status": "complete" if row["status"] in TERMINAL else "pending",
            },
        }
        if row["private"]:
            doc["private"] = True
        elif include_params:
            doc["params"] = json.loads(row["params"])
        return doc

    def get_job(self, instance: str, job_id: str) -> dict[str, Any]:
        row = self.store.job(job_id, instance)
        if row is None:
            raise ServiceError(404, "job_not_found", f"Job {job_id} not found.")
        return row

    def cancel_job(self, instance: str, job_id: str) -> None:
        row = self.get_job(instance, job_id)
        if row["status"] in TERMINAL:
            raise ServiceError(
                409,
                "job_not_cancellable",
                f"Job {job_id} is {row['status']} and cannot be cancelled.",
            )
        self._cancel(job_id, "Cancelled by the user.")

    def _cancel(self, job_id: str, reason: str, code: int | None = None) -> None:
        if self.store.update_job(
            job_id,
            only_if_status=("Queued", "Running"),
            status="Cancelled",
            reason=reason,
            reason_code=code,
            finished=utcnow_iso(),
        ):
            self.store.append_log(job_id, f"{utcnow_iso()} {reason}")
            future = self._running.get(job_id)
            if future is not None and not future.cancel() and isinstance(self._pool, WorkerPool):
                # Running: stop the simulation so the worker is free for the next job.
                self._pool.kill_running(future)

    def delete_job(self, instance: str, job_id: str) -> None:
        row = self.get_job(instance, job_id)
        if row["status"] not in TERMINAL:
            raise ServiceError(
                400,
                "job_not_terminal",
                f"Job {job_id} is {row['status']}; cancel it before deleting.",
            )
        self.store.delete_job(job_id)

    def list_jobs(self, instance: str, query: Mapping[str, Any]) -> dict[str, Any]:
        where: list[str] = []
        args: list[Any] = []

        def integer(name: str, default: int, lo: int, hi: int) -> int:
            raw = query.get(name)
            try:
                value = int(raw) if raw is not None else default
            except (TypeError, ValueError):
                return default
            return value if lo <= value <= hi else default

        limit = integer("limit", 200, 1, 200)
        offset = integer("offset", 0, 0, 10**9)
        pending = query.get("pending")
        if pending is not None:
            flag = str(pending).lower() == "true"
            where.append(
                "status IN ('Queued','Running')"
                if flag
                else "status IN ('Completed','Failed','Cancelled')"
            )
        for key, column in (
            ("program", "program"),
            ("backend", "backend"),
            ("session_id", "session_id"),
        ):
            if query.get(key):
                where.append(f"{column}=?")
                args.append(query[key])
        for key, op in (("created_after", ">="), ("created_before", "<=")):
            if query.get(key):
                try:
                    when = parse_datetime(str(query[key]))
                except ValueError:
                    raise ServiceError(400, "invalid_request", f"{key} is not a datetime") from None
                assert when is not None
                where.append(f"created {op} ?")
                args.append(
                    when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                )
        tags = query.get("tags") or []
        for tag in tags:
            where.append("EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value=?)")
            args.append(tag)
        descending = str(query.get("sort", "DESC")).upper() != "ASC"
        rows, total = self.store.list_jobs(
            instance, where, args, descending=descending, limit=limit, offset=offset
        )
        exclude = str(query.get("exclude_params", "true")).lower() != "false"
        return {
            "jobs": [self.job_document(r, include_params=not exclude) for r in rows],
            "count": total,
            "limit": limit,
            "offset": offset,
        }

    def update_tags(self, instance: str, job_id: str, tags: Any) -> None:
        self.get_job(instance, job_id)
        _check_tags(tags)
        self.store.update_job(job_id, tags=json.dumps(list(tags)))

    def metrics(self, instance: str, job_id: str) -> dict[str, Any]:
        row = self.get_job(instance, job_id)
        return {
            "timestamps": {
                "created": row["created"],
                "running": row["running"],
                "finished": row["finished"],
            },
            "usage": {
                "qpu_charge_time_seconds": (row["exec_ns"] or 0) // 1_000_000_000,
                "status": "complete" if row["status"] in TERMINAL else "pending",
            },
            "circuits_execution_time_ns": row["exec_ns"] or 0,
            "qiskit_version": _qiskit_version(),
            "caller": row["caller"],
        }

    # Sessions ---------------------------------------------------------------------------------

    def create_session(self, instance: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise ServiceError(400, "invalid_request", "The body must be a JSON object.")
        mode = body.get("mode")
        if mode not in ("dedicated", "batch"):
            raise ServiceError(400, "invalid_request", "mode must be 'dedicated' or 'batch'.")
        backend = body.get("backend") or body.get("backend_name")
        if backend is not None:
            device = self.device(str(backend))
            if device.simulator:
                raise ServiceError(
                    400, "invalid_request", "Sessions are only available on non-simulator backends."
                )
        max_ttl = body.get("max_ttl", 28800)
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
            state="open",
            accepting=1,
            max_ttl=max_ttl,
            interactive_ttl=60,
            created=now,
            timestamps=json.dumps([{"status": "open", "timestamp": now}]),
            user_id="local-user",
        )
        return self.session_document(self.store.session(session_id) or {})

    def session_document(self, row: Mapping[str, Any]) -> dict[str, Any]:
        row = self._refresh_session(dict(row))
        started = parse_datetime(row["created"])
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

    def _refresh_session(self, row: dict[str, Any]) -> dict[str, Any]:
        """Apply TTL expiry and close-when-empty rules."""
        if row["state"] == "closed":
            return row
        now = _dt.datetime.now(_dt.timezone.utc)
        started = parse_datetime(row["created"]) or now
        pending = self.store.session_jobs(row["id"], ("Queued", "Running"))
        reason = None
        if (now - started).total_seconds() >= row["max_ttl"]:
            reason = "max_ttl"
        elif not row["accepting"] and not pending:
            reason = "closed"
        if reason:
            for job_id in self.store.session_jobs(row["id"], ("Queued",)):
                self._cancel(job_id, "The session ended before the job ran.")
            self._set_session_state(row, "closed", accepting=0, closed=utcnow_iso())
        elif row["state"] == "active" and not pending and row["last_job_completed"]:
            last = parse_datetime(row["last_job_completed"]) or now
            if (now - last).total_seconds() > row["interactive_ttl"]:
                self._set_session_state(row, "inactive")
        return row

    def _set_session_state(self, row: dict[str, Any], state: str, **fields: Any) -> None:
        stamps = json.loads(row["timestamps"])
        stamps.append({"status": state, "timestamp": utcnow_iso()})
        row.update(state=state, timestamps=json.dumps(stamps), **fields)
        self.store.update_session(row["id"], state=state, timestamps=row["timestamps"], **fields)

    def get_session(self, instance: str, session_id: str) -> dict[str, Any]:
        row = self.store.session(session_id, instance)
        if row is None:
            raise ServiceError(404, "session_not_found", f"Session {session_id} not found.")
        return row

    def close_session(self, instance: str, session_id: str, accepting: Any) -> None:
        row = self.get_session(instance, session_id)
        if accepting is not False:
            raise ServiceError(400, "invalid_request", "Only accepting_jobs=false is supported.")
        self.store.update_session(session_id, accepting=0)
        self._refresh_session({**row, "accepting": 0})

    def cancel_session(self, instance: str, session_id: str) -> None:
        row = self.get_session(instance, session_id)
        self.store.update_session(session_id, accepting=0)
        for job_id in self.store.session_jobs(session_id, ("Queued",)):
            self._cancel(job_id, "The session was cancelled.")
        if row["state"] != "closed":
            self._set_session_state(
                {**row, "accepting": 0}, "closed", accepting=0, closed=utcnow_iso()
            )

    # Execution --------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            try:
                self._reap()
            except Exception:  # keep dispatching; the failure is logged
                logger.exception("error while collecting finished jobs")
            capacity = max(1, self._workers) - len(self._running)
            started = False
            while capacity > 0:
                row = self.store.next_queued(exclude=self._running)
                if row is None:
                    break
                try:
                    self._start(row)
                except Exception as exc:  # a job that cannot start fails; the queue goes on
                    logger.exception("cannot start job %s", row["id"])
                    self._running.pop(row["id"], None)
                    self.store.update_job(
                        row["id"],
                        status="Failed",
                        reason=f"The job could not be started: {type(exc).__name__}: {exc}",
                        reason_code=1500,
                        finished=utcnow_iso(),
                    )
                capacity -= 1
                started = True
            if not started:
                self._wakeup.wait(0.02 if self._running else 0.5)
                self._wakeup.clear()

    def _start(self, row: Mapping[str, Any]) -> None:
        job_id = row["id"]
        if not self.store.update_job(
            job_id, only_if_status=("Queued",), status="Running", running=utcnow_iso()
        ):
            return
        self.store.append_log(job_id, f"{utcnow_iso()} job started")
        if row["session_id"]:
            session = self.store.session(row["session_id"])
            if session is not None:
                now = utcnow_iso()
                fields: dict[str, Any] = {"last_job_started": now}
                if session["state"] in ("open", "inactive"):
                    self._set_session_state(
                        session, "active", activated=session["activated"] or now
                    )
                self.store.update_session(row["session_id"], **fields)
        device = self.devices[row["backend"]]
        cal = None
        if not device.simulator:
            cal = (
                device.calibration(calibration_id=row["calibration_id"])
                if row["calibration_id"]
                else device.calibration()
            )
        assert self._pool is not None
        future = self._pool.submit(
            execute_job,
            row["program"],
            json.loads(row["params"]),
            device.configuration,
            cal.properties if cal else None,
            f"{device.name}/{cal.calibration_id}" if cal else None,
        )
        self._running[job_id] = future
        future.add_done_callback(lambda _f: self._wakeup.set())
        self._deadlines[job_id] = time.monotonic() + max(1, int(row["cost"] or 10800))

    def _reap(self) -> None:
        for job_id, future in list(self._running.items()):
            if not future.done():
                if time.monotonic() > self._deadlines.get(job_id, float("inf")):
                    self._cancel(job_id, "Job exceeded its maximum execution time.", 1305)
                    self._running.pop(job_id, None)
                    self._deadlines.pop(job_id, None)
                continue
            self._running.pop(job_id, None)
            self._deadlines.pop(job_id, None)
            row = self.store.job(job_id)
            if row is None or row["status"] != "Running":
                continue  # cancelled or deleted meanwhile
            now = utcnow_iso()
            try:
                text, metrics = future.result()
            except Exception as exc:  # the job failed: record why
                message = (
                    str(exc)
                    if isinstance(exc, JobExecutionError)
                    else f"{type(exc).__name__}: {exc}"
                )
                self.store.update_job(
                    job_id,
                    status="Failed",
                    reason=message[:2000],
                    reason_code=1500,
                    finished=now,
                    result=f"Traceback (most recent call last):\n{message}",
                )
                self.store.append_log(job_id, f"{now} job failed: {message}")
            else:
                self.store.update_job(
                    job_id,
                    status="Completed",
                    result=text,
                    finished=now,
                    exec_ns=metrics.get("circuits_execution_time_ns"),
                )
                self.store.append_log(job_id, f"{now} job completed")
            if row["session_id"]:
                self.store.update_session(row["session_id"], last_job_completed=now)
                session = self.store.session(row["session_id"])
                if session is not None:
                    self._refresh_session(session)

    def usage(self, instance: str) -> dict[str, Any]:
        return {
            "instance_id": instance,
            "plan_id": "local",
            "usage_consumed_seconds": round(self.store.usage_seconds(instance), 3),
            "usage_limit_reached": False,
        }


def _check_tags(tags: Any) -> None:
    if (
        not isinstance(tags, list)
        or len(tags) > 8
        or not all(isinstance(t, str) and 0 < len(t) <= 86 for t in tags)
    ):
        raise ServiceError(
            400, "invalid_request", "tags must be a list of at most 8 strings of 1-86 characters."
        )


def _qiskit_version() -> str:
    import qiskit

    return str(qiskit.__version__)
