"""The agent's message schema, shared with the director: newline-delimited JSON, versioned.

Request:  {"id": <int>, "op": <name>, ...arguments}
Reply:    {"id": <same>, "ok": true, ...fields}  or  {"id": <same>, "ok": false, "error": <one line>}
The agent's own diagnostics go to stderr, never to the reply stream.
"""

from __future__ import annotations

import json
from typing import Any, Dict

PROTOCOL_VERSION = 1

# op -> (arguments, reply fields). The one table both sides read.
OPS: Dict[str, Any] = {
    "hello": ((), ("protocol", "agent_version", "python", "pid")),
    "info": ((), ("info",)),
    "time": ((), ("t_ns", "mono_ns")),
    "start": (("job", "run_id?"), ("run_id", "pid", "out")),
    "status": (("run_id",), ("run_id", "state", "exit_code", "result?")),
    "events": (("run_id", "offset"), ("events", "next_offset")),
    "cancel": (("run_id",), ("run_id", "state")),
}

# Events written to events.jsonl, one JSON object per line with "t_ns" (UTC ns) and "event".
EVENT_STARTED = "started"
EVENT_PHASE = "phase"  # "phase": loading | calibrating | loadgen | accuracy
EVENT_PROGRESS = "progress"
EVENT_FINISHED = "finished"  # "status": ok | invalid
EVENT_FAILED = "failed"  # "reason": one line; "status": failed | cancelled

# States a detached run can be in, as `status` reports them.
STATE_RUNNING = "running"
STATE_FINISHED = "finished"
STATE_FAILED = "failed"
STATE_CANCELLED = "cancelled"
STATE_LOST = "lost"  # the worker died without writing its result

# result.json "status" values.
RESULT_OK = "ok"
RESULT_INVALID = "invalid"
RESULT_FAILED = "failed"
RESULT_CANCELLED = "cancelled"

# result.json "error" of a failed pass: what kind of fault, so the director can tell a fault that a
# retry may cure (failed: a crash, the device) from one that every retry would repeat.
ERROR_MODEL = "model"  # the model is missing, corrupt, or does not fit its inputs
ERROR_MISSING = "missing_dependency"  # a runtime or LoadGen is not installed
ERROR_BAD_INPUT = "bad_input"  # the job, the dataset or a path is wrong
ERROR_LOADGEN = "loadgen"  # LoadGen refused the settings or logged errors
ERROR_FAILED = "failed"  # anything else
ERROR_CANCELLED = "cancelled"


# Keys LoadGen reads from a conf file (test_settings_internal.cc); seeds are deliberately absent:
# LoadGen reads them only from its built-in mlperf.conf.
USER_CONF_KEYS = {
    "min_duration": "ms",
    "max_duration": "ms",
    "min_query_count": "queries",
    "max_query_count": "queries",
    "performance_sample_count_override": "samples",
    "accuracy_sample_count_override": "samples",
    "target_latency": "ms",
    "target_latency_percentile": "percent",
    "target_qps": "queries/s",
    "print_timestamps": "flag",
    "accuracy_log_rng_seed": "seed",
    "accuracy_log_sampling_target": "samples",
    "performance_issue_unique": "flag",
    "performance_issue_same": "flag",
    "performance_issue_same_index": "index",
}


class ProtocolError(ValueError):
    """A line on the agent channel is not a valid message."""


def encode(message: Dict[str, Any]) -> str:
    """One message as a line (with its newline)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n"


def decode(line: str) -> Dict[str, Any]:
    """One line back into a message; raises ProtocolError when it is not a JSON object."""
    try:
        message = json.loads(line)
    except ValueError as e:
        raise ProtocolError(f"not JSON: {line[:80]!r}") from e
    if not isinstance(message, dict):
        raise ProtocolError(f"not a JSON object: {line[:80]!r}")
    return message


def request(request_id: int, op: str, **arguments: Any) -> Dict[str, Any]:
    """A request message."""
    if op not in OPS:
        raise ProtocolError(f"unknown op {op!r}")
    return dict(arguments, id=request_id, op=op)


def ok(request_id: Any, **fields: Any) -> Dict[str, Any]:
    """A successful reply."""
    return dict(fields, id=request_id, ok=True)


def error(request_id: Any, message: str) -> Dict[str, Any]:
    """A failed reply carrying one line."""
    return {"id": request_id, "ok": False, "error": message}
