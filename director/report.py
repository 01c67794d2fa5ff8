"""The sweep report: each case's repeats aggregated, written as report.csv, report.json and one report.html.

A case is a job without its repeat: device, model, runtime, threads, scenario, power mode. Only
jobs in state "done" count towards its figures; jobs in other states are counted. Per case and
figure: n (runs with a value), median, min, max, relative spread (max − min) / |median|, and the
trimmed mean: the mean without the fastest and the slowest run, ranked by the scenario's
performance figure (p90 latency for SingleStream, samples/s for Offline). With fewer than 3 ranked
runs nothing is dropped, the trimmed mean is the plain mean, trimmed is false, and trimmed_mean_n
says how many runs are behind it.

report.csv has one line per case × figure, in this column order (CSV_COLUMNS):
  case             the case id (the job key without its "/rN" repeat)
  device, model_name, runtime, threads, scenario, power_mode
                   the case; an empty threads is the runtime's default, an empty power_mode the board's
  figure           the figure's name with its unit: energy_per_query_mj, queries_per_j, average_w,
                   above_idle_w, idle_w, p90_latency_ms, qps (SingleStream); samples_per_s,
                   samples_per_j, average_w, above_idle_w, idle_w (Offline)
  n, median, min, max, relative_spread, trimmed_mean, trimmed_mean_n, trimmed (true/false)
  jobs_total, jobs_done, jobs_failed, jobs_invalid, jobs_other (pending, running, cancelled, ...)
A missing value is an empty cell; floats are written repr-exact.

report.html (render_html) shows, in this order: a summary with one row per case (grouped by device and
model, power modes next to each other), the plots against power mode, latency, idle baselines and one
power trace per case, "All figures" (one row per case × figure, how the trimmed means were taken said once
per case), then the failed and invalid jobs and all jobs.
"""

from __future__ import annotations

import base64
import csv
import io
import logging
import math
import os
import socket
import statistics
import time
from collections import Counter
from typing import AbstractSet, Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from director import report_html as page
from director import report_plots as plots
from director.report_html import LABELS, e, mode_label
from director.errors import DirectorError
from director.resultdir import sanitize, write_json
from power.errors import PowerError
from power.samples_csv import read_samples_csv

log = logging.getLogger(__name__)

PERFORMANCE = {"SingleStream": "p90_latency_ms", "Offline": "samples_per_s"}
"""The figure that ranks a scenario's runs for the trimmed mean."""
COMMON_FIGURES = ("average_w", "above_idle_w", "idle_w")
CASE_FIGURES = {
    "SingleStream": ("energy_per_query_mj", "queries_per_j", "average_w", "above_idle_w", "idle_w",
                     "p90_latency_ms", "qps"),
    "Offline": ("samples_per_s", "samples_per_j", "average_w", "above_idle_w", "idle_w"),
}
JOB_FIGURES = dict(CASE_FIGURES, SingleStream=CASE_FIGURES["SingleStream"] + ("p50_latency_ms", "p99_latency_ms"))
STAT_COLUMNS = ("n", "median", "min", "max", "relative_spread", "trimmed_mean", "trimmed_mean_n", "trimmed")
CSV_COLUMNS = ("case", "device", "model_name", "runtime", "threads", "scenario", "power_mode", "figure",
               *STAT_COLUMNS, "jobs_total", "jobs_done", "jobs_failed", "jobs_invalid", "jobs_other")


def write_report(title: str, rows: Sequence[Mapping[str, Any]], out_dir: str) -> Dict[str, str]:
    """Write report.csv, report.json and report.html into out_dir; returns {"csv": path, "json": path, "html": path}."""
    report = summarize(title, rows)
    paths = {kind: os.path.join(out_dir, f"report.{kind}") for kind in ("csv", "json", "html")}
    try:
        os.makedirs(out_dir, exist_ok=True)
        _write_text(paths["csv"], csv_text(report))
        write_json(paths["json"], sanitize(report))
        _write_text(paths["html"], render_html(report, rows))
    except OSError as e:
        raise DirectorError(f"cannot write the report in {out_dir}: {e.strerror or e}") from e
    return paths


def _write_text(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


# -- data ---------------------------------------------------------------------------------------------
def _dict(value: Any, *keys: str) -> Mapping[str, Any]:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _ms(value_ns: Any) -> Optional[float]:
    value = _num(value_ns)
    return None if value is None else value / 1e6


def run_figures(run: Optional[Mapping[str, Any]], scenario: Optional[str]) -> Dict[str, Optional[float]]:
    """A run's own figures (the scenario's, see JOB_FIGURES), None where run.json lacks one."""
    figures, agent = _dict(run, "passes", "run_1", "figures"), _dict(run, "passes", "run_1", "agent")
    latency = _dict(agent, "latency_ns")
    mj, average_w = _num(figures.get("energy_per_query_mj")), _num(figures.get("average_w"))
    idle_w, above_w = _num(_dict(run, "idle").get("average_w")), _num(figures.get("above_idle_w"))
    values = {
        "energy_per_query_mj": mj,
        "queries_per_j": 1000.0 / mj if mj else None,
        "average_w": average_w,
        "above_idle_w": above_w if above_w is not None or None in (average_w, idle_w) else average_w - idle_w,
        "idle_w": idle_w,
        "p50_latency_ms": _ms(latency.get("p50")),
        "p90_latency_ms": _ms(latency.get("p90")),
        "p99_latency_ms": _ms(latency.get("p99")),
        "qps": _num(agent.get("qps")),
        "samples_per_s": _num(agent.get("samples_per_s")),
        "samples_per_j": _num(figures.get("samples_per_j")),
    }
    return {name: values[name] for name in JOB_FIGURES.get(scenario or "", COMMON_FIGURES)}


def _case_fields(job: Mapping[str, Any]) -> Tuple[Any, ...]:
    model = job.get("model_name") or os.path.basename(str(job.get("model_path") or "")) or "?"
    return (str(job.get("device") or "?"), str(model), str(job.get("runtime") or "?"), job.get("threads"),
            str(job.get("scenario") or "?"), job.get("power_mode"))


def case_id(job: Mapping[str, Any]) -> str:
    """The job's key without its "/rN" repeat (composed from its fields when the key is not of that form)."""
    key, repeat = str(job.get("key") or ""), job.get("repeat")
    if key and repeat is not None and key.endswith(f"/r{repeat}"):
        return key[: -len(f"/r{repeat}")]
    device, model, runtime, threads, scenario, mode = _case_fields(job)
    return "/".join([device, model, runtime, f"t{'-' if threads is None else threads}", scenario, mode or "-"])


def job_entry(row: Mapping[str, Any]) -> Dict[str, Any]:
    """report.json's record of one job: its key, state and reason, and its run's figures and flagged checks."""
    job, run = _dict(row, "job"), _dict(row, "run")
    checks = [c for c in run.get("checks") or [] if isinstance(c, Mapping) and c.get("status") in ("fail", "warn")]
    return {
        "key": str(job.get("key") or ""), "case": case_id(job), "repeat": job.get("repeat"),
        "state": str(row.get("state") or "unknown"), "reason": row.get("reason") or run.get("reason"),
        "attempts": row.get("attempts"), "run_id": run.get("run_id"), "folder": row.get("folder"),
        "host": row.get("host"),
        "run_status": run.get("status"), "started_ns": run.get("started_ns"), "ended_ns": run.get("ended_ns"),
        "figures": run_figures(run or None, job.get("scenario")),
        "checks": [{"name": c.get("name"), "status": c.get("status"), "reason": c.get("reason")} for c in checks],
    }


def aggregate(values: Sequence[Optional[float]], dropped: AbstractSet[int] = frozenset()) -> Dict[str, Any]:
    """n, median, min, max, relative spread, and the mean over the runs not in dropped (indices into values)."""
    present = [v for v in values if v is not None]
    kept = [v for i, v in enumerate(values) if v is not None and i not in dropped]
    median = statistics.median(present) if present else None
    low, high = (min(present), max(present)) if present else (None, None)
    spread = (max(present) - min(present)) / abs(median) if median else None
    return {"n": len(present), "median": median, "min": low, "max": high, "relative_spread": spread,
            "trimmed_mean": statistics.fmean(kept) if kept else None, "trimmed_mean_n": len(kept),
            "trimmed": bool(dropped)}


def extremes(performance: Sequence[Optional[float]]) -> Set[int]:
    """Indices of the fastest and the slowest run (lowest and highest value); none with fewer than 3 ranked."""
    ranked = [(v, i) for i, v in enumerate(performance) if v is not None]
    return {min(ranked)[1], max(ranked)[1]} if len(ranked) >= 3 else set()


def case_entry(jobs: Sequence[Dict[str, Any]], first_job: Mapping[str, Any]) -> Dict[str, Any]:
    """report.json's record of one case: its fields, job counts and the aggregate of each figure."""
    device, model, runtime, threads, scenario, mode = _case_fields(first_job)
    done = [j for j in jobs if j["state"] == "done"]
    perf_name = PERFORMANCE.get(scenario)
    performance = [j["figures"].get(perf_name) for j in done] if perf_name else []
    dropped = extremes(performance)
    present = [(v, i) for i, v in enumerate(performance) if v is not None]
    if present:  # the run nearest the median performance shows the case's trace
        middle = statistics.median([v for v, _ in present])
        representative = done[min(present, key=lambda p: (abs(p[0] - middle), p[1]))[1]]["key"]
    else:
        representative = next((j["key"] for j in done if j["folder"]), None)
    flagged: Dict[str, Set[str]] = {"fail": set(), "warn": set()}
    for j in done:
        for check in j["checks"]:
            flagged[check["status"]].add(str(check["name"]))
    return {
        "case": jobs[0]["case"], "device": device, "model_name": model, "model_path": first_job.get("model_path"),
        "runtime": runtime, "threads": threads, "scenario": scenario, "power_mode": mode,
        "jobs": dict(Counter(j["state"] for j in jobs)), "done_jobs": [j["key"] for j in done],
        "runs": [j["run_id"] for j in done], "run_statuses": dict(Counter(str(j["run_status"] or "no run") for j in done)),
        "performance_figure": perf_name, "dropped_runs": [done[i]["run_id"] for i in sorted(dropped)],
        "representative_job": representative,
        "figures": {name: aggregate([j["figures"].get(name) for j in done], dropped)
                    for name in CASE_FIGURES.get(scenario, COMMON_FIGURES)},
        "checks": {status: sorted(names) for status, names in flagged.items()},
    }


def summarize(title: str, rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """report.json's content: title, generated_ns, counts, devices, time span, cases and jobs."""
    jobs = [job_entry(row) for row in rows]
    groups: Dict[Tuple[Any, ...], List[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(_case_fields(_dict(row, "job")), []).append(i)
    cases = [case_entry([jobs[i] for i in index], _dict(rows[index[0]], "job")) for index in groups.values()]
    starts = [j["started_ns"] for j in jobs if isinstance(j["started_ns"], int)]
    ends = [j["ended_ns"] for j in jobs if isinstance(j["ended_ns"], int)]
    return {
        "title": title, "generated_ns": time.time_ns(), "states": dict(Counter(j["state"] for j in jobs)),
        "devices": list(dict.fromkeys(c["device"] for c in cases)),
        "span_ns": [min(starts), max(ends or starts)] if starts else None, "cases": cases, "jobs": jobs,
    }


# -- report.csv ----------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def csv_text(report: Mapping[str, Any]) -> str:
    """report.csv: one line per case × figure (see the module docstring for the columns)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for case in report["cases"]:
        states = case["jobs"]
        counts = [sum(states.values())] + [states.get(s, 0) for s in ("done", "failed", "invalid")]
        counts.append(counts[0] - sum(counts[1:]))
        for name, stats in case["figures"].items():
            fields = [case[c] for c in CSV_COLUMNS[:7]] + [name] + [stats[c] for c in STAT_COLUMNS] + counts
            writer.writerow([_cell(v) for v in fields])
    return buffer.getvalue()


# -- report.html ---------------------------------------------------------------------------------------
def _group(case: Mapping[str, Any]) -> str:
    threads = "" if case["threads"] is None else f" · {case['threads']} threads"
    return f"{case['device']} · {case['model_name']} · {case['runtime']}{threads}"


def _image(make: Callable[[], Optional[bytes]], alt: str, empty: str) -> str:
    try:
        png = make()
    except Exception as error:  # a plot is a convenience; the report's tables must still come out
        log.warning("report plot %s: %s", alt, error)
        return f'<p class="note">{e(f"plot failed: {error}")}</p>'
    if png is None:
        return f'<p class="note">{e(empty)}</p>'
    return f'<img alt="{e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _panel(cases: Sequence[Mapping[str, Any]], jobs: Mapping[str, Any], figure: str, title: str,
           group: Callable[[Mapping[str, Any]], str] = _group) -> plots.Panel:
    series: Dict[str, Dict[str, List[float]]] = {}
    for case in cases:
        values = [jobs[k]["figures"].get(figure) for k in case["done_jobs"]]
        runs = series.setdefault(group(case), {}).setdefault(mode_label(case["power_mode"]), [])
        runs.extend(v for v in values if v is not None)
    modes = list(dict.fromkeys(mode_label(c["power_mode"]) for c in cases))
    return plots.Panel(title, LABELS[figure], modes, [plots.Series(k, v) for k, v in series.items()])


def _trace(case: Mapping[str, Any], row: Optional[Mapping[str, Any]]) -> str:
    title = f"<h3>{e(case['case'])}</h3>"
    folder = (row or {}).get("folder")
    path = os.path.join(str(folder), "samples.csv") if folder else None
    host = (row or {}).get("host")
    if path is not None and not os.path.isfile(path) and host and host != socket.gethostname():
        return f'{title}<p class="note">no power trace here: {e(path)} is on host {e(host)}</p>'
    if path is None or not os.path.isfile(path):
        return f'{title}<p class="note">no power trace: {e(path or "the run has no folder")} is missing</p>'
    try:
        samples = read_samples_csv(path)
    except PowerError as error:
        return f'{title}<p class="note">no power trace: {e(error)}</p>'
    run = (row or {}).get("run")
    window = _dict(run, "passes", "run_1", "figures").get("window_host_ns")
    window = window if isinstance(window, (list, tuple)) and len(window) == 2 and None not in window else None
    idle_w = _num(_dict(run, "idle").get("average_w"))
    label = f"{case['case']}, run {_dict(run).get('run_id') if run else '?'}"
    return title + _image(lambda: plots.trace_png(samples, window, idle_w, label), f"power trace {label}",
                          "samples.csv holds no samples")


def render_html(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """report.html: one self-contained page (inline style, plots as data: URIs), every string escaped; the
    sections as the module docstring lists them."""
    cases, jobs = report["cases"], report["jobs"]
    by_key = {j["key"]: j for j in jobs}
    rows_by_key = {j["key"]: row for j, row in zip(jobs, rows)}
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(report['title'])}</title>"
             f"<style>{page.CSS}</style></head><body>", page.header(report)]
    done = [c for c in cases if c["done_jobs"]]
    if not jobs:
        parts.append('<p class="note">Nothing in this sweep yet: it has no jobs.</p>')
    elif not done:
        parts.append('<p class="note">Nothing measured yet: no job is done; figures appear as runs finish.</p>')
    ordered = page.grouped(cases)  # by device and model, power modes next to each other
    if cases:
        parts += ["<h2>Summary (one row per case)</h2>", page.summary_table(ordered)]
    if done:
        single = [c for c in done if c["scenario"] == "SingleStream"]
        offline = [c for c in done if c["scenario"] == "Offline"]
        scenarios = list(dict.fromkeys(c["scenario"] for c in done))
        mj = [_panel(single, by_key, "energy_per_query_mj", "SingleStream energy per query")]
        watts = [_panel([c for c in done if c["scenario"] == s], by_key, "average_w", f"{s} average power")
                 for s in scenarios]
        per_j = [_panel(single, by_key, "queries_per_j", "SingleStream queries/J (1000 / mJ per query)"),
                 _panel(offline, by_key, "samples_per_j", "Offline samples/J")]
        latency = [(c["case"], [tuple(by_key[k]["figures"].get(f"p{p}_latency_ms") for p in (50, 90, 99))
                                for k in c["done_jobs"]]) for c in single]
        idle = [_panel(done, by_key, "idle_w", "idle baseline per device", group=lambda c: str(c["device"]))]
        parts += [
            "<h2>Energy per query vs power mode</h2>",
            _image(lambda: plots.power_mode_png(mj), "mJ per query vs power mode", "no SingleStream run with energy per query"),
            "<h2>Average power vs power mode</h2>",
            _image(lambda: plots.power_mode_png(watts), "average W vs power mode", "no run with an average power"),
            "<h2>Performance per watt vs power mode</h2>",
            _image(lambda: plots.power_mode_png(per_j), "performance per watt vs power mode", "no run with an efficiency"),
            "<h2>Latency distribution</h2>",
            _image(lambda: plots.latency_png(latency), "latency per run", "no SingleStream run with latencies"),
            "<h2>Idle baselines per device and power mode</h2>",
            _image(lambda: plots.power_mode_png(idle), "idle W per device and power mode", "no idle baseline"),
            "<h2>Power traces (one representative run per case)</h2>",
            f'<p class="note">Shaded orange: the measured window. Shaded pink: {e(plots.GAP_LABEL)}, intervals '
            "the analyzer gave no reading for; they are left out of the energy, and the bad_samples check counts "
            f"them. Shaded red: {e(plots.OVERRANGE_LABEL)}, which fail that check. Dashed grey: the idle baseline.</p>",
        ]
        parts += [_trace(c, rows_by_key.get(c["representative_job"]) if c["representative_job"] else None)
                  for c in ordered if c["done_jobs"]]
    if cases:
        parts += ["<h2>All figures</h2>", page.figures_table(ordered)]
    if jobs:
        parts.append(page.jobs_tables(jobs))
    parts.append("</body></html>\n")
    return "\n".join(parts)

