"""The shared sweep queue: many worker processes on one store, one of them killed while it holds a job.

    ./task bench queue [--workers 12] [--jobs-per-worker 300] [--job-ms 5] [--lease-s 2] [--store URL] [--pool]

--workers processes (tests/queueworker.py) share one queue of workers × jobs-per-worker short jobs:
each claims a job (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL), sleeps --job-ms, and finishes
it with a result row in the same transaction. One worker is SIGKILLed while it holds a job, a third
of the way in; after its lease runs out another worker takes the job over. Without --store, a
PostgreSQL server is started from Debian's packages for the run (tests/pgserver.py); --store sqlite
uses a temporary SQLite file instead, for comparison, and any sqlite:/// or postgresql:// URL works.

Prints one JSON line per worker, then the summary: duplicates (jobs done more than once, and result
rows beyond one per job; target 0), lost (jobs never done; target 0), median and p99 claim latency
(ms), the takeover time after the kill (s, bounded below by what was left of the lease), throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import List

from director.store import open_store

REPO = Path(__file__).resolve().parent.parent


def emit(**fields: object) -> None:
    print(json.dumps({"bench": "queue", **fields}), flush=True)


def percentile(values: List[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(url: str, engine: str, args: argparse.Namespace) -> None:
    total = args.workers * args.jobs_per_worker
    store = open_store(url)
    sweep = f"bench-queue-{time.time_ns()}"
    # One board's queue, or (--pool) a pool's: each worker a board of its own carrying the pool's tag.
    pool = {"device": "pool", "tag": "pool"} if args.pool else {"device": "board"}
    jobs = [{"key": f"j{i:05d}", **pool, "model_path": "noop", "runtime": "none"} for i in range(total)]
    store.create_sweep(sweep, "bench-queue", "-", {}, "-", jobs, 3)
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def worker(owner: str, *extra: str) -> subprocess.Popen:
        board = ["--device", f"board-{owner}", "--tag", "pool"] if args.pool else []
        command = [sys.executable, "-m", "tests.queueworker", url, sweep, owner, "--job-ms", str(args.job_ms),
                   "--lease-s", str(args.lease_s), *board, *extra]
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603 - our own interpreter and module

    started = time.monotonic()
    victim = worker("w00-killed", "--hang-after", str(args.jobs_per_worker // 3))
    workers = [worker(f"w{i:02d}") for i in range(1, args.workers)]
    try:
        hanging = json.loads(victim.stdout.readline())
        victim.send_signal(signal.SIGKILL)
        killed_ns = time.time_ns()
        victim.wait(10)
        reports = [json.loads(w.communicate(timeout=600)[0]) for w in workers]
    finally:
        for process in [victim, *workers]:
            if process.poll() is None:
                process.kill()
                process.wait()
    wall_s = time.monotonic() - started
    claim_ms = [ms for report in reports for ms in report["claim_ms"]]
    for report in reports:
        emit(worker=report["owner"], done=report["done"], refused=report["refused"],
             median_claim_ms=round(statistics.median(report["claim_ms"]), 3))
    attempts = store.attempts(sweep)
    done = Counter(a["key"] for a in attempts if a["outcome"] == "done")
    results = sum(1 for r in store.list(limit=1 << 30) if r.run_id.startswith(f"{sweep}/"))
    taken = [a for a in store.attempts(sweep, hanging["hanging"]) if a["attempt"] == 2]
    emit(summary=True, engine=engine, pool=args.pool, workers=args.workers, jobs=total, job_ms=args.job_ms, lease_s=args.lease_s,
         duplicates=sum(n - 1 for n in done.values() if n > 1), duplicate_results=max(0, results - len(done)),
         lost=total - len(done), lost_attempts=sum(1 for a in attempts if a["outcome"] == "lost"),
         median_claim_ms=round(statistics.median(claim_ms), 3), p99_claim_ms=round(percentile(claim_ms, 0.99), 3),
         takeover_s=round((taken[0]["started_ns"] - killed_ns) / 1e9, 3) if taken else None,
         taken_over_by=taken[0]["owner"] if taken else None, wall_s=round(wall_s, 2),
         jobs_per_s=round(total / wall_s, 1))
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="./task bench queue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--jobs-per-worker", type=int, default=300)
    parser.add_argument("--job-ms", type=float, default=5.0)
    parser.add_argument("--lease-s", type=float, default=2.0)
    parser.add_argument("--store", default=None, help="a store URL, or `sqlite` for a temporary SQLite file "
                                                      "(default: a PostgreSQL server started for the run)")
    parser.add_argument("--pool", action="store_true", help="the jobs are a pool's; each worker claims for a board "
                        "of its own carrying the pool's tag")
    args = parser.parse_args()
    if args.store and args.store != "sqlite":
        run(args.store, args.store.split(":", 1)[0], args)
        return
    if args.store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-queue-") as folder:
            run(f"sqlite:///{folder}/results.db", "sqlite", args)
        return
    from tests.pgserver import missing_reason, start_pg

    reason = missing_reason()
    if reason:
        sys.exit(f"bench queue: {reason}; or give --store URL")
    server = start_pg()
    try:
        run(server.create_database("bench"), "postgresql", args)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
