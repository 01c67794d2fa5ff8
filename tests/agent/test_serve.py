"""`python -m agent serve` driven through a real subprocess: ops, detached passes, events, cancel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from agent import protocol
from tests.agent.conftest import MODELS, SHORT, agent_env

JOB = {
    "model": str(MODELS / "tiny_float.onnx"),
    "scenario": "SingleStream",
    "profile": "quick",
    "settings": SHORT,
    "calibration_s": 0.2,
    "telemetry_interval_s": 0.2,
}


class Agent:
    """A serve process and a request counter."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "serve", "--root", str(root)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=agent_env(),
        )
        self.next_id = 0

    def raw(self, line: str) -> dict:
        self.proc.stdin.write(line)
        self.proc.stdin.flush()
        return protocol.decode(self.proc.stdout.readline())

    def call(self, op: str, **args) -> dict:
        self.next_id += 1
        reply = self.raw(protocol.encode(protocol.request(self.next_id, op, **args)))
        assert reply["id"] == self.next_id
        return reply

    def close(self) -> int:
        self.proc.stdin.close()
        return self.proc.wait(timeout=10)

    def wait_state(self, run_id: str, timeout_s: float = 60) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.call("status", run_id=run_id)
            if status["state"] != protocol.STATE_RUNNING:
                return status
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} still running after {timeout_s} s")

    def wait_phase(self, run_id: str, phase: str, timeout_s: float = 30) -> None:
        deadline, offset = time.monotonic() + timeout_s, 0
        while time.monotonic() < deadline:
            reply = self.call("events", run_id=run_id, offset=offset)
            offset = reply["next_offset"]
            if any(e.get("phase") == phase for e in reply["events"]):
                return
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} never reached phase {phase}")


@pytest.fixture
def agent(tmp_path):
    server = Agent(tmp_path / "runs")
    yield server
    if server.proc.poll() is None:
        server.close()


def test_hello_time_and_info(agent):
    hello = agent.call("hello")
    assert hello["ok"] is True and hello["protocol"] == protocol.PROTOCOL_VERSION
    before = time.time_ns()
    t = agent.call("time")["t_ns"]
    assert before <= t <= time.time_ns()
    info = agent.call("info")["info"]
    assert info["runtimes"]["onnx"].startswith("onnxruntime ") and info["loadgen"]
    assert info["cpu_logical"] >= 1 and len(info["boot_id"]) == 36


def test_detached_pass_and_its_events(agent, tmp_path):
    started = agent.call("start", job=JOB, run_id="pass-1")
    assert started["ok"] and started["run_id"] == "pass-1" and started["out"] == str(tmp_path / "runs" / "pass-1")
    status = agent.wait_state("pass-1")
    assert status["state"] == protocol.STATE_FINISHED and status["exit_code"] == 0
    assert status["result"]["status"] == "ok" and status["result"]["scenario"] == "SingleStream"
    # Events read in pieces from offsets add up to the file, line for line.
    offset, events = 0, []
    while True:
        reply = agent.call("events", run_id="pass-1", offset=offset)
        if not reply["events"]:
            break
        events += reply["events"]
        offset = reply["next_offset"]
    on_disk = [json.loads(line) for line in (tmp_path / "runs" / "pass-1" / "events.jsonl").read_text().splitlines()]
    assert events == on_disk
    assert events[0]["event"] == "started" and events[0]["pid"] == started["pid"]
    assert events[-1]["event"] == "finished"
    assert (tmp_path / "runs" / "pass-1" / "mlperf_log_detail.txt").exists()


def test_a_pass_outlives_its_server(tmp_path):
    first = Agent(tmp_path / "runs")
    first.call("start", job=dict(JOB, settings={"min_duration": 3000}), run_id="long")
    first.wait_phase("long", "loadgen")
    assert first.close() == 0  # the SSH channel goes away
    second = Agent(tmp_path / "runs")
    try:
        assert second.call("status", run_id="long")["state"] == protocol.STATE_RUNNING
        status = second.wait_state("long")
        assert status["state"] == protocol.STATE_FINISHED and status["result"]["status"] == "ok"
        assert status["exit_code"] is None  # not this server's child: the result is what counts
    finally:
        second.close()


def test_cancel_stops_the_pass_and_says_so(agent, tmp_path):
    started = agent.call("start", job=dict(JOB, settings={"min_duration": 60000}), run_id="to-cancel")
    agent.wait_phase("to-cancel", "loadgen")
    t0 = time.monotonic()
    reply = agent.call("cancel", run_id="to-cancel")
    assert reply["state"] == protocol.STATE_CANCELLED
    assert time.monotonic() - t0 < 8
    assert not psutil.pid_exists(started["pid"]) or psutil.Process(started["pid"]).status() == psutil.STATUS_ZOMBIE
    result = json.loads((tmp_path / "runs" / "to-cancel" / "result.json").read_text())
    assert result["status"] == "cancelled" and result["reason"] == "cancelled by signal SIGTERM"
    last = json.loads((tmp_path / "runs" / "to-cancel" / "events.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "failed" and last["status"] == "cancelled"


def test_a_killed_worker_is_reported_lost(agent):
    started = agent.call("start", job=dict(JOB, settings={"min_duration": 60000}), run_id="doomed")
    agent.wait_phase("doomed", "loadgen")
    os.killpg(started["pid"], signal.SIGKILL)
    assert agent.wait_state("doomed", timeout_s=10)["state"] == protocol.STATE_LOST


def test_bad_requests_get_one_line_errors_and_the_server_carries_on(agent):
    assert agent.raw("not json\n") == {"id": None, "ok": False, "error": "not JSON: 'not json\\n'"}
    reply = agent.call("hello")
    assert reply["ok"]
    agent.proc.stdin.write('{"id": 7, "op": "reboot"}\n')
    agent.proc.stdin.flush()
    reply = protocol.decode(agent.proc.stdout.readline())
    assert reply == {"id": 7, "ok": False, "error": "unknown op 'reboot' (known: cancel, events, hello, info, start, status, time)"}
    reply = agent.call("status", run_id="../../etc")
    assert reply["ok"] is False and reply["error"].startswith("bad run_id '../../etc'")
    reply = agent.call("start", job={"model": "m.onnx", "scenario": "Server"})
    assert reply["ok"] is False and "'scenario' must be one of SingleStream, Offline" in reply["error"]
    reply = agent.call("status", run_id="never-started")
    assert reply["ok"] is False and reply["error"].startswith("no run never-started in ")
    assert agent.call("hello")["ok"]


def test_a_run_folder_that_cannot_be_written_is_one_line_naming_it(tmp_path):
    (tmp_path / "runs").write_text("a file where the runs folder should be (a full or broken disk does the same)\n")
    server = Agent(tmp_path / "runs")
    try:
        reply = server.call("start", job=JOB, run_id="r1")
        assert reply == {"id": 1, "ok": False,
                         "error": f"cannot write {tmp_path / 'runs' / 'r1' / 'job.json'}: Not a directory"}
        assert server.call("hello")["ok"]
    finally:
        server.close()
