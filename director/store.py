"""The results database behind a URL (sqlite:///path today, PostgreSQL later): runs, and the sweep queue.

A run's row holds the figures people sort and compare by; everything else stays in the run's folder
(run.json), which the row points to. A sweep is a queue of jobs (pending → running → done | failed |
invalid | cancelled), each with its attempts and their reasons. Every state change is one transaction,
and a job becomes done only from the attempt that is running it, so it is done exactly once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence
from urllib.parse import urlparse

from director.errors import BadInput, DirectorError

SCHEMA_VERSION = 2

COLUMNS = (
    ("run_id", "TEXT PRIMARY KEY"),
    ("started_ns", "INTEGER NOT NULL"),
    ("device", "TEXT NOT NULL"),
    ("model", "TEXT NOT NULL"),
    ("model_sha256", "TEXT"),
    ("runtime", "TEXT"),
    ("scenario", "TEXT NOT NULL"),
    ("mode", "TEXT NOT NULL"),
    ("power_mode", "TEXT"),
    ("status", "TEXT NOT NULL"),
    ("conformant", "INTEGER"),
    ("avg_power_w", "REAL"),
    ("energy_j", "REAL"),
    ("energy_per_query_mj", "REAL"),
    ("samples_per_j", "REAL"),
    ("idle_power_w", "REAL"),
    ("p90_latency_ns", "INTEGER"),
    ("qps", "REAL"),
    ("samples_per_s", "REAL"),
    ("folder", "TEXT NOT NULL"),
    ("summary_json", "TEXT NOT NULL"),
)

# Each version's statements, applied in order to bring an older database up to SCHEMA_VERSION.
MIGRATIONS: Dict[int, Sequence[str]] = {
    1: (
        f"CREATE TABLE IF NOT EXISTS runs ({', '.join(f'{name} {kind}' for name, kind in COLUMNS)})",
    ),
    2: (
        """CREATE TABLE IF NOT EXISTS sweeps (
            sweep_id TEXT PRIMARY KEY, name TEXT NOT NULL, spec_path TEXT NOT NULL, spec_json TEXT NOT NULL,
            results TEXT NOT NULL, created_ns INTEGER NOT NULL, started_ns INTEGER, state TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '')""",
        """CREATE TABLE IF NOT EXISTS jobs (
            sweep_id TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, device TEXT NOT NULL,
            model_path TEXT NOT NULL, runtime TEXT NOT NULL, power_mode TEXT, job_json TEXT NOT NULL,
            state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
            not_before_ns INTEGER NOT NULL DEFAULT 0, run_id TEXT, folder TEXT, reason TEXT,
            updated_ns INTEGER NOT NULL, PRIMARY KEY (sweep_id, key))""",
        "CREATE INDEX IF NOT EXISTS jobs_by_device ON jobs (sweep_id, device, state, seq)",
        """CREATE TABLE IF NOT EXISTS attempts (
            sweep_id TEXT NOT NULL, key TEXT NOT NULL, attempt INTEGER NOT NULL, owner TEXT NOT NULL,
            started_ns INTEGER NOT NULL, ended_ns INTEGER, outcome TEXT NOT NULL, reason TEXT,
            run_id TEXT, folder TEXT, phase TEXT, PRIMARY KEY (sweep_id, key, attempt))""",
    ),
}

JOB_STATES = ("pending", "running", "done", "failed", "invalid", "cancelled")
FINAL_STATES = ("done", "failed", "invalid", "cancelled")
SWEEP_STATES = ("active", "paused", "cancelled", "stopped", "finished")


@dataclass(frozen=True)
class RunRow:
    """One stored run; `summary` is the JSON object the row was made from."""

    run_id: str
    started_ns: int
    device: str
    model: str
    scenario: str
    mode: str
    status: str
    folder: str
    summary: Dict[str, Any]

    def get(self, key: str) -> Any:
        """A figure from the summary (None when absent)."""
        return self.summary.get(key)


@dataclass(frozen=True)
class SweepRow:
    """One sweep: its spec (as JSON), its results folder, and whether it is active, paused, ... ."""

    sweep_id: str
    name: str
    spec_path: str
    spec: Dict[str, Any]
    results: str
    created_ns: int
    started_ns: Optional[int]
    state: str
    note: str


@dataclass(frozen=True)
class JobRow:
    """One job of a sweep with its latest attempt's run (run_id, folder) and phase."""

    sweep_id: str
    key: str
    seq: int
    device: str
    job: Dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    not_before_ns: int
    run_id: Optional[str]
    folder: Optional[str]
    reason: Optional[str]
    updated_ns: int
    phase: Optional[str] = None
    attempt_started_ns: Optional[int] = None


@dataclass(frozen=True)
class Claim:
    """A job handed to one worker: the job and the number of this attempt (1-based)."""

    sweep_id: str
    key: str
    attempt: int
    job: Dict[str, Any]


_JOB_SELECT = (
    "SELECT j.sweep_id, j.key, j.seq, j.device, j.job_json, j.state, j.attempts, j.max_attempts, j.not_before_ns, "
    "j.run_id, j.folder, j.reason, j.updated_ns, a.phase, a.started_ns FROM jobs j LEFT JOIN attempts a "
    "ON a.sweep_id = j.sweep_id AND a.key = j.key AND a.attempt = j.attempts"
)
_RUN_SELECT = "SELECT run_id, started_ns, device, model, scenario, mode, status, folder, summary_json FROM runs"


class Store:
    """Runs and sweeps in an SQLite database (WAL mode); safe to share between threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._lock = threading.RLock()
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            # Owner-only: the sweep queue in it is what the runner executes on the boards. SQLite gives its
            # -wal and -shm files the database file's permissions.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except (OSError, sqlite3.Error) as e:
            raise DirectorError(f"cannot open results database {path}: {e}") from e

    def _migrate(self) -> None:
        with self._tx():
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise DirectorError(f"{self.path} has schema version {version}; this director knows up to {SCHEMA_VERSION}")
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number]:
                    self._db.execute(statement)
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    class _Transaction:
        def __init__(self, store: "Store") -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            try:
                self.store._db.execute("BEGIN IMMEDIATE")  # the write lock now, so two claims cannot interleave
            except BaseException:
                self.store._lock.release()
                raise
            return self.store._db

        def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
            try:
                self.store._db.execute("COMMIT" if kind is None else "ROLLBACK")
            finally:
                self.store._lock.release()

    def _tx(self) -> "Store._Transaction":
        return Store._Transaction(self)

    def _read(self, query: str, args: Sequence[Any] = ()) -> List[Any]:
        with self._lock:
            try:
                return self._db.execute(query, list(args)).fetchall()
            except sqlite3.Error as e:
                raise DirectorError(f"cannot read results database {self.path}: {e}") from e

    def _write(self, fn: Any) -> Any:
        try:
            with self._tx() as db:
                return fn(db)
        except sqlite3.Error as e:
            raise DirectorError(f"cannot write to results database {self.path}: {e}") from e

    # -- runs -------------------------------------------------------------------------------------
    def add(self, summary: Mapping[str, Any]) -> None:
        """Insert (or replace) the row of one run from its summary dict (keys named as the columns)."""
        self._write(lambda db: _insert_run(db, summary))

    def list(self, device: Optional[str] = None, limit: int = 50) -> List[RunRow]:
        """The newest runs first, optionally of one device."""
        query, args = _RUN_SELECT, []  # type: str, List[Any]
        if device:
            query += " WHERE device = ?"
            args.append(device)
        return [_run_row(r) for r in self._read(query + " ORDER BY started_ns DESC LIMIT ?", args + [limit])]

    def get(self, run_id: str) -> RunRow:
        """One run by id, or by a unique prefix of its id."""
        rows = self._read(_RUN_SELECT + " WHERE run_id LIKE ? ORDER BY run_id", (run_id.replace("%", "") + "%",))
        if not rows:
            raise BadInput(f"no run {run_id!r} in {self.path}")
        exact = [r for r in rows if r[0] == run_id]
        if len(rows) > 1 and not exact:
            raise BadInput(f"run id {run_id!r} is ambiguous: {', '.join(r[0] for r in rows[:5])}")
        return _run_row(exact[0] if exact else rows[0])

    def __iter__(self) -> Iterator[RunRow]:
        return iter(self.list(limit=1 << 30))

    # -- sweeps -----------------------------------------------------------------------------------
    def create_sweep(self, sweep_id: str, name: str, spec_path: str, spec: Mapping[str, Any], results: str,
                     jobs: Sequence[Mapping[str, Any]], max_attempts: int) -> SweepRow:
        """A new sweep with all its jobs pending, in one transaction."""
        now = time.time_ns()

        def insert(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, NULL, 'active', '')",
                       (sweep_id, name, spec_path, json.dumps(spec, sort_keys=True), results, now))
            db.executemany(
                "INSERT INTO jobs (sweep_id, key, seq, device, model_path, runtime, power_mode, job_json, state, "
                "max_attempts, updated_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                [(sweep_id, job["key"], seq, job["device"], job["model_path"], job["runtime"], job.get("power_mode"),
                  json.dumps(job, sort_keys=True), max_attempts, now) for seq, job in enumerate(jobs)],
            )

        self._write(insert)
        return self.sweep(sweep_id)

    def sweeps(self) -> List[SweepRow]:
        """Every sweep, newest first."""
        return [_sweep_row(r) for r in self._read("SELECT * FROM sweeps ORDER BY created_ns DESC")]

    def sweep(self, ref: str) -> SweepRow:
        """A sweep by id, by a unique prefix of its id, or by name (its newest sweep)."""
        rows = self._read("SELECT * FROM sweeps WHERE sweep_id LIKE ? OR name = ? ORDER BY created_ns DESC",
                          (ref.replace("%", "") + "%", ref))
        exact = [r for r in rows if r[0] == ref] or [r for r in rows if r[1] == ref][:1]
        if not rows:
            raise BadInput(f"no sweep {ref!r} in {self.path}")
        if len(rows) > 1 and not exact:
            raise BadInput(f"sweep {ref!r} is ambiguous: {', '.join(r[0] for r in rows[:5])}")
        return _sweep_row(exact[0] if exact else rows[0])

    def set_sweep_state(self, sweep_id: str, state: str, note: str = "") -> None:
        """Mark a sweep active, paused, cancelled, stopped or finished (with a note saying why)."""
        assert state in SWEEP_STATES, state
        self._write(lambda db: db.execute("UPDATE sweeps SET state = ?, note = ? WHERE sweep_id = ?",
                                          (state, note, sweep_id)))

    def mark_started(self, sweep_id: str) -> int:
        """The sweep's first start (UTC ns), set now if it never ran; the time budget counts from it."""
        now = time.time_ns()
        self._write(lambda db: db.execute("UPDATE sweeps SET started_ns = COALESCE(started_ns, ?) WHERE sweep_id = ?",
                                          (now, sweep_id)))
        return int(self.sweep(sweep_id).started_ns or now)

    def jobs(self, sweep_id: str, device: Optional[str] = None) -> List[JobRow]:
        """The jobs of a sweep in run order, each with its latest attempt's phase."""
        query, args = _JOB_SELECT + " WHERE j.sweep_id = ?", [sweep_id]
        if device:
            query += " AND j.device = ?"
            args.append(device)
        return [_job_row(r) for r in self._read(query + " ORDER BY j.seq", args)]

    def counts(self, sweep_id: str) -> Dict[str, int]:
        """How many jobs are in each state (every state listed, zeros included)."""
        found = dict(self._read("SELECT state, COUNT(*) FROM jobs WHERE sweep_id = ? GROUP BY state", (sweep_id,)))
        return {state: int(found.get(state, 0)) for state in JOB_STATES}

    def attempts(self, sweep_id: str, key: Optional[str] = None) -> List[Dict[str, Any]]:
        """Every attempt (of one job, or of the sweep), oldest first."""
        query, args = "SELECT * FROM attempts WHERE sweep_id = ?", [sweep_id]
        if key:
            query += " AND key = ?"
            args.append(key)
        names = ("sweep_id", "key", "attempt", "owner", "started_ns", "ended_ns", "outcome", "reason", "run_id",
                 "folder", "phase")
        return [dict(zip(names, r)) for r in self._read(query + " ORDER BY started_ns, key, attempt", args)]

    def claim(self, sweep_id: str, device: str, owner: str) -> Optional[Claim]:
        """The device's next pending job whose back-off has passed, now running under a new attempt."""
        now = time.time_ns()

        def take(db: sqlite3.Connection) -> Optional[Claim]:
            row = db.execute(
                "SELECT key, attempts, job_json FROM jobs WHERE sweep_id = ? AND device = ? AND state = 'pending' "
                "AND not_before_ns <= ? ORDER BY seq LIMIT 1", (sweep_id, device, now)).fetchone()
            if row is None:
                return None
            key, attempt = row[0], int(row[1]) + 1
            db.execute("UPDATE jobs SET state = 'running', attempts = ?, updated_ns = ?, reason = NULL "
                       "WHERE sweep_id = ? AND key = ?", (attempt, now, sweep_id, key))
            db.execute("INSERT INTO attempts (sweep_id, key, attempt, owner, started_ns, outcome) "
                       "VALUES (?, ?, ?, ?, ?, 'running')", (sweep_id, key, attempt, owner, now))
            return Claim(sweep_id, key, attempt, json.loads(row[2]))

        return self._write(take)

    def next_wake_ns(self, sweep_id: str, device: str) -> Optional[int]:
        """When the device's earliest pending job (waiting out a back-off) may be claimed; None if none is pending."""
        row = self._read("SELECT MIN(not_before_ns) FROM jobs WHERE sweep_id = ? AND device = ? AND state = 'pending'",
                         (sweep_id, device))
        return None if not row or row[0][0] is None else int(row[0][0])

    def attach_run(self, claim: Claim, run_id: str, folder: str) -> None:
        """Record the run an attempt is measuring before it starts, so a crash can find its folder."""
        def attach(db: sqlite3.Connection) -> None:
            db.execute("UPDATE attempts SET run_id = ?, folder = ? WHERE sweep_id = ? AND key = ? AND attempt = ?",
                       (run_id, folder, claim.sweep_id, claim.key, claim.attempt))
            db.execute("UPDATE jobs SET run_id = ?, folder = ? WHERE sweep_id = ? AND key = ?",
                       (run_id, folder, claim.sweep_id, claim.key))

        self._write(attach)

    def set_phase(self, claim: Claim, phase: str) -> None:
        """The phase the attempt's session is in, for `sweep status` from another process."""
        self._write(lambda db: db.execute(
            "UPDATE attempts SET phase = ? WHERE sweep_id = ? AND key = ? AND attempt = ?",
            (phase, claim.sweep_id, claim.key, claim.attempt)))

    def finish(self, claim: Claim, outcome: str, state: str, reason: Optional[str] = None,
               run: Optional[Mapping[str, Any]] = None, not_before_ns: int = 0) -> bool:
        """End an attempt (outcome) and move its job to `state` (pending for a retry), writing the run's
        row in the same transaction. False when the job was no longer this attempt's (cancelled meanwhile)."""
        assert state in JOB_STATES, state
        now = time.time_ns()

        def end(db: sqlite3.Connection) -> bool:
            db.execute("UPDATE attempts SET outcome = ?, reason = ?, ended_ns = ? WHERE sweep_id = ? AND key = ? "
                       "AND attempt = ? AND outcome = 'running'", (outcome, reason, now, claim.sweep_id, claim.key,
                                                                   claim.attempt))
            moved = db.execute(
                "UPDATE jobs SET state = ?, reason = ?, not_before_ns = ?, updated_ns = ? WHERE sweep_id = ? "
                "AND key = ? AND state = 'running' AND attempts = ?",
                (state, reason, not_before_ns, now, claim.sweep_id, claim.key, claim.attempt)).rowcount
            if run is not None:
                _insert_run(db, run)
            return moved == 1

        return bool(self._write(end))

    def fail_pending(self, sweep_id: str, reason: str, **match: Any) -> List[str]:
        """Fail at once every pending job matching column=value (device, model_path, runtime); their keys."""
        allowed = {"device", "model_path", "runtime", "power_mode", "key"}
        if not match or not set(match) <= allowed:  # column names go into the SQL text: only known ones
            raise ValueError(f"fail_pending matches on {sorted(allowed)}, not {sorted(match)}")
        where = " AND ".join(f"{column} = ?" for column in sorted(match))
        args = [match[column] for column in sorted(match)]

        def fail(db: sqlite3.Connection) -> List[str]:
            keys = [r[0] for r in db.execute(
                f"SELECT key FROM jobs WHERE sweep_id = ? AND state = 'pending' AND {where}",  # noqa: S608 - known columns, values bound
                [sweep_id, *args])]
            db.execute(f"UPDATE jobs SET state = 'failed', reason = ?, updated_ns = ? WHERE sweep_id = ? "  # noqa: S608 - known columns, values bound
                       f"AND state = 'pending' AND {where}", [reason, time.time_ns(), sweep_id, *args])
            return keys

        return self._write(fail)

    def cancel_pending(self, sweep_id: str) -> int:
        """Cancel every pending job of a sweep; how many."""
        return self._write(lambda db: db.execute(
            "UPDATE jobs SET state = 'cancelled', reason = 'sweep cancelled', updated_ns = ? "
            "WHERE sweep_id = ? AND state = 'pending'", (time.time_ns(), sweep_id)).rowcount)

    def retry_failed(self, sweep_id: str, extra_attempts: int) -> int:
        """Put failed jobs back to pending with extra_attempts more tries each; how many."""
        return self._write(lambda db: db.execute(
            "UPDATE jobs SET state = 'pending', max_attempts = attempts + ?, not_before_ns = 0, updated_ns = ? "
            "WHERE sweep_id = ? AND state = 'failed'", (extra_attempts, time.time_ns(), sweep_id)).rowcount)

    def running(self, sweep_id: str) -> List[JobRow]:
        """Jobs marked running (by a live worker, or left so by a director that died)."""
        return [j for j in self.jobs(sweep_id) if j.state == "running"]

    def interrupted(self, job: JobRow, reason: str) -> None:
        """Put a job left running by a dead director back to pending; that attempt does not use up a try."""
        now = time.time_ns()

        def back(db: sqlite3.Connection) -> None:
            db.execute("UPDATE attempts SET outcome = 'interrupted', reason = ?, ended_ns = ? WHERE sweep_id = ? "
                       "AND key = ? AND attempt = ? AND outcome = 'running'",
                       (reason, now, job.sweep_id, job.key, job.attempts))
            db.execute("UPDATE jobs SET state = 'pending', max_attempts = max_attempts + 1, reason = ?, "
                       "updated_ns = ? WHERE sweep_id = ? AND key = ? AND state = 'running'",
                       (reason, now, job.sweep_id, job.key))

        self._write(back)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _insert_run(db: sqlite3.Connection, summary: Mapping[str, Any]) -> None:
    names = [name for name, _ in COLUMNS]
    row = {name: summary.get(name) for name in names}
    row["summary_json"] = json.dumps(dict(summary), sort_keys=True)
    if isinstance(row.get("conformant"), bool):
        row["conformant"] = int(row["conformant"])
    # Column names come from COLUMNS, never from input; values are bound.
    db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",  # noqa: S608
               [row[name] for name in names])


def _run_row(r: Any) -> RunRow:
    return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]))


def _sweep_row(r: Any) -> SweepRow:
    return SweepRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8])


def _job_row(r: Any) -> JobRow:
    return JobRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                  r[13], r[14])


def store_path(url: str) -> str:
    """The database file a URL names (sqlite:///relative/or/absolute/path.db, or a bare path), without
    opening it; BadInput for a URL the store cannot open, so a run can refuse it before it starts."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return parsed.path or url
    if parsed.scheme == "sqlite":
        # sqlite:///results.db is relative, sqlite:////abs/results.db absolute (SQLAlchemy's convention).
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        if not path:
            raise BadInput(f"results database URL {url!r} names no file (expected sqlite:///PATH, such as "
                           "sqlite:///results/results.db)")
        return path
    raise BadInput(f"results database URL {url!r}: only sqlite:/// is supported so far")


def open_store(url: str) -> Store:
    """Open the store a URL names: sqlite:///relative/or/absolute/path.db, or a bare path."""
    return Store(store_path(url))
