"""The store on both engines: claim order and routing, exactly-once finish, leases (heartbeat, takeover),
steering, migrations, and worker processes (one killed holding a job) sharing one queue.

Every test runs on SQLite (a file in tmp_path) and on PostgreSQL (a fresh database on the test server).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence
from urllib.parse import urlparse

import pytest

from director.errors import BadInput, DirectorError
from director.lease import Heartbeat
from director.store import Store, open_store
from director.store_engine import engine_for, redact_url
from director.store_schema import MIGRATIONS, SCHEMA_VERSION
from tests.missing import missing
from tests.queueworker import run_row

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(store_url):
    store = open_store(store_url)
    yield store
    store.close()


def jobs(count: int, device: str = "board", benches: Sequence = (None,)) -> List[Dict]:
    return [{"key": f"{device}/j{i:03d}", "device": device, "model_path": f"m{i % 2}.onnx", "runtime": "onnx",
             "bench": benches[i % len(benches)]} for i in range(count)]


def new_sweep(store: Store, job_list: List[Dict], max_attempts: int = 3, sweep_id: str = "s1") -> str:
    store.create_sweep(sweep_id, "night", "/specs/night.toml", {"name": "night"}, "/results/night", job_list,
                       max_attempts)
    return sweep_id


def test_claims_follow_the_queue_order_and_routing(store):
    sweep = new_sweep(store, jobs(4) + jobs(2, device="other") + jobs(6, device="routed", benches=(None, "a", "b")))
    assert [store.claim(sweep, "board", "w").key for _ in range(4)] == [f"board/j{i:03d}" for i in range(4)]
    assert store.claim(sweep, "board", "w") is None
    assert store.claim(sweep, "other", "w").key == "other/j000"
    on_a = [store.claim(sweep, "routed", "wa", bench="a") for _ in range(5)]
    assert [c.key for c in on_a if c] == ["routed/j000", "routed/j001", "routed/j003", "routed/j004"]
    assert [store.claim(sweep, "routed", "any").key for _ in range(2)] == ["routed/j002", "routed/j005"]
    assert {j.key: j.bench for j in store.jobs(sweep, "routed")}["routed/j005"] == "b"


def test_a_pools_jobs_go_to_boards_carrying_its_tag_and_a_board_keeps_its_own(store):
    pool = [{**job, "tag": "orin"} for job in jobs(3, device="orins")]
    own = {**jobs(1, device="orins")[0], "key": "orins/own"}
    sweep = new_sweep(store, pool + jobs(1, device="nano1") + [own])
    assert store.claim(sweep, "pi5", "w", tags=("pi",)) is None
    assert store.next_wake_ns(sweep, "pi5", tags=("pi",)) is None
    assert store.next_wake_ns(sweep, "agx1", tags=("orin",)) == 0
    first = store.claim(sweep, "agx1", "w1", tags=("orin", "agx"))
    second = store.claim(sweep, "nano1", "w2", tags=("orin",))  # its own job comes later in the queue
    assert (first.key, first.board, second.key, second.board) == ("orins/j000", "agx1", "orins/j001", "nano1")
    assert store.claim(sweep, "agx1", "w1", tags=("orin",)).key == "orins/j002"
    assert store.claim(sweep, "nano1", "w2", tags=("orin",)).key == "nano1/j000"
    # A board named like a pool does not take the pool's jobs by its name, only its own.
    assert store.claim(sweep, "orins", "w3").key == "orins/own" and store.claim(sweep, "orins", "w3") is None
    assert [j.board for j in store.jobs(sweep)] == ["agx1", "nano1", "agx1", "nano1", "orins"]
    assert [j.tag for j in store.jobs(sweep)] == ["orin", "orin", "orin", None, None]


def test_a_job_is_finished_once_with_its_run_in_the_same_transaction(store):
    sweep = new_sweep(store, jobs(1))
    claim = store.claim(sweep, "board", "w1")
    assert (claim.attempt, claim.owner, store.counts(sweep)["running"]) == (1, "w1", 1)
    row = run_row(sweep, claim.key, claim.attempt, "board")
    assert store.finish(claim, "done", "done", run=row)
    assert not store.finish(claim, "done", "done", run={**row, "run_id": "second"})
    assert [a["outcome"] for a in store.attempts(sweep)] == ["done"]
    assert [r.run_id for r in store.list()] == [row["run_id"]]
    (job,) = store.jobs(sweep)
    assert (job.state, job.lease_owner, job.lease_expires_ns) == ("done", None, None)


def test_an_expired_lease_is_taken_over_and_the_old_finish_refused(store):
    sweep = new_sweep(store, jobs(2))
    old = store.claim(sweep, "board", "host-a:1", lease_s=0.3)
    assert store.claim(sweep, "board", "host-b:2", lease_s=0.3).key == "board/j001"  # the held one is skipped
    (held,) = [j for j in store.jobs(sweep) if j.key == old.key]
    assert held.lease_owner == "host-a:1" and store.next_wake_ns(sweep, "board") == held.lease_expires_ns
    time.sleep(0.35)
    new = store.claim(sweep, "board", "host-c:3")
    assert (new.key, new.attempt) == (old.key, 2)
    assert not store.heartbeat(old)
    assert not store.finish(old, "done", "done", run=run_row(sweep, old.key, old.attempt, "board"))
    assert store.finish(new, "done", "done", run=run_row(sweep, new.key, new.attempt, "board"))
    lost, done = store.attempts(sweep, old.key)
    assert (lost["outcome"], lost["owner"], done["outcome"], done["owner"]) == ("lost", "host-a:1", "done", "host-c:3")
    assert "host-a:1" in lost["reason"] and lost["ended_ns"] is not None
    assert [r.run_id for r in store.list()] == [f"{sweep}/{old.key}/2"]


def test_a_heartbeat_keeps_the_lease(store):
    sweep = new_sweep(store, jobs(1))
    claim = store.claim(sweep, "board", "w1", lease_s=0.3)
    for _ in range(6):
        time.sleep(0.1)
        assert store.heartbeat(claim)
        assert store.claim(sweep, "board", "w2") is None
    assert store.finish(claim, "done", "done")
    assert store.next_wake_ns(sweep, "board") is None


def test_the_heartbeat_thread_renews_the_lease_and_tells_when_the_job_is_gone(store):
    sweep = new_sweep(store, jobs(1))
    claim = store.claim(sweep, "board", "w1", lease_s=0.3)
    lost: List[str] = []
    with Heartbeat(store, claim, on_lost=lost.append) as beat:
        time.sleep(0.5)
        assert store.claim(sweep, "board", "w2") is None  # renewed past its first 0.3 s
        store.interrupted(store.running(sweep)[0], "put back by hand")
        time.sleep(0.25)
    assert beat.lost and lost == [f"lease lost: attempt 1 of {claim.key} was taken over by another worker"]


def test_a_lost_attempt_counts_and_the_last_try_fails_the_job(store):
    sweep = new_sweep(store, jobs(2), max_attempts=1)
    store.claim(sweep, "board", "dead", lease_s=0.05)
    time.sleep(0.1)
    assert store.claim(sweep, "board", "alive").key == "board/j001"
    (failed, _) = store.jobs(sweep)
    assert (failed.state, failed.attempts) == ("failed", 1)
    assert failed.reason == "worker dead lost (after 1 attempts)"
    assert store.retry_failed(sweep, 1) == 1
    assert store.claim(sweep, "board", "alive").attempt == 2


def test_fail_pending_cancel_and_interrupted(store):
    sweep = new_sweep(store, jobs(6))
    running = store.claim(sweep, "board", "w")  # m0.onnx, not pending: left alone
    assert store.fail_pending(sweep, "corrupt model", model_path="m0.onnx") == ["board/j002", "board/j004"]
    with pytest.raises(ValueError):
        store.fail_pending(sweep, "no", state="done")
    (job,) = store.running(sweep)
    store.interrupted(job, "the director stopped")
    assert [j.state for j in store.jobs(sweep)][0] == "pending" and not store.heartbeat(running)
    assert store.jobs(sweep)[0].max_attempts == 4  # an interrupted attempt does not use up a try
    assert store.cancel_pending(sweep) == 4
    assert store.counts(sweep) == {"pending": 0, "running": 0, "done": 0, "failed": 2, "invalid": 0, "cancelled": 4}
    assert store.retry_failed(sweep, 2) == 2 and store.counts(sweep)["pending"] == 2


def test_runs_sweeps_and_prefixes(store):
    new_sweep(store, jobs(1), sweep_id="night-20260101T000000Z")
    store.set_sweep_state("night-20260101T000000Z", "paused", "by hand")
    assert store.mark_started("night-20260101T000000Z") > 0
    sweep = store.sweep("night")
    assert (sweep.state, sweep.note, sweep.spec) == ("paused", "by hand", {"name": "night"})
    store.add({**run_row("s", "k", 1, "board"), "run_id": "20260101-board-ab", "energy_j": 1.25,
               "conformant": True, "p90_latency_ns": 1 << 40})
    store.add({**run_row("s", "k", 1, "board"), "run_id": "20260101-board-ab", "energy_j": 2.5})  # replaced
    row = store.get("20260101-board")
    assert (row.get("energy_j"), store.list(device="other")) == (2.5, [])
    with pytest.raises(BadInput, match="no run"):
        store.get("nothing")


def v2_database(url: str) -> None:
    """A database as a schema-v2 director left it: a job running under a director that died, one pending."""
    engine = engine_for(url)

    def build(db) -> None:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        for number in (1, 2):
            for statement in MIGRATIONS[number]:
                if url.startswith("sqlite:"):  # the v2 director's very text: its types, not PostgreSQL's widths
                    statement = statement.replace("BIGINT", "INTEGER").replace("DOUBLE PRECISION", "REAL")
                db.execute(statement)
        db.execute("INSERT INTO meta VALUES ('schema_version', '2')")
        db.execute("INSERT INTO sweeps VALUES ('old', 'old', 'p', '{}', 'r', 1, NULL, 'active', '')")
        for seq, state in enumerate(("running", "pending")):
            db.execute("INSERT INTO jobs (sweep_id, key, seq, device, model_path, runtime, job_json, state, attempts, "
                       "max_attempts, updated_ns) VALUES ('old', ?, ?, 'board', 'm', 'onnx', '{}', ?, ?, 3, 1)",
                       (f"k{seq}", seq, state, 1 if state == "running" else 0))
        db.execute("INSERT INTO attempts (sweep_id, key, attempt, owner, started_ns, outcome) "
                   "VALUES ('old', 'k0', 1, 'oldhost:42', 1, 'running')")

    engine.write(build)
    engine.close()


def test_a_v2_database_migrates_to_v4(store_url):
    v2_database(store_url)
    store = open_store(store_url)
    try:
        assert store._engine.read("SELECT value FROM meta")[0][0] == str(SCHEMA_VERSION) == "4"
        running, pending = store.jobs("old")
        assert (running.lease_owner, running.lease_expires_ns, pending.lease_owner, pending.bench, pending.tag) == \
            ("oldhost:42", 0, None, None, None)
        claim = store.claim("old", "board", "new:1")
        assert (claim.key, claim.attempt, claim.board) == ("k0", 2, "board")
        assert [(a["outcome"], a["board"]) for a in store.attempts("old", "k0")] == [("lost", None), ("running", "board")]
    finally:
        store.close()
    open_store(store_url).close()  # opening a current database again changes nothing


def test_a_newer_schema_is_refused(store_url):
    open_store(store_url).close()
    engine = engine_for(store_url)
    engine.write(lambda db: db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    engine.close()
    with pytest.raises(DirectorError, match="schema version 99; this director knows up to 4"):
        open_store(store_url)


def test_bad_urls_are_one_clear_line(tmp_path):
    with pytest.raises(BadInput, match=r"^results database URL 'mysql://u:\*\*\*@h/db': use sqlite"):
        open_store("mysql://u:secret@h/db")
    with pytest.raises(BadInput, match="names no file"):
        open_store("sqlite://")
    assert redact_url("postgresql://lab@db/q?password=pw&sslmode=require") == \
        "postgresql://lab@db/q?password=***&sslmode=require"
    assert redact_url("sqlite:///results/results.db") == "sqlite:///results/results.db"
    if importlib.util.find_spec("psycopg") is None:
        missing("psycopg not installed (pip install 'psycopg[binary]>=3.1')")
    with pytest.raises(DirectorError) as error:
        open_store(f"postgresql://u:secret@/db?host={tmp_path}&connect_timeout=2")
    message = str(error.value)
    assert message.startswith("cannot open results database postgresql://u:***@/db") and "\n" not in message
    assert "secret" not in message


def test_worker_processes_run_every_job_once_and_take_over_a_killed_one(store_url, store):
    """Five workers on one queue (60 jobs, two benches and any); one is SIGKILLed while it holds a job."""
    lease_s = 1.0
    sweep = new_sweep(store, jobs(60, benches=(None, "a", "b")))
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def worker(owner: str, bench: str, *extra: str) -> subprocess.Popen:
        command = [sys.executable, "-m", "tests.queueworker", store_url, sweep, owner, "--bench", bench,
                   "--job-ms", "20", "--lease-s", str(lease_s), *extra]
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)

    victim = worker("victim", "a", "--hang-after", "2")
    workers = [worker(f"w{i}", "ab"[i % 2]) for i in range(4)]
    hanging = json.loads(victim.stdout.readline())
    victim.send_signal(signal.SIGKILL)
    killed_ns = time.time_ns()
    victim.wait(10)
    reports = [json.loads(w.communicate(timeout=45)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)

    attempts = store.attempts(sweep)
    done = Counter(a["key"] for a in attempts if a["outcome"] == "done")
    assert set(done) == {j["key"] for j in jobs(60)} and set(done.values()) == {1}
    assert store.counts(sweep)["done"] == 60 and sum(r["done"] for r in reports) == 60 - 2
    assert len(store.list(limit=1000)) == 60  # one result row per job
    benches = {j.key: j.bench for j in store.jobs(sweep)}
    for a in attempts:
        owner_bench = "a" if a["owner"] == "victim" else "ab"[int(a["owner"][1]) % 2]
        assert benches[a["key"]] in (None, owner_bench), a
    lost, again = store.attempts(sweep, hanging["hanging"])
    assert (lost["owner"], lost["outcome"], again["outcome"], again["attempt"]) == ("victim", "lost", "done", 2)
    takeover_s = (again["started_ns"] - killed_ns) / 1e9
    assert 0 < takeover_s < lease_s + 2.0


def test_a_lost_postgresql_connection_fails_one_call_and_the_next_reconnects(pg_server):
    import psycopg

    url = pg_server.create_database()
    store = open_store(url)
    try:
        sweep = new_sweep(store, jobs(2))
        database = urlparse(url).path.lstrip("/")
        with psycopg.connect(pg_server.url(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        with pytest.raises(DirectorError, match=r"^cannot (read|write to) results database postgresql://edgepower@/"):
            store.claim(sweep, "board", "w")
        assert store.claim(sweep, "board", "w").key == "board/j000"
    finally:
        store.close()
