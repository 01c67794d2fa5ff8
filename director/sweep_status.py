"""Where a sweep stands, read from the store alone: counts by state, ETA, each device's current job.

`director sweep status` prints it from any process; the live view of an attached `sweep run` draws
the same table with the latest watts of each device's running session.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence

from director.store import Store, SweepRow
from director.sweepspec import SweepJob, SweepSpec, job_estimate_s


DISPLAY_ORDER = ("done", "running", "pending", "failed", "invalid", "cancelled")


@dataclass(frozen=True)
class DeviceLine:
    """One device (or pool) of a sweep: a running job (if any) with its phase, the board running it and the
    worker holding its lease, and what the device has left; live_w when a runner in this process knows it."""

    device: str
    key: Optional[str]
    attempt: int
    phase: str
    elapsed_s: float
    left: int
    left_s: float
    board: Optional[str] = None
    owner: Optional[str] = None
    live_w: Optional[float] = None


@dataclass(frozen=True)
class SweepStatus:
    """A sweep's state, job counts by state, ETA (s, the slowest device) and device lines."""

    sweep: SweepRow
    counts: Dict[str, int]
    eta_s: float
    devices: List[DeviceLine]
    problems: List[Dict[str, Any]]
    places: List[str]  # where the run folders are: "FOLDER", or "FOLDER on BENCH@HOST" for a worker's

    def to_json(self) -> Dict[str, Any]:
        """As JSON, for `sweep status --json`."""
        return {
            "sweep_id": self.sweep.sweep_id, "name": self.sweep.name, "state": self.sweep.state,
            "note": self.sweep.note, "results": self.sweep.results, "places": self.places, "counts": self.counts,
            "eta_s": self.eta_s,
            "devices": [line.__dict__ for line in self.devices], "problems": self.problems,
        }


def sweep_status(store: Store, sweep_ref: str) -> SweepStatus:
    """The status of one sweep (by id, id prefix or name)."""
    sweep = store.sweep(sweep_ref)
    spec = SweepSpec.from_json(sweep.spec)
    jobs = store.jobs(sweep.sweep_id)
    now = time.time_ns()
    lines = []
    for device in sorted({j.device for j in jobs}):
        mine = [j for j in jobs if j.device == device]
        running = [j for j in mine if j.state == "running"]
        pending = [j for j in mine if j.state == "pending"]
        elapsed = {j.key: max(0.0, (now - (j.attempt_started_ns or now)) / 1e9) for j in running}
        left_s = sum(job_estimate_s(spec, SweepJob.from_json(j.job)) for j in pending) + sum(
            max(0.0, job_estimate_s(spec, SweepJob.from_json(j.job)) - elapsed[j.key]) for j in running)
        left_s /= max(1, len(running))  # a pool runs on as many boards at once as it has running jobs
        left = len(pending) + len(running)
        lines += [DeviceLine(device, j.key, j.attempts, j.phase or "starting", elapsed[j.key], left, left_s, j.board,
                             j.lease_owner) for j in running]
        if not running:
            lines.append(DeviceLine(device, None, 0, "done" if not pending else "waiting", 0.0, left, left_s))
    problems = [{"key": j.key, "state": j.state, "attempts": j.attempts, "reason": j.reason}
                for j in jobs if j.state in ("failed", "invalid") or (j.state == "pending" and j.reason)]
    eta_s = max((line.left_s for line in lines), default=0.0)
    return SweepStatus(sweep, store.counts(sweep.sweep_id), eta_s, lines, problems, _places(store, sweep))


def _places(store: Store, sweep: SweepRow) -> List[str]:
    """The folders holding the sweep's runs: its own results folder, and each bench host's (named by its
    workers' owner, "bench@host"), in the order they were first used."""
    places = {}  # type: Dict[str, None]
    for attempt in store.attempts(sweep.sweep_id):
        if not attempt["folder"]:
            continue
        folder, owner = os.path.dirname(attempt["folder"]), str(attempt["owner"] or "")
        places[folder if "@" not in owner else f"{folder} on {owner.rsplit(':', 1)[0]}"] = None
    return list(places) or [sweep.results]


def clock(seconds: Optional[float]) -> str:
    """h:mm:ss."""
    if seconds is None:
        return "-:--:--"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def counts_line(counts: Mapping[str, int]) -> str:
    """'12 jobs: 3 done, 1 running, 8 pending' (zero states left out)."""
    total = sum(counts.values())
    parts = [f"{counts[state]} {state}" for state in DISPLAY_ORDER if counts.get(state)]
    return f"{total} jobs: {', '.join(parts) or 'none'}"


def format_status(status: SweepStatus) -> str:
    """What `director sweep status` prints."""
    sweep = status.sweep
    note = f" ({sweep.note})" if sweep.note else ""
    out = [f"sweep {sweep.sweep_id}: {sweep.state}{note}",
           f"  {counts_line(status.counts)}; eta {clock(status.eta_s)}{_eta_note(sweep.state)}",
           f"  results in {'; '.join(status.places)}"]
    out += [device_line(line) for line in status.devices]
    for problem in status.problems[:20]:
        out.append(f"  {problem['state']}: {problem['key']} after {problem['attempts']} attempt(s): {problem['reason']}")
    if len(status.problems) > 20:
        out.append(f"  ... {len(status.problems) - 20} more")
    return "\n".join(out)


def _eta_note(state: str) -> str:
    return {"paused": " once resumed", "stopped": " once resumed", "cancelled": " (cancelled)"}.get(state, "")


def holder(line: DeviceLine) -> str:
    """' on BOARD' for a pool's job, ' by OWNER' for a job a bench host's worker holds ('' for neither)."""
    where = f" on {line.board}" if line.board and line.board != line.device else ""
    return where + (f" by {line.owner}" if line.owner and "@" in line.owner else "")


def with_live(lines: Sequence[DeviceLine], latest: Mapping[str, Any]) -> List[DeviceLine]:
    """The lines with live_w from a runner's latest status per board (director.sweep.DeviceStatus), where it is
    about the line's job."""
    out = []
    for line in lines:
        running = latest.get(line.board or line.device)  # the runner reports by board (a pool's job has one)
        out.append(replace(line, live_w=running.live_w) if running and running.key == line.key else line)
    return out


def device_line(line: DeviceLine) -> str:
    """'  board1  run_1  0:01:02  board1/tiny/...  (attempt 1; 3 left, 0:04:00)', with ' on BOARD' for a pool's
    job and ' by OWNER' for a job another process holds (a bench host's worker)."""
    watts = f" {line.live_w:7.3f} W" if line.live_w is not None else ""
    if line.key:
        return (f"  {line.device:<12} {line.phase:<11} {clock(line.elapsed_s)}{watts}  {line.key} "
                f"(attempt {line.attempt}{holder(line)}; {line.left} left, {clock(line.left_s)})")
    return f"  {line.device:<12} {line.phase:<11} {line.left} left"


def rows_for_report(store: Store, sweep_ref: str) -> Sequence[Dict[str, Any]]:
    """The report's rows: each job with its state, reason, attempts and its run, read from the store (the
    row's report record, so no file access is needed; run.json for rows stored before it had one), with
    the host and folder holding the run's files."""
    from director.sweep_recovery import read_run

    sweep = store.sweep(sweep_ref)
    jobs = store.jobs(sweep.sweep_id)
    runs = {row.run_id: row for row in store.runs_of([j.run_id for j in jobs if j.run_id])}
    rows = []
    for job in jobs:
        row = runs.get(job.run_id or "") if job.state in ("done", "invalid") else None
        run = row.get("report") if row is not None else None
        if run is None and job.state in ("done", "invalid"):
            run = read_run(job.folder)
        rows.append({"job": job.job, "state": job.state, "reason": job.reason, "attempts": job.attempts,
                     "run": run, "folder": job.folder if run is not None else None,
                     "host": row.host if row is not None else None})
    return rows
