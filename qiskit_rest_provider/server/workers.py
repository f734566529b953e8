"""Simulation worker processes.

Each worker is ``python -m qiskit_rest_provider.server.workers`` talking over its stdin/stdout
pipes (length-prefixed pickles between this process and its own child: trusted on both ends).
Unlike ``multiprocessing``'s spawn start method, the child never re-imports the user's
``__main__`` module, so a script that starts a :class:`LocalRuntimeServer` without an
``if __name__ == "__main__"`` guard works. A worker whose job overruns can be killed and is
replaced on the next job.

A new worker imports the pool's ``preload`` modules and reports ready before it is given a
job, and a job's future is marked running only then: a caller that times jobs from
``future.running()`` does not charge them the start of a replacement worker (seconds, for
Qiskit and Aer).

A worker dies with the process that started it (a killed service, or a killed Dask worker that
hosted the pool): the pool passes its pid in ``QRP_WORKER_PARENT``; on Linux the child asks the
kernel for SIGKILL when its parent ends (``PR_SET_PDEATHSIG``), then checks that its parent is
still that pid (it may have died before the request), and everywhere a thread of the child
watches ``os.getppid()`` and exits when it changes. A worker in the middle of a simulation
therefore does not outlive its parent, where stdin's end of file would only reach it after the
job.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

__all__ = ["JobExecutionError", "WorkerCrashedError", "WorkerPool"]

_HEADER = struct.Struct("!Q")
_STOP = object()
#: Environment variable with the pid of the process that started a worker.
_PARENT_ENV = "QRP_WORKER_PARENT"
#: Seconds between two looks of a worker's watcher thread at its parent.
_PARENT_POLL = 0.5
#: ``prctl`` option: the signal the kernel sends the caller when its parent ends (Linux).
_PR_SET_PDEATHSIG = 1


class WorkerCrashedError(RuntimeError):
    """The worker process died while running a job."""


class JobExecutionError(RuntimeError):
    """The job's function raised in the worker; the message says what and why."""


def _write(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


_READY = "ready"


class _Worker:
    def __init__(self, index: int, tasks: queue.Queue[Any], preload: Sequence[str] = ()) -> None:
        self._index = index
        self._tasks = tasks
        self._preload = list(preload)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.current: cf.Future[Any] | None = None
        self._thread = threading.Thread(target=self._loop, name=f"sim-worker-{index}", daemon=True)
        self._thread.start()

    def _process(self) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                env = dict(os.environ, PYTHONWARNINGS="ignore")
                env[_PARENT_ENV] = str(os.getpid())
                proc = subprocess.Popen(
                    [sys.executable, "-m", "qiskit_rest_provider.server.workers", *self._preload],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                )
                self._proc = proc
            else:
                return self._proc
        # Outside the lock, so that kill() can stop a worker that hangs while starting.
        assert proc.stdout is not None
        if _read(proc.stdout) != _READY:
            raise EOFError("the worker did not start")
        return proc

    def _loop(self) -> None:
        while True:
            item = self._tasks.get()
            if item is _STOP:
                return
            future, fn, args = item
            if future.cancelled():
                continue
            try:
                proc = self._process()
            except (EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
                self.kill()
                if future.set_running_or_notify_cancel():
                    future.set_exception(WorkerCrashedError(f"the worker failed to start ({exc})"))
                continue
            if not future.set_running_or_notify_cancel():
                continue
            self.current = future
            try:
                assert proc.stdin is not None and proc.stdout is not None
                _write(proc.stdin, (fn, args))
                ok, value = _read(proc.stdout)
            except (EOFError, BrokenPipeError, OSError) as exc:
                self.kill()
                future.set_exception(WorkerCrashedError(f"the simulation worker died ({exc})"))
            except Exception as exc:  # an answer that does not unpickle: the stream is lost
                self.kill()
                future.set_exception(
                    WorkerCrashedError(f"the worker's answer could not be read ({exc!r})")
                )
            else:
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(JobExecutionError(value))
            finally:
                self.current = None

    def kill(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class WorkerPool:
    """A fixed number of worker processes fed from one queue (started lazily, per job)."""

    def __init__(self, size: int, *, preload: Sequence[str] = ()) -> None:
        """``preload``: modules each worker imports before it takes its first job."""
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self._tasks: queue.Queue[Any] = queue.Queue()
        self._workers = [_Worker(i, self._tasks, preload) for i in range(size)]

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        """Run ``fn(*args)`` (a module-level function) in a worker process."""
        future: cf.Future[Any] = cf.Future()
        self._tasks.put((future, fn, args))
        return future

    def kill_running(self, future: cf.Future[Any]) -> bool:
        """Kill the worker running ``future`` (it fails with WorkerCrashedError)."""
        for worker in self._workers:
            if worker.current is future:
                worker.kill()
                return True
        return False

    def shutdown(self) -> None:
        """Stop every worker process now; queued tasks are cancelled."""
        while True:
            try:
                item = self._tasks.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                item[0].cancel()
        for _ in self._workers:
            self._tasks.put(_STOP)
        for worker in self._workers:
            worker.kill()
        for worker in self._workers:
            worker.join(timeout=10)


def _die_with_parent(parent: int) -> None:  # pragma: no cover - child process
    """End this process when ``parent`` (the pid that started it) ends: at once if it is not
    the parent any more; by SIGKILL from the kernel on Linux; else within ``_PARENT_POLL``."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watcher below still ends this process
    # The signal is asked for only now: a parent that died since the fork went unnoticed.
    # (The kernel sends it when the parent's *thread* that started this process ends: the
    # pool's worker thread, which lives as long as the pool.)
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _serve(
    stdin: IO[bytes], stdout: IO[bytes], preload: Sequence[str] = ()
) -> None:  # pragma: no cover - child process
    import contextlib
    import importlib
    import warnings

    warnings.simplefilter("ignore")
    for module in preload:
        with contextlib.suppress(Exception):  # the job that needs it reports the error
            importlib.import_module(module)
    _write(stdout, _READY)
    while True:
        try:
            fn, args = _read(stdin)
        except EOFError:
            return
        try:
            result = (True, fn(*args))
        except Exception as exc:  # reported to the parent, which fails the job
            result = (False, f"{type(exc).__name__}: {exc}")
        _write(stdout, result)


if __name__ == "__main__":  # pragma: no cover - child process
    import signal

    # Ctrl+C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _parent = os.environ.pop(_PARENT_ENV, "")
    if _parent.isdigit():
        _die_with_parent(int(_parent))
    # Keep the protocol stream clean: anything printed by libraries goes to stderr.
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.buffer, protocol_out, sys.argv[1:])
