"""The MLPerf Inference self-certification checklist, pre-filled from the runs' logs and records.

Every answer the logs hold is written with where it came from; what needs a person's judgment
(the model's provenance, caching, quantization, availability) is left as an empty box to tick.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Sequence

from director.submission.describe import power_label
from director.submission.loadgen_checks import read_detail
from power.errors import PowerError

JUDGMENT = (
    "The model is the reference model, or every change to it is one the rules allow (say which)",
    "Weights were quantized or transformed only as the rules allow, with the permitted calibration set",
    "No result is cached or reused across queries; every query is computed",
    "The system under test uses no knowledge of the dataset's content or of LoadGen's query order",
    "Pre-processing done before timing is the allowed, untimed kind (resizing, normalization, layout)",
    "Every component is available (or preview / RDI) as the system JSON states",
    "The power analyzer was calibrated (NIST-traceable) within the last year",
)


def detail_values(path: str) -> Dict[str, Any]:
    """The first value of each checklist key in an mlperf_log_detail.txt ({} when unreadable)."""
    try:
        return dict(read_detail(path).values)
    except PowerError:
        return {}


def _case_rows(case: Any, measurements: Mapping[str, Any], division: str) -> List[tuple]:
    folder, run = case.performance
    log = detail_values(os.path.join(folder, "run_1", "mlperf_log_detail.txt"))
    spec = run.get("spec") or {}
    dataset = spec.get("dataset") or {}
    rows = [
        ("LoadGen version", log.get("loadgen_version"), "run_1/mlperf_log_detail.txt"),
        ("Result validity", log.get("result_validity"), "run_1/mlperf_log_detail.txt"),
        ("Minimum duration (ms)", log.get("effective_min_duration_ms"), "the rules ask 600000"),
        ("Queries processed", log.get("result_query_count"), "result_query_count"),
        ("Performance sample count", log.get("effective_performance_sample_count"), "from mlperf.conf"),
        ("RNG seeds (qsl, sample index, schedule)",
         f"{log.get('effective_qsl_rng_seed')}, {log.get('effective_sample_index_rng_seed')}, "
         f"{log.get('effective_schedule_rng_seed')}", "LoadGen's built-in mlperf.conf"),
        ("LoadGen errors", log.get("num_errors", 0), "num_errors"),
    ]
    if case.scenario == "Offline":
        rows.append(("Samples per query", log.get("effective_samples_per_query"), "effective_samples_per_query"))
    else:
        rows.append(("Early stopping met", log.get("early_stopping_met"), "early_stopping_met"))
    if case.accuracy is not None:
        accuracy = ((case.accuracy[1].get("passes") or {}).get("run_1") or {}).get("agent", {}).get("accuracy") or {}
        rows.append(("Accuracy", accuracy.get("line", "not scored"), "accuracy/accuracy.txt"))
        rows.append(("Accuracy samples", accuracy.get("total"), "the whole dataset given to the run"))
    else:
        rows.append(("Accuracy", "no accuracy run exported", "-"))
    rows += [
        ("Accuracy target applies", "yes (closed division)" if division == "closed" else "no (open division)", "division"),
        ("Numerics: inputs / weights", f"{measurements.get('input_data_types')} / {measurements.get('weight_data_types')}",
         "measurements.json"),
        ("Weight transformations / retraining",
         f"{measurements.get('weight_transformations')} / {measurements.get('retraining')}", "measurements.json"),
        ("Pre-processing", "untimed: samples are loaded into memory by the QSL before timing"
         + (f" (preprocessed .npy files from {dataset.get('path')})" if dataset.get("kind") == "npy"
            else f" ({dataset.get('kind')} data)"), "run.json dataset"),
        ("Model file", f"{os.path.basename((run.get('model') or {}).get('path', ''))} "
                       f"sha256 {(run.get('model') or {}).get('sha256')}", "run.json"),
        ("Power", power_label(run), "run.json analyzer"),
    ]
    return rows


def write_checklist(path: str, cases: Sequence[Any], system: Mapping[str, Any],
                    measurements: Mapping[str, Mapping[str, Any]], division: str) -> None:
    """documentation/self_certification_<system>.md for the cases of one system."""
    name = system.get("system_name")
    lines = [
        f"# MLPerf Inference self-certification: {name}", "",
        f"Submitter {system.get('submitter')}, division {division}, category {system.get('status')}. "
        "Filled from the runs' LoadGen logs and edgepower records; the boxes at the end need your judgment.", "",
    ]
    for case in cases:
        lines += [f"## {case.benchmark} / {case.scenario}", "", "| Item | Value | From |", "|---|---|---|"]
        lines += [f"| {item} | {value} | {source} |" for item, value, source in
                  _case_rows(case, measurements[case.key], division)]
        lines.append("")
    lines += ["## Needs your judgment", ""]
    lines += [f"- [ ] {item}: ______" for item in JUDGMENT]
    lines.append("")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
