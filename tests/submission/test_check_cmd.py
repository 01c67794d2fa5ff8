"""`director check`: exit codes, one error line for bad input, text and JSON reports."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import List

import pytest

from director.errors import BadInput
from director.submission.check_cmd import add_parser
from tests.director.commandline import make_director, one_error
from tests.submission.check_runs import RESULTS, V30, edit, performance_copy

def director_check(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`director check ARGS` as a user runs it, from a HOME under home (never inside the fixture)."""
    return make_director(home)("check", *args, timeout=60)


def check_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="director")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["check", *argv])


def test_bad_path_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "nowhere"
    proc = director_check(tmp_path, str(missing))
    assert one_error(proc, 2) == f"check: {missing}: no such file or folder"
    assert proc.stdout == ""
    (tmp_path / "empty").mkdir()
    assert one_error(director_check(tmp_path, str(tmp_path / "empty")), 2) == (
        f"check: {tmp_path / 'empty'}: not a run folder (run.json), a performance/ folder (run_1/) or an MLPerf "
        "results tree (results/<system>/<benchmark>/<scenario>/)")
    assert one_error(director_check(tmp_path, str(tmp_path), "--min-duration", "0"), 2) == (
        "check: --min-duration must be positive, not 0 s")


def test_fixture_performance_folder_exits_0(shared_fixtures, tmp_path):
    proc = director_check(tmp_path, str(shared_fixtures / V30 / RESULTS / "SingleStream" / "performance"))
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("performance  [Orin_TRT_MaxQ / resnet50 / SingleStream]")
    assert lines[1] == ("  figures: power 22.1933 mJ/query (official); performance 1.6377 ms; 600 power samples over "
                        "600.002 s")
    assert lines[-1] == "1 case(s): 0 FAIL, 2 WARN, 15 PASS; nothing failed"


def test_failure_exits_3_with_the_finding(shared_fixtures, tmp_path, capsys):
    folder = performance_copy(shared_fixtures, tmp_path)
    edit(folder / "run_1" / "mlperf_log_detail.txt", '"key": "effective_min_duration_ms", "value": 600000',
         '"key": "effective_min_duration_ms", "value": 3000')
    args = check_args([str(folder)])
    assert args.func(args) == 3
    out = capsys.readouterr().out
    assert (f"  FAIL loadgen.min_duration: effective_min_duration_ms 3000 < 600000 "
            f"({folder / 'run_1' / 'mlperf_log_detail.txt'})") in out.splitlines()
    args = check_args([str(folder), "--min-duration", "3"])
    assert args.func(args) == 0


def test_json_report(shared_fixtures, capsys):
    args = check_args([str(shared_fixtures / V30 / RESULTS / "Offline" / "performance"), "--json", "--version", "v3.0"])
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] is False
    assert report["counts"] == {"pass": 14, "warn": 3, "fail": 0}
    case = report["cases"][0]
    assert case["figures"]["average_w"] == 22.6593553223388 and case["figures"]["samples_per_s"] == 3463.11
    seeds = next(f for f in case["findings"] if f["rule"] == "loadgen.seeds")
    assert seeds["status"] == "pass" and seeds["source"].startswith("submission checker: effective_*_rng_seed")


def test_unknown_round_is_bad_input(shared_fixtures):
    from director.submission.checker import CheckOptions, check_path

    with pytest.raises(BadInput) as e:
        check_path(str(shared_fixtures / V30), CheckOptions(version="v5.1"))
    assert str(e.value) == "check: unknown round 'v5.1'; known: v6.1, v6.0, v3.0"
    assert e.value.exit_code == 2
