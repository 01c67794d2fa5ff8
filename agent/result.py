"""result.json: the figures of one pass, each taken from LoadGen's own logs where LoadGen has it."""

from __future__ import annotations

import hashlib
import platform
import time
from typing import Any, Dict, Optional

from agent import __version__, protocol
from agent.backends import Backend
from agent.job import Job
from agent.loadgen_logs import DetailLog, Summary, power_time_ns
from agent.sut import Harness

PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")


def model_sha256(path: str) -> str:
    """SHA-256 of the model file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _window(detail: DetailLog, harness: Harness) -> Dict[str, Any]:
    begin = detail.values.get("power_begin")
    end = detail.values.get("power_end")
    first, last = harness.first_issue_ns, harness.last_complete_ns
    return {
        "first_issue_ns": first,
        "last_complete_ns": last,
        "duration_ns": None if first is None or last is None else last - first,
        "loadgen_power_begin": begin,
        "loadgen_power_end": end,
        "loadgen_power_begin_ns": None if begin is None else power_time_ns(begin),
        "loadgen_power_end_ns": None if end is None else power_time_ns(end),
    }


def _latency(values: Dict[str, Any]) -> Dict[str, Optional[int]]:
    latency = {
        "min": values.get("result_min_latency_ns"),
        "max": values.get("result_max_latency_ns"),
        "mean": values.get("result_mean_latency_ns"),
    }
    for p in PERCENTILES:
        latency["p" + p.rstrip("0").rstrip(".")] = values.get(f"result_{p}_percentile_latency_ns")
    # SingleStream's metric. (early_stopping_latency_ms is MultiStream's key, in ns, despite its name.)
    latency["early_stopping_p90"] = values.get("early_stopping_latency_ss")
    return latency


def _summary_number(summary: Summary, key: str, fallback: Any) -> Any:
    try:
        return float(summary.fields[key])
    except (KeyError, ValueError):
        return fallback


def _validity_reasons(detail: DetailLog, summary: Summary) -> list:
    reasons = list(summary.reasons)
    for error in detail.errors:
        reasons.append(f"LoadGen error {error['key']}: {error['value']}")
    if detail.values.get("result_validity") is None:
        reasons.append("LoadGen logged no result_validity")
    return reasons


def build_result(
    job: Job,
    detail: DetailLog,
    summary: Summary,
    harness: Harness,
    backend: Backend,
    calibration: Dict[str, float],
    settings: Dict[str, float],
    model_sha256: str,
    started_ns: int,
) -> Dict[str, Any]:
    """Assemble result.json for a pass that produced LoadGen logs."""
    values = detail.values
    valid = values.get("result_validity") == "VALID" and not detail.errors
    if job.mode == "accuracy":
        # An accuracy run has no performance verdict; it is good when LoadGen logged no error.
        valid = not detail.errors
    reasons = [] if valid else _validity_reasons(detail, summary)
    return {
        "status": protocol.RESULT_OK if valid else protocol.RESULT_INVALID,
        "valid": valid,
        "validity": values.get("result_validity"),
        "validity_reasons": reasons,
        "scenario": job.scenario,
        "mode": job.mode,
        "loadgen_model": job.loadgen_model,
        "window": _window(detail, harness),
        "latency_ns": _latency(values),
        "early_stopping_met": values.get("early_stopping_met"),
        # The detail log rounds these to 6 significant digits; the summary keeps two decimals.
        "qps": _summary_number(summary, "QPS w/ loadgen overhead", values.get("result_qps_with_loadgen_overhead")),
        "samples_per_s": _summary_number(summary, "Samples per second", values.get("result_samples_per_second")),
        "query_count": values.get("result_query_count"),
        "sample_count": harness.completed_samples,
        "generated_query_count": values.get("generated_query_count"),
        "seeds": {
            "qsl": values.get("effective_qsl_rng_seed"),
            "sample_index": values.get("effective_sample_index_rng_seed"),
            "schedule": values.get("effective_schedule_rng_seed"),
        },
        "effective": {
            key[len("effective_") :]: value for key, value in values.items() if key.startswith("effective_")
        },
        "loadgen_errors": detail.errors,
        "loadgen_warnings": detail.warnings,
        "user_conf": settings,
        "calibration": calibration,
        "model": {
            "path": job.model,
            "sha256": model_sha256,
            "backend": backend.name,
            "inputs": [spec.to_json() for spec in backend.inputs],
            "outputs": [spec.to_json() for spec in backend.outputs],
            "dynamic_batch": backend.dynamic_batch,
        },
        "threads": job.threads,
        "batch_size": harness.batch_size,
        # The runtime's own time per call, measured inside the SUT: LoadGen's latency minus this is
        # what LoadGen and the glue add, free of the machine's run-to-run noise.
        "runtime_ns": harness.runtime.summary(),
        "versions": {
            "agent": __version__,
            "python": platform.python_version(),
            "runtime": backend.runtime_version(),
            "loadgen": values.get("loadgen_version"),
        },
        "job": job.to_json(),
        "started_ns": started_ns,
        "ended_ns": time.time_ns(),
    }
