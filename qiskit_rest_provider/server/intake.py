"""Job intake: admission, validation and storage of new jobs, and the job documents and
listings the API answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..core.codec.pubs import PubError, decode_pubs
from ..core.isa import find_isa_problem
from ..wire.constants import (
    DEFAULT_SHOTS,
    JOB_FINAL_STATES,
    JOB_PENDING_STATES,
    JOB_QUEUED,
    MAX_COST_SECONDS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    PROGRAM_IDS,
    SESSION_CLOSED,
)
from ..wire.times import parse_iso, to_utc_iso, utcnow_iso
from .catalog import Catalog
from .dedupe import SubmissionGate, new_job_id
from .devices import Device
from .errors import RetryLaterError, ServiceError
from .store import Store
from .validation import (
    DEFAULT_MAX_SHOTS,
    LOG_LEVELS,
    MAX_JOB_RESULT_BITS,
    MAX_PUB_RESULT_BITS,
    MAX_TAG_FILTERS,
    check_precision,
    check_shots,
    is_utf8,
    pub_result_bits,
    sampler_seed_fits,
    validate_options,
)

__all__ = ["TERMINAL", "JobIntake", "check_tags"]

#: The states in which a job is final.
TERMINAL = JOB_FINAL_STATES
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
#: Longest ``session_id``, ``calibration_id`` or ``runtime`` string in a job body.
_MAX_ID_LENGTH = 256
#: Bounds of a stored ``created`` timestamp, for filters whose UTC value overflows a datetime.
_CREATED_MIN = "0001-01-01T00:00:00.000Z"
_CREATED_MAX = "9999-12-31T23:59:59.999Z"
#: Retry-After of a job refused at the per-instance queue limit, in seconds.
_QUEUE_LIMIT_RETRY_AFTER = 10


def check_tags(tags: Any) -> None:
    """Refuse (400) anything but a list of at most ``MAX_TAGS`` valid non-empty strings of at
    most ``MAX_TAG_LENGTH`` characters."""
    if (
        not isinstance(tags, list)
        or len(tags) > MAX_TAGS
        or not all(isinstance(t, str) and 0 < len(t) <= MAX_TAG_LENGTH and is_utf8(t) for t in tags)
    ):
        raise ServiceError(
            400,
            "invalid_request",
            f"tags must be a list of at most {MAX_TAGS} valid strings of 1-{MAX_TAG_LENGTH} "
            "characters.",
        )


class JobIntake:
    """Creates, reads, lists, tags, cancels and deletes the jobs of ``store``.

    Args:
        store: Where jobs live.
        catalog: The devices jobs may run on.
        cancel: Cancels a queued or running job with a reason (the scheduler's).
        wake: Tells the scheduler a job was queued.
        max_queued_per_instance: Queued plus running jobs an instance may have (0: no limit).
        view_session: A stored session row as it stands now, its due transitions applied
            without writing (the sessions' ``view``): a job for a session whose ``max_ttl``
            has passed is refused even before the sweep has closed it.
    """

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        cancel: Callable[[str, str], None],
        wake: Callable[[], None],
        max_queued_per_instance: int,
        view_session: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self._view_session = view_session
        self.max_queued_per_instance = max(0, int(max_queued_per_instance))
        #: Makes :meth:`create_job` idempotent on the client's submission tag.
        self.submissions = SubmissionGate(store)
        self._cancel = cancel
        self._wake = wake

    def check_queue_limit(self, instance: str) -> None:
        """Refuse a new job (429 with ``Retry-After``) when ``instance`` already has
        ``max_queued_per_instance`` queued or running jobs.

        Checked when a job is submitted; submissions processed at the same moment may overshoot
        the limit by the number of request threads.
        """
        limit = self.max_queued_per_instance
        if not limit:
            return
        active = self.store.count_active(instance)
        if active >= limit:
            raise RetryLaterError(
                429,
                "queue_limit_reached",
                f"This instance has {active} queued or running jobs, the limit per instance "
                f"is {limit}; retry when some have finished.",
                retry_after=_QUEUE_LIMIT_RETRY_AFTER,
            )

    def create_job(self, instance: str, body: Any, caller: str | None) -> dict[str, Any]:
        """Validate and queue a job from a ``POST /v1/jobs`` body; return the creation
        response. A repeated submission (same submission tag) returns the first job."""
        return self.submissions.create_once(instance, body, caller, self._create_job)

    def _create_job(self, instance: str, body: Any, caller: str | None) -> dict[str, Any]:
        self.check_queue_limit(instance)  # 429 before any decoding work
        if not isinstance(body, Mapping):
            raise ServiceError(400, "invalid_request", "The body must be a JSON object.")
        unknown = set(body) - _JOB_KEYS
        if unknown:
            raise ServiceError(400, "invalid_request", f"Unknown field(s): {sorted(unknown)}")
        program = body.get("program_id")
        if program not in PROGRAM_IDS:
            raise ServiceError(404, "program_not_found", f"Program {program!r} not found.")
        backend_name = body.get("backend")
        if not isinstance(backend_name, str):
            raise ServiceError(400, "invalid_request", "'backend' is required.")
        device = self.catalog.device(backend_name)
        params = body.get("params")
        if not isinstance(params, Mapping):
            raise ServiceError(400, "invalid_request", "'params' must be an object.")
        log_level = body.get("log_level")
        log_level = "WARNING" if log_level is None else log_level
        if not isinstance(log_level, str) or log_level.upper() not in LOG_LEVELS:
            raise ServiceError(
                400, "invalid_request", f"'log_level' must be one of {', '.join(LOG_LEVELS)}."
            )
        for key in ("session_id", "calibration_id", "runtime"):
            value = body.get(key)
            if value is not None and (
                not isinstance(value, str) or len(value) > _MAX_ID_LENGTH or not is_utf8(value)
            ):
                raise ServiceError(
                    400,
                    "invalid_request",
                    f"'{key}' must be a string of at most {_MAX_ID_LENGTH} characters.",
                )
        for key in ("private", "start_session"):
            if body.get(key) is not None and not isinstance(body.get(key), bool):
                raise ServiceError(400, "invalid_request", f"'{key}' must be true or false.")
        session_time = body.get("session_time")
        if session_time is not None and (
            isinstance(session_time, bool)
            or not isinstance(session_time, int)
            or not 0 <= session_time <= 2**31 - 1
        ):
            raise ServiceError(400, "invalid_request", "'session_time' must be an integer >= 0.")
        calibration_id = body.get("calibration_id") or None
        self.validate_params(program, params, device, calibration_id)
        cost = body.get("cost", MAX_COST_SECONDS)
        if isinstance(cost, bool) or not isinstance(cost, int) or not 0 <= cost <= MAX_COST_SECONDS:
            raise ServiceError(
                400, "invalid_request", f"'cost' must be an integer in 0..{MAX_COST_SECONDS}."
            )
        tags = body.get("tags") or []
        check_tags(tags)
        session_id = body.get("session_id")
        if session_id is not None:
            row = self.store.session(session_id, instance)
            if row is None:
                raise ServiceError(404, "session_not_found", f"Session {session_id!r} not found.")
            session = self._view_session(row)
            if not session["accepting"] or session["state"] == SESSION_CLOSED:
                raise ServiceError(
                    400, "session_closed", f"Session {session_id} is not accepting jobs."
                )
            if session["backend"] and session["backend"] != backend_name:
                raise ServiceError(
                    400, "invalid_request", f"Session {session_id} runs on {session['backend']}."
                )
        try:
            # Stored as given and answered back by GET /jobs/{id}: it must be encodable.
            params_text = json.dumps(params, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            raise ServiceError(400, "invalid_request", "'params' is not storable JSON.") from None
        if not is_utf8(params_text):
            raise ServiceError(400, "invalid_request", "'params' holds invalid Unicode strings.")
        job_id = new_job_id(self.store, instance, body)  # found again by a repeated submission
        now = utcnow_iso()
        # The first log line goes in with the row: a separate write that failed (disk full)
        # would answer an error for a job that was stored and will run.
        self.store.insert_job(
            id=job_id,
            instance=instance,
            program=program,
            backend=backend_name,
            status=JOB_QUEUED,
            created=now,
            params=params_text,
            tags=json.dumps(list(tags)),
            session_id=session_id,
            cost=cost,
            log_level=log_level.upper(),
            private=1 if body.get("private") else 0,
            calibration_id=calibration_id,
            caller=caller,
            user_id="local-user",
            logs=f"{now} job queued on {backend_name}\n",
        )
        self._wake()
        response: dict[str, Any] = {"id": job_id, "backend": backend_name}
        if session_id:
            response["session_id"] = session_id
        if body.get("private"):
            response["private"] = True
        return response

    def validate_params(
        self, program: str, params: Mapping[str, Any], device: Device, calibration_id: Any
    ) -> None:
        """Refuse (4xx) a job's ``params`` that ``device`` cannot run: unknown fields, invalid
        options, pubs that do not decode, exceed the result limits or are not ISA circuits."""
        unknown = set(params) - _PARAM_KEYS
        if unknown:
            raise ServiceError(
                400, "invalid_request", f"Unknown params field(s): {sorted(unknown)}"
            )
        if params.get("version", 2) != 2:
            raise ServiceError(400, "invalid_request", "Only params version 2 is supported.")
        options = params.get("options")
        options = {} if options is None else options
        if not isinstance(options, Mapping):
            raise ServiceError(400, "invalid_request", "params.options must be an object.")
        config = device.configuration
        max_shots = config.get("max_shots") or DEFAULT_MAX_SHOTS
        try:
            validate_options(program, options, max_shots=max_shots, params=params)
            check_shots(params.get("shots"), "params.shots", max_shots)
            check_precision(params.get("precision"), "params.precision")
        except ValueError as exc:
            raise ServiceError(400, "invalid_request", str(exc)) from None
        if calibration_id is not None and not isinstance(calibration_id, str):
            raise ServiceError(400, "invalid_request", "'calibration_id' must be a string.")
        if calibration_id and device.calibration(calibration_id=calibration_id) is None:
            # Checked before decoding: the job would otherwise run without this calibration.
            raise ServiceError(
                404, "calibration_not_found", f"Calibration {calibration_id!r} not found."
            )
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
                default_shots=params.get("shots") or options.get("default_shots") or DEFAULT_SHOTS,
                default_precision=params.get("precision") or options.get("default_precision"),
            )
        except PubError as exc:
            raise ServiceError(400, "invalid_pub", str(exc)) from None
        if program == "sampler" and not sampler_seed_fits(options, len(decoded)):
            raise ServiceError(
                400,
                "invalid_request",
                "simulator.seed_simulator + the number of pubs must stay below 2**63 "
                "(pub i runs with seed_simulator + i).",
            )
        total_bits = 0
        for i, pub in enumerate(decoded):
            shots = getattr(pub, "shots", None)
            if shots and shots > max_shots:
                raise ServiceError(
                    400, "invalid_pub", f"pub {i}: {shots} shots exceed max_shots={max_shots}."
                )
            if program == "estimator":
                try:
                    check_precision(pub.precision, f"pub {i}: precision")
                except ValueError as exc:
                    raise ServiceError(400, "invalid_pub", str(exc)) from None
            bits = pub_result_bits(program, pub)
            if bits > MAX_PUB_RESULT_BITS:
                raise ServiceError(
                    400,
                    "invalid_pub",
                    f"pub {i}: its result would hold {bits:,} bits ("
                    + (
                        "parameter sets x shots x classical bits"
                        if program == "sampler"
                        else "expectation values x 192"
                    )
                    + f"); the limit per pub is {MAX_PUB_RESULT_BITS:,} bits.",
                )
            total_bits += bits
            if total_bits > MAX_JOB_RESULT_BITS:
                raise ServiceError(
                    400,
                    "invalid_request",
                    f"the job's result would hold more than {MAX_JOB_RESULT_BITS:,} bits "
                    f"(the limit per job, summed over pubs; pubs 0..{i} already reach "
                    f"{total_bits:,}); split it into several jobs.",
                )
        target = self.catalog.target(device, calibration_id)
        for i, pub in enumerate(decoded):
            problem = find_isa_problem(pub.circuit, target)
            if problem:
                raise ServiceError(400, "invalid_pub", f"pub {i}: {problem}")

    def job_document(self, row: Mapping[str, Any], *, include_params: bool) -> dict[str, Any]:
        """The API document of a job row (``params`` only if asked and the job is not
        private)."""
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
            "tags": [
                t if is_utf8(t) else t.encode("utf-8", "backslashreplace").decode("utf-8")
                for t in json.loads(row["tags"])
            ],
            "session_id": row["session_id"],
            "user_id": row["user_id"],
            "calibration_id": row["calibration_id"],
            "usage": _usage(row),
        }
        if row["private"]:
            doc["private"] = True
        elif include_params:
            doc["params"] = json.loads(row["params"])
        return doc

    def get_job(self, instance: str, job_id: str) -> dict[str, Any]:
        """The row of a job of ``instance`` (404 if there is none)."""
        row = self.store.job(job_id, instance)
        if row is None:
            raise ServiceError(404, "job_not_found", f"Job {job_id} not found.")
        return row

    def cancel_job(self, instance: str, job_id: str) -> None:
        """Cancel a queued or running job of ``instance`` (409 if it is final)."""
        row = self.get_job(instance, job_id)
        if row["status"] in TERMINAL:
            raise ServiceError(
                409,
                "job_not_cancellable",
                f"Job {job_id} is {row['status']} and cannot be cancelled.",
            )
        self._cancel(job_id, "Cancelled by the user.")

    def delete_job(self, instance: str, job_id: str) -> None:
        """Delete a final job of ``instance`` (400 if it is not final)."""
        row = self.get_job(instance, job_id)
        if row["status"] not in TERMINAL:
            raise ServiceError(
                400,
                "job_not_terminal",
                f"Job {job_id} is {row['status']}; cancel it before deleting.",
            )
        self.store.delete_job(job_id)

    def list_jobs(self, instance: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /v1/jobs``: the jobs of ``instance`` matching ``query``'s filters, a page.

        The query parameters are validated here; the store builds the SQL
        (:meth:`.Store.list_jobs`).
        """

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
        states: tuple[str, ...] = ()
        if pending is not None:
            states = JOB_PENDING_STATES if str(pending).lower() == "true" else JOB_FINAL_STATES
        equal: dict[str, str | None] = {}
        for key in ("program", "backend", "session_id"):
            value = query.get(key)
            if value and (not isinstance(value, str) or not is_utf8(value)):
                raise ServiceError(400, "invalid_request", f"{key} must be a valid string")
            equal[key] = value or None
        bounds: dict[str, str | None] = {}
        for key in ("created_after", "created_before"):
            bounds[key] = None
            if query.get(key):
                try:
                    when = parse_iso(str(query[key]))
                except ValueError:
                    raise ServiceError(400, "invalid_request", f"{key} is not a datetime") from None
                assert when is not None
                try:
                    bounds[key] = to_utc_iso(when)
                except OverflowError:
                    # In UTC it lies before year 1 or after 9999: beyond every stored job.
                    bounds[key] = _CREATED_MIN if when.year < 5000 else _CREATED_MAX
        tags = list(dict.fromkeys(query.get("tags") or []))
        if len(tags) > MAX_TAG_FILTERS:
            raise ServiceError(
                400,
                "invalid_request",
                f"At most {MAX_TAG_FILTERS} different tags= filters (a job has at most "
                f"{MAX_TAGS} tags).",
            )
        if not all(isinstance(t, str) and is_utf8(t) for t in tags):
            raise ServiceError(400, "invalid_request", "tags must be valid strings")
        rows, total = self.store.list_jobs(
            instance,
            states,
            tags,
            program=equal["program"],
            backend=equal["backend"],
            session_id=equal["session_id"],
            created_after=bounds["created_after"],
            created_before=bounds["created_before"],
            descending=str(query.get("sort", "DESC")).upper() != "ASC",
            limit=limit,
            offset=offset,
        )
        exclude = str(query.get("exclude_params", "true")).lower() != "false"
        return {
            "jobs": [self.job_document(r, include_params=not exclude) for r in rows],
            "count": total,
            "limit": limit,
            "offset": offset,
        }

    def update_tags(self, instance: str, job_id: str, tags: Any) -> None:
        """Replace the tags of a job of ``instance``."""
        self.get_job(instance, job_id)
        check_tags(tags)
        self.store.update_job(job_id, tags=json.dumps(list(tags)))

    def metrics(self, instance: str, job_id: str) -> dict[str, Any]:
        """The metrics document of a job of ``instance``."""
        row = self.get_job(instance, job_id)
        return {
            "timestamps": {
                "created": row["created"],
                "running": row["running"],
                "finished": row["finished"],
            },
            "usage": _usage(row),
            "circuits_execution_time_ns": row["exec_ns"] or 0,
            "qiskit_version": _qiskit_version(),
            "caller": row["caller"],
        }

    def usage(self, instance: str) -> dict[str, Any]:
        """The usage document of ``instance``."""
        return {
            "instance_id": instance,
            "plan_id": "local",
            "usage_consumed_seconds": round(self.store.usage_seconds(instance), 3),
            "usage_limit_reached": False,
        }


def _qiskit_version() -> str:
    import qiskit

    return str(qiskit.__version__)


def _usage(row: Mapping[str, Any]) -> dict[str, Any]:
    """A job's ``usage`` document, as its job and metrics documents both carry it."""
    return {
        "qpu_charge_time_seconds": (row["exec_ns"] or 0) // 1_000_000_000,
        "status": "complete" if row["status"] in TERMINAL else "pending",
    }
