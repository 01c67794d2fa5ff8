"""Running a sweep unattended: one worker per device, the jobs from the durable queue, faults sorted out.

Each job is one measured Session. A transient fault (a dropped link, an analyzer that went away, a
board that rebooted, a worker lost on the device, a watchdog) puts the job back with a back-off; a
permanent one (a corrupt model, a missing runtime, a wrong setting) fails at once every pending job
that shares its cause, so a bad model costs one attempt, not one per job. Devices run in parallel;
an analyzer is never read by two running jobs. The queue lives in the store, so a director killed
at any point resumes where it stopped: a job it was running is adopted when its run finished, else
retried, and what it had measured stays in its folder.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from devices.inventory import Inventory, load_inventory
from director.errors import Cancelled, DirectorError
from director.gcquiet import quiet_gc
from director.lease import Heartbeat
from director.resultdir import summary_row
from director.run_recovery import recover_run
from director.runspec import RunSpec
from director.session import Progress, Session
from director.store import LEASE_S, Claim, JobRow, Store
from director.sweep_faults import failing_checks, sort_fault
from director.sweep_kept import KeptOpen
from director.sweep_recovery import boot_id, cancel_leftover, read_run
from director.sweepspec import SweepJob, SweepSpec, job_estimate_s
from power.simulators.bound import is_sim_url

log = logging.getLogger(__name__)

BACKOFF_S = (10.0, 30.0, 90.0, 300.0)  # wait before the 2nd, 3rd, ... attempt after a transient fault
PAUSE_POLL_S = 1.0
STATE_POLL_S = 2.0  # how often a running job looks whether its sweep was cancelled
WATCHDOG_FLOOR_S = 300.0  # a job may take its estimate × 3 plus this before the watchdog cancels it
ADOPTABLE = ("ok", "invalid", "checks_failed")
SHORT_RUN = ("Min duration satisfied: NO", "Min queries satisfied: NO")  # LoadGen's words for a run too short


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: the attempt's outcome, the job's next state, why, and the run (if any)."""

    outcome: str  # done | invalid | checks_failed | transient | permanent | cancelled
    state: str  # the job's next state: done | invalid | failed | pending | cancelled
    reason: Optional[str] = None
    run: Optional[Dict[str, Any]] = None
    cause: Optional[Dict[str, str]] = None  # for a permanent fault: which other jobs share it


@dataclass(frozen=True)
class DeviceStatus:
    """What one device's worker is doing, for a live view."""

    device: str
    key: Optional[str]
    attempt: int
    phase: str
    elapsed_s: float
    live_w: Optional[float]
    detail: str = ""


class SweepLocked(DirectorError):
    """Another director is already running this sweep."""


class SweepRunner:
    """Runs (or resumes) one sweep of the store to the end, a pause, a cancel or a stop condition.

    It serves the boards given (default: every board the sweep names, and the inventory's boards carrying
    the tags of its pools), one worker thread each. A bench host's `director worker` gives its own boards
    and bench name, its own results folder, and shares the store with the other hosts.
    """

    def __init__(self, store: Store, sweep_id: str, inventory: Optional[str] = None,
                 known_hosts: Optional[str] = None, on_status: Optional[Callable[[DeviceStatus], None]] = None,
                 boards: Optional[Sequence[str]] = None, bench: Optional[str] = None, results: Optional[str] = None,
                 lease_s: float = LEASE_S) -> None:
        self.store = store
        self.row = store.sweep(sweep_id)
        self.sweep_id = self.row.sweep_id
        self.spec = SweepSpec.from_json(self.row.spec)
        self.inventory_path = inventory
        self.known_hosts = known_hosts
        self.on_status = on_status or (lambda status: None)
        self.boards = list(boards) if boards is not None else None
        self.bench = bench
        self.results = results or self.row.results
        self.lease_s = lease_s
        # "bench@host:pid"; what precedes the pid names this host's workers (see _abandoned)
        self.owner = f"{bench + '@' if bench else ''}{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._sessions: Dict[str, Session] = {}
        self._analyzer_locks: Dict[str, threading.Lock] = {}
        self._idle: Dict[Tuple[str, Optional[str]], Tuple[float, str]] = {}
        self._boot_ids: Dict[str, str] = {}
        self._phases: Dict[str, Tuple[str, str]] = {}
        self._kept = KeptOpen(inventory, known_hosts)
        self._state_read: Dict[str, float] = {}
        self._guard = threading.Lock()
        self._lock_file: Optional[int] = None
        self.stop_reason: Optional[str] = None
        self._condition: Optional[str] = None  # the stop condition met, if one was

    # -- the whole sweep --------------------------------------------------------------------------
    def run(self) -> Dict[str, int]:
        """Work until no device has anything left it may start; the counts by state."""
        self._take_lock()
        quiet_gc()
        try:
            inventory = load_inventory(self.inventory_path)
            for job in self.store.running(self.sweep_id):
                if self._abandoned(job):
                    self._recover(job)
            self._seed_idle()
            if self.row.state in ("stopped", "finished"):
                self.store.set_sweep_state(self.sweep_id, "active")
            self.started_ns = self.store.mark_started(self.sweep_id)
            boards = self._served(inventory)
            for board in boards:
                binding = inventory.get(board).analyzer
                if binding is not None and not is_sim_url(binding.url):
                    self._analyzer_locks.setdefault(binding.name, threading.Lock())
            workers = [threading.Thread(target=self._worker, args=(b, tuple(inventory.get(b).tags)),
                                        name=f"sweep-{b}", daemon=True) for b in boards]
            for worker in workers:
                worker.start()
            try:
                while any(w.is_alive() for w in workers):
                    for worker in workers:
                        worker.join(0.5)
            except KeyboardInterrupt:
                self.interrupt("interrupted")
                for worker in workers:
                    worker.join()
                raise
            self._conclude()
            return self.store.counts(self.sweep_id)
        finally:
            self._kept.close()
            self._release_lock()

    def _served(self, inventory: Inventory) -> List[str]:
        """The boards this runner serves (see the class)."""
        if self.boards is not None:
            return self.boards
        jobs = self.store.jobs(self.sweep_id)
        named = {j.device for j in jobs if j.tag is None}
        pools = {j.tag for j in jobs if j.tag is not None}
        return sorted(named | {board.name for board in inventory.listed() if pools & set(board.tags)})

    def interrupt(self, reason: str) -> None:
        """Stop now: running sessions are cancelled (their jobs go back to pending) and no job starts."""
        self.stop_reason = reason
        self._stop.set()
        for session in list(self._sessions.values()):
            session.cancel(reason)

    def _conclude(self) -> None:
        counts = self.store.counts(self.sweep_id)
        state = self.store.sweep(self.sweep_id).state
        if state in ("cancelled", "paused"):
            return
        if counts["pending"] == 0 and counts["running"] == 0:
            self.store.set_sweep_state(self.sweep_id, "finished")
        elif self._condition or (self.stop_reason and self.boards is None):
            # A bench host's worker stopping (or losing the store) says nothing about the sweep the other
            # hosts go on with; a stop condition (budget, stop_at, failures) holds for all of them.
            self.store.set_sweep_state(self.sweep_id, "stopped", self._condition or self.stop_reason or "")

    def _take_lock(self) -> None:
        # flock: released by the kernel when this process dies, however it dies, so resume never waits on a ghost.
        path = os.path.join(self.results, ".sweep.lock")
        os.makedirs(self.results, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SweepLocked(f"sweep {self.sweep_id} is already being run by another director on this host") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.owner}\n".encode())
        self._lock_file = fd

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    # -- recovery after a crash -------------------------------------------------------------------
    def _abandoned(self, job: JobRow) -> bool:
        """Whether a running job was left by a dead worker of this host and bench (the sweep's lock, held now,
        says that worker is gone), or has no lease at all. Another host's job is left to its lease: once
        that runs out, claim() takes the job over and counts the attempt."""
        here = (job.lease_owner or "").rsplit(":", 1)[0] == self.owner.rsplit(":", 1)[0]
        return here or job.lease_expires_ns is None

    def _recover(self, job: JobRow) -> None:
        """A job left running by a director that died: adopt its run if it finished, else retry it."""
        run = read_run(job.folder)
        if run is not None and run.get("status") in ADOPTABLE:
            claim = Claim(self.sweep_id, job.key, job.attempts, job.job, board=job.board or "")
            outcome = self._from_record(SweepJob.from_json(job.job), run, claim)
            self.store.finish(claim, outcome.outcome, outcome.state, outcome.reason,
                              run=summary_row(run), not_before_ns=0)
            log.info("%s: adopted run %s finished before the director stopped", job.key, run.get("run_id"))
            return
        if run is not None and run.get("status") == "running":  # its passes cancelled, its spl.txt written, its record closed
            log.info("%s: %s", job.key, recover_run(str(job.folder), self.inventory_path, self.known_hosts))
        else:
            cancel_leftover(job, self.inventory_path, self.known_hosts)
        self.store.interrupted(job, "the director stopped during this attempt; its data stays in "
                                    f"{job.folder or 'no folder yet'}")
        log.info("%s: interrupted attempt %d goes back to the queue", job.key, job.attempts)

    def _seed_idle(self) -> None:
        """Idle baselines already measured by this sweep, for the once_per_mode policy after a resume."""
        for job in self.store.jobs(self.sweep_id):
            run = read_run(job.folder) if job.state in ("done", "invalid") else None  # None: another host's folder
            idle = (run or {}).get("idle") or {}
            if idle.get("average_w") is not None and not idle.get("reused_from"):
                board = (run.get("device") or {}).get("name") or job.device
                self._idle.setdefault((board, job.job.get("power_mode")), (idle["average_w"], run["run_id"]))

    # -- one device -------------------------------------------------------------------------------
    def _worker(self, device: str, tags: Tuple[str, ...]) -> None:
        try:
            while not self._stop.is_set():
                state = self.store.sweep(self.sweep_id).state
                if state == "cancelled":
                    return
                if state == "paused":
                    self._status(device, None, 0, "paused")
                    self._stop.wait(PAUSE_POLL_S)
                    continue
                reason = self._stop_condition()
                if reason:
                    self.stop_reason = self._condition = reason
                    return
                claim = self.store.claim(self.sweep_id, device, self.owner, self.lease_s, self.bench, tags)
                if claim is None:
                    wake = self.store.next_wake_ns(self.sweep_id, device, self.bench, tags)
                    if wake is None:
                        return
                    self._status(device, None, 0, "back-off", f"next try in {max(0, wake - time.time_ns()) / 1e9:.0f} s")
                    self._stop.wait(min(PAUSE_POLL_S, max(0.05, (wake - time.time_ns()) / 1e9)))
                    continue
                self._attempt(device, claim)
            self._status(device, None, 0, "stopped", self.stop_reason or "")
        except DirectorError as e:  # the store itself failed: nothing more can be recorded
            log.error("%s: worker stopped: %s", device, e)
            self.stop_reason = str(e)
        finally:
            self._kept.release(device)
            self._status(device, None, 0, "idle")

    def _stop_condition(self) -> Optional[str]:
        spec, now = self.spec, time.time_ns()
        if spec.budget_s is not None and now >= self.started_ns + spec.budget_s * 1e9:
            return f"time budget of {spec.budget_s / 3600:g} h used up"
        if spec.stop_at_ns is not None and now >= spec.stop_at_ns:
            return "stop_at reached"
        if spec.stop_after_failures is not None:
            failed = self.store.counts(self.sweep_id)["failed"]
            if failed >= spec.stop_after_failures:
                return f"{failed} jobs failed (stop_after_failures = {spec.stop_after_failures})"
        return None

    def _attempt(self, device: str, claim: Claim) -> None:
        job = SweepJob.from_json(claim.job)
        session = Session(self._runspec(job, device), on_progress=lambda p: self._on_progress(device, claim, p))
        self.store.attach_run(claim, session.run_id, session.folder)
        timeout_s = self.spec.job_timeout_s or 3 * job_estimate_s(self.spec, job) + WATCHDOG_FLOOR_S
        watchdog = threading.Timer(timeout_s, session.cancel, args=(f"watchdog: the job ran past {timeout_s:.0f} s",))
        watchdog.daemon = True
        with self._guard:
            self._sessions[device] = session
        binding = self._analyzer_lock(device)
        try:
            with Heartbeat(self.store, claim, on_lost=session.cancel), binding:
                watchdog.start()
                outcome = self._outcome(job, device, claim, session)
        finally:
            watchdog.cancel()
            with self._guard:
                self._sessions.pop(device, None)
        if outcome.outcome not in ("done", "invalid"):
            self._kept.drop(device)  # failed checks (a gap in the samples, say) may come from either
        self._record(job, device, claim, outcome)

    def _analyzer_lock(self, device: str) -> Any:
        binding = load_inventory(self.inventory_path).get(device).analyzer
        if binding is not None and binding.name in self._analyzer_locks:
            return self._analyzer_locks[binding.name]
        return _NoLock()

    def _runspec(self, job: SweepJob, board: str) -> RunSpec:
        spec = self.spec
        idle = self._idle.get((board, job.power_mode)) if spec.idle.policy == "once_per_mode" else None
        return RunSpec(
            device=board, model=job.model_path, scenario=job.scenario, runtime=job.runtime,
            threads=job.threads, power_mode=job.power_mode, settle_s=spec.cooldown.seconds,
            max_temp_c=spec.cooldown.max_temp_c, settle_timeout_s=spec.cooldown.timeout_s, idle_s=spec.idle.seconds,
            idle_w=idle[0] if idle else None, idle_from=idle[1] if idle else "",
            # The row is written by finish() with the job's new state, and only by the attempt holding the job.
            results=self.results, database=self.store.url, add_row=False, label=f"sweep {self.sweep_id} {job.key}",
            inventory=self.inventory_path, known_hosts=self.known_hosts, **dict(job.run),
        )

    def _outcome(self, job: SweepJob, board: str, claim: Claim, session: Session) -> Outcome:
        """Run the session on the board and sort how it ended."""
        try:
            session.link = self._kept.link(board)
            session.lent_analyzer = self._kept.analyzer(board)
            record = session.run()
        except Cancelled as e:
            if self.store.sweep(self.sweep_id).state == "cancelled":
                return Outcome("cancelled", "cancelled", str(e), _run_of(session))
            if self._stop.is_set():
                return Outcome("interrupted", "pending", str(e), _run_of(session))
            return self._transient(claim, str(e), _run_of(session))  # the watchdog
        except Exception as e:  # sorted below; a bug must not end an unattended night either
            self._kept.drop(board)  # the link or the analyzer may be what broke: the next attempt opens them afresh
            fault = sort_fault(e, job)
            if fault.internal:
                log.exception("%s: internal error", job.key)
            if fault.permanent:
                return Outcome("permanent", "failed", fault.reason, _run_of(session), fault.cause)
            run = _run_of(session)
            self._note_boot(board, run or {})  # its preflight's boot_id: a reboot in the first job shows too
            return self._transient(claim, self._with_reboot(board, fault.reason), run)
        return self._from_record(job, record, claim)

    def _from_record(self, job: SweepJob, run: Dict[str, Any], claim: Claim) -> Outcome:
        self._note_boot(claim.board or job.device, run)
        status = run.get("status")
        if status == "ok":
            return Outcome("done", "done", None, run)
        if status == "invalid":
            reason = failing_checks(run) or "LoadGen INVALID"
            # A run cut short of LoadGen's minimums was sized by a calibration the board's load skewed;
            # the next attempt calibrates again. Any other INVALID is the measurement's answer.
            if any(hint in reason for hint in SHORT_RUN) and claim.attempt < self._max_attempts(claim):
                return self._transient(claim, reason, run)
            return Outcome("invalid", "invalid", reason, run)
        reason = f"checks failed: {failing_checks(run)}"
        if claim.attempt < self._max_attempts(claim):
            return self._transient(claim, reason, run)
        return Outcome("checks_failed", "invalid", reason, run)

    def _transient(self, claim: Claim, reason: str, run: Optional[Dict[str, Any]]) -> Outcome:
        if claim.attempt >= self._max_attempts(claim):
            return Outcome("transient", "failed", f"{reason} (after {claim.attempt} attempts)", run)
        return Outcome("transient", "pending", reason, run)

    def _max_attempts(self, claim: Claim) -> int:
        rows = [j for j in self.store.jobs(self.sweep_id) if j.key == claim.key]
        return rows[0].max_attempts if rows else self.spec.max_attempts

    def _record(self, job: SweepJob, board: str, claim: Claim, outcome: Outcome) -> None:
        backoff_s = BACKOFF_S[min(claim.attempt, len(BACKOFF_S)) - 1] if outcome.state == "pending" else 0.0
        if outcome.outcome == "interrupted":
            backoff_s = 0.0
        row = summary_row(outcome.run) if outcome.run and outcome.run.get("device") and outcome.run.get("model") else None
        if not self.store.finish(claim, outcome.outcome, outcome.state, outcome.reason, run=row,
                                 not_before_ns=time.time_ns() + int(backoff_s * 1e9)):
            log.warning("%s attempt %d: %s, not recorded: another worker took the job over", job.key, claim.attempt,
                        outcome.outcome)
            return
        log.info("%s attempt %d: %s -> %s (%s)", job.key, claim.attempt, outcome.outcome, outcome.state,
                 outcome.reason or "")
        if outcome.cause:
            others = self.store.fail_pending(self.sweep_id, f"same cause as {job.key}: {outcome.reason}",
                                             **outcome.cause)
            if others:
                log.warning("%s: %d more jobs fail with it: %s", job.key, len(others), outcome.reason)
        run = outcome.run or {}
        if outcome.state in ("done", "invalid") and (run.get("idle") or {}).get("average_w") is not None:
            idle = run["idle"]
            if not idle.get("reused_from"):
                self._idle.setdefault((board, job.power_mode), (idle["average_w"], run["run_id"]))

    # -- boards that reboot on their own ----------------------------------------------------------
    def _note_boot(self, device: str, run: Mapping[str, Any]) -> None:
        boot_id = (((run.get("device") or {}).get("facts") or {}).get("boot_id"))
        if not boot_id:
            return
        before = self._boot_ids.get(device)
        rebooted_by_us = (run.get("power_mode_change") or {}).get("rebooted")
        if before and before != boot_id and not rebooted_by_us:
            log.warning("%s rebooted between jobs (boot_id %s -> %s)", device, before, boot_id)
        self._boot_ids[device] = boot_id

    def _with_reboot(self, device: str, reason: str) -> str:
        """The reason, with a note when the board's boot_id changed since the last job saw it."""
        before = self._boot_ids.get(device)
        now = boot_id(device, self.inventory_path, self.known_hosts) if before else None
        if before and now and now != before:
            self._boot_ids[device] = now
            return f"{reason} (the board rebooted: boot_id {before[:8]} -> {now[:8]})"
        return reason

    # -- progress ---------------------------------------------------------------------------------
    def _on_progress(self, device: str, claim: Claim, progress: Progress) -> None:
        if self._phases.get(device) != (claim.key, progress.phase):
            self._phases[device] = (claim.key, progress.phase)
            self.store.set_phase(claim, progress.phase)
        if time.monotonic() - self._state_read.get(device, 0.0) > STATE_POLL_S:
            # `director sweep cancel` from another terminal reaches a running job here.
            self._state_read[device] = time.monotonic()
            if self.store.sweep(self.sweep_id).state == "cancelled":
                session = self._sessions.get(device)
                if session is not None:
                    session.cancel("sweep cancelled")
        self.on_status(DeviceStatus(device, claim.key, claim.attempt, progress.phase, progress.elapsed_s,
                                    progress.live_w, progress.detail))

    def _status(self, device: str, key: Optional[str], attempt: int, phase: str, detail: str = "") -> None:
        self.on_status(DeviceStatus(device, key, attempt, phase, 0.0, None, detail))


def queue_sweep(store: Store, spec: SweepSpec, results_root: str) -> str:
    """Put a sweep and all its jobs in the store (pending); its id, `<name>-<UTC stamp>`."""
    sweep_id = f"{spec.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    results = os.path.abspath(os.path.join(spec.results or results_root, sweep_id))
    store.create_sweep(sweep_id, spec.name, os.path.abspath(spec.path), spec.to_json(), results,
                       [job.to_json() for job in spec.jobs], spec.max_attempts)
    return sweep_id


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _run_of(session: Session) -> Optional[Dict[str, Any]]:
    """What the session wrote to run.json before it failed (None when it never started)."""
    return dict(session.record) if session.record else None
