"""A tiny queue worker for the store's tests and bench/queue: claim, sleep, finish with a run row, until nothing is left.

    python -m tests.queueworker URL SWEEP_ID OWNER [--device D] [--tag T ...] [--bench B] [--job-ms 5] [--lease-s 1]
                                [--hang-after N]

It stops when its device has nothing pending and no lease held by another worker that could run out.
--hang-after N: after N jobs it claims one more, prints {"hanging": KEY} and sleeps until it is killed.
At the end it prints one JSON line: its jobs done, finishes refused, and each claim's latency (ms).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from director.store import open_store


def run_row(sweep_id: str, key: str, attempt: int, device: str) -> dict:
    """A minimal run row for a job's result (run_id names the job and the attempt)."""
    return {"run_id": f"{sweep_id}/{key}/{attempt}", "started_ns": time.time_ns(), "device": device,
            "model": "noop", "scenario": "SingleStream", "mode": "performance", "status": "ok", "folder": ""}


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.queueworker")
    parser.add_argument("url")
    parser.add_argument("sweep_id")
    parser.add_argument("owner")
    parser.add_argument("--device", default="board")
    parser.add_argument("--bench", default=None)
    parser.add_argument("--tag", action="append", default=[], help="a tag of the board (it takes that pool's jobs)")
    parser.add_argument("--job-ms", type=float, default=5.0)
    parser.add_argument("--lease-s", type=float, default=1.0)
    parser.add_argument("--hang-after", type=int, default=None)
    args = parser.parse_args(argv)
    store = open_store(args.url)
    done, refused, claim_ms = 0, 0, []
    while True:
        t0 = time.perf_counter()
        claim = store.claim(args.sweep_id, args.device, args.owner, lease_s=args.lease_s, bench=args.bench,
                            tags=args.tag)
        if claim is None:
            wake_ns = store.next_wake_ns(args.sweep_id, args.device, bench=args.bench, tags=args.tag)
            if wake_ns is None:
                break
            time.sleep(min(0.05, max(0.005, (wake_ns - time.time_ns()) / 1e9)))
            continue
        claim_ms.append((time.perf_counter() - t0) * 1e3)
        if args.hang_after is not None and done >= args.hang_after:
            print(json.dumps({"hanging": claim.key, "pid": os.getpid()}), flush=True)
            while True:
                time.sleep(60)
        time.sleep(args.job_ms / 1e3)
        if store.finish(claim, "done", "done", run=run_row(claim.sweep_id, claim.key, claim.attempt, args.device)):
            done += 1
        else:
            refused += 1
    store.close()
    print(json.dumps({"owner": args.owner, "done": done, "refused": refused, "claim_ms": claim_ms}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
