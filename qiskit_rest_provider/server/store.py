"""SQLite persistence (WAL) for the local service: jobs, sessions and API keys."""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Store", "utcnow_iso"]

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
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY,
    instances TEXT NOT NULL,
    user_id TEXT NOT NULL
);
"""

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


def utcnow_iso() -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class Store:
    """Thread-safe access to the service's SQLite database."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # Every statement is executed *and its rows fetched* under the lock: the connection is
    # shared by the service's threads, and a cursor read outside the lock races with other
    # threads' statements (on Python 3.13, fetched rows went missing under load: 404s for
    # jobs that existed).

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        with self._lock:
            return self._conn.execute(sql, args).rowcount

    def _one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, args).fetchone()
            return row

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The single value of an aggregate query (which always yields one row)."""
        with self._lock:
            return self._conn.execute(sql, args).fetchone()[0]

    # API keys ---------------------------------------------------------------------------------

    def add_api_key(self, key_hash: str, instances: Iterable[str], user_id: str) -> None:
        self._exec(
            "INSERT OR REPLACE INTO api_keys(key_hash, instances, user_id) VALUES (?,?,?)",
            (key_hash, json.dumps(sorted(instances)), user_id),
        )

    def api_key(self, key_hash: str) -> tuple[list[str], str] | None:
        row = self._one("SELECT * FROM api_keys WHERE key_hash=?", (key_hash,))
        return (json.loads(row["instances"]), row["user_id"]) if row else None

    # Jobs -------------------------------------------------------------------------------------

    def insert_job(self, **fields: Any) -> None:
        cols = [c for c in JOB_COLUMNS if c in fields]
        self._exec(
            f"INSERT INTO jobs({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [fields[c] for c in cols],
        )

    def job(self, job_id: str, instance: str | None = None) -> dict[str, Any] | None:
        if instance is None:
            row = self._one("SELECT * FROM jobs WHERE id=?", (job_id,))
        else:
            row = self._one("SELECT * FROM jobs WHERE id=? AND instance=?", (job_id, instance))
        return dict(row) if row else None

    def update_job(self, job_id: str, *, only_if_status: Sequence[str] = (), **fields: Any) -> bool:
        sets = ", ".join(f"{k}=?" for k in fields)
        args = [*fields.values(), job_id]
        sql = f"UPDATE jobs SET {sets} WHERE id=?"
        if only_if_status:
            sql += f" AND status IN ({', '.join('?' * len(only_if_status))})"
            args.extend(only_if_status)
        return self._exec(sql, args) > 0

    def append_log(self, job_id: str, line: str) -> None:
        self._exec("UPDATE jobs SET logs = logs || ? WHERE id=?", (line + "\n", job_id))

    def delete_job(self, job_id: str) -> None:
        self._exec("DELETE FROM jobs WHERE id=?", (job_id,))

    def next_queued(self, exclude: Iterable[str] = ()) -> dict[str, Any] | None:
        excluded = list(exclude)
        sql = "SELECT * FROM jobs WHERE status='Queued'"
        if excluded:
            sql += f" AND id NOT IN ({', '.join('?' * len(excluded))})"
        row = self._one(sql + " ORDER BY seq LIMIT 1", excluded)
        return dict(row) if row else None

    def count_queued(self, backend: str) -> int:
        return int(
            self._scalar(
                "SELECT COUNT(*) FROM jobs WHERE backend=? AND status IN ('Queued','Running')",
                (backend,),
            )
        )

    def list_jobs(
        self,
        instance: str,
        where: Sequence[str],
        args: Sequence[Any],
        *,
        descending: bool,
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        clause = " AND ".join(["instance=?", *where])
        all_args = [instance, *args]
        total = int(self._scalar(f"SELECT COUNT(*) FROM jobs WHERE {clause}", all_args))
        order = "DESC" if descending else "ASC"
        rows = self._all(
            f"SELECT * FROM jobs WHERE {clause} ORDER BY created {order}, seq {order} "
            "LIMIT ? OFFSET ?",
            [*all_args, limit, offset],
        )
        return [dict(r) for r in rows], total

    def recover_running(self, reason: str) -> list[str]:
        """Fail jobs left Running by a previous process (see the service docs)."""
        rows = self._all("SELECT id FROM jobs WHERE status='Running'")
        ids = [r["id"] for r in rows]
        for job_id in ids:
            self.update_job(
                job_id, status="Failed", reason=reason, reason_code=1520, finished=utcnow_iso()
            )
        return ids

    def usage_seconds(self, instance: str) -> float:
        total = self._scalar(
            "SELECT COALESCE(SUM(exec_ns), 0) FROM jobs WHERE instance=?", (instance,)
        )
        return float(total) / 1e9

    # Sessions ---------------------------------------------------------------------------------

    def insert_session(self, **fields: Any) -> None:
        cols = list(fields)
        self._exec(
            f"INSERT INTO sessions({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            list(fields.values()),
        )

    def session(self, session_id: str, instance: str | None = None) -> dict[str, Any] | None:
        sql = "SELECT * FROM sessions WHERE id=?"
        args: list[Any] = [session_id]
        if instance is not None:
            sql += " AND instance=?"
            args.append(instance)
        row = self._one(sql, args)
        return dict(row) if row else None

    def update_session(self, session_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in fields)
        self._exec(f"UPDATE sessions SET {sets} WHERE id=?", [*fields.values(), session_id])

    def session_jobs(self, session_id: str, statuses: Sequence[str]) -> list[str]:
        rows = self._all(
            f"SELECT id FROM jobs WHERE session_id=? AND status IN "
            f"({', '.join('?' * len(statuses))})",
            [session_id, *statuses],
        )
        return [r["id"] for r in rows]
