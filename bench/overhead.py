"""What the agent and LoadGen cost over a raw inference loop, on a MobileNet-class model per runtime.

    ./task bench overhead [--seconds 20] [--threads 2] [--runtimes tflite,onnx]

Prints JSON lines: per runtime, the raw loop's SingleStream p90 against the agent's LoadGen p90,
the raw batched throughput against the agent's Offline samples/s, and the CPU cost of telemetry at
10 Hz. Targets (issue 2): p90 ≤ 1.03 × raw (or ≤ raw + 50 µs below 1 ms), Offline ≥ 0.97 × raw,
telemetry < 1 % of one core. Figures only; a human reads them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import psutil

from agent.backends import open_backend
from agent.datasets import SyntheticDataset
from bench.models import ensure_models

REPO = Path(__file__).resolve().parent.parent
BATCH = 32


def emit(record: Dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def raw_single_stream(path: str, threads: int, seconds: float) -> Dict[str, float]:
    """p50/p90 of back-to-back batch-1 inferences on synthetic samples."""
    backend = open_backend(path, threads=threads)
    dataset = SyntheticDataset(backend.inputs, count=64, seed=0)
    samples = [dataset.load(i) for i in range(64)]
    for sample in samples[:5]:
        backend.run(sample)
    latencies: List[int] = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        start = time.perf_counter_ns()
        backend.run(samples[i % 64])
        latencies.append(time.perf_counter_ns() - start)
        i += 1
    return {"runs": len(latencies), "p50_ns": float(np.percentile(latencies, 50)), "p90_ns": float(np.percentile(latencies, 90))}


def raw_offline(path: str, threads: int, seconds: float) -> Dict[str, float]:
    """Samples/s of a loop over batches (batch 1 for fixed-batch models)."""
    backend = open_backend(path, threads=threads)
    dataset = SyntheticDataset(backend.inputs, count=64, seed=0)
    batch = BATCH if backend.dynamic_batch else 1
    picks = [dataset.load(i % 64) for i in range(batch)]
    inputs = [np.concatenate(arrays, axis=0) for arrays in zip(*picks)]
    for _ in range(3):
        backend.run(inputs)
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        backend.run(inputs)
        done += batch
    return {"batch": batch, "samples_per_s": done / (time.perf_counter() - start)}


def agent_pass(path: str, scenario: str, threads: int, seconds: float, folder: Path) -> Dict[str, Any]:
    """One real `python -m agent run` pass; its result.json."""
    job = {
        "model": path,
        "scenario": scenario,
        "threads": threads,
        "profile": "quick",
        "settings": {"min_duration": int(seconds * 1000)},
        "batch_size": BATCH,
        "calibration_s": 2.0,
        "telemetry_interval_s": 0.1,
        "dataset": {"kind": "synthetic", "count": 256, "seed": 0},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.json").write_text(json.dumps(job))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run(
        [sys.executable, "-m", "agent", "run", "--job", str(folder / "job.json"), "--out", str(folder / "out")],
        check=False, env=env, capture_output=True, text=True,
    )
    return json.loads((folder / "out" / "result.json").read_text())


def telemetry_cost(seconds: float) -> Dict[str, float]:
    """CPU time the telemetry thread spends at 10 Hz, as a percentage of one core."""
    from agent.telemetry import Telemetry

    with tempfile.TemporaryDirectory() as folder:
        process = psutil.Process()
        before = process.cpu_times()
        wall = time.monotonic()
        telemetry = Telemetry(os.path.join(folder, "telemetry.csv"), 0.1)
        telemetry.start()
        time.sleep(seconds)
        telemetry.stop()
        after = process.cpu_times()
        elapsed = time.monotonic() - wall
    cpu_s = (after.user - before.user) + (after.system - before.system)
    return {"rows": telemetry.rows, "cpu_percent_of_one_core": 100.0 * cpu_s / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each raw loop and LoadGen pass")
    parser.add_argument("--threads", type=int, default=2, help="runtime threads, the same for raw and agent")
    parser.add_argument("--runtimes", default="tflite,onnx", help="comma-separated: tflite, onnx")
    args = parser.parse_args()
    runtimes = [r for r in args.runtimes.split(",") if r]
    models = ensure_models(kinds=tuple(runtimes))
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    for runtime in runtimes:
        path = str(models[runtime])
        raw_ss = raw_single_stream(path, args.threads, args.seconds)
        ss = agent_pass(path, "SingleStream", args.threads, args.seconds, work / runtime / "ss")
        lg_p90 = ss["latency_ns"]["p90"]
        emit({
            "bench": "overhead", "runtime": runtime, "scenario": "SingleStream", "model": Path(path).name,
            "threads": args.threads, "raw_p90_ns": raw_ss["p90_ns"], "loadgen_p90_ns": lg_p90,
            "ratio": lg_p90 / raw_ss["p90_ns"], "added_us": (lg_p90 - raw_ss["p90_ns"]) / 1e3,
            "status": ss["status"], "queries": ss["query_count"],
        })
        raw_off = raw_offline(path, args.threads, args.seconds)
        off = agent_pass(path, "Offline", args.threads, args.seconds, work / runtime / "offline")
        emit({
            "bench": "overhead", "runtime": runtime, "scenario": "Offline", "model": Path(path).name,
            "threads": args.threads, "batch": raw_off["batch"], "raw_samples_per_s": raw_off["samples_per_s"],
            "loadgen_samples_per_s": off["samples_per_s"], "ratio": off["samples_per_s"] / raw_off["samples_per_s"],
            "status": off["status"], "samples": off["sample_count"],
        })
    emit(dict({"bench": "overhead", "part": "telemetry_10hz"}, **telemetry_cost(min(args.seconds, 20.0))))


if __name__ == "__main__":
    main()
