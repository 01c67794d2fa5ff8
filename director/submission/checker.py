"""`check_path`: what a PATH is (run folder, performance/ folder or results tree) and every check that applies.

(a) an edgepower run folder (run.json beside ranging/ and run_1/, or an accuracy-mode run with run_1/);
(b) a performance/ folder (run_1/ inside); (c) a scenario, benchmark, system, results/ folder or a submission
root: each results/<system>/<benchmark>/<scenario>/ below it, with its required files (mlperf.md §11),
measurements.json, and systems/<system>.json at the root (§13).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Set, Tuple

from director.errors import BadInput
from director.submission.findings import FAIL, PASS, WARN, CaseReport, CheckReport, Finding, finding, unique
from director.submission.loadgen_checks import DETAIL, check_accuracy, check_performance, read_detail
from director.submission.power_checks import PASSES, check_power
from director.submission.power_evidence import PTD, Source, detect_source, read_json
from director.submission.rules import (ACCURACY_FILES, DIVISIONS, EDGEPOWER_POWER_FILES, MEASUREMENTS_NON_EMPTY,
                                       MIN_DURATION_MS, PASS_EXTRAS, PASS_FILES, PTD_POWER_FILES, SCENARIO_FILES,
                                       SCENARIOS, SEEDS, NOT_IN_ROUND, SYSTEM_NON_EMPTY, SYSTEM_REQUIRED,
                                       SYSTEM_STATUSES, SYSTEM_TYPES, model_name)
from power.errors import FileFormatError


@dataclass(frozen=True)
class CheckOptions:
    """min_duration_ms: LoadGen's minimum (600000 by the rules); version: the round whose seeds to require
    (v6.1, v6.0, v3.0; None accepts any known round); division: closed/open, else the systems JSON's."""

    min_duration_ms: int = MIN_DURATION_MS
    version: Optional[str] = None
    division: Optional[str] = None


@dataclass(frozen=True)
class _Perf:
    findings: Tuple[Finding, ...]
    figures: Dict[str, Any]
    round: Optional[str]
    scenario: str
    source: Optional[Source]


def check_path(path: str, options: CheckOptions) -> CheckReport:
    """Check a run folder, a performance/ folder or an MLPerf results tree; BadInput for anything else."""
    _validate(options)
    if not path or not os.path.exists(path):
        raise BadInput(f"check: {path or '(empty path)'}: no such file or folder")
    if not os.path.isdir(path):
        raise BadInput(f"check: {path}: a file; give a run folder, a performance/ folder or a results tree")
    if os.path.isfile(os.path.join(path, "run.json")):
        return CheckReport(path, (_run_case(path, options),))
    if os.path.isdir(os.path.join(path, "run_1")):
        return CheckReport(path, (_performance_case(path, options),))
    scenarios = _scenario_folders(path)
    if not scenarios:
        raise BadInput(f"check: {path}: not a run folder (run.json), a performance/ folder (run_1/) or an MLPerf "
                       "results tree (results/<system>/<benchmark>/<scenario>/)")
    return _check_tree(path, scenarios, options)


def _validate(options: CheckOptions) -> None:
    if options.version is not None and options.version not in SEEDS:
        raise BadInput(f"check: unknown round {options.version!r}; known: {', '.join(SEEDS)}")
    if options.division is not None and options.division not in DIVISIONS:
        raise BadInput(f"check: unknown division {options.division!r}; known: {', '.join(DIVISIONS)}")
    if options.min_duration_ms <= 0:
        raise BadInput(f"check: the minimum duration must be positive, not {options.min_duration_ms} ms")


def _performance(folder: str, model: Optional[str], scenario: str, options: CheckOptions) -> _Perf:
    """LoadGen rules on run_1, the power rules if the folder is a power result, and the figures."""
    findings: List[Finding] = []
    details: Dict[str, Dict[str, Any]] = {}
    matched: Optional[str] = None
    source = detect_source(folder)
    for name in PASSES if source is not None else ("run_1",):
        detail = os.path.join(folder, name, DETAIL)
        if not os.path.isfile(detail):
            findings.append(finding("tree.missing_file", FAIL, f"{name}/{DETAIL} is missing", detail))
            continue
        try:
            if name == "run_1":
                result = check_performance(os.path.join(folder, name), model, options.min_duration_ms,
                                           options.version)
                findings.extend(result.findings)
                details[name], matched = result.values, result.round
            else:
                details[name] = read_detail(detail).values
        except FileFormatError as e:
            findings.append(finding("tree.bad_file", FAIL, str(e), detail))
    values = details.get("run_1", {})
    scenario = str(values.get("effective_scenario") or scenario)
    figures: Dict[str, Any] = {}
    samples_per_s = values.get("result_samples_per_second")
    if scenario == "Offline" and isinstance(samples_per_s, (int, float)):
        figures.update(samples_per_s=samples_per_s, performance=samples_per_s, performance_unit="samples/s")
    elif isinstance(values.get("early_stopping_latency_ss"), int):
        latency_ms = values["early_stopping_latency_ss"] / 1e6
        figures.update(early_stopping_latency_ms=latency_ms, performance=latency_ms, performance_unit="ms")
    if source is None:
        findings.append(finding("power.workflow", WARN, "no power/ folder: a performance-only result, no power "
                                "figure", folder))
    else:
        power_findings, power_figures = check_power(folder, source, details, scenario)
        findings.extend(power_findings)
        figures.update(power_figures)
        if "samples_per_s" in figures and figures.get("average_w"):
            figures["samples_per_j"] = figures["samples_per_s"] / figures["average_w"]
    return _Perf(tuple(findings), figures, matched, scenario, source)


def for_round(findings: Tuple[Finding, ...], round_: Optional[str]) -> Tuple[Finding, ...]:
    """The findings judged as of round_: a FAIL of a rule that round did not have becomes a WARN saying so."""
    absent = NOT_IN_ROUND.get(round_ or "", {})
    return tuple(replace(f, status=WARN, message=f"{f.message} (not a rule in {round_}: {absent[f.rule]})")
                 if f.status is FAIL and f.rule in absent else f for f in findings)


def _layout(folder: str) -> Tuple[str, str, str]:
    """(system, benchmark, scenario) read from .../<system>/<benchmark>/<scenario>, '' where not shown."""
    parts = os.path.abspath(folder).split(os.sep)
    if len(parts) >= 3 and parts[-1] in SCENARIOS:
        return parts[-3], parts[-2], parts[-1]
    return "", "", ""


def _performance_case(path: str, options: CheckOptions) -> CaseReport:
    system, benchmark, scenario = _layout(os.path.dirname(os.path.abspath(path)))
    if not benchmark:
        source = detect_source(path)
        if source is not None and "run" in source.files and os.path.isfile(source.files["run"]):
            try:
                benchmark = str((read_json(source.files["run"]).get("spec") or {}).get("loadgen_model") or "")
            except FileFormatError:
                pass  # reported by the power checks
    perf = _performance(path, model_name(benchmark), scenario, options)
    findings = for_round(unique(perf.findings), options.version or perf.round)
    return CaseReport(path, system, benchmark, perf.scenario, findings, perf.figures)


def _run_case(path: str, options: CheckOptions) -> CaseReport:
    run_json = os.path.join(path, "run.json")
    try:
        run = read_json(run_json)
    except FileFormatError as e:
        run = {}
        bad: Tuple[Finding, ...] = (finding("tree.bad_file", FAIL, str(e), run_json),)
    else:
        bad = ()
    spec = run.get("spec") or {}
    system = str((run.get("device") or {}).get("name") or "")
    benchmark = str(spec.get("loadgen_model") or "")
    if run.get("mode") == "accuracy":
        folder = os.path.join(path, "run_1")
        findings, percent = check_accuracy(folder, model_name(benchmark), options.division)
        figures = {} if percent is None else {"accuracy_percent": percent}
        return CaseReport(path, system, benchmark, str(run.get("scenario") or ""), unique(bad + findings), figures)
    perf = _performance(path, model_name(benchmark), str(run.get("scenario") or ""), options)
    findings = for_round(unique(bad + perf.findings), options.version or perf.round)
    return CaseReport(path, system, benchmark, perf.scenario, findings, perf.figures)


def _scenario_folders(path: str) -> List[str]:
    if os.path.basename(os.path.abspath(path)) in SCENARIOS:
        return [path]
    found = []
    for top, dirs, _ in os.walk(path):
        parts = os.path.abspath(top).split(os.sep)
        if parts[-1] in SCENARIOS and len(parts) >= 4 and parts[-4] == "results":
            found.append(top)
            dirs[:] = []
        else:
            dirs[:] = sorted(d for d in dirs if d not in ("measurements", "src", "code", "documentation"))
    return found


def _check_tree(path: str, scenarios: List[str], options: CheckOptions) -> CheckReport:
    systems: Dict[str, Tuple[Optional[Dict[str, Any]], List[Finding]]] = {}
    rounds: Dict[str, Set[Optional[str]]] = {}
    cases = []
    for folder in scenarios:
        system, benchmark, scenario = _layout(folder)
        results = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(folder))))
        key = os.path.join(os.path.dirname(results), "systems", f"{system}.json")
        if not os.path.isabs(path):
            key = os.path.relpath(key)
        if key not in systems:
            systems[key] = _load_system(key, os.path.basename(results) == "results")
        doc = systems[key][0] or {}
        division = options.division or (doc.get("division") if doc.get("division") in DIVISIONS else None)
        case, matched = _scenario_case(folder, system, benchmark, scenario, division, options)
        cases.append(case)
        rounds.setdefault(key, set()).add(options.version or matched)
    tree: List[Finding] = []
    for key, (doc, loaded) in systems.items():
        tree.extend(loaded)
        if doc is not None:
            found = rounds[key]
            tree.extend(for_round(tuple(_system_findings(doc, key)), next(iter(found)) if len(found) == 1 else None))
    return CheckReport(path, tuple(cases), unique(tree))


def _load_system(path: str, in_results_tree: bool) -> Tuple[Optional[Dict[str, Any]], List[Finding]]:
    if not in_results_tree:
        return None, [finding("tree.missing_file", WARN, "not inside a results/ folder: the system "
                                    "description was not checked", path)]
    if not os.path.isfile(path):
        return None, [finding("tree.missing_file", FAIL, "the system description is missing", path)]
    try:
        return read_json(path), []
    except FileFormatError as e:
        return None, [finding("tree.bad_file", FAIL, str(e), path)]


def _scenario_case(folder: str, system: str, benchmark: str, scenario: str, division: Optional[str],
                   options: CheckOptions) -> Tuple[CaseReport, Optional[str]]:
    findings = _required(folder, SCENARIO_FILES)
    for name in ("user.conf", "README.md"):
        target = os.path.join(folder, name)
        if os.path.isfile(target) and os.path.getsize(target) == 0:
            findings.append(finding("tree.empty_file", FAIL, f"{name} is empty", target))
    findings.extend(_measurements(os.path.join(folder, "measurements.json")))
    figures: Dict[str, Any] = {}
    matched = None
    performance = os.path.join(folder, "performance")
    if not os.path.isdir(performance):
        findings.append(finding("tree.missing_file", FAIL, "performance/ is missing", performance))
    else:
        perf = _performance(performance, model_name(benchmark), scenario, options)
        findings.extend(_performance_files(performance, perf.source))
        findings.extend(perf.findings)
        figures.update(perf.figures)
        matched = perf.round
    accuracy = os.path.join(folder, "accuracy")
    if not os.path.isdir(accuracy):
        findings.append(finding("tree.missing_file", FAIL, "accuracy/ is missing", accuracy))
    else:
        findings.extend(_required(accuracy, ACCURACY_FILES))
        accuracy_findings, percent = check_accuracy(accuracy, model_name(benchmark), division)
        findings.extend(accuracy_findings)
        if percent is not None:
            figures["accuracy_percent"] = percent
    findings = for_round(unique(findings), options.version or matched)
    return CaseReport(folder, system, benchmark, scenario, findings, figures), matched


def _required(folder: str, names: Tuple[str, ...]) -> List[Finding]:
    return [finding("tree.missing_file", FAIL, f"{name} is missing", os.path.join(folder, name))
            for name in names if not os.path.isfile(os.path.join(folder, name))]


def _performance_files(performance: str, source: Optional[Source]) -> List[Finding]:
    """Required and extra files of run_1/, ranging/ and power/ (mlperf.md §11)."""
    findings: List[Finding] = []
    if source is None:
        expected = {"run_1": ("mlperf_log_summary.txt", DETAIL)}
    else:
        power = PTD_POWER_FILES if source.kind == PTD else EDGEPOWER_POWER_FILES
        expected = {"run_1": PASS_FILES, "ranging": PASS_FILES, "power": power}
    for sub, names in expected.items():
        folder = os.path.join(performance, sub)
        findings.extend(_required(folder, names))
        allowed = set(names) | (set(PASS_EXTRAS) if sub != "power" else set())
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            if name not in allowed:
                why = "power-dev's ptd_out.txt must be deleted" if name == "ptd_out.txt" else "not allowed here"
                findings.append(finding("tree.extra_file", FAIL, f"{sub}/{name}: {why}", os.path.join(folder, name)))
    return findings


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _measurements(path: str) -> List[Finding]:
    if not os.path.isfile(path):
        return []
    try:
        doc = read_json(path)
    except FileFormatError as e:
        return [finding("tree.bad_file", FAIL, str(e), path)]
    bad = [k for k in MEASUREMENTS_NON_EMPTY if _empty(doc.get(k))]
    if bad:
        return [finding("tree.measurements_keys", FAIL, f"missing or empty: {', '.join(bad)}", path)]
    return [finding("tree.measurements_keys", PASS, f"{len(MEASUREMENTS_NON_EMPTY)} required keys set", path)]


def _system_findings(doc: Dict[str, Any], path: str) -> List[Finding]:
    findings = []
    missing = [k for k in SYSTEM_REQUIRED if k not in doc]
    findings.append(finding("system.required_keys", FAIL, f"missing: {', '.join(missing)}", path) if missing
                    else finding("system.required_keys", PASS, f"all {len(SYSTEM_REQUIRED)} keys present", path))
    empty = [k for k in SYSTEM_NON_EMPTY if k in doc and _empty(doc[k])]
    findings.append(finding("system.non_empty_keys", FAIL, f"empty: {', '.join(empty)}", path) if empty
                    else finding("system.non_empty_keys", PASS, "no required value empty", path))
    for key, allowed, rule in (("status", SYSTEM_STATUSES, "system.status"),
                               ("system_type", SYSTEM_TYPES, "system.system_type")):
        value = doc.get(key)
        ok = isinstance(value, str) and value.lower() in allowed
        findings.append(finding(rule, PASS if ok else FAIL, f"{key} {value!r}" + ("" if ok else
                                f" not in {', '.join(allowed)}"), path))
    parts = os.path.abspath(path).split(os.sep)
    if len(parts) >= 4 and parts[-4] in DIVISIONS:
        division, submitter = parts[-4], parts[-3]
        wrong = [f"{k} {doc.get(k)!r} vs path {v!r}" for k, v in (("division", division), ("submitter", submitter))
                 if str(doc.get(k, "")).lower() != v.lower()]
        findings.append(finding("system.path", FAIL, "; ".join(wrong), path) if wrong else
                        finding("system.path", PASS, f"division {division}, submitter {submitter}", path))
    return findings
