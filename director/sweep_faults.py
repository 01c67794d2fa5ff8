"""What a fault means to a sweep: retry it (transient) or fail every job that shares its cause (permanent).

One table, so a newcomer can see at a glance why a job was retried or failed at once. A permanent
fault names the jobs it dooms by the columns they share: a corrupt model dooms every job of that
model; a runtime missing on a board, that board's jobs on that runtime; a bad setting, its own job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from agent.protocol import ERROR_BAD_INPUT, ERROR_LOADGEN, ERROR_MISSING, ERROR_MODEL
from devices.errors import DeviceError, UnknownPowerMode
from director.errors import AgentUnavailable, BadInput, DirectorError, PassFailed
from director.sweepspec import SweepJob
from power.errors import PowerError


@dataclass(frozen=True)
class Fault:
    """A fault sorted: permanent ones carry `cause`, the job columns every doomed job shares."""

    reason: str
    permanent: bool
    cause: Optional[Dict[str, str]] = None
    internal: bool = False


def sort_fault(error: BaseException, job: SweepJob) -> Fault:
    """Transient or permanent, and for a permanent one which jobs share its cause. A pool's job (any board
    with a tag) retries what is wrong with one board: the next attempt may run on another."""
    fault = _sorted(error, job)
    if job.tag is not None and fault.cause is not None and "device" in fault.cause:
        return Fault(f"{fault.reason} (one board of pool {job.device}; another may take the retry)", False)
    return fault


def _sorted(error: BaseException, job: SweepJob) -> Fault:
    reason = str(error)
    if isinstance(error, PassFailed):
        if error.kind == ERROR_MODEL:
            return Fault(reason, True, {"model_path": job.model_path})
        if error.kind == ERROR_MISSING:
            return Fault(reason, True, {"device": job.device, "runtime": job.runtime})
        if error.kind in (ERROR_BAD_INPUT, ERROR_LOADGEN):
            return Fault(reason, True, {"key": job.key})
        return Fault(reason, False)  # the worker crashed or vanished: the board, not the job
    if isinstance(error, AgentUnavailable):  # no Python or no agent modules on the board
        return Fault(reason, True, {"device": job.device})
    if isinstance(error, UnknownPowerMode):
        return Fault(reason, True, {"device": job.device, "power_mode": job.power_mode or ""})
    if isinstance(error, BadInput):
        return Fault(reason, True, {"key": job.key})
    if isinstance(error, (DirectorError, DeviceError, PowerError)):
        return Fault(reason, False)  # a link, an analyzer, a board that rebooted, a timeout
    return Fault(f"internal error: {type(error).__name__}: {error}", False, internal=True)


def failing_checks(run: Mapping[str, Any]) -> str:
    """'name: reason; ...' of a run's failed checks."""
    return "; ".join(f"{c['name']}: {c['reason']}" for c in run.get("checks") or [] if c.get("status") == "fail")
