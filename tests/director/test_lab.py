"""director.lab, the API the lab UI calls, without any UI: devices, one run, sweeps and results, as values.

Real components: the built-in `local` device, simulated analyzers on pseudo-terminals, a loopback
port nobody listens on, a fake Orin Nano tree with stub nvpmodel/reboot, the real results database.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import director.session
from director.lab import Lab, filter_rows, sort_rows
from director.lab_results import checks_of, figures_of
from director.lab_run import read_loadgen_progress, read_telemetry
from director.store import open_store
from tests.devices.fakes import orin_nano
from tests.director.commandline import MODELS
from tests.director.sweepboards import IDLE_W, LOAD_W, sweep_toml
from tests.sshd import free_port

MODEL = str(MODELS / "tiny_float_b1.onnx")
BENCH = f"""
[analyzers.wt]
model = "WT310E"
url = "sim:cpu"
options = {{ idle_w = {IDLE_W}, load_w = {LOAD_W} }}

[analyzers.unplugged]
model = "WT310E"
url = "/dev/ttyEDGEPOWER-NONE"

[devices.local]
kind = "local"
analyzer = "wt"
"""
QUICK_RUN = dict(settle_s=0.3, idle_s=0.5, calibration_s=0.2, clock_pings=16)


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A Lab in tmp_path: local on a 30 W simulated bench, a dead device on a closed loopback port."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "devices.toml").write_text(BENCH + f"""
[devices.dead]
host = "127.0.0.1"
port = {free_port()}
user = "root"
analyzer = "unplugged"
""")
    lab = Lab(results=str(tmp_path / "results"), inventory=str(tmp_path / "devices.toml"),
              known_hosts=str(tmp_path / "known_hosts"))
    yield lab
    lab.close()


# -- devices --------------------------------------------------------------------------------------
def test_devices_are_probed_in_parallel_and_a_dead_one_is_a_row_with_its_reason(lab):
    listed = lab.devices()
    assert [r.name for r in listed.rows] == ["dead", "local"] and all(r.reachable is None for r in listed.rows)
    started = time.monotonic()
    probed = {row.name: row for row in lab.probe_devices().rows}
    assert time.monotonic() - started < 5.0
    local, dead = probed["local"], probed["dead"]
    assert local.reachable and local.profile == "linux" and local.analyzer == "wt" and local.where == "this machine"
    assert local.answer_ms is not None and local.power_mode is None
    assert dead.reachable is False and "connection refused" in dead.reason and "\n" not in dead.reason


def test_a_bad_inventory_is_an_error_value(tmp_path):
    (tmp_path / "bad.toml").write_text("[devices.x]\nprofile = 'toaster'\n")
    listing = Lab(inventory=str(tmp_path / "bad.toml")).devices()
    assert listing.rows == () and "toaster" in listing.error


def test_check_device_reports_python_runtimes_and_facts_or_why_not(lab):
    check = lab.check_device("local")
    assert check.ok and check.error == "" and check.python_version.startswith("3.")
    assert "onnxruntime" in check.runtimes and os.path.isdir(check.agent_path) and check.power_modes == ()
    assert dict(check.facts)["cpus"].isdigit()
    dead = lab.check_device("dead")
    assert not dead.ok and "connection refused" in dead.error
    assert "unknown device 'nobody'" in lab.check_device("nobody").error


def test_power_modes_of_a_board_without_any_say_so(lab):
    modes = lab.power_modes("local")
    assert modes.modes == () and "has no power modes" in modes.error
    result = lab.set_power_mode("local", "MAXN")
    assert not result.ok and "has no power modes" in result.message


def test_a_mode_that_needs_a_reboot_is_set_rebooted_into_and_verified(tmp_path, monkeypatch):
    monkeypatch.setattr(director.session, "REBOOT_POLL_S", 0.05)
    orin = orin_nano(tmp_path)
    (tmp_path / "devices.toml").write_text(f"""
[devices.orin]
kind = "local"
profile = "jetson"
sudo = "passwordless"
fs_root = "{orin.root}"
env = {{ PATH = "{orin.bin}{os.pathsep}{os.environ['PATH']}" }}
power_modes = {{ low = "7W" }}
""")
    lab = Lab(inventory=str(tmp_path / "devices.toml"))
    modes = lab.power_modes("orin")
    assert modes.modes == ("15W", "25W", "MAXN_SUPER", "7W", "low") and modes.current == "MAXN_SUPER"
    row = lab.probe_device("orin")
    assert row.reachable and row.power_mode == "MAXN_SUPER" and row.temperature_c == pytest.approx(47.25)
    steps = []
    result = lab.set_power_mode("orin", "low", on_step=steps.append)
    assert result.ok and result.rebooted and result.mode == "7W", result
    assert "MAXN_SUPER -> 7W after a reboot, verified" in result.message
    assert any("needs a reboot" in step for step in steps)
    assert lab.set_power_mode("orin", "15W").message == "orin: 7W -> 15W, verified"
    assert lab.set_power_mode("orin", "15W").message == "orin was already in 15W"
    assert "unknown power mode 'turbo'" in lab.set_power_mode("orin", "turbo").message


def test_idle_power_reads_an_analyzer_for_a_while_and_a_missing_one_is_a_value(lab):
    sim, unplugged, unknown = lab.idle_power(["wt", "unplugged", "nope"], seconds=1.0)
    assert sim.error == "" and len(sim.samples) >= 5 and sim.latest_w == sim.samples[-1][1]
    assert 0.8 * IDLE_W < sim.average_w < IDLE_W + LOAD_W + 1
    assert unplugged.latest_w is None and "/dev/ttyEDGEPOWER-NONE" in unplugged.error
    assert "unknown analyzer 'nope'" in unknown.error


# -- one run --------------------------------------------------------------------------------------
def test_a_run_in_a_thread_shows_progress_power_windows_and_its_result(lab):
    choices = lab.run_choices()
    assert "local" in choices.devices and choices.analyzer_for("local") == "wt" and choices.analyzer_for("dead") == "unplugged"
    assert "tiny_float_b1.onnx" in dict(choices.models) and "smoke" in choices.presets
    started = lab.start_run("local", MODEL, "SingleStream", "smoke", "wt", **QUICK_RUN)
    handle = started.handle
    assert handle is not None and started.error == ""
    assert "still running" in lab.start_run("local", MODEL, "SingleStream", "smoke", "wt").error
    views = []
    while not handle.done:
        views.append(handle.view())
        time.sleep(0.2)
    view = handle.view()
    assert view.state == "ok" and view.finished and view.error == "" and view.eta_s == 0.0
    assert {"preflight", "idle", "run_1"} <= {v.phase for v in views} and any(v.state == "running" for v in views)
    assert handle.progress is not None and handle.progress.phase == "run_1"
    assert len(view.samples) > 20 and view.live_w == view.samples[-1][1]
    assert [name for name, _, _ in view.windows] == ["run_1"] and view.idle_window_ns is not None
    assert 0.8 * IDLE_W < view.idle_w < IDLE_W + LOAD_W + 1
    assert view.loadgen is not None and view.loadgen.pass_name == "run_1" and view.loadgen.phase == "finished"
    assert view.telemetry is not None
    run = handle.run_json()
    assert run is not None and run["status"] == "ok" and run["folder"] == handle.folder
    detail = lab.run_result(handle.folder)
    figures = dict(detail.figures)
    assert detail.status == "ok" and figures["status"] == "ok" and figures["average"].endswith("%")
    assert detail.trace and detail.windows == view.windows and detail.run_json.endswith("run.json")
    assert [r.run_id for r in lab.results_list().rows] == [handle.run_id]


def test_cancel_stops_a_run_in_its_pass_and_keeps_what_was_measured(lab):
    handle = lab.start_run("local", MODEL, "SingleStream", "quick", "wt", ranges=(300.0, 0.5), **QUICK_RUN).handle
    deadline = time.monotonic() + 30
    while handle.view().phase != "run_1" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lab.cancel_run()
    assert handle.wait(30)
    view = handle.view()
    assert view.state == "cancelled" and "cancelled" in view.error
    assert handle.run_json()["status"] == "cancelled" and (Path(handle.folder) / "samples.csv").stat().st_size > 0
    assert not lab.cancel_run()


def test_a_run_on_a_dead_device_or_analyzer_ends_failed_with_one_line(lab):
    for device, analyzer, expected in (("dead", "wt", "connection refused"),
                                       ("local", "unplugged", "/dev/ttyEDGEPOWER-NONE"),
                                       ("nobody", "wt", "unknown device 'nobody'")):
        handle = lab.start_run(device, MODEL, "SingleStream", "smoke", analyzer).handle
        assert handle.wait(30)
        view = handle.view()
        assert view.state == "failed" and expected in view.error and "\n" not in view.error, view.error


def test_telemetry_and_loadgen_progress_are_read_from_the_pass_files():
    csv_text = ("t_ns,cpu_percent,mem_used_bytes,mem_available_bytes,cpu0_percent,cpu1_percent,cpu0_mhz,cpu1_mhz,"
                "temp_thermal_zone0_cpu_c\n1,5.0,1,1,5,5,1000.0,2000.0,41.5\n2,99.0,1,1,99,99,1500.0,2500.0,52.0\n3,1")
    row = read_telemetry(csv_text)
    assert (row.t_ns, row.cpu_percent, row.cpu_mhz, row.cpu_max_mhz, row.temperature_c) == (2, 99.0, 2000.0, 2500.0, 52.0)
    assert read_telemetry("t_ns,cpu_percent\n") is None and read_telemetry(None) is None
    events = "\n".join(json.dumps(e) for e in ({"event": "phase", "phase": "loadgen"},
                                               {"event": "progress", "completed_samples": 12, "elapsed_s": 1.5}))
    progress = read_loadgen_progress("run_1", events + '\n{"event": "prog')
    assert (progress.phase, progress.completed_samples, progress.elapsed_s) == ("loadgen", 12, 1.5)


# -- sweeps ---------------------------------------------------------------------------------------
def test_a_sweep_is_queued_steered_and_run_from_a_spec(lab, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(sweep_toml("s", ["local"], repeats=1))
    assert "sweep spec not found" in lab.start_sweep(str(tmp_path / "missing.toml")).message
    queued = lab.queue_sweep(str(spec))
    assert queued.ok and queued.sweep_id.startswith("s-") and "1 jobs queued" in queued.message
    (line,) = lab.sweeps().rows
    assert (line.sweep_id, line.state, line.counts) == (queued.sweep_id, "active", "1 jobs: 1 pending")
    assert lab.pause_sweep(queued.sweep_id).ok and lab.sweep(queued.sweep_id).state == "paused"
    cancelled = lab.cancel_sweep("s")
    assert cancelled.ok and "1 pending jobs cancelled" in cancelled.message
    detail = lab.sweep(queued.sweep_id)
    assert detail.state == "cancelled" and [j.state for j in detail.jobs] == ["cancelled"]
    assert not lab.resume_sweep(queued.sweep_id).ok
    assert lab.retry_failed(queued.sweep_id).message.endswith("0 failed jobs back in the queue")

    spec.write_text(sweep_toml("t", ["local"], repeats=1))
    started = lab.start_sweep(str(spec))
    assert started.ok and started.sweep_id.startswith("t-"), started
    handle = lab.sweep_handles[started.sweep_id]
    assert handle.wait(90) and handle.error == ""
    detail = lab.sweep(started.sweep_id)
    assert detail.state == "finished" and detail.counts == "1 jobs: 1 done" and not detail.attached
    (row,) = [r for r in lab.results_list().rows]
    result = lab.result(row.run_id)
    assert result.sweep_id == started.sweep_id and result.report_html is None
    report = lab.write_report(started.sweep_id)
    assert report.html and os.path.isfile(report.html) and lab.result(row.run_id).report_html == report.html
    assert "no sweep 'nope'" in lab.write_report("nope").error


# -- results --------------------------------------------------------------------------------------
def stored_runs(results: Path) -> None:
    """Three fixed rows; the middle one has a run.json with checks."""
    store = open_store(str(results / "results.db"))
    for i, (device, scenario, status, watts, energy) in enumerate((
            ("orin1", "SingleStream", "ok", 7.5, {"energy_per_query_mj": 12.25, "p90_latency_ns": 1_500_000}),
            ("rpi5", "Offline", "invalid", 5.25, {"samples_per_j": 40.0, "samples_per_s": 210.0}),
            ("local", "SingleStream", "checks_failed", None, {}))):
        folder = results / f"run{i}"
        store.add({"run_id": f"2026112{i}T100000Z-{device}-{scenario}-000{i}",
                   "started_ns": 1_795_600_000 * 10**9 + i * 86_400 * 10**9, "device": device, "model": "m.onnx",
                   "scenario": scenario, "mode": "performance", "status": status, "avg_power_w": watts,
                   "folder": str(folder), **energy})
    store.close()
    (results / "run1").mkdir()
    (results / "run1" / "run.json").write_text(json.dumps({
        "run_id": "20261121T100000Z-rpi5-Offline-0001", "status": "invalid", "scenario": "Offline",
        "device": {"name": "rpi5"}, "model": {"path": "/models/m.onnx"},
        "checks": [{"name": "loadgen_validity", "status": "fail", "reason": "min queries not met"},
                   {"name": "gaps", "status": "pass", "reason": "no gap"}],
        "idle": {"average_w": 3.0, "checks": [{"name": "uncertainty", "status": "warn", "reason": "1.2 %"}]},
        "passes": {"run_1": {"figures": {"average_w": 5.25, "samples_per_j": 40.0, "window_host_ns": [1, 2]},
                             "agent": {"samples_per_s": 210.0}}},
    }))


def test_results_are_listed_filtered_sorted_and_opened(lab, tmp_path):
    assert lab.results_list().rows == () and "no results database yet" in lab.results_list().error
    stored_runs(tmp_path / "results")
    rows = lab.results_list().rows
    assert [r.device for r in rows] == ["local", "rpi5", "orin1"] and rows[2].started == "2026-11-25 09:46:40"
    assert (rows[2].energy_per_query_mj, rows[2].p90_latency_ms, rows[1].throughput) == (12.25, 1.5, 210.0)
    assert [r.device for r in sort_rows(rows, "device")] == ["local", "orin1", "rpi5"]
    assert [r.device for r in sort_rows(rows, "avg_power_w", descending=True)] == ["orin1", "rpi5", "local"]
    assert [r.device for r in sort_rows(rows, "avg_power_w")] == ["rpi5", "orin1", "local"]  # no figure: last
    assert [r.device for r in filter_rows(rows, "OFFLINE inval")] == ["rpi5"] and filter_rows(rows, "") == rows
    with pytest.raises(ValueError):
        sort_rows(rows, "colour")
    detail = lab.result("20261121")
    assert detail.status == "invalid" and detail.error == "" and detail.windows == (("run_1", 1, 2),)
    assert [(c.scope, c.name, c.status) for c in detail.checks] == [
        ("run", "loadgen_validity", "fail"), ("idle", "uncertainty", "warn"), ("run", "gaps", "pass")]
    assert dict(detail.figures)["samples/J"] == "40.00" and detail.trace == () and detail.idle_w == 3.0
    missing = lab.result("20261122")
    assert missing.status == "checks_failed" and "run.json not found" in missing.error
    assert "no run 'zzz'" in lab.result("zzz").error
    assert checks_of({}) == () and dict(figures_of({"status": "failed", "reason": "x"}))["status"] == "failed (x)"
