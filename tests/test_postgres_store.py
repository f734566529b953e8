"""The job store on a real PostgreSQL server: several service processes share one queue.

The module starts its own PostgreSQL server (Debian's ``postgresql`` package: ``initdb`` and
``pg_ctl``, run as the ``postgres`` user when the tests run as root) in a temporary folder on
127.0.0.1 and a free port, gives every test a fresh database, and stops the server at the end.
Without those binaries the tests are skipped (CI installs them, and there they fail instead).

What is checked: the PostgreSQL store answers every store method as SQLite does; a claim is won
by exactly one of several racing processes; recovery fails only the jobs of processes that are
gone (stopped, or whose lease expired) and leaves a private job to the process holding its
inputs; storage failures are 503s and the connection comes back; a statement that hangs (a row
lock held elsewhere), or a wait for the connection while one hangs, ends in a 503 instead of
blocking, and so do the heartbeat and close; the service works end to end
on it; two ``qiskit-rest serve`` processes run 200 jobs between them, each exactly once; and a
restart of one process does not fail the jobs the other is running; one submission tag sent to
two processes whose lookups both found nothing yields one job, answered to both.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from qiskit_rest_provider.api import NotFoundError
from qiskit_rest_provider.client.provider import QiskitRestProvider
from qiskit_rest_provider.core.codec.results import decode_result
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.store import DuplicateJobError, StorageError, Store

from .serve_process import start_serve
from .service_helpers import FINAL_STATUSES, running_server, wait_final

psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed")
from qiskit_rest_provider.server.store_postgres import (  # noqa: E402
    PostgresStore,
    postgres_storage_failure,
)

# The PostgreSQL server takes about a second to start: the module is in the slow tier.
pytestmark = pytest.mark.slow

API_KEY = "postgres-test-key-0123456789"
INSTANCE = "crn:v1:bluemix:public:quantum-computing:us-east:a/pgtest:0000::"
#: One X then a measurement: the smallest job the simulator runs.
ONE_QUBIT = 'OPENQASM 3.0; include "stdgates.inc"; bit[1] c; x $0; c[0] = measure $0;'


# The server ------------------------------------------------------------------------------------


def _server_binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres (the newest Debian version first)."""
    folders = []
    found = shutil.which("initdb")
    if found:
        folders.append(Path(found).resolve().parent)
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    folders += sorted(
        debian, key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0), reverse=True
    )
    for folder in folders:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _unavailable(reason: str) -> None:
    """Skip, or fail in CI (which installs PostgreSQL: its absence there is a bug)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs Debian's postgresql package: see .ci/run)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust authentication, no fsync)."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="qrp-postgres-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.user = "qrp"
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as the package's postgres user.
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("running as root and there is no 'postgres' user to run the server")
            runuser = shutil.which("runuser")
            if runuser is None:
                _unavailable("running as root and there is no runuser to run the server")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._prefix = [str(runuser), "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")  # fmt: skip
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                  "-t", "60", "-o", options, "start")  # fmt: skip
        self._databases = 0

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self._prefix, str(self.binaries / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.folder,
        )
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}{tail}")

    def url(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        self._databases += 1
        name = f"test{self._databases}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete its files."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this module's tests."""
    binaries = _server_binaries()
    if binaries is None:
        _unavailable("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found")
    assert binaries is not None
    server = PostgresServer(binaries)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def pg_url(postgres: PostgresServer) -> str:
    """The URL of a fresh database for one test."""
    return postgres.new_database()


def _sql(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run ``sql`` on the database behind the store's back; its rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


# The store -------------------------------------------------------------------------------------

T0 = "2024-05-01T10:00:00.000Z"


def _exercise(store: Store) -> list[Any]:
    """Every public store method on the same data; what each answered (owner ids aside)."""

    def rows(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != "owner"}
        if isinstance(value, list):
            return [rows(v) for v in value]
        if isinstance(value, tuple):
            return tuple(rows(v) for v in value)
        return value

    out: list[Any] = []
    store.add_api_key("scrypt$a", ["i1"], "u1")
    store.add_api_key("scrypt$b", ["i1", "i2"], "u2")
    store.add_api_key("legacy-digest", ["i2"], "u3")
    out.append(store.drop_unsalted_keys())
    out.append(store.replace_api_keys("scrypt$c", ["i1"], "u4"))
    out.append(sorted(store.api_keys()))
    out.append(store.api_key("scrypt$b"))
    out.append(store.revoke_api_keys(keep=["scrypt$c"]))
    out.append(store.api_keys())
    for n in range(8):
        store.insert_job(
            id=f"job{n}",
            instance="i1" if n % 3 else "i2",
            program="sampler" if n % 2 else "estimator",
            backend="b1" if n < 5 else "b2",
            status="Queued",
            created=f"2024-05-01T10:00:0{n}.000Z",
            params=f'{{"n": {n}}}',
            tags='["even"]' if n % 2 == 0 else '["odd", "x"]',
            session_id="s1" if n in (1, 2) else None,
            cost=10 * n,
            private=int(n == 7),
        )
    out.append(store.job("job1"))
    out.append(store.job("job1", "i2"))
    out.append(store.next_queued(exclude=["job0"]))
    out.append([r["id"] for r in store.queue_heads()])
    out.append([r["id"] for r in store.queue_heads(exclude=["job0", "job1"])])
    out.append(store.claim_job("job0", "2024-05-01T10:01:00.000Z"))
    out.append(store.claim_job("job0", "2024-05-01T10:01:00.000Z"))
    out.append(store.update_job("job1", only_if_status=("Running",), status="Failed"))
    out.append(store.update_job("job1", only_if_status=("Queued",), status="Cancelled"))
    store.append_log("job0", "started")
    store.append_log("job0", "100% done")
    store.update_job(
        "job0", status="Completed", result="R0", finished="2024-05-01T10:02:00.000Z",
        exec_ns=2_500_000_000,
    )  # fmt: skip
    store.update_job(
        "job3", status="Completed", result="R3", finished="2024-06-01T00:00:00.000Z",
        exec_ns=1_000_000_000,
    )  # fmt: skip
    out.append(store.count_active("i1"))
    out.append(store.count_queued("b1"))
    out.append(store.list_jobs("i1"))
    out.append(store.list_jobs("i1", states=["Queued"], tags=["odd", "x"], descending=False))
    out.append(store.list_jobs("i1", program="sampler", backend="b1", limit=1, offset=1))
    out.append(store.list_jobs("i1", session_id="s1"))
    out.append(store.list_jobs("i2", created_after="2024-05-01T10:00:03.000Z"))
    out.append(
        store.list_jobs("i1", created_before="2024-05-01T10:00:04.000Z", exclude_backends=["b2"])
    )
    out.append(store.take_result("job0"))
    out.append(store.take_result("job0"))
    out.append(store.usage_seconds("i2"))
    out.append(store.usage_seconds("i2", ("2024-05-01T00:00:00.000Z", "2024-06-01T00:00:00.000Z")))
    store.delete_job("job0")
    store.delete_job("job0")
    out.append(store.job("job0"))
    out.append(store.usage_seconds("i2"))
    out.append(store.usage_seconds("i2", ("2024-05-01T00:00:00.000Z", "2024-06-01T00:00:00.000Z")))
    out.append(store.usage_seconds("i2", ("2024-06-01T00:00:00.000Z", "2024-07-01T00:00:00.000Z")))
    common = {"backend": "b1", "mode": "dedicated", "interactive_ttl": 60, "timestamps": "[]"}
    store.insert_session(
        id="s1", instance="i1", state="active", accepting=1, max_ttl=3600, created=T0, **common
    )
    store.insert_session(
        id="s2", instance="i1", state="open", accepting=1, max_ttl=30, created=T0, **common
    )
    store.insert_session(
        id="s3", instance="i2", state="open", accepting=0, max_ttl=3600, created=T0, **common
    )
    store.insert_session(
        id="s4", instance="i2", state="active", accepting=1, max_ttl=3600, created=T0,
        last_job_completed="2024-05-01T10:00:10.000Z", **common,
    )  # fmt: skip
    out.append(store.session("s1"))
    out.append(store.session("s1", "i2"))
    out.append([r["id"] for r in store.sessions_due("2024-05-01T10:00:20.000Z", limit=10)])
    out.append([r["id"] for r in store.sessions_due("2024-05-01T10:01:30.000Z", limit=10)])
    out.append([r["id"] for r in store.sessions_due("2024-05-01T10:01:30.000Z", limit=1)])
    out.append(store.update_session_if("s1", {"last_job_completed": None}, state="inactive"))
    out.append(store.update_session_if("s1", {"last_job_completed": None}, state="closed"))
    out.append(store.update_session_if("s1", {"state": "inactive"}, accepting=False))
    store.update_session("s2", last_job_started=T0)
    out.append(store.session("s1"))
    out.append(store.session("s2"))
    out.append(sorted(store.session_jobs("s1", ("Queued", "Cancelled"))))
    out.append(store.session_jobs("s1", ("Completed",)))
    return rows(out)


def test_the_postgres_store_answers_as_the_sqlite_store(pg_url: str) -> None:
    sqlite = Store(":memory:")
    postgres = PostgresStore(pg_url)
    try:
        expected, got = _exercise(sqlite), _exercise(postgres)
    finally:
        sqlite.close()
        postgres.close()
    assert len(got) == len(expected)
    for index, (a, b) in enumerate(zip(expected, got, strict=True)):
        assert b == a, f"answer {index} differs"
    # The data reaches the interesting branches: a lost claim, tag and time filters, usage
    # kept after a delete, each kind of session due.
    assert expected[11:13] == [True, False] and expected[18][1] == 2 and expected[22][1] == 3
    assert expected[28:31] == [3.5, 2.5, 1.0]
    assert expected[33:35] == [["s3"], ["s2", "s3", "s4"]]


def test_racing_processes_claim_each_job_exactly_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(4)]
    try:
        jobs = 120
        for n in range(jobs):
            stores[0].insert_job(
                id=f"race{n}", instance=f"i{n % 3}", program="sampler", backend="b",
                status="Queued", created=T0, params="{}",
            )  # fmt: skip
        won: dict[int, list[str]] = {i: [] for i in range(len(stores))}
        start = threading.Barrier(len(stores))

        def drain(index: int) -> None:
            store = stores[index]
            start.wait()
            while heads := store.queue_heads():
                for row in heads:
                    if store.claim_job(row["id"], T0):
                        won[index].append(row["id"])

        with ThreadPoolExecutor(len(stores)) as pool:
            list(pool.map(drain, range(len(stores))))
        claimed = [job for ids in won.values() for job in ids]
        assert sorted(claimed) == sorted(f"race{n}" for n in range(jobs))  # once each
        owners = dict(_sql(pg_url, "SELECT id, owner FROM jobs"))  # type: ignore[arg-type]
        for index, ids in won.items():
            assert all(owners[job] == stores[index].owner for job in ids)
    finally:
        for store in stores:
            store.close()


def test_recovery_fails_only_the_jobs_of_processes_that_are_gone(pg_url: str) -> None:
    stopping, crashing, survivor = (PostgresStore(pg_url) for _ in range(3))
    for n, store in enumerate((stopping, crashing, survivor)):
        store.insert_job(
            id=f"run{n}", instance="i", program="sampler", backend="b", status="Queued",
            created=T0, params="{}",
        )  # fmt: skip
        assert store.claim_job(f"run{n}", T0)
    restarted = PostgresStore(pg_url)
    try:
        assert restarted.recover_running("gone") == []  # all three are alive
        assert set(restarted.live_owners()) >= {s.owner for s in (stopping, crashing, survivor)}
        stopping.close()  # a clean stop gives its lease up: its job is recoverable at once
        assert restarted.recover_running("gone") == ["run0"]
        # A crash: no heartbeat any more, and the lease runs out (made to expire here).
        crashing._stopping.set()
        _sql(
            pg_url,
            "UPDATE service_owners SET expires = now() - interval '1 second' WHERE owner = %s",
            crashing.owner,
        )
        assert restarted.recover_running("gone") == ["run1"]
        job = restarted.job("run1")
        assert job is not None
        assert (job["status"], job["reason"], job["reason_code"]) == ("Failed", "gone", 1520)
        # A process never recovers its own jobs, even while its lease has lapsed.
        _sql(pg_url, "UPDATE service_owners SET expires = now() - interval '1 second'")
        assert survivor.recover_running("gone") == []
        survivor.heartbeat()
        assert restarted.recover_running("gone") == []
        survivor_job = survivor.job("run2")
        assert survivor_job is not None and survivor_job["status"] == "Running"
    finally:
        for store in (crashing, survivor, restarted):
            store.close()


def test_a_private_job_waits_for_the_process_holding_its_inputs(pg_url: str) -> None:
    holder, other = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        holder.insert_job(
            id="secret", instance="i", program="sampler", backend="b", status="Queued",
            created=T0, params="", private=1,
        )  # fmt: skip
        other.insert_job(
            id="plain", instance="i", program="sampler", backend="b", status="Queued",
            created=T0, params="{}",
        )  # fmt: skip
        assert [r["id"] for r in holder.queue_heads()] == ["secret"]
        assert [r["id"] for r in other.queue_heads()] == ["plain"]
        other_next = other.next_queued()
        assert other_next is not None and other_next["id"] == "plain"
        holder.close()  # its inputs are gone with it: whoever starts the job fails it
        assert [r["id"] for r in other.queue_heads()] == ["secret"]
    finally:
        other.close()


def test_storage_failures_are_503_and_the_connection_comes_back(
    postgres: PostgresServer, pg_url: str
) -> None:
    with pytest.raises(StorageError) as refused:
        PostgresStore(f"postgresql://qrp@127.0.0.1:{_free_port()}/nothing")
    assert refused.value.status == 503 and refused.value.code == "storage_unavailable"
    assert "127.0.0.1" not in refused.value.message
    store = PostgresStore(pg_url)
    try:
        store.insert_job(
            id="j", instance="i", program="sampler", backend="b", status="Queued",
            created=T0, params="{}",
        )  # fmt: skip
        (backend,) = _sql(
            pg_url,
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'qiskit-rest' "
            "AND datname = current_database()",
        )
        _sql(postgres.url("postgres"), "SELECT pg_terminate_backend(%s)", backend[0])
        with pytest.raises(StorageError) as broken:
            store.job("j")
        assert broken.value.status == 503
        job = store.job("j")  # the next statement reconnects
        assert job is not None and job["status"] == "Queued"
        with pytest.raises(DuplicateJobError):  # not a storage failure: the row exists
            store.insert_job(
                id="j", instance="i", program="sampler", backend="b", status="Queued",
                created=T0, params="{}",
            )  # fmt: skip
    finally:
        store.close()


def _within(bound: float, call: Any, *args: Any, **kwargs: Any) -> BaseException | None:
    """Run ``call(*args, **kwargs)`` in a thread; what it raised (None if it returned). Fails
    if it is still running after ``bound`` seconds (it is then blocked: the thread is a
    daemon)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call(*args, **kwargs)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"{getattr(call, '__name__', call)} blocked beyond {bound} s"
    return outcome[0]


def _is_503(outcome: BaseException | None) -> bool:
    return isinstance(outcome, StorageError) and outcome.status == 503


def test_a_hung_statement_is_a_503_not_a_stalled_process(pg_url: str) -> None:
    # Bounds of 20 s for waits of 0.5 s: only a wait that never ends can exceed them.
    store = PostgresStore(pg_url, statement_timeout=0.5)
    holder: threading.Thread | None = None
    release = threading.Event()
    try:
        assert store._scalar("SHOW statement_timeout") == "500ms"
        params = store._connection().info.get_parameters()
        assert params["keepalives"] == "1" and int(params["keepalives_count"]) > 0
        store.insert_job(
            id="j", instance="i", program="sampler", backend="b", status="Queued",
            created=T0, params="{}",
        )  # fmt: skip
        # Another connection holds the job's row: the store's update waits for its lock.
        with psycopg.connect(pg_url) as blocker:
            blocker.execute("SELECT * FROM jobs WHERE id = 'j' FOR UPDATE")
            assert _is_503(_within(20, store.update_job, "j", status="Cancelled"))
            assert _is_503(_within(20, store.claim_job, "j", T0))
            blocker.rollback()
        job = store.job("j")  # the connection is usable again; nothing was changed
        assert job is not None and job["status"] == "Queued"

        # A statement that hangs without the server's help (a dead network): another thread
        # holds the connection. Requests, the heartbeat and close give up instead of waiting.
        held = threading.Event()

        def hold() -> None:
            with store._lock:
                held.set()
                release.wait(60)

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        assert held.wait(20)
        assert _is_503(_within(20, store.job, "j"))
        assert _is_503(_within(20, store.heartbeat))
        assert _within(20, store.close) is None
        release.set()
        holder.join(20)
        with pytest.raises(RuntimeError, match="closed"):
            store.job("j")
    finally:
        release.set()
        if holder is not None:
            holder.join(20)
        store.close()
        if store._pg is not None:  # left open by the close that gave up
            store._pg.close()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (psycopg.errors.DiskFull, 507),
        (psycopg.errors.SerializationFailure, 503),
        (psycopg.errors.AdminShutdown, 503),
        (psycopg.errors.ReadOnlySqlTransaction, 503),
        (psycopg.OperationalError, 503),  # no SQLSTATE: the connection failed
        (psycopg.errors.UniqueViolation, None),
        (psycopg.errors.SyntaxError, None),
        (ValueError, None),
    ],
)
def test_which_postgres_errors_are_storage_failures(error: type[Exception], status: Any) -> None:
    failure = postgres_storage_failure(error("detail"))
    assert (failure[0] if failure else None) == status
    assert failure is None or "detail" not in failure[2]


# The service -----------------------------------------------------------------------------------


def _sampler_body(backend: str = "local_simulator", **extra: Any) -> dict[str, Any]:
    return {
        "program_id": "sampler",
        "backend": backend,
        "params": {"pubs": [[ONE_QUBIT, None, 20]], "version": 2},
        **extra,
    }


@pytest.mark.service
def test_the_service_runs_end_to_end_on_postgres(pg_url: str) -> None:
    options = {"db": pg_url, "api_key": API_KEY, "instance": INSTANCE, "workers": 0}
    with running_server(**options) as server:
        provider = server.provider()
        session = provider.client.create_session(mode="dedicated", backend="local_falcon")
        created = provider.client.create_job(
            _sampler_body("local_falcon", session_id=session["id"], tags=["pg", "e2e"])
        )
        doc = wait_final(provider, created["id"])
        assert doc["status"] == "Completed", doc
        result = provider.client.job_results(created["id"])
        assert sum(decode_result(result or b"")[0].data.c.get_counts().values()) == 20
        assert "completed" in provider.client.job_logs(created["id"])
        private = provider.client.create_job(_sampler_body(private=True))
        assert wait_final(provider, private["id"])["status"] == "Completed"
        assert provider.client.job_results(private["id"])  # read once...
        with pytest.raises(NotFoundError):
            provider.client.job_results(private["id"])  # ...then gone
        listed = provider.client.list_jobs(tags=["e2e"])
        assert listed["count"] == 1 and listed["jobs"][0]["id"] == created["id"]
        assert provider.client.list_jobs()["count"] == 2
        assert provider.client.get_session(session["id"])["state"] in ("active", "inactive")
        provider.client.close_session(session["id"])
        assert provider.client.get_session(session["id"])["state"] == "closed"
        assert server.service.sweep_sessions() >= 0  # the sweep's SQL runs on PostgreSQL
        assert provider.client.usage()["usage_consumed_seconds"] >= 0
        provider.client.delete_job(private["id"])
        provider.close()
    with running_server(**options) as again:  # persistence across a restart
        provider = again.provider()
        assert provider.client.get_job(created["id"])["status"] == "Completed"
        assert provider.client.job_results(created["id"]) == result
        provider.close()


def _counts(url: str) -> dict[str, Any]:
    rows = _sql(url, "SELECT id, status, logs, owner, result IS NOT NULL FROM jobs")
    return {r[0]: r[1:] for r in rows}


@pytest.mark.service
def test_two_serve_processes_share_one_queue_and_run_each_job_once(pg_url: str) -> None:
    args = ("--db", pg_url, "--api-key", API_KEY, "--instance", INSTANCE, "--workers", "1",
            "--max-queued-per-instance", "0")  # fmt: skip
    procs = []
    try:
        for _ in range(2):
            procs.append(start_serve(*args))
        providers = [
            QiskitRestProvider(
                token=API_KEY, instance=INSTANCE, url=info["url"], iam_url=info["iam_url"]
            )
            for _, info in procs
        ]
        jobs = 200

        def submit(index: int) -> list[str]:
            client = providers[index].client
            return [client.create_job(_sampler_body())["id"] for _ in range(jobs // 2)]

        with ThreadPoolExecutor(2) as pool:
            ids = [job for batch in pool.map(submit, range(2)) for job in batch]
        assert len(set(ids)) == jobs
        deadline = time.monotonic() + 120
        while True:
            rows = _counts(pg_url)
            pending = [j for j, row in rows.items() if row[0] not in FINAL_STATUSES]
            if not pending:
                break
            assert time.monotonic() < deadline, f"{len(pending)} jobs never finished"
            time.sleep(0.2)
        assert set(rows) == set(ids)  # none lost, none extra
        for job_id, (status, logs, _owner, has_result) in rows.items():
            assert status == "Completed" and has_result, (job_id, status, logs)
            # Each process that claims a job logs "job started" once: one line, one execution.
            assert logs.count("job started") == 1 and logs.count("job completed") == 1, logs
        owners = {row[2] for row in rows.values()}
        # Both dispatchers poll the shared queue (every 0.5 s when idle) while 200 jobs take
        # seconds: each process runs some of them.
        assert len(owners) == 2, owners
        # Results are readable through either process, whichever ran the job.
        sample = ids[0]
        for provider in providers:
            assert provider.client.job_results(sample)
            provider.close()
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            proc.wait(timeout=30)
    assert _sql(pg_url, "SELECT count(*) FROM service_owners") == [(0,)]  # leases given up


def _wait_status(url: str, job_id: str, status: str, timeout: float = 60) -> tuple[Any, ...]:
    deadline = time.monotonic() + timeout
    while True:
        (row,) = _sql(url, "SELECT status, owner, reason_code FROM jobs WHERE id = %s", job_id)
        if row[0] == status:
            return row
        assert row[0] not in FINAL_STATUSES, f"{job_id} is {row[0]}, not {status}"
        assert time.monotonic() < deadline, f"{job_id} is {row[0]}, never {status}"
        time.sleep(0.05)


@pytest.mark.service
def test_a_restart_does_not_fail_the_jobs_another_process_runs(pg_url: str) -> None:
    options = {"db": pg_url, "api_key": API_KEY, "instance": INSTANCE, "workers": 0}
    # B holds its jobs Running for a minute (min_job_seconds): they are running throughout.
    with running_server(**options, min_job_seconds=60) as b:
        b_client = b.provider().client
        b_jobs = [b_client.create_job(_sampler_body())["id"] for _ in range(2)]
        for job_id in b_jobs:
            _wait_status(pg_url, job_id, "Running")
        b.service.queue_delay = 3600  # B starts nothing more: A's job is A's to run
        a = LocalRuntimeServer(**options, min_job_seconds=60).start()
        try:
            a_client = a.provider().client
            a_job = a_client.create_job(_sampler_body())["id"]
            assert _wait_status(pg_url, a_job, "Running")[1] == a.service.store.owner
        finally:
            a.stop()  # A stops with its job running: it is abandoned
        with running_server(**options) as restarted:
            # The restart recovered A's job (its process is gone) and none of B's.
            assert _wait_status(pg_url, a_job, "Failed")[2] == 1520
            for job_id in b_jobs:
                _, owner, _ = _wait_status(pg_url, job_id, "Running")
                assert owner == b.service.store.owner
            assert restarted.service.store.recover_running("again") == []
            # B's jobs finish normally: release their held results now (once both simulations
            # are done and held).
            scheduler = b.service._scheduler
            deadline = time.monotonic() + 60
            while set(scheduler.held_results) != set(b_jobs):
                assert time.monotonic() < deadline, scheduler.held_results
                time.sleep(0.05)
            for held in scheduler._held.values():
                held.due = 0.0
            scheduler.wake()
            for job_id in b_jobs:
                assert wait_final(b.provider(), job_id)["status"] == "Completed"
                assert restarted.provider().client.job_results(job_id)


@pytest.mark.service
def test_the_serve_command_takes_a_postgres_url(pg_url: str) -> None:
    proc, info = start_serve("--db", pg_url, "--api-key", API_KEY, "--instance", INSTANCE,
                             "--workers", "0")  # fmt: skip
    try:
        token = requests.post(
            info["iam_url"] + "/identity/token",
            data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": API_KEY},
            timeout=30,
        )
        assert token.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert _sql(pg_url, "SELECT count(*) FROM api_keys") == [(1,)]


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize("first_wins_before", ["id-lookup", "insert"])
def test_one_submission_sent_to_two_processes_at_once_creates_one_job(
    pg_url: str, first_wins_before: str
) -> None:
    """The same submission tag posted to two service processes at the same moment: each
    process's gate only sees its own requests, so both may look the tag up, find nothing and
    insert the same derived id; the loser answers with the winner's job (never a 500).

    The interleaving is forced: the second process's gate has looked the tag up and found
    nothing when the first process creates the job, just before the second one picks the job's
    id (the id lookup finds the job) or just before it inserts the row (the database refuses
    the same id). Then the same race over HTTP, as it comes."""
    from qiskit_rest_provider.server.dedupe import SubmissionGate
    from qiskit_rest_provider.wire.constants import SUBMISSION_TAG_PREFIX

    options = {"db": pg_url, "api_key": API_KEY, "instance": INSTANCE, "workers": 0}
    with running_server(**options) as first, running_server(**options) as second:
        tag = f"{SUBMISSION_TAG_PREFIX}pg-forced-{first_wins_before}-{os.getpid()}"
        body = _sampler_body(tags=[tag])
        store = second.service.store
        gate = SubmissionGate(store)
        created: list[str] = []

        def first_creates() -> None:
            created.append(first.service.create_job(INSTANCE, body, None)["id"])

        def create(instance: str, body: Any, caller: str | None) -> dict[str, Any]:
            if first_wins_before == "id-lookup":
                first_creates()
            return second.service._intake._create_job(instance, body, caller)

        if first_wins_before == "insert":
            insert_job = store.insert_job

            def insert_second(**fields: Any) -> None:
                first_creates()
                assert fields["id"] == created[0]  # both derived the same id
                insert_job(**fields)

            store.insert_job = insert_second  # type: ignore[method-assign]
        try:
            answer = gate.create_once(INSTANCE, body, None, create)
        finally:
            store.__dict__.pop("insert_job", None)
        assert len(created) == 1  # the interleaving happened
        assert answer["id"] == created[0]
        jobs, count = store.list_jobs(INSTANCE, tags=[tag])
        assert count == 1 and jobs[0]["id"] == created[0]
        if first_wins_before == "insert":
            return  # the HTTP race runs once
        clients = [first.provider().client, second.provider().client]
        for client in clients:
            client.list_jobs(limit=1)  # tokens first, so the posts below go out together
        for round_ in range(12):
            tag = f"{SUBMISSION_TAG_PREFIX}pg-race-{round_}-{os.getpid()}"
            body = _sampler_body(tags=[tag])
            barrier = threading.Barrier(2)

            def post(client: Any, body: dict[str, Any] = body, barrier: Any = barrier) -> Any:
                barrier.wait()
                return client.create_job(body)["id"]

            with ThreadPoolExecutor(2) as pool:
                ids = list(pool.map(post, clients))
            assert ids[0] == ids[1], (round_, ids)
            assert len(clients[0].list_jobs(tags=[tag])["jobs"]) == 1
