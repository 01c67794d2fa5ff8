"""The measured session end to end over real sshd: both runtimes × both scenarios, an SSH drop, a shifted clock."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any, Dict

import pytest

from director.runspec import RunSpec
from director.session import Progress, Session
from director.store import open_store
from power.energy import measure_window, official_from_spl
from power.loadgen_log import read_power_window
from power.samples_csv import read_samples_csv
from power.spl import read_spl
from tests.director.conftest import BOARD_PYTHON, FAKETIME_OFFSET_S
from tests.sshd import Board

MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"
SPL_LINE = re.compile(
    r"Time,\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d{3},Watts,-?\d+\.\d{6},Volts,-?\d+\.\d{6},"
    r"Amps,-?\d+\.\d{6},PF,-?\d+\.\d{6},Mark,\S+_(ranging|testing)"
)
PASS_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "spl.txt", "result.json", "events.jsonl",
              "telemetry.csv", "user.conf")


def inventory(tmp: Path, board: Board, extra: str = "", name: str = "board") -> Path:
    path = tmp / "devices.toml"
    path.write_text(
        f"""
[devices.{name}]
host = "{board.host}"
port = {board.port}
user = "root"
identity_files = ["{board.client_key}"]
python = "{BOARD_PYTHON}"
analyzer = "sim"
{extra}
"""
    )
    return path


def spec(tmp: Path, board: Board, model: str, scenario: str, **changes: Any) -> RunSpec:
    base = dict(
        device="board", model=str(MODELS / model), scenario=scenario, profile="quick",
        settings={"min_duration": 1500}, calibration_s=0.3, telemetry_interval_s=0.2, settle_s=0.3, idle_s=1.5,
        clock_pings=20, results=str(tmp / "results"), inventory=str(inventory(tmp, board)),
        known_hosts=str(board.known_hosts),
    )
    base.update(changes)
    return RunSpec(**base)


def check_run(run: Dict[str, Any], scenario: str) -> None:
    """What every good run must satisfy: figures consistent with its own files."""
    folder = Path(run["folder"])
    assert run["status"] == "ok", run.get("reason") or run["checks"]
    for name in ("run.json", "samples.csv", "plot.png"):
        assert (folder / name).stat().st_size > 0
    assert (folder / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for pass_name in ("ranging", "run_1"):
        for name in PASS_FILES:
            assert (folder / pass_name / name).exists(), f"{pass_name}/{name} missing"
        lines = (folder / pass_name / "spl.txt").read_text().split("\n")
        assert lines[-1] == "" and all(SPL_LINE.fullmatch(line) for line in lines[:-1])
    testing = run["passes"]["run_1"]
    figures, agent = testing["figures"], testing["agent"]
    # The figures are the samples' own, re-measured from samples.csv over the recorded window.
    samples = read_samples_csv(folder / "samples.csv")
    t0, t1 = figures["window_host_ns"]
    again = measure_window(samples, t0, t1, query_count=agent["query_count"] if scenario == "SingleStream" else None)
    assert figures["average_w"] == pytest.approx(again.average_w, rel=1e-12)
    assert figures["energy_j"] == pytest.approx(again.energy_j, rel=1e-12)
    # Energy above the idle baseline while the model runs.
    assert figures["idle_w"] == run["idle"]["average_w"]
    assert figures["above_idle_w"] > 0.5
    if scenario == "SingleStream":
        expected_mj = figures["average_w"] * figures["duration_s"] * 1000 / agent["query_count"]
        assert figures["energy_per_query_mj"] == pytest.approx(expected_mj, rel=1e-9)
    else:
        assert figures["samples_per_j"] == pytest.approx(agent["samples_per_s"] / figures["average_w"], rel=1e-12)
    # MLPerf's formula over our spl.txt and LoadGen's detail log gives the figure run.json reports.
    window = read_power_window(folder / "run_1" / "mlperf_log_detail.txt")
    official = official_from_spl(read_spl(folder / "run_1" / "spl.txt"), window.begin_ns, window.end_ns,
                                 window.query_count if scenario == "SingleStream" else None)
    assert official.average_w == pytest.approx(figures["official"]["average_w"], rel=1e-6)
    assert run["ranges"]["source"] == "ranging" and run["ranges"]["voltage_range_v"] == 300.0


@pytest.mark.parametrize(
    "model, scenario",
    [("tiny_float_b1.onnx", "SingleStream"), ("tiny_int8.onnx", "Offline"),
     ("tiny_int8.tflite", "SingleStream"), ("tiny_float_dyn.tflite", "Offline")],
)
def test_session_over_ssh(tmp_path, sshd, model, scenario):
    run = Session(spec(tmp_path, sshd, model, scenario)).run()
    check_run(run, scenario)
    assert run["passes"]["run_1"]["agent"]["model"]["backend"] == ("onnx" if model.endswith(".onnx") else "tflite")
    assert run["device"]["agent_info"]["hostname"]
    stored = open_store(str(tmp_path / "results" / "results.db")).get(run["run_id"])
    assert stored.status == "ok" and stored.summary["avg_power_w"] == run["passes"]["run_1"]["figures"]["average_w"]
    on_disk = json.loads((Path(run["folder"]) / "run.json").read_text())
    assert on_disk["run_id"] == run["run_id"] and on_disk["checks"] == run["checks"]


def test_an_ssh_drop_mid_pass_still_gives_a_complete_run(tmp_path, sshd):
    cut = threading.Event()
    traces = []

    def on_progress(progress: Progress) -> None:
        # Once the testing pass reports LoadGen progress, cut the director's SSH connection(s).
        if progress.phase == "run_1" and "samples" in progress.detail and not cut.is_set():
            cut.set()
            traces.append(json.loads((Path(session.folder) / "run.json").read_text()))
            for child in sshd.connection_processes():
                child.kill()

    session = Session(spec(tmp_path, sshd, "tiny_float_b1.onnx", "SingleStream", settings={"min_duration": 4000}),
                      on_progress=on_progress)
    run = session.run()
    assert cut.is_set(), "the drop never happened"
    # Mid-run, run.json already says what is measured and where the session is (a trace should it be killed).
    (trace,) = traces
    assert (trace["status"], trace["phase"], trace["run_id"]) == ("running", "run_1", run["run_id"])
    assert trace["device"]["name"] == "board" and trace["model"]["sha256"] == run["model"]["sha256"]
    check_run(run, "SingleStream")
    events = [json.loads(line) for line in (Path(run["folder"]) / "run_1" / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "finished"


def test_a_shifted_device_clock_is_measured_and_mapped(tmp_path, sshd_faketime):
    run = Session(spec(tmp_path, sshd_faketime, "tiny_float_b1.onnx", "SingleStream")).run()
    check_run(run, "SingleStream")
    offset_s = run["clock"]["before"]["offset_ns"] / 1e9
    assert offset_s == pytest.approx(FAKETIME_OFFSET_S, abs=0.005)
    # spl.txt rows are in the device's clock, so LoadGen's window (device clock) holds them.
    testing = run["passes"]["run_1"]
    window, figures, clock = testing["agent"]["window"], testing["figures"], testing["clock"]
    assert figures["window_host_ns"][0] == window["first_issue_ns"] - clock["offset_ns"]
    # The pass's offset lies between the clock measurements that bracket it.
    low, high = sorted((clock["before"]["offset_ns"], clock["after"]["offset_ns"]))
    assert low <= clock["offset_ns"] <= high
    assert run["passes"]["run_1"]["figures"]["official"]["sample_count"] >= 10


def test_no_ranging_and_fixed_ranges_are_flagged(tmp_path, sshd):
    run = Session(spec(tmp_path, sshd, "tiny_float.onnx", "Offline", ranges=(300.0, 0.5))).run()
    assert run["status"] == "ok" and list(run["passes"]) == ["run_1"]
    assert run["ranges"] == {"source": "given", "voltage_range_v": 300.0, "current_range_a": 0.5}
    flags = [c for c in run["checks"] if c["name"] == "mlperf_conformance"]
    assert flags and flags[0]["status"] == "warn" and "ranges given by hand (300 V, 0.5 A)" in flags[0]["reason"]
    assert run["conformant"] is False
