"""The local service's state machine: auth, devices, job queue, sessions and workers.

HTTP lives in :mod:`.app`; this module knows nothing about requests or responses except
:class:`ServiceError`, which carries the status, code and message of an error body.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import datetime as _dt
import functools
import hashlib
import hmac
import itertools
import json
import logging
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from qiskit.transpiler import Target

from ..codec.pubs import PubError, decode_pubs
from ..isa import find_isa_problem
from ..target import build_target
from ..wire.constants import (
    DEFAULT_SESSION_MAX_TTL,
    DEFAULT_SHOTS,
    JOB_CANCELLED,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_FINAL_STATES,
    JOB_PENDING_STATES,
    JOB_QUEUED,
    JOB_RUNNING,
    MAX_COST_SECONDS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    PROGRAM_IDS,
    REASON_JOB_ERROR,
    REASON_MAX_EXECUTION_TIME,
    SESSION_ACTIVE,
    SESSION_CLOSED,
    SESSION_INACTIVE,
    SESSION_MODES,
    SESSION_OPEN,
    SUBMISSION_DEDUPE_WINDOW_SECONDS,
    SUBMISSION_TAG_PREFIX,
)
from ..wire.jwt import b64url_decode, b64url_encode, sign_hs256, verify_hs256
from ..wire.times import parse_iso, to_utc_iso, utcnow_iso
from .devices import Device, default_catalog, load_snapshot_dir
from .simulation import execute_job
from .store import KEY_RECORD_PREFIX, Store
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
from .workers import JobExecutionError, WorkerPool

__all__ = ["LocalService", "ServiceError"]

logger = logging.getLogger(__name__)

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
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
#: Targets kept built (least recently used dropped first); only known calibrations are cached.
_MAX_CACHED_TARGETS = 16
#: Longest ``session_id``, ``calibration_id`` or ``runtime`` string in a job body.
_MAX_ID_LENGTH = 256
#: Bounds of a stored ``created`` timestamp, for filters whose UTC value overflows a datetime.
_CREATED_MIN = "0001-01-01T00:00:00.000Z"
_CREATED_MAX = "9999-12-31T23:59:59.999Z"


class ServiceError(Exception):
    """An error answered to the client as ``{"errors": [{code, message}], "trace"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


def new_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


# API keys ---------------------------------------------------------------------------------------

#: scrypt cost parameters for stored API keys (n=2**14, r=8: 16 MiB and about 0.1 s per hash,
#: the scrypt paper's interactive-login setting). They are stored with each record, so they can
#: be raised later without invalidating keys.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
#: Longer "keys" are refused without hashing them (IBM Cloud API keys have 44 characters).
MAX_API_KEY_LENGTH = 1024
#: Key derivations computed at once: bounds the memory and CPU that unauthenticated token
#: requests can claim (16 MiB each).
_KDF_CONCURRENCY = 2
#: Verified keys remembered (in memory, keyed by an HMAC with a per-process secret) so that a
#: known key gets its token without a key derivation.
_KEY_CACHE_SIZE = 1024


def hash_key(api_key: str) -> str:
    """A salted scrypt record of ``api_key`` for the store: ``scrypt$n$r$p$salt$digest``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        api_key.encode("utf-8"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        maxmem=_SCRYPT_MAXMEM,
        dklen=32,
    )
    params = f"{_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}"
    return f"{KEY_RECORD_PREFIX}{params}${b64url_encode(salt)}${b64url_encode(digest)}"


def verify_key(secret: bytes, record: str) -> bool:
    """Whether ``secret`` (an API key, UTF-8) matches the stored ``record``."""
    fields = (
        record[len(KEY_RECORD_PREFIX) :].split("$") if record.startswith(KEY_RECORD_PREFIX) else []
    )
    if len(fields) != 5:
        return False
    try:
        n, r, p = (int(f) for f in fields[:3])
        salt, digest = b64url_decode(fields[3]), b64url_decode(fields[4])
    except ValueError:
        return False
    # A record is only as trustworthy as the database file: refuse parameters that would cost
    # more than the maximum this module ever writes.
    if not (2 <= n <= 2**16 and n & (n - 1) == 0 and 1 <= r <= 16 and 1 <= p <= 4):
        return False
    derived = hashlib.scrypt(
        secret, salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=len(digest) or 32
    )
    return hmac.compare_digest(derived, digest)


#: The dispatcher's backoff after a failed step, in seconds (doubling from min to max).
_DISPATCH_MIN_BACKOFF, _DISPATCH_MAX_BACKOFF = 0.05, 2.0
#: Retry-After of a request refused because the storage failed, in seconds.
_STORAGE_RETRY_AFTER = 5
#: Retry-After of a job refused at the per-instance queue limit, in seconds.
_QUEUE_LIMIT_RETRY_AFTER = 10


class RetryLaterError(ServiceError):
    """A refusal the client may retry after ``retry_after`` seconds (sent as ``Retry-After``)."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: int) -> None:
        super().__init__(status, code, message)
        self.retry_after = max(1, int(retry_after))


class StorageUnavailableError(RetryLaterError):
    """The database failed (507 when full, 503 otherwise): this request fails, nothing else."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message, retry_after=_STORAGE_RETRY_AFTER)


class _FailureThrottle:
    """Failed API-key attempts per client address, in a sliding window.

    A client with ``limit`` failures in the last ``window`` seconds is refused (429) until the
    oldest of them leaves the window: a sustained rate of ``limit`` guesses per ``window``. Other
    clients are unaffected. At most ``max_clients`` addresses are tracked (the stalest are
    forgotten first), so the table's memory is bounded whatever the number of addresses.
    """

    def __init__(self, limit: int, window: float, max_clients: int = 4096) -> None:
        self.limit = limit
        self.window = window
        self._max_clients = max_clients
        self._lock = threading.Lock()
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        if self.limit <= 0:
            return 0
        with self._lock:
            recent = self._failures.get(client)
            if not recent:
                return 0
            now = time.monotonic()
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if not recent:
                del self._failures[client]
                return 0
            if len(recent) < self.limit:
                return 0
            return max(1, math.ceil(recent[0] + self.window - now))

    def failure(self, client: str) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            recent = self._failures.pop(client, None) or collections.deque(maxlen=self.limit)
            recent.append(time.monotonic())
            self._failures[client] = recent  # most recently failed last
            while len(self._failures) > self._max_clients:
                self._failures.popitem(last=False)


class _Completion:
    """The final state of a job that has not been written to the store yet."""

    def __init__(
        self, job_id: str, fields: dict[str, Any], log: str, session_id: str | None
    ) -> None:
        self.job_id = job_id
        self.fields = fields
        self.log = log
        self.session_id = session_id
        self.failing_since: float | None = None


#: Seconds a job may wait for its worker process to start before its execution-time limit
#: starts counting anyway (a worker that never starts must not hold the job forever).
_WORKER_START_ALLOWANCE = 120.0


class _RunInfo:
    """What the dispatcher keeps about a running job.

    The execution-time limit counts from the moment the job's future runs (a worker took it),
    not from dispatch: the start of a replacement worker is not the job's time.
    """

    def __init__(self, limit: float, limit_reason: str, session_id: str | None) -> None:
        self.limit = limit
        self.limit_reason = limit_reason
        self.session_id = session_id
        self.deadline = time.monotonic() + limit + _WORKER_START_ALLOWANCE
        self.started = False

    def expired(self, future: cf.Future[Any]) -> bool:
        now = time.monotonic()
        if not self.started and future.running():
            self.started = True
            self.deadline = now + self.limit
        return now > self.deadline


# Idempotent job submission ----------------------------------------------------------------------

_CreateJob = Callable[["LocalService", str, Any, "str | None"], dict[str, Any]]
#: How long a repeated submission waits for the first one (still validating) to finish.
_SUBMISSION_WAIT_SECONDS = 60.0
#: Repeated submissions that may wait for one key at a time; more are refused (409) rather
#: than let one key tie up the request threads.
_SUBMISSION_MAX_WAITERS = 4
#: Job ids derived from one submission tag (see :func:`_submission_job_ids`).
_SUBMISSION_ID_SLOTS = 8


def _submission_key(body: Any) -> str | None:
    """The client's submission tag in a job-creation body, if it carries a usable one.

    Cheap and total on hostile bodies: anything malformed yields ``None`` and is refused by the
    ordinary validation afterwards.
    """
    if not isinstance(body, Mapping):
        return None
    tags = body.get("tags")
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        return None
    for tag in tags:
        if (
            isinstance(tag, str)
            and tag.startswith(SUBMISSION_TAG_PREFIX)
            and len(tag) <= MAX_TAG_LENGTH
        ):
            try:
                tag.encode("utf-8")  # a lone surrogate cannot be looked up in SQLite
            except UnicodeEncodeError:
                return None
            return tag
    return None


class _Submission:
    """A submission key whose first request is being processed."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.waiters = 0


def _best_effort(fn: Callable[..., Any], *args: Any) -> None:
    """Run a secondary write (a log line, a session timestamp); a failure is logged, not
    raised, so it cannot strand the job it belongs to."""
    try:
        fn(*args)
    except Exception:
        logger.warning("secondary write %s failed", getattr(fn, "__name__", fn), exc_info=True)


class _SubmissionGate:
    """Makes job creation idempotent on the client's submission tag.

    A job-creation request whose tags hold a tag starting with ``SUBMISSION_TAG_PREFIX`` claims
    the key ``(instance, tag)`` before anything is validated. While it holds the claim, a
    request with the same key waits for it; the owner then looks the key up in the store (job
    ids are derived from the key, so this is a few primary-key lookups; a job of this instance
    created within ``SUBMISSION_DEDUPE_WINDOW_SECONDS`` counts) and answers the job it finds,
    or creates the job and releases the claim only after the job is stored. So a key yields at
    most one job in the window, however the requests interleave; and if the first request is
    refused, a waiting one proceeds on its own. The state is one small entry per submission
    being processed; nothing is kept once it is answered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Submission] = {}

    def create_once(
        self,
        service: LocalService,
        instance: str,
        body: Any,
        caller: str | None,
        create: _CreateJob,
    ) -> dict[str, Any]:
        key = _submission_key(body)
        if key is None:
            return create(service, instance, body, caller)
        slot = (instance, key)
        while True:
            with self._lock:
                pending = self._pending.get(slot)
                if pending is None:
                    claim = self._pending[slot] = _Submission()
                    break
                if pending.waiters >= _SUBMISSION_MAX_WAITERS:
                    raise _submission_in_progress(key)
                pending.waiters += 1
            try:
                finished = pending.done.wait(_SUBMISSION_WAIT_SECONDS)
            finally:
                with self._lock:
                    pending.waiters -= 1
            if not finished:
                raise _submission_in_progress(key)
            # The first request finished: its job is in the store now, or it was refused and
            # this request claims the key itself. Either way, go round again.
        try:
            existing = _submitted_job(service, instance, key)
            if existing is not None:
                response = _repeated_submission(existing, body, key)
                # Visible in the job's logs: a client's retry met the job it had created.
                _best_effort(
                    service.store.append_log,
                    existing["id"],
                    f"{utcnow_iso()} repeated submission answered with this job",
                )
                return response
            return create(service, instance, body, caller)
        finally:
            with self._lock:
                del self._pending[slot]
            claim.done.set()


def _submission_in_progress(key: str) -> ServiceError:
    return ServiceError(
        409,
        "submission_in_progress",
        f"A job submission tagged {key!r} is still being processed; retry shortly.",
    )


def _submission_job_ids(instance: str, key: str) -> list[str]:
    """The ids a job created with submission tag ``key`` on ``instance`` may get.

    Deriving the id from the key makes finding a submitted job a few primary-key lookups,
    however many jobs the store holds, and it survives restarts. A job takes the first free id;
    the later ones serve when an earlier holder no longer counts (created before the window, or
    its tags were changed). Each looks like any other job id (20 characters of ``[a-z0-9]``,
    about 103 bits) and reveals nothing beyond what its instance's tokens may read anyway.
    """
    ids = []
    for slot in range(_SUBMISSION_ID_SLOTS):
        text = f"{instance}\n{key}\n{slot}".encode("utf-8", "surrogatepass")
        number = int.from_bytes(hashlib.sha256(text).digest()[:16], "big")
        chars = []
        for _ in range(20):
            number, digit = divmod(number, len(_ID_ALPHABET))
            chars.append(_ID_ALPHABET[digit])
        ids.append("".join(chars))
    return ids


def _new_job_id(store: Store, instance: str, body: Any) -> str:
    """The id of a job being created: the first free id derived from its submission tag when it
    carries one, random otherwise (or when all derived ids are taken)."""
    key = _submission_key(body)
    if key is not None:
        for job_id in _submission_job_ids(instance, key):
            if store.job(job_id) is None:
                return job_id
    return new_id()


def _submitted_job(service: LocalService, instance: str, key: str) -> dict[str, Any] | None:
    """The job of ``instance`` created with submission tag ``key`` within the window."""
    since = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(
        seconds=SUBMISSION_DEDUPE_WINDOW_SECONDS
    )
    oldest = to_utc_iso(since)
    # Every slot is checked (a few lookups by primary key): a deleted job frees an early slot.
    for job_id in _submission_job_ids(instance, key):
        row = service.store.job(job_id, instance)
        if row is not None and row["created"] >= oldest and key in json.loads(row["tags"]):
            return row
    return None


def _repeated_submission(row: Mapping[str, Any], body: Any, key: str) -> dict[str, Any]:
    """The creation response of the job ``row``, answered again to a repeated submission."""
    if row["program"] != body.get("program_id") or row["backend"] != body.get("backend"):
        raise ServiceError(
            409,
            "submission_tag_reused",
            f"Submission tag {key!r} already created job {row['id']} "
            f"({row['program']} on {row['backend']}); a different job needs a new tag.",
        )
    logger.info("repeated submission %s answered with job %s", key, row["id"])
    response: dict[str, Any] = {"id": row["id"], "backend": row["backend"]}
    if row["session_id"]:
        response["session_id"] = row["session_id"]
    if row["private"]:
        response["private"] = True
    return response


def _idempotent_on_submission_tag(create: _CreateJob) -> _CreateJob:
    """Decorate ``LocalService.create_job``: at most one job per submission tag (see
    :class:`_SubmissionGate`)."""

    @functools.wraps(create)
    def create_job(
        self: LocalService, instance: str, body: Any, caller: str | None
    ) -> dict[str, Any]:
        return self._submissions.create_once(self, instance, body, caller, create)

    return create_job


class LocalService:
    """Everything the HTTP layer needs, independent of the web framework.

    Args:
        db: SQLite path (``":memory:"`` for a throwaway service).
        devices: Devices to serve (the synthetic catalog by default).
        api_key: The API key clients exchange for tokens (random if not given). It *replaces*
            every key previously stored for ``instance`` in ``db``: after a restart with a new
            key, the old one is refused. Keys are stored as salted scrypt records, never in
            clear; records of earlier versions (unsalted SHA-256) are deleted on open.
        instance: The instance CRN the key may use.
        token_lifetime: Access-token lifetime in seconds.
        workers: Simulation worker processes (0 runs jobs in a thread of this process).
        max_queued_per_instance: Queued plus running jobs an instance may have; a submission
            beyond it is refused with 429 and ``Retry-After`` (0: no limit).
        max_execution_seconds: The longest any job may run, whatever its ``cost`` (the API's
            default cost, 10800 s, would let one job hold a worker for three hours). A job
            that runs longer is cancelled with reason code 1305, like one that exceeds its own
            ``cost``.
        revoke_keys: Revoke every stored key (of every instance) before storing ``api_key``.
        max_auth_failures: Failed API-key attempts per client address within
            ``auth_failure_window`` seconds after which the client is answered 429 with
            ``Retry-After`` until the oldest failure leaves the window (0: no throttling).
        auth_failure_window: The throttling window, in seconds.

    Scheduling: every worker takes the next job round robin across the instances that have
    queued jobs (the instance served least recently goes first; within an instance, jobs run in
    submission order), so one instance's backlog delays another instance's job by at most one
    job per worker.

    Storage failures (a full disk, an I/O error) fail the request that hit them with 507 or 503
    and a ``Retry-After``; the dispatcher backs off and retries, so queued jobs start once writes
    succeed again. The final state of a job that could not be written is kept in memory and
    written when the storage recovers (new jobs wait meanwhile); a result that still cannot be
    written after :attr:`result_write_patience` seconds is dropped and the job fails with a
    reason that says so. If the service stops first, the job is marked failed on the next start.
    """

    #: Seconds a finished job's result may wait for the storage before the job is failed instead.
    result_write_patience: float = 60.0

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
        max_queued_per_instance: int = 100,
        max_execution_seconds: float = 600.0,
        revoke_keys: bool = False,
        max_auth_failures: int = 10,
        auth_failure_window: float = 60.0,
    ) -> None:
        if max_execution_seconds <= 0:
            raise ValueError("max_execution_seconds must be positive")
        self.store = Store(db, error=StorageUnavailableError)
        if devices is None:
            devices = load_snapshot_dir(backends_dir) if backends_dir else default_catalog()
        self.devices = {d.name: d for d in devices}
        self.api_key = api_key or f"local-{secrets.token_urlsafe(24)}"
        if len(self.api_key) > MAX_API_KEY_LENGTH:
            raise ValueError(f"an API key has at most {MAX_API_KEY_LENGTH} characters")
        self.instance = instance or (
            "crn:v1:bluemix:public:quantum-computing:us-east:a/local0000000000000000000000000000"
            f":{uuid.uuid4()}::"
        )
        self.max_queued_per_instance = max(0, int(max_queued_per_instance))
        self.max_execution_seconds = float(max_execution_seconds)
        self._kdf_slots = threading.BoundedSemaphore(_KDF_CONCURRENCY)
        self._key_cache_secret = secrets.token_bytes(32)
        self._key_cache: dict[bytes, str] = {}
        self._auth_throttle = _FailureThrottle(int(max_auth_failures), float(auth_failure_window))
        dropped = self.store.drop_unsalted_keys()
        if dropped:
            logger.warning("Deleted %d API key(s) stored unsalted by an earlier version", dropped)
        self._own_key_record = hash_key(self.api_key)
        replaced = self.store.replace_api_keys(self._own_key_record, [self.instance], "local-user")
        if replaced:
            logger.info("The API key given at start replaced %d stored key(s)", replaced)
        if revoke_keys:
            revoked = self.store.revoke_api_keys(keep=[self._own_key_record])
            logger.warning("Revoked %d stored API key(s)", revoked)
        self.token_lifetime = int(token_lifetime)
        self._secret = secrets.token_bytes(32)
        self._targets: dict[tuple[str, str | None], Target] = {}
        self._lock = threading.Lock()
        self._remember_key(self.api_key.encode("utf-8"), self._own_key_record)
        self._submissions = _SubmissionGate()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[str, cf.Future[tuple[str, dict[str, Any]]]] = {}
        self._run_info: dict[str, _RunInfo] = {}
        # Final states not yet written (the storage failed), and the dispatcher's fairness
        # bookkeeping: when each instance last had a job started.
        self._unwritten: dict[str, _Completion] = {}
        self._last_served: dict[str, int] = {}
        self._dispatches = itertools.count()
        self._storage_failing = False
        self._workers = max(0, int(workers))
        #: HTTP requests served, by method (for load and polling measurements).
        self.requests: collections.Counter[str] = collections.Counter()
        #: HTTP responses sent, by status class ("2xx", "4xx", "5xx").
        self.responses: collections.Counter[str] = collections.Counter()
        self._pool: WorkerPool | cf.ThreadPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None
        self._recovery_pending = True
        try:
            self._recover()
        except StorageUnavailableError:  # the dispatcher retries before it starts any job
            logger.warning("Cannot mark interrupted jobs as failed yet: the storage failed")

    # Lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._workers:
            # Workers import the simulator before their first job, so that a job's execution
            # time (see _reap) never includes the start of a worker process.
            self._pool = WorkerPool(self._workers, preload=(execute_job.__module__,))
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

    def issue_token(self, api_key: str, client: str | None = None) -> dict[str, Any]:
        """Exchange an API key for an access token (IAM's ``/identity/token``).

        ``client`` is the caller's address, for throttling failed attempts: a client with too
        many recent failures is refused with 429 and ``Retry-After`` before its key is even
        checked (callers that pass no address share one allowance).
        """
        who = client or "unknown"
        wait = self._auth_throttle.retry_after(who)
        if wait:
            raise RetryLaterError(
                429,
                "too_many_requests",
                f"Too many failed API key attempts from this client; retry in {wait} s.",
                retry_after=wait,
            )
        record = self._find_key(api_key or "")
        if record is None:
            self._auth_throttle.failure(who)
            raise ServiceError(400, "BXNIM0415E", "Provided API key could not be found.")
        now = int(time.time())
        claims = {
            "iat": now,
            "exp": now + self.token_lifetime,
            "sub": record[1],
            "instances": record[0],
            "jti": uuid.uuid4().hex,
        }
        return {
            "access_token": sign_hs256(claims, self._secret),
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
        # Malformed, non-ASCII, forged or undecodable tokens all look alike to the caller.
        claims = verify_hs256(authorization[7:].strip(), self._secret)
        if claims is None:
            raise ServiceError(401, "unauthorized", "Invalid bearer token.")
        if int(claims.get("exp", 0)) <= time.time():
            raise ServiceError(401, "token_expired", "The bearer token has expired.")
        if not service_crn:
            raise ServiceError(400, "missing_crn", "The Service-CRN header is required.")
        instances = claims.get("instances")
        if not isinstance(instances, list) or service_crn not in instances:
            raise ServiceError(403, "forbidden", "The token may not use this instance.")
        return service_crn

    def add_api_key(self, api_key: str, instances: list[str], user_id: str = "local-user") -> None:
        """Let ``api_key`` use ``instances`` (stored as a salted scrypt record; adding a known
        key again replaces its instances). Jobs and sessions stay private to the instance they
        were created in."""
        if not api_key or not instances:
            raise ValueError("an API key and at least one instance are required")
        if len(api_key) > MAX_API_KEY_LENGTH:
            raise ValueError(f"an API key has at most {MAX_API_KEY_LENGTH} characters")
        secret = api_key.encode("utf-8")
        record = self._match_key(secret) or hash_key(api_key)
        self.store.add_api_key(record, instances, user_id)
        self._remember_key(secret, record)

    def revoke_api_keys(self, *, keep_own: bool = True) -> int:
        """Revoke every stored API key, except (with ``keep_own``) the one this service was
        started with; returns how many were revoked.

        Access tokens issued before are invalidated too (the signing secret changes): clients
        with a valid key get a new token on their next request, the others get 401.
        """
        keep = [self._own_key_record] if keep_own else []
        revoked = self.store.revoke_api_keys(keep=keep)
        with self._lock:
            self._key_cache.clear()
        self._secret = secrets.token_bytes(32)
        logger.warning("Revoked %d API key(s)", revoked)
        return revoked

    def _remember_key(self, secret: bytes, record: str) -> None:
        tag = hmac.new(self._key_cache_secret, secret, "sha256").digest()
        with self._lock:
            if len(self._key_cache) >= _KEY_CACHE_SIZE:
                self._key_cache.clear()
            self._key_cache[tag] = record

    def _match_key(self, secret: bytes) -> str | None:
        """The stored record ``secret`` matches: one key derivation per stored key (the table
        holds a handful), at most ``_KDF_CONCURRENCY`` derivations at a time."""
        with self._kdf_slots:
            for record, _instances, _user in self.store.api_keys():
                if verify_key(secret, record):
                    return record
        return None

    def _find_key(self, api_key: str) -> tuple[list[str], str] | None:
        """``(instances, user_id)`` of a stored API key, or None."""
        if not api_key or len(api_key) > MAX_API_KEY_LENGTH:
            return None
        try:
            secret = api_key.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: not a key anyone could have stored
            return None
        tag = hmac.new(self._key_cache_secret, secret, "sha256").digest()
        with self._lock:
            cached = self._key_cache.get(tag)
        if cached is not None:
            entry = self.store.api_key(cached)
            if entry is not None:  # still stored (not revoked or replaced)
                return entry
            with self._lock:
                self._key_cache.pop(tag, None)
        record = self._match_key(secret)
        if record is None:
            return None
        self._remember_key(secret, record)
        return self.store.api_key(record)

    # Admission --------------------------------------------------------------------------------

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

    # Backends ---------------------------------------------------------------------------------

    def device(self, name: str) -> Device:
        device = self.devices.get(name)
        if device is None:
            raise ServiceError(404, "backend_not_found", f"Backend {name!r} not found.")
        return device

    def target(self, device: Device, calibration_id: str | None) -> Target:
        """The Target of ``device`` at a calibration (its latest without an id).

        Raises a 404 :class:`ServiceError` for an unknown calibration id. Targets are cached by
        resolved calibration, at most ``_MAX_CACHED_TARGETS`` of them (least recently used
        dropped first), so arbitrary ids cannot grow the cache.
        """
        cal = (
            device.calibration(calibration_id=calibration_id)
            if calibration_id
            else device.calibration()
        )
        if calibration_id and cal is None:
            raise ServiceError(
                404, "calibration_not_found", f"Calibration {calibration_id!r} not found."
            )
        key = (device.name, cal.calibration_id if cal else None)
        with self._lock:
            target = self._targets.pop(key, None)
            if target is not None:
                self._targets[key] = target  # dicts keep order: last is most recently used
        if target is None:
            target = build_target(device.configuration, cal.properties if cal else None)
            with self._lock:
                self._targets[key] = target
                while len(self._targets) > _MAX_CACHED_TARGETS:
                    del self._targets[next(iter(self._targets))]
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
        if device.simulator and not calibration_id:
            return {}
        before = None
        if updated_before:
            try:
                before = parse_iso(updated_before)
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

    @_idempotent_on_submission_tag  # a repeated submission returns the first job
    def create_job(self, instance: str, body: Any, caller: str | None) -> dict[str, Any]:
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
        device = self.device(backend_name)
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
        self._validate_params(program, params, device, calibration_id)
        cost = body.get("cost", MAX_COST_SECONDS)
        if isinstance(cost, bool) or not isinstance(cost, int) or not 0 <= cost <= MAX_COST_SECONDS:
            raise ServiceError(
                400, "invalid_request", f"'cost' must be an integer in 0..{MAX_COST_SECONDS}."
            )
        tags = body.get("tags") or []
        _check_tags(tags)
        session_id = body.get("session_id")
        if session_id is not None:
            session = self.store.session(session_id, instance)
            if session is None:
                raise ServiceError(404, "session_not_found", f"Session {session_id!r} not found.")
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
        job_id = _new_job_id(self.store, instance, body)  # found again by a repeated submission
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
        config = device.configuration
        max_shots = config.get("max_shots") or DEFAULT_MAX_SHOTS
        try:
            validate_options(program, options, max_shots=max_shots)
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
        target = self.target(device, calibration_id)
        for i, pub in enumerate(decoded):
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
            "tags": [
                t if is_utf8(t) else t.encode("utf-8", "backslashreplace").decode("utf-8")
                for t in json.loads(row["tags"])
            ],
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
        """Cancel a queued or running job. A storage failure of the state change is raised
        (the request fails, nothing changed); once it is written, the rest cannot fail it."""
        if self.store.update_job(
            job_id,
            only_if_status=JOB_PENDING_STATES,
            status=JOB_CANCELLED,
            reason=reason,
            reason_code=code,
            finished=utcnow_iso(),
        ):
            future = self._running.get(job_id)
            if future is not None and not future.cancel() and isinstance(self._pool, WorkerPool):
                # Running: stop the simulation so the worker is free for the next job.
                self._pool.kill_running(future)
            _best_effort(self.store.append_log, job_id, f"{utcnow_iso()} {reason}")

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
            states = JOB_PENDING_STATES if str(pending).lower() == "true" else JOB_FINAL_STATES
            where.append(f"status IN ({', '.join('?' * len(states))})")
            args.extend(states)
        for key, column in (
            ("program", "program"),
            ("backend", "backend"),
            ("session_id", "session_id"),
        ):
            if query.get(key):
                if not isinstance(query[key], str) or not is_utf8(query[key]):
                    raise ServiceError(400, "invalid_request", f"{key} must be a valid string")
                where.append(f"{column}=?")
                args.append(query[key])
        for key, op in (("created_after", ">="), ("created_before", "<=")):
            if query.get(key):
                try:
                    when = parse_iso(str(query[key]))
                except ValueError:
                    raise ServiceError(400, "invalid_request", f"{key} is not a datetime") from None
                assert when is not None
                try:
                    bound = to_utc_iso(when)
                except OverflowError:
                    # In UTC it lies before year 1 or after 9999: beyond every stored job.
                    bound = _CREATED_MIN if when.year < 5000 else _CREATED_MAX
                where.append(f"created {op} ?")
                args.append(bound)
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
        if mode not in SESSION_MODES:
            raise ServiceError(400, "invalid_request", "mode must be 'dedicated' or 'batch'.")
        backend = body.get("backend") or body.get("backend_name")
        if backend is not None:
            device = self.device(str(backend))
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
        return self.session_document(self.store.session(session_id) or {})

    def session_document(self, row: Mapping[str, Any]) -> dict[str, Any]:
        row = self._refresh_session(dict(row))
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

    def _refresh_session(self, row: dict[str, Any]) -> dict[str, Any]:
        """Apply TTL expiry and close-when-empty rules."""
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
            self._set_session_state(row, SESSION_CLOSED, accepting=0, closed=utcnow_iso())
        elif row["state"] == SESSION_ACTIVE and not pending and row["last_job_completed"]:
            last = parse_iso(row["last_job_completed"]) or now
            if (now - last).total_seconds() > row["interactive_ttl"]:
                self._set_session_state(row, SESSION_INACTIVE)
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
        for job_id in self.store.session_jobs(session_id, (JOB_QUEUED,)):
            self._cancel(job_id, "The session was cancelled.")
        if row["state"] != SESSION_CLOSED:
            self._set_session_state(
                {**row, "accepting": 0}, SESSION_CLOSED, accepting=0, closed=utcnow_iso()
            )

    # Execution --------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """The dispatcher thread: start queued jobs fairly, collect finished ones.

        It never dies: a failing step (the storage refusing writes, most likely) is logged and
        retried after a backoff of 50 ms doubling up to 2 s, and the loop goes on.
        """
        backoff = 0.0
        while not self._stopping.is_set():
            try:
                started = self._dispatch_step()
            except StorageUnavailableError as exc:
                if not self._storage_failing:
                    logger.warning("storage failed (%s); the dispatcher retries", exc.message)
                self._storage_failing = True
            except Exception:  # never let the queue die; the failure is logged
                logger.exception("dispatcher step failed; retrying")
            else:
                if not self._unwritten:
                    if self._storage_failing:
                        logger.warning("storage recovered; dispatching resumes")
                    self._storage_failing = False
                    backoff = 0.0
                    if not started:
                        self._wakeup.wait(0.02 if self._running else 0.5)
                        self._wakeup.clear()
                    continue
            backoff = min(_DISPATCH_MAX_BACKOFF, max(_DISPATCH_MIN_BACKOFF, 2 * backoff))
            self._stopping.wait(backoff)

    @property
    def pending_writes(self) -> list[str]:
        """Jobs that finished but whose final state awaits the storage (it failed); they show
        as Running until it is written."""
        return list(self._unwritten)

    def _dispatch_step(self) -> bool:
        """One round: recover, write pending final states, collect finished jobs, then start
        jobs while workers are free. True if a job was started."""
        if self._recovery_pending:
            self._recover()
        self._write_unwritten()
        self._reap()
        if self._unwritten:
            # Finished jobs wait for the storage: start nothing new until they are written, so
            # the results held in memory stay bounded by the number of workers.
            return False
        started = False
        capacity = max(1, self._workers) - len(self._running)
        while capacity > 0 and not self._stopping.is_set():
            row = self._next_job()
            if row is None:
                break
            self._start(row)
            capacity -= 1
            started = True
        return started

    def _recover(self) -> None:
        """Fail the jobs a previous process left Running (see :meth:`__init__`)."""
        recovered = self.store.recover_running(
            "The service stopped while this job was running; submit it again."
        )
        self._recovery_pending = False
        if recovered:
            logger.warning("Marked %d interrupted job(s) as failed", len(recovered))

    def _next_job(self) -> dict[str, Any] | None:
        """The next job to run: the oldest queued job of the instance served least recently
        (instances never served first, by the age of their oldest job)."""
        heads = self.store.queue_heads(exclude=self._running)
        if not heads:
            return None
        if len(self._last_served) > 4 * len(heads) + 1024:
            # Forget instances with nothing queued: the table stays bounded by the active ones.
            queued = {row["instance"] for row in heads}
            self._last_served = {k: v for k, v in self._last_served.items() if k in queued}
        return min(heads, key=lambda row: (self._last_served.get(row["instance"], -1), row["seq"]))

    def _start(self, row: Mapping[str, Any]) -> None:
        job_id = row["id"]
        # A storage failure here leaves the job Queued: the dispatcher backs off and retries.
        if not self.store.update_job(
            job_id, only_if_status=(JOB_QUEUED,), status=JOB_RUNNING, running=utcnow_iso()
        ):
            return
        self._last_served[row["instance"]] = next(self._dispatches)
        _best_effort(self.store.append_log, job_id, f"{utcnow_iso()} job started")
        if row["session_id"]:
            _best_effort(self._session_job_started, row["session_id"])
        try:
            future = self._submit(row)
        except Exception as exc:  # a job that cannot start fails; the queue goes on
            logger.exception("cannot start job %s", job_id)
            reason = f"The job could not be started: {type(exc).__name__}: {exc}"
            self._finish(
                job_id,
                {"status": JOB_FAILED, "reason": reason, "reason_code": REASON_JOB_ERROR},
                f"job failed: {reason}",
                row["session_id"],
            )
            return
        cost = int(row["cost"] or MAX_COST_SECONDS)
        if cost <= self.max_execution_seconds:
            limit, reason = float(max(1, cost)), "Job exceeded its maximum execution time."
        else:
            limit = self.max_execution_seconds
            reason = (
                f"Job exceeded the service's maximum execution time per job "
                f"({self.max_execution_seconds:g} s)."
            )
        self._run_info[job_id] = _RunInfo(limit, reason, row["session_id"])
        self._running[job_id] = future
        future.add_done_callback(lambda _f: self._wakeup.set())

    def _submit(self, row: Mapping[str, Any]) -> cf.Future[tuple[str, dict[str, Any]]]:
        """Hand a job to the worker pool."""
        device = self.devices[row["backend"]]
        cal = None
        if not device.simulator:
            cal = (
                device.calibration(calibration_id=row["calibration_id"])
                if row["calibration_id"]
                else device.calibration()
            )
        assert self._pool is not None
        future: cf.Future[tuple[str, dict[str, Any]]] = self._pool.submit(
            execute_job,
            row["program"],
            json.loads(row["params"]),
            device.configuration,
            cal.properties if cal else None,
            f"{device.name}/{cal.calibration_id}" if cal else None,
        )
        return future

    def _session_job_started(self, session_id: str) -> None:
        session = self.store.session(session_id)
        if session is None:
            return
        now = utcnow_iso()
        if session["state"] in (SESSION_OPEN, SESSION_INACTIVE):
            self._set_session_state(session, SESSION_ACTIVE, activated=session["activated"] or now)
        self.store.update_session(session_id, last_job_started=now)

    def _session_job_finished(self, session_id: str, finished: str) -> None:
        self.store.update_session(session_id, last_job_completed=finished)
        session = self.store.session(session_id)
        if session is not None:
            self._refresh_session(session)

    def _reap(self) -> None:
        for job_id, future in list(self._running.items()):
            info = self._run_info.get(job_id)
            if not future.done():
                if info is not None and info.expired(future):
                    self._running.pop(job_id, None)
                    self._run_info.pop(job_id, None)
                    # Free the worker first; the state is written (or kept until it can be).
                    if not future.cancel() and isinstance(self._pool, WorkerPool):
                        self._pool.kill_running(future)
                    self._finish(
                        job_id,
                        {
                            "status": JOB_CANCELLED,
                            "reason": info.limit_reason,
                            "reason_code": REASON_MAX_EXECUTION_TIME,
                        },
                        info.limit_reason,
                        info.session_id,
                    )
                continue
            self._running.pop(job_id, None)
            self._run_info.pop(job_id, None)
            try:
                text, metrics = future.result()
            except cf.CancelledError:
                continue  # cancelled before it ran; the cancel wrote the state
            except Exception as exc:  # the job failed: record why
                message = (
                    str(exc)
                    if isinstance(exc, JobExecutionError)
                    else f"{type(exc).__name__}: {exc}"
                )
                fields: dict[str, Any] = {
                    "status": JOB_FAILED,
                    "reason": message[:2000],
                    "reason_code": REASON_JOB_ERROR,
                    "result": f"Traceback (most recent call last):\n{message}",
                }
                log = f"job failed: {message}"
            else:
                fields = {
                    "status": JOB_COMPLETED,
                    "result": text,
                    "exec_ns": metrics.get("circuits_execution_time_ns"),
                }
                log = "job completed"
            self._finish(job_id, fields, log, info.session_id if info else None)

    def _finish(
        self, job_id: str, fields: dict[str, Any], log: str, session_id: str | None
    ) -> None:
        """Record a running job's final state; if the storage refuses, keep it for
        :meth:`_write_unwritten` to retry."""
        completion = _Completion(job_id, {**fields, "finished": utcnow_iso()}, log, session_id)
        if not self._write_completion(completion):
            self._unwritten[job_id] = completion

    def _write_unwritten(self) -> None:
        for job_id, completion in list(self._unwritten.items()):
            if self._write_completion(completion):
                del self._unwritten[job_id]

    def _write_completion(self, completion: _Completion) -> bool:
        """Write a final state (only over Running: a cancel that won stays); False if the
        storage refused, after degrading a result that waited too long to a failure."""
        try:
            updated = self.store.update_job(
                completion.job_id, only_if_status=(JOB_RUNNING,), **completion.fields
            )
        except StorageUnavailableError as exc:
            now = time.monotonic()
            if completion.failing_since is None:
                completion.failing_since = now
                logger.warning(
                    "cannot record the final state of job %s yet: %s", completion.job_id, exc
                )
            elif (
                completion.fields.get("status") == JOB_COMPLETED
                and now - completion.failing_since > self.result_write_patience
            ):
                reason = (
                    "The job completed but its result could not be stored "
                    f"({exc.message.split(';')[0]}); submit it again."
                )
                completion.fields = {
                    "status": JOB_FAILED,
                    "reason": reason,
                    "reason_code": REASON_JOB_ERROR,
                    "finished": completion.fields["finished"],
                }
                completion.log = f"job failed: {reason}"
            return False
        if updated:
            _best_effort(
                self.store.append_log,
                completion.job_id,
                f"{completion.fields['finished']} {completion.log}",
            )
            if completion.session_id:
                _best_effort(
                    self._session_job_finished,
                    completion.session_id,
                    completion.fields["finished"],
                )
        return True

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
        or len(tags) > MAX_TAGS
        or not all(isinstance(t, str) and 0 < len(t) <= MAX_TAG_LENGTH and is_utf8(t) for t in tags)
    ):
        raise ServiceError(
            400,
            "invalid_request",
            f"tags must be a list of at most {MAX_TAGS} valid strings of 1-{MAX_TAG_LENGTH} "
            "characters.",
        )


def _qiskit_version() -> str:
    import qiskit

    return str(qiskit.__version__)
