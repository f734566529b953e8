"""``qiskit-rest``: the command line (argument parsing, connection, exit codes).

Exit codes: 0 success; 1 any other error; 2 bad usage; 3 authentication or permission
refused; 4 not found (backend, job, account); 5 the job failed or was cancelled; 6 the service
could not be reached; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..api.accounts import AccountError, AccountNotFoundError
from ..api.errors import (
    ApiConnectionError,
    ApiTimeoutError,
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    QiskitRestError,
)
from ..errors import JobCancelledError, JobFailedError, PubValidationError
from . import commands
from .render import print_json

if TYPE_CHECKING:
    from ..client.provider import QiskitRestProvider
    from ..testing.faults import FaultConfig

__all__ = ["main"]

EXIT_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_JOB, EXIT_UNREACHABLE = 1, 2, 3, 4, 5, 6


#: Seconds ``qiskit-rest job --wait`` waits for a job by default.
DEFAULT_WAIT_SECONDS = 900.0


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (default: env QISKIT_IBM_*, else saved account)")
    group.add_argument("--account", metavar="NAME", help="use this saved account")
    group.add_argument("--url", help="API URL (e.g. the URL `qiskit-rest serve` printed)")
    group.add_argument("--token", help="API key (prefer QISKIT_IBM_TOKEN: argv is visible)")
    group.add_argument("--instance", help="instance CRN")
    group.add_argument(
        "--iam-url", help="IAM URL (defaults to IBM Cloud's, or --url for a local service)"
    )


def _seconds(text: str) -> float:
    """A command-line duration: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be finite and >= 0")
    return value


def _with_parent(subparsers: Any, parent: argparse.ArgumentParser) -> Any:
    """Make every parser added to ``subparsers`` inherit ``parent``'s options."""
    add_parser = subparsers.add_parser

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        created: argparse.ArgumentParser = add_parser(name, parents=[parent], **kwargs)
        return created

    subparsers.add_parser = add
    return subparsers


def build_parser() -> argparse.ArgumentParser:
    """The ``qiskit-rest`` argument parser: the subcommands ``serve``, ``demo``,
    ``backends``, ``backend``, ``jobs``, ``job``, ``cancel`` and ``account save|list|delete``.

    ``--json`` is accepted before or after the subcommand; the commands that talk to a service
    take the connection options ``--account``, ``--url``, ``--token``, ``--instance`` and
    ``--iam-url``.
    """
    parser = argparse.ArgumentParser(
        prog="qiskit-rest",
        description="Qiskit Runtime over REST: a local service, backends, jobs and accounts.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    # --json is accepted after the command too (without overriding one given before it).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="JSON output"
    )
    sub = _with_parent(
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"), common
    )

    serve = sub.add_parser("serve", help="run the local Qiskit Runtime service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument(
        "--db",
        default="qiskit-rest.db",
        help="SQLite file (':memory:' for none), or postgresql://user@host:port/dbname: a "
        "PostgreSQL database that several serve processes share as one job queue",
    )
    serve.add_argument("--backends-dir", help="serve device snapshot files from this folder")
    serve.add_argument(
        "--api-key",
        help="API key clients must use (random if omitted); it replaces the keys stored in --db "
        "for the instance",
    )
    serve.add_argument(
        "--instance", help="instance CRN the key may use (random if omitted; keep it to reuse --db)"
    )
    serve.add_argument(
        "--instances",
        metavar="FILE",
        help="JSON file of the instances to serve (name, plan, backends, usage limit, tags; "
        "see docs/local_service.md); the API key may use all of them",
    )
    serve.add_argument(
        "--revoke-keys",
        action="store_true",
        help="revoke every API key stored in --db (all instances) before adding --api-key",
    )
    serve.add_argument(
        "--max-queued-per-instance",
        type=int,
        default=100,
        metavar="N",
        help="queued plus running jobs per instance; more are refused with 429 (0: no limit)",
    )
    serve.add_argument(
        "--max-execution-seconds",
        type=float,
        default=600.0,
        metavar="S",
        help="the longest any job may run, whatever its cost (default 600)",
    )
    serve.add_argument(
        "--instance-usage-limit",
        type=_seconds,
        default=None,
        metavar="S",
        help="execution seconds the instance's jobs may use per month (UTC); once used, new "
        "jobs are refused with 409 (default: unlimited)",
    )
    timing = serve.add_argument_group("realistic timing (off by default)")
    timing.add_argument(
        "--queue-delay",
        type=_seconds,
        default=0.0,
        metavar="S",
        help="seconds every job stays Queued at least",
    )
    timing.add_argument(
        "--min-job-seconds",
        type=_seconds,
        default=0.0,
        metavar="S",
        help="seconds every job stays Running at least",
    )
    emulation = serve.add_argument_group("device emulation (on by default)")
    emulation.add_argument(
        "--no-static-zz",
        dest="static_zz",
        action="store_false",
        help="no static ZZ between coupled idle qubits (the calibration's zz_<a>_<b> entries)",
    )
    emulation.add_argument(
        "--no-idle-noise",
        dest="idle_noise",
        action="store_false",
        help="no relaxation or ZZ in idle windows and delays (gate and readout noise only)",
    )
    emulation.add_argument(
        "--max-job-memory",
        type=int,
        default=None,
        metavar="MIB",
        help="memory one job's simulation may hold, in MiB; wider jobs are refused at "
        "submission (default: half the machine's memory shared by the workers)",
    )
    faults = serve.add_argument_group("fault injection (off by default; seeded)")
    faults.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="fraction of requests faulted: error statuses and resets",
    )
    faults.add_argument("--fault-seed", type=int, default=0)
    faults.add_argument(
        "--fault-latency-ms", type=float, default=0.0, help="latency added to every request"
    )
    faults.add_argument(
        "--fault-cut-rate",
        type=float,
        default=0.0,
        help="fraction of job submissions cut after they reached the service, before the answer",
    )
    faults.add_argument(
        "--fault-cut-delay-ms", type=float, default=0.0, help="delay before such a cut"
    )
    faults.add_argument(
        "--fault-cut-path",
        action="append",
        help="path substring the cuts apply to (repeatable; default /v1/jobs)",
    )
    faults.add_argument(
        "--fault-cut-method",
        action="append",
        help="HTTP method the cuts apply to (repeatable; default POST)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="simulation worker processes (default: one per core)",
    )
    serve.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="run the simulations on this Dask cluster (e.g. tcp://host:8786) instead of on "
        "--workers local processes (needs the 'distributed' package)",
    )
    serve.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (needs --api-key)"
    )

    demo = sub.add_parser("demo", help="the main job on the embedded local service")
    demo.add_argument("--backend", default="local_heron")
    demo.add_argument("--qubits", type=int, default=5, help="GHZ size")
    demo.add_argument("--shots", type=int, default=4000)

    backends = sub.add_parser("backends", help="list backends with status and median errors")
    _connection_options(backends)
    backend = sub.add_parser("backend", help="configuration and calibration of one backend")
    backend.add_argument("name")
    _connection_options(backend)

    jobs = sub.add_parser("jobs", help="list jobs (newest first)")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--skip", type=int, default=0)
    jobs.add_argument("--backend")
    jobs.add_argument("--program", choices=["sampler", "estimator"])
    jobs.add_argument("--tag", action="append", help="repeat for several (jobs carry all)")
    jobs.add_argument("--session")
    jobs.add_argument("--after", help="created at or after (ISO 8601)")
    jobs.add_argument("--before", help="created at or before (ISO 8601)")
    jobs.add_argument("--oldest-first", action="store_true")
    state = jobs.add_mutually_exclusive_group()
    state.add_argument("--pending", action="store_true", help="queued or running only")
    state.add_argument("--finished", action="store_true", help="final states only")
    _connection_options(jobs)

    job = sub.add_parser("job", help="status, timestamps and result summary of a job")
    job.add_argument("id")
    job.add_argument("--wait", action="store_true", help="wait for a final state first")
    job.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_SECONDS,
        help=f"seconds --wait waits at most (default {DEFAULT_WAIT_SECONDS:g})",
    )
    _connection_options(job)

    cancel = sub.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("id")
    _connection_options(cancel)

    account = sub.add_parser("account", help="saved accounts (~/.qiskit, mode 0600)")
    acc = _with_parent(
        account.add_subparsers(dest="account_command", required=True, metavar="ACTION"), common
    )
    save = acc.add_parser("save", help="save an account")
    save.add_argument("--name")
    save.add_argument(
        "--token",
        default=os.environ.get("QISKIT_IBM_TOKEN"),
        help="API key (default: $QISKIT_IBM_TOKEN)",
    )
    save.add_argument("--instance", help="instance CRN")
    save.add_argument("--url")
    save.add_argument("--iam-url")
    save.add_argument("--default", action="store_true", help="make it the default account")
    save.add_argument("--overwrite", action="store_true")
    acc.add_parser("list", help="list saved accounts (secrets hidden)")
    delete = acc.add_parser("delete", help="delete a saved account")
    delete.add_argument("name")
    return parser


def _provider(args: argparse.Namespace) -> QiskitRestProvider:
    from ..client.provider import QiskitRestProvider

    return QiskitRestProvider(
        token=args.token,
        instance=args.instance,
        url=args.url,
        name=args.account,
        iam_url=args.iam_url,
    )


def fault_config(args: argparse.Namespace) -> FaultConfig | None:
    """The fault injection ``qiskit-rest serve`` was asked for, if any."""
    from ..testing.faults import FaultConfig

    if not (args.fault_rate or args.fault_latency_ms or args.fault_cut_rate):
        return None
    return FaultConfig.uniform(
        args.fault_rate,
        seed=args.fault_seed,
        latency=args.fault_latency_ms / 1000,
        reset_after_forward_rate=args.fault_cut_rate,
        reset_after_forward_delay=args.fault_cut_delay_ms / 1000,
        reset_after_forward_paths=tuple(args.fault_cut_path or ["/v1/jobs"]),
        reset_after_forward_methods=tuple(args.fault_cut_method or ["POST"]),
    )


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``LocalRuntimeServer`` that ``qiskit-rest serve`` was given
    (fault injection aside: see :func:`fault_config`)."""
    return {
        "host": args.host,
        "port": args.port,
        "db": args.db,
        "backends_dir": args.backends_dir,
        "api_key": args.api_key,
        "instance": args.instance,
        "instances": _instances(args.instances),
        "workers": args.workers,
        "allow_remote": args.allow_remote,
        "max_queued_per_instance": args.max_queued_per_instance,
        "max_execution_seconds": args.max_execution_seconds,
        "revoke_keys": args.revoke_keys,
        "usage_limit_seconds": args.instance_usage_limit,
        "queue_delay": args.queue_delay,
        "min_job_seconds": args.min_job_seconds,
        "emulate_static_zz": args.static_zz,
        "emulate_idle_noise": args.idle_noise,
        "max_job_memory_bytes": args.max_job_memory << 20 if args.max_job_memory else None,
        "dask_scheduler": args.dask_scheduler,
    }


def _instances(path: str | None) -> Any:
    """The instances of ``--instances FILE`` (None without the option)."""
    if path is None:
        return None
    from ..server.instances import load_instances_file

    try:
        return load_instances_file(path)
    except ValueError as exc:
        raise SystemExit(f"qiskit-rest serve: {exc}") from None


def _serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ..server import LocalRuntimeServer
    from ..testing.servers import FaultyRuntimeServer

    faults = fault_config(args)
    arguments: dict[str, Any] = {} if faults is None else {"faults": faults}
    server_class = LocalRuntimeServer if faults is None else FaultyRuntimeServer
    server = server_class(**arguments, **server_options(args))
    server.start()
    info = {
        "url": server.url,
        "api_url": f"{server.url}/api/v1",
        "iam_url": server.iam_url,
        "api_key": server.api_key,
        "instance": server.instance,
        "instances": server.instances,
        "proxy_url": server.proxy_url,
        "console_url": f"{server.url}/",
    }
    if args.json:
        print_json(info)
    else:
        print(f"Local Qiskit Runtime service on {server.url}")
        print(f"  API key:  {server.api_key}")
        for crn in server.instances:
            print(f"  instance: {crn}")
        print(f"  proxy:    {server.proxy_url}  (for qiskit-ibm-runtime, see docs)")
        print(f"  console:  {server.url}/  (open it in a browser, sign in with the API key)")
        print("Connect with:")
        print(
            f"  QiskitRestProvider(token='{server.api_key}', instance='{server.instance}', "
            f"url='{server.url}', iam_url='{server.iam_url}')"
        )
        print("Press Ctrl+C to stop.")
    sys.stdout.flush()
    stop = threading.Event()
    # SIGTERM (service managers, `kill`) stops as cleanly as Ctrl+C.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(args)
    if args.command == "account":
        if args.account_command == "save":
            return commands.account_save(args)
        if args.account_command == "list":
            return commands.account_list(args)
        return commands.account_delete(args)
    provider = _provider(args)
    try:
        handler = {
            "backends": commands.backends,
            "backend": commands.backend_details,
            "jobs": commands.jobs,
            "job": commands.job,
            "cancel": commands.cancel,
        }[args.command]
        return handler(provider, args)
    finally:
        provider.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (AuthenticationError, ForbiddenError) as exc:
        print(
            f"error: {exc}\nCheck the API key and instance CRN (qiskit-rest account list).",
            file=sys.stderr,
        )
        return EXIT_AUTH
    except (NotFoundError, AccountNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except (JobFailedError, JobCancelledError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_JOB
    except (ApiConnectionError, ApiTimeoutError) as exc:
        print(f"error: cannot reach the service: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (AccountError, PubValidationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except QiskitRestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
