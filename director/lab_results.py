"""Stored runs for a front end: rows to sort and filter, one run's figures, checks and power trace, sweep reports."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from director.errors import DirectorError
from director.store import RunRow, Store, open_store
from power.errors import PowerError
from power.samples_csv import read_samples_csv

SORT_KEYS = ("started", "device", "model", "scenario", "status", "avg_power_w", "energy_per_query_mj",
             "samples_per_j", "p90_latency_ms", "throughput")
"""What a results table sorts by (ResultRow fields)."""
CHECK_ORDER = {"fail": 0, "warn": 1, "pass": 2}


@dataclass(frozen=True)
class ResultRow:
    """One stored run: when (UTC), what, how it ended, and its headline figures (W, mJ/query, samples/J, ms, /s)."""

    run_id: str
    started_ns: int
    started: str
    device: str
    model: str
    scenario: str
    status: str
    power_mode: Optional[str]
    avg_power_w: Optional[float]
    idle_power_w: Optional[float]
    energy_per_query_mj: Optional[float]
    samples_per_j: Optional[float]
    p90_latency_ms: Optional[float]
    throughput: Optional[float]
    folder: str


@dataclass(frozen=True)
class ResultListing:
    """Stored runs (newest first), or why they could not be read."""

    rows: Tuple[ResultRow, ...]
    database: str
    error: str = ""


@dataclass(frozen=True)
class CheckLine:
    """One check of a run: where it applies (run, idle, a pass), its name, pass/warn/fail and the reason."""

    scope: str
    name: str
    status: str
    reason: str


@dataclass(frozen=True)
class ResultDetail:
    """One run in full: its figures (label, text), checks, power trace (UTC ns, W), windows and file paths."""

    run_id: str
    status: str
    reason: str
    folder: str
    figures: Tuple[Tuple[str, str], ...]
    checks: Tuple[CheckLine, ...]
    trace: Tuple[Tuple[int, float], ...]
    idle_w: Optional[float]
    windows: Tuple[Tuple[str, int, int], ...]
    run_json: Optional[str]
    report_html: Optional[str]
    sweep_id: Optional[str]
    error: str = ""


@dataclass(frozen=True)
class ReportResult:
    """Where a sweep's report.html was written, or why not."""

    sweep_id: str
    html: Optional[str]
    error: str = ""


def utc_text(t_ns: Optional[int]) -> str:
    """'2026-11-22 11:56:49' (UTC), '-' when unknown."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t_ns / 1e9)) if t_ns else "-"


def _num(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def result_row(row: RunRow) -> ResultRow:
    """A store row as a table row."""
    s = row.summary
    p90 = _num(s.get("p90_latency_ns"))
    throughput = _num(s.get("qps")) if row.scenario == "SingleStream" else _num(s.get("samples_per_s"))
    return ResultRow(row.run_id, row.started_ns, utc_text(row.started_ns), row.device, row.model, row.scenario,
                     row.status, s.get("power_mode"), _num(s.get("avg_power_w")), _num(s.get("idle_power_w")),
                     _num(s.get("energy_per_query_mj")), _num(s.get("samples_per_j")),
                     p90 / 1e6 if p90 is not None else None, throughput, row.folder)


def open_results_store(results: str, database: Optional[str] = None, create: bool = False) -> Optional[Store]:
    """The results database (--db, else RESULTS/results.db); None when the default one does not exist yet."""
    if database:
        return open_store(database)
    path = os.path.join(results, "results.db")
    return open_store(path) if create or os.path.isfile(path) else None


def list_results(store: Optional[Store], limit: int = 1000) -> ResultListing:
    """The newest stored runs (none yet without a database)."""
    if store is None:
        return ResultListing((), "", "no results database yet: runs appear here once one has finished")
    try:
        return ResultListing(tuple(result_row(r) for r in store.list(limit=limit)), store.path)
    except DirectorError as e:
        return ResultListing((), store.path, str(e))


def filter_rows(rows: Sequence[ResultRow], text: str) -> Tuple[ResultRow, ...]:
    """The rows matching every word of TEXT (case-insensitive) in run id, device, model, scenario, status or mode."""
    words = text.lower().split()
    if not words:
        return tuple(rows)

    def haystack(r: ResultRow) -> str:
        return " ".join((r.run_id, r.device, r.model, r.scenario, r.status, r.power_mode or "")).lower()

    return tuple(r for r in rows if all(word in haystack(r) for word in words))


def sort_rows(rows: Sequence[ResultRow], key: str, descending: bool = False) -> Tuple[ResultRow, ...]:
    """Rows sorted by one SORT_KEYS field; runs without that figure go last either way."""
    if key not in SORT_KEYS:
        raise ValueError(f"unknown sort key {key!r} (known: {', '.join(SORT_KEYS)})")
    field = "started_ns" if key == "started" else key
    present = [r for r in rows if getattr(r, field) is not None]
    missing = [r for r in rows if getattr(r, field) is None]
    return tuple(sorted(present, key=lambda r: getattr(r, field), reverse=descending)) + tuple(missing)


def _ms(value_ns: Any) -> Optional[float]:
    number = _num(value_ns)
    return number / 1e6 if number is not None else None


def _fmt(value: Any, spec: str, unit: str = "") -> str:
    number = _num(value)
    return "-" if number is None else f"{format(number, spec)}{unit}"


def figures_of(run: Mapping[str, Any]) -> Tuple[Tuple[str, str], ...]:
    """The figures worth reading of a run.json, as (label, text with unit)."""
    testing = (run.get("passes") or {}).get("run_1") or {}
    figures, agent = testing.get("figures") or {}, testing.get("agent") or {}
    latency = agent.get("latency_ns") or {}
    out: List[Tuple[str, str]] = [
        ("status", str(run.get("status", "-")) + (f" ({run['reason']})" if run.get("reason") else "")),
        ("device", f"{(run.get('device') or {}).get('name', '-')}" + (f", mode {run['power_mode']}"
                                                                      if run.get("power_mode") else "")),
        ("model", os.path.basename(str((run.get("model") or {}).get("path", "-")))),
        ("scenario", f"{run.get('scenario', '-')} ({'conformant' if run.get('conformant') else 'not conformant'})"),
    ]
    if figures:
        uncertainty = _num(figures.get("uncertainty_relative"))
        out += [
            ("average", _fmt(figures.get("average_w"), ".3f", " W")
             + (f" ± {uncertainty * 100:.2f} %" if uncertainty is not None else "")),
            ("idle", _fmt((run.get("idle") or {}).get("average_w"), ".3f", " W")),
            ("above idle", _fmt(figures.get("above_idle_w"), ".3f", " W")),
            ("energy", _fmt(figures.get("energy_j"), ".3f", " J") + f" over {_fmt(figures.get('duration_s'), '.1f', ' s')}"),
        ]
        if run.get("scenario") == "Offline":
            out += [("samples/J", _fmt(figures.get("samples_per_j"), ".2f")),
                    ("samples/s", _fmt(agent.get("samples_per_s"), ".1f"))]
        else:
            out += [("per query", _fmt(figures.get("energy_per_query_mj"), ".4f", " mJ")),
                    ("latency", " ".join(f"p{p} {_fmt(_ms(latency.get(f'p{p}')), '.3f')}" for p in (50, 90, 99))
                     + " ms"),
                    ("queries", f"{agent.get('query_count', '-')} ({_fmt(agent.get('qps'), '.1f', ' /s')})")]
        official = figures.get("official") or {}
        if official:
            out.append(("MLPerf mean", _fmt(official.get("average_w"), ".3f", " W")
                        + f" ({official.get('sample_count', '-')} samples)"))
    ranges = run.get("ranges") or {}
    if ranges:
        out.append(("ranges", f"{_fmt(ranges.get('voltage_range_v'), 'g', ' V')}, "
                              f"{_fmt(ranges.get('current_range_a'), 'g', ' A')} ({ranges.get('source', '-')})"))
    return tuple(out)


def checks_of(run: Mapping[str, Any]) -> Tuple[CheckLine, ...]:
    """Every check of a run.json, worst first: the run's, then the idle baseline's and each pass's own."""
    lines = [CheckLine("run", c.get("name", "?"), c.get("status", "?"), c.get("reason", ""))
             for c in run.get("checks") or ()]
    for check in (run.get("idle") or {}).get("checks") or ():
        lines.append(CheckLine("idle", check.get("name", "?"), check.get("status", "?"), check.get("reason", "")))
    for name, entry in (run.get("passes") or {}).items():
        for check in entry.get("checks") or ():
            lines.append(CheckLine(name, check.get("name", "?"), check.get("status", "?"), check.get("reason", "")))
    return tuple(sorted(lines, key=lambda c: CHECK_ORDER.get(c.status, 0)))


def windows_of(run: Mapping[str, Any]) -> Tuple[Tuple[str, int, int], ...]:
    """Each pass's measured window (name, t0_ns, t1_ns) on the host's clock."""
    out = []
    for name, entry in (run.get("passes") or {}).items():
        window = (entry.get("figures") or {}).get("window_host_ns")
        if window:
            out.append((name, int(window[0]), int(window[1])))
    return tuple(out)


def read_trace(folder: str) -> Tuple[Tuple[int, float], ...]:
    """samples.csv of a run folder as (t_end_ns, W), NaN for a flagged sample; empty when absent."""
    path = os.path.join(folder, "samples.csv")
    if not os.path.isfile(path):
        return ()
    return tuple((s.t_end_ns, s.power_w if s.ok else math.nan) for s in read_samples_csv(path))


def sweep_of(store: Optional[Store], folder: str) -> Optional[Any]:
    """The sweep whose results folder holds this run folder (None for a run of its own)."""
    if store is None:
        return None
    parent = os.path.dirname(os.path.abspath(folder))
    return next((s for s in store.sweeps() if os.path.abspath(s.results) == parent), None)


def report_html_of(sweep_results: str) -> Optional[str]:
    """`<sweep results>/report/report.html` when it exists."""
    path = os.path.join(sweep_results, "report", "report.html")
    return path if os.path.isfile(path) else None


def detail_of_run(run: Mapping[str, Any], folder: str, store: Optional[Store] = None,
                  run_id: Optional[str] = None) -> ResultDetail:
    """A run.json (and its folder's samples.csv) as a detail view."""
    error = ""
    try:
        trace = read_trace(folder)
    except PowerError as e:
        trace, error = (), f"samples.csv: {e}"
    sweep = sweep_of(store, folder)
    run_json = os.path.join(folder, "run.json")
    return ResultDetail(
        run_id=run_id or str(run.get("run_id", os.path.basename(folder))), status=str(run.get("status", "-")),
        reason=str(run.get("reason") or ""), folder=folder, figures=figures_of(run), checks=checks_of(run),
        trace=trace, idle_w=_num((run.get("idle") or {}).get("average_w")), windows=windows_of(run),
        run_json=run_json if os.path.isfile(run_json) else None,
        report_html=report_html_of(sweep.results) if sweep else None, sweep_id=sweep.sweep_id if sweep else None,
        error=error,
    )


def _read_run_json(folder: str) -> Tuple[Optional[Dict[str, Any]], str]:
    path = os.path.join(folder, "run.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f), ""
    except FileNotFoundError:
        return None, f"{path} not found"
    except (OSError, ValueError) as e:
        return None, f"cannot read {path}: {e}"


def result_detail(store: Optional[Store], run_id: str) -> ResultDetail:
    """One stored run by id (or unique prefix): figures, checks, trace and paths from its folder."""
    try:
        if store is None:
            raise DirectorError("no results database yet")
        row = store.get(run_id)
        run, error = _read_run_json(row.folder)
        if run is None:  # the folder went away: what the row itself knows
            run = dict(row.summary, device={"name": row.device}, model={"path": row.model})
        detail = detail_of_run(run, row.folder, store, row.run_id)
    except DirectorError as e:
        return ResultDetail(run_id, "-", "", "", (), (), (), None, (), None, None, None, str(e))
    return replace(detail, error="; ".join(filter(None, (detail.error, error))))


def detail_of_folder(store: Optional[Store], folder: str) -> ResultDetail:
    """A run folder (one that just finished) as a detail view."""
    run, error = _read_run_json(folder)
    if run is None:
        return ResultDetail(os.path.basename(folder), "-", "", folder, (), (), (), None, (), None, None, None, error)
    try:
        return detail_of_run(run, folder, store)
    except DirectorError as e:
        return replace(detail_of_run(run, folder, None), error=str(e))


def write_sweep_report(store: Optional[Store], sweep_ref: str) -> ReportResult:
    """Write report.csv, report.json and report.html of a sweep (what `director report` does); where the HTML is."""
    from director.report import write_report
    from director.sweep_status import rows_for_report

    try:
        if store is None:
            raise DirectorError("no results database yet")
        sweep = store.sweep(sweep_ref)
        paths = write_report(f"sweep {sweep.sweep_id}", rows_for_report(store, sweep.sweep_id),
                             os.path.join(sweep.results, "report"))
    except (DirectorError, PowerError, OSError) as e:
        return ReportResult(sweep_ref, None, str(e))
    return ReportResult(sweep.sweep_id, paths["html"])
