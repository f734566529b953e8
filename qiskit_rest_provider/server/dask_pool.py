"""Run the service's simulations on a Dask distributed cluster instead of local workers.

:class:`DaskPool` offers what the scheduler uses of :class:`~.workers.WorkerPool`
(``submit``, ``kill_running``, ``shutdown``) on top of ``distributed.Client(address)``.
``distributed`` is imported only when a pool is made: the package imports without it.

What runs where. The service (HTTP, store, dispatcher) stays in its own process and is the
only writer of jobs and results. Each job's simulation is one Dask task (unique key, never
retried on an exception: an exception is the job's failure). The task runs on a Dask worker,
which hands the simulation to a simulation process of its own (the same
``python -m qiskit_rest_provider.server.workers`` children the local pool uses, one per worker
thread, started on first use and kept): Dask cannot interrupt a running task, but a task can
kill its child. So a cancel, or a job past its execution-time limit, cancels the Dask future;
the task sees that its key was released and kills the simulation, and the worker thread is
free at once. A simulation that crashes or runs out of memory kills that child, not the Dask
worker, and the job fails with a reason that says so.

A job counts as running (its execution-time limit starts) when the task's simulation process
is ready, as with local workers: the task reports it with a Dask event, which also tells
:meth:`DaskPool.where` the job's worker.

Worker loss. When a Dask worker dies mid-job, the Dask scheduler runs the task again on another
worker (up to its ``distributed.scheduler.allowed-failures``, then ``KilledWorker``). A
simulation has no side effects and only the service writes results, so a rerun cannot write
twice: the future resolves once and the scheduler writes the final state once, over Running
only. The pool lets a job start ``max_retries`` more times (1 by default) after its worker was
lost; when it starts once more, or Dask gives up (``KilledWorker``), or the client loses the
cluster, the job's future fails with :class:`~.workers.WorkerCrashedError` and a reason naming
the lost workers, so the job ends Failed and is never left Running. The lost worker's simulation
processes die with it (see :mod:`.workers`): none keeps a CPU busy for a job rerun elsewhere.

Several services on one cluster. Each pool counts all of the cluster's worker threads as its
slots: two service processes sharing a cluster (and a PostgreSQL queue) may start more jobs than
it has threads, and the extra ones wait in Dask's queue with their execution-time limit running.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from .workers import JobExecutionError, WorkerCrashedError, WorkerPool

__all__ = ["DaskPool"]

logger = logging.getLogger(__name__)

#: Seconds between two looks of a running task at its simulation and at its own key.
_POLL = 0.1
#: Seconds between two questions to the scheduler about the cluster's worker threads.
_SLOTS_INTERVAL = 1.0


class _Job:
    """What the pool keeps about one submitted job."""

    def __init__(self, key: str, outer: cf.Future[Any]) -> None:
        self.key = key
        self.outer = outer
        self.dask: Any = None
        #: The workers the task started on, in order (one per start event).
        self.workers: list[str] = []
        #: True once the pool gave up on the task (cancel, kill, too many worker losses).
        self.abandoned = False


class DaskPool:
    """Jobs as tasks of the Dask cluster at ``address`` (e.g. ``tcp://host:8786``).

    Args:
        address: The Dask scheduler's address.
        preload: Modules each simulation process imports before it reports ready.
        max_retries: How many times a job may start again after the Dask worker running it
            died (0: the first worker loss fails the job).
        timeout: Seconds to wait for the scheduler when connecting.
    """

    def __init__(
        self,
        address: str,
        *,
        preload: Sequence[str] = (),
        max_retries: int = 1,
        timeout: float = 30.0,
    ) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ImportError(
                "a Dask scheduler needs the 'distributed' package: "
                "pip install 'qiskit-rest-provider[server]'"
            ) from exc
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.address = address
        self.max_retries = int(max_retries)
        self._preload = tuple(preload)
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._by_future: dict[cf.Future[Any], _Job] = {}
        self._retried = 0
        self._slots = 0
        self._closing = threading.Event()
        # Cancelling a Dask future blocks on the scheduler: never in the client's event loop
        # (where event handlers run), always in this thread.
        self._actions = cf.ThreadPoolExecutor(1, thread_name_prefix="dask-pool")
        # A topic of this pool's own: services that share a cluster do not see each other.
        self._topic = f"qiskit-rest-jobs-{uuid.uuid4().hex}"
        self._client: Any = Client(address, timeout=timeout, set_as_default=False)
        self._client.subscribe_topic(self._topic, self._on_event)
        self._count_slots()
        # The dispatcher reads the count and never waits on the scheduler: this thread asks.
        self._watcher = threading.Thread(
            target=self._watch_slots, name="dask-pool-slots", daemon=True
        )
        self._watcher.start()

    # The scheduler's interface ----------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        """Run ``fn(*args)`` (a module-level function) as a task of the cluster."""
        outer: cf.Future[Any] = cf.Future()
        job = _Job(f"qiskit-rest-job-{uuid.uuid4().hex}", outer)
        with self._lock:
            self._jobs[job.key] = job
            self._by_future[outer] = job
        try:
            job.dask = self._client.submit(
                _run_task,
                self._topic,
                self._preload,
                fn,
                args,
                key=job.key,
                pure=False,
                retries=0,
            )
        except BaseException:
            self._forget(job)
            raise
        outer.add_done_callback(lambda _f: self._outer_done(job))
        job.dask.add_done_callback(lambda _f: self._settle(job))
        return outer

    def kill_running(self, future: cf.Future[Any]) -> bool:
        """Stop the job of ``future`` wherever it runs (its Dask future is cancelled and the
        task kills its simulation); ``future`` fails with WorkerCrashedError. False if the job
        is not the pool's or already finished."""
        with self._lock:
            job = self._by_future.get(future)
            if job is None or job.abandoned or future.done():
                return False
            job.abandoned = True
        _set_exception(future, WorkerCrashedError("the job was stopped on its Dask worker"))
        self._actions_submit(self._cancel_task, job)
        return True

    def shutdown(self) -> None:
        """Close the connection to the cluster: the scheduler releases the pool's tasks and
        the workers kill their simulations (the cluster and its workers keep running)."""
        self._closing.set()
        with self._lock:
            jobs = list(self._jobs.values())
            for job in jobs:
                job.abandoned = True
        for job in jobs:
            if not job.outer.cancel():
                _set_exception(job.outer, WorkerCrashedError("the service stopped"))
        self._actions.shutdown(wait=True)
        try:
            self._client.close(timeout=10)
        except Exception:  # the cluster may be gone already
            logger.debug("could not close the Dask client cleanly", exc_info=True)
        self._watcher.join(timeout=10)

    # What the pool knows ----------------------------------------------------------------------

    @property
    def slots(self) -> int:
        """Jobs the cluster can run at once: its worker threads (asked every
        second; 0 while it has no worker)."""
        return self._slots

    @property
    def retried(self) -> int:
        """Jobs started again after the Dask worker running them died."""
        return self._retried

    def where(self, future: cf.Future[Any]) -> str | None:
        """The address of the Dask worker the job of ``future`` last started on (None before
        it started, or for a future that is not the pool's)."""
        with self._lock:
            job = self._by_future.get(future)
            return job.workers[-1] if job is not None and job.workers else None

    def _count_slots(self) -> None:
        try:
            self._slots = sum(int(n) for n in self._client.nthreads().values())
        except Exception:  # the scheduler is unreachable: start nothing new for now
            logger.debug("cannot ask the Dask scheduler for its workers", exc_info=True)
            self._slots = 0

    def _watch_slots(self) -> None:
        while not self._closing.wait(_SLOTS_INTERVAL):
            self._count_slots()

    # Bridging the two futures -----------------------------------------------------------------

    def _forget(self, job: _Job) -> None:
        with self._lock:
            self._jobs.pop(job.key, None)
            self._by_future.pop(job.outer, None)

    def _cancel_task(self, job: _Job) -> None:
        if job.dask is not None:
            try:
                job.dask.cancel()
            except Exception:  # the cluster may be gone; the task dies with its client
                logger.debug("cannot cancel Dask task %s", job.key, exc_info=True)

    def _outer_done(self, job: _Job) -> None:
        """The scheduler's future is done: a cancel before the job started reaches Dask."""
        if job.outer.cancelled():
            with self._lock:
                job.abandoned = True
            self._actions_submit(self._cancel_task, job)
        if job.dask is None or job.dask.done():
            self._forget(job)

    def _actions_submit(self, fn: Callable[[_Job], None], job: _Job) -> None:
        # Once shut down, the shutdown has cancelled every task itself.
        with contextlib.suppress(RuntimeError):
            self._actions.submit(fn, job)

    def _on_event(self, event: tuple[float, Any]) -> None:
        """A task reports that its simulation is ready on a worker (client's event loop)."""
        _, message = event
        if not isinstance(message, dict):
            return
        with self._lock:
            job = self._jobs.get(str(message.get("key")))
            if job is None or job.abandoned:
                return
            job.workers.append(str(message.get("worker")))
            starts = len(job.workers)
            give_up = starts > 1 + self.max_retries
            if give_up:
                job.abandoned = True
            elif starts > 1:
                self._retried += 1
        if give_up:
            lost = ", ".join(job.workers[:-1])
            _set_exception(
                job.outer,
                WorkerCrashedError(
                    f"the Dask worker running this job died ({starts - 1} time(s): {lost}); "
                    "it was not run again"
                ),
            )
            self._actions_submit(self._cancel_task, job)
        elif starts > 1:
            logger.warning(
                "Dask worker %s died running a job; it runs again on %s",
                job.workers[-2],
                job.workers[-1],
            )
        else:
            # The outcome may have arrived first (events and results travel apart).
            with contextlib.suppress(RuntimeError):
                job.outer.set_running_or_notify_cancel()

    def _settle(self, job: _Job) -> None:
        """The Dask future is done: pass its outcome to the scheduler's future, once."""
        self._forget(job)
        if job.abandoned or job.outer.done():
            return
        status = job.dask.status
        if status == "finished":
            try:
                outcome: Any = job.dask.result()
            except Exception as exc:  # the result could not be fetched from its worker
                _set_exception(job.outer, WorkerCrashedError(f"the result was lost ({exc})"))
            else:
                _set_result(job.outer, outcome)
            return
        if status == "error":
            error = job.dask.exception()
            if not isinstance(error, (JobExecutionError, WorkerCrashedError)):
                where = ", ".join(job.workers) or "its Dask worker"
                error = WorkerCrashedError(
                    f"the job was lost on the Dask cluster ({where}): "
                    f"{type(error).__name__}: {error}"
                )
            _set_exception(job.outer, error)
            return
        # Cancelled or lost without the pool asking: the connection to the cluster failed.
        _set_exception(
            job.outer,
            WorkerCrashedError(f"the job was lost on the Dask cluster at {self.address}"),
        )


def _set_result(future: cf.Future[Any], value: Any) -> None:
    # Cancelled or failed meanwhile: that outcome stands.
    with contextlib.suppress(cf.InvalidStateError):
        future.set_result(value)


def _set_exception(future: cf.Future[Any], exc: BaseException) -> None:
    with contextlib.suppress(cf.InvalidStateError):
        future.set_exception(exc)


# On the Dask worker ---------------------------------------------------------------------------

_LOCAL: dict[str, WorkerPool] = {}
_LOCAL_LOCK = threading.Lock()


def _local_pool(size: int, preload: Sequence[str]) -> WorkerPool:
    """This Dask worker process's simulation processes (one per worker thread)."""
    with _LOCAL_LOCK:
        pool = _LOCAL.get("pool")
        if pool is None:
            pool = _LOCAL["pool"] = WorkerPool(max(1, size), preload=preload)
        return pool


def _run_task(
    topic: str, preload: Sequence[str], fn: Callable[..., Any], args: Sequence[Any]
) -> Any:  # pragma: no cover - runs on a Dask worker
    """A job's task: run ``fn(*args)`` in a simulation process of this worker, report when it
    starts, and kill it if the task's key is released (cancelled) meanwhile."""
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()
    pool = _local_pool(worker.state.nthreads, preload)
    inner = pool.submit(fn, *args)
    announced = False
    while True:
        try:
            return inner.result(timeout=_POLL)
        except cf.TimeoutError:
            pass
        if not announced and inner.running():
            worker.log_event(topic, {"key": key, "worker": worker.address})
            announced = True
        task = worker.state.tasks.get(key)
        if task is None or task.state == "cancelled":
            # Nobody waits for the result any more: free this thread and its process.
            if not inner.cancel():
                pool.kill_running(inner)
            raise WorkerCrashedError("the job was cancelled")
