"""Sweeps for a front end: the queue and its jobs, a runner in a thread, and the steering `director sweep` does.

Pause, cancel and retry-failed change the store only (as `director sweep pause|cancel|retry-failed`
from another terminal does), so they reach a sweep run by this process or by another director.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from devices.errors import DeviceError
from devices.inventory import load_inventory
from devices.profiles import profile_for
from director.errors import DirectorError
from director.lab_results import utc_text
from director.ssh import transport_for
from director.store import Store
from director.sweep import DeviceStatus, SweepLocked, SweepRunner, queue_sweep
from director.sweep_status import DeviceLine, clock, counts_line, sweep_status, with_live
from director.sweepspec import SweepSpec, check_power_modes, load_sweep_spec
from power.errors import PowerError

log = logging.getLogger(__name__)

FAULTS = (DirectorError, DeviceError, PowerError)


@dataclass(frozen=True)
class SweepLine:
    """One sweep of the queue: id, name, state (and why), its jobs counted, when it was queued (UTC)."""

    sweep_id: str
    name: str
    state: str
    note: str
    counts: str
    created: str


@dataclass(frozen=True)
class SweepListing:
    """Every sweep, newest first, or why they could not be read."""

    rows: Tuple[SweepLine, ...]
    error: str = ""


@dataclass(frozen=True)
class JobLine:
    """One job: its place, key, device, state, attempts so far, the running attempt's phase, the last reason."""

    seq: int
    key: str
    device: str
    state: str
    attempts: int
    max_attempts: int
    phase: str
    reason: str


@dataclass(frozen=True)
class SweepDetail:
    """A sweep's status: state, counts, ETA (s and h:mm:ss), each device's job, every job; attached when a
    runner of this process works on it, with the runner's error if it stopped on one."""

    sweep_id: str
    name: str
    state: str
    note: str
    results: str
    counts: str
    eta_s: float
    eta: str
    devices: Tuple[DeviceLine, ...]
    jobs: Tuple[JobLine, ...]
    attached: bool = False
    runner_error: str = ""
    error: str = ""


@dataclass(frozen=True)
class SweepAction:
    """What a steering action did, in one line."""

    sweep_id: str
    ok: bool
    message: str


def list_sweeps(store: Optional[Store]) -> SweepListing:
    """Every sweep with its counts."""
    if store is None:
        return SweepListing((), "no results database yet: start a sweep from a spec file")
    try:
        return SweepListing(tuple(
            SweepLine(s.sweep_id, s.name, s.state, s.note, counts_line(store.counts(s.sweep_id)), utc_text(s.created_ns))
            for s in store.sweeps()))
    except DirectorError as e:
        return SweepListing((), str(e))


def sweep_detail(store: Optional[Store], ref: str, handle: Optional["SweepHandle"] = None) -> SweepDetail:
    """Where a sweep stands (director.sweep_status) with the live W of the devices a runner here is measuring."""
    try:
        if store is None:
            raise DirectorError("no results database yet")
        status = sweep_status(store, ref)
        jobs = store.jobs(status.sweep.sweep_id)
    except DirectorError as e:
        return SweepDetail(ref, "", "", "", "", "", 0.0, clock(None), (), (), error=str(e))
    live = handle.latest() if handle is not None and handle.sweep_id == status.sweep.sweep_id else {}
    devices = with_live(status.devices, live)
    lines = tuple(JobLine(j.seq, j.key, j.device, j.state, j.attempts, j.max_attempts,
                          (j.phase or "") if j.state == "running" else "", j.reason or "") for j in jobs)
    sweep = status.sweep
    attached = handle is not None and handle.sweep_id == sweep.sweep_id and not handle.done
    return SweepDetail(sweep.sweep_id, sweep.name, sweep.state, sweep.note, sweep.results, counts_line(status.counts),
                       status.eta_s, clock(status.eta_s), tuple(devices), lines, attached,
                       handle.error if handle is not None and handle.sweep_id == sweep.sweep_id else "")


def pause_sweep(store: Store, ref: str) -> SweepAction:
    """Running jobs finish; no new job starts (`director sweep pause`)."""
    try:
        sweep = store.sweep(ref)
        if sweep.state in ("finished", "cancelled"):
            return SweepAction(sweep.sweep_id, False, f"sweep {sweep.sweep_id} is {sweep.state}: nothing to pause")
        store.set_sweep_state(sweep.sweep_id, "paused", "paused by the user")
    except DirectorError as e:
        return SweepAction(ref, False, str(e))
    return SweepAction(sweep.sweep_id, True, f"sweep {sweep.sweep_id} paused: running jobs finish, no new job starts")


def cancel_sweep(store: Store, ref: str) -> SweepAction:
    """Pending jobs cancelled; running ones stop, on the board too (`director sweep cancel`)."""
    try:
        sweep = store.sweep(ref)
        store.set_sweep_state(sweep.sweep_id, "cancelled", "cancelled by the user")
        cancelled = store.cancel_pending(sweep.sweep_id)
    except DirectorError as e:
        return SweepAction(ref, False, str(e))
    return SweepAction(sweep.sweep_id, True, f"sweep {sweep.sweep_id} cancelled: {cancelled} pending jobs cancelled, "
                                             "running jobs stop")


def retry_failed(store: Store, ref: str) -> SweepAction:
    """Failed jobs back in the queue with fresh attempts (`director sweep retry-failed`); resume runs them."""
    try:
        sweep = store.sweep(ref)
        count = store.retry_failed(sweep.sweep_id, SweepSpec.from_json(sweep.spec).max_attempts)
        if sweep.state in ("stopped", "finished"):
            store.set_sweep_state(sweep.sweep_id, "active")
    except DirectorError as e:
        return SweepAction(ref, False, str(e))
    return SweepAction(sweep.sweep_id, True, f"sweep {sweep.sweep_id}: {count} failed jobs back in the queue")


def board_modes(spec: SweepSpec, inventory: Optional[str], known_hosts: Optional[str]) -> Dict[str, List[str]]:
    """The power modes each board asked for one offers (its own names and the inventory's aliases)."""
    found = load_inventory(inventory)
    modes: Dict[str, List[str]] = {}
    # A pool's boards (tag) are many and maybe on other hosts: each job's session checks its mode there.
    for name in sorted({job.device for job in spec.jobs if job.power_mode and job.tag is None}):
        device = found.get(name)
        with transport_for(device, known_hosts=known_hosts) as transport:
            modes[name] = [m.name for m in profile_for(device, transport).power_modes()] + list(device.power_modes)
    return modes


def queue_from_spec(store: Store, spec_path: str, results: str, inventory: Optional[str] = None,
                    known_hosts: Optional[str] = None) -> SweepAction:
    """Check a sweep spec (keys, devices, models, the boards' power modes) and queue its jobs, pending."""
    try:
        spec = load_sweep_spec(os.path.expanduser(spec_path), load_inventory(inventory))
        check_power_modes(spec, board_modes(spec, inventory, known_hosts))
        sweep_id = queue_sweep(store, spec, results)
    except FAULTS as e:
        return SweepAction("", False, str(e))
    return SweepAction(sweep_id, True, f"sweep {sweep_id}: {len(spec.jobs)} jobs queued")


def resume_sweep(store: Store, ref: str) -> SweepAction:
    """Make a paused sweep active again (a runner then takes its jobs)."""
    try:
        sweep = store.sweep(ref)
        if sweep.state == "cancelled":
            return SweepAction(sweep.sweep_id, False, f"sweep {sweep.sweep_id} was cancelled; it cannot be resumed")
        if sweep.state == "paused":
            store.set_sweep_state(sweep.sweep_id, "active")
    except DirectorError as e:
        return SweepAction(ref, False, str(e))
    return SweepAction(sweep.sweep_id, True, f"sweep {sweep.sweep_id} resumed")


class SweepHandle:
    """A SweepRunner working in a thread of its own, with each device's latest status for a live view."""

    def __init__(self, store: Store, sweep_id: str, inventory: Optional[str] = None,
                 known_hosts: Optional[str] = None) -> None:
        self.store = store
        self.sweep_id = sweep_id
        self.inventory = inventory
        self.known_hosts = known_hosts
        self.error = ""
        self.counts: Optional[Mapping[str, int]] = None
        self._latest: Dict[str, DeviceStatus] = {}
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._runner: Optional[SweepRunner] = None
        self._thread = threading.Thread(target=self._run, name=f"sweep-{sweep_id}", daemon=True)

    @property
    def done(self) -> bool:
        """True once the runner has stopped (finished, paused with nothing running, cancelled, failed)."""
        return self._done.is_set()

    def start(self) -> "SweepHandle":
        """Start the runner; returns at once."""
        self._thread.start()
        return self

    def wait(self, timeout_s: Optional[float] = None) -> bool:
        """Wait for the runner to stop; False on time-out."""
        return self._done.wait(timeout_s)

    def latest(self) -> Dict[str, DeviceStatus]:
        """Each device's latest status (phase, live W) from the runner."""
        with self._lock:
            return dict(self._latest)

    def interrupt(self, reason: str = "stopped from the lab") -> None:
        """Stop now: running sessions are cancelled and their jobs go back to the queue (resume goes on)."""
        if self._runner is not None:
            self._runner.interrupt(reason)

    def _on_status(self, status: DeviceStatus) -> None:
        with self._lock:
            self._latest[status.device] = status

    def _run(self) -> None:
        handler: Optional[logging.Handler] = None
        root = logging.getLogger()
        level = root.level
        try:
            self._runner = SweepRunner(self.store, self.sweep_id, inventory=self.inventory,
                                       known_hosts=self.known_hosts, on_status=self._on_status)
            os.makedirs(self._runner.row.results, exist_ok=True)
            handler = logging.FileHandler(os.path.join(self._runner.row.results, "sweep.log"), encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
            handler.setLevel(logging.INFO)
            root.addHandler(handler)
            root.setLevel(min(level, logging.INFO))
            self.counts = self._runner.run()
        except SweepLocked as e:
            self.error = f"{e}; it goes on there"
        except FAULTS as e:
            self.error = str(e)
        except Exception as e:  # a bug in the runner must not take the screen down with it
            log.exception("sweep %s", self.sweep_id)
            self.error = f"internal error: {type(e).__name__}: {e}"
        finally:
            if handler is not None:
                root.removeHandler(handler)
                root.setLevel(level)
                handler.close()
            self._done.set()
