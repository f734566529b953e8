"""The local service: one facade over its parts, independent of the web framework.

HTTP lives in :mod:`.app`; :class:`LocalService` composes

- :mod:`.auth`: API keys (salted scrypt records), access tokens, throttling of failed keys;
- :mod:`.catalog`: the devices, their Targets and their documents;
- :mod:`.intake`: job admission, validation, documents and listing (with :mod:`.dedupe`, the
  submission gate that makes job creation idempotent);
- :mod:`.sessions`: the session state machine;
- :mod:`.scheduler`: the dispatcher, workers, execution-time limits, held results and the
  periodic sweep that persists the sessions' time-driven transitions;

and knows nothing about requests or responses except :class:`ServiceError`, which carries the
status, code and message of an error body.
"""

from __future__ import annotations

import collections
import logging
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qiskit.transpiler import Target

from .auth import MAX_API_KEY_LENGTH, KeyRing, hash_key, verify_key
from .catalog import Catalog
from .cloud import CloudDirectory
from .devices import Device, default_catalog, load_snapshot_dir
from .emulator.methods import default_job_memory
from .errors import RetryLaterError, ServiceError, StorageUnavailableError
from .ids import new_id
from .instances import Instances, InstanceSpec, instance_crn
from .intake import TERMINAL, JobIntake
from .scheduler import Scheduler, check_delay
from .sessions import Sessions
from .simulation import EmulatorSettings
from .store import Store, is_postgres_url

__all__ = [
    "MAX_API_KEY_LENGTH",
    "TERMINAL",
    "LocalService",
    "RetryLaterError",
    "ServiceError",
    "StorageUnavailableError",
    "hash_key",
    "new_id",
    "verify_key",
]

logger = logging.getLogger(__name__)


def _open_store(db: str | Path) -> Store:
    """The store of ``db``: a PostgreSQL URL's (psycopg is imported for it only) or a SQLite
    file's."""
    if is_postgres_url(db):
        from .store_postgres import PostgresStore

        return PostgresStore(str(db), error=StorageUnavailableError)
    return Store(db, error=StorageUnavailableError)


class LocalService:
    """Everything the HTTP layer needs, independent of the web framework.

    Args:
        db: SQLite path (``":memory:"`` for a throwaway service), or the URL of a PostgreSQL
            database (``postgresql://user@host:port/dbname``, needs psycopg) that several
            service processes share: one queue, each job run by one of them
            (:mod:`.store_postgres`; docs/local_service.md, "Scaling out: PostgreSQL").
        devices: Devices to serve (the synthetic catalog by default).
        backends_dir: A directory of backend snapshots to serve instead of the synthetic
            catalog (when ``devices`` is not given).
        api_key: The API key clients exchange for tokens (random if not given). It *replaces*
            every key previously stored for ``instance`` in ``db``: after a restart with a new
            key, the old one is refused. Keys are stored as salted scrypt records, never in
            clear; records of earlier versions (unsalted SHA-256) are deleted on open.
        instance: The instance CRN the key may use (with ``instances``: leave it out, the first
            configured instance is the key's first).
        instances: The instances to serve (:class:`~.instances.InstanceSpec`: CRN, name, plan,
            backends, usage limit, tags); the API key may use all of them. Default: one
            instance (``instance``) on the Open plan with every backend.
        mock_backends: Also serve every device's dry-run twin (``mock_*``), listed with
            ``include_mocks`` only.
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
        usage_limit_seconds: The usage limit of ``instance``: the execution time its jobs may
            use per usage period (the calendar month, UTC), in seconds; ``None`` (default):
            unlimited. ``GET /v1/instances/usage`` reports it, and once the instance's jobs
            have used it, new jobs are refused with 409 (:meth:`set_usage_limit` sets it for
            any instance).
        queue_delay: Seconds a job stays Queued at least before it may start (default 0).
        min_job_seconds: Seconds a job stays Running at least: its result is held until then
            (default 0). With either, code can see Queued and Running, time out waiting and
            cancel a running job; the dispatcher is never blocked by them.
        emulate_static_zz: Emulate the static ZZ between coupled qubits that the calibration
            states (``zz_<a>_<b>`` entries; the synthetic devices carry seeded values). False:
            no coherent idle error (docs/local_service.md, "Device noise").
        emulate_idle_noise: Apply relaxation (and ZZ) to idle windows and delays. False:
            only gates and readout are noisy, as in Aer's usual device noise models.
        max_job_memory_bytes: Bytes one job's simulation may hold. A job whose circuit would
            need more (from the qubits it uses and the simulation method) is refused at
            submission with a 400 naming the width, the method and the budget. Default: half
            the machine's memory shared by the ``workers``.
        dask_scheduler: The address of a Dask scheduler (``tcp://host:8786``): every job's
            simulation runs on its cluster instead of on ``workers`` local processes (needs
            the ``distributed`` package; docs/local_service.md, "Scaling out: Dask").

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

    def __init__(
        self,
        *,
        db: str | Path = ":memory:",
        devices: list[Device] | None = None,
        backends_dir: str | Path | None = None,
        api_key: str | None = None,
        instance: str | None = None,
        instances: Sequence[InstanceSpec] | None = None,
        mock_backends: bool = True,
        token_lifetime: int = 3600,
        workers: int = 1,
        max_queued_per_instance: int = 100,
        max_execution_seconds: float = 600.0,
        revoke_keys: bool = False,
        max_auth_failures: int = 10,
        auth_failure_window: float = 60.0,
        usage_limit_seconds: float | None = None,
        queue_delay: float = 0.0,
        min_job_seconds: float = 0.0,
        emulate_static_zz: bool = True,
        emulate_idle_noise: bool = True,
        max_job_memory_bytes: int | None = None,
        dask_scheduler: str | None = None,
    ) -> None:
        if max_execution_seconds <= 0:
            raise ValueError("max_execution_seconds must be positive")
        # Checked before anything is opened: a bad value must not leave a store behind.
        check_delay("queue_delay", queue_delay)
        check_delay("min_job_seconds", min_job_seconds)
        if usage_limit_seconds is not None:
            check_delay("usage_limit_seconds", usage_limit_seconds)
        if max_job_memory_bytes is not None and max_job_memory_bytes <= 0:
            raise ValueError("max_job_memory_bytes must be positive")
        job_memory = max_job_memory_bytes or default_job_memory(workers)
        self.store = _open_store(db)
        if devices is None:
            devices = load_snapshot_dir(backends_dir) if backends_dir else default_catalog()
        self.api_key = api_key or f"local-{secrets.token_urlsafe(24)}"
        if len(self.api_key) > MAX_API_KEY_LENGTH:
            raise ValueError(f"an API key has at most {MAX_API_KEY_LENGTH} characters")
        if instances and instance:
            raise ValueError("give instance= or instances=, not both")
        self.instance = instances[0].crn if instances else instance or instance_crn()
        #: The instances served (the API key may use every one of them).
        self.instances = Instances(instances) if instances else Instances.single(self.instance)
        self._catalog = Catalog(devices, self.store, self.instances, mocks=mock_backends)
        #: The devices served, by name.
        self.devices = self._catalog.devices
        self._keys = KeyRing(
            self.store,
            api_key=self.api_key,
            instance=self.instances.crns,
            token_lifetime=token_lifetime,
            revoke_keys=revoke_keys,
            max_auth_failures=max_auth_failures,
            auth_failure_window=auth_failure_window,
        )
        # The parts meet through callables, so none of them imports another's class: intake
        # and sessions cancel jobs through the scheduler, which reports session jobs back.
        self._sessions = Sessions(self.store, self._catalog.device, self._cancel)
        self._intake = JobIntake(
            self.store,
            self._catalog,
            cancel=self._cancel,
            wake=self._wake,
            max_queued_per_instance=max_queued_per_instance,
            max_job_memory_bytes=job_memory,
            view_session=self._sessions.view,
            keep_private_inputs=self._keep_private_inputs,
            drop_private_inputs=self._drop_private_inputs,
        )
        self._intake.set_usage_limit(self.instance, usage_limit_seconds)
        for spec in self.instances:
            if spec.usage_limit_seconds is not None:
                self._intake.set_usage_limit(spec.crn, spec.usage_limit_seconds)
        #: IBM Cloud Global Search and Global Catalog answers for the instances.
        self.cloud = CloudDirectory(self.instances, self._catalog, self._keys.token_instances)
        #: HTTP requests served, by method (for load and polling measurements).
        self.requests: collections.Counter[str] = collections.Counter()
        #: HTTP responses sent, by status class ("2xx", "4xx", "5xx").
        self.responses: collections.Counter[str] = collections.Counter()
        # Last: it marks the jobs a previous process left Running as failed.
        self._scheduler = Scheduler(
            self.store,
            self.devices,
            workers=workers,
            max_execution_seconds=max_execution_seconds,
            on_session_job_started=self._sessions.job_started,
            on_session_job_finished=self._sessions.job_finished,
            sweep=self._sessions.sweep,
            queue_delay=queue_delay,
            min_job_seconds=min_job_seconds,
            emulation=EmulatorSettings(
                static_zz=emulate_static_zz,
                idle_noise=emulate_idle_noise,
                max_job_memory_bytes=job_memory,
            ),
            dask_scheduler=dask_scheduler,
        )

    def _cancel(self, job_id: str, reason: str) -> None:
        self._scheduler.cancel(job_id, reason)

    def _wake(self) -> None:
        self._scheduler.wake()

    def _keep_private_inputs(self, job_id: str, params: str) -> None:
        self._scheduler.keep_private_inputs(job_id, params)

    def _drop_private_inputs(self, job_id: str) -> None:
        self._scheduler.drop_private_inputs(job_id)

    # Settings and state -----------------------------------------------------------------------

    @property
    def token_lifetime(self) -> int:
        """Access-token lifetime in seconds."""
        return self._keys.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: int) -> None:
        self._keys.token_lifetime = int(value)

    @property
    def max_queued_per_instance(self) -> int:
        """Queued plus running jobs an instance may have (0: no limit)."""
        return self._intake.max_queued_per_instance

    @max_queued_per_instance.setter
    def max_queued_per_instance(self, value: int) -> None:
        self._intake.max_queued_per_instance = max(0, int(value))

    @property
    def max_execution_seconds(self) -> float:
        """The longest any job may run, in seconds, whatever its ``cost``."""
        return self._scheduler.max_execution_seconds

    @max_execution_seconds.setter
    def max_execution_seconds(self, value: float) -> None:
        self._scheduler.max_execution_seconds = float(value)

    @property
    def queue_delay(self) -> float:
        """Seconds a job stays Queued at least before it may start (0: no delay)."""
        return self._scheduler.queue_delay

    @queue_delay.setter
    def queue_delay(self, value: float) -> None:
        self._scheduler.queue_delay = check_delay("queue_delay", value)
        self._scheduler.wake()  # queued jobs may be due now

    @property
    def min_job_seconds(self) -> float:
        """Seconds a job stays Running at least (0: it ends when its simulation does)."""
        return self._scheduler.min_job_seconds

    @min_job_seconds.setter
    def min_job_seconds(self, value: float) -> None:
        self._scheduler.min_job_seconds = check_delay("min_job_seconds", value)

    def set_usage_limit(self, instance: str, seconds: float | None) -> None:
        """Set the usage limit of ``instance``: the execution time its jobs may use per usage
        period (the calendar month, UTC), in seconds; ``None`` removes it. New jobs of an
        instance that has used its limit are refused with 409."""
        self._intake.set_usage_limit(instance, seconds)

    def usage_limit(self, instance: str) -> float | None:
        """The usage limit of ``instance`` in seconds per usage period (``None``: unlimited)."""
        return self._intake.usage_limit(instance)

    @property
    def result_write_patience(self) -> float:
        """Seconds a finished job's result may wait for the storage before the job is failed
        instead (60 by default)."""
        return self._scheduler.result_write_patience

    @result_write_patience.setter
    def result_write_patience(self, value: float) -> None:
        self._scheduler.result_write_patience = float(value)

    @property
    def session_sweep_interval(self) -> float:
        """Seconds between two sweeps that persist the sessions' time-driven transitions (1 by
        default; setting it restarts the count, ``math.inf`` stops sweeping). A session's
        queued jobs may still start up to this long after it expired."""
        return self._scheduler.sweep_interval

    @session_sweep_interval.setter
    def session_sweep_interval(self, value: float) -> None:
        self._scheduler.sweep_interval = float(value)

    @property
    def pending_writes(self) -> list[str]:
        """Jobs that finished but whose final state awaits the storage (it failed); they show
        as Running until it is written."""
        return self._scheduler.pending_writes

    @property
    def _targets(self) -> dict[tuple[str, str | None], Target]:
        # Kept for tests that check the Target cache stays bounded.
        return self._catalog.targets

    # Lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and the dispatcher."""
        self._scheduler.start()

    def stop(self) -> None:
        """Stop the dispatcher and the workers, and close the store."""
        self._scheduler.stop()
        self._intake.close()
        self.store.close()

    # Auth -------------------------------------------------------------------------------------

    def issue_token(self, api_key: str, client: str | None = None) -> dict[str, Any]:
        """Exchange an API key for an access token (IAM's ``/identity/token``).

        ``client`` is the caller's address, for throttling failed attempts: a client with too
        many recent failures is refused with 429 and ``Retry-After`` before its key is even
        checked (callers that pass no address share one allowance).
        """
        return self._keys.issue_token(api_key, client)

    def authenticate(self, authorization: str | None, service_crn: str | None) -> str:
        """Check a request's credentials; return the instance it may act on."""
        return self._keys.authenticate(authorization, service_crn)

    def add_api_key(self, api_key: str, instances: list[str], user_id: str = "local-user") -> None:
        """Let ``api_key`` use ``instances`` (stored as a salted scrypt record; adding a known
        key again replaces its instances). Jobs and sessions stay private to the instance they
        were created in."""
        self._keys.add_api_key(api_key, instances, user_id)

    def revoke_api_keys(self, *, keep_own: bool = True) -> int:
        """Revoke every stored API key, except (with ``keep_own``) the one this service was
        started with; returns how many were revoked.

        Access tokens issued before are invalidated too (the signing secret changes): clients
        with a valid key get a new token on their next request, the others get 401.
        """
        return self._keys.revoke_api_keys(keep_own=keep_own)

    # Backends ---------------------------------------------------------------------------------

    def device(self, name: str, instance: str | None = None) -> Device:
        """The device called ``name`` (404 if there is none, or if ``instance`` is given and
        may not use it)."""
        return self._catalog.device(name, instance)

    def list_devices(self, instance: str, *, include_mocks: bool = False) -> list[Device]:
        """The devices ``instance`` may use (``GET /v1/backends``), mock twins only with
        ``include_mocks``."""
        return self._catalog.visible(instance, include_mocks=include_mocks)

    def target(self, device: Device, calibration_id: str | None) -> Target:
        """The Target of ``device`` at a calibration (its latest without an id); 404 for an
        unknown calibration id. Targets are cached, a bounded number of them."""
        return self._catalog.target(device, calibration_id)

    def device_entry(self, device: Device) -> dict[str, Any]:
        """The entry of ``device`` in ``GET /v1/backends``."""
        return self._catalog.device_entry(device)

    def device_status(self, device: Device) -> dict[str, Any]:
        """The status document of ``device``."""
        return self._catalog.device_status(device)

    def properties(
        self, device: Device, updated_before: str | None, calibration_id: str | None
    ) -> dict[str, Any]:
        """The properties document of ``device``."""
        return self._catalog.properties(device, updated_before, calibration_id)

    # Jobs -------------------------------------------------------------------------------------

    def check_queue_limit(self, instance: str) -> None:
        """Refuse a new job (429 with ``Retry-After``) when ``instance`` already has
        ``max_queued_per_instance`` queued or running jobs."""
        self._intake.check_queue_limit(instance)

    def create_job(self, instance: str, body: Any, caller: str | None) -> dict[str, Any]:
        """Validate and queue a job; a repeated submission (same submission tag) returns the
        first job."""
        return self._intake.create_job(instance, body, caller)

    def job_document(self, row: Mapping[str, Any], *, include_params: bool) -> dict[str, Any]:
        """The API document of a job row."""
        return self._intake.job_document(row, include_params=include_params)

    def get_job(self, instance: str, job_id: str) -> dict[str, Any]:
        """The row of a job of ``instance`` (404 if there is none)."""
        return self._intake.get_job(instance, job_id)

    def job_result(self, instance: str, job_id: str) -> tuple[str, str] | None:
        """``(text, status)`` of a job's result or a failed job's error text, None while there
        is none; a private job's result is answered once and deleted (404 afterwards)."""
        return self._intake.result(instance, job_id)

    def cancel_job(self, instance: str, job_id: str) -> None:
        """Cancel a queued or running job of ``instance`` (409 if it is final)."""
        self._intake.cancel_job(instance, job_id)

    def delete_job(self, instance: str, job_id: str) -> None:
        """Delete a final job of ``instance`` (400 if it is not final)."""
        self._intake.delete_job(instance, job_id)

    def list_jobs(self, instance: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """The jobs of ``instance`` matching ``query``'s filters, a page."""
        return self._intake.list_jobs(instance, query)

    def update_tags(self, instance: str, job_id: str, tags: Any) -> None:
        """Replace the tags of a job of ``instance``."""
        self._intake.update_tags(instance, job_id, tags)

    def metrics(self, instance: str, job_id: str) -> dict[str, Any]:
        """The metrics document of a job of ``instance``."""
        return self._intake.metrics(instance, job_id)

    def submissions_in_progress(self) -> int:
        """Job submissions (by client submission tag) being processed right now."""
        return self._intake.submissions.in_progress()

    def submissions_waited(self) -> int:
        """Repeated job submissions that waited for the first one with their tag to be answered."""
        return self._intake.submissions.waited()

    def usage(self, instance: str) -> dict[str, Any]:
        """The usage document of ``instance``."""
        return self._intake.usage(instance)

    # Sessions ---------------------------------------------------------------------------------

    def create_session(self, instance: str, body: Any) -> dict[str, Any]:
        """Create a session; return its document."""
        return self._sessions.create(instance, body)

    def session_document(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The API document of a session row as it stands now: the transitions due by now
        (TTL expiry, idle, close-when-empty) are reported, not written; the scheduler's sweep
        persists them."""
        return self._sessions.document(self._sessions.view(row))

    def sweep_sessions(self) -> int:
        """Persist the sessions' time-driven transitions due now (expiry, idle,
        close-when-empty), cancelling the queued jobs of sessions that closed; the number of
        sessions written. The dispatcher does this every :attr:`session_sweep_interval`
        seconds; reads only report them."""
        return self._sessions.sweep()

    def get_session(self, instance: str, session_id: str) -> dict[str, Any]:
        """The row of a session of ``instance`` (404 if there is none)."""
        return self._sessions.get(instance, session_id)

    def close_session(self, instance: str, session_id: str, accepting: Any) -> None:
        """Stop a session accepting jobs (only ``accepting_jobs=false`` is supported)."""
        self._sessions.close(instance, session_id, accepting)

    def cancel_session(self, instance: str, session_id: str) -> None:
        """Close a session now, cancelling its queued jobs."""
        self._sessions.cancel(instance, session_id)
