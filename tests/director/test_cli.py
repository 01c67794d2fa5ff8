"""The `director` command as a user runs it: help, the analyzer and device commands, a short real run, results.

Every command runs as a subprocess (tests/director/commandline.py), so exit codes, stdout and stderr
are exactly what a user or a script sees. The bad-input side is in test_cli_errors.py.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import time
from pathlib import Path
from typing import Dict, Iterator, List

import psutil
import pytest

from director.run_recovery import abandoned_runs
from power.samples_csv import read_samples_csv
from tests.director.commandline import (
    ERROR, PROGRESS_LINE, QUICK, REPO, Director, board_toml, make_director, one_error,
)
from tests.director.conftest import BOARD_PYTHON

HEADLINE_SINGLE = re.compile(
    r"OK: SingleStream p90 (?P<p90>[\d.]+) ms, (?P<queries>\d+) queries; (?P<w>[\d.]+) W "
    r"\(idle (?P<idle>[\d.]+) W\), (?P<mj>[\d.]+) mJ/query \[simulated analyzer\]; results in (?P<folder>\S+)"
)
NOT_CONFORMANT = ("  warn: mlperf_conformance: not MLPerf-conformant: profile quick (MLPerf needs 600 s runs); "
                  "settings change durations or query counts")


@pytest.fixture
def director(tmp_path) -> Director:
    return make_director(tmp_path)


@pytest.mark.parametrize("command, explains", [
    ((), "measure a model on a device at the wall, and look after devices, analyzers and results"),
    (("run",), "Run a measured session: preflight, settle, idle baseline, a ranging pass on auto ranges"),
    (("devices",), "with whether it answers now"),
    (("analyzers",), "the built-in `sim` (a WT310E simulator on a pseudo-terminal)"),
    (("results",), "(a unique prefix of its id is enough)"),
    (("setup",), "Make a venv in the device's work folder"),
])
def test_help_explains_every_command(director, command, explains):
    proc = director(*command, "--help")
    assert proc.returncode == 0 and proc.stderr == ""
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    assert text.startswith(f"usage: director {' '.join(command)}".strip())
    assert explains in text
    if command == ("run",):
        for flag in ("--device", "--analyzer", "--ranges V,A", "--setting KEY=VALUE", "--calibration S", "--json"):
            assert flag in text
        assert "Exit codes: 0 ok, 1 failed, 2 bad input, 3 LoadGen INVALID or a failed check, 5 device unreachable" in text


def test_analyzers_lists_the_builtin_sim(director):
    proc = director("analyzers")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.split("\n")[0].split()[:3] == ["sim", "WT310E", "sim:cpu"]
    rows = json.loads(director("analyzers", "--json").stdout)
    assert [(r["name"], r["model"], r["url"]) for r in rows] == [("sim", "WT310E", "sim:cpu")]


def test_analyzers_check_sim_prints_identity_and_samples(director):
    proc = director("analyzers", "check", "sim")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"sim: YOKOGAWA WT310E serial \w+ firmware F[\d.]+", lines[0]), lines
    assert lines[1] == "  ranges 600 V, 20 A"
    count, watts = re.fullmatch(r"  (\d+) samples in [\d.]+ s, ([\d.]+) W average", lines[2]).groups()
    assert int(count) >= 5 and float(watts) > 0
    info = json.loads(director("analyzers", "check", "sim", "--json").stdout)
    assert info["simulated"] is True and info["identity"]["model"] == "WT310E" and info["url"].startswith("/dev/pts/")
    # One sample per 100 ms update of the meter, each an average over its interval, none flagged.
    ends = [s["t_end_ns"] for s in info["samples"]]
    assert len(ends) >= 5 and all(s["status"] == "ok" for s in info["samples"])
    assert all(abs((b - a) - 100_000_000) < 5_000_000 for a, b in zip(ends, ends[1:])), ends


def test_devices_lists_local_and_the_board_with_reachability(director, sshd, tmp_path):
    inventory = tmp_path / "devices.toml"
    inventory.write_text(board_toml(sshd))
    proc = director("--inventory", inventory, "--known-hosts", sshd.known_hosts, "devices")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert set(lines) == {"board", "local"}
    assert re.fullmatch(r"board +ssh +127\.0\.0\.1 +linux +analyzer=sim +up \([\d.]+ ms\)", lines["board"])
    assert re.fullmatch(r"local +local +this machine +linux +analyzer=- +up \([\d.]+ ms\)", lines["local"])
    rows = json.loads(director("--inventory", inventory, "--known-hosts", sshd.known_hosts, "devices", "--json").stdout)
    assert {r["name"]: r["reachable"] for r in rows} == {"board": True, "local": True}


@pytest.mark.parametrize("name", ["local", "board"])
def test_devices_check_reports_python_and_runtimes(director, sshd, tmp_path, name):
    inventory = tmp_path / "devices.toml"
    inventory.write_text(board_toml(sshd))
    proc = director("--inventory", inventory, "--known-hosts", sshd.known_hosts, "devices", "check", name)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    # local runs the agent from this checkout; the board gets a content-hashed copy in its own HOME
    if name == "local":
        where = re.escape(str(REPO))
    else:
        where = re.escape(f"{sshd.home}/.cache/edgepower/agent/") + "[0-9a-f]{16}"
    assert re.fullmatch(rf"{name}: reachable; agent at {where}", lines[0]), lines
    assert re.fullmatch(rf"  python 3\.\d+\.\d+ \({re.escape(BOARD_PYTHON)}\); runtimes: onnxruntime, ai_edge_litert",
                        lines[1]), lines


# -- a short real run through the CLI, then `director results` ----------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Iterator[Dict[str, object]]:
    """Two short runs on the local device with the sim analyzer: SingleStream with ranging, Offline --json."""
    root = tmp_path_factory.mktemp("cli_runs")
    director = make_director(root)
    results = root / "results"
    single = director("run", "--device", "local", "--analyzer", "sim", *QUICK, "--results", results, timeout=180)
    offline = director("run", "--device", "local", "--analyzer", "sim", *QUICK, "--scenario", "Offline",
                       "--ranges", "300,0.5", "--json", "--results", results, timeout=180)
    yield {"director": director, "results": results, "single": single, "offline": offline}


def test_a_short_run_prints_its_headline_and_writes_run_json(runs):
    proc = runs["single"]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    headline = HEADLINE_SINGLE.fullmatch(lines[0])
    assert headline, lines
    assert lines[1:] == [NOT_CONFORMANT]
    # stderr is a pipe, not a terminal: plain progress lines, one per phase, in the session's order.
    progress = proc.stderr.splitlines()
    assert all(PROGRESS_LINE.fullmatch(line) for line in progress), proc.stderr
    assert [line[:11].strip() for line in progress] == ["preflight", "settle", "idle", "ranging", "run_1"]
    folder = Path(headline["folder"])
    assert folder.parent == runs["results"]
    run = json.loads((folder / "run.json").read_text())
    assert run["status"] == "ok" and run["folder"] == str(folder) and list(run["passes"]) == ["ranging", "run_1"]
    assert run["spec"]["calibration_s"] == 0.3 and run["spec"]["settle_s"] == 0.3 and run["spec"]["idle_s"] == 1.0
    assert run["spec"]["settings"] == {"min_duration": 1500.0} and run["ranges"]["source"] == "ranging"
    # The headline's figures are run.json's, rounded.
    figures, agent = run["passes"]["run_1"]["figures"], run["passes"]["run_1"]["agent"]
    assert headline["w"] == f"{figures['average_w']:.3f}" and headline["idle"] == f"{run['idle']['average_w']:.3f}"
    assert headline["mj"] == f"{figures['energy_per_query_mj']:.3f}" and int(headline["queries"]) == agent["query_count"]
    assert headline["p90"] == f"{agent['latency_ns']['p90'] / 1e6:.3f}"
    assert len(read_samples_csv(folder / "samples.csv")) == run["sample_count"] > 50


def test_json_output_is_run_json(runs):
    proc = runs["offline"]
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["status"] == "ok" and printed["scenario"] == "Offline" and list(printed["passes"]) == ["run_1"]
    assert printed["ranges"] == {"source": "given", "voltage_range_v": 300.0, "current_range_a": 0.5}
    on_disk = json.loads((Path(printed["folder"]) / "run.json").read_text())
    assert on_disk["run_id"] == printed["run_id"] and on_disk["checks"] == printed["checks"]
    assert printed["passes"]["run_1"]["figures"]["samples_per_j"] > 0


def test_results_lists_and_shows_the_runs(runs):
    director, results = runs["director"], runs["results"]
    single = json.loads((Path(HEADLINE_SINGLE.match(runs["single"].stdout)["folder"]) / "run.json").read_text())
    offline = json.loads(runs["offline"].stdout)
    proc = director("results", "--results", results)
    assert proc.returncode == 0 and proc.stderr == ""
    listed = [line.split()[:2] for line in proc.stdout.splitlines()]
    assert sorted(listed) == sorted([[single["run_id"], "ok"], [offline["run_id"], "ok"]])
    rows = json.loads(director("results", "--results", results, "--json").stdout)
    assert {r["run_id"] for r in rows} == {single["run_id"], offline["run_id"]}
    # show by a unique prefix (the id up to the scenario), as text and as JSON
    prefix = single["run_id"].rsplit("-", 1)[0]
    shown = director("results", "show", prefix, "--results", results)
    assert shown.returncode == 0 and shown.stderr == ""
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert fields["run_id"] == single["run_id"] and fields["folder"] == single["folder"] and fields["status"] == "ok"
    summary = json.loads(director("results", "show", prefix, "--results", results, "--json").stdout)
    assert summary["avg_power_w"] == single["passes"]["run_1"]["figures"]["average_w"]
    # a prefix both runs share, and no run at all: one line each, exit 2
    common = single["run_id"][:4]
    assert one_error(director("results", "show", common, "--results", results), 2) == (
        f"run id {common!r} is ambiguous: {', '.join(sorted([single['run_id'], offline['run_id']]))}")
    assert one_error(director("results", "show", "nosuch", "--results", results), 2) == (
        f"no run 'nosuch' in {results / 'results.db'}")


def test_interrupting_a_run_keeps_what_was_measured(director, tmp_path):
    results = tmp_path / "results"
    proc = director.start("run", "--device", "local", "--analyzer", "sim", "--settle", "0.3", "--idle", "30",
                          "--results", results)
    try:
        for line in proc.stderr:
            if line.startswith("idle "):
                break
        time.sleep(1.5)  # the idle baseline is being measured
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and stdout == ""
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    assert stderr.splitlines() == [f"director: interrupted; what was measured is in {folder}"]
    run = json.loads((folder / "run.json").read_text())
    assert run["status"] == "failed" and run["reason"] == "interrupted"
    samples = read_samples_csv(folder / "samples.csv")
    assert len(samples) == run["sample_count"] >= 8  # ~1.5 s of 100 ms updates, all kept
    db = sqlite3.connect(str(results / "results.db"))
    assert db.execute("SELECT status FROM runs WHERE run_id = ?", (run["run_id"],)).fetchall() == [("failed",)]
    assert ERROR not in stderr


def _processes_with(text: str) -> List[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(text in part for part in process.info.get("cmdline") or []):
            found.append(process)
    return found


def test_a_killed_run_is_put_in_order_by_the_next_run_on_its_device(director, tmp_path):
    """kill -9 of `director run` during its testing pass leaves that pass running on the board and no spl.txt;
    the next run on the device cancels the pass, writes the finished ranging pass's spl.txt from samples.csv
    and marks the run interrupted."""
    results = tmp_path / "results"
    proc = director.start("run", "--device", "local", "--analyzer", "sim", "--setting", "min_duration=3000",
                          "--settle", "0.3", "--idle", "1", "--calibration", "0.3", "--results", results)
    try:
        deadline = time.monotonic() + 120
        killed = None
        while killed is None and time.monotonic() < deadline:
            for path in results.glob("*/run.json"):
                try:
                    run = json.loads(path.read_text())
                except ValueError:
                    continue
                ranging = run.get("passes", {}).get("ranging", {})
                if run.get("phase") == "run_1" and "spl_window" in ranging and _processes_with(f"{run['run_id']}-run_1"):
                    killed = run
            time.sleep(0.1)
        assert killed is not None, "the run never reached its testing pass"
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    folder, pass_id = Path(killed["folder"]), f"{killed['run_id']}-run_1"
    assert _processes_with(pass_id) and not (folder / "ranging" / "spl.txt").exists()
    second = director("run", "--device", "local", "--analyzer", "sim", *QUICK, "--ranges", "300,0.5",
                      "--results", results, timeout=180)
    assert second.returncode == 0, second.stderr
    notes = [line for line in second.stderr.splitlines() if line.startswith("director: run ")]
    assert notes == [f"director: run {killed['run_id']} was left running by a director that stopped: its passes on "
                     "local cancelled; spl.txt of ranging written from samples.csv"]
    deadline = time.monotonic() + 15
    while _processes_with(pass_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_with(pass_id)
    run = json.loads((folder / "run.json").read_text())
    assert (run["status"], run["reason"]) == ("interrupted", "the director stopped during run_1")
    rows = (folder / "ranging" / "spl.txt").read_text().splitlines()
    assert len(rows) == run["passes"]["ranging"]["spl_rows"] > 10 and rows[0].startswith("Time,")
    assert abandoned_runs(str(results), "local") == []  # put in order once: the next run leaves it alone
