"""A run's folder on the director: run.json, samples.csv, plot.png, and per pass LoadGen's logs and spl.txt.

spl.txt rows are the analyzer's samples during the pass, stamped in the DEVICE's clock (host stamp
+ measured offset), so that they and LoadGen's power_begin/power_end share one time base exactly
as the MLPerf checker assumes; run.json records the offset used.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Iterable, Optional, Sequence

from power.errors import PowerError
from power.sample import Sample
from power.spl import record_from_sample, write_spl

SPL_MARGIN_NS = 2_000_000_000  # samples this long before and after a pass go into its spl.txt too


def write_json(path: str, data: Dict[str, Any]) -> None:
    """Write JSON atomically, so a reader never sees half a run.json."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=_jsonable)
        f.write("\n")
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"not JSON serialisable: {value!r}")


def write_pass_spl(
    path: str, samples: Iterable[Sample], start_ns: int, end_ns: int, offset_ns: int, mark: str
) -> int:
    """spl.txt of one pass (host times start_ns..end_ns, with margins); returns the row count."""
    rows = []
    for sample in samples:
        if start_ns - SPL_MARGIN_NS <= sample.t_end_ns <= end_ns + SPL_MARGIN_NS:
            shifted = dataclasses.replace(sample, t_end_ns=sample.t_end_ns + offset_ns)
            rows.append(record_from_sample(shifted, mark))
    write_spl(path, rows)
    return len(rows)


def write_run_spl(folder: str, record: Dict[str, Any], samples: Sequence[Sample]) -> Optional[str]:
    """The spl.txt of each pass of a run that has its window recorded (passes.NAME.spl_window), from the run's
    samples; None, or "cannot write PATH: why" for the first that could not be written."""
    for name, entry in (record.get("passes") or {}).items():
        window = entry.get("spl_window")
        if not window:
            continue
        path = os.path.join(folder, name, "spl.txt")
        mark = f"{record['run_id']}_{'ranging' if name == 'ranging' else 'testing'}"
        try:
            entry["spl_rows"] = write_pass_spl(path, samples, window["start_ns"], window["end_ns"], window["offset_ns"],
                                               mark)
        except (PowerError, OSError) as e:
            return f"cannot write {path}: {e}"
    return None


def sanitize(value: Any) -> Any:
    """NaN and infinities become None, so run.json is strict JSON."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    return value


def summary_row(run: Dict[str, Any]) -> Dict[str, Any]:
    """The results-database row of a run (see director.store_schema.COLUMNS)."""
    testing = (run.get("passes") or {}).get("run_1") or {}
    figures = testing.get("figures") or {}
    agent = testing.get("agent") or {}
    latency = agent.get("latency_ns") or {}
    return {
        "run_id": run["run_id"],
        "started_ns": run["started_ns"],
        "device": run["device"]["name"],
        "model": os.path.basename(run["model"]["path"]),
        "model_sha256": run["model"].get("sha256"),
        "runtime": (agent.get("versions") or {}).get("runtime"),
        "scenario": run["scenario"],
        "mode": run["mode"],
        "power_mode": run.get("power_mode"),
        "status": run["status"],
        "conformant": run.get("conformant"),
        "avg_power_w": figures.get("average_w"),
        "energy_j": figures.get("energy_j"),
        "energy_per_query_mj": figures.get("energy_per_query_mj"),
        "samples_per_j": figures.get("samples_per_j"),
        "idle_power_w": (run.get("idle") or {}).get("average_w"),
        "p90_latency_ns": latency.get("p90"),
        "qps": agent.get("qps"),
        "samples_per_s": agent.get("samples_per_s"),
        "folder": run["folder"],
        "host": run.get("host"),
        "report": report_record(run),
    }


def report_record(run: Dict[str, Any]) -> Dict[str, Any]:
    """The part of run.json a sweep report reads (director.report), kept in the database row so a report
    needs no access to the host that holds the folder: status, times, idle, the testing pass's figures
    and agent figures, and the checks."""
    testing = (run.get("passes") or {}).get("run_1") or {}
    agent = testing.get("agent") or {}
    return {
        "run_id": run.get("run_id"), "status": run.get("status"), "reason": run.get("reason"),
        "started_ns": run.get("started_ns"), "ended_ns": run.get("ended_ns"), "host": run.get("host"),
        "folder": run.get("folder"),
        "idle": {k: v for k, v in (run.get("idle") or {}).items() if k in ("average_w", "reused_from")},
        "passes": {"run_1": {
            "figures": testing.get("figures") or {},
            "agent": {k: agent.get(k) for k in ("qps", "samples_per_s", "latency_ns") if k in agent},
        }},
        "checks": [{k: c.get(k) for k in ("name", "status", "reason")} for c in run.get("checks") or []
                   if isinstance(c, dict)],
    }


def plot_run(path: str, samples: Sequence[Sample], windows: Sequence[tuple], idle_w: Any, title: str) -> None:
    """Draw plot.png (see director.plot)."""
    from director.plot import plot_trace

    plot_trace(path, samples, windows, idle_w, title)
