"""AgentClient over real sshd with the real `agent serve` on the board; a drop mid-pass and re-attach."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from agent import protocol
from director.agent_client import AgentClient, AgentRequestFailed, agent_for
from director.deploy import deploy_agent
from director.errors import AgentUnavailable
from director.transport import TimedOut
from director.local import LocalTransport
from tests.sshd import Board

MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"
JOB = {
    "model": str(MODELS / "tiny_float.onnx"),
    "scenario": "SingleStream",
    "profile": "quick",
    "settings": {"min_duration": 500},
    "calibration_s": 0.2,
    "telemetry_interval_s": 0.2,
}


@pytest.fixture
def client(ssh, sshd, board_python):
    """An AgentClient on the board, its runs under the board's HOME."""
    c = AgentClient(ssh, board_python, deploy_agent(ssh), root="~/runs")
    yield c
    c.close()


def on_disk_events(sshd: Board, run_id: str) -> list:
    return [json.loads(line) for line in (sshd.home / "runs" / run_id / "events.jsonl").read_text().splitlines()]


def test_hello_info_and_time(client, sshd):
    hello = client.hello()
    assert hello.protocol == protocol.PROTOCOL_VERSION and hello.pid > 0
    assert client.info()["cpu_logical"] >= 1
    before = time.time_ns()
    t_ns, mono_ns = client.time()
    assert before <= t_ns <= time.time_ns() and mono_ns > 0


def test_a_pass_start_status_events(client, sshd):
    run_id = client.start(JOB, run_id="pass-a")
    assert run_id == "pass-a" and client.started[run_id]["out"] == f"{sshd.home}/runs/pass-a"
    seen = []
    status = client.follow(run_id, seen.append, poll_s=0.1, timeout_s=120)
    assert status["state"] == protocol.STATE_FINISHED and status["result"]["status"] == "ok"
    assert seen == on_disk_events(sshd, run_id)
    assert seen[0]["event"] == "started" and seen[-1]["event"] == "finished"
    events, offset = client.events(run_id, 0)
    assert events == seen and offset == client.offsets[run_id]


def test_agent_errors_are_one_line(client):
    with pytest.raises(AgentRequestFailed, match="agent start: start job: missing field 'scenario'"):
        client.start({"model": "m.onnx"})
    with pytest.raises(AgentRequestFailed, match="no run nope"):
        client.status("nope")
    assert client.hello().protocol == protocol.PROTOCOL_VERSION  # the channel carries on


def test_an_ssh_drop_mid_pass_loses_no_event(client, sshd):
    """Kill the session's sshd process during LoadGen; re-attach and follow the same run to its end."""
    run_id = client.start(dict(JOB, settings={"min_duration": 2500}), run_id="dropped")
    first_serve = client.hello().pid
    port = client.transport.connected().sock.getsockname()[1]
    seen, drops = [], []

    def on_event(event):
        seen.append(event)
        if event.get("phase") == "loadgen" and not drops:
            drops.append(sshd.kill_connection(port))

    status = client.follow(run_id, on_event, poll_s=0.1, timeout_s=120)
    assert drops == [True]
    assert client.transport.connected().sock.getsockname()[1] != port and client.hello().pid != first_serve
    assert status["state"] == protocol.STATE_FINISHED and status["result"]["status"] == "ok"
    assert seen == on_disk_events(sshd, run_id)  # every event once, in order
    assert seen[-1]["event"] == "finished"


def fake_agent(folder: Path, body: str) -> str:
    """A stand-in `agent` package whose __main__ answers each request as `body` says; its PYTHONPATH."""
    (folder / "agent").mkdir(parents=True, exist_ok=True)
    (folder / "agent" / "__init__.py").write_text("")
    (folder / "agent" / "__main__.py").write_text(
        "import json, sys, time\n"
        "for line in sys.stdin:\n"
        "    m = json.loads(line)\n"
        "    r = {'id': m['id'], 'ok': True, 'protocol': 1, 'agent_version': '0', 'python': '3', 'pid': 1}\n"
        + body + "    print(json.dumps(r), flush=True)\n"
    )
    return str(folder)


def test_a_protocol_mismatch_is_a_clear_error(ssh, sshd, board_python):
    client = AgentClient(ssh, board_python, fake_agent(sshd.home / "fake_v99", "    r['protocol'] = 99\n"))
    with pytest.raises(AgentUnavailable, match="speaks protocol 99, this director speaks 1"):
        client.hello()


def test_a_slow_answer_times_out_and_its_late_reply_is_skipped(ssh, sshd, board_python):
    body = "    if m['op'] == 'time':\n        time.sleep(0.6)\n        r.update(t_ns=1, mono_ns=1)\n    r.setdefault('info', {'n': m['id']})\n"
    with AgentClient(ssh, board_python, fake_agent(sshd.home / "fake_slow", body)) as client:
        with pytest.raises(TimedOut, match="did not answer 'time' within 0.2 s"):
            client.time(timeout_s=0.2)
        assert client.info() == {"n": 3}  # the reply to request 2 (time) arrives first and is dropped


def test_an_agent_that_cannot_start_says_why(ssh, bare_python):
    with pytest.raises(AgentUnavailable, match="board: the agent did not start: .*No module named agent"):
        AgentClient(ssh, bare_python, "/nonexistent").hello()
    with pytest.raises(AgentUnavailable, match="the agent did not start: .*python9.9.*No such file"):
        AgentClient(ssh, "python9.9", "/nonexistent").hello()


def test_agent_for_deploys_checks_and_starts(ssh, sshd, board_python, bare_python):
    with agent_for(ssh, board_python, workdir="~/wd") as client:
        assert client.hello().protocol == protocol.PROTOCOL_VERSION and client.root == "~/wd/runs"
        assert client.time()[0] > 0
    with pytest.raises(AgentUnavailable, match="lacks numpy"):
        agent_for(ssh, bare_python)


def test_the_local_device_speaks_the_same(tmp_path):
    transport = LocalTransport()
    with AgentClient(transport, sys.executable, deploy_agent(transport), root=str(tmp_path / "runs")) as client:
        assert client.hello().protocol == protocol.PROTOCOL_VERSION
        t_ns, _ = client.time()
        assert abs(t_ns - time.time_ns()) < 5e9
