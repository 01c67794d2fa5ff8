"""What the agent and LoadGen cost over a raw inference loop, on a MobileNet-class model per runtime.

    ./task bench overhead [--seconds 20] [--threads 2] [--runtimes tflite,onnx] [--rounds 3]

Each measurement runs in a fresh process (the raw loop as well as the agent's pass), raw and agent
alternating, for several rounds: on a shared virtual machine one pair is not enough.
Beside each ratio, an in-pass ratio compares LoadGen's figure with the runtime's own time measured
inside the same pass (result.json's runtime_ns), which the machine's noise does not move.
Prints JSON lines: per runtime, the raw loop's SingleStream p90 against the agent's LoadGen p90,
the raw batched throughput against the agent's Offline samples/s, and the CPU cost of telemetry at
10 Hz. Targets (issue 2): p90 ≤ 1.03 × raw (or ≤ raw + 50 µs below 1 ms), Offline ≥ 0.97 × raw,
telemetry < 1 % of one core. Figures only; a human reads them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    subprocess.run(  # noqa: S603 - argv list, no shell; our own module
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


def raw_in_subprocess(kind: str, path: str, threads: int, seconds: float) -> Dict[str, float]:
    """A raw loop in a fresh process, like the agent's pass, so neither side inherits the other's state."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(  # noqa: S603 - argv list, no shell; our own module
        [sys.executable, "-m", "bench.overhead", "--raw", kind, "--model", path, "--threads", str(threads),
         "--seconds", str(seconds)],
        check=True, env=env, capture_output=True, text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def one_round(runtime: str, path: str, args: argparse.Namespace, work: Path, round_: int) -> Dict[str, float]:
    """Raw then agent, SingleStream then Offline, each printed as it is measured; the two ratios."""
    raw_ss = raw_in_subprocess("ss", path, args.threads, args.seconds)
    ss = agent_pass(path, "SingleStream", args.threads, args.seconds, work / runtime / f"ss{round_}")
    lg_p90 = ss["latency_ns"]["p90"]
    emit({
        "bench": "overhead", "runtime": runtime, "round": round_, "scenario": "SingleStream",
        "model": Path(path).name, "threads": args.threads, "raw_p90_ns": raw_ss["p90_ns"], "loadgen_p90_ns": lg_p90,
        "ratio": lg_p90 / raw_ss["p90_ns"], "added_us": (lg_p90 - raw_ss["p90_ns"]) / 1e3,
        # In the same pass: LoadGen's p90 against the runtime's own p90 timed inside the SUT.
        "in_pass_runtime_p90_ns": ss["runtime_ns"]["p90_ns"],
        "in_pass_ratio": lg_p90 / ss["runtime_ns"]["p90_ns"],
        "in_pass_added_us": (lg_p90 - ss["runtime_ns"]["p90_ns"]) / 1e3,
        "status": ss["status"], "queries": ss["query_count"],
    })
    raw_off = raw_in_subprocess("offline", path, args.threads, args.seconds)
    off = agent_pass(path, "Offline", args.threads, args.seconds, work / runtime / f"offline{round_}")
    emit({
        "bench": "overhead", "runtime": runtime, "round": round_, "scenario": "Offline", "model": Path(path).name,
        "threads": args.threads, "batch": raw_off["batch"], "raw_samples_per_s": raw_off["samples_per_s"],
        "loadgen_samples_per_s": off["samples_per_s"], "ratio": off["samples_per_s"] / raw_off["samples_per_s"],
        # In the same pass: throughput against the runtime's own time (the share of the window it ran).
        "in_pass_ratio": off["samples_per_s"] / (off["sample_count"] / (off["runtime_ns"]["total_ns"] / 1e9)),
        "status": off["status"], "samples": off["sample_count"],
    })
    return {
        "SingleStream": lg_p90 / raw_ss["p90_ns"],
        "Offline": off["samples_per_s"] / raw_off["samples_per_s"],
        "SingleStream_in_pass": lg_p90 / ss["runtime_ns"]["p90_ns"],
        "Offline_in_pass": off["samples_per_s"] * off["runtime_ns"]["total_ns"] / 1e9 / off["sample_count"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each raw loop and LoadGen pass")
    parser.add_argument("--threads", type=int, default=2, help="runtime threads, the same for raw and agent")
    parser.add_argument("--runtimes", default="tflite,onnx", help="comma-separated: tflite, onnx")
    parser.add_argument("--rounds", type=int, default=3, help="raw/agent pairs per runtime and scenario")
    parser.add_argument("--raw", choices=("ss", "offline"), help=argparse.SUPPRESS)  # the child side
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw:
        measure = raw_single_stream if args.raw == "ss" else raw_offline
        emit(measure(args.model, args.threads, args.seconds))
        return
    runtimes = [r for r in args.runtimes.split(",") if r]
    models = ensure_models(kinds=tuple(runtimes))
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    for runtime in runtimes:
        ratios = [one_round(runtime, str(models[runtime]), args, work, r) for r in range(args.rounds)]
        for scenario, target in (("SingleStream", "<= 1.03"), ("Offline", ">= 0.97")):
            values = sorted(r[scenario] for r in ratios)
            in_pass = sorted(r[scenario + "_in_pass"] for r in ratios)
            emit({"bench": "overhead", "runtime": runtime, "scenario": scenario, "summary": True,
                  "median_ratio": statistics.median(values), "min_ratio": values[0], "max_ratio": values[-1],
                  "median_in_pass_ratio": statistics.median(in_pass), "min_in_pass_ratio": in_pass[0],
                  "max_in_pass_ratio": in_pass[-1], "rounds": len(values), "target": target})
    emit(dict({"bench": "overhead", "part": "telemetry_10hz"}, **telemetry_cost(min(args.seconds, 20.0))))


if __name__ == "__main__":
    main()
