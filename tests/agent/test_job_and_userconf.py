"""job.json checks and the user.conf LoadGen reads (its parser traps avoided by construction)."""

from __future__ import annotations

import json
import re

import pytest

from agent.errors import BadInput
from agent.job import job_from_dict, read_job
from agent.userconf import effective_settings, format_value, render


def test_relative_paths_come_from_the_job_folder(tmp_path):
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"model": "m/x.onnx", "scenario": "Offline", "dataset": {"kind": "npy", "path": "d"}}))
    job = read_job(str(path))
    assert job.model == str(tmp_path / "m" / "x.onnx")
    assert job.dataset.path == str(tmp_path / "d")
    assert (job.profile, job.mode, job.loadgen_model, job.backend) == ("mlperf", "performance", "resnet50", "auto")


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"scenario": "Offline"}, "missing field 'model'"),
        ({"model": "m.onnx", "scenario": "Server"}, "'scenario' must be one of SingleStream, Offline (got 'Server')"),
        ({"model": "m.onnx", "scenario": "Offline", "mode": "fast"}, "'mode' must be one of performance, accuracy"),
        ({"model": "m.onnx", "scenario": "Offline", "thread": 2}, "unknown field(s): thread"),
        ({"model": "m.onnx", "scenario": "Offline", "threads": 0}, "'threads' must be at least 1"),
        ({"model": "m.onnx", "scenario": "Offline", "threads": "4"}, "'threads' must be an integer"),
        ({"model": "m.onnx", "scenario": "Offline", "settings": {"qsl_rng_seed": 5}}, "unknown LoadGen setting 'qsl_rng_seed'"),
        ({"model": "m.onnx", "scenario": "Offline", "settings": {"min_duration": "10s"}}, "'settings.min_duration' must be a number"),
        ({"model": "m.onnx", "scenario": "Offline", "loadgen_model": "res net"}, "'loadgen_model' must be a name"),
        ({"model": "m.onnx", "scenario": "Offline", "dataset": {"kind": "npy"}}, "needs 'dataset.path'"),
        ({"model": "m.onnx", "scenario": "Offline", "dataset": {"kind": "images"}}, "'dataset.kind' must be one of synthetic, npy"),
        ([1, 2], "a job must be a JSON object"),
    ],
)
def test_bad_jobs_name_the_field(raw, message):
    with pytest.raises(BadInput) as info:
        job_from_dict(raw, source="job.json")
    assert str(info.value).startswith("job.json: ")
    assert message in str(info.value)


def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "job.json"
    path.write_text('{"model": "m.onnx",\n "scenario": }')
    with pytest.raises(BadInput, match=r"job.json: not valid JSON \(line 2, column 14"):
        read_job(str(path))


def test_profiles_hints_and_overrides_in_that_order():
    settings = effective_settings("quick", "Offline", {"target_qps": 100.0}, {"min_duration": 2500, "target_qps": 7})
    assert settings == {"min_duration": 2500, "min_query_count": 1, "target_qps": 7}
    assert effective_settings("mlperf", "SingleStream", {"target_latency": 1.5}, {}) == {"target_latency": 1.5}


def test_rendered_lines_avoid_the_parser_traps():
    text = render("resnet50", "SingleStream", {"target_latency": 0.004917, "min_duration": 10000.0}, notes=["made here"])
    assert text == (
        "# made here\n"
        "resnet50.SingleStream.min_duration = 10000\n"
        "resnet50.SingleStream.target_latency = 0.004917\n"
    )
    for line in text.splitlines():
        assert line.startswith("# ") or re.fullmatch(r"\S+\.\S+\.\S+ = [0-9.e+-]+", line)
    assert format_value(1e-7) == "1e-07" and format_value(3.0) == "3"
