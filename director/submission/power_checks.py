"""Power checks of one performance folder (ranging/ and run_1/ with LoadGen's logs and spl.txt).

The official metric is the submission checker's (mlperf.md §10): power.energy.official_from_spl over
run_1/spl.txt and run_1's power_begin/power_end. The spl.txt rules (margin, gaps, W <= 0 rows, testing vs
ranging) hold for both sources; ranges, uncertainty, bad readings and clocks come from the source's own
evidence (power_evidence).
"""

from __future__ import annotations

import os
import statistics
from typing import Any, Dict, List, Optional, Tuple

from director.submission.findings import FAIL, PASS, WARN, Finding, finding
from director.submission.power_evidence import PTD, Evidence, Source, Window, edgepower_evidence, ptd_evidence
from director.submission.rules import GAP_FACTOR, TESTING_POWER_MIN_RATIO, WINDOW_MARGIN_INTERVALS
from power.energy import official_from_spl
from power.errors import FileFormatError, PowerError
from power.spl import SplRecord, format_mlperf_time, parse_mlperf_time, read_spl

PASSES = ("ranging", "run_1")


def windows_of(details: Dict[str, Dict[str, Any]]) -> Dict[str, Window]:
    """LoadGen's power window of each pass whose detail log has power_begin and power_end."""
    windows = {}
    for name, values in details.items():
        begin, end = values.get("power_begin"), values.get("power_end")
        if isinstance(begin, str) and isinstance(end, str):
            try:
                windows[name] = Window(parse_mlperf_time(begin), parse_mlperf_time(end), begin, end)
            except ValueError:
                continue  # reported as power.metric below: no usable window
    return windows


def check_power(folder: str, source: Source, details: Dict[str, Dict[str, Any]],
                scenario: str) -> Tuple[Tuple[Finding, ...], Dict[str, Any]]:
    """Every power finding of a performance folder, and the official figures (empty if not computable)."""
    findings: List[Finding] = []
    windows = windows_of(details)
    rows: Dict[str, List[SplRecord]] = {}
    for name in PASSES:
        path = os.path.join(folder, name, "spl.txt")
        if not os.path.isfile(path):
            findings.append(finding("tree.missing_file", FAIL, f"{name}/spl.txt is missing", path))
            continue
        try:
            rows[name] = sorted(read_spl(path), key=lambda r: r.t_ns)
        except FileFormatError as e:
            findings.append(finding("tree.bad_file", FAIL, str(e), path))
    run_1 = os.path.join(folder, "run_1")
    testing, testing_rows = windows.get("run_1"), rows.get("run_1")
    figures: Dict[str, Any] = {}
    average_w: Optional[float] = None
    bad: List[str] = []
    if testing is None:
        findings.append(finding("power.metric", FAIL, "no power_begin/power_end in run_1's detail log", run_1))
    elif testing_rows is None:
        findings.append(finding("power.metric", FAIL, "not computed: run_1/spl.txt is missing or unreadable", run_1))
    else:
        spl = os.path.join(run_1, "spl.txt")
        average_w, figures = _metric(testing_rows, testing, details["run_1"], scenario, spl, findings)
        findings.append(_margin(testing_rows, testing, spl))
        findings.append(_gaps(testing_rows, testing, spl))
        nonpositive = [r for r in testing_rows if testing.begin_ns < r.t_ns < testing.end_ns and r.watts <= 0]
        if nonpositive:
            bad.append(f"{len(nonpositive)} spl.txt row(s) with W <= 0 in the window, first at "
                       f"{format_mlperf_time(nonpositive[0].t_ns)}")
    ranging_spl = os.path.join(folder, "ranging", "spl.txt")
    if average_w is not None and "ranging" in rows and "ranging" in windows:
        findings.append(_versus_ranging(average_w, rows["ranging"], windows["ranging"], ranging_spl))
    elif average_w is not None and "ranging" in details:
        findings.append(finding("power.testing_vs_ranging", FAIL, "no power_begin/power_end in ranging's detail "
                                "log", os.path.join(folder, "ranging")))
    evidence = _evidence(source, windows, findings)
    bad.extend(evidence.bad)
    findings.extend(evidence.findings)
    if testing is not None and (testing_rows is not None or evidence.bad):
        where = os.path.join(run_1, "spl.txt") if testing_rows is not None else run_1
        findings.append(finding("power.no_data", FAIL, "; ".join(bad), where) if bad else
                        finding("power.no_data", PASS, "no W <= 0 rows and no bad readings in the testing window",
                                where))
    return tuple(findings), figures


def _metric(rows: List[SplRecord], window: Window, values: Dict[str, Any], scenario: str, path: str,
            findings: List[Finding]) -> Tuple[Optional[float], Dict[str, Any]]:
    single = scenario in ("SingleStream", "MultiStream")  # mJ per query; the other scenarios report W
    count = values.get("result_query_count") if single else None
    if single and not (isinstance(count, int) and count > 0):
        findings.append(finding("power.metric", FAIL, f"no usable result_query_count ({count!r}) for mJ/query", path))
        return None, {}
    try:
        metric = official_from_spl(rows, window.begin, window.end, count)
    except PowerError as e:
        findings.append(finding("power.metric", FAIL, str(e), path))
        return None, {}
    figures: Dict[str, Any] = {"average_w": metric.average_w, "power_samples": metric.sample_count,
                               "window_s": metric.duration_s}
    if single:
        per_query = metric.energy_per_query_mj
        assert per_query is not None
        figures.update(energy_per_query_mj=per_query, queries_per_j=1000 / per_query, power_metric=per_query,
                       power_unit="mJ/query")
        text = (f"{per_query:.6f} mJ/query: mean {metric.average_w:.6f} W of {metric.sample_count} samples x "
                f"{metric.duration_s:.3f} s x 1000 / {count} queries")
    else:
        figures.update(power_metric=metric.average_w, power_unit="W")
        text = f"{metric.average_w:.6f} W: mean of {metric.sample_count} samples over {metric.duration_s:.3f} s"
    findings.append(finding("power.metric", PASS, text, path))
    return metric.average_w, figures


def _margin(rows: List[SplRecord], window: Window, path: str) -> Finding:
    rule = "power.window_margin"
    if not rows:
        return finding(rule, FAIL, "spl.txt has no rows", path)
    before_ns, after_ns = window.begin_ns - rows[0].t_ns, rows[-1].t_ns - window.end_ns
    text = (f"spl.txt starts {before_ns / 1e9:.3f} s before power_begin and ends {after_ns / 1e9:.3f} s "
            f"after power_end")
    if before_ns < 0 or after_ns < 0:
        return finding(rule, FAIL, f"window not inside the sampled span: {text}", path)
    steps = [b.t_ns - a.t_ns for a, b in zip(rows, rows[1:])]
    spare_ns = WINDOW_MARGIN_INTERVALS * (statistics.median(steps) if steps else 0)
    if min(before_ns, after_ns) < spare_ns:
        return finding(rule, WARN, f"{text} (less than {WINDOW_MARGIN_INTERVALS} sample intervals, "
                                   f"{spare_ns / 1e9:.3f} s, to spare)", path)
    return finding(rule, PASS, text, path)


def _gaps(rows: List[SplRecord], window: Window, path: str) -> Finding:
    rule = "power.gaps"
    steps = [b.t_ns - a.t_ns for a, b in zip(rows, rows[1:])]
    if not steps:
        return finding(rule, FAIL, f"{len(rows)} spl.txt row(s): no interval to judge", path)
    median_ns = statistics.median(steps)
    gaps = [(a.t_ns, b.t_ns - a.t_ns) for a, b in zip(rows, rows[1:])
            if b.t_ns > window.begin_ns and a.t_ns < window.end_ns and b.t_ns - a.t_ns > GAP_FACTOR * median_ns]
    limit = f"{GAP_FACTOR:g}x the median interval {median_ns / 1e9:.3f} s"
    if gaps:
        shown = ", ".join(f"{length / 1e9:.3f} s after {format_mlperf_time(start)}" for start, length in gaps[:3])
        return finding(rule, FAIL, f"{len(gaps)} gap(s) over {limit} in the window: {shown}", path)
    return finding(rule, PASS, f"no gap over {limit} in the window", path)


def _versus_ranging(testing_w: float, rows: List[SplRecord], window: Window, path: str) -> Finding:
    rule = "power.testing_vs_ranging"
    try:
        ranging_w = official_from_spl(rows, window.begin, window.end).average_w
    except PowerError as e:
        return finding(rule, FAIL, f"ranging: {e}", path)
    delta = (testing_w - ranging_w) / ranging_w
    ok = delta > TESTING_POWER_MIN_RATIO - 1
    return finding(rule, PASS if ok else FAIL, f"testing {testing_w:.6f} W vs ranging {ranging_w:.6f} W "
                   f"({100 * delta:+.2f} %, limit {100 * (TESTING_POWER_MIN_RATIO - 1):+.0f} %)", path)


def _evidence(source: Source, windows: Dict[str, Window], findings: List[Finding]) -> Evidence:
    missing = [p for p in source.files.values() if not os.path.isfile(p)]
    for path in missing:
        findings.append(finding("tree.missing_file", FAIL, f"{os.path.basename(path)} is missing "
                                f"({'power-dev' if source.kind == PTD else 'edgepower'} power evidence)", path))
    if missing:
        return Evidence()
    try:
        return ptd_evidence(source, windows) if source.kind == PTD else edgepower_evidence(source, windows)
    except FileFormatError as e:
        path = str(e).split(":", 1)[0]
        findings.append(finding("tree.bad_file", FAIL, str(e), path))
        return Evidence()
