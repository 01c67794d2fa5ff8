"""Every bad input gives one clear line, a non-zero exit, no traceback, and a result.json saying why."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.agent.conftest import MODELS, SHORT, agent_env, run_agent

BASE = {"model": str(MODELS / "tiny_float.onnx"), "scenario": "SingleStream", "profile": "quick", "settings": SHORT}


def assert_one_line_error(run, code: int, fragment: str) -> None:
    assert run.returncode == code, run.stderr
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("agent: error: ") and fragment in lines[0], lines[0]


def assert_result_says(run, fragment: str, error: str = "bad_input") -> None:
    result = run.result
    assert result["status"] == "failed" and fragment in result["reason"]
    assert result["error"] == error  # the kind the director retries (or not) by
    events = run.events()
    assert events[-1]["event"] == "failed" and fragment in events[-1]["reason"] and events[-1]["error"] == error


def test_missing_model(tmp_path):
    run = run_agent(dict(BASE, model=str(tmp_path / "absent.onnx")), tmp_path)
    assert_one_line_error(run, 2, f"model not found: {tmp_path / 'absent.onnx'}")
    assert_result_says(run, "model not found", "model")


@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_corrupt_model(tmp_path, suffix):
    model = tmp_path / f"corrupt{suffix}"
    model.write_bytes(b"\x08\x01garbage" * 64)
    run = run_agent(dict(BASE, model=str(model)), tmp_path)
    assert_one_line_error(run, 2, f"cannot load {'ONNX' if suffix == '.onnx' else 'TFLite'} model {model}")
    assert_result_says(run, "cannot load", "model")


def test_unknown_format(tmp_path):
    model = tmp_path / "model.savedmodel"
    model.write_bytes(b"x")
    run = run_agent(dict(BASE, model=str(model)), tmp_path)
    assert_one_line_error(run, 2, "unknown model format '.savedmodel'")


def test_inputs_that_do_not_fit_the_model(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "000.npy", np.zeros((16, 16, 3), np.float32))
    run = run_agent(dict(BASE, dataset={"kind": "npy", "path": str(data)}), tmp_path)
    assert_one_line_error(run, 2, "npy sample 000.npy has shape (16, 16, 3) but model input 'input' expects (8, 8, 3)")
    assert_result_says(run, "has shape (16, 16, 3)", "model")


@pytest.mark.parametrize(
    "module, extra, fragment",
    [
        ("onnxruntime", "onnx", "onnxruntime is not installed"),
        ("mlperf_loadgen", "loadgen", "mlperf_loadgen is not installed"),
    ],
)
def test_missing_runtime_or_loadgen_names_the_extra(tmp_path, module, extra, fragment):
    # A package that fails to import stands in for one that is not installed.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / f"{module}.py").write_text(f"raise ImportError('No module named {module}')\n")
    run = run_agent(dict(BASE), tmp_path, extra_path=str(shadow))
    assert_one_line_error(run, 2, fragment)
    assert f"pip install 'edgepower[{extra}]'" in run.stderr
    assert_result_says(run, fragment, "missing_dependency")


def test_missing_tflite_interpreter(tmp_path):
    shadow = tmp_path / "shadow"
    for package in ("ai_edge_litert", "tflite_runtime"):
        (shadow / package).mkdir(parents=True)
        (shadow / package / "__init__.py").write_text("raise ImportError('not installed')\n")
    run = run_agent(dict(BASE, model=str(MODELS / "tiny_float.tflite")), tmp_path, extra_path=str(shadow))
    assert_one_line_error(run, 2, "no TFLite interpreter is installed")
    assert "pip install 'edgepower[tflite]'" in run.stderr


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('{"model": "m.onnx", "scenario": ', "not valid JSON (line 1, column 33"),
        ('{"model": "m.onnx", "scenario": "Singlestream"}', "'scenario' must be one of SingleStream, Offline"),
        ('{"model": "m.onnx", "scenario": "Offline", "treads": 4}', "unknown field(s): treads"),
    ],
)
def test_malformed_job_file(tmp_path, text, fragment):
    job = tmp_path / "job.json"
    job.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--job", str(job), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=agent_env(), timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith(f"agent: error: {job}: ") and fragment in proc.stderr
    assert not (tmp_path / "out").exists()


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    job = tmp_path / "job.json"
    job.write_text(json.dumps(BASE))
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--job", str(job), "--out", str(blocker / "out")],
        capture_output=True, text=True, env=agent_env(), timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"agent: error: cannot write to output folder {blocker / 'out'}: Not a directory"


def test_output_folder_with_a_previous_run_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mlperf_log_detail.txt").write_text("measured before\n")
    run = run_agent(dict(BASE), tmp_path)
    assert_one_line_error(run, 2, "already holds a run (mlperf_log_detail.txt); give an empty folder")
    assert (out / "mlperf_log_detail.txt").read_text() == "measured before\n"


def test_invalid_loadgen_result_is_reported_as_invalid(tmp_path):
    # target_qps far below the real throughput: the one Offline query is too small, finishes before
    # min_duration, and LoadGen calls the run INVALID.
    job = dict(BASE, scenario="Offline", settings={"min_duration": 1000, "target_qps": 50})
    run = run_agent(job, tmp_path)
    assert run.returncode == 3, run.stderr
    result = run.result
    assert result["status"] == "invalid" and result["valid"] is False and result["validity"] == "INVALID"
    assert "Min duration satisfied: NO" in result["validity_reasons"]
    assert any("Increase expected QPS" in reason for reason in result["validity_reasons"])
    assert run.stdout.startswith("Offline performance: INVALID (Min duration satisfied: NO;")
    assert run.events()[-1] == dict(run.events()[-1], event="finished", status="invalid")
