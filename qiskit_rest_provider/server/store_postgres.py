"""PostgreSQL persistence for the local service: one job queue shared by several processes.

:class:`PostgresStore` is :class:`~.store.Store` (the same methods, the same SQL where the two
databases agree) on a PostgreSQL database given as ``postgresql://user@host:port/dbname``, so
that several service processes, on one host or several, serve one set of jobs, sessions and
API keys. psycopg 3 is imported with this module, which the service loads only for such a URL.

The model:

- **Claiming.** A job starts only through :meth:`~.store.Store.claim_job`, one
  ``UPDATE jobs SET status='Running' ... WHERE id=%s AND status='Queued'``. PostgreSQL locks the
  row for the update, and the second of two racing updates re-reads it and finds it Running: it
  changes no row, so its process does not run the job. No job runs twice, whatever the number
  of processes; the one that loses a race takes the next job.
- **Ownership and leases.** Every store registers itself in ``service_owners`` under a random
  :attr:`~PostgresStore.owner` id with a lease (``expires``, on the database's clock, so the
  hosts' clocks need not agree) that a background thread renews every third of
  :attr:`~PostgresStore.lease_seconds`. A claim writes the owner into the job row; closing the
  store deletes its registration.
- **Recovery.** :meth:`~PostgresStore.recover_running` fails only the Running jobs whose owner
  is no longer registered with a live lease: those of a process that stopped (at once) or died
  (once its lease expired). The scheduler runs it at start and every
  :attr:`~.store.Store.recovery_interval` seconds (half a lease), so the jobs of a process that
  crashed are failed by the ones still running. A process whose database stayed unreachable
  longer than a lease may see its running jobs failed by the others; its late results are then
  dropped (a final state is written only over Running).
- **Private jobs.** Their inputs live in the memory of the process that accepted them (the
  job's owner until it is claimed): the other processes leave them alone while that owner is
  live, and fail them (inputs lost) once it is gone, as a restart does with SQLite.

Storage failures map to :class:`~.store.StorageError` as with SQLite: a full disk (SQLSTATE
53100) is 507; an unreachable or restarting server, a broken connection, lock timeouts,
serialization failures and other operational errors are 503. The connection is reopened on the
next statement after it broke. Everything else (a constraint violation, a programming error)
propagates unchanged.

No statement waits forever: the store's statements share one connection (one at a time, under
the store's lock), so one that hung would stall every request of the process. The server cancels
a statement after ``statement_timeout`` (30 s by default: a lock held elsewhere, an overloaded
server), TCP keepalives and ``tcp_user_timeout`` end a connection whose server stopped answering
(a network partition), and a thread that waits longer than ``statement_timeout`` for the lock
gives up. Each of these is a 503; the heartbeat and :meth:`~PostgresStore.close` give up the
same way.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import dict_row
except ImportError as exc:  # pragma: no cover - the server extra installs it
    raise ImportError(
        "a postgresql:// database needs psycopg 3: pip install 'qiskit-rest-provider[server]' "
        "(or 'psycopg[binary]')"
    ) from exc

from ..wire.constants import JOB_FAILED, JOB_RUNNING, REASON_INTERRUPTED
from ..wire.times import utcnow_iso
from .store import JOB_COLUMNS, StorageError, Store, StoreCursor, StoreExecutor

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_STATEMENT_TIMEOUT",
    "PostgresStore",
    "postgres_storage_failure",
]

logger = logging.getLogger(__name__)

#: How long a service process's claim on its running jobs outlives its last heartbeat.
DEFAULT_LEASE_SECONDS = 30.0
#: Seconds a connection attempt may take before the statement fails with 503.
_CONNECT_TIMEOUT = 5
#: Seconds a statement may run (or a thread wait for the connection) before it fails with 503.
DEFAULT_STATEMENT_TIMEOUT = 30.0
#: TCP keepalive of the connection: first probe after this many idle seconds, then one every
#: ``_KEEPALIVE_INTERVAL`` seconds; ``_KEEPALIVE_COUNT`` unanswered probes end it (about 25 s).
_KEEPALIVE_IDLE = 10
_KEEPALIVE_INTERVAL = 5
_KEEPALIVE_COUNT = 3
#: Key of the advisory lock under which a process creates the schema (processes starting
#: together would otherwise race on CREATE TABLE IF NOT EXISTS).
_SCHEMA_LOCK = 0x716B5F7265737431

# Time columns hold ISO text compared as text, as in SQLite: "C" collation (bytewise) keeps
# that order whatever the database's locale.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    instance TEXT NOT NULL,
    program TEXT NOT NULL,
    backend TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    reason_code INTEGER,
    created TEXT COLLATE "C" NOT NULL,
    running TEXT COLLATE "C",
    finished TEXT COLLATE "C",
    params TEXT NOT NULL,
    result TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    session_id TEXT,
    cost BIGINT NOT NULL DEFAULT 0,
    log_level TEXT,
    private INTEGER NOT NULL DEFAULT 0,
    calibration_id TEXT,
    logs TEXT NOT NULL DEFAULT '',
    caller TEXT,
    exec_ns BIGINT,
    user_id TEXT,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS jobs_instance ON jobs(instance, created);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_instance_status ON jobs(instance, status);
CREATE INDEX IF NOT EXISTS jobs_session ON jobs(session_id);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    backend TEXT,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    accepting INTEGER NOT NULL DEFAULT 1,
    max_ttl BIGINT NOT NULL,
    interactive_ttl BIGINT NOT NULL,
    created TEXT COLLATE "C" NOT NULL,
    activated TEXT COLLATE "C",
    closed TEXT COLLATE "C",
    last_job_started TEXT COLLATE "C",
    last_job_completed TEXT COLLATE "C",
    timestamps TEXT NOT NULL DEFAULT '[]',
    user_id TEXT
);
CREATE INDEX IF NOT EXISTS sessions_state ON sessions(state);
CREATE TABLE IF NOT EXISTS deleted_usage (
    instance TEXT NOT NULL,
    period TEXT NOT NULL,
    exec_ns BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (instance, period)
);
CREATE TABLE IF NOT EXISTS api_keys (
    seq BIGINT GENERATED BY DEFAULT AS IDENTITY,
    key_hash TEXT PRIMARY KEY,
    instances TEXT NOT NULL,
    user_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS service_owners (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires TIMESTAMPTZ NOT NULL
);
"""

#: The owners whose lease is live (on the database's clock).
_LIVE_OWNERS = "SELECT owner FROM service_owners WHERE expires > now()"

# SQLSTATE classes of operational failures: connection (08), insufficient resources (53),
# object not in prerequisite state, e.g. a lock timeout (55), operator intervention, e.g. a
# server shutting down (57), system errors, e.g. I/O (58), transaction rollback, e.g. a
# serialization failure or deadlock (40), and internal errors such as corruption (XX).
_STORAGE_CLASSES = {"08", "40", "53", "55", "57", "58", "XX"}
_DISK_FULL = "53100"
_READ_ONLY = "25006"


def postgres_storage_failure(exc: BaseException) -> tuple[int, str, str] | None:
    """``(status, code, message)`` if ``exc`` is a PostgreSQL storage failure, else None: 507
    for a full disk, 503 for the rest (an unreachable server, a broken connection...)."""
    if not isinstance(exc, psycopg.Error):
        return None
    sqlstate = exc.sqlstate
    if sqlstate == _DISK_FULL:
        return (
            507,
            "storage_full",
            "The service's storage is full; nothing was changed. Retry later.",
        )
    if sqlstate is None:
        # No answer from the server: the connection failed or broke.
        if not isinstance(exc, psycopg.OperationalError):
            return None
        label = "connection failed"
    elif sqlstate[:2] in _STORAGE_CLASSES or sqlstate == _READ_ONLY:
        label = f"{type(exc).__name__}, SQLSTATE {sqlstate}"
    else:
        return None
    return (
        503,
        "storage_unavailable",
        f"The service's storage is unavailable ({label}); nothing was changed. Retry later.",
    )


@functools.lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    """The store's SQL (``?`` placeholders) in psycopg's format (``%s``; literal ``%``
    doubled). The store's statements hold no literal ``?``."""
    return sql.replace("%", "%%").replace("?", "%s")


def _pg_args(args: Sequence[Any]) -> list[Any]:
    """Statement arguments for PostgreSQL: booleans go to INTEGER columns as 0 and 1, as
    SQLite stores them."""
    return [int(a) if isinstance(a, bool) else a for a in args]


def _redacted(url: str) -> str:
    """``url`` without its password (for :attr:`PostgresStore.path` and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}@{host}"))


class _PgExecutor:
    """Runs the store's SQL on a psycopg connection inside a transaction."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> StoreCursor:
        return self._conn.execute(_pg_sql(sql), _pg_args(args))


class PostgresStore(Store):
    """:class:`~.store.Store` on a PostgreSQL database that several service processes share.

    Args:
        url: ``postgresql://user[:password]@host[:port]/dbname`` (any libpq URL; its query
            parameters, e.g. ``sslmode``, are passed on).
        error: Builds the exception raised for a storage failure, as for :class:`Store`.
        lease_seconds: How long this process's running jobs stay its own after its last
            heartbeat (renewed every third of it); another process fails them (as
            interrupted) only after that.
        statement_timeout: Seconds a statement may run, and a thread may wait for the
            store's connection, before it fails with ``error`` (503); also the bound (with the
            TCP keepalives and ``tcp_user_timeout``) on a connection whose server stopped
            answering.

    The tables are created if missing. A connection failure at construction raises
    ``error`` (503), like any later statement.
    """

    shared = True

    _job_columns = (*JOB_COLUMNS, "owner")
    _KEY_UPSERT = (
        "INSERT INTO api_keys(key_hash, instances, user_id) VALUES (?,?,?) "
        "ON CONFLICT(key_hash) DO UPDATE SET instances=excluded.instances, "
        "user_id=excluded.user_id"
    )
    _KEY_ORDER = "seq"
    _TAG_MATCH = "jobs.tags::jsonb @> jsonb_build_array(?::text)"
    _IS = "IS NOT DISTINCT FROM"
    _LOCK_ROWS = " FOR UPDATE"
    _LOCK_KEYS = "LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE"

    def __init__(
        self,
        url: str,
        *,
        error: Callable[[int, str, str], Exception] = StorageError,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT,
    ) -> None:
        if not lease_seconds > 0:
            raise ValueError("lease_seconds must be positive")
        if not 0 < statement_timeout < float("inf"):
            raise ValueError("statement_timeout must be a positive number of seconds")
        # Store.__init__ opens SQLite: this dialect sets up its own state instead.
        self.path = _redacted(url)
        self._url = url
        self._error = error
        self._lock = threading.RLock()
        self._pg: psycopg.Connection[dict[str, Any]] | None = None
        self._closed = False
        self._stopping = threading.Event()
        self._heartbeats: threading.Thread | None = None
        given = conninfo_to_dict(url)
        self._connect_options: dict[str, Any] = {}
        if "connect_timeout" not in given:
            self._connect_options["connect_timeout"] = _CONNECT_TIMEOUT
        if "application_name" not in given:
            self._connect_options["application_name"] = "qiskit-rest"
        #: Seconds a statement may run, or a thread wait for the connection.
        self.statement_timeout = float(statement_timeout)
        millis = max(1, round(self.statement_timeout * 1000))
        # Appended to the URL's own server options (a keyword argument replaces them).
        self._connect_options["options"] = " ".join(
            filter(None, (str(given.get("options") or ""), f"-c statement_timeout={millis}"))
        )
        keepalives = {
            "keepalives": 1,
            "keepalives_idle": _KEEPALIVE_IDLE,
            "keepalives_interval": _KEEPALIVE_INTERVAL,
            "keepalives_count": _KEEPALIVE_COUNT,
        }
        if psycopg.pq.version() >= 120000:  # libpq 12 knows tcp_user_timeout
            keepalives["tcp_user_timeout"] = millis
        for name, value in keepalives.items():
            self._connect_options.setdefault(name, given.get(name, value))
        #: This process's id in ``service_owners`` and in the jobs it claims.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
        #: Seconds this process's running jobs stay its own after its last heartbeat.
        self.lease_seconds = float(lease_seconds)
        #: Seconds between two recoveries of the jobs of processes whose lease expired.
        self.recovery_interval = self.lease_seconds / 2
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
        self.heartbeat()
        self._heartbeats = threading.Thread(target=self._beat, name="store-heartbeat", daemon=True)
        self._heartbeats.start()

    # Connection -------------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        """The open connection, (re)opened if there is none or it broke (under the lock)."""
        if self._closed:
            raise RuntimeError("the store is closed")
        conn = self._pg
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            self._pg = None
            conn = psycopg.connect(
                self._url, autocommit=True, row_factory=dict_row, **self._connect_options
            )
            self._pg = conn
        return conn

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> StoreCursor:
        return self._connection().execute(_pg_sql(sql), _pg_args(args))

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self._guard():
            row = self._execute(sql, args).fetchone()
            return next(iter(row.values()))

    @contextmanager
    def _transaction(self) -> Iterator[StoreExecutor]:
        with self._guard():
            conn = self._connection()
            with conn.transaction():
                yield _PgExecutor(conn)

    def _storage_failure(self, exc: BaseException) -> tuple[int, str, str] | None:
        return postgres_storage_failure(exc)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Hold the lock, waiting at most :attr:`statement_timeout` for it (then 503: the
        connection is busy with a statement that does not end); turn storage failures into
        ``self._error``."""
        if not self._lock.acquire(timeout=self.statement_timeout):
            raise self._error(
                503,
                "storage_unavailable",
                "The service's storage is unavailable (its connection is busy); nothing was "
                "changed. Retry later.",
            )
        try:
            try:
                yield
            except Exception as exc:
                failure = self._storage_failure(exc)
                if failure is None:
                    raise
                raise self._error(*failure) from exc
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the heartbeats, give up this process's lease (its jobs left Running become
        recoverable at once) and close the connection. Returns within about two
        :attr:`statement_timeout` even if a statement hangs: that statement is cancelled, and
        if its thread still holds the connection, the store is closed without it (the lease
        then expires on its own)."""
        self._stopping.set()
        if self._heartbeats is not None:
            self._heartbeats.join(timeout=self.statement_timeout)
        locked = self._lock.acquire(timeout=self.statement_timeout)
        if not locked:
            conn = self._pg
            if conn is not None:
                # Thread-safe: the hung statement fails, and its thread goes on to release the
                # lock. cancel_safe (psycopg 3.2) bounds the request's own wait.
                cancel_safe = getattr(conn, "cancel_safe", None)
                with contextlib.suppress(psycopg.Error):
                    if cancel_safe is not None:
                        cancel_safe(timeout=_CONNECT_TIMEOUT)
                    else:
                        conn.cancel()
            locked = self._lock.acquire(timeout=self.statement_timeout)
        try:
            if self._closed:
                return
            self._closed = True
            if not locked:
                # The connection is another thread's still: closing it under that thread
                # would pull it away mid-call. It is dropped with the store.
                logger.warning("closing the store of %s while a statement hangs", self.owner)
                return
            conn = self._pg
            if conn is not None and not conn.closed and not conn.broken:
                try:
                    conn.execute("DELETE FROM service_owners WHERE owner=%s", (self.owner,))
                except psycopg.Error:
                    logger.warning("could not give up the lease of %s", self.owner)
            if conn is not None:
                conn.close()
            self._pg = None
        finally:
            if locked:
                self._lock.release()

    def set_size_limit(self, max_bytes: int | None) -> int:
        """Not available: a PostgreSQL database's size is its server's to limit."""
        raise NotImplementedError("a PostgreSQL store's size is limited by its server")

    # Ownership --------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Register this process, or renew its lease: its running jobs are its own for
        :attr:`lease_seconds` from now (on the database's clock)."""
        self._exec(
            "INSERT INTO service_owners(owner, host, pid, expires) "
            "VALUES (?, ?, ?, now() + ? * interval '1 second') "
            "ON CONFLICT(owner) DO UPDATE SET expires = excluded.expires",
            (self.owner, socket.gethostname(), os.getpid(), self.lease_seconds),
        )

    def _beat(self) -> None:
        """The heartbeat thread: renew the lease every third of it until the store closes."""
        failing = False
        while not self._stopping.wait(self.lease_seconds / 3):
            try:
                self.heartbeat()
            except Exception as exc:
                if not failing:
                    logger.warning("cannot renew the lease of %s: %s", self.owner, exc)
                failing = True
            else:
                if failing:
                    logger.warning("the lease of %s is renewed again", self.owner)
                failing = False

    def _claimable(self) -> tuple[str, list[Any]]:
        # A private job's inputs are in the memory of the process that accepted it (its
        # owner): only that one may start it while it lives.
        return (
            f" AND (private=0 OR owner IS NULL OR owner=? OR owner NOT IN ({_LIVE_OWNERS}))",
            [self.owner],
        )

    def _claim_fields(self) -> dict[str, Any]:
        return {"owner": self.owner}

    def insert_job(self, **fields: Any) -> None:
        """Insert a job row from its columns; this process is its owner until one claims
        it (the holder of a private job's inputs)."""
        super().insert_job(**fields, owner=self.owner)

    def _is_duplicate(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.errors.UniqueViolation)

    def recover_running(self, reason: str) -> list[str]:
        """Fail the Running jobs whose process is gone (it stopped, or its lease expired),
        never those of a live process, this one included; their ids."""
        with self._transaction() as conn:
            rows = conn.execute(
                "UPDATE jobs SET status=?, reason=?, reason_code=?, finished=? "
                "WHERE status=? AND (owner IS NULL OR "
                f"(owner <> ? AND owner NOT IN ({_LIVE_OWNERS}))) RETURNING id",
                (JOB_FAILED, reason, REASON_INTERRUPTED, utcnow_iso(), JOB_RUNNING, self.owner),
            ).fetchall()
            # Registrations long expired have no job left to recover.
            conn.execute("DELETE FROM service_owners WHERE expires < now() - interval '1 day'")
        return [r["id"] for r in rows]

    def live_owners(self) -> list[str]:
        """The service processes registered with a live lease (their owner ids)."""
        return [r["owner"] for r in self._all(f"{_LIVE_OWNERS} ORDER BY started")]

    # Dialect ----------------------------------------------------------------------------------

    def _time(self, expr: str) -> str:
        return f"({expr})::timestamptz"

    def _time_plus(self, expr: str, seconds: str) -> str:
        return f"({expr})::timestamptz + {seconds} * interval '1 second'"
