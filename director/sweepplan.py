"""The run order of a sweep's jobs, how long each should take, and the plan `director sweep plan` prints."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

from director.runspec import RunSpec

if TYPE_CHECKING:  # pragma: no cover
    from director.sweepspec import SweepJob, SweepSpec

T = TypeVar("T")
POWER_MODE_CHANGE_S = 60.0
"""Assumed for a power-mode change between two jobs of a device (a reboot may be needed)."""
PLAN_ALL_MAX = 200
PLAN_HEAD = 100
PLAN_TAIL = 20
KEY_WIDTH_MAX = 64


def order_cases(
    cases: Sequence[T], mode_of: Callable[[T], Optional[str]], repeats: int, order: str
) -> List[Tuple[T, int]]:
    """One device's (case, repeat) pairs in run order, modes in order of first appearance.

    interleaved: repeat by repeat, within a repeat mode by mode, the cases of a mode rotated by one
    position per repeat; grouped: mode by mode, case by case, a case's repeats back to back.
    """
    modes: List[Optional[str]] = []
    for case in cases:
        if mode_of(case) not in modes:
            modes.append(mode_of(case))
    by_mode = [[case for case in cases if mode_of(case) == mode] for mode in modes]
    if order == "grouped":
        return [(case, r) for group in by_mode for case in group for r in range(1, repeats + 1)]
    ordered: List[Tuple[T, int]] = []
    for r in range(1, repeats + 1):
        for group in by_mode:
            shift = (r - 1) % len(group)
            ordered.extend((case, r) for case in group[shift:] + group[:shift])
    return ordered


def interleave(per_device: Sequence[Sequence[T]]) -> List[T]:
    """Job i of every device before job i+1 (devices in the given order)."""
    longest = max((len(jobs) for jobs in per_device), default=0)
    return [jobs[i] for i in range(longest) for jobs in per_device if i < len(jobs)]


def session_s(job: SweepJob) -> float:
    """The measured session's own length (RunSpec.expected_s without its settle and idle phases)."""
    spec = RunSpec(device=job.device, model=job.model_path, scenario=job.scenario, runtime=job.runtime,
                   threads=job.threads, power_mode=job.power_mode, **job.run)
    return spec.expected_s() - spec.settle_s - spec.idle_s


def estimates_s(spec: SweepSpec) -> Dict[str, Tuple[float, bool]]:
    """Each job's key -> (estimated seconds, whether a power-mode change is counted), in run order."""
    memo = getattr(spec, "_memo", None)
    if memo is not None and "estimates" in memo:
        return memo["estimates"]
    seen_devices = set()
    last_mode: Dict[str, str] = {}
    idled = set()
    out: Dict[str, Tuple[float, bool]] = {}
    for job in spec.jobs:
        first = job.device not in seen_devices
        change = (not first and job.power_mode is not None
                  and job.power_mode != last_mode.get(job.device, job.power_mode))
        idle = spec.idle.policy == "every_job" or (job.device, job.power_mode) not in idled
        seconds = spec.cooldown.seconds + (spec.idle.seconds if idle else 0.0) + session_s(job)
        out[job.key] = (seconds + (POWER_MODE_CHANGE_S if change else 0.0), change)
        seen_devices.add(job.device)
        idled.add((job.device, job.power_mode))
        if job.power_mode is not None:
            last_mode[job.device] = job.power_mode
    if memo is not None:
        memo["estimates"] = out  # a spec is frozen, so its estimates never change; the runner asks per job
    return out


def job_estimate_s(spec: SweepSpec, job: SweepJob) -> float:
    """Seconds JOB should take where it stands in the sweep: cool-down, idle, session, mode change."""
    known = estimates_s(spec).get(job.key)
    if known is not None:
        return known[0]
    return spec.cooldown.seconds + spec.idle.seconds + session_s(job)


def device_totals_s(spec: SweepSpec) -> Dict[str, float]:
    """Each device's total estimated seconds, devices in order of their first job."""
    estimates = estimates_s(spec)
    totals: Dict[str, float] = {}
    for job in spec.jobs:
        totals[job.device] = totals.get(job.device, 0.0) + estimates[job.key][0]
    return totals


def sweep_estimate_s(spec: SweepSpec) -> float:
    """The whole sweep: the slowest device's total (each device has its own worker)."""
    return max(device_totals_s(spec).values(), default=0.0)


def hms(seconds: float) -> str:
    """3725.4 -> '1:02:05'."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def utc_text(instant_ns: int) -> str:
    """UTC ns -> '2026-11-23T07:00:00Z'."""
    return datetime.fromtimestamp(instant_ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _header(spec: SweepSpec, estimates: Dict[str, Tuple[float, bool]]) -> List[str]:
    totals = device_totals_s(spec)
    counts: Dict[str, int] = {}
    for job in spec.jobs:
        counts[job.device] = counts.get(job.device, 0) + 1
    total_s = max(totals.values(), default=0.0)
    slowest = max(totals, key=lambda d: totals[d]) if totals else "-"
    repeats = max((job.repeat for job in spec.jobs), default=0)
    changes = sum(1 for _, change in estimates.values() if change)
    budget = "none"
    if spec.budget_s is not None:
        budget = hms(spec.budget_s) + (" (shorter than the estimate: later jobs will not start)"
                                       if spec.budget_s < total_s else "")
    stops = []
    if spec.stop_after_failures is not None:
        stops.append(f"after {spec.stop_after_failures} failed jobs")
    if spec.stop_at_ns is not None:
        stops.append(f"no new job after {utc_text(spec.stop_at_ns)}")
    cool = f"{spec.cooldown.seconds:g} s before each job"
    if spec.cooldown.max_temp_c is not None:
        cool += (f", then until <= {spec.cooldown.max_temp_c:g} C (up to {spec.cooldown.timeout_s:g} s; "
                 "that wait is unknown, not in the estimate)")
    idle = (f"{spec.idle.seconds:g} s baseline before every job" if spec.idle.policy == "every_job"
            else f"{spec.idle.seconds:g} s baseline once per device and power mode")
    lines = [
        f"sweep      {spec.name}",
        f"file       {spec.path}",
        f"jobs       {_count(len(spec.jobs), 'job')} on {_count(len(counts), 'device')}: "
        + ", ".join(f"{device} ({n})" for device, n in counts.items()),
        f"estimate   {hms(total_s)} (slowest device {slowest}; devices run in parallel)",
        f"order      {spec.order}, {_count(repeats, 'repeat')}",
        f"budget     {budget}",
        f"stop       {'; '.join(stops) or 'none'}",
        f"cool-down  {cool}",
        f"idle       {idle}",
        f"attempts   {spec.max_attempts} per job; watchdog "
        + (f"{spec.job_timeout_s:g} s per job" if spec.job_timeout_s is not None else "runner default"),
        f"results    {spec.results or 'runner default'}",
    ]
    if changes:
        lines.append(f"modes      {_count(changes, 'power-mode change')}, "
                     f"{POWER_MODE_CHANGE_S:g} s assumed each (a reboot may be needed: real time unknown)")
    return lines


def format_plan(spec: SweepSpec) -> str:
    """What `director sweep plan SPEC` prints: a header, then one line per job in run order."""
    estimates = estimates_s(spec)
    width = min(max((len(job.key) for job in spec.jobs), default=3), KEY_WIDTH_MAX)
    lines = _header(spec, estimates) + ["", f"{'#':>5}  {'job':<{width}}  {'est.':>8}"]

    def row(index: int, job: SweepJob) -> str:
        seconds, change = estimates[job.key]
        note = "  (mode change)" if change else ""
        return f"{index:>5}  {job.key:<{width}}  {seconds:>6.0f} s{note}"

    jobs = list(enumerate(spec.jobs, 1))
    if len(jobs) > PLAN_ALL_MAX:
        hidden = len(jobs) - PLAN_HEAD - PLAN_TAIL
        lines += [row(i, job) for i, job in jobs[:PLAN_HEAD]]
        lines.append(f"{'':>5}  ... {hidden} more ...")
        lines += [row(i, job) for i, job in jobs[-PLAN_TAIL:]]
    else:
        lines += [row(i, job) for i, job in jobs]
    return "\n".join(lines) + "\n"
