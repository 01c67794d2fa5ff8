"""The results database behind a URL (sqlite:///path, the default, or postgresql://...): runs, and the sweep queue.

A run's row holds the figures people sort and compare by; everything else stays in the run's folder
(run.json), which the row points to. A sweep is a queue of jobs (pending → running → done | failed |
invalid | cancelled), each with its attempts and their reasons. Every state change is one transaction.
A running job is leased to its worker, who renews the lease; once it runs out, another worker may take
the job over as a new attempt. A job becomes done only from the attempt that holds it, so it is done
exactly once. The SQL is written once (director.store_engine runs it on either engine).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

from director.errors import BadInput
from director.store_engine import Engine, engine_for
from director.store_schema import COLUMNS, LATER_COLUMNS, migrate

JOB_STATES = ("pending", "running", "done", "failed", "invalid", "cancelled")
FINAL_STATES = ("done", "failed", "invalid", "cancelled")
SWEEP_STATES = ("active", "paused", "cancelled", "stopped", "finished")
LEASE_S = 60.0  # a claim's lease; its worker renews it (heartbeat) well before it runs out


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
    host: Optional[str] = None  # the host whose disk holds folder (None: recorded before schema v4)

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
    """One job of a sweep with its latest attempt's run (run_id, folder), phase and board, and its lease while
    running. tag: the job asks for any board carrying it (device is then the name of that pool)."""

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
    bench: Optional[str] = None
    lease_owner: Optional[str] = None
    lease_expires_ns: Optional[int] = None
    tag: Optional[str] = None
    board: Optional[str] = None


@dataclass(frozen=True)
class Claim:
    """A job handed to one worker: the job, the number of this attempt (1-based), its owner and lease (s), and
    the board that runs it."""

    sweep_id: str
    key: str
    attempt: int
    job: Dict[str, Any]
    owner: str = ""
    lease_s: float = LEASE_S
    board: str = ""


_JOB_SELECT = (
    "SELECT j.sweep_id, j.key, j.seq, j.device, j.job_json, j.state, j.attempts, j.max_attempts, j.not_before_ns, "
    "j.run_id, j.folder, j.reason, j.updated_ns, a.phase, a.started_ns, j.bench, j.lease_owner, j.lease_expires_ns, "
    "j.tag, a.board "
    "FROM jobs j LEFT JOIN attempts a ON a.sweep_id = j.sweep_id AND a.key = j.key AND a.attempt = j.attempts"
)
_RUN_SELECT = "SELECT run_id, started_ns, device, model, scenario, mode, status, folder, summary_json, host FROM runs"
# The jobs one board may run: its own (not a pool's), and those of the pools its tags put it in ({tags}: "?, ?").
_FOR_BOARD = "((j.device = ? AND j.tag IS NULL) OR j.tag IN ({tags}))"
# A job a worker may claim now; the IN term, the jobs_claimable index's own, lets both engines walk it in seq order.
_DUE = ("j.state IN ('pending', 'running') AND ((j.state = 'pending' AND j.not_before_ns <= ?) "
        "OR (j.state = 'running' AND j.lease_expires_ns <= ?))")


class Store:
    """Runs and sweeps in one SQL database (SQLite or PostgreSQL); safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.path = engine.name  # where, for messages (a PostgreSQL URL without its password)
        self.url = engine.url
        migrate(engine)

    # -- runs -------------------------------------------------------------------------------------
    def add(self, summary: Mapping[str, Any]) -> None:
        """Insert (or replace) the row of one run from its summary dict (keys named as the columns)."""
        self._engine.write(lambda db: _insert_run(db, summary))

    def list(self, device: Optional[str] = None, limit: int = 50) -> List[RunRow]:
        """The newest runs first, optionally of one device."""
        query, args = _RUN_SELECT, []  # type: str, List[Any]
        if device:
            query += " WHERE device = ?"
            args.append(device)
        return [_run_row(r) for r in self._engine.read(query + " ORDER BY started_ns DESC LIMIT ?", args + [limit])]

    def get(self, run_id: str) -> RunRow:
        """One run by id, or by a unique prefix of its id."""
        rows = self._engine.read(_RUN_SELECT + " WHERE run_id LIKE ? ORDER BY run_id", (run_id.replace("%", "") + "%",))
        if not rows:
            raise BadInput(f"no run {run_id!r} in {self.path}")
        exact = [r for r in rows if r[0] == run_id]
        if len(rows) > 1 and not exact:
            raise BadInput(f"run id {run_id!r} is ambiguous: {', '.join(r[0] for r in rows[:5])}")
        return _run_row(exact[0] if exact else rows[0])

    def runs_of(self, run_ids: Sequence[str]) -> List[RunRow]:
        """The stored runs among run_ids (any order)."""
        found: List[RunRow] = []
        for start in range(0, len(run_ids), 500):  # bounded statements on both engines
            chunk = list(run_ids[start:start + 500])
            marks = ", ".join("?" for _ in chunk)
            found += [_run_row(r) for r in self._engine.read(f"{_RUN_SELECT} WHERE run_id IN ({marks})", chunk)]  # noqa: S608 - placeholders only
        return found

    def __iter__(self) -> Iterator[RunRow]:
        return iter(self.list(limit=1 << 30))

    # -- sweeps -----------------------------------------------------------------------------------
    def create_sweep(self, sweep_id: str, name: str, spec_path: str, spec: Mapping[str, Any], results: str,
                     jobs: Sequence[Mapping[str, Any]], max_attempts: int) -> SweepRow:
        """A new sweep with all its jobs pending, in one transaction (a job's "bench" and "tag" keys route it)."""
        now = time.time_ns()

        def insert(db: Engine) -> None:
            db.execute("INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, NULL, 'active', '')",
                       (sweep_id, name, spec_path, json.dumps(spec, sort_keys=True), results, now))
            db.executemany(
                "INSERT INTO jobs (sweep_id, key, seq, device, model_path, runtime, power_mode, job_json, state, "
                "max_attempts, updated_ns, bench, tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                [(sweep_id, job["key"], seq, job["device"], job["model_path"], job["runtime"], job.get("power_mode"),
                  json.dumps(job, sort_keys=True), max_attempts, now, job.get("bench"), job.get("tag"))
                 for seq, job in enumerate(jobs)],
            )

        self._engine.write(insert)
        return self.sweep(sweep_id)

    def sweeps(self) -> List[SweepRow]:
        """Every sweep, newest first."""
        return [_sweep_row(r) for r in self._engine.read("SELECT * FROM sweeps ORDER BY created_ns DESC")]

    def sweep(self, ref: str) -> SweepRow:
        """A sweep by id, by a unique prefix of its id, or by name (its newest sweep)."""
        rows = self._engine.read("SELECT * FROM sweeps WHERE sweep_id LIKE ? OR name = ? ORDER BY created_ns DESC",
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
        self._engine.write(lambda db: db.execute("UPDATE sweeps SET state = ?, note = ? WHERE sweep_id = ?",
                                                 (state, note, sweep_id)))

    def mark_started(self, sweep_id: str) -> int:
        """The sweep's first start (UTC ns), set now if it never ran; the time budget counts from it."""
        now = time.time_ns()
        self._engine.write(lambda db: db.execute(
            "UPDATE sweeps SET started_ns = COALESCE(started_ns, ?) WHERE sweep_id = ?", (now, sweep_id)))
        return int(self.sweep(sweep_id).started_ns or now)

    def jobs(self, sweep_id: str, device: Optional[str] = None) -> List[JobRow]:
        """The jobs of a sweep in run order, each with its latest attempt's phase."""
        query, args = _JOB_SELECT + " WHERE j.sweep_id = ?", [sweep_id]
        if device:
            query += " AND j.device = ?"
            args.append(device)
        return [_job_row(r) for r in self._engine.read(query + " ORDER BY j.seq", args)]

    def counts(self, sweep_id: str) -> Dict[str, int]:
        """How many jobs are in each state (every state listed, zeros included)."""
        found = dict(self._engine.read("SELECT state, COUNT(*) FROM jobs WHERE sweep_id = ? GROUP BY state", (sweep_id,)))
        return {state: int(found.get(state, 0)) for state in JOB_STATES}

    def attempts(self, sweep_id: str, key: Optional[str] = None) -> List[Dict[str, Any]]:
        """Every attempt (of one job, or of the sweep), oldest first."""
        query, args = "SELECT * FROM attempts WHERE sweep_id = ?", [sweep_id]
        if key:
            query += " AND key = ?"
            args.append(key)
        names = ("sweep_id", "key", "attempt", "owner", "started_ns", "ended_ns", "outcome", "reason", "run_id",
                 "folder", "phase", "board")
        return [dict(zip(names, r)) for r in self._engine.read(query + " ORDER BY started_ns, key, attempt", args)]

    # -- the queue --------------------------------------------------------------------------------
    def claim(self, sweep_id: str, device: str, owner: str, lease_s: float = LEASE_S,
              bench: Optional[str] = None, tags: Sequence[str] = ()) -> Optional[Claim]:
        """The next job board `device` may run, now running under a new attempt leased to owner for lease_s.

        Its jobs are those naming it and those of the pools its tags put it in. That is a pending job whose
        back-off has passed, or a running one whose lease ran out: its attempt becomes `lost` and counts as
        a try (with no try left, the job fails and the next is looked at). With bench, only jobs routed to
        that bench or to any. On PostgreSQL the job's row is locked and rows other workers hold are
        skipped; SQLite serializes the whole transaction."""
        routed, routed_args = ("", []) if bench is None else (" AND (j.bench IS NULL OR j.bench = ?)", [bench])
        query = ("SELECT j.key, j.state, j.attempts, j.max_attempts, j.lease_owner, j.job_json FROM jobs j WHERE "  # noqa: S608 - fixed text, values bound
                 f"j.sweep_id = ? AND {_for_board(tags)} AND {_DUE}{routed} ORDER BY j.seq LIMIT 1"
                 f"{self._engine.lock_rows}")

        def take(db: Engine) -> Optional[Claim]:
            now = time.time_ns()
            while True:
                row = db.execute(query, [sweep_id, device, *tags, now, now, *routed_args]).fetchone()
                if row is None:
                    return None
                key, state, attempts, max_attempts, old_owner, job_json = row
                if state == "running":
                    reason = f"worker {old_owner} stopped renewing its lease; taken over by {owner}"
                    db.execute("UPDATE attempts SET outcome = 'lost', reason = ?, ended_ns = ? WHERE sweep_id = ? "
                               "AND key = ? AND attempt = ? AND outcome = 'running'", (reason, now, sweep_id, key, attempts))
                    if attempts >= max_attempts:
                        db.execute("UPDATE jobs SET state = 'failed', reason = ?, lease_owner = NULL, lease_expires_ns = "
                                   "NULL, updated_ns = ? WHERE sweep_id = ? AND key = ?",
                                   (f"worker {old_owner} lost (after {attempts} attempts)", now, sweep_id, key))
                        continue
                db.execute("UPDATE jobs SET state = 'running', attempts = ?, updated_ns = ?, reason = NULL, lease_owner = ?, "
                           "lease_expires_ns = ? WHERE sweep_id = ? AND key = ?",
                           (attempts + 1, now, owner, now + int(lease_s * 1e9), sweep_id, key))
                db.execute("INSERT INTO attempts (sweep_id, key, attempt, owner, started_ns, outcome, board) "
                           "VALUES (?, ?, ?, ?, ?, 'running', ?)", (sweep_id, key, attempts + 1, owner, now, device))
                return Claim(sweep_id, key, attempts + 1, json.loads(job_json), owner, lease_s, device)

        return self._engine.write(take)

    def heartbeat(self, claim: Claim) -> bool:
        """Renew the claim's lease for another claim.lease_s; False when the job is no longer this attempt's."""
        now = time.time_ns()
        return self._engine.write(lambda db: db.execute(
            "UPDATE jobs SET lease_expires_ns = ? WHERE sweep_id = ? AND key = ? AND state = 'running' AND attempts = ?",
            (now + int(claim.lease_s * 1e9), claim.sweep_id, claim.key, claim.attempt)).rowcount) == 1

    def next_wake_ns(self, sweep_id: str, device: str, bench: Optional[str] = None,
                     tags: Sequence[str] = ()) -> Optional[int]:
        """When board `device` may next have a job to claim (see claim): the earliest back-off of a pending
        job, or the end of a lease another worker holds (it may die); None when nothing is pending or running."""
        query = ("SELECT MIN(CASE WHEN j.state = 'pending' THEN j.not_before_ns ELSE j.lease_expires_ns END) "  # noqa: S608 - fixed text, values bound
                 f"FROM jobs j WHERE j.sweep_id = ? AND {_for_board(tags)} AND (j.state = 'pending' OR "
                 "(j.state = 'running' AND j.lease_expires_ns IS NOT NULL))")
        args = [sweep_id, device, *tags]
        if bench is not None:
            query += " AND (j.bench IS NULL OR j.bench = ?)"
            args.append(bench)
        row = self._engine.read(query, args)
        return None if not row or row[0][0] is None else int(row[0][0])

    def attach_run(self, claim: Claim, run_id: str, folder: str) -> None:
        """Record the run an attempt is measuring before it starts, so a crash can find its folder."""
        def attach(db: Engine) -> None:
            db.execute("UPDATE attempts SET run_id = ?, folder = ? WHERE sweep_id = ? AND key = ? AND attempt = ?",
                       (run_id, folder, claim.sweep_id, claim.key, claim.attempt))
            db.execute("UPDATE jobs SET run_id = ?, folder = ? WHERE sweep_id = ? AND key = ? AND attempts = ?",
                       (run_id, folder, claim.sweep_id, claim.key, claim.attempt))

        self._engine.write(attach)

    def set_phase(self, claim: Claim, phase: str) -> None:
        """The phase the attempt's session is in, for `sweep status` from another process."""
        self._engine.write(lambda db: db.execute(
            "UPDATE attempts SET phase = ? WHERE sweep_id = ? AND key = ? AND attempt = ?",
            (phase, claim.sweep_id, claim.key, claim.attempt)))

    def finish(self, claim: Claim, outcome: str, state: str, reason: Optional[str] = None,
               run: Optional[Mapping[str, Any]] = None, not_before_ns: int = 0) -> bool:
        """End an attempt (outcome) and move its job to `state` (pending for a retry), writing the run's
        row in the same transaction. False, and nothing written, when the job is no longer this
        attempt's (taken over after its lease ran out, or put back by a resuming director)."""
        assert state in JOB_STATES, state
        now = time.time_ns()

        def end(db: Engine) -> bool:
            moved = db.execute(
                "UPDATE jobs SET state = ?, reason = ?, not_before_ns = ?, updated_ns = ?, lease_owner = NULL, "
                "lease_expires_ns = NULL WHERE sweep_id = ? AND key = ? AND state = 'running' AND attempts = ?",
                (state, reason, not_before_ns, now, claim.sweep_id, claim.key, claim.attempt)).rowcount
            if moved != 1:
                return False
            db.execute("UPDATE attempts SET outcome = ?, reason = ?, ended_ns = ? WHERE sweep_id = ? AND key = ? "
                       "AND attempt = ? AND outcome = 'running'", (outcome, reason, now, claim.sweep_id, claim.key,
                                                                   claim.attempt))
            if run is not None:
                _insert_run(db, run)
            return True

        return bool(self._engine.write(end))

    def fail_pending(self, sweep_id: str, reason: str, **match: Any) -> List[str]:
        """Fail at once every pending job matching column=value (device, model_path, runtime); their keys."""
        allowed = {"device", "model_path", "runtime", "power_mode", "key"}
        if not match or not set(match) <= allowed:  # column names go into the SQL text: only known ones
            raise ValueError(f"fail_pending matches on {sorted(allowed)}, not {sorted(match)}")
        where = " AND ".join(f"j.{column} = ?" for column in sorted(match))
        args = [match[column] for column in sorted(match)]

        def fail(db: Engine) -> List[str]:
            keys = [r[0] for r in db.execute(
                f"SELECT j.key FROM jobs j WHERE j.sweep_id = ? AND j.state = 'pending' AND {where} "  # noqa: S608 - known columns, values bound
                f"ORDER BY j.seq{db.lock_rows}", [sweep_id, *args]).fetchall()]
            db.executemany("UPDATE jobs SET state = 'failed', reason = ?, updated_ns = ? WHERE sweep_id = ? AND key = ? "
                           "AND state = 'pending'", [(reason, time.time_ns(), sweep_id, key) for key in keys])
            return keys

        return self._engine.write(fail)

    def cancel_pending(self, sweep_id: str) -> int:
        """Cancel every pending job of a sweep; how many."""
        return self._engine.write(lambda db: db.execute(
            "UPDATE jobs SET state = 'cancelled', reason = 'sweep cancelled', updated_ns = ? "
            "WHERE sweep_id = ? AND state = 'pending'", (time.time_ns(), sweep_id)).rowcount)

    def retry_failed(self, sweep_id: str, extra_attempts: int) -> int:
        """Put failed jobs back to pending with extra_attempts more tries each; how many."""
        return self._engine.write(lambda db: db.execute(
            "UPDATE jobs SET state = 'pending', max_attempts = attempts + ?, not_before_ns = 0, updated_ns = ? "
            "WHERE sweep_id = ? AND state = 'failed'", (extra_attempts, time.time_ns(), sweep_id)).rowcount)

    def running(self, sweep_id: str) -> List[JobRow]:
        """Jobs marked running (by a live worker, or left so by a director that died)."""
        return [j for j in self.jobs(sweep_id) if j.state == "running"]

    def interrupted(self, job: JobRow, reason: str) -> None:
        """Put a job left running by a dead director back to pending; that attempt does not use up a try."""
        now = time.time_ns()

        def back(db: Engine) -> None:
            db.execute("UPDATE attempts SET outcome = 'interrupted', reason = ?, ended_ns = ? WHERE sweep_id = ? "
                       "AND key = ? AND attempt = ? AND outcome = 'running'",
                       (reason, now, job.sweep_id, job.key, job.attempts))
            db.execute("UPDATE jobs SET state = 'pending', max_attempts = max_attempts + 1, reason = ?, lease_owner = "
                       "NULL, lease_expires_ns = NULL, updated_ns = ? WHERE sweep_id = ? AND key = ? AND state = "
                       "'running' AND attempts = ?", (reason, now, job.sweep_id, job.key, job.attempts))

        self._engine.write(back)

    def close(self) -> None:
        """Close the database."""
        self._engine.close()


def _for_board(tags: Sequence[str]) -> str:
    if not tags:  # the board's own jobs only: the plain term lets both engines walk the jobs_claimable index
        return "(j.device = ? AND j.tag IS NULL)"
    return _FOR_BOARD.format(tags=", ".join("?" for _ in tags))


def _insert_run(db: Engine, summary: Mapping[str, Any]) -> None:
    names = [name for name, _ in COLUMNS + LATER_COLUMNS]
    row = {name: summary.get(name) for name in names}
    row["summary_json"] = json.dumps(dict(summary), sort_keys=True)
    if isinstance(row.get("conformant"), bool):
        row["conformant"] = int(row["conformant"])
    # Column names come from COLUMNS, never from input; values are bound.
    db.execute(f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "  # noqa: S608
               f"ON CONFLICT (run_id) DO UPDATE SET {', '.join(f'{n} = excluded.{n}' for n in names[1:])}",
               [row[name] for name in names])


def _run_row(r: Any) -> RunRow:
    return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]), r[9])


def _sweep_row(r: Any) -> SweepRow:
    return SweepRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8])


def _job_row(r: Any) -> JobRow:
    return JobRow(r[0], r[1], r[2], r[3], json.loads(r[4]), *r[5:])


def open_store(url: str) -> Store:
    """Open (creating or migrating) the store a URL names: sqlite:///path.db, a bare path, or postgresql://..."""
    return Store(engine_for(url))
