"""The command line's resource commands: backends, jobs, accounts."""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
from typing import Any

from ..api.accounts import delete_account, save_account, saved_accounts
from ..client.backend import RestBackend
from ..client.job import PollPolicy, RuntimeJob
from ..client.provider import QiskitRestProvider
from ..wire.times import parse_iso
from .render import Progress, print_json, table

__all__ = [
    "account_delete",
    "account_list",
    "account_save",
    "backend_details",
    "backends",
    "cancel",
    "job",
    "jobs",
    "wait_with_progress",
]


def _median(values: list[float]) -> float | None:
    """Median of the error rates below 1 (an error of 1 marks a broken coupler)."""
    clean = [v for v in values if v is not None and v < 1.0]
    return statistics.median(clean) if clean else None


def backend_summary(backend: RestBackend) -> dict[str, Any]:
    """Name, size, status, queue, processor and median errors of one backend."""
    listing = backend.listing
    status = listing.get("status")
    state = status.get("name") if isinstance(status, dict) else status
    processor = backend.processor_type or {}
    row: dict[str, Any] = {
        "name": backend.name,
        "qubits": listing.get("qubits") or backend.configuration().n_qubits,
        "status": state or ("online" if backend.status().operational else "offline"),
        "queue": listing.get("queue_length"),
        "processor": " ".join(
            str(v) for v in (processor.get("family"), processor.get("revision")) if v
        )
        or None,
        "median_2q_error": None,
        "median_readout_error": None,
    }
    props = backend.properties()
    if props is not None:
        gates = props.gates
        two_qubit = [
            values["gate_error"][0]
            for name in ("cz", "ecr", "cx")
            for qargs, values in gates.get(name, {}).items()
            if len(qargs) == 2 and "gate_error" in values
        ]
        readout = [props.readout_error(q) for q in range(len(props.qubits))]
        row["median_2q_error"] = _median(two_qubit)
        row["median_readout_error"] = _median([r for r in readout if r is not None])
    return row


def backends(provider: QiskitRestProvider, args: argparse.Namespace) -> int:
    """``qiskit-rest backends``: one row per backend (name, qubits, status, queue, processor,
    median two-qubit and readout errors), as a table or, with ``--json``, a list of objects.
    Returns the exit code, 0."""
    rows = [backend_summary(b) for b in provider.backends()]
    if args.json:
        print_json(rows)
        return 0
    headers = ["name", "qubits", "status", "queue", "processor", "median 2q err", "median RO err"]
    print(table([list(r.values()) for r in rows], headers))
    return 0


def backend_details(provider: QiskitRestProvider, args: argparse.Namespace) -> int:
    """``qiskit-rest backend NAME``: the summary row plus the Target's operations, shot and
    circuit limits, ``dt`` (seconds), calibration id and date, faulty qubits and median T1/T2
    (microseconds). Returns the exit code, 0.

    Raises:
        ~qiskit_rest_provider.errors.NotFoundError: there is no backend ``args.name``.
    """
    backend = provider.get_backend(args.name)
    config = backend.configuration()
    summary = backend_summary(backend)
    props = backend.properties()
    target = backend.target
    details: dict[str, Any] = {
        **summary,
        "basis_gates": sorted(target.operation_names),
        "max_shots": config.max_shots,
        "max_experiments": config.max_experiments,
        "dynamic_circuits": config.supports_dynamic_circuits,
        "dt_s": config.get("dt"),
        "calibration_id": props.to_dict().get("calibration_id") if props else None,
        "last_update_date": props.to_dict().get("last_update_date") if props else None,
        "faulty_qubits": props.faulty_qubits() if props else [],
    }
    if props is not None:
        t1 = [props.t1(q) for q in range(len(props.qubits))]
        t2 = [props.t2(q) for q in range(len(props.qubits))]
        details["median_t1_us"] = _scaled_median(t1, 1e6)
        details["median_t2_us"] = _scaled_median(t2, 1e6)
    if args.json:
        print_json(details)
        return 0
    width = max(len(k) for k in details)
    for key, value in details.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value)) or "-"
        print(f"{key.replace('_', ' '):<{width}}  {value if value is not None else '-'}")
    return 0


def _scaled_median(values: list[float | None], scale: float) -> float | None:
    clean = [v * scale for v in values if v]
    return round(statistics.median(clean), 1) if clean else None


def _job_row(job: RuntimeJob) -> dict[str, Any]:
    doc = job.document
    return {
        "id": job.job_id(),
        "program": job.program_id,
        "backend": doc.get("backend"),
        "status": job.status().name,
        "created": doc.get("created"),
        "session_id": doc.get("session_id"),
        "tags": job.tags,
    }


def _parse_time(text: str | None) -> _dt.datetime | None:
    try:
        # Without an offset the time stays naive: the provider reads it as local time.
        return parse_iso(text, assume_utc=False)
    except ValueError:
        raise SystemExit(f"error: {text!r} is not an ISO 8601 date/time") from None


def jobs(provider: QiskitRestProvider, args: argparse.Namespace) -> int:
    """``qiskit-rest jobs``: one page of the instance's jobs, filtered by the command's
    options (``--after``/``--before`` without a UTC offset are local times). Returns the exit
    code, 0 (also when nothing matches).

    Raises:
        SystemExit: ``--after`` or ``--before`` is not an ISO 8601 date/time.
    """
    found = provider.jobs(
        limit=args.limit,
        skip=args.skip,
        backend_name=args.backend,
        pending=True if args.pending else (False if args.finished else None),
        program_id=args.program,
        job_tags=args.tag or None,
        session_id=args.session,
        created_after=_parse_time(args.after),
        created_before=_parse_time(args.before),
        descending=not args.oldest_first,
    )
    rows = [_job_row(j) for j in found]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No jobs match.")
        return 0
    headers = ["id", "program", "backend", "status", "created", "session", "tags"]
    print(
        table(
            [[*list(r.values())[:6], ",".join(r["tags"])] for r in rows],
            headers,
        )
    )
    return 0


def wait_with_progress(job: RuntimeJob, timeout: float | None = None) -> None:
    """Wait for ``job`` with a status line on the terminal."""
    progress = Progress(f"job {job.job_id()}")
    try:
        job.wait_for_final_state(
            timeout,
            poll=PollPolicy(maximum=1.0),  # refresh the status line at least every second
            on_poll=lambda status: progress.update(status.name),
        )
    finally:
        progress.done()


def _result_summary(job: RuntimeJob) -> list[dict[str, Any]]:
    summary: list[dict[str, Any]] = []
    for index, pub in enumerate(job.result()):
        item: dict[str, Any] = {"pub": index, "shape": list(pub.data.shape)}
        for name, value in pub.data.items():
            if hasattr(value, "get_counts"):
                counts = (
                    value.get_counts() if value.ndim == 0 else value.reshape(-1)[0].get_counts()
                )
                top = sorted(counts.items(), key=lambda kv: -kv[1])[:8]
                item[name] = {"num_shots": value.num_shots, "top_counts": dict(top)}
            elif name in ("evs", "stds"):
                item[name] = value.tolist()
        summary.append(item)
    return summary


def job(provider: QiskitRestProvider, args: argparse.Namespace) -> int:
    """``qiskit-rest job ID``: status, timestamps, error message and, once the job is done, a
    summary of each pub's result (shape, top counts or expectation values); ``--wait`` waits for
    a final state first.

    Returns:
        The exit code, 0 when the job is done or still in progress and 5 when it failed or was
        cancelled.
    """
    found = provider.job(args.id)
    if args.wait:
        wait_with_progress(found, args.timeout)
    status = found.status()
    doc = found.document
    details: dict[str, Any] = {
        "id": found.job_id(),
        "program": found.program_id,
        "backend": doc.get("backend"),
        "status": status.name,
        "created": doc.get("created"),
        "session_id": doc.get("session_id"),
        "tags": found.tags,
    }
    try:
        details["timestamps"] = found.metrics().get("timestamps")
    except Exception:  # metrics are optional on some services
        details["timestamps"] = None
    error = found.error_message()
    if error:
        details["error"] = error
    if status.name == "DONE":
        details["result"] = _result_summary(found)
    if args.json:
        print_json(details)
    else:
        for key in ("id", "program", "backend", "status", "created", "session_id"):
            print(f"{key:<11} {details[key] if details[key] is not None else '-'}")
        print(f"{'tags':<11} {', '.join(details['tags']) or '-'}")
        for key, value in (details.get("timestamps") or {}).items():
            print(f"{key:<11} {value}")
        if error:
            print(f"{'error':<11} {error}")
        for item in details.get("result", []):
            print(f"pub {item['pub']} (shape {tuple(item['shape'])}):")
            for name, value in item.items():
                if name not in ("pub", "shape"):
                    print(f"  {name}: {value}")
    return 0 if status.name in ("DONE", "QUEUED", "RUNNING", "INITIALIZING") else 5


def cancel(provider: QiskitRestProvider, args: argparse.Namespace) -> int:
    """``qiskit-rest cancel ID``: cancel a job and print its status afterwards. Returns the
    exit code, 0.

    Raises:
        ~qiskit_rest_provider.errors.ConflictError: the job is no longer cancellable.
    """
    found = provider.job(args.id)
    found.cancel()
    if args.json:
        print_json({"id": found.job_id(), "status": found.status().name})
    else:
        print(f"Job {found.job_id()} is {found.status().name}.")
    return 0


def account_save(args: argparse.Namespace) -> int:
    """``qiskit-rest account save``: validate and save an account to the accounts file
    (mode 0600); prints it with secrets hidden under ``--json``. Returns the exit code, 0.

    Raises:
        ~qiskit_rest_provider.errors.AccountError: the account is incomplete or invalid, or the name
            exists without ``--overwrite``.
    """
    account = save_account(
        token=args.token,
        instance=args.instance,
        url=args.url,
        name=args.name,
        iam_url=args.iam_url,
        set_as_default=args.default or None,
        overwrite=args.overwrite,
    )
    if args.json:
        print_json(account.redacted())
    else:
        print(f"Saved account {account.name or 'default'!r} (file mode 0600).")
    return 0


def account_list(args: argparse.Namespace) -> int:
    """``qiskit-rest account list``: the saved accounts with secrets hidden; an entry that
    cannot be loaded is listed with the reason. Returns the exit code, 0."""
    accounts = saved_accounts()
    if args.json:
        print_json(accounts)
        return 0
    if not accounts:
        print(
            "No saved accounts. Save one with: qiskit-rest account save --token ... --instance ..."
        )
        return 0
    rows = [
        [name, a.get("instance"), a.get("url"), a.get("is_default"), a.get("error") or ""]
        for name, a in accounts.items()
    ]
    print(table(rows, ["name", "instance", "url", "default", "problem"]))
    return 0


def account_delete(args: argparse.Namespace) -> int:
    """``qiskit-rest account delete NAME``. Returns the exit code: 0, or 4 when there is no
    saved account of that name."""
    deleted = delete_account(args.name)
    if not deleted:
        print(f"error: no saved account named {args.name!r}")
        return 4
    print(f"Deleted account {args.name!r}.")
    return 0
