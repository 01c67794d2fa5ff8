"""Clock sync against known offsets: a board over real sshd on loopback, its clock shifted by libfaketime.

    ./task bench clocksync [--offsets 0,3.7,-2.5,600] [--repeats 5] [--pings 60] [--load 2]

For each offset a fresh sshd "board" is started with `FAKETIME=<offset>s` (monotonic untouched); the
real agent serves `time` over the SSH channel and director.clocksync.measure estimates the offset.
Prints one JSON line per measurement (error = measured - true offset, the bound it reported, round
trips) and one summary line per offset. --load N runs N busy-looping processes meanwhile (a board
at work). Target: |error| <= 1 ms, and |error| <= bound. The official
MLPerf power flow tolerates 400 ms. Figures only; a human reads them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from director.agent_client import AgentClient
from director.clocksync import OFFICIAL_LIMIT_NS, measure
from director.deploy import deploy_agent
from tests.sshd import faketime_lib, start_sshd

TARGET_NS = 1_000_000


def emit(record: Dict[str, Any]) -> None:
    """One JSON line on stdout."""
    print(json.dumps(record), flush=True)


def bench_offset(root: Path, offset_s: float, repeats: int, pings: int) -> Dict[str, Any]:
    """Measure one board `repeats` times; return the summary."""
    board = start_sshd(root, faketime=f"{offset_s:+g}s")
    errors: List[int] = []
    bounds: List[int] = []
    try:
        with board.transport() as ssh:
            with AgentClient(ssh, sys.executable, deploy_agent(ssh), root="~/runs") as client:
                for repeat in range(repeats):
                    t0 = time.monotonic()
                    sync = measure(client, pings=pings)
                    error = sync.offset_ns - round(offset_s * 1e9)
                    errors.append(error)
                    bounds.append(sync.bound_ns)
                    emit({
                        "bench": "clocksync", "offset_s": offset_s, "repeat": repeat, "pings": pings,
                        "measured_offset_ns": sync.offset_ns, "error_ns": error, "bound_ns": sync.bound_ns,
                        "within_bound": abs(error) <= sync.bound_ns, "rtt_min_ns": sync.rtt_min_ns,
                        "rtt_median_ns": sync.rtt_median_ns, "spread_ns": sync.spread_ns,
                        "measure_s": round(time.monotonic() - t0, 4),
                    })
    finally:
        board.stop()
    return {
        "bench": "clocksync", "summary": True, "offset_s": offset_s, "repeats": repeats, "pings": pings,
        "max_abs_error_ns": max(abs(e) for e in errors), "median_abs_error_ns": int(statistics.median(abs(e) for e in errors)),
        "median_bound_ns": int(statistics.median(bounds)), "max_bound_ns": max(bounds),
        "all_within_bound": all(abs(e) <= b for e, b in zip(errors, bounds)),
        "target_ns": TARGET_NS, "meets_target": max(abs(e) for e in errors) <= TARGET_NS,
        "official_limit_ns": OFFICIAL_LIMIT_NS,
    }


def main() -> int:
    """Run the benchmark."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--offsets", default="0,3.7,-2.5,600", help="board clock offsets in seconds, comma-separated")
    p.add_argument("--repeats", type=int, default=5, help="measurements per offset")
    p.add_argument("--pings", type=int, default=60, help="time requests per measurement")
    p.add_argument("--load", type=int, default=0, help="busy-looping processes to run meanwhile")
    args = p.parse_args()
    if faketime_lib() is None:
        print("bench clocksync: libfaketime is not installed (apt-get install faketime)", file=sys.stderr)
        return 2
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        with tempfile.TemporaryDirectory(prefix="edgepower-bench-clocksync-") as tmp:
            for i, text in enumerate(args.offsets.split(",")):
                emit(dict(bench_offset(Path(tmp) / f"board{i}", float(text), args.repeats, args.pings), load=args.load))
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
