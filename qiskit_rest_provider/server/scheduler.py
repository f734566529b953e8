"""The scheduler: a dispatcher thread that starts queued jobs fairly on the worker pool,
collects their results, enforces execution-time limits, holds final states the storage
refused until it recovers, and runs a periodic sweep (the sessions' time-driven transitions).

Opt-in realistic timing: a job stays queued at least ``queue_delay`` seconds and running at
least ``min_job_seconds``. Both are due times the dispatcher checks on each round; it waits
for the earliest on its wake-up event (new work still wakes it), never for one job, so the
other jobs keep flowing.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..wire.constants import (
    JOB_CANCELLED,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_PENDING_STATES,
    JOB_QUEUED,
    JOB_RUNNING,
    MAX_COST_SECONDS,
    REASON_JOB_ERROR,
    REASON_MAX_EXECUTION_TIME,
)
from ..wire.times import parse_iso, utcnow_iso
from .dask_pool import DaskPool
from .devices import Device
from .errors import StorageUnavailableError, best_effort
from .simulation import EmulatorSettings, execute_job
from .store import Store
from .workers import JobExecutionError, WorkerPool

__all__ = ["DEFAULT_SWEEP_INTERVAL", "PRIVATE_INPUTS_LOST", "Scheduler", "check_delay"]

logger = logging.getLogger(__name__)

#: The dispatcher's backoff after a failed step, in seconds (doubling from min to max).
_DISPATCH_MIN_BACKOFF, _DISPATCH_MAX_BACKOFF = 0.05, 2.0
#: Seconds a job may wait for its worker process to start before its execution-time limit
#: starts counting anyway (a worker that never starts must not hold the job forever).
_WORKER_START_ALLOWANCE = 120.0
#: Seconds between two runs of the periodic sweep, by default.
DEFAULT_SWEEP_INTERVAL = 1.0
#: The dispatcher's longest sleep when idle, and while jobs run, in seconds.
_IDLE_WAIT, _BUSY_WAIT = 0.5, 0.02
#: Why a private job queued before a restart fails: its inputs lived in memory only.
PRIVATE_INPUTS_LOST = (
    "The service restarted before this private job started; a private job's inputs are never "
    "stored, so it cannot run. Submit it again."
)


def check_delay(name: str, value: float) -> float:
    """``value`` as seconds >= 0 (a ``ValueError`` naming ``name`` otherwise)."""
    seconds = float(value)
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0")
    return seconds


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


class _Held:
    """A running job's final state, held until the job has run ``min_job_seconds``."""

    def __init__(
        self, due: float, fields: dict[str, Any], log: str, session_id: str | None
    ) -> None:
        self.due = due
        self.fields = fields
        self.log = log
        self.session_id = session_id


class _RunInfo:
    """What the dispatcher keeps about a running job.

    The execution-time limit counts from the moment the job's future runs (a worker took it),
    not from dispatch: the start of a replacement worker is not the job's time.
    """

    def __init__(self, limit: float, limit_reason: str, session_id: str | None) -> None:
        self.limit = limit
        self.limit_reason = limit_reason
        self.session_id = session_id
        #: When the job became Running (for ``min_job_seconds``).
        self.dispatched = time.monotonic()
        self.deadline = self.dispatched + limit + _WORKER_START_ALLOWANCE
        self.started = False

    def expired(self, future: cf.Future[Any]) -> bool:
        now = time.monotonic()
        if not self.started and future.running():
            self.started = True
            self.deadline = now + self.limit
        return now > self.deadline


class Scheduler:
    """Runs the queued jobs of ``store`` on ``workers`` worker processes.

    Every worker takes the next job round robin across the instances that have queued jobs
    (the instance served least recently goes first; within an instance, jobs run in
    submission order). ``on_session_job_started(session_id)`` and
    ``on_session_job_finished(session_id, finished)`` are told when a job of a session starts
    and when its final state is written.

    ``sweep()`` (the sessions' sweep) runs in the dispatcher thread every
    :attr:`sweep_interval` seconds, before the dispatcher picks jobs, so it stops with it. A
    failing sweep is logged and retried at the next interval; it never stops dispatching.

    Jobs a previous process left Running are marked failed at construction (or, if the
    storage fails then, by the dispatcher before it starts any job). With a store that several
    processes share (``store.shared``: PostgreSQL), only those of processes that are gone are,
    and the dispatcher repeats that every ``store.recovery_interval`` seconds, so the jobs of a
    process that died do not stay Running. A job starts only through ``store.claim_job``, which
    one process wins: no job runs twice.

    ``queue_delay``: a job is not started before it has been queued that many seconds (the
    other instances' jobs that are due start meanwhile). ``min_job_seconds``: a job's final
    state is held until it has been Running that long; its worker takes the next job
    meanwhile, and a cancel in that time wins (the held result is dropped).

    ``dask_scheduler``: run the simulations on that Dask cluster (:class:`~.dask_pool.DaskPool`,
    as many at once as it has worker threads) instead of on ``workers`` local processes.

    A private job's inputs are never stored: :meth:`keep_private_inputs` holds them in memory
    until the job starts (or is cancelled). A private job still queued when the service
    stopped fails on the next start (:data:`PRIVATE_INPUTS_LOST`).
    """

    def __init__(
        self,
        store: Store,
        devices: Mapping[str, Device],
        *,
        workers: int,
        max_execution_seconds: float,
        on_session_job_started: Callable[[str], None],
        on_session_job_finished: Callable[[str, str], None],
        sweep: Callable[[], object] | None = None,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        queue_delay: float = 0.0,
        min_job_seconds: float = 0.0,
        emulation: EmulatorSettings | None = None,
        dask_scheduler: str | None = None,
    ) -> None:
        self.store = store
        #: The Dask scheduler whose cluster runs the simulations (None: local workers).
        self.dask_scheduler = dask_scheduler
        #: What the device emulation includes (static ZZ, idle noise).
        self.emulation = emulation or EmulatorSettings()
        #: Seconds a job stays queued at least (0: it starts as soon as a worker is free).
        self.queue_delay = check_delay("queue_delay", queue_delay)
        #: Seconds a job stays running at least (0: it finishes when its simulation does).
        self.min_job_seconds = check_delay("min_job_seconds", min_job_seconds)
        self.devices = devices
        #: The longest any job may run, in seconds, whatever its ``cost``.
        self.max_execution_seconds = float(max_execution_seconds)
        #: Seconds a finished job's result may wait for the storage before the job is failed.
        self.result_write_patience = 60.0
        self._on_session_job_started = on_session_job_started
        self._on_session_job_finished = on_session_job_finished
        self._sweep = sweep
        self._sweep_interval = float(sweep_interval)
        self._last_sweep = -math.inf  # the first step sweeps
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[str, cf.Future[tuple[str, dict[str, Any]]]] = {}
        self._run_info: dict[str, _RunInfo] = {}
        # Final states not yet written (the storage failed), and the dispatcher's fairness
        # bookkeeping: when each instance last had a job started.
        self._unwritten: dict[str, _Completion] = {}
        # Final states held for min_job_seconds; the inputs of private jobs not started yet.
        # Both are touched by request threads (cancel, intake) and the dispatcher: single
        # dict operations only, atomic under the GIL.
        self._held: dict[str, _Held] = {}
        self._private_inputs: dict[str, str] = {}
        # The earliest monotonic time a queued job becomes due (queue_delay), if one waits.
        self._next_queue_due: float | None = None
        self._last_served: dict[str, int] = {}
        self._dispatches = itertools.count()
        self._storage_failing = False
        self._workers = max(0, int(workers))
        self._pool: WorkerPool | DaskPool | cf.ThreadPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None
        self._recovery_pending = True
        self._last_recovery = -math.inf
        try:
            self._recover()
        except StorageUnavailableError:  # the dispatcher retries before it starts any job
            logger.warning("Cannot mark interrupted jobs as failed yet: the storage failed")

    # Lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker pool and the dispatcher thread."""
        if self.dask_scheduler:
            self._pool = DaskPool(self.dask_scheduler, preload=(execute_job.__module__,))
        elif self._workers:
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
        """Stop the dispatcher and the workers (running jobs are abandoned)."""
        self._stopping.set()
        self._wakeup.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=10)
        if self._pool is not None:
            if isinstance(self._pool, (WorkerPool, DaskPool)):
                self._pool.shutdown()
            else:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """Tell the dispatcher that a job was queued."""
        self._wakeup.set()

    @property
    def sweep_interval(self) -> float:
        """Seconds between two runs of the periodic sweep. Setting it restarts the count: the
        next sweep runs that long after (``math.inf``: never again)."""
        return self._sweep_interval

    @sweep_interval.setter
    def sweep_interval(self, value: float) -> None:
        if not value > 0:
            raise ValueError("the sweep interval must be positive")
        self._sweep_interval = float(value)
        self._last_sweep = time.monotonic()
        self._wakeup.set()  # an idle dispatcher takes the new interval into account now

    def keep_private_inputs(self, job_id: str, params: str) -> None:
        """Hold the ``params`` JSON text of private job ``job_id`` until it starts."""
        self._private_inputs[job_id] = params

    def drop_private_inputs(self, job_id: str) -> None:
        """Forget the inputs of private job ``job_id`` (its creation failed, or it ended)."""
        self._private_inputs.pop(job_id, None)

    @property
    def held_results(self) -> list[str]:
        """Running jobs whose final state is held until they have run ``min_job_seconds``."""
        return list(self._held)

    @property
    def pending_writes(self) -> list[str]:
        """Jobs that finished but whose final state awaits the storage (it failed); they show
        as Running until it is written."""
        return list(self._unwritten)

    def cancel(self, job_id: str, reason: str, code: int | None = None) -> None:
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
            # Whatever this job still holds in memory goes: its private inputs (queued) or
            # its held final state (its min_job_seconds not over yet).
            self._private_inputs.pop(job_id, None)
            self._held.pop(job_id, None)
            future = self._running.get(job_id)
            if (
                future is not None
                and not future.cancel()
                and isinstance(self._pool, (WorkerPool, DaskPool))
            ):
                # Running: stop the simulation so the worker is free for the next job.
                self._pool.kill_running(future)
            best_effort(self.store.append_log, job_id, f"{utcnow_iso()} {reason}")

    # The dispatcher ---------------------------------------------------------------------------

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
                        self._wakeup.wait(self._idle_timeout())
                        self._wakeup.clear()
                    continue
            backoff = min(_DISPATCH_MAX_BACKOFF, max(_DISPATCH_MIN_BACKOFF, 2 * backoff))
            self._stopping.wait(backoff)

    def _dispatch_step(self) -> bool:
        """One round: recover, write pending final states, collect finished jobs, then start
        jobs while workers are free. True if a job was started."""
        if (
            self._recovery_pending
            or time.monotonic() - self._last_recovery >= self.store.recovery_interval
        ):
            self._recover()
        self._run_sweep()
        self._write_unwritten()
        self._reap()
        self._release_held()
        # Recomputed by _next_job when it runs: with no free worker, a queued job's due time
        # is no reason to wake (a finishing job wakes the dispatcher).
        self._next_queue_due = None
        if self._unwritten:
            # Finished jobs wait for the storage: start nothing new until they are written, so
            # the results held in memory stay bounded by the number of workers.
            return False
        started = False
        slots = self._pool.slots if isinstance(self._pool, DaskPool) else max(1, self._workers)
        capacity = slots - len(self._running)
        while capacity > 0 and not self._stopping.is_set():
            row = self._next_job()
            if row is None:
                break
            self._start(row)
            capacity -= 1
            started = True
        return started

    def _idle_timeout(self) -> float:
        """How long the dispatcher may sleep: until the next poll of running jobs, the next
        held result or queued job that becomes due, whichever comes first."""
        timeout = _BUSY_WAIT if self._running else _IDLE_WAIT
        now = time.monotonic()
        dues = [held.due for held in list(self._held.values())]
        if self._next_queue_due is not None:
            dues.append(self._next_queue_due)
        if dues:
            timeout = min(timeout, max(0.0, min(dues) - now))
        return timeout

    def _release_held(self) -> None:
        """Record the held final states whose job has now run ``min_job_seconds``."""
        now = time.monotonic()
        for job_id, held in list(self._held.items()):
            if held.due <= now and self._held.pop(job_id, None) is not None:
                self._finish(job_id, held.fields, held.log, held.session_id)

    def _run_sweep(self) -> None:
        """Run the periodic sweep if it is due. A storage failure propagates (the dispatcher
        backs off as for its own steps); any other failure is logged and dispatching goes on."""
        now = time.monotonic()
        if self._sweep is None or now - self._last_sweep < self._sweep_interval:
            return
        self._last_sweep = now
        try:
            self._sweep()
        except StorageUnavailableError:
            raise
        except Exception:
            logger.exception("periodic sweep failed; retrying in %g s", self._sweep_interval)

    def _recover(self) -> None:
        """Fail the jobs a previous process left Running."""
        self._last_recovery = time.monotonic()
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
        self._next_queue_due = None
        if heads and self.queue_delay > 0:
            heads = self._due_heads(heads)
        if not heads:
            return None
        if len(self._last_served) > 4 * len(heads) + 1024:
            # Forget instances with nothing queued: the table stays bounded by the active ones.
            queued = {row["instance"] for row in heads}
            self._last_served = {k: v for k, v in self._last_served.items() if k in queued}
        return min(heads, key=lambda row: (self._last_served.get(row["instance"], -1), row["seq"]))

    def _due_heads(self, heads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The queue heads that have waited ``queue_delay``; notes when the next one is due.
        An instance's later jobs were created after its head, so they are not due either."""
        wall, mono = time.time(), time.monotonic()
        due: list[dict[str, Any]] = []
        for row in heads:
            created = parse_iso(row["created"])
            # ``created`` is cut to milliseconds: one more keeps the delay a lower bound.
            ready = (created.timestamp() if created else wall) + self.queue_delay + 0.001
            if ready <= wall:
                due.append(row)
            else:
                at = mono + (ready - wall)
                if self._next_queue_due is None or at < self._next_queue_due:
                    self._next_queue_due = at
        return due

    def _start(self, row: Mapping[str, Any]) -> None:
        job_id = row["id"]
        private_params: str | None = None
        if row["private"]:
            private_params = self._private_inputs.get(job_id)
            if private_params is None:
                # Queued before a restart: its inputs were in the old process's memory.
                if self.store.update_job(
                    job_id,
                    only_if_status=(JOB_QUEUED,),
                    status=JOB_FAILED,
                    reason=PRIVATE_INPUTS_LOST,
                    reason_code=REASON_JOB_ERROR,
                    finished=utcnow_iso(),
                ):
                    best_effort(
                        self.store.append_log, job_id, f"{utcnow_iso()} {PRIVATE_INPUTS_LOST}"
                    )
                return
        # A storage failure here leaves the job Queued: the dispatcher backs off and retries.
        # The claim: of several processes sharing the store, one wins; the others move on.
        if not self.store.claim_job(job_id, utcnow_iso()):
            return
        self._last_served[row["instance"]] = next(self._dispatches)
        best_effort(self.store.append_log, job_id, f"{utcnow_iso()} job started")
        if row["session_id"]:
            best_effort(self._on_session_job_started, row["session_id"])
        try:
            future = self._submit(row, private_params)
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
        finally:
            # Handed to the worker (or the job failed): the service keeps no copy.
            if private_params is not None:
                self._private_inputs.pop(job_id, None)
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

    def _submit(
        self, row: Mapping[str, Any], private_params: str | None = None
    ) -> cf.Future[tuple[str, dict[str, Any]]]:
        """Hand a job to the worker pool (a private job's inputs come from memory)."""
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
            json.loads(row["params"] if private_params is None else private_params),
            device.configuration,
            cal.properties if cal else None,
            f"{device.name}/{cal.calibration_id}" if cal else None,
            self.emulation,
        )
        return future

    def _reap(self) -> None:
        """Collect finished jobs, and cancel those past their execution-time limit."""
        for job_id, future in list(self._running.items()):
            info = self._run_info.get(job_id)
            if not future.done():
                if info is not None and info.expired(future):
                    self._running.pop(job_id, None)
                    self._run_info.pop(job_id, None)
                    # Free the worker first; the state is written (or kept until it can be).
                    if not future.cancel() and isinstance(self._pool, (WorkerPool, DaskPool)):
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
            session_id = info.session_id if info else None
            if info is not None and self.min_job_seconds > 0:
                due = info.dispatched + self.min_job_seconds
                if time.monotonic() < due:
                    # Still Running for the client until due; the worker is free already.
                    self._held[job_id] = _Held(due, fields, log, session_id)
                    continue
            self._finish(job_id, fields, log, session_id)

    # Held results -----------------------------------------------------------------------------

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
            best_effort(
                self.store.append_log,
                completion.job_id,
                f"{completion.fields['finished']} {completion.log}",
            )
            if completion.session_id:
                best_effort(
                    self._on_session_job_finished,
                    completion.session_id,
                    completion.fields["finished"],
                )
        return True
