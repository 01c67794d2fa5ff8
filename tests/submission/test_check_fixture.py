"""`check_path` on the real public MLPerf v3.0 results (NVIDIA Orin MaxQ, power-dev/PTDaemon files), read in
place, and on broken copies of them made in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

from director.submission.checker import CheckOptions, check_path
from director.submission.findings import FAIL, PASS, WARN
from tests.submission.check_runs import RESULTS, V30, edit, fails, only, performance_copy, v30_copy

SS_QSL = '"key": "effective_qsl_rng_seed", "value": 10003631887983097364'


def test_singlestream_figures_equal_the_published_ones(shared_fixtures):
    folder = shared_fixtures / V30 / RESULTS / "SingleStream" / "performance"
    report = check_path(str(folder), CheckOptions())
    assert not report.failed, fails(report.cases[0])
    case = report.cases[0]
    assert (case.system, case.benchmark, case.scenario) == ("Orin_TRT_MaxQ", "resnet50", "SingleStream")
    assert case.figures["energy_per_query_mj"] == 22.193258802933546
    assert case.figures["queries_per_j"] == 45.05872746673049
    assert case.figures["early_stopping_latency_ms"] == 1.637696
    assert (case.figures["power_samples"], case.figures["window_s"]) == (600, 600.002)
    assert only(case, "power.metric").message == (
        "22.193259 mJ/query: mean 14.814617 W of 600 samples x 600.002 s x 1000 / 400518 queries")
    assert only(case, "loadgen.seeds").message == (
        "seeds are round v3.0's (qsl 10003631887983097364, sample_index 17183018601990103738, "
        "schedule 12134888396634371638)")
    assert only(case, "power.testing_ranges_fixed").message == (
        "testing ranges fixed before the testing Go: V 206.970000, A 0.247500")
    assert only(case, "power.clock_sync").message == (
        "worst |client - server| wall clock 131.126 ms (testing phase 2) <= 800 ms")
    # Two ramp-up samples above 1 % overlap power_begin's second: warned, not failed (see power_evidence).
    uncertainty = only(case, "power.uncertainty")
    assert uncertainty.status is WARN
    assert uncertainty.message == (
        "2 sample(s) above 1.00 % only at the window's ends (overlapping power_begin or power_end, or within the "
        "800 ms clock tolerance of them): 1.08 % at 02-24-2023 06:22:00.908, 1.01 % at 02-24-2023 06:22:01.908")
    assert only(case, "power.workflow").message == (
        "power-dev / PTDaemon files: the official workflow's layout; their source checksums and PTD version are "
        "not verified here")


def test_offline_figures_equal_the_published_ones(shared_fixtures):
    folder = shared_fixtures / V30 / RESULTS / "Offline" / "performance"
    report = check_path(str(folder), CheckOptions())
    assert not report.failed, fails(report.cases[0])
    case = report.cases[0]
    assert case.figures["average_w"] == 22.6593553223388
    assert case.figures["power_metric"] == 22.6593553223388 and case.figures["power_unit"] == "W"
    assert case.figures["samples_per_s"] == 3463.11
    assert only(case, "loadgen.samples_per_query").message == "effective_samples_per_query 2310000 >= 24576 (resnet50)"
    # The -5 % rule came after v3.0, and flagged this very result then (power-dev#311): a warning for a v3.0 tree.
    versus = only(case, "power.testing_vs_ranging")
    assert versus.status is WARN
    assert versus.message == ("testing 22.659355 W vs ranging 25.616499 W (-11.54 %, limit -5 %) (not a rule in "
                              "v3.0: added after v3.0 (power-dev#311, #313, May 2023))")


def test_offline_for_a_v6_1_check_fails_seeds_and_power_drop(shared_fixtures):
    folder = shared_fixtures / V30 / RESULTS / "Offline" / "performance"
    case = check_path(str(folder), CheckOptions(version="v6.1")).cases[0]
    assert sorted(f.rule for f in fails(case)) == ["loadgen.seeds", "power.testing_vs_ranging"]
    assert only(case, "loadgen.seeds").message == (
        "effective seeds (qsl 10003631887983097364, sample_index 17183018601990103738, schedule "
        "12134888396634371638) are not round v6.1's (qsl 2085463073848966840, sample_index 2747215439041700203, "
        "schedule 16159082839903944936); they are round v3.0's")


def test_whole_fixture_fails_only_the_files_left_out(shared_fixtures):
    root = shared_fixtures / V30
    report = check_path(str(root), CheckOptions())
    assert report.failed
    assert [c.scenario for c in report.cases] == ["Offline", "SingleStream"]
    failed = [f for f in report.all_findings() if f.status is FAIL]
    assert {f.rule for f in failed} == {"tree.missing_file"}
    expected = {str(RESULTS / scenario / name) for scenario in ("SingleStream", "Offline")
                for name in ("accuracy", "measurements.json", "user.conf", "README.md",
                             "performance/power/client.log", "performance/power/server.log")}
    assert {os.path.relpath(f.path, root) for f in failed} == expected
    assert len(failed) == len(expected)
    # The systems JSON lacks two keys of today's list; for a v3.0 tree that is said, as a warning.
    keys = {f.rule: f for f in report.findings}
    assert keys["system.required_keys"].status is WARN
    assert keys["system.required_keys"].message.startswith("missing: host_network_card_count, system_type_detail "
                                                           "(not a rule in v3.0: ")
    assert keys["system.status"].status is PASS and keys["system.system_type"].status is PASS


def test_wrong_seeds_fail(shared_fixtures, tmp_path):
    folder = performance_copy(shared_fixtures, tmp_path)
    edit(folder / "run_1" / "mlperf_log_detail.txt", SS_QSL, '"key": "effective_qsl_rng_seed", "value": 5')
    case = check_path(str(folder), CheckOptions()).cases[0]
    assert [f.rule for f in fails(case)] == ["loadgen.seeds"]
    seeds = only(case, "loadgen.seeds")
    assert seeds.message == ("effective seeds (qsl 5, sample_index 17183018601990103738, schedule "
                             "12134888396634371638) match no known round (v6.1, v6.0, v3.0)")
    assert seeds.path == str(folder / "run_1" / "mlperf_log_detail.txt")
    assert seeds.source.startswith("submission checker: ")


def test_short_run_fails_min_duration(shared_fixtures, tmp_path):
    folder = performance_copy(shared_fixtures, tmp_path)
    edit(folder / "run_1" / "mlperf_log_detail.txt", '"key": "effective_min_duration_ms", "value": 600000',
         '"key": "effective_min_duration_ms", "value": 3000')
    case = check_path(str(folder), CheckOptions()).cases[0]
    assert [(f.rule, f.message) for f in fails(case)] == [
        ("loadgen.min_duration", "effective_min_duration_ms 3000 < 600000")]
    strict = check_path(str(folder), CheckOptions(min_duration_ms=3000)).cases[0]
    assert only(strict, "loadgen.min_duration").message == "effective_min_duration_ms 3000 >= 3000"


def test_detail_log_must_start_with_mllog(shared_fixtures, tmp_path):
    folder = performance_copy(shared_fixtures, tmp_path)
    detail = folder / "run_1" / "mlperf_log_detail.txt"
    detail.write_bytes(b"\n" + detail.read_bytes())
    case = check_path(str(folder), CheckOptions()).cases[0]
    assert [(f.rule, f.message) for f in fails(case)] == [
        ("loadgen.detail_log", "first line is not ':::MLLOG ...': ''")]


def test_five_rows_missing_in_the_window_fail_as_a_gap(shared_fixtures, tmp_path):
    folder = performance_copy(shared_fixtures, tmp_path)
    spl = folder / "run_1" / "spl.txt"
    lines = spl.read_bytes().decode("ascii").splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("Time,02-24-2023 06:26:01.909,"))
    del lines[first:first + 5]
    spl.write_bytes("".join(lines).encode("ascii"))
    case = check_path(str(folder), CheckOptions()).cases[0]
    assert [(f.rule, f.message) for f in fails(case)] == [
        ("power.gaps", "1 gap(s) over 2x the median interval 1.000 s in the window: 5.998 s after "
                       "02-24-2023 06:26:00.910")]
    assert case.figures["power_samples"] == 595


def test_missing_spl_is_a_finding_not_a_traceback(shared_fixtures, tmp_path):
    folder = performance_copy(shared_fixtures, tmp_path)
    (folder / "run_1" / "spl.txt").unlink()
    case = check_path(str(folder), CheckOptions()).cases[0]
    assert [(f.rule, f.message, f.path) for f in fails(case)] == [
        ("tree.missing_file", "run_1/spl.txt is missing", str(folder / "run_1" / "spl.txt")),
        ("power.metric", "not computed: run_1/spl.txt is missing or unreadable", str(folder / "run_1")),
    ]
    assert "power_metric" not in case.figures and case.figures["early_stopping_latency_ms"] == 1.637696


def test_auto_ranges_in_testing_fail(shared_fixtures, tmp_path):
    folder = performance_copy(shared_fixtures, tmp_path)
    edit(folder / "power" / "server.json", '"cmd": "SR,A,0.247500"', '"cmd": "SR,A,Auto"')
    case = check_path(str(folder), CheckOptions()).cases[0]
    assert [(f.rule, f.message) for f in fails(case)] == [
        ("power.testing_ranges_fixed", "testing not on fixed ranges: SR,A,Auto before the testing Go")]


def test_uncertainty_warning_inside_the_window_fails(shared_fixtures, tmp_path):
    folder = performance_copy(shared_fixtures, tmp_path)
    edit(folder / "power" / "ptd_logs.txt", "02-24-2023 06:32:02.912: WARNING",
         "02-24-2023 06:27:00.910: WARNING: Uncertainty 1.52%, which is above 1.00% limit for the last sample!\r\n"
         "02-24-2023 06:32:02.912: WARNING")
    case = check_path(str(folder), CheckOptions()).cases[0]
    assert [(f.rule, f.message) for f in fails(case)] == [
        ("power.uncertainty", "1 sample(s) above 1.00 % inside the testing window: 1.52 % at "
                              "02-24-2023 06:27:00.910")]


def test_bad_readings_in_the_window_fail(shared_fixtures, tmp_path):
    folder = performance_copy(shared_fixtures, tmp_path)
    edit(folder / "power" / "ptd_logs.txt", "02-24-2023 06:32:02.912: WARNING",
         "02-24-2023 06:27:00.910: ERROR: Bad watts reading nan from WT310\r\n02-24-2023 06:32:02.912: WARNING")
    edit(folder / "run_1" / "spl.txt", "Time,02-24-2023 06:27:00.910,Watts,14.410000",
         "Time,02-24-2023 06:27:00.910,Watts,-1.000000")
    case = check_path(str(folder), CheckOptions()).cases[0]
    assert [(f.rule, f.message) for f in fails(case)] == [
        ("power.no_data", "1 spl.txt row(s) with W <= 0 in the window, first at 02-24-2023 06:27:00.910; "
                          "1 PTDaemon ERROR line(s) in the testing window, first: ERROR: Bad watts reading nan "
                          "from WT310 at 02-24-2023 06:27:00.910")]


def test_tree_copy_with_ptd_out_and_empty_readme(shared_fixtures, tmp_path):
    root = v30_copy(shared_fixtures, tmp_path)
    scenario = root / RESULTS / "SingleStream"
    (scenario / "performance" / "run_1" / "ptd_out.txt").write_text("Analyzer 1:\n")
    (scenario / "README.md").write_text("")
    case = next(c for c in check_path(str(scenario), CheckOptions()).cases)
    extra = only(case, "tree.extra_file")
    assert (extra.status, extra.message) == (FAIL, "run_1/ptd_out.txt: power-dev's ptd_out.txt must be deleted")
    assert only(case, "tree.empty_file").message == "README.md is empty"
    assert Path(only(case, "tree.empty_file").path) == scenario / "README.md"
