"""Real LoadGen passes on both runtimes × both scenarios × both modes, checked against LoadGen's logs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from agent.loadgen_logs import power_time_ns, read_detail, read_summary
from tests.agent.conftest import MODELS, SHORT, TINY, run_agent

# runtime, scenario -> model: float and int8, fixed batch 1 and dynamic batch all appear.
MODEL_FOR = {
    ("tflite", "SingleStream"): "tiny_int8.tflite",
    ("tflite", "Offline"): "tiny_float_dyn.tflite",
    ("onnx", "SingleStream"): "tiny_float_b1.onnx",
    ("onnx", "Offline"): "tiny_int8.onnx",
}
CASES = [(rt, sc, mode) for (rt, sc) in MODEL_FOR for mode in ("performance", "accuracy")]
MS = 1_000_000


def _job(runtime: str, scenario: str, mode: str) -> dict:
    job = {
        "model": str(MODELS / MODEL_FOR[(runtime, scenario)]),
        "scenario": scenario,
        "mode": mode,
        "threads": 1,
        "profile": "quick",
        "settings": dict(SHORT),
        "calibration_s": 0.3,
        "batch_size": 16,
        "telemetry_interval_s": 0.1,
    }
    if mode == "accuracy":
        job["dataset"] = {"kind": "npy", "path": str(TINY)}
    else:
        job["dataset"] = {"kind": "synthetic", "count": 256, "seed": 1}
    return job


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def finished(request, tmp_path_factory) -> tuple:
    runtime, scenario, mode = request.param
    run = run_agent(_job(runtime, scenario, mode), tmp_path_factory.mktemp("pass"))
    assert run.returncode == 0, run.stderr
    return request.param, run


def builtin_seeds() -> dict:
    """The seeds of the mlperf.conf compiled into the installed LoadGen, read from its binary."""
    origin = importlib.util.find_spec("mlperf_loadgen").origin
    text = Path(origin).read_bytes()
    found = dict(re.findall(rb"\n\*\.\*\.(qsl_rng_seed|sample_index_rng_seed|schedule_rng_seed) = (\d+)", text))
    assert len(found) == 3, "could not find the seeds in LoadGen's embedded mlperf.conf"
    return {
        "qsl": int(found[b"qsl_rng_seed"]),
        "sample_index": int(found[b"sample_index_rng_seed"]),
        "schedule": int(found[b"schedule_rng_seed"]),
    }


def test_result_matches_loadgen_summary(finished):
    (runtime, scenario, mode), run = finished
    result = run.result
    summary = read_summary(str(run.out / "mlperf_log_summary.txt"))
    assert result["scenario"] == scenario and result["mode"] == mode
    assert result["model"]["backend"] == runtime
    if mode == "accuracy":
        assert result["valid"] is True and result["loadgen_errors"] == []
        return
    assert result["status"] == "ok" and summary.fields["Result is"] == "VALID"
    assert result["latency_ns"]["p90"] == int(summary.fields["90.00 percentile latency (ns)"])
    assert result["latency_ns"]["max"] == int(summary.fields["Max latency (ns)"])
    assert result["latency_ns"]["mean"] == int(summary.fields["Mean latency (ns)"])
    if scenario == "SingleStream":
        assert result["qps"] == pytest.approx(float(summary.fields["QPS w/ loadgen overhead"]))
        estimate = re.search(r"Early stopping 90.0th percentile estimate: (\d+)", run.text("mlperf_log_summary.txt"))
        assert result["latency_ns"]["early_stopping_p90"] == int(estimate.group(1))
        assert result["early_stopping_met"] is True
        assert result["query_count"] == result["sample_count"] >= 100
    else:
        assert result["samples_per_s"] == pytest.approx(float(summary.fields["Samples per second"]))
        assert result["query_count"] == 1
        assert result["sample_count"] == result["effective"]["samples_per_query"]
    assert result["effective"]["min_duration_ms"] == SHORT["min_duration"]
    assert result["loadgen_errors"] == []


def test_effective_seeds_are_the_builtin_ones(finished):
    _, run = finished
    seeds = builtin_seeds()
    assert run.result["seeds"] == seeds
    if run.result["mode"] == "performance":
        summary = read_summary(str(run.out / "mlperf_log_summary.txt"))
        assert int(summary.fields["qsl_rng_seed"]) == seeds["qsl"]
        assert int(summary.fields["schedule_rng_seed"]) == seeds["schedule"]


def test_window_is_consistent_with_loadgen_markers(finished):
    _, run = finished
    window = run.result["window"]
    detail = read_detail(str(run.out / "mlperf_log_detail.txt"))
    assert window["loadgen_power_begin"] == detail.values["power_begin"]
    begin_ns = power_time_ns(detail.values["power_begin"])
    end_ns = power_time_ns(detail.values["power_end"])
    assert window["loadgen_power_begin_ns"] == begin_ns and window["loadgen_power_end_ns"] == end_ns
    # LoadGen truncates to the millisecond and stamps just before it calls issue; our stamps are
    # taken inside the callbacks, so they can only come later: by the Python binding's conversion
    # of the query to a list, about 2 µs a sample (an Offline query holds thousands).
    samples_per_query = run.result["effective"]["samples_per_query"]
    assert begin_ns <= window["first_issue_ns"] < begin_ns + 1 * MS + 50 * MS + 5_000 * samples_per_query
    assert abs(window["last_complete_ns"] - end_ns) < 1 * MS + 50 * MS
    assert window["duration_ns"] == window["last_complete_ns"] - window["first_issue_ns"] > 0
    if run.result["mode"] == "performance" and run.result["scenario"] == "SingleStream":
        # LoadGen counts min_duration from its own start stamp, a few µs before our first issue.
        assert window["duration_ns"] >= SHORT["min_duration"] * MS - 1 * MS


def test_events_tell_the_pass_in_order(finished):
    _, run = finished
    events = run.events()
    names = [e["event"] for e in events]
    assert names[0] == "started" and names[-1] == "finished"
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    expected = ["loading", "loadgen"] if run.result["mode"] == "accuracy" else ["loading", "calibrating", "loadgen"]
    assert phases[: len(expected)] == expected
    times = [e["t_ns"] for e in events]
    assert times == sorted(times)
    assert events[-1]["status"] == run.result["status"]


def test_calibration_sets_the_hint_only_in_performance_mode(finished):
    (_, scenario, mode), run = finished
    conf = run.text("user.conf")
    key = "target_latency" if scenario == "SingleStream" else "target_qps"
    if mode == "accuracy":
        assert key not in conf and run.result["calibration"] == {}
    else:
        value = run.result["calibration"][key]
        assert f"resnet50.{scenario}.{key} = {value!r}" in conf
        effective = run.result["effective"]
        if scenario == "SingleStream":
            assert effective["target_latency_ns"] == 0  # SingleStream has no latency bound ...
            assert run.result["generated_query_count"] > 100  # ... the hint sized the query pool
        else:
            assert effective["target_qps"] == pytest.approx(value, rel=1e-5)  # logged to 6 digits


def test_telemetry_is_written(finished):
    _, run = finished
    lines = run.text("telemetry.csv").splitlines()
    header = lines[0].split(",")
    assert header[:4] == ["t_ns", "cpu_percent", "mem_used_bytes", "mem_available_bytes"]
    assert len(lines) - 1 == run.result["telemetry_rows"] >= 2
    assert all(len(line.split(",")) == len(header) for line in lines[1:])


def test_accuracy_mode_scores_the_known_labels(finished, tiny_expected):
    (runtime, scenario, mode), run = finished
    if mode != "accuracy":
        assert (run.out / "mlperf_log_accuracy.json").stat().st_size < 16
        assert not (run.out / "accuracy.txt").exists()
        return
    expected = tiny_expected["models"][MODEL_FOR[(runtime, scenario)]]
    line = f"accuracy={expected['top1_percent']:.3f}%, good={expected['good']}, total={expected['total']}"
    assert run.text("accuracy.txt") == line + "\n"
    assert run.result["accuracy"]["line"] == line
    assert line in run.stdout


def test_offline_batches_follow_the_model(finished):
    (runtime, scenario, _), run = finished
    if scenario == "Offline":
        assert run.result["model"]["dynamic_batch"] is True and run.result["batch_size"] == 16
    else:
        assert run.result["batch_size"] == 1


def test_runtime_time_is_measured_inside_the_pass(finished):
    (_, scenario, mode), run = finished
    runtime = run.result["runtime_ns"]
    if scenario == "SingleStream":
        assert runtime["calls"] == run.result["sample_count"]
        if mode == "performance":
            # LoadGen's latency holds the runtime's time and what LoadGen and the glue add on top.
            assert runtime["p50_ns"] <= run.result["latency_ns"]["p50"]
    else:
        batch = run.result["batch_size"]
        assert runtime["calls"] >= run.result["sample_count"] / batch
    assert runtime["mean_ns"] == pytest.approx(runtime["total_ns"] / runtime["calls"])


def test_a_fixed_batch_model_runs_offline_sample_by_sample(tmp_path):
    job = dict(_job("tflite", "Offline", "performance"), model=str(MODELS / "tiny_float.tflite"))
    run = run_agent(job, tmp_path)
    assert run.returncode == 0, run.stderr
    result = run.result
    assert result["status"] == "ok" and result["model"]["dynamic_batch"] is False
    assert result["batch_size"] == 1
    assert result["runtime_ns"]["calls"] == result["sample_count"] == result["effective"]["samples_per_query"]
