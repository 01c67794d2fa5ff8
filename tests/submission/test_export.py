"""`director submission export`: real run folders in, an MLPerf results tree out (reference/mlperf.md §11)."""

from __future__ import annotations

import filecmp
import json
import shutil
import tarfile
from pathlib import Path
from typing import Dict

import pytest

from director.errors import BadInput
from director.submission.checker import CheckOptions, check_path
from director.submission.findings import WARN
from director.submission.export import ExportOptions, export
from director.submission.rules import SYSTEM_NON_EMPTY, SYSTEM_REQUIRED as SYSTEM_KEYS
from power.spl import parse_mlperf_time
from tests.director.commandline import ERROR, make_director
from tests.submission.check_runs import edit, fails, switch_to_auto_ranging, window_host_ns

SHORT = CheckOptions(min_duration_ms=3000)

CASE_FILES = {
    "README.md", "user.conf", "measurements.json",
    "accuracy/mlperf_log_summary.txt", "accuracy/mlperf_log_detail.txt", "accuracy/mlperf_log_accuracy.json",
    "accuracy/accuracy.txt",
    "performance/run_1/mlperf_log_summary.txt", "performance/run_1/mlperf_log_detail.txt", "performance/run_1/spl.txt",
    "performance/ranging/mlperf_log_summary.txt", "performance/ranging/mlperf_log_detail.txt",
    "performance/ranging/spl.txt",
    "performance/power/edgepower_run.json", "performance/power/samples.csv",
}


def all_runs(edge_runs: Dict[str, Path]) -> list:
    return [str(edge_runs[k]) for k in ("SingleStream", "Offline", "SingleStream-accuracy", "Offline-accuracy")]


def test_export_writes_the_tree_with_unmodified_logs(edge_runs, answers, tmp_path) -> None:
    director = make_director(tmp_path)
    out = tmp_path / "out"
    done = director("submission", "export", *all_runs(edge_runs), "--out", out, "--submitter", "edgepower",
                    "--system", "local_onnx", "--answers", answers, "--tar")
    assert done.returncode == 0, done.stderr
    root = out / "open" / "edgepower"
    assert done.stdout.splitlines()[:3] == [
        f"wrote {root}",
        "  results/local_onnx/resnet50/Offline: performance + accuracy",
        "  results/local_onnx/resnet50/SingleStream: performance + accuracy",
    ]
    assert "note: SIMULATED analyzer: these are not measurements of real power. Power measured by edgepower's own " \
           "WT310E driver, not by the official MLPerf power workflow" in done.stdout
    for scenario in ("SingleStream", "Offline"):
        case = root / "results" / "local_onnx" / "resnet50" / scenario
        files = {str(p.relative_to(case)) for p in case.rglob("*") if p.is_file()}
        assert files == CASE_FILES
        perf, acc = edge_runs[scenario], edge_runs[f"{scenario}-accuracy"]
        for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "spl.txt"):
            assert filecmp.cmp(perf / "run_1" / name, case / "performance" / "run_1" / name, shallow=False)
            assert filecmp.cmp(perf / "ranging" / name, case / "performance" / "ranging" / name, shallow=False)
        assert filecmp.cmp(acc / "run_1" / "accuracy.txt", case / "accuracy" / "accuracy.txt", shallow=False)
        assert (case / "accuracy" / "accuracy.txt").read_text().startswith("accuracy=75.000%, good=24, total=32")
        assert json.loads((case / "measurements.json").read_text()) == {
            "input_data_types": "fp32", "retraining": "No", "starting_weights_filename": "tiny_float.onnx",
            "weight_data_types": "fp32", "weight_transformations": "none"}
        readme = (case / "README.md").read_text()
        assert "> SIMULATED analyzer: these are not measurements of real power." in readme
        table = (root / "measurements" / "local_onnx" / "resnet50" / scenario / "analyzer_table.md").read_text()
        assert "| Serial number | C2PH13047V |" in table and "| Testing current range (A) | 0.1 |" in table
        assert (root / "measurements" / "local_onnx" / "resnet50" / scenario / "power_settings.md").is_file()
    system = json.loads((root / "systems" / "local_onnx.json").read_text())
    assert set(SYSTEM_KEYS) <= set(system)
    assert [k for k in SYSTEM_NON_EMPTY if system[k] in ("", None)] == []
    assert (system["division"], system["submitter"], system["status"], system["system_type"]) == \
        ("open", "edgepower", "available", "edge")
    assert system["cooling"] == "passive heatsink" and system["accelerators_per_node"] == 0
    assert system["framework"].startswith("onnxruntime ")
    assert (root / "src" / "resnet50" / "edgepower_agent" / "agent" / "runner.py").is_file()
    checklist = (root / "documentation" / "self_certification_local_onnx.md").read_text()
    assert "| Result validity | VALID | run_1/mlperf_log_detail.txt |" in checklist
    assert "| Accuracy | accuracy=75.000%, good=24, total=32 | accuracy/accuracy.txt |" in checklist
    assert "| RNG seeds (qsl, sample index, schedule) | 2085463073848966840, 2747215439041700203, " \
           "16159082839903944936 |" in checklist
    assert checklist.count("- [ ] ") == 7 and checklist.count(": ______") == 7
    with tarfile.open(out / "open.tar.gz") as tar:
        names = tar.getnames()
    assert "open/edgepower/results/local_onnx/resnet50/Offline/performance/run_1/spl.txt" in names


def _options(tmp_path: Path, answers: Path, **kw) -> ExportOptions:
    return ExportOptions(out=str(tmp_path / "out"), division="open", category="available", submitter="lab",
                         answers=str(answers), **kw)


def test_bad_input_is_refused_before_anything_is_written(edge_runs, answers, tmp_path) -> None:
    runs = all_runs(edge_runs)
    cases = [
        ([str(tmp_path)], {}, f"{tmp_path}: not a run folder (no run.json)"),
        (runs + [runs[0]], {}, f"local/resnet50/SingleStream: two performance runs ({runs[0]} and {runs[0]}); "
                               "give one of them"),
        ([runs[2]], {}, "local/resnet50/SingleStream: only an accuracy run; a result needs a performance run too"),
        (runs, {"system": "bad name"}, "system name 'bad name': use letters, digits, '_', '-' and '.' "
                                       "(give one with --system)"),
    ]
    for folders, extra, message in cases:
        with pytest.raises(BadInput) as caught:
            export(folders, _options(tmp_path, answers, **extra))
        assert str(caught.value) == message
    assert not (tmp_path / "out").exists()


def test_missing_answers_are_named_and_asked_for(edge_runs, tmp_path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("[system]\ncooling = \"fan\"\n")
    with pytest.raises(BadInput) as caught:
        export(all_runs(edge_runs), _options(tmp_path, empty))
    assert str(caught.value) == (
        "system: no value for host_memory_configuration, host_storage_capacity, host_storage_type, host_networking, "
        f"host_network_card_count, host_networking_topology; give them in the [system] table of {empty}")
    asked = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "typed"
    result = export(all_runs(edge_runs), _options(tmp_path, empty), ask=ask)
    assert asked[:2] == ["system.host_memory_configuration: ", "system.host_storage_capacity: "]
    assert asked[-3:] == [f"measurements.{k}: " for k in ("retraining", "weight_data_types", "weight_transformations")]
    assert len(result.cases) == 2


def test_cli_errors_are_one_line(edge_runs, answers, tmp_path) -> None:
    director = make_director(tmp_path)
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[system]\nwheels = 4\n")
    for args, message in (
        (("submission", "export", tmp_path, "--out", tmp_path / "o", "--submitter", "x"),
         f"{tmp_path}: not a run folder (no run.json)"),
        (("submission", "export", edge_runs["SingleStream"], "--out", tmp_path / "o", "--submitter", "x",
          "--answers", bad_toml),
         f"{bad_toml}: [system] has unknown key 'wheels' (expected one of the MLPerf keys, e.g. division, "
         "submitter, status, ...)"),
    ):
        done = director(*args)
        assert (done.returncode, done.stderr) == (2, ERROR + message + "\n")


def test_the_exported_tree_passes_director_check_and_broken_copies_fail(edge_runs, answers, tmp_path) -> None:
    out = tmp_path / "out"
    export(all_runs(edge_runs), _options(tmp_path, answers, system="local_onnx"))
    root = out / "open" / "lab"
    director = make_director(tmp_path)
    good = director("check", out, "--min-duration", "3")
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.splitlines()[-1] == "2 case(s): 0 FAIL, 2 WARN, 45 PASS; nothing failed"
    report = check_path(str(out), SHORT)
    for case in report.cases:
        run = json.loads((Path(case.path) / "performance" / "power" / "edgepower_run.json").read_text())
        official = run["passes"]["run_1"]["figures"]["official"]
        key = "energy_per_query_mj" if case.scenario == "SingleStream" else "average_w"
        assert case.figures[key] == official[key] and case.figures["accuracy_percent"] == 75.0
        assert [f.rule for f in case.findings if f.status is WARN] == ["power.workflow"]

    # The rules' 600 s: these 3 s runs are short.
    assert [(f.rule, f.message) for c in check_path(str(out), CheckOptions()).cases for f in fails(c)] == [
        ("loadgen.min_duration", "effective_min_duration_ms 3000 < 600000")] * 2

    def broken(name: str) -> Path:
        copy = tmp_path / name
        shutil.copytree(root, copy)
        return copy / "results" / "local_onnx" / "resnet50" / "SingleStream"

    seeds = broken("seeds")
    edit(seeds / "performance" / "run_1" / "mlperf_log_detail.txt", '"value": 2085463073848966840', '"value": 5', 2)
    gap = broken("gap")
    begin_ns, end_ns, _ = window_host_ns(
        json.loads((gap / "performance" / "power" / "edgepower_run.json").read_text()))
    spl = gap / "performance" / "run_1" / "spl.txt"
    lines = spl.read_text().splitlines(keepends=True)
    middle = [i for i, line in enumerate(lines) if begin_ns < parse_mlperf_time(line.split(",")[1]) < end_ns]
    del lines[middle[len(middle) // 2]:middle[len(middle) // 2] + 5]
    spl.write_text("".join(lines))
    missing = broken("missing")
    (missing / "accuracy" / "accuracy.txt").unlink()
    auto = broken("auto")
    assert switch_to_auto_ranging(auto / "performance" / "power" / "samples.csv", begin_ns, end_ns)

    for case, rules in ((seeds, ["loadgen.seeds"]), (gap, ["power.gaps"]),
                        (missing, ["tree.missing_file", "accuracy.files"]), (auto, ["power.testing_ranges_fixed"])):
        (found,) = check_path(str(case), SHORT).cases
        assert [f.rule for f in fails(found)] == rules, (case, fails(found))
        rule = rules[0]
        done = director("check", case, "--min-duration", "3")
        assert done.returncode == 3 and f"FAIL {rule}: " in done.stdout
