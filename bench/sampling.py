"""Streaming from a WT310E over a real pty: samples lost, timestamp error, host CPU of the stream.

    ./task bench sampling [--seconds 60] [--baud 57600] [--interval 0.1]

The simulator runs as its own process (`python -m power.simulators wt310e --pty --record FILE`), so this
process holds only the driver: its CPU time over the stream is the driver's cost. The simulator records
each update's own end instant; every update inside the streamed span must come back as one sample whose
stamp is compared with that instant. Targets: 0 lost, p99 stamp error <= 2 ms, CPU <= 2 % of one core
at 10 updates/s. Prints one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

from power.analyzer import AnalyzerConfig, open_analyzer
from power.sample import Sample, Status

MS = 1_000_000


def _percentile(sorted_values: List[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(seconds: float, baud: int, interval_s: float) -> Dict[str, Any]:
    """One streaming run; returns the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "updates.jsonl"
        link = Path(tmp) / "ttyWT310E"
        sim = subprocess.Popen(  # noqa: S603 - argv list, no shell; our own simulator
            [sys.executable, "-m", "power.simulators", "wt310e", "--pty", "--baud", str(baud),
             "--rate", str(interval_s), "--link", str(link), "--record", str(record), "--seed", "1"],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert sim.stdout is not None
            sim.stdout.readline()  # the banner: the symlink exists now
            analyzer = open_analyzer(AnalyzerConfig("WT310E", str(link), {"baudrate": baud}))
            analyzer.set_ranges(300, 0.5)
            analyzer.set_interval(interval_s)
            samples: List[Sample] = []
            lock = threading.Lock()

            def sink(sample: Sample) -> None:
                with lock:
                    samples.append(sample)

            cpu0, wall0 = _cpu_s(), time.monotonic()
            analyzer.start(sink)
            time.sleep(seconds)
            analyzer.stop()
            cpu_s, wall_s = _cpu_s() - cpu0, time.monotonic() - wall0
            stats = dict(analyzer.stats)
            analyzer.close()
            sim_cpu = _process_cpu_s(sim.pid)
        finally:
            sim.terminate()
            sim.wait(10)
        updates = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    readings = [s for s in samples if s.status is not Status.GAP]
    first, last = readings[0].t_end_ns, readings[-1].t_end_ns
    span = [u for u in updates if first - interval_s * 1e9 / 2 <= u["t_end_ns"] <= last + interval_s * 1e9 / 2]
    stamps = sorted(s.t_end_ns for s in readings)
    errors_ms: List[float] = []
    lost = 0
    j = 0
    for u in span:
        while j + 1 < len(stamps) and abs(stamps[j + 1] - u["t_end_ns"]) < abs(stamps[j] - u["t_end_ns"]):
            j += 1
        error_ns = stamps[j] - u["t_end_ns"] if stamps else 10**18
        if abs(error_ns) > interval_s * 1e9 / 2:
            lost += 1
        else:
            errors_ms.append(error_ns / MS)
    abs_sorted = sorted(abs(e) for e in errors_ms)
    return {
        "bench": "sampling",
        "transport": "pty",
        "baud": baud,
        "interval_s": interval_s,
        "seconds": round(wall_s, 2),
        "updates": len(span),
        "samples": len(readings),
        "gaps": len(samples) - len(readings),
        "lost": lost,
        "stamp_error_ms": {
            "p50": round(_percentile(abs_sorted, 0.5), 3),
            "p99": round(_percentile(abs_sorted, 0.99), 3),
            "max": round(abs_sorted[-1], 3) if abs_sorted else None,
            "mean_signed": round(sum(errors_ms) / len(errors_ms), 3) if errors_ms else None,
        },
        "cpu_pct_of_one_core": round(100 * cpu_s / wall_s, 3),
        "simulator_cpu_pct": round(100 * sim_cpu / wall_s, 1) if sim_cpu is not None else None,
        "driver_stats": stats,
    }


def _process_cpu_s(pid: int) -> Any:
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except Exception:  # noqa: BLE001 - a figure, not a requirement
        return None


def main(argv: Any = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(prog="python -m bench.sampling", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--baud", type=int, default=57600)
    p.add_argument("--interval", type=float, default=0.1)
    args = p.parse_args(argv)
    print(json.dumps(run(args.seconds, args.baud, args.interval)), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
