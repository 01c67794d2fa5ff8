"""The fault bench's harness: boards, small full disks, sweeps run with a fault hook, and each trial's verdict.

See bench/faults.py for the scenarios and what survived, data lost and recovery mean.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set

import psutil

import director.sweep
from director.errors import DirectorError
from director.store import FINAL_STATES, Store, open_store
from director.sweep import DeviceStatus, SweepRunner
from tests.devices.fakes import orin_nano
from tests.director.sweepboards import SweepBoard, sweep_toml
from tests.director.test_sweep_faults import Bench, once_at
from tests.sshd import faketime_lib, start_sshd

WATCHDOG_S = 60.0  # the sweeps' job_timeout_s: a short job takes about 6 s
WATCHDOG_MARGIN_S = 30.0  # a cancel waits up to 10 s for the board's worker, then the session winds down
MAX_ATTEMPTS = 3
HEADROOM_BYTES = 8 * 1024  # what a filled tmpfs keeps free


def deadline_s() -> float:
    """How long a sweep of one job may take before it counts as hung: every attempt to its watchdog."""
    return MAX_ATTEMPTS * (WATCHDOG_S + max(director.sweep.BACKOFF_S)) + WATCHDOG_MARGIN_S


# -- what is on disk ------------------------------------------------------------------------------
def samples_on_disk(root: Path) -> Dict[str, Set[int]]:
    """The t_end_ns of every complete row of every samples.csv under root, by file."""
    found: Dict[str, Set[int]] = {}
    for path in root.rglob("samples.csv"):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        rows = data[: data.rfind(b"\n") + 1].decode("utf-8", "replace").splitlines()[1:]
        found[str(path)] = {int(row.split(",", 1)[0]) for row in rows if row.split(",", 1)[0].isdigit()}
    return found


@dataclass
class Fault:
    """When the fault was injected, on which job, and the samples on disk right after it."""

    key: Optional[str] = None
    at_ns: Optional[int] = None
    on_disk: Dict[str, Set[int]] = field(default_factory=dict)

    def mark(self, root: Path, key: Optional[str] = None) -> None:
        """The fault happened now: note it and what is on disk under root."""
        self.at_ns, self.key = time.time_ns(), key or self.key
        self.on_disk = samples_on_disk(root)

    def lost(self, root: Path) -> int:
        """Rows on disk at the fault that are gone now."""
        now = samples_on_disk(root)
        return sum(len(rows - now.get(path, set())) for path, rows in self.on_disk.items())

    def at_fault(self) -> int:
        """Rows on disk at the fault."""
        return sum(len(rows) for rows in self.on_disk.values())


@dataclass
class Trial:
    """One trial's verdict: survived (why not), samples lost, recovery (s), and what happened."""

    scenario: str
    number: int
    survived: bool
    lost: int
    recovery_s: Optional[float]
    why: List[str]
    detail: Dict[str, object]

    def json(self) -> Dict[str, object]:
        """The trial's JSON line."""
        return {"scenario": self.scenario, "trial": self.number, "survived": self.survived, "data_lost": self.lost,
                "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 2), "why": self.why,
                **self.detail}


# -- boards and disks -----------------------------------------------------------------------------
class Lab:
    """Boards started once for all trials (stopped by close()) and the trials' settings."""

    def __init__(self, root: Path, min_duration_ms: int = 2500) -> None:
        self.root = root
        self.min_duration_ms = min_duration_ms
        self.clock_file = root / "board-clock"
        self._boards: Dict[str, SweepBoard] = {}

    def board(self, name: str = "board1") -> SweepBoard:
        """A board by name; `clockboard` runs its commands under libfaketime with an offset read from
        clock_file (FAKETIME_TIMESTAMP_FILE, re-read each second; the monotonic clock left alone)."""
        if name not in self._boards:
            env: List[str] = []
            if name == "clockboard":
                lib = faketime_lib()
                if lib is None:
                    raise RuntimeError("libfaketime not installed: apt-get install faketime (.ci/run does)")
                self.clock_file.write_text("+0s\n")
                env = [f"LD_PRELOAD={lib}", f"FAKETIME_TIMESTAMP_FILE={self.clock_file}",
                       "FAKETIME_CACHE_DURATION=1", "FAKETIME_DONT_FAKE_MONOTONIC=1"]
            sshd = start_sshd(self.root / f"{name}-sshd", env=env)
            self._boards[name] = SweepBoard(name, sshd, orin_nano(self.root / f"{name}-tree"))
        return self._boards[name]

    def toml(self, name: str, devices: Sequence[str], repeats: int = 1) -> str:
        """A sweep of short jobs with the bench's watchdog and attempts."""
        return sweep_toml(name, devices, repeats=repeats, min_duration_ms=self.min_duration_ms,
                          extra=f"job_timeout_s = {WATCHDOG_S:g}\nmax_attempts = {MAX_ATTEMPTS}")

    def close(self) -> None:
        """Stop every board."""
        for board in self._boards.values():
            board.sshd.stop()


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    """A small tmpfs mounted at path for the block (needs root)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)  # noqa: S603,S607
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)  # noqa: S603,S607


def fill(path: Path, headroom: int = HEADROOM_BYTES) -> Path:
    """Fill the file system of path until it is full, then free headroom bytes; the filler file."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    block = b"\0" * 65536
    try:
        while len(block) >= 512:
            try:
                os.write(fd, block)
            except OSError:
                block = block[: len(block) // 2]
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - headroom))
    return filler


# -- sweeps ---------------------------------------------------------------------------------------
@dataclass
class SweepRun:
    """A trial's sweep: its store and files, the fault, and how its runs ended (raised, hung)."""

    tmp: Path
    store: Store
    inventory: str
    known_hosts: str
    fault: Fault
    wall_s: float = 0.0
    raised: List[BaseException] = field(default_factory=list)
    hung: bool = False

    @property
    def results(self) -> Path:
        """The results folder (run folders and results.db)."""
        return self.tmp / "results"

    def attempt(self, work: Callable[[], object]) -> None:
        """Run work (a sweep's run or resume) in a thread, cancelled like `sweep cancel` past the deadline."""
        def target() -> None:
            try:
                work()
            except Exception as e:  # judged below: one clear DirectorError is an answer, anything else is not
                self.raised.append(e)

        worker = threading.Thread(target=target, daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(deadline_s())
        if worker.is_alive():
            self.hung = True
            for sweep in self.store.sweeps():
                self.store.set_sweep_state(sweep.sweep_id, "cancelled")
            worker.join(WATCHDOG_S)
        self.wall_s += time.monotonic() - started

    def resume(self) -> None:
        """`director sweep resume` in this process: a fresh store, as a new director opens it, and the sweep."""
        self.store = open_store(str(self.results / "results.db"))
        sweep_id = self.store.sweeps()[0].sweep_id
        self.attempt(SweepRunner(self.store, sweep_id, inventory=self.inventory, known_hosts=self.known_hosts).run)

    def unfinished(self) -> bool:
        """True when a job is still pending or running (or the store cannot say)."""
        try:
            return any(job.state not in FINAL_STATES for job in self.store.jobs(self.store.sweeps()[0].sweep_id))
        except DirectorError:
            return True


def sweep_trial(tmp: Path, boards: List[SweepBoard], toml: str, inject: Callable[[DeviceStatus], None],
                analyzers: Sequence[str] = (), edit_inventory: Callable[[str], str] = lambda text: text) -> SweepRun:
    """Run one sweep in this process, firing inject (then marking the fault) 0.3 s after a job's testing
    pass has begun."""
    bench = Bench(tmp, boards, analyzers)
    Path(bench.inventory).write_text(edit_inventory(Path(bench.inventory).read_text()))
    run = SweepRun(tmp, bench.store, bench.inventory, bench.known_hosts, Fault())

    def action(status: DeviceStatus) -> None:
        time.sleep(0.3)  # well inside the pass: samples on disk, LoadGen issuing queries
        inject(status)
        run.fault.mark(run.results, status.key)

    run.attempt(lambda: bench.run(toml, once_at("run_1", action)))
    return run


def judge_sweep(scenario: str, number: int, run: SweepRun, expect: str = "") -> Trial:
    """A sweep trial's verdict from its store and its folders."""
    why: List[str] = []
    fault = run.fault
    if run.hung:
        why.append(f"the sweep hung past {deadline_s():.0f} s")
    for error in run.raised:
        if not isinstance(error, DirectorError):
            why.append(f"the runner raised {type(error).__name__}: {error}")
    if fault.at_ns is None:
        why.append("the fault was never injected")
    sweep_id = run.store.sweeps()[0].sweep_id
    jobs, attempts = run.store.jobs(sweep_id), run.store.attempts(sweep_id)
    for job in jobs:
        if job.state not in FINAL_STATES:
            why.append(f"{job.key} left {job.state}")
        elif job.state != "done" and not job.reason:
            why.append(f"{job.key} {job.state} without a reason")
    for attempt in attempts:
        if attempt["ended_ns"] is None:
            why.append(f"{attempt['key']} attempt {attempt['attempt']} never ended")
        elif (attempt["ended_ns"] - attempt["started_ns"]) / 1e9 > WATCHDOG_S + WATCHDOG_MARGIN_S:
            why.append(f"{attempt['key']} attempt {attempt['attempt']} ran past its watchdog")
        elif "internal error" in (attempt["reason"] or ""):
            why.append(f"{attempt['key']} attempt {attempt['attempt']}: {attempt['reason']}")
    victim = next((j for j in jobs if j.key == fault.key), None)
    recovery = None
    if victim is not None and victim.state in FINAL_STATES and fault.at_ns is not None:
        recovery = (victim.updated_ns - fault.at_ns) / 1e9
    chains = {job.key: [f"{a['outcome']}: {a['reason']}" if a["reason"] else a["outcome"]
                        for a in attempts if a["key"] == job.key] for job in jobs}
    detail: Dict[str, object] = {"jobs": {job.key: job.state for job in jobs}, "attempts": chains,
                                 "samples_at_fault": fault.at_fault(), "wall_s": round(run.wall_s, 1)}
    if run.raised:
        detail["stopped"] = [str(error) for error in run.raised]
    if expect and victim is not None and expect not in " ".join(chains.get(victim.key, [])):
        why.append(f"no reason of {victim.key} says {expect!r}")
    return Trial(scenario, number, not why, fault.lost(run.results), recovery, why, detail)


# -- processes ------------------------------------------------------------------------------------
def kill_9(proc: subprocess.Popen, killed: Callable[[], None]) -> List[str]:
    """SIGKILL a director, call killed() once it is dead; the command lines of its children still alive
    10 s later (then killed)."""
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    killed()
    _, alive = psutil.wait_procs(children, timeout=10)
    left = []
    for child in alive:
        with contextlib.suppress(psutil.Error):
            if child.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(child.cmdline()[:4]))
            child.kill()
    return left
