"""Checks of one LoadGen pass folder: the submission checker's performance and accuracy rules (mlperf.md §12).

Values are the first occurrence of each key in mlperf_log_detail.txt, as the checker reads them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from director.submission.findings import FAIL, PASS, WARN, Finding, finding
from director.submission.rules import (ACCURACY_TARGETS_PERCENT, EARLY_STOPPING_SCENARIOS, MODELS, SEEDS, seeds_round,
                                       seeds_text)
from power.errors import FileFormatError
from power.loadgen_log import first_values

DETAIL = "mlperf_log_detail.txt"
_PREFIX = ":::MLLOG"
_SEED_KEYS = ("effective_qsl_rng_seed", "effective_sample_index_rng_seed", "effective_schedule_rng_seed")
KEYS = (
    "effective_scenario", "result_validity", "effective_min_duration_ms", "early_stopping_met",
    "effective_samples_per_query", "effective_performance_sample_count", "num_errors", "result_query_count",
    "early_stopping_latency_ss", "result_samples_per_second", "power_begin", "power_end", "loadgen_version",
    *_SEED_KEYS,
)
_ACCURACY = re.compile(r"^accuracy=([\d.]+)")


@dataclass(frozen=True)
class DetailLog:
    """What the checks need of a detail log: its first line, the first value of each KEYS entry, its errors."""

    path: str
    first_line: str
    values: Dict[str, Any]
    errors: Tuple[str, ...]


@dataclass(frozen=True)
class PassCheck:
    """Findings about one pass, its detail-log values, and the round its seeds belong to (None if none)."""

    findings: Tuple[Finding, ...]
    values: Dict[str, Any]
    round: Optional[str]


def read_detail(path: str) -> DetailLog:
    """Read a detail log; FileFormatError names the file when it cannot be read or parsed."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        raise FileFormatError(f"{path}: cannot read ({e.strerror or e})") from e
    values = first_values(lines, KEYS, path)
    errors: List[str] = []
    for line in lines:
        start = line.find(_PREFIX)
        if start < 0 or '"is_error": true' not in line and '"error_' not in line:
            continue
        try:
            entry = json.loads(line[start + len(_PREFIX):])
        except ValueError as e:
            raise FileFormatError(f"{path}: bad :::MLLOG JSON ({e})") from e
        metadata = entry.get("metadata") or {}
        if metadata.get("is_error") or str(entry.get("key", "")).startswith("error_"):
            errors.append(f"{entry.get('key')}: {' '.join(str(entry.get('value')).split())}")
    return DetailLog(path, lines[0].rstrip("\r\n") if lines else "", values, tuple(errors))


def _log_findings(log: DetailLog) -> List[Finding]:
    findings = []
    if log.first_line.startswith(_PREFIX):
        findings.append(finding("loadgen.detail_log", PASS, "first line starts with ':::MLLOG'", log.path))
    else:
        findings.append(finding("loadgen.detail_log", FAIL, f"first line is not ':::MLLOG ...': "
                                f"{log.first_line[:60]!r}", log.path))
    count = log.values.get("num_errors")
    if log.errors or (isinstance(count, int) and count > 0):
        shown = "; ".join(log.errors[:3]) + (f"; and {len(log.errors) - 3} more" if len(log.errors) > 3 else "")
        findings.append(finding("loadgen.errors", FAIL, f"num_errors {count}, {len(log.errors)} error entries: "
                                f"{shown or 'none logged'}", log.path))
    else:
        logged = "" if count is None else f" (num_errors {count})"
        findings.append(finding("loadgen.errors", PASS, f"no LoadGen errors{logged}", log.path))
    return findings


def check_performance(folder: str, model: Optional[str], min_duration_ms: int,
                      version: Optional[str]) -> PassCheck:
    """The performance rules over folder/mlperf_log_detail.txt (raises FileFormatError if unreadable)."""
    log = read_detail(os.path.join(folder, DETAIL))
    v, path = log.values, log.path
    findings = _log_findings(log)
    validity = v.get("result_validity")
    findings.append(finding("loadgen.validity", PASS if validity == "VALID" else FAIL,
                            f"result_validity {validity or 'missing'}", path))
    duration = v.get("effective_min_duration_ms")
    if not isinstance(duration, int):
        findings.append(finding("loadgen.min_duration", FAIL, "no effective_min_duration_ms entry", path))
    else:
        ok = duration >= min_duration_ms
        findings.append(finding("loadgen.min_duration", PASS if ok else FAIL,
                                f"effective_min_duration_ms {duration} {'>=' if ok else '<'} {min_duration_ms}", path))
    scenario = v.get("effective_scenario")
    if scenario in EARLY_STOPPING_SCENARIOS:
        met = v.get("early_stopping_met")
        findings.append(finding("loadgen.early_stopping", PASS if met is True else FAIL,
                                f"early_stopping_met {json.dumps(met)}", path))
    seeds_finding, matched = _seeds(v, version, path)
    findings.append(seeds_finding)
    rule = MODELS.get(model or "")
    if scenario == "Offline":
        findings.append(_at_least(v, "effective_samples_per_query", "loadgen.samples_per_query", model,
                                  rule.offline_min_samples_per_query if rule else None, path))
    findings.append(_at_least(v, "effective_performance_sample_count", "loadgen.performance_sample_count", model,
                              rule.performance_sample_count if rule else None, path))
    return PassCheck(tuple(findings), v, matched)


def _seeds(v: Dict[str, Any], version: Optional[str], path: str) -> Tuple[Finding, Optional[str]]:
    seeds = tuple(v.get(k) for k in _SEED_KEYS)
    matched = seeds_round(*seeds)
    if version is not None:
        want = SEEDS[version]
        if matched == version:
            return finding("loadgen.seeds", PASS, f"seeds are round {version}'s ({seeds_text(seeds)})", path), matched
        other = f"they are round {matched}'s" if matched else "they match no known round"
        return finding("loadgen.seeds", FAIL, f"effective seeds ({seeds_text(seeds)}) are not round {version}'s "
                       f"({seeds_text((want.qsl, want.sample_index, want.schedule))}); {other}", path), matched
    if matched:
        return finding("loadgen.seeds", PASS, f"seeds are round {matched}'s ({seeds_text(seeds)})", path), matched
    return finding("loadgen.seeds", FAIL, f"effective seeds ({seeds_text(seeds)}) match no known round "
                   f"({', '.join(SEEDS)})", path), None


def _at_least(v: Dict[str, Any], key: str, rule: str, model: Optional[str], minimum: Optional[int],
              path: str) -> Finding:
    value = v.get(key)
    if minimum is None:
        return finding(rule, WARN, f"{key} {value}: no minimum known for model {model or '(unknown)'} "
                       f"(known: {', '.join(MODELS)})", path)
    if not isinstance(value, int):
        return finding(rule, FAIL, f"no {key} entry", path)
    ok = value >= minimum
    return finding(rule, PASS if ok else FAIL, f"{key} {value} {'>=' if ok else '<'} {minimum} ({model})", path)


def check_accuracy(folder: str, model: Optional[str], division: Optional[str]) -> Tuple[Tuple[Finding, ...],
                                                                                       Optional[float]]:
    """The accuracy rules over an accuracy folder; returns the findings and the accuracy in % (if read)."""
    findings: List[Finding] = []
    missing = [name for name in ("mlperf_log_accuracy.json", "accuracy.txt")
               if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        findings.append(finding("accuracy.files", FAIL, f"missing {', '.join(missing)}", folder))
    else:
        findings.append(finding("accuracy.files", PASS, "mlperf_log_accuracy.json and accuracy.txt present", folder))
    detail = os.path.join(folder, DETAIL)
    if os.path.isfile(detail):
        try:
            findings.extend(_log_findings(read_detail(detail)))
        except FileFormatError as e:
            findings.append(finding("tree.bad_file", FAIL, str(e), detail))
    if "accuracy.txt" in missing:
        return tuple(findings), None
    text_path = os.path.join(folder, "accuracy.txt")
    percent = _read_accuracy(text_path)
    if percent is None:
        findings.append(finding("accuracy.target", FAIL, "accuracy.txt has no 'accuracy=<percent>' line", text_path))
        return tuple(findings), None
    findings.append(_target(percent, model, division, text_path))
    return tuple(findings), percent


def _read_accuracy(path: str) -> Optional[float]:
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        for line in f:
            match = _ACCURACY.match(line.strip())
            if match:
                return float(match.group(1))
    return None


def _target(percent: float, model: Optional[str], division: Optional[str], path: str) -> Finding:
    target = ACCURACY_TARGETS_PERCENT.get(model or "")
    if division == "open":
        return finding("accuracy.target", PASS, f"accuracy {percent:.3f} %; no target in the open division", path)
    if target is None:
        return finding("accuracy.target", WARN, f"accuracy {percent:.3f} %; no target known for model "
                       f"{model or '(unknown)'} (known: {', '.join(ACCURACY_TARGETS_PERCENT)})", path)
    if division != "closed":
        return finding("accuracy.target", WARN, f"accuracy {percent:.3f} %; division unknown, so not compared "
                       f"with the closed target {target:.4f} % (give --division)", path)
    ok = percent >= target
    return finding("accuracy.target", PASS if ok else FAIL,
                   f"accuracy {percent:.3f} % {'>=' if ok else '<'} target {target:.4f} % ({model})", path)
