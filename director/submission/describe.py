"""The written parts of a results tree: each result's README, the analyzer table, the power settings,
and the honest label saying how the power was measured."""

from __future__ import annotations

import json
import os
from typing import Any, List, Mapping

FILL = "______ (fill in)"


def power_label(run: Mapping[str, Any]) -> str:
    """How this run's power was measured, said plainly: never the official MLPerf power workflow."""
    analyzer = run.get("analyzer") or {}
    model = analyzer.get("model") or "unknown analyzer"
    if model == "ptdaemon":
        text = ("Power measured through SPEC PTDaemon by edgepower's own client, not by the official MLPerf "
                "power workflow (the power-dev client and server); the official checker will not accept "
                "performance/power/ as it stands.")
    else:
        text = (f"Power measured by edgepower's own {model} driver, not by the official MLPerf power workflow "
                "(SPEC PTDaemon with the power-dev client and server); the official checker will not accept "
                "performance/power/ as it stands.")
    if analyzer.get("simulated"):
        text = "SIMULATED analyzer: these are not measurements of real power. " + text
    return text


def _figures(run: Mapping[str, Any]) -> List[str]:
    testing = (run.get("passes") or {}).get("run_1") or {}
    figures, agent = testing.get("figures") or {}, testing.get("agent") or {}
    official = figures.get("official") or {}
    lines = [f"- LoadGen: {'VALID' if agent.get('valid') else 'INVALID'}, {agent.get('query_count')} queries"]
    if run.get("scenario") == "SingleStream":
        p90 = (agent.get("latency_ns") or {}).get("early_stopping_p90")
        lines.append(f"- early-stopping p90 latency: {p90 / 1e6:.6f} ms" if p90 else "- early-stopping p90: n/a")
        if official.get("energy_per_query_mj") is not None:
            lines.append(f"- power metric (the checker's formula): {official['energy_per_query_mj']:.6f} mJ/query")
    else:
        lines.append(f"- samples/s: {agent.get('samples_per_s')}")
        if official.get("average_w") is not None:
            lines.append(f"- power metric (the checker's formula): {official['average_w']:.6f} W")
    if figures.get("average_w") is not None:
        lines.append(f"- edgepower's integral: {figures['average_w']:.6f} W over {figures.get('duration_s', 0):.3f} s, "
                     f"uncertainty {100 * (figures.get('uncertainty_relative') or 0):.2f} %")
    return lines


def scenario_readme(case: Any, run: Mapping[str, Any], measurements: Mapping[str, Any]) -> str:
    """README.md of results/<system>/<benchmark>/<scenario>/."""
    spec = run.get("spec") or {}
    versions = ((run.get("passes") or {}).get("run_1") or {}).get("agent", {}).get("versions") or {}
    model = run.get("model") or {}
    lines = [
        f"# {case.system} / {case.benchmark} / {case.scenario}", "",
        f"> {power_label(run)}", "",
        "## Figures (from the testing pass, performance/run_1)", "", *_figures(run), "",
        "## How it was run", "",
        f"- run: {run.get('run_id')} on device {run['device']['name']}, power mode {run.get('power_mode') or 'as found'}",
        f"- model: {os.path.basename(model.get('path', ''))} (sha256 {model.get('sha256')})",
        f"- runtime: {versions.get('runtime')}, threads {spec.get('threads') or 'default'}; "
        f"LoadGen {versions.get('loadgen')}; profile {spec.get('profile')}",
        f"- LoadGen settings given: {json.dumps(spec.get('settings') or {})} (see user.conf)",
        f"- input data types: {measurements.get('input_data_types')}; weights: {measurements.get('weight_data_types')}",
        "- produced with edgepower (`director run`, then `director submission export`)",
    ]
    if case.accuracy is not None:
        accuracy = ((case.accuracy[1].get("passes") or {}).get("run_1") or {}).get("agent", {}).get("accuracy") or {}
        lines.append(f"- accuracy run: {case.accuracy[1].get('run_id')}: {accuracy.get('line', 'no accuracy line')}")
    lines += ["", "LoadGen's logs and spl.txt are copied unmodified from the run folder. performance/power/ holds "
              "edgepower's run record (edgepower_run.json) and every analyzer sample with its range and status "
              "(samples.csv).", ""]
    return "\n".join(lines)


def analyzer_table(run: Mapping[str, Any]) -> str:
    """measurements/.../analyzer_table.md: the instrument, its identity and the ranges it measured on."""
    analyzer = run.get("analyzer") or {}
    identity = analyzer.get("identity") or {}
    ranges = run.get("ranges") or {}
    rows = [
        ("Analyzer (driver model)", analyzer.get("model")),
        ("Vendor / model", f"{identity.get('vendor')} {identity.get('model')}"),
        ("Serial number", identity.get("serial")),
        ("Firmware", identity.get("firmware")),
        ("Simulated", "yes: not a real instrument" if analyzer.get("simulated") else "no"),
        ("Testing voltage range (V)", ranges.get("voltage_range_v", "auto")),
        ("Testing current range (A)", ranges.get("current_range_a", "auto")),
        ("Ranges chosen from", ranges.get("source", "")),
        ("Calibration (NIST-traceable, within a year)", FILL),
        ("How measured", power_label(run)),
    ]
    return _table("Power analyzer", rows)


def power_settings(run: Mapping[str, Any]) -> str:
    """measurements/.../power_settings.md: the board's power management as the run found and set it."""
    facts = (run.get("device") or {}).get("facts") or {}
    spec = run.get("spec") or {}
    governors = facts.get("governors") or {}
    thermal = facts.get("thermal") or []
    rows = [
        ("Board", facts.get("model") or facts.get("profile")),
        ("Power mode", run.get("power_mode") or "as found (not changed)"),
        ("Power mode change", json.dumps(run.get("power_mode_change")) if run.get("power_mode_change") else "none"),
        ("CPU governors", ", ".join(f"{k}: {v}" for k, v in sorted(governors.items())) or "not readable"),
        ("CPUs online", facts.get("cpu_online_count")),
        ("Temperatures at start (°C)", ", ".join(f"{t.get('type') or t.get('name')}: {t.get('temp_c')}" for t in thermal) or "none readable"),
        ("Settle before idle (s)", spec.get("settle_s")),
        ("Idle baseline (W)", _round((run.get("idle") or {}).get("average_w"))),
        ("BIOS / firmware power settings", FILL),
    ]
    return _table("Power settings", rows)


def _round(value: Any) -> Any:
    return f"{value:.3f}" if isinstance(value, float) else value


def _table(title: str, rows: List[tuple]) -> str:
    lines = [f"# {title}", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {'' if value is None else value} |" for key, value in rows]
    return "\n".join(lines) + "\n"

