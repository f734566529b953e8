"""SQLite persistence (WAL) for the local service: jobs, sessions and API keys.

:class:`Store` is the store's one interface. Its SQL is written once, with ``?`` placeholders;
a dialect (:class:`~.store_postgres.PostgresStore`, for ``postgresql://`` databases shared by
several service processes) overrides how statements run and the few clauses that differ
(class attributes and hooks named ``_...``), plus job claiming and recovery, which need to
know which process runs a job once several share one queue.

Storage failures that are not the caller's fault (a full disk, an I/O error, a locked or
read-only database) are raised as :class:`StorageError` (or the exception type the owner of the
store chooses), carrying the HTTP status to answer: 507 when the disk or the database's size
limit is full, 503 otherwise. Every other ``sqlite3`` error is a programming error and
propagates unchanged.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ..wire.constants import (
    JOB_FAILED,
    JOB_PENDING_STATES,
    JOB_QUEUED,
    JOB_RUNNING,
    REASON_INTERRUPTED,
    SESSION_ACTIVE,
    SESSION_INACTIVE,
    SESSION_OPEN,
)
from ..wire.times import utcnow_iso

__all__ = [
    "DuplicateJobError",
    "StorageError",
    "Store",
    "StoreCursor",
    "StoreExecutor",
    "is_postgres_url",
    "usage_period_key",
    "utcnow_iso",
]

#: SQL placeholders for the pending job states (bound to ``JOB_PENDING_STATES``).
_PENDING = f"({', '.join('?' * len(JOB_PENDING_STATES))})"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    instance TEXT NOT NULL,
    program TEXT NOT NULL,
    backend TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    reason_code INTEGER,
    created TEXT NOT NULL,
    running TEXT,
    finished TEXT,
    params TEXT NOT NULL,
    result TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    session_id TEXT,
    cost INTEGER NOT NULL DEFAULT 0,
    log_level TEXT,
    private INTEGER NOT NULL DEFAULT 0,
    calibration_id TEXT,
    logs TEXT NOT NULL DEFAULT '',
    caller TEXT,
    exec_ns INTEGER,
    user_id TEXT
);
CREATE INDEX IF NOT EXISTS jobs_instance ON jobs(instance, created);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_instance_status ON jobs(instance, status);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    backend TEXT,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    accepting INTEGER NOT NULL DEFAULT 1,
    max_ttl INTEGER NOT NULL,
    interactive_ttl INTEGER NOT NULL,
    created TEXT NOT NULL,
    activated TEXT,
    closed TEXT,
    last_job_started TEXT,
    last_job_completed TEXT,
    timestamps TEXT NOT NULL DEFAULT '[]',
    user_id TEXT
);
CREATE INDEX IF NOT EXISTS sessions_state ON sessions(state);
CREATE TABLE IF NOT EXISTS deleted_usage (
    instance TEXT NOT NULL,
    period TEXT NOT NULL,
    exec_ns INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (instance, period)
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY,
    instances TEXT NOT NULL,
    user_id TEXT NOT NULL
);
"""

#: Prefix of a salted key record in ``api_keys.key_hash`` (see ``auth.hash_key``). Rows
#: without it are unsalted SHA-256 digests written by earlier versions.
KEY_RECORD_PREFIX = "scrypt$"

# SQLite primary result codes that mean "the storage failed", not "the statement is wrong".
_SQLITE_FULL = 13
_STORAGE_CODES = {
    5: "SQLITE_BUSY",
    6: "SQLITE_LOCKED",
    7: "SQLITE_NOMEM",
    8: "SQLITE_READONLY",
    10: "SQLITE_IOERR",
    11: "SQLITE_CORRUPT",
    13: "SQLITE_FULL",
    14: "SQLITE_CANTOPEN",
    26: "SQLITE_NOTADB",
}
# Python < 3.11 has no sqlite_errorcode: recognise the same conditions by SQLite's messages.
_STORAGE_MESSAGES = {
    "database or disk is full": _SQLITE_FULL,
    "disk i/o error": 10,
    "database is locked": 5,
    "database table is locked": 6,
    "attempt to write a readonly database": 8,
    "unable to open database file": 14,
    "database disk image is malformed": 11,
    "file is not a database": 26,
    "out of memory": 7,
}

JOB_COLUMNS = [
    "id",
    "instance",
    "program",
    "backend",
    "status",
    "reason",
    "reason_code",
    "created",
    "running",
    "finished",
    "params",
    "result",
    "tags",
    "session_id",
    "cost",
    "log_level",
    "private",
    "calibration_id",
    "logs",
    "caller",
    "exec_ns",
    "user_id",
]


def is_postgres_url(db: str | Path) -> bool:
    """Whether ``db`` names a PostgreSQL database (``postgresql://...``) rather than a SQLite
    file."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


class StoreCursor(Protocol):
    """What the store reads from an executed statement (sqlite3's and psycopg's cursors)."""

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""
        ...

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        ...


class StoreExecutor(Protocol):
    """Runs one statement (with ``?`` placeholders) inside :meth:`Store._transaction`."""

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> StoreCursor:
        """Run ``sql`` with ``args`` bound to its placeholders."""
        ...


def usage_period_key(timestamp: str) -> str:
    """The usage period (calendar month, UTC) a stored ISO time falls in: ``YYYY-MM``."""
    return timestamp[:7]


class DuplicateJobError(Exception):
    """A job with the id being inserted exists already: another service process sharing the
    store created it first (job ids derived from a submission tag are the same everywhere)."""


class StorageError(Exception):
    """The database could not do its part (disk full, I/O error, locked or read-only).

    Attributes:
        status: HTTP status to answer: 507 (Insufficient Storage) when the disk or the size
            limit is full, 503 otherwise; both are worth retrying later.
        code: Error code for the API's error body.
        message: Human-readable reason, without paths or SQL.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


def storage_failure(exc: BaseException) -> tuple[int, str, str] | None:
    """``(status, code, message)`` if ``exc`` is a storage failure, else None."""
    if not isinstance(exc, sqlite3.Error) or isinstance(
        exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.IntegrityError)
    ):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary is None:
        text = str(exc).lower()
        primary = next((c for m, c in _STORAGE_MESSAGES.items() if m in text), None)
    if primary not in _STORAGE_CODES:
        return None
    if primary == _SQLITE_FULL:
        return (
            507,
            "storage_full",
            "The service's storage is full; nothing was changed. Retry later.",
        )
    return (
        503,
        "storage_unavailable",
        f"The service's storage is unavailable ({_STORAGE_CODES[primary]}); nothing was "
        "changed. Retry later.",
    )


class Store:
    """Thread-safe access to the service's SQLite database.

    Args:
        path: Database file (``":memory:"`` for a throwaway store).
        error: Builds the exception raised for a storage failure from ``(status, code,
            message)``; :class:`StorageError` by default (the service passes its own type so
            that a failed request becomes an error body).
    """

    #: Whether several service processes may use this store's database at once (then a job's
    #: claim records the process that runs it, and recovery spares the live processes' jobs).
    shared = False
    #: Seconds between two recoveries of interrupted jobs while the service runs; a SQLite
    #: store has one process, so only its start recovers (infinite).
    recovery_interval = math.inf

    # Dialect: the columns insert_job writes, and the clauses that differ between databases.
    _job_columns: tuple[str, ...] = tuple(JOB_COLUMNS)
    _KEY_UPSERT = "INSERT OR REPLACE INTO api_keys(key_hash, instances, user_id) VALUES (?,?,?)"
    _KEY_ORDER = "rowid"
    _TAG_MATCH = "EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value=?)"
    #: Null-safe equality (``IS`` in SQLite).
    _IS = "IS"
    #: Appended to a SELECT inside a transaction that then writes the rows it read (SQLite's
    #: BEGIN IMMEDIATE already holds the database's write lock).
    _LOCK_ROWS = ""
    #: Run first in a transaction that rewrites the API keys (none needed under SQLite's lock).
    _LOCK_KEYS = ""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        error: Callable[[int, str, str], Exception] = StorageError,
    ) -> None:
        self.path = str(path)
        self._error = error
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._default_max_pages = int(self._conn.execute("PRAGMA max_page_count").fetchone()[0])

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def set_size_limit(self, max_bytes: int | None) -> int:
        """Cap the database at about ``max_bytes`` (None lifts the cap); returns the cap in
        bytes. Writes that would grow it further fail as if the disk were full (507). The cap
        never goes below the current size, and it lasts as long as this store is open."""
        with self._lock:
            page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
            pages = self._default_max_pages if max_bytes is None else max(1, max_bytes // page_size)
            effective = self._conn.execute(f"PRAGMA max_page_count={int(pages)}").fetchone()[0]
            return int(effective) * page_size

    # Dialect hooks ----------------------------------------------------------------------------

    def _time(self, expr: str) -> str:
        """SQL comparing the ISO time text ``expr`` in time order (days, in SQLite)."""
        return f"julianday({expr})"

    def _time_plus(self, expr: str, seconds: str) -> str:
        """SQL for the ISO time text ``expr`` plus the integer column ``seconds``, comparable
        with :meth:`_time`."""
        return f"julianday({expr}) + {seconds} / 86400.0"

    def _claimable(self) -> tuple[str, list[Any]]:
        """A condition (``AND ...``) and its arguments on the queued jobs this process may
        start; every one, with one process."""
        return "", []

    def _storage_failure(self, exc: BaseException) -> tuple[int, str, str] | None:
        """``(status, code, message)`` if ``exc`` is a failure of the storage, else None."""
        return storage_failure(exc)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Hold the lock; turn storage failures into ``self._error``."""
        with self._lock:
            try:
                yield
            except Exception as exc:
                failure = self._storage_failure(exc)
                if failure is None:
                    raise
                raise self._error(*failure) from exc

    # Every statement is executed *and its rows fetched* under the lock: the connection is
    # shared by the service's threads, and a cursor read outside the lock races with other
    # threads' statements (on Python 3.13, fetched rows went missing under load: 404s for
    # jobs that existed).

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> StoreCursor:
        """Run one statement on the connection (the caller holds :meth:`_guard`)."""
        return self._conn.execute(sql, args)

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        with self._guard():
            return self._execute(sql, args).rowcount

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first row of a query (a mapping by column name), or None."""
        with self._guard():
            return self._execute(sql, args).fetchone()

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query (mappings by column name)."""
        with self._guard():
            return self._execute(sql, args).fetchall()

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The single value of an aggregate query (which always yields one row)."""
        with self._guard():
            return self._execute(sql, args).fetchone()[0]

    @contextmanager
    def _transaction(self) -> Iterator[StoreExecutor]:
        """Several statements that take effect together or not at all."""
        with self._guard():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full) leaves the transaction open: end it here.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    # API keys ---------------------------------------------------------------------------------
    # ``key_hash`` holds a salted KDF record (``scrypt$...``, see ``auth.hash_key``), never
    # the key. With a salt per key there is no equality lookup by key: the service checks a
    # presented key against every record (the table holds a handful of rows by design).

    def add_api_key(self, key_hash: str, instances: Iterable[str], user_id: str) -> None:
        """Store a key record for ``instances`` (replacing the record's instances if known)."""
        self._exec(self._KEY_UPSERT, (key_hash, json.dumps(sorted(instances)), user_id))

    def replace_api_keys(self, key_hash: str, instances: Iterable[str], user_id: str) -> int:
        """Store ``key_hash`` for ``instances`` and revoke every other key's access to them
        (a key left with no instance is deleted), atomically; the number of keys changed."""
        wanted = sorted(set(instances))
        changed = 0
        with self._transaction() as conn:
            if self._LOCK_KEYS:
                conn.execute(self._LOCK_KEYS)
            for row in conn.execute("SELECT key_hash, instances FROM api_keys").fetchall():
                current = json.loads(row["instances"])
                kept = [i for i in current if i not in wanted]
                if len(kept) == len(current):
                    continue
                changed += 1
                if kept:
                    conn.execute(
                        "UPDATE api_keys SET instances=? WHERE key_hash=?",
                        (json.dumps(kept), row["key_hash"]),
                    )
                else:
                    conn.execute("DELETE FROM api_keys WHERE key_hash=?", (row["key_hash"],))
            conn.execute(self._KEY_UPSERT, (key_hash, json.dumps(wanted), user_id))
        return changed

    def revoke_api_keys(self, keep: Iterable[str] = ()) -> int:
        """Delete every stored key except the records in ``keep``; the number deleted."""
        kept = list(keep)
        sql = "DELETE FROM api_keys"
        if kept:
            sql += f" WHERE key_hash NOT IN ({', '.join('?' * len(kept))})"
        return self._exec(sql, kept)

    def drop_unsalted_keys(self) -> int:
        """Delete keys stored by earlier versions as unsalted SHA-256 digests (they cannot be
        upgraded without the key itself); the number deleted."""
        return self._exec(
            "DELETE FROM api_keys WHERE substr(key_hash, 1, ?) != ?",
            (len(KEY_RECORD_PREFIX), KEY_RECORD_PREFIX),
        )

    def api_keys(self) -> list[tuple[str, list[str], str]]:
        """Every stored key as ``(record, instances, user_id)``, oldest first."""
        rows = self._all(f"SELECT * FROM api_keys ORDER BY {self._KEY_ORDER}")
        return [(r["key_hash"], json.loads(r["instances"]), r["user_id"]) for r in rows]

    def api_key(self, key_hash: str) -> tuple[list[str], str] | None:
        """``(instances, user_id)`` of the key record ``key_hash``, or None."""
        row = self._one("SELECT * FROM api_keys WHERE key_hash=?", (key_hash,))
        return (json.loads(row["instances"]), row["user_id"]) if row else None

    # Jobs -------------------------------------------------------------------------------------

    def insert_job(self, **fields: Any) -> None:
        """Insert a job row from its columns (those of :data:`JOB_COLUMNS` given)."""
        cols = [c for c in self._job_columns if c in fields]
        try:
            self._exec(
                f"INSERT INTO jobs({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [fields[c] for c in cols],
            )
        except Exception as exc:
            if self._is_duplicate(exc):
                raise DuplicateJobError(str(fields.get("id"))) from None
            raise

    def _is_duplicate(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the database's refusal of a second row with the same key."""
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    def job(self, job_id: str, instance: str | None = None) -> dict[str, Any] | None:
        """The row of job ``job_id`` (of ``instance``, if given), or None."""
        if instance is None:
            row = self._one("SELECT * FROM jobs WHERE id=?", (job_id,))
        else:
            row = self._one("SELECT * FROM jobs WHERE id=? AND instance=?", (job_id, instance))
        return dict(row) if row else None

    def update_job(self, job_id: str, *, only_if_status: Sequence[str] = (), **fields: Any) -> bool:
        """Write ``fields`` to a job, only if its status is one of ``only_if_status`` when
        that is given; True if a row changed."""
        sets = ", ".join(f"{k}=?" for k in fields)
        args = [*fields.values(), job_id]
        sql = f"UPDATE jobs SET {sets} WHERE id=?"
        if only_if_status:
            sql += f" AND status IN ({', '.join('?' * len(only_if_status))})"
            args.extend(only_if_status)
        return self._exec(sql, args) > 0

    def claim_job(self, job_id: str, running: str) -> bool:
        """Move job ``job_id`` from Queued to Running (at ``running``, ISO text) for this
        process to run it: True if this call did, False if the job was no longer queued (a
        cancel, or another process sharing the database, came first). The one way a job starts,
        so no job runs twice."""
        return self.update_job(
            job_id,
            only_if_status=(JOB_QUEUED,),
            status=JOB_RUNNING,
            running=running,
            **self._claim_fields(),
        )

    def _claim_fields(self) -> dict[str, Any]:
        """Columns a claim writes besides the state (who runs the job, with several
        processes)."""
        return {}

    def append_log(self, job_id: str, line: str) -> None:
        """Append a line to a job's log."""
        self._exec("UPDATE jobs SET logs = logs || ? WHERE id=?", (line + "\n", job_id))

    def delete_job(self, job_id: str) -> None:
        """Delete a job row. Its execution time stays counted in its instance's usage (kept
        per usage period, the ``YYYY-MM`` of its ``finished`` time): deleting jobs gives no
        time back, as on IBM's service."""
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT instance, finished, exec_ns FROM jobs WHERE id=?{self._LOCK_ROWS}",
                (job_id,),
            ).fetchone()
            if row is None:
                return
            if row["exec_ns"] and row["finished"]:
                conn.execute(
                    "INSERT INTO deleted_usage(instance, period, exec_ns) VALUES (?,?,?) "
                    "ON CONFLICT(instance, period) "
                    "DO UPDATE SET exec_ns = deleted_usage.exec_ns + excluded.exec_ns",
                    (row["instance"], usage_period_key(row["finished"]), int(row["exec_ns"])),
                )
            conn.execute("DELETE FROM jobs WHERE id=?", (job_id,))

    def take_result(self, job_id: str) -> str | None:
        """A job's stored result, deleted from the store as it is read (a private job's result
        is read once): the result, or None if there is none (any more). Atomic: of two
        concurrent readers, one gets it."""
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT result FROM jobs WHERE id=?{self._LOCK_ROWS}", (job_id,)
            ).fetchone()
            if row is None or row["result"] is None:
                return None
            conn.execute("UPDATE jobs SET result=NULL WHERE id=?", (job_id,))
            return str(row["result"])

    def next_queued(self, exclude: Iterable[str] = ()) -> dict[str, Any] | None:
        """The oldest queued job of all instances (not in ``exclude``)."""
        excluded = list(exclude)
        claimable, claim_args = self._claimable()
        sql = f"SELECT * FROM jobs WHERE status=?{claimable}"
        if excluded:
            sql += f" AND id NOT IN ({', '.join('?' * len(excluded))})"
        row = self._one(sql + " ORDER BY seq LIMIT 1", [JOB_QUEUED, *claim_args, *excluded])
        return dict(row) if row else None

    def queue_heads(self, exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
        """The oldest queued job (not in ``exclude``) of each instance that has one, oldest
        first: the candidates a fair dispatcher chooses from."""
        excluded = list(exclude)
        claimable, claim_args = self._claimable()
        inner = f"SELECT MIN(seq) FROM jobs WHERE status=?{claimable}"
        if excluded:
            inner += f" AND id NOT IN ({', '.join('?' * len(excluded))})"
        rows = self._all(
            f"SELECT * FROM jobs WHERE seq IN ({inner} GROUP BY instance) ORDER BY seq",
            [JOB_QUEUED, *claim_args, *excluded],
        )
        return [dict(r) for r in rows]

    def count_active(self, instance: str) -> int:
        """Queued and running jobs of ``instance``."""
        return int(
            self._scalar(
                f"SELECT COUNT(*) FROM jobs WHERE instance=? AND status IN {_PENDING}",
                (instance, *JOB_PENDING_STATES),
            )
        )

    def count_queued(self, backend: str) -> int:
        """Queued and running jobs on ``backend`` (all instances)."""
        return int(
            self._scalar(
                f"SELECT COUNT(*) FROM jobs WHERE backend=? AND status IN {_PENDING}",
                (backend, *JOB_PENDING_STATES),
            )
        )

    def list_jobs(
        self,
        instance: str,
        states: Sequence[str] = (),
        tags: Sequence[str] = (),
        *,
        program: str | None = None,
        backend: str | None = None,
        session_id: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        descending: bool = True,
        limit: int = 200,
        offset: int = 0,
        exclude_backends: Sequence[str] = (),
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the jobs of ``instance`` and the number of jobs that match.

        Args:
            instance: Whose jobs.
            states: Only jobs in one of these states (any state if empty).
            tags: Only jobs that carry every one of these tags.
            program: Only jobs of this program.
            backend: Only jobs on this backend.
            session_id: Only jobs of this session.
            created_after: Only jobs created at or after this time (ISO text, as stored).
            created_before: Only jobs created at or before this time (ISO text, as stored).
            descending: Newest first (else oldest first); submission order breaks ties.
            limit: The most rows returned.
            offset: Matching rows skipped before the page.
            exclude_backends: Leave out the jobs on these backends (the mock twins).
        """
        where = ["instance=?"]
        args: list[Any] = [instance]
        if exclude_backends:
            where.append(f"backend NOT IN ({', '.join('?' * len(exclude_backends))})")
            args.extend(exclude_backends)
        if states:
            where.append(f"status IN ({', '.join('?' * len(states))})")
            args.extend(states)
        for column, value in (
            ("program", program),
            ("backend", backend),
            ("session_id", session_id),
        ):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        for op, bound in ((">=", created_after), ("<=", created_before)):
            if bound is not None:
                where.append(f"created {op} ?")
                args.append(bound)
        for tag in tags:
            where.append(self._TAG_MATCH)
            args.append(tag)
        clause = " AND ".join(where)
        total = int(self._scalar(f"SELECT COUNT(*) FROM jobs WHERE {clause}", args))
        order = "DESC" if descending else "ASC"
        rows = self._all(
            f"SELECT * FROM jobs WHERE {clause} ORDER BY created {order}, seq {order} "
            "LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [dict(r) for r in rows], total

    def recover_running(self, reason: str) -> list[str]:
        """Fail jobs left Running by a previous process (see the service docs); their ids.
        With SQLite one process uses the database, so that is every Running job."""
        rows = self._all("SELECT id FROM jobs WHERE status=?", (JOB_RUNNING,))
        ids = [r["id"] for r in rows]
        for job_id in ids:
            self.update_job(
                job_id,
                status=JOB_FAILED,
                reason=reason,
                reason_code=REASON_INTERRUPTED,
                finished=utcnow_iso(),
            )
        return ids

    def usage_seconds(self, instance: str, period: tuple[str, str] | None = None) -> float:
        """Execution time of the jobs of ``instance``, in seconds: all of it, or with
        ``period`` (``(start, end)`` ISO texts as stored, the start of a calendar month and the
        start of the next, see :func:`usage_period_key`) that of the jobs that finished in it,
        deleted jobs included."""
        if period is None:
            jobs = self._scalar(
                "SELECT COALESCE(SUM(exec_ns), 0) FROM jobs WHERE instance=?", (instance,)
            )
            deleted = self._scalar(
                "SELECT COALESCE(SUM(exec_ns), 0) FROM deleted_usage WHERE instance=?",
                (instance,),
            )
        else:
            start, end = period
            jobs = self._scalar(
                "SELECT COALESCE(SUM(exec_ns), 0) FROM jobs "
                "WHERE instance=? AND finished >= ? AND finished < ?",
                (instance, start, end),
            )
            deleted = self._scalar(
                "SELECT COALESCE(SUM(exec_ns), 0) FROM deleted_usage WHERE instance=? AND period=?",
                (instance, usage_period_key(start)),
            )
        return float(int(jobs) + int(deleted)) / 1e9

    # Sessions ---------------------------------------------------------------------------------

    def insert_session(self, **fields: Any) -> None:
        """Insert a session row from its columns."""
        cols = list(fields)
        self._exec(
            f"INSERT INTO sessions({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            list(fields.values()),
        )

    def session(self, session_id: str, instance: str | None = None) -> dict[str, Any] | None:
        """The row of session ``session_id`` (of ``instance``, if given), or None."""
        sql = "SELECT * FROM sessions WHERE id=?"
        args: list[Any] = [session_id]
        if instance is not None:
            sql += " AND instance=?"
            args.append(instance)
        row = self._one(sql, args)
        return dict(row) if row else None

    def update_session(self, session_id: str, **fields: Any) -> None:
        """Write ``fields`` to a session row."""
        sets = ", ".join(f"{k}=?" for k in fields)
        self._exec(f"UPDATE sessions SET {sets} WHERE id=?", [*fields.values(), session_id])

    def update_session_if(
        self, session_id: str, expected: Mapping[str, Any], **fields: Any
    ) -> bool:
        """Write ``fields`` to a session only if its columns still hold ``expected`` (a
        compare-and-set: a change made meanwhile by another thread wins). True if written."""
        sets = ", ".join(f"{k}=?" for k in fields)
        # IS, not =: it compares NULLs (last_job_completed before any job) as equal.
        checks = "".join(f" AND {k} {self._IS} ?" for k in expected)
        return (
            self._exec(
                f"UPDATE sessions SET {sets} WHERE id=?{checks}",
                [*fields.values(), session_id, *expected.values()],
            )
            > 0
        )

    def sessions_due(self, now: str, *, limit: int) -> list[dict[str, Any]]:
        """Sessions not closed that may have a time-driven transition due at ``now`` (ISO
        text), oldest first, at most ``limit``: past their ``max_ttl``; not accepting jobs
        with none pending; active with nothing pending and idle beyond ``interactive_ttl``.
        A superset: the caller decides (:func:`~.sessions.session_at`)."""
        idle = (
            "NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.session_id = sessions.id "
            f"AND jobs.status IN {_PENDING})"
        )
        rows = self._all(
            "SELECT * FROM sessions WHERE state IN (?, ?, ?) AND ("
            f"{self._time_plus('created', 'max_ttl')} <= {self._time('?')}"
            f" OR (accepting = 0 AND {idle})"
            " OR (state = ? AND last_job_completed IS NOT NULL"
            f" AND {self._time_plus('last_job_completed', 'interactive_ttl')}"
            f" < {self._time('?')}"
            f" AND {idle})"
            ") ORDER BY created, id LIMIT ?",
            [
                SESSION_OPEN,
                SESSION_ACTIVE,
                SESSION_INACTIVE,
                now,
                *JOB_PENDING_STATES,
                SESSION_ACTIVE,
                now,
                *JOB_PENDING_STATES,
                limit,
            ],
        )
        return [dict(r) for r in rows]

    def session_jobs(self, session_id: str, statuses: Sequence[str]) -> list[str]:
        """The ids of the jobs of a session whose status is one of ``statuses``."""
        rows = self._all(
            f"SELECT id FROM jobs WHERE session_id=? AND status IN "
            f"({', '.join('?' * len(statuses))})",
            [session_id, *statuses],
        )
        return [r["id"] for r in rows]
