"""A short raw run before LoadGen that sets its SingleStream latency and Offline QPS hints.

LoadGen pre-generates its queries from these hints: SingleStream runs out of queries when the
model is more than twice as fast as target_latency says, and an Offline run whose target_qps is
below the real throughput ends before min_duration and is INVALID.
"""

from __future__ import annotations

import time
from typing import Dict, List

import numpy as np

from agent.backends import Backend
from agent.datasets import Dataset

WARMUP_RUNS = 3
# Offline: samples_per_query = 1.1 × min_duration × target_qps, so the run stays valid as long as
# LoadGen's throughput is at most 1.1 × target. 5 % above the raw figure leaves room for a raw
# loop that was slower than the real run (cold caches, frequency ramp).
OFFLINE_QPS_MARGIN = 1.05
# SingleStream: a hint at the median raw latency; LoadGen only slows queries down, so the
# generated 2 × duration / latency queries always suffice.
MAX_CALIBRATION_SAMPLES = 16


def calibrate(backend: Backend, dataset: Dataset, scenario: str, batch_size: int, seconds: float) -> Dict[str, float]:
    """Time raw inference for about `seconds`; return the LoadGen hint and the raw figures."""
    samples = [dataset.load(i) for i in range(min(dataset.count, MAX_CALIBRATION_SAMPLES))]
    if scenario == "SingleStream" or not backend.dynamic_batch:
        batches = samples
        per_batch = 1
    else:
        per_batch = batch_size
        picks = [samples[i % len(samples)] for i in range(batch_size)]
        batches = [[np.concatenate(a, axis=0) for a in zip(*picks)]]
    for i in range(WARMUP_RUNS):
        backend.run(batches[i % len(batches)])
    latencies_ns: List[int] = []
    deadline = time.monotonic() + seconds
    i = 0
    while not latencies_ns or time.monotonic() < deadline:
        start = time.perf_counter_ns()
        backend.run(batches[i % len(batches)])
        latencies_ns.append(time.perf_counter_ns() - start)
        i += 1
    median_ns = float(np.median(latencies_ns))
    samples_per_s = per_batch * len(latencies_ns) / (sum(latencies_ns) / 1e9)
    figures = {"raw_runs": len(latencies_ns), "raw_median_latency_ns": median_ns, "raw_samples_per_s": samples_per_s}
    if scenario == "SingleStream":
        figures["target_latency"] = median_ns / 1e6  # ms, as user.conf wants it
    else:
        figures["target_qps"] = samples_per_s * OFFLINE_QPS_MARGIN
    return figures
