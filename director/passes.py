"""One LoadGen pass on the device: stage the model, start the detached worker, follow it, fetch its files."""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional

from director.agent_client import AgentClient
from director.errors import DirectorError, TransportError
from director.local import LocalTransport
from director.transport import Transport

log = logging.getLogger(__name__)

# What a pass leaves on the device and the director keeps (LoadGen's names unchanged).
PASS_FILES = (
    "mlperf_log_summary.txt",
    "mlperf_log_detail.txt",
    "mlperf_log_accuracy.json",
    "accuracy.txt",
    "result.json",
    "events.jsonl",
    "telemetry.csv",
    "user.conf",
    "job.json",
    "worker.log",
)


@dataclass
class PassOutcome:
    """How a pass ended on the device: the agent's state, its result.json, and where its files are."""

    name: str
    run_id: str
    state: str
    result: Optional[Dict[str, Any]]
    folder: str
    host_started_ns: int
    host_ended_ns: int

    @property
    def succeeded(self) -> bool:
        """True when LoadGen produced a result (valid or not)."""
        return self.result is not None and self.result.get("status") in ("ok", "invalid")


def file_sha256(path: str) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_model(transport: Transport, model: str, workdir: str) -> str:
    """The model's path on the device: in place for the local device, else copied once by content hash."""
    if not os.path.isfile(model):
        raise DirectorError(f"model not found: {model}")
    if isinstance(transport, LocalTransport):
        return os.path.abspath(model)
    digest = file_sha256(model)[:16]
    folder = transport.expand_home(workdir).rstrip("/") + "/models"
    remote = f"{folder}/{digest}{os.path.splitext(model)[1].lower()}"
    if not transport.exists(remote):
        transport.makedirs(folder)
        tmp = f"{remote}.partial"
        transport.put(model, tmp)
        transport.rename(tmp, remote)
    return remote


def run_pass(
    client: AgentClient,
    name: str,
    job: Mapping[str, Any],
    run_id: str,
    on_event: Callable[[Dict[str, Any]], None],
    now_ns: Callable[[], int],
) -> PassOutcome:
    """Start the pass detached on the device and follow its events to the end (re-attaching after drops)."""
    started = now_ns()
    client.start(job, run_id=run_id)
    status = client.follow(run_id, on_event)
    return PassOutcome(
        name=name,
        run_id=run_id,
        state=status.get("state", "lost"),
        result=status.get("result"),
        folder=posixpath.join(client.transport.expand_home(client.root), run_id),
        host_started_ns=started,
        host_ended_ns=now_ns(),
    )


def fetch_pass_files(transport: Transport, remote_folder: str, local_folder: str) -> List[str]:
    """Copy the pass's files that exist from the device into local_folder; return their names."""
    os.makedirs(local_folder, exist_ok=True)
    fetched = []
    for name in PASS_FILES:
        remote = posixpath.join(remote_folder, name)
        try:
            if not transport.exists(remote):
                continue
            transport.get(remote, os.path.join(local_folder, name))
            fetched.append(name)
        except TransportError as e:
            log.warning("%s: could not fetch %s: %s", transport.name, remote, e)
    return fetched
