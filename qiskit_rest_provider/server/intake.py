"""Job intake: admission, validation and storage of new jobs, and the job documents and
listings the API answers."""

from __future__ import annotations

import datetime as _dt
import json
import math
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..core.codec.pubs import PubError, decode_pubs
from ..core.isa import find_isa_problem
from ..wire.constants import (
    DEFAULT_SHOTS,
    EXECUTOR_PROGRAM,
    JOB_COMPLETED,
    JOB_FAILED,
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
from .emulator.budget import memory_problem
from .emulator.methods import default_job_memory, requested_method
from .errors import RetryLaterError, ServiceError
from .store import Store
from .validation import (
    DEFAULT_MAX_SHOTS,
    LOG_LEVELS,
    MAX_JOB_RESULT_BITS,
    MAX_PUB_RESULT_BITS,
    MAX_SIMULATED_SHOTS,
    MAX_TAG_FILTERS,
    check_precision,
    check_shots,
    is_utf8,
    pub_result_bits,
    pub_simulated_shots,
    sampler_seed_fits,
    validate_options,
)

if TYPE_CHECKING:
    from .executor.sandbox import ProgramInspector

__all__ = ["TERMINAL", "JobIntake", "check_tags", "query_bool", "usage_period"]

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
#: What the ``params`` column holds for a private job: its inputs are never stored.
PRIVATE_PARAMS = "null"


def usage_period(now: _dt.datetime | None = None) -> tuple[str, str]:
    """The usage period containing ``now`` (the current time by default): the calendar month
    in UTC, as ``(start, end)`` ISO texts in the store's format (``end`` is the start of the
    next month)."""
    now = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + _dt.timedelta(days=32)).replace(day=1)
    return to_utc_iso(start), to_utc_iso(end)


#: The spellings of a boolean query parameter (those FastAPI accepts), lower-case.
_TRUE = frozenset({"true", "1", "yes", "y", "on", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "off", "f"})


def query_bool(value: Any, name: str, default: bool) -> bool:
    """A boolean query parameter: ``default`` when absent or empty, else ``true``/``false``
    (any case, or 1/0, yes/no, on/off); anything else is refused (400)."""
    text = "" if value is None else str(value).strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ServiceError(400, "invalid_request", f"{name} must be true or false.")


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
        keep_private_inputs: Hands the ``params`` JSON text of a private job to the scheduler,
            which holds it in memory until the job starts (it is never written to the store).
        drop_private_inputs: Forgets what ``keep_private_inputs`` was given for a job (its
            creation failed after all).

    Usage limits (:meth:`set_usage_limit`): an instance whose jobs' execution time in the
    current usage period (:func:`usage_period`) reaches its limit gets new jobs refused with
    409, as IBM's service refuses jobs of an instance past its limit.
    """

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        cancel: Callable[[str, str], None],
        wake: Callable[[], None],
        max_queued_per_instance: int,
        max_job_memory_bytes: int | None = None,
        view_session: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        keep_private_inputs: Callable[[str, str], None],
        drop_private_inputs: Callable[[str], None],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self._view_session = view_session
        self.max_queued_per_instance = max(0, int(max_queued_per_instance))
        self._inspector: ProgramInspector | None = None
        self._inspector_lock = threading.Lock()
        self._closed = False
        #: Bytes one job's simulation may hold; wider circuits are refused at submission.
        self.max_job_memory_bytes = int(max_job_memory_bytes or default_job_memory(1))
        #: Makes :meth:`create_job` idempotent on the client's submission tag.
        self.submissions = SubmissionGate(store)
        self._cancel = cancel
        self._wake = wake
        self._keep_private_inputs = keep_private_inputs
        self._drop_private_inputs = drop_private_inputs
        # Usage limits in seconds per instance (absent: unlimited); read by request threads,
        # replaced whole by set_usage_limit.
        self._usage_limits: dict[str, float] = {}

    def set_usage_limit(self, instance: str, seconds: float | None) -> None:
        """Limit the execution time ``instance``'s jobs may use per usage period, in seconds
        (``None``: unlimited). Jobs submitted once the limit is reached are refused (409)."""
        if seconds is None:
            limits = dict(self._usage_limits)
            limits.pop(instance, None)
        else:
            seconds = float(seconds)
            if not (math.isfinite(seconds) and seconds >= 0):
                raise ValueError("a usage limit is a finite number of seconds >= 0, or None")
            limits = {**self._usage_limits, instance: seconds}
        self._usage_limits = limits

    def usage_limit(self, instance: str) -> float | None:
        """The usage limit of ``instance`` in seconds per usage period (``None``: unlimited)."""
        return self._usage_limits.get(instance)

    def _consumed(self, instance: str, period: tuple[str, str]) -> float:
        # Rounded as the usage document shows it, so that the refusal and the document's
        # usage_limit_reached agree.
        return round(self.store.usage_seconds(instance, period), 3)

    def check_usage_limit(self, instance: str) -> None:
        """Refuse a new job (409) when ``instance`` has used its limit in this usage period."""
        limit = self._usage_limits.get(instance)
        if limit is None:
            return
        start, end = usage_period()
        consumed = self._consumed(instance, (start, end))
        if consumed >= limit:
            raise ServiceError(
                409,
                "usage_limit_reached",
                f"This instance has used {consumed:.3f} s of its usage limit of {limit:g} s "
                f"for the usage period {start} to {end}; new jobs are refused until the "
                "next period starts or the limit is raised.",
            )

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
        self.check_usage_limit(instance)
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
        device = self.catalog.device(backend_name, instance)
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
        private = bool(body.get("private"))
        self._insert_job(
            params_text,
            private=private,
            id=job_id,
            instance=instance,
            program=program,
            backend=backend_name,
            status=JOB_QUEUED,
            created=now,
            tags=json.dumps(list(tags)),
            session_id=session_id,
            cost=cost,
            log_level=log_level.upper(),
            calibration_id=calibration_id,
            caller=caller,
            user_id="local-user",
            # The first log line goes in with the row: a separate write that failed (disk
            # full) would answer an error for a job that was stored and will run.
            logs=f"{now} job queued on {backend_name}\n",
        )
        self._wake()
        response: dict[str, Any] = {"id": job_id, "backend": backend_name}
        if session_id:
            response["session_id"] = session_id
        if body.get("private"):
            response["private"] = True
        return response

    def _insert_job(self, params_text: str, *, private: bool, **fields: Any) -> None:
        """Store a new job row; a private job's ``params`` go to the scheduler's memory
        instead, never to the store."""
        job_id = fields["id"]
        if not private:
            self.store.insert_job(params=params_text, private=0, **fields)
            return
        # Handed over before the row exists, so the dispatcher never sees the job without them.
        self._keep_private_inputs(job_id, params_text)
        try:
            self.store.insert_job(params=PRIVATE_PARAMS, private=1, **fields)
        except BaseException:
            self._drop_private_inputs(job_id)
            raise

    def validate_params(
        self, program: str, params: Mapping[str, Any], device: Device, calibration_id: Any
    ) -> None:
        """Refuse (4xx) a job's ``params`` that ``device`` cannot run: unknown fields, invalid
        options, pubs that do not decode, exceed the result limits or are not ISA circuits."""
        if program == EXECUTOR_PROGRAM:
            self._check_calibration(device, calibration_id)
            self._validate_program(params, device, calibration_id)
            return
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
        self._check_calibration(device, calibration_id)
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
            bits = pub_result_bits(program, pub, options)
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
            simulated = pub_simulated_shots(
                program, pub, options, max_shots, params.get("resilience_level")
            )
            if simulated > MAX_SIMULATED_SHOTS:
                raise ServiceError(
                    400,
                    "invalid_pub",
                    f"pub {i}: it would simulate at least {simulated:,} shots ("
                    + (
                        "parameter sets x randomizations x shots per randomization"
                        if program == "sampler"
                        else "parameter sets x shots x noise factors"
                    )
                    + f"); the emulator runs at most {MAX_SIMULATED_SHOTS:,} per pub.",
                )
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
            problem = self._memory_problem(
                pub.circuit, noisy=not device.simulator, requested=requested_method(options)
            )
            if problem:
                raise ServiceError(400, "invalid_pub", f"pub {i}: {problem}")

    @staticmethod
    def _check_calibration(device: Device, calibration_id: Any) -> None:
        """Refuse a ``calibration_id`` that is not a string (400) or not the device's (404);
        checked before decoding: the job would otherwise run without this calibration."""
        if calibration_id is not None and not isinstance(calibration_id, str):
            raise ServiceError(400, "invalid_request", "'calibration_id' must be a string.")
        if calibration_id and device.calibration(calibration_id=calibration_id) is None:
            raise ServiceError(
                404, "calibration_not_found", f"Calibration {calibration_id!r} not found."
            )

    def _validate_program(
        self, params: Mapping[str, Any], device: Device, calibration_id: str | None
    ) -> None:
        """Refuse (4xx) an ``executor`` program ``device`` cannot run: its params are decoded
        in a bounded worker process (:mod:`.executor.sandbox`), then its summary is checked
        as sampler pubs are (:func:`.executor.admission.check_program`)."""
        from .executor.admission import check_program
        from .executor.decode import ProgramError, check_declared_sizes
        from .executor.sandbox import DeviceLimits

        try:
            check_declared_sizes(params)  # cheap refusals before the worker sees the params
            limits = DeviceLimits(
                self.catalog.target(device, calibration_id),
                self.max_job_memory_bytes,
                noisy=not device.simulator,
            )
            check_program(self._program_inspector().inspect(params, limits), device.configuration)
        except ProgramError as exc:
            raise ServiceError(400, "invalid_request", str(exc)) from None
        except TimeoutError:
            raise RetryLaterError(
                503,
                "service_busy",
                "The service is decoding another program (or stopping); retry shortly.",
                retry_after=5,
            ) from None

    def _program_inspector(self) -> ProgramInspector:
        """The decoder of executor programs (its worker starts on first use)."""
        with self._inspector_lock:
            if self._closed:
                raise TimeoutError("the service is stopping")
            if self._inspector is None:
                from .executor.sandbox import ProgramInspector

                self._inspector = ProgramInspector()
            return self._inspector

    def close(self) -> None:
        """Stop the executor programs' decoding worker, if it was started (later executor
        submissions are answered 503)."""
        with self._inspector_lock:
            self._closed = True
            inspector, self._inspector = self._inspector, None
        if inspector is not None:
            inspector.close()

    def _memory_problem(self, circuit: Any, *, noisy: bool, requested: str) -> str | None:
        """Why ``circuit`` cannot run within the per-job memory budget, or None
        (:func:`.emulator.budget.memory_problem`)."""
        return memory_problem(
            circuit, noisy=noisy, requested=requested, budget=self.max_job_memory_bytes
        )

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

    def result(self, instance: str, job_id: str) -> tuple[str, str] | None:
        """What ``GET /v1/jobs/{id}/results`` answers for a job of ``instance``: ``(text,
        status)`` for a completed job's result or a failed job's error text, None while there
        is no final result (and for a cancelled job).

        A private job's result is read once: it is deleted from the store as it is read, and
        a later read is refused with 404 (IBM documents that private results can be read once;
        what it answers afterwards is unconfirmed). A failed private job's error text stays
        readable: the official client reads it each time it computes the job's status.
        """
        row = self.get_job(instance, job_id)
        status = row["status"]
        if status == JOB_COMPLETED and row["private"]:
            text = self.store.take_result(job_id)
            if text is None:
                raise ServiceError(
                    404,
                    "result_not_found",
                    f"The result of private job {job_id} was already retrieved: a private "
                    "job's result can be read once, then it is deleted.",
                )
            return text, status
        if status in (JOB_COMPLETED, JOB_FAILED) and row["result"]:
            return str(row["result"]), status
        return None

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
            pending_only = query_bool(pending, "pending", True)
            states = JOB_PENDING_STATES if pending_only else JOB_FINAL_STATES
        # The listing leaves params out unless asked (reference §3.2: default true).
        exclude = query_bool(query.get("exclude_params"), "exclude_params", True)
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
        # Jobs on mock twins (dry runs) are listed only on request, as IBM lists them; a
        # backend= filter naming one lists its jobs.
        include_mocks = query_bool(query.get("include_mocks"), "include_mocks", False)
        mocks = () if include_mocks or equal["backend"] else tuple(self.catalog.twins)
        rows, total = self.store.list_jobs(
            instance,
            states,
            tags,
            exclude_backends=mocks,
            program=equal["program"],
            backend=equal["backend"],
            session_id=equal["session_id"],
            created_after=bounds["created_after"],
            created_before=bounds["created_before"],
            descending=str(query.get("sort", "DESC")).upper() != "ASC",
            limit=limit,
            offset=offset,
        )
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
        """The usage document of ``instance`` (reference §3.4): the execution time its jobs
        used in the current usage period (:func:`usage_period`, deleted jobs included) and,
        when it has a usage limit, that limit (as ``usage_limit_seconds`` and
        ``usage_allocation_seconds``, as IBM reports an instance whose allocation is its
        limit) and the time remaining. An unlimited instance has no limit fields (the
        official client computes ``usage_remaining_seconds`` only when one is present)."""
        start, end = usage_period()
        consumed = self._consumed(instance, (start, end))
        limit = self._usage_limits.get(instance)
        document: dict[str, Any] = {
            "instance_id": instance,
            "plan_id": "local",
            "usage_consumed_seconds": consumed,
            "usage_limit_reached": limit is not None and consumed >= limit,
            "usage_period": {"start": start, "end": end},
        }
        if limit is not None:
            document["usage_limit_seconds"] = limit
            document["usage_allocation_seconds"] = limit
            document["usage_remaining_seconds"] = round(max(limit - consumed, 0.0), 3)
        return document


def _qiskit_version() -> str:
    import qiskit

    return str(qiskit.__version__)


def _usage(row: Mapping[str, Any]) -> dict[str, Any]:
    """A job's ``usage`` document, as its job and metrics documents both carry it."""
    return {
        "qpu_charge_time_seconds": (row["exec_ns"] or 0) // 1_000_000_000,
        "status": "complete" if row["status"] in TERMINAL else "pending",
    }
