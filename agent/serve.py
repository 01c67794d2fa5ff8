"""`python3 -m agent serve`: JSON-lines requests on stdin, replies on stdout, detached passes.

Each pass runs in its own process, in its own session, writing into <root>/<run_id>/, so it
survives the end of this server (an SSH drop). Every answer about a run is read back from that
folder, so a new server started after a drop sees the runs of the old one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any, Callable, Dict, Optional

import psutil

from agent import __version__, protocol
from agent.errors import AgentError, BadInput
from agent.job import job_from_dict

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CANCEL_GRACE_S = 10.0
EXIT_GRACE_S = 5.0
MAX_EVENTS_BYTES = 1 << 20

_STATE_BY_RESULT = {
    protocol.RESULT_OK: protocol.STATE_FINISHED,
    protocol.RESULT_INVALID: protocol.STATE_FINISHED,
    protocol.RESULT_FAILED: protocol.STATE_FAILED,
    protocol.RESULT_CANCELLED: protocol.STATE_CANCELLED,
}


def _package_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Server:
    """The state behind the ops: a root folder of runs and the worker processes started here."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self.children: Dict[str, subprocess.Popen] = {}

    def folder(self, run_id: Any) -> str:
        """The folder of a run, checking the id (it becomes a path)."""
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            raise BadInput(f"bad run_id {run_id!r} (letters, digits, '.', '_' and '-' only)")
        return os.path.join(self.root, run_id)

    # ops ----------------------------------------------------------------------------------
    def hello(self, _msg: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "protocol": protocol.PROTOCOL_VERSION,
            "agent_version": __version__,
            "python": sys.version.split()[0],
            "pid": os.getpid(),
        }

    def info(self, _msg: Dict[str, Any]) -> Dict[str, Any]:
        from agent.info import facts

        return {"info": facts()}

    def time(self, _msg: Dict[str, Any]) -> Dict[str, Any]:
        return {"t_ns": time.time_ns(), "mono_ns": time.monotonic_ns()}

    def start(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        run_id = msg.get("run_id") or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
        folder = self.folder(run_id)
        job = job_from_dict(msg.get("job"), base=os.path.expanduser("~"), source="start job")
        if os.path.exists(folder):
            raise BadInput(f"run {run_id} already exists in {self.root}")
        job_path = os.path.join(folder, "job.json")
        try:
            os.makedirs(folder)
            with open(job_path, "w", encoding="utf-8") as f:
                json.dump(job.to_json(), f, indent=2)
        except OSError as e:  # a full or read-only disk on the device: say which folder
            raise AgentError(f"cannot write {job_path}: {e.strerror or e}") from e
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_package_parent(), env.get("PYTHONPATH")]))
        with open(os.path.join(folder, "worker.log"), "wb") as log:
            child = subprocess.Popen(  # noqa: S603 - argv list, no shell; our own module and paths we created
                [sys.executable, "-m", "agent", "run", "--job", job_path, "--out", folder],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env=env,
                start_new_session=True,  # its own process group: an SSH hang-up does not reach it
            )
        self.children[run_id] = child
        with open(os.path.join(folder, "worker.json"), "w", encoding="utf-8") as f:
            json.dump({"pid": child.pid, "create_time": psutil.Process(child.pid).create_time()}, f)
        return {"run_id": run_id, "pid": child.pid, "out": folder}

    def status(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        run_id = msg.get("run_id")
        folder = self.folder(run_id)
        if not os.path.isdir(folder):
            raise BadInput(f"no run {run_id} in {self.root}")
        child = self.children.get(run_id)
        result = _read_json(os.path.join(folder, "result.json"))
        exit_code = None
        if child is not None:
            # result.json is the worker's last act: once it is there, the exit is moments away.
            exit_code = _wait_exit(child, EXIT_GRACE_S if result is not None else 0.0)
        if result is not None:
            state = _STATE_BY_RESULT.get(result.get("status"), protocol.STATE_FAILED)
        elif self._alive(folder):
            state = protocol.STATE_RUNNING
        else:
            state = protocol.STATE_LOST
        return {"run_id": run_id, "state": state, "exit_code": exit_code, "result": result}

    def events(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        folder = self.folder(msg.get("run_id"))
        offset = msg.get("offset", 0)
        if not isinstance(offset, int) or offset < 0:
            raise BadInput(f"bad offset {offset!r}")
        try:
            with open(os.path.join(folder, "events.jsonl"), "rb") as f:
                f.seek(offset)
                data = f.read(MAX_EVENTS_BYTES)
        except FileNotFoundError:
            return {"events": [], "next_offset": offset}
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for next time
        events = [json.loads(line) for line in complete.decode("utf-8").splitlines() if line.strip()]
        return {"events": events, "next_offset": offset + len(complete)}

    def cancel(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        run_id = msg.get("run_id")
        folder = self.folder(run_id)
        pid = self._alive(folder)
        if pid:
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + CANCEL_GRACE_S
            while self._alive(folder) and time.monotonic() < deadline:
                _pause(0.05)
            if self._alive(folder):
                _signal_group(pid, signal.SIGKILL)
        child = self.children.get(run_id)
        if child is not None:
            _wait_exit(child, 5.0)
        return {"run_id": run_id, "state": self.status({"run_id": run_id})["state"]}

    # helpers ------------------------------------------------------------------------------
    def _alive(self, folder: str) -> Optional[int]:
        """The worker's pid if that very process is still running (not a reused pid, not a zombie)."""
        worker = _read_json(os.path.join(folder, "worker.json"))
        if not worker:
            return None
        run_id = os.path.basename(folder)
        if run_id in self.children:
            self.children[run_id].poll()  # reap our own child so it does not linger as a zombie
        try:
            process = psutil.Process(worker["pid"])
            if abs(process.create_time() - worker["create_time"]) > 0.01:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return int(worker["pid"])


def _pause(seconds: float) -> None:
    # Not time.sleep: under libfaketime (how tests give a board a shifted clock) Python's sleep
    # fails with EINVAL, while waiting on an event uses an untouched monotonic clock.
    threading.Event().wait(seconds)


def _wait_exit(child: subprocess.Popen, timeout_s: float) -> Optional[int]:
    """The child's exit code once it has exited, waiting up to timeout_s; None if still running."""
    deadline = time.monotonic() + timeout_s
    while child.poll() is None and time.monotonic() < deadline:
        _pause(0.02)
    return child.returncode


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _read_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def serve(stdin: IO[str], stdout: IO[str], root: str) -> int:
    """Answer requests until stdin closes."""
    server = Server(root)
    ops: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {op: getattr(server, op) for op in protocol.OPS}
    for line in stdin:
        if not line.strip():
            continue
        request_id = None
        try:
            message = protocol.decode(line)
            request_id = message.get("id")
            handler = ops.get(message.get("op"))
            if handler is None:
                raise BadInput(f"unknown op {message.get('op')!r} (known: {', '.join(sorted(ops))})")
            reply = protocol.ok(request_id, **handler(message))
        except (AgentError, protocol.ProtocolError, OSError) as e:
            reply = protocol.error(request_id, str(e))
        stdout.write(protocol.encode(reply))
        stdout.flush()
    return 0
