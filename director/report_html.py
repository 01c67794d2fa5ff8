"""report.html's text parts: escaping, number format, style, and its tables (summary, all figures, jobs).

Every string that reaches the page goes through e(); numbers through fmt(). The plots and power
traces are made in director.report (they need the runs' files); this module only formats the
aggregates that director.report.summarize() computed.
"""

from __future__ import annotations

import html
import math
import time
from typing import Any, Dict, List, Mapping, Sequence, Tuple

DEFAULT_MODE = "(board default)"
LABELS = {
    "energy_per_query_mj": "mJ/query", "queries_per_j": "queries/J", "average_w": "average W",
    "above_idle_w": "above-idle W", "idle_w": "idle W", "p50_latency_ms": "p50 latency ms",
    "p90_latency_ms": "p90 latency ms", "p99_latency_ms": "p99 latency ms", "qps": "QPS",
    "samples_per_s": "samples/s", "samples_per_j": "samples/J",
}
HEADLINE = {"SingleStream": "energy_per_query_mj", "Offline": "samples_per_j"}
"""The figure a case is judged by: energy per query (lower is better), samples per joule (higher is better)."""
PERFORMANCE_UNITS = {"p90_latency_ms": "ms p90", "samples_per_s": "samples/s"}
SUMMARY_HEADERS = ("device", "model", "runtime / threads", "scenario", "power mode", "n", "energy figure (median)",
                   "min – max", "average W", "performance (median)", "idle W")
CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.case-start td, tr.group-start td { border-top: 2px solid #999; }
table.summary tr.group-start td:nth-child(-n+2) { font-weight: bold; }
.note { color: #666; font-style: italic; } .meta { color: #444; } .fail { color: #b00; } .warn { color: #a60; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
"""
NUM = ' class="num"'


def e(value: Any) -> str:
    """A value as HTML-escaped text."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A figure as the report shows it: 4 significant digits (whole numbers from 10 000), an en dash when missing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def mode_label(mode: Any) -> str:
    """A power mode as shown; None is the board's default."""
    return DEFAULT_MODE if mode is None else str(mode)


def utc(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ns / 1e9))


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _states(states: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(states.items(), key=lambda i: (-i[1], i[0])))


def header(report: Mapping[str, Any]) -> str:
    """The title and one line: when generated, the job states, the devices and the time span of the runs."""
    states, span = report["states"], report["span_ns"]
    when = f"{utc(span[0])} – {utc(span[1])} ({(span[1] - span[0]) / 1e9:.0f} s)" if span else "no runs yet"
    counts = _states(states)
    return (f"<h1>{e(report['title'])}</h1>\n<p class=\"meta\">generated {utc(report['generated_ns'])} · "
            f"{sum(states.values())} jobs{e(': ' + counts if counts else '')} · devices: "
            f"{e(', '.join(report['devices']) or 'none')} · runs: {e(when)}</p>")


def grouped(cases: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """The cases grouped by device, model, then runtime, threads and scenario (each in order of first appearance),
    so a case's power modes sit next to each other."""
    fields = ("device", "model_name", "runtime", "threads", "scenario")
    first: Dict[Tuple[Any, ...], int] = {}
    for i, case in enumerate(cases):
        for k in (1, 2, 5):  # the device, the device and model, the case without its power mode
            first.setdefault(tuple(case[f] for f in fields[:k]), i)
    return [case for _, case in sorted(enumerate(cases), key=lambda ic: tuple(
        first[tuple(ic[1][f] for f in fields[:k])] for k in (1, 2, 5)) + (ic[0],))]


def _runtime(case: Mapping[str, Any]) -> str:
    return str(case["runtime"]) + ("" if case["threads"] is None else f" / {case['threads']} threads")


def summary_table(cases: Sequence[Mapping[str, Any]]) -> str:
    """One row per case: its fields, n, the energy figure's median and min–max, average W, performance, idle W."""
    show_jobs = any(set(c["jobs"]) != {"done"} for c in cases)
    out = ['<p class="note">Medians over each case\'s done runs. Energy figure: mJ/query for SingleStream (lower '
           'is better), samples/J for Offline (higher is better); n is the number of runs behind it. Performance: '
           'p90 latency for SingleStream, samples/s for Offline.</p>',
           '<table class="summary"><tr>' + "".join(f"<th>{e(h)}</th>" for h in SUMMARY_HEADERS + (
               ("jobs",) if show_jobs else ())) + "</tr>"]
    previous = None
    for case in cases:
        figures, headline = case["figures"], HEADLINE.get(case["scenario"])
        energy = figures.get(headline or "", {})
        perf_name = case["performance_figure"]
        perf = figures.get(perf_name or "", {})
        cells = [(e(v), "") for v in (case["device"], case["model_name"], _runtime(case), case["scenario"],
                                      mode_label(case["power_mode"]))]
        cells += [(e(energy.get("n", 0)), NUM),
                  (e(f"{fmt(energy['median'])} {LABELS[headline]}" if energy.get("n") else "–"), NUM),
                  (e(f"{fmt(energy['min'])} – {fmt(energy['max'])}" if energy.get("n") else "–"), NUM),
                  (e(fmt(figures.get("average_w", {}).get("median"))), NUM),
                  (e(f"{fmt(perf['median'])} {PERFORMANCE_UNITS.get(perf_name, '')}" if perf.get("n") else "–"), NUM),
                  (e(fmt(figures.get("idle_w", {}).get("median"))), NUM)]
        if show_jobs:
            bad = any(s in case["jobs"] for s in ("failed", "invalid"))
            text = "all done" if set(case["jobs"]) == {"done"} else _states(case["jobs"])
            cells.append((e(text), ' class="fail"' if bad else ""))
        group = (case["device"], case["model_name"])
        start = ' class="group-start"' if group != previous and previous is not None else ""
        previous = group
        out.append(f"<tr{start}>" + "".join(f"<td{attr}>{text}</td>" for text, attr in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def trimmed_note(case: Mapping[str, Any]) -> Tuple[str, int]:
    """How the case's trimmed means were taken, and over how many runs (see director.report's docstring)."""
    perf_name = case["performance_figure"]
    ranked = case["figures"].get(perf_name, {}).get("n", 0) if perf_name else len(case["done_jobs"])
    dropped = len(case["dropped_runs"])
    if dropped:
        by = LABELS.get(perf_name, perf_name)
        return (f"trimmed mean over {ranked - dropped} of {ranked} runs, fastest and slowest dropped "
                f"(ranked by {by})"), ranked - dropped
    if ranked:
        return f"trimmed mean: plain mean of {_runs(ranked)} (fewer than 3 to trim)", ranked
    return "trimmed mean: no runs", 0


def figures_table(cases: Sequence[Mapping[str, Any]]) -> str:
    """One row per case × figure: n, median, min, max, spread and the trimmed mean; per case how it was trimmed."""
    out = ["<table><tr><th>case</th><th>figure</th><th>n</th><th>median</th><th>min</th><th>max</th>"
           "<th>spread</th><th>trimmed mean</th></tr>"]
    for case in cases:
        note, kept = trimmed_note(case)
        figures = list(case["figures"].items())
        head = (f'<td rowspan="{len(figures)}"><b>{e(case["case"])}</b><br>power mode: '
                f'{e(mode_label(case["power_mode"]))}<br>jobs: {e(_states(case["jobs"]))}'
                f'<br><span class="note">{e(note)}</span></td>')
        for i, (name, s) in enumerate(figures):
            spread = "–" if s["relative_spread"] is None else f"{s['relative_spread'] * 100:.1f} %"
            mean = fmt(s["trimmed_mean"])
            if s["trimmed"] and s["trimmed_mean_n"] != kept:
                mean += f" (over {_runs(s['trimmed_mean_n'])})"
            cells = [LABELS.get(name, name), s["n"], fmt(s["median"]), fmt(s["min"]), fmt(s["max"]), spread, mean]
            row = "".join(f"<td{NUM if k else ''}>{e(c)}</td>" for k, c in enumerate(cells))
            out.append(f'<tr class="case-start">{head}{row}</tr>' if i == 0 else f"<tr>{row}</tr>")
    out.append("</table>")
    return "\n".join(out)


def jobs_tables(jobs: Sequence[Mapping[str, Any]]) -> str:
    """The failed and invalid jobs with their reasons, then every job with its run and flagged checks."""
    bad = [j for j in jobs if j["state"] in ("failed", "invalid")]
    out = ["<h2>Failed and invalid jobs</h2>"]
    if not bad:
        out.append('<p class="note">none</p>')
    else:
        out.append("<table><tr><th>job</th><th>state</th><th>attempts</th><th>reason</th></tr>")
        out += [f"<tr><td>{e(j['key'])}</td><td class=\"fail\">{e(j['state'])}</td><td class=\"num\">"
                f"{e(j['attempts'] if j['attempts'] is not None else '–')}</td><td>{e(j['reason'] or '–')}</td></tr>"
                for j in bad]
        out.append("</table>")
    out.append("<h2>All jobs</h2><table><tr><th>job</th><th>state</th><th>run status</th><th>attempts</th>"
               "<th>run</th><th>failing and warning checks</th></tr>")
    for j in jobs:
        checks = "<br>".join(f'<span class="{e(c["status"])}">{e(c["status"])}: {e(c["name"])}</span> {e(c["reason"])}'
                             for c in j["checks"]) or "–"
        out.append(f"<tr><td>{e(j['key'])}</td><td>{e(j['state'])}</td><td>{e(j['run_status'] or '–')}</td>"
                   f"<td class=\"num\">{e(j['attempts'] if j['attempts'] is not None else '–')}</td>"
                   f"<td>{e(j['run_id'] or '–')}</td><td>{checks}</td></tr>")
    out.append("</table>")
    return "\n".join(out)
