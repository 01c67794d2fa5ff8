"""`check_path` on real edgepower run folders (local device, sim analyzer, 3 s passes; tests/submission/conftest.py)
and on copies of them with broken samples."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Dict

import pytest

from director.submission.checker import CheckOptions, check_path
from director.submission.findings import PASS, WARN
from power.spl import format_mlperf_time
from tests.submission.check_runs import fails, only, switch_to_auto_ranging, window_host_ns

SHORT = CheckOptions(min_duration_ms=3000)
SIM_LABEL = ("SIMULATED analyzer: these are not measurements of real power. Power measured by edgepower's own "
             "WT310E driver, not by the official MLPerf power workflow (SPEC PTDaemon with the power-dev client and "
             "server); the official checker will not accept performance/power/ as it stands.")


def run_json(folder: Path) -> Dict[str, Any]:
    return json.loads((folder / "run.json").read_text())


@pytest.mark.parametrize("scenario, figure", [("SingleStream", "energy_per_query_mj"), ("Offline", "average_w")])
def test_run_folder_passes_with_the_official_figure_of_run_json(edge_runs, scenario, figure):
    folder = edge_runs[scenario]
    report = check_path(str(folder), SHORT)
    case = report.cases[0]
    assert not report.failed, fails(case)
    assert (case.system, case.benchmark, case.scenario) == ("local", "resnet50", scenario)
    label = only(case, "power.workflow")
    assert (label.status, label.message, label.path) == (WARN, SIM_LABEL, str(folder / "run.json"))
    official = run_json(folder)["passes"]["run_1"]["figures"]["official"]
    assert case.figures[figure] == official[figure]
    assert case.figures["power_samples"] == official["sample_count"]
    assert only(case, "loadgen.seeds").message.startswith("seeds are round v6.1's ")
    for rule in ("power.testing_ranges_fixed", "power.uncertainty", "power.no_data", "power.gaps",
                 "power.testing_vs_ranging", "power.clock_sync", "power.window_margin"):
        assert only(case, rule).status is PASS, only(case, rule)
    assert re.fullmatch(r"worst clock offset bound \d+\.\d{3} ms \((session|ranging|run_1) (before|after), of 6 "
                        r"syncs\) <= 800 ms", only(case, "power.clock_sync").message)


def test_rules_minimum_duration_fails_a_short_run(edge_runs):
    case = check_path(str(edge_runs["SingleStream"]), CheckOptions()).cases[0]
    assert [(f.rule, f.message) for f in fails(case)] == [
        ("loadgen.min_duration", "effective_min_duration_ms 3000 < 600000")]


def test_auto_ranging_samples_in_the_testing_window_fail(edge_runs, tmp_path):
    folder = Path(shutil.copytree(edge_runs["SingleStream"], tmp_path / "run"))
    begin, end, offset = window_host_ns(run_json(folder))
    switched = switch_to_auto_ranging(folder / "samples.csv", begin, end)
    case = check_path(str(folder), SHORT).cases[0]
    assert [f.rule for f in fails(case)] == ["power.testing_ranges_fixed"]
    first = format_mlperf_time(int(switched[0]["t_end_ns"]) + offset)
    assert re.fullmatch(rf"{len(switched)} of \d+ samples in the testing window on auto ranging, first at "
                        rf"{re.escape(first)}", only(case, "power.testing_ranges_fixed").message)


def test_accuracy_run_is_compared_with_the_closed_target(edge_runs):
    folder = edge_runs["SingleStream-accuracy"]
    closed = check_path(str(folder), CheckOptions(division="closed")).cases[0]
    assert closed.figures == {"accuracy_percent": 75.0}
    assert [(f.rule, f.message) for f in fails(closed)] == [
        ("accuracy.target", "accuracy 75.000 % < target 75.6954 % (resnet50)")]
    unknown = check_path(str(folder), CheckOptions()).cases[0]
    assert not fails(unknown)
    assert only(unknown, "accuracy.target").message == (
        "accuracy 75.000 %; division unknown, so not compared with the closed target 75.6954 % (give --division)")


