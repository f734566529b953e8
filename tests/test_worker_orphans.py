"""A simulation worker process never outlives the process that started it.

A parent process (a service, or a Dask worker hosting a :class:`WorkerPool`) that is killed
mid-job leaves no simulation running behind it: its worker process ends within a few seconds,
although its job (a ten-minute sleep here) is far from done. A worker started for a parent
that is already gone ends at once. Every process a test starts is stopped by the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import psutil
import pytest

from qiskit_rest_provider.server.workers import _PARENT_ENV

#: A parent: a pool of one worker running a ten-minute job; prints the worker's pid once the
#: job runs, then waits to be killed.
_PARENT = textwrap.dedent(
    """
    import sys, time
    from qiskit_rest_provider.server.workers import WorkerPool

    pool = WorkerPool(1)
    future = pool.submit(time.sleep, 600)
    while not future.running():
        time.sleep(0.05)
    print(pool._workers[0]._proc.pid, flush=True)
    time.sleep(600)
    """
)


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie not reaped yet counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int, bound: float) -> bool:
    deadline = time.monotonic() + bound
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture()
def started() -> Iterator[list[psutil.Process]]:
    """Processes the test started (directly or not): any left running is killed afterwards
    (psutil checks that a pid still names the process it was given for)."""
    procs: list[psutil.Process] = []
    yield procs
    for proc in procs:
        try:
            if proc.is_running():
                proc.kill()
        except psutil.NoSuchProcess:
            pass


def test_a_killed_parent_takes_its_running_simulation_worker_with_it(
    started: list[psutil.Process],
) -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    started.append(psutil.Process(parent.pid))
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()  # the worker runs its job now
        assert line.strip().isdigit(), f"the parent did not start its worker ({line!r})"
        worker = int(line)
        started.append(psutil.Process(worker))
        assert not _gone(worker)
        parent.send_signal(signal.SIGKILL)  # no clean-up: as a killed Dask worker
        parent.wait(timeout=30)
        # The job has ten minutes left; the old worker ran it to the end (stdin's EOF came
        # only after it). 20 s is the bound for "at once" on a loaded machine.
        assert _wait_gone(worker, 20), "the simulation worker outlived its parent"
    finally:
        parent.kill()
        parent.wait(timeout=30)
        if parent.stdout is not None:
            parent.stdout.close()


def test_a_worker_whose_parent_is_already_gone_exits_at_once(started: list[psutil.Process]) -> None:
    # This process is the worker's parent, but the worker is told to expect another pid: as
    # if the parent had died (and the worker been re-parented) before it asked to die with it.
    env = dict(os.environ, **{_PARENT_ENV: str(os.getpid() + 1_000_000)})
    worker = subprocess.Popen(
        [sys.executable, "-m", "qiskit_rest_provider.server.workers"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    started.append(psutil.Process(worker.pid))
    try:
        # Were it to serve, it would report ready and wait on stdin (kept open) forever.
        assert worker.wait(timeout=30) != 0
        assert worker.stdout is not None and worker.stdout.read() == b""
    finally:
        worker.kill()
        worker.wait(timeout=30)
        for stream in (worker.stdin, worker.stdout):
            if stream is not None:
                stream.close()
