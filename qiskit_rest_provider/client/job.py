"""``RuntimeJob``: a job of the Qiskit Runtime REST API, seen as a Qiskit primitive job.

A job object holds the last job document it fetched. Nothing is fetched when it is created;
``status()`` asks the server until the job reaches a final state, after which the state is
cached for good. ``result()`` waits with adaptive polling (fast first, then backing off to a
cap), downloads the result once, decodes it once and caches it.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qiskit.primitives import BasePrimitiveJob, PrimitiveResult
from qiskit.providers import JobStatus

from ..api.errors import ConflictError, NotFoundError
from ..api.submission import is_internal_tag
from ..core.codec.pubs import PubError, decode_circuit
from ..core.codec.qasm3 import DEFAULT_MAX_QUBITS, QASM3Error, QASM3LimitError, loads_isa
from ..core.codec.results import decode_result, decode_tagged, result_budget
from ..core.properties import parse_datetime
from ..errors import (
    ExecutionTimeLimitError,
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    ResultDecodeError,
)
from ..wire.constants import EXECUTOR_PROGRAM, REASON_MAX_EXECUTION_TIME
from .context import ClientContext

if TYPE_CHECKING:  # annotations only
    from .backend import RestBackend
    from .provider import QiskitRestProvider

#: Turns a job's decoded ``PrimitiveResult`` into what its ``result()`` returns (for example a
#: ``qiskit.result.Result`` for ``backend.run()`` jobs); called once, the outcome is cached.
ResultDecoder = Callable[[PrimitiveResult[Any], "RuntimeJob"], Any]

#: Reads the ``/results`` body of a program whose result is not a ``PrimitiveResult``:
#: ``decode(body, max_bytes)`` returns what ``result()`` returns (see
#: :func:`register_program_decoder`).
ProgramDecoder = Callable[[bytes, int], Any]

__all__ = [
    "MAX_TIME_REASON_CODE",
    "PollPolicy",
    "ProgramDecoder",
    "ResultDecoder",
    "RuntimeJob",
    "job_status_from_document",
    "register_program_decoder",
    "wait_for_jobs",
]

#: The result readers of programs other than the primitives, by program id.
_PROGRAM_DECODERS: dict[str, ProgramDecoder] = {}

#: Where the reader of such a program is, for the message when it was not loaded.
_PROGRAM_DECODER_HOMES = {
    EXECUTOR_PROGRAM: "import qiskit_rest_provider.client.executor (the `executor` extra: "
    "pip install 'qiskit-rest-provider[executor]')",
}


def register_program_decoder(program_id: str, decode: ProgramDecoder) -> None:
    """Make :meth:`RuntimeJob.result` of ``program_id`` jobs return ``decode(body, max_bytes)``
    (``max_bytes``: the job's :attr:`~RuntimeJob.result_byte_limit`) instead of a
    ``PrimitiveResult``. :mod:`qiskit_rest_provider.client.executor` registers the ``executor``
    program's reader when it is imported."""
    _PROGRAM_DECODERS[program_id] = decode


#: ``state.reason_code`` of a job cancelled because it exceeded its maximum execution time.
MAX_TIME_REASON_CODE = REASON_MAX_EXECUTION_TIME

_STATES = {
    "QUEUED": JobStatus.QUEUED,
    "RUNNING": JobStatus.RUNNING,
    "COMPLETED": JobStatus.DONE,
    "DONE": JobStatus.DONE,
    "FAILED": JobStatus.ERROR,
    "ERROR": JobStatus.ERROR,
    "CANCELLED": JobStatus.CANCELLED,
}
_FINAL = frozenset({JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED})


@dataclass(frozen=True)
class PollPolicy:
    """How a waiting job polls ``GET /v1/jobs/{id}``.

    The first poll comes after ``initial`` seconds; each following interval is ``factor`` times
    the previous one, up to ``maximum``; every interval is jittered by ``±jitter`` (a fraction)
    so that many waiting clients do not poll in lockstep.
    """

    initial: float = 0.02
    factor: float = 1.6
    maximum: float = 3.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not (self.initial > 0 and self.maximum >= self.initial):
            raise ValueError("PollPolicy needs 0 < initial <= maximum")
        if self.factor < 1:
            raise ValueError("PollPolicy.factor must be >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("PollPolicy.jitter must be in [0, 1)")

    def intervals(self, rng: random.Random | None = None) -> Iterable[float]:
        """The (infinite) sequence of sleep intervals."""
        rng = rng or random.Random()
        interval = self.initial
        while True:
            yield interval * (1 + self.jitter * (2 * rng.random() - 1))
            interval = min(interval * self.factor, self.maximum)


def job_status_from_document(document: Mapping[str, Any]) -> tuple[JobStatus, str, int | None]:
    """``(JobStatus, server status text, reason code)`` of a job document (any case)."""
    state = document.get("state")
    state = state if isinstance(state, Mapping) else {}
    text = str(state.get("status") or document.get("status") or "")
    code = state.get("reason_code", state.get("reasonCode"))
    reason_code = int(code) if isinstance(code, (int, float, str)) and str(code).isdigit() else None
    upper = text.upper()
    if upper.startswith("CANCELLED") and "RAN TOO LONG" in upper:
        reason_code = reason_code or MAX_TIME_REASON_CODE
    status = _STATES.get(upper.split(" ")[0], JobStatus.INITIALIZING)
    if status is JobStatus.CANCELLED and reason_code == MAX_TIME_REASON_CODE:
        status = JobStatus.ERROR  # as the official client reports it
    return status, text, reason_code


class RuntimeJob(BasePrimitiveJob[PrimitiveResult[Any], JobStatus]):
    """A sampler or estimator job (``program_id``) submitted through the REST API.

    Obtain one from a primitive's ``run()`` or from :meth:`QiskitRestProvider.job`.

    Args:
        job_id: The job id.
        context: The context of the provider the job was submitted through (or the provider).
        program_id: ``"sampler"``, ``"estimator"`` or another program id.
        backend_name: The backend the job runs on, if known.
        session_id: The session or batch the job belongs to, if any.
        document: A job document already fetched (``GET /v1/jobs/{id}``), if any.
        poll: Polling policy for :meth:`result` and :meth:`wait_for_final_state`.
        expected_result_bytes: The array bytes the job's result should hold, when the submitter
            knows them (shots x classical bits x parameter sets for the sampler); sets the
            default decode limit, see :attr:`max_result_bytes`.
        max_result_bytes: The decode limit of the result, overriding the default.
        decoder: Turns the decoded ``PrimitiveResult`` into what :meth:`result` returns
            (default: the ``PrimitiveResult`` itself).

    Attributes:
        max_result_bytes: The most decoded bytes the arrays of this job's result may hold
            (``None``: the default,
            :func:`~qiskit_rest_provider.core.codec.results.result_budget` of
            ``expected_result_bytes`` -- 64 MiB plus twice the expected size when that is
            known, 1 GiB otherwise). A ``/results`` body declaring or inflating to more makes
            :meth:`result` raise :class:`~qiskit_rest_provider.errors.ResultDecodeError`
            before the memory is allocated. Set it before calling :meth:`result`.
        expected_result_bytes: The expected array bytes of the result, if known.
    """

    def __init__(
        self,
        job_id: str,
        context: ClientContext | QiskitRestProvider,
        *,
        program_id: str,
        backend_name: str | None = None,
        session_id: str | None = None,
        tags: Sequence[str] | None = None,
        document: Mapping[str, Any] | None = None,
        poll: PollPolicy | None = None,
        expected_result_bytes: int | None = None,
        max_result_bytes: int | None = None,
        decoder: ResultDecoder | None = None,
    ) -> None:
        super().__init__(job_id)
        self.expected_result_bytes = expected_result_bytes
        self.max_result_bytes = max_result_bytes
        self._context = context if isinstance(context, ClientContext) else context.context
        self._decoder = decoder
        self._program_id = program_id
        self._backend_name = backend_name
        self._session_id = session_id
        self._tags = list(tags or ())
        self._poll = poll or PollPolicy()
        self._lock = threading.Lock()
        self._document: dict[str, Any] = {}
        self._status = JobStatus.INITIALIZING
        self._status_text = "INITIALIZING"
        self._reason_code: int | None = None
        self._result: Any = None
        self._inputs: dict[str, Any] | None = None
        if document is not None:
            self._apply(document)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__}('{self.job_id()}', program='{self._program_id}', "
            f"backend='{self._backend_name}', status={self._status.name})>"
        )

    # Document ---------------------------------------------------------------------------------

    def _apply(self, document: Mapping[str, Any]) -> None:
        status, text, reason_code = job_status_from_document(document)
        with self._lock:
            self._document = dict(document)
            self._status, self._status_text, self._reason_code = status, text, reason_code
            backend = document.get("backend")
            if isinstance(backend, str) and backend:
                self._backend_name = backend
            session_id = document.get("session_id")
            if isinstance(session_id, str) and session_id:
                self._session_id = session_id
            tags = document.get("tags")
            if isinstance(tags, list):
                self._tags = [str(t) for t in tags]
            program = document.get("program")
            if isinstance(program, Mapping) and isinstance(program.get("id"), str):
                self._program_id = str(program["id"])

    def refresh(self) -> None:
        """Fetch the job document now."""
        self._apply(self._context.rest.get_job(self.job_id(), exclude_params=True))

    @property
    def document(self) -> dict[str, Any]:
        """The last job document fetched (empty before the first fetch)."""
        return dict(self._document)

    # Status -----------------------------------------------------------------------------------

    def status(self) -> JobStatus:
        """The job's status; asks the server unless the job is already known to be final."""
        if self._status not in _FINAL:
            self.refresh()
        return self._status

    def done(self) -> bool:
        """Whether the job completed successfully."""
        return self.status() is JobStatus.DONE

    def running(self) -> bool:
        """Whether the job is running now."""
        return self.status() is JobStatus.RUNNING

    def cancelled(self) -> bool:
        """Whether the job was cancelled (by the user or its session)."""
        return self.status() is JobStatus.CANCELLED

    def in_final_state(self) -> bool:
        """Whether the job completed, failed or was cancelled."""
        return self.status() in _FINAL

    def wait_for_final_state(
        self,
        timeout: float | None = None,
        *,
        poll: PollPolicy | None = None,
        on_poll: Callable[[JobStatus], None] | None = None,
    ) -> JobStatus:
        """Poll until the job is final; raise :class:`JobTimeoutError` after ``timeout`` s.

        ``poll`` overrides the job's polling policy for this wait; ``on_poll`` is called with
        the status after every poll (e.g. to show progress).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for interval in (poll or self._poll).intervals():
            status = self.status()
            if on_poll is not None:
                on_poll(status)
            if status in _FINAL:
                return status
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise JobTimeoutError(
                        f"job {self.job_id()} is still {status.name} after {timeout} s; it goes "
                        "on: call result() or wait_for_final_state() again later, or pass a "
                        "larger timeout",
                        job_id=self.job_id(),
                    )
                interval = min(interval, remaining)
            time.sleep(interval)
        raise AssertionError("unreachable")  # pragma: no cover

    # Result -----------------------------------------------------------------------------------

    def result(self, timeout: float | None = None) -> PrimitiveResult[Any]:
        """Wait for the job and return its result, decoded once and cached.

        A sampler or estimator job returns a ``PrimitiveResult`` (or what the job's ``decoder``
        makes of it); a job of a program with a registered reader
        (:func:`register_program_decoder`) what that reader returns: an ``executor`` job a
        :class:`~qiskit_rest_provider.client.executor.ExecutorResult`.

        Raises:
            JobTimeoutError: ``timeout`` seconds passed first (the job goes on).
            JobFailedError: the job failed; the message carries the server's reason.
            JobCancelledError: the job was cancelled.
            ExecutionTimeLimitError: the job ran longer than its maximum execution time.
            ResultDecodeError: the result is malformed, or its arrays would exceed
                :attr:`result_byte_limit` (the message says which and by how much).
        """
        if self._result is not None:
            return self._result
        status = self.wait_for_final_state(timeout)
        if status is not JobStatus.DONE:
            raise self._final_error()
        body = self._context.rest.job_results(self.job_id())
        if body is None or not body.strip():
            raise JobFailedError(
                f"job {self.job_id()} completed but the service returned no result",
                job_id=self.job_id(),
            )
        decoded = self._decode(body)
        with self._lock:
            if self._result is None:
                self._result = decoded
            return self._result

    @property
    def result_byte_limit(self) -> int:
        """The decode limit :meth:`result` applies: :attr:`max_result_bytes` if set, else
        :func:`~qiskit_rest_provider.core.codec.results.result_budget` of
        :attr:`expected_result_bytes`."""
        if self.max_result_bytes is not None:
            return int(self.max_result_bytes)
        return result_budget(self.expected_result_bytes)

    def _decode(self, body: bytes) -> Any:
        program_decoder = _PROGRAM_DECODERS.get(self._program_id)
        if program_decoder is not None:
            return program_decoder(body, self.result_byte_limit)
        home = _PROGRAM_DECODER_HOMES.get(self._program_id)
        if home is not None:
            raise ResultDecodeError(
                f"job {self.job_id()} ran the {self._program_id} program, whose result reader "
                f"is not loaded: {home}"
            )
        primitive = decode_result(body, max_bytes=self.result_byte_limit)
        return primitive if self._decoder is None else self._decoder(primitive, self)

    def _final_error(self) -> Exception:
        message = self.error_message() or f"job {self.job_id()} ended as {self._status_text}"
        if self._reason_code == MAX_TIME_REASON_CODE:
            return ExecutionTimeLimitError(
                message, job_id=self.job_id(), reason_code=MAX_TIME_REASON_CODE
            )
        if self._status is JobStatus.CANCELLED:
            return JobCancelledError(
                f"job {self.job_id()} was cancelled", job_id=self.job_id(), reason_code=None
            )
        return JobFailedError(message, job_id=self.job_id(), reason_code=self._reason_code)

    def error_message(self) -> str | None:
        """Why the job failed or was cancelled (``None`` otherwise)."""
        status = self.status()
        if status not in (JobStatus.ERROR, JobStatus.CANCELLED):
            return None
        state = self._document.get("state")
        reason = state.get("reason") if isinstance(state, Mapping) else None
        reason = str(reason) if reason else f"Job {self._status_text.lower()}."
        if self._reason_code is not None:
            reason = f"Error code {self._reason_code}; {reason}"
        solution = state.get("reason_solution") if isinstance(state, Mapping) else None
        if solution:
            reason = f"{reason} {solution}"
        return reason

    # Actions ----------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Cancel the job. Raises :class:`~qiskit_rest_provider.api.errors.ConflictError` if it
        is already in a final state."""
        try:
            self._context.rest.cancel_job(self.job_id())
        except ConflictError:
            # A retried cancel whose first attempt succeeded also lands here.
            self.refresh()
            if self._status is not JobStatus.CANCELLED:
                raise
            return
        self.refresh()

    def logs(self) -> str:
        """The job's log text (empty if the service keeps none)."""
        try:
            return self._context.rest.job_logs(self.job_id())
        except NotFoundError:
            return ""

    def metrics(self) -> dict[str, Any]:
        """Timestamps, usage and execution metrics (``GET /v1/jobs/{id}/metrics``)."""
        return dict(self._context.rest.job_metrics(self.job_id()))

    def usage(self) -> float:
        """Billed quantum seconds; 0 while billing has not settled."""
        usage = self.metrics().get("usage")
        if not isinstance(usage, Mapping) or usage.get("status") == "pending":
            return 0.0
        return float(usage.get("qpu_charge_time_seconds") or 0)

    def update_tags(self, new_tags: Sequence[str]) -> list[str]:
        """Replace the job's tags (``[]`` clears them); returns the new tags."""
        tags = [str(t) for t in new_tags]
        internal = [t for t in self._tags if is_internal_tag(t)]  # kept: they mark the job kind
        self._context.rest.update_job_tags(self.job_id(), [*tags, *internal])
        self._tags = [*tags, *internal]
        return list(tags)

    # Attributes -------------------------------------------------------------------------------

    @property
    def program_id(self) -> str:
        """The program the job runs: ``"sampler"``, ``"estimator"`` or another program id."""
        return self._program_id

    @property
    def primitive_id(self) -> str:
        """The same as :attr:`program_id` (the name ``qiskit_ibm_runtime`` uses)."""
        return self._program_id

    @property
    def session_id(self) -> str | None:
        """The session or batch the job belongs to, if any."""
        return self._session_id

    @property
    def tags(self) -> list[str]:
        """The job's tags (without the ones this package adds for its own bookkeeping)."""
        return [t for t in self._tags if not is_internal_tag(t)]

    @property
    def creation_date(self) -> _dt.datetime | None:
        """When the job was created (from the last document fetched)."""
        created = self._document.get("created")
        return parse_datetime(created) if isinstance(created, str) else None

    @property
    def backend_name(self) -> str | None:
        """The name of the backend the job runs on, if known (no I/O)."""
        return self._backend_name

    @property
    def reason_code(self) -> int | None:
        """The service's reason code for a failed or cancelled job (1305: execution time limit)."""
        return self._reason_code

    def backend(self) -> RestBackend | None:
        """The backend the job runs on (no I/O)."""
        if not self._backend_name:
            return None
        return self._context.backend(self._backend_name)

    @property
    def inputs(self) -> dict[str, Any]:
        """The submitted ``params``, decoded (fetched on first access, then cached).

        Circuits come back as ``QuantumCircuit`` objects, arrays as numpy arrays. The server's
        OpenQASM is read within the limits the local service applies
        (:class:`~qiskit_rest_provider.core.codec.qasm3.ReaderLimits`): at most as many qubits as
        the job's backend has when this provider already knows its width (from a backend
        listing or a configuration fetched earlier; no request is made for it), else
        :data:`~qiskit_rest_provider.core.codec.qasm3.DEFAULT_MAX_QUBITS`.

        Raises:
            ResultDecodeError: a circuit in the server's answer exceeds those limits (nothing
                of the size it declares is built).
        """
        if self._inputs is None:
            document = self._context.rest.get_job(self.job_id(), exclude_params=False)
            raw = document.get("params")
            if raw is None:
                raise JobFailedError(
                    f"the service does not return the inputs of job {self.job_id()} "
                    "(private jobs never do)",
                    job_id=self.job_id(),
                )
            backend = self.backend()
            known = backend.known_num_qubits if backend is not None else None
            width = min(known, DEFAULT_MAX_QUBITS) if known is not None else None
            self._inputs = _decode_inputs(raw, max_qubits=width, job_id=self.job_id())
        return self._inputs


def _decode_inputs(raw: Any, *, max_qubits: int | None = None, job_id: str = "") -> dict[str, Any]:
    """Decode submitted params: circuits (OpenQASM 3 or QPY) to ``QuantumCircuit``, type-tagged
    values (ndarrays, ...) to Python objects.

    OpenQASM is read within the reader's limits, with at most ``max_qubits`` qubits
    (:data:`~qiskit_rest_provider.core.codec.qasm3.DEFAULT_MAX_QUBITS` if None); a circuit beyond
    them raises :class:`ResultDecodeError`. A circuit that cannot be read for another reason
    (a form this package does not read) is kept as the server sent it.
    """

    if not isinstance(raw, Mapping):
        return {"params": raw}

    def tagged(value: Any) -> Any:
        return decode_tagged(json.dumps(value))

    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "pubs" and isinstance(value, list):
            pubs: list[Any] = []
            for i, pub in enumerate(value):
                items = pub if isinstance(pub, list) else [pub]
                if not items:
                    pubs.append(pub)
                    continue
                circuit: Any = items[0]
                if isinstance(circuit, str):
                    try:
                        circuit = loads_isa(circuit, max_qubits=max_qubits)[0]
                    except QASM3LimitError as exc:
                        raise ResultDecodeError(
                            f"job {job_id}: the server returned a circuit for pub {i} that "
                            f"exceeds the reader's limits: {exc}"
                        ) from None
                    except QASM3Error:
                        circuit = items[0]  # kept as the server sent it
                else:
                    try:
                        circuit = decode_circuit(
                            circuit, num_qubits=max_qubits, where=f"pub {i}"
                        ).circuit
                    except PubError:
                        circuit = items[0]
                pubs.append([circuit, *(tagged(item) for item in items[1:])])
            params[key] = pubs
        else:
            params[key] = tagged(value)
    return params


def wait_for_jobs(
    jobs: Iterable[RuntimeJob],
    timeout: float | None = None,
    *,
    poll: PollPolicy | None = None,
    callback: Callable[[RuntimeJob], None] | None = None,
) -> list[RuntimeJob]:
    """Wait until every job is in a final state; returns the jobs in the order given.

    Each round polls only the jobs still pending. ``callback`` is called once per job as it
    reaches its final state (in completion order).

    Raises:
        JobTimeoutError: ``timeout`` seconds passed before all jobs finished.
    """
    all_jobs = list(jobs)
    pending = list(all_jobs)
    deadline = None if timeout is None else time.monotonic() + timeout
    for interval in (poll or PollPolicy()).intervals():
        still: list[RuntimeJob] = []
        for job in pending:
            if job.in_final_state():
                if callback is not None:
                    callback(job)
            else:
                still.append(job)
        pending = still
        if not pending:
            return all_jobs
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                ids = ", ".join(j.job_id() for j in pending[:5])
                raise JobTimeoutError(
                    f"wait_for_jobs(): {len(pending)} job(s) still pending after {timeout} s "
                    f"({ids}); they go on: wait again later, or pass a larger timeout",
                    job_id=pending[0].job_id(),
                )
            interval = min(interval, remaining)
        time.sleep(interval)
    raise AssertionError("unreachable")  # pragma: no cover
