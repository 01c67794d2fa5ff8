"""The LoadGen traps of ../shared/reference/mlperf.md, each shown handled on the real LoadGen."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.agent.conftest import MODELS, REPO, SHORT, agent_env, run_agent
from tests.agent.test_loadgen_runs import builtin_seeds

BASE = {
    "model": str(MODELS / "tiny_float.onnx"),
    "scenario": "SingleStream",
    "profile": "quick",
    "settings": SHORT,
    "calibration_s": 0.2,
    "telemetry_interval_s": 0,
}


def python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=agent_env(), cwd=str(cwd), timeout=120
    )


def test_a_stale_audit_config_in_the_working_folder_is_not_read(tmp_path):
    # Applied, this audit.config would make every query reuse one sample and log a warning.
    (tmp_path / "audit.config").write_text("*.*.performance_issue_same = 1\n*.*.performance_issue_same_index = 3\n")
    run = run_agent(dict(BASE), tmp_path, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    detail = run.text("mlperf_log_detail.txt")
    assert "Found Audit Config" not in detail
    assert run.result["effective"]["performance_issue_same"] is False


def test_one_loadgen_test_per_process(tmp_path):
    job = dict(BASE, model=str(MODELS / "tiny_float.onnx"))
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = python(
        """
        from agent.job import read_job
        from agent.runner import Pass
        from agent.errors import LoadGenError
        job = read_job("job.json")
        print(Pass(job, "first").run()["status"])
        try:
            Pass(job, "second").run()
        except LoadGenError as e:
            print("refused:", e)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["ok", "refused: one LoadGen test per process: this process already ran one"]
    second = json.loads((tmp_path / "second" / "result.json").read_text())
    assert second["status"] == "failed" and "one LoadGen test per process" in second["reason"]


def test_mlperf_profile_keeps_the_rules_durations_and_builtin_seeds(tmp_path):
    """A user.conf of the mlperf profile, loaded as the agent loads it, in a fresh process."""
    proc = python(
        """
        import json, mlperf_loadgen as lg
        from agent.userconf import effective_settings, render
        settings = effective_settings("mlperf", "Offline", {"target_qps": 812.5}, {})
        open("user.conf", "w").write(render("resnet50", "Offline", settings))
        ts = lg.TestSettings()
        rc = ts.FromConfig("user.conf", "resnet50", "Offline")
        print(json.dumps({"rc": rc, "min_duration_ms": ts.min_duration_ms, "min_query_count": ts.min_query_count,
                          "offline_expected_qps": ts.offline_expected_qps, "qsl": ts.qsl_rng_seed,
                          "sample_index": ts.sample_index_rng_seed, "schedule": ts.schedule_rng_seed,
                          "conf": open("user.conf").read()}))
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    assert loaded["rc"] == 0
    assert loaded["conf"] == "resnet50.Offline.target_qps = 812.5\n"
    assert loaded["min_duration_ms"] == 600000 and loaded["min_query_count"] == 24576
    assert loaded["offline_expected_qps"] == 812.5
    assert {k: loaded[k] for k in ("qsl", "sample_index", "schedule")} == builtin_seeds()


def test_a_hint_far_from_the_truth_is_reported_not_hidden(tmp_path):
    # A 50 ms latency hint for a model 1000× faster: LoadGen runs out of generated queries.
    run = run_agent(dict(BASE, settings={"min_duration": 1000, "target_latency": 50}), tmp_path)
    assert run.returncode == 3, run.stderr
    result = run.result
    assert result["status"] == "invalid"
    assert any("LoadGen error" in reason for reason in result["validity_reasons"]), result["validity_reasons"]
    assert result["loadgen_errors"], "LoadGen's error must be carried into result.json"


def test_repository_has_no_stray_audit_config():
    assert not list(REPO.glob("**/audit.config"))
