"""Decode ``executor`` params at submission in a bounded child process.

QPY and samplomatic's samplex format are decoded by third-party parsers that trust the sizes
their input declares (a QPY circuit header's qubit count becomes a list of that length). The
service therefore never decodes them in its own process: :class:`ProgramInspector` hands the
params to one worker process (:class:`~..workers.WorkerPool`) whose address space is capped
(``RLIMIT_AS``) and whose call is timed out (the worker is then killed and replaced). What
comes back is a :class:`ProgramSummary`: numbers only (shapes, parameters, bits) and each
circuit's problem with the device (ISA, width for the memory budget), checked in the worker
against the :class:`DeviceLimits` it is given; the circuits never reach the service process.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import os
import resource
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ...core.codec.pubs import MAX_QPY_INSTRUCTIONS
from ...core.isa import find_isa_problem
from ..emulator.budget import memory_problem
from ..workers import JobExecutionError, WorkerCrashedError, WorkerPool
from .decode import ProgramError, ProgramItem, decode_program

__all__ = [
    "DECODE_MEMORY_BYTES",
    "DECODE_TIMEOUT_SECONDS",
    "DeviceLimits",
    "ItemSummary",
    "ProgramInspector",
    "ProgramSummary",
    "summarize",
]

#: Bytes the decoding process may allocate above what it holds when it starts decoding.
DECODE_MEMORY_BYTES: Final = 2 * 1024**3
#: Seconds one program's decoding may take.
DECODE_TIMEOUT_SECONDS: Final = 60.0
#: Seconds a submission waits for the decoder while another uses it (then 503): request
#: threads are shared by every route, none may be held queueing.
_QUEUE_SECONDS: Final = 2.0


@dataclass(frozen=True)
class DeviceLimits:
    """What the decoding worker checks each circuit against."""

    target: Any
    """The device's :class:`~qiskit.transpiler.Target` (ISA)."""
    memory_budget: int
    """Bytes one job's simulation may hold."""
    noisy: bool
    """Whether the device has noise (a calibration)."""


@dataclass(frozen=True)
class ItemSummary:
    """What the service checks of one item before queueing the job (numbers only: the
    circuits stay in the decoding worker)."""

    kind: str
    """``"circuit"`` or ``"samplex"``."""
    shape: tuple[int, ...]
    """The item's extrinsic shape."""
    num_parameters: int
    """Parameters of its circuit (values per element)."""
    num_clbits: int
    """Classical bits its circuit returns."""
    extra_bytes_per_element: int
    """Bytes of a samplex's returned outputs (measurement flips, signs...) per element."""
    problem: str | None = None
    """Why the device cannot run its circuit (not ISA, too wide for the budget), or None."""


@dataclass(frozen=True)
class ProgramSummary:
    """A decoded program's sizes, and its circuits' problems."""

    version: str
    """The params' schema version."""
    shots: int
    """Shots per circuit execution."""
    meas_level: str
    """The measurement level."""
    rep_delay: float | None
    """The requested delay between shots (seconds)."""
    items: tuple[ItemSummary, ...]
    """One summary per item."""


def summarize(params_text: str, memory_bytes: int, limits: DeviceLimits) -> ProgramSummary:
    """Decode ``params_text`` and check each circuit against ``limits`` (runs in the decoding
    worker, under an address-space cap of ``memory_bytes`` above its baseline).

    Raises:
        ProgramError: the params are invalid (the message says why).
    """
    _cap_memory(memory_bytes)
    try:
        program = decode_program(json.loads(params_text))
        return ProgramSummary(
            program.version,
            program.shots,
            program.meas_level,
            program.rep_delay,
            tuple(_summary(i, item, limits) for i, item in enumerate(program.items)),
        )
    except MemoryError:
        raise ProgramError(
            "the program needs more memory to decode than the service allows "
            f"({memory_bytes // 1024**2:,} MiB); it declares sizes it does not hold."
        ) from None


def _summary(index: int, item: ProgramItem, limits: DeviceLimits) -> ItemSummary:
    """One item's sizes, and why the device cannot run its circuit."""
    circuit = item.circuit
    if circuit.size() > MAX_QPY_INSTRUCTIONS:
        raise ProgramError(
            f"item {index}: its circuit has {circuit.size():,} instructions; the service runs "
            f"at most {MAX_QPY_INSTRUCTIONS:,} per circuit."
        )
    extra = 0
    if item.samplex is not None:
        for spec in item.samplex.outputs().get_specs():
            if spec.name == "parameter_values":
                continue
            # symbolic axes (other than the randomizations') count as one: the item's shape
            # bounds what they can be
            per = math.prod(n if isinstance(n, int) else 1 for n in spec.shape[1:])
            extra += per * max(1, spec.dtype.itemsize)
    problem = find_isa_problem(circuit, limits.target) or memory_problem(
        circuit, noisy=limits.noisy, requested="automatic", budget=limits.memory_budget
    )
    return ItemSummary(
        item.kind,
        item.shape,
        circuit.num_parameters,
        sum(creg.size for creg in circuit.cregs),
        extra,
        problem,
    )


_CAPPED: list[int] = []


def _cap_memory(memory_bytes: int) -> None:  # pragma: no cover - runs in the worker
    """Cap this process's address space at its current size plus ``memory_bytes`` (once)."""
    if _CAPPED:
        return
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return  # no /proc: no cap (the timeout still applies)
    limit = current + memory_bytes
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    _CAPPED.append(limit)


class ProgramInspector:
    """Decodes programs in a worker process of its own, one at a time (started on first use).

    Args:
        memory_bytes: Bytes the decoder may allocate.
        timeout: Seconds one program's decoding may take.
    """

    def __init__(
        self,
        memory_bytes: int = DECODE_MEMORY_BYTES,
        timeout: float = DECODE_TIMEOUT_SECONDS,
    ) -> None:
        self.memory_bytes = memory_bytes
        self.timeout = timeout
        self._lock = threading.Lock()
        self._turn = threading.Semaphore(1)
        self._pool: WorkerPool | None = None
        self._closed = False

    def inspect(self, params: Mapping[str, Any], limits: DeviceLimits) -> ProgramSummary:
        """Decode ``params`` in the worker and check their circuits against ``limits``.

        Raises:
            ProgramError: the params are invalid, or their decoding exceeded the memory or
                time the service allows.
            TimeoutError: the decoder is busy with another submission, or stopped (answer
                503): a request thread never waits long for it.
        """
        text = json.dumps(params, separators=(",", ":"))
        if not self._turn.acquire(timeout=_QUEUE_SECONDS):
            raise TimeoutError("the program decoder is busy")
        try:
            pool = self._worker_pool()
            future = pool.submit(summarize, text, self.memory_bytes, limits)
            try:
                summary: ProgramSummary = future.result(timeout=self.timeout)
            except cf.TimeoutError:
                future.cancel()
                pool.kill_running(future)
                raise ProgramError(
                    f"the program did not decode within {self.timeout:g} s; the service refuses it."
                ) from None
            except JobExecutionError as exc:
                raise ProgramError(_worker_message(str(exc))) from None
            except WorkerCrashedError:
                raise ProgramError(
                    "decoding the program crashed its decoder (out of its memory allowance); "
                    "the service refuses it."
                ) from None
            return summary
        finally:
            self._turn.release()

    def _worker_pool(self) -> WorkerPool:
        with self._lock:
            if self._closed:
                raise TimeoutError("the program decoder is stopped")
            if self._pool is None:
                self._pool = WorkerPool(1, preload=(__name__,))
            return self._pool

    def close(self) -> None:
        """Stop the worker process."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()


def _worker_message(text: str) -> str:
    """The refusal in a worker's error text (``ProgramError: ...``, its last line)."""
    last = text.strip().splitlines()[-1] if text.strip() else text
    for prefix in ("ProgramError: ", "qiskit_rest_provider.server.executor.decode.ProgramError: "):
        if last.startswith(prefix):
            return last[len(prefix) :]
    return "the program could not be decoded: " + last[:300]
