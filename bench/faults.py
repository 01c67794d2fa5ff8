"""Faults (issue 8): each fault injected into real runs, trial after trial; survived, data lost, recovery time.

    ./task bench faults [--trials 3] [--scenario NAME ...] [--min-duration-ms 2500] [--backoff-s 1]

Every trial is a fresh sweep (or `director run`) of short jobs (2.5 s passes) on boards that are real
sshd servers on loopback with fake Jetson trees and simulated WT310E analyzers that follow the CPU of
the board's processes (tests/director/sweepboards.py). The fault fires once the job's testing pass is
inside LoadGen (tests/director/test_sweep_faults.py), on the first attempt only:

  ssh_drop            the board's sshd connection processes killed (the link cut; the pass goes on)
  director_kill_run   `director run` killed with SIGKILL 1 s into its pass, then run again as a user would
  director_kill_sweep `director sweep run` (2 jobs) killed with SIGKILL 1 s into the 2nd job's pass, then
                      `director sweep resume`
  analyzer_unplug     the analyzer's pty closed for 1.5 s and brought back (PtyServer.vanish)
  analyzer_babble     1.5 s of replies mangled: garbage bytes, stray CRs, a byte dropped, cut short
                      (Link.inject, one fault per reply)
  board_reboot        a new boot_id and every agent process on the board killed
  disk_full_director  results/ (run folders and results.db, the default layout) on a 2 MB tmpfs, filled to
                      8 KB free; when results.db itself cannot be written the sweep stops with its one
                      line, and the bench frees the space and resumes it
  disk_full_board     the board's agent workdir (devices.toml `workdir`) on a 2 MB tmpfs, filled to 8 KB
                      free, and left full
  clock_step          the board's wall clock stepped +30 s (its processes run under libfaketime, which
                      reads the offset from FAKETIME_TIMESTAMP_FILE, re-read each second with
                      FAKETIME_CACHE_DURATION=1; FAKETIME must be unset for the file to count; the
                      monotonic clock is left alone)
  cpu_hog             a busy process under the board's HOME (its simulated analyzer sees it) for the pass

Per trial:
  survived   the fault was injected; every job ended done, invalid or failed, each not-done one with its
             reason, none left pending or running, no attempt ended in an internal error (a bug) and
             the runner raised nothing but one DirectorError line; every attempt ended within the
             sweep's watchdog (job_timeout_s = 60 s) plus 30 s, and the trial within its deadline;
             board_reboot and clock_step: a reason says "rebooted" / "clock". director_kill_run: the
             killed run's folder keeps its samples.csv and a run.json with status "running" (what it was
             measuring and its last phase), the killed director's children are gone, the rerun ends ok
             or invalid.
  data lost  samples (rows of samples.csv, by their t_end_ns) on disk in any run folder right after the
             fault that are not there at the end of the trial: a folder deleted or a file truncated
             counts every missing row. Samples the fault itself kept from reaching the disk are not
             counted (a gap stays a gap, and fails its run's checks).
  recovery   from the fault to the job it hit reaching its final state: done again after a retry or a
             resume, or failed/invalid with its reason; for director_kill_run, to the rerun's end.

Needs root (tmpfs mounts). Retries wait --backoff-s (the runner's own back-off is 10 s, 30 s, 90 s, 300 s;
a bench need not sit through it). About 2 minutes per trial of every scenario on two cores.
Prints one JSON line per trial, then a table; exits 1 when any row lost data or did not survive.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import director.sweep
from bench._faultlab import (WATCHDOG_MARGIN_S, WATCHDOG_S, Fault, Lab, SweepRun, Trial, deadline_s, fill,
                             judge_sweep, kill_9, sweep_trial, tmpfs)
from director.store import open_store
from director.sweep import DeviceStatus
from power.simulators.load import ProcessLoad
from power.simulators.serve import Link, PtyServer, build
from tests.devices.fakes import BOOT_ID
from tests.director.commandline import MODELS, make_director
from tests.director.sweepboards import IDLE_W, LOAD_W, SweepBoard, known_hosts, write_inventory
from tests.director.test_sweep_faults import wait_for_testing_pass

CLOCK_STEP = "+30s"


def emit(**fields: object) -> None:
    print(json.dumps({"bench": "faults", **fields}), flush=True)


# -- one job, one fault ---------------------------------------------------------------------------
def simple(scenario: str, inject_for: Callable[[Lab], Callable[[DeviceStatus], None]], board: str = "board1",
           expect: str = "") -> Callable[[Lab, Path, int], Trial]:
    """A scenario that is one sweep of one job on one board, with the fault inject_for(lab) gives."""
    def trial(lab: Lab, tmp: Path, number: int) -> Trial:
        found = lab.board(board)
        run = sweep_trial(tmp, [found], lab.toml(scenario, [board]), inject_for(lab))
        return judge_sweep(scenario, number, run, expect=expect)

    return trial


def ssh_drop(lab: Lab) -> Callable[[DeviceStatus], None]:
    board = lab.board()
    return lambda status: [proc.kill() for proc in board.sshd.connection_processes()]


def board_reboot(lab: Lab) -> Callable[[DeviceStatus], None]:
    board = lab.board()
    board.fake.write("proc/sys/kernel/random/boot_id", f"{BOOT_ID}\n")  # as booted: the last trial's reboot undone
    return lambda status: board.reboot_behind_our_back()


def clock_step(lab: Lab) -> Callable[[DeviceStatus], None]:
    lab.board("clockboard")
    lab.clock_file.write_text("+0s\n")
    time.sleep(1.2)  # longer than libfaketime's cache: no process on the board sees the last trial's step
    return lambda status: lab.clock_file.write_text(f"{CLOCK_STEP}\n")


def cpu_hog(lab: Lab) -> Callable[[DeviceStatus], None]:
    home = lab.board().sshd.home

    def start(status: DeviceStatus) -> None:
        # Busy for the rest of the pass, then gone by itself (even if this bench is killed meanwhile).
        seconds = lab.min_duration_ms / 1000 + 2.0
        busy = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
        subprocess.Popen([sys.executable, "-c", busy, str(home / "cpu-hog")],  # noqa: S603 - our own argv
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return start


def analyzer_trial(scenario: str, fault_on: Callable[[PtyServer], None]) -> Callable[[Lab, Path, int], Trial]:
    """One job on board1 measured by a simulated WT310E on a pty this process serves (so it can misbehave)."""
    def trial(lab: Lab, tmp: Path, number: int) -> Trial:
        board = lab.board()
        meter = build("WT310E", load_w=IDLE_W, cpu_coupled=True, cpu_load_w=LOAD_W, update_s=0.1,
                      utilisation=ProcessLoad(str(board.sshd.home)))
        server = PtyServer(Link(meter, baud=57600), str(tmp / "ttyWT")).start()
        analyzer = f'[analyzers.board1_wt]\nmodel = "WT310E"\nurl = "{tmp / "ttyWT"}"\nbaudrate = 57600\n'
        try:
            run = sweep_trial(tmp, [board], lab.toml(scenario, ["board1"]), lambda status: fault_on(server),
                              [analyzer])
        finally:
            server.stop()
        return judge_sweep(scenario, number, run)

    return trial


def babble(server: PtyServer, seconds: float = 1.5) -> None:
    """For `seconds`, every reply mangled: garbage bytes, a stray CR, a byte dropped, a reply cut short.

    Link faults are one-shot, queued for the next reply: one is queued only once the previous one went
    out, so none is left over for after the babble (while the driver reconnects, say)."""
    def go() -> None:
        link, end = server.link, time.monotonic() + seconds
        kinds = ("garbage", "stray_cr", "garbage", "drop", "garbage", "truncate")
        index = 0
        while time.monotonic() < end:
            link.inject(kinds[index % len(kinds)])
            index += 1
            sent = link.bytes_out
            while link.bytes_out == sent and time.monotonic() < end + 2.0:
                time.sleep(0.01)

    threading.Thread(target=go, daemon=True).start()


# -- full disks -----------------------------------------------------------------------------------
def disk_full_director(lab: Lab, tmp: Path, number: int) -> Trial:
    """results/ (run folders and results.db, the default layout) on a 2 MB tmpfs filled mid-pass. When the
    store itself could not be written, the sweep stops with its one line; space is freed and it resumes."""
    board = lab.board()
    fillers: List[Path] = []
    with tmpfs(tmp / "results"):
        run = sweep_trial(tmp, [board], lab.toml("disk_full_director", ["board1"]),
                          lambda status: fillers.append(fill(tmp / "results")))
        resumed = run.unfinished()
        if resumed:
            for filler in fillers:
                filler.unlink()
            run.resume()
        trial = judge_sweep("disk_full_director", number, run)
        trial.detail["resumed"] = resumed
        return trial


def disk_full_board(lab: Lab, tmp: Path, number: int) -> Trial:
    """The board's agent workdir (models, runs) on a 2 MB tmpfs filled mid-pass, and left full."""
    board = lab.board()
    workdir = tmp / "board-workdir"
    with tmpfs(workdir):
        run = sweep_trial(tmp, [board], lab.toml("disk_full_board", ["board1"]), lambda status: fill(workdir),
                          edit_inventory=lambda text: text.replace('profile = "jetson"\n',
                                                                   f'profile = "jetson"\nworkdir = "{workdir}"\n'))
        return judge_sweep("disk_full_board", number, run)


# -- the director killed --------------------------------------------------------------------------
def director_kill_sweep(lab: Lab, tmp: Path, number: int) -> Trial:
    """`director sweep run` of two jobs, killed -9 one second into the second job's testing pass, then
    `director sweep resume`."""
    board = lab.board()
    inventory = write_inventory(tmp / "devices.toml", [board])
    hosts = known_hosts(tmp / "known_hosts", [board])
    common = ("--inventory", inventory, "--known-hosts", hosts)
    (tmp / "sweep.toml").write_text(lab.toml("director_kill_sweep", ["board1"], repeats=2))
    director_ = make_director(tmp)
    results = tmp / "results"
    started = time.monotonic()
    proc = director_.start(*common, "sweep", "run", tmp / "sweep.toml", "--results", results)
    fault, orphans, missed = Fault(), [], ""
    try:
        victim = wait_for_testing_pass(results / "results.db", after_done=1, timeout_s=WATCHDOG_S * 2)
        orphans = kill_9(proc, lambda: fault.mark(results, victim))
    except AssertionError as e:  # judged below, with what the sweep itself said
        missed = str(e)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate()
    resumed = director_(*common, "sweep", "resume", "--results", results, timeout=deadline_s())
    run = SweepRun(tmp, open_store(str(results / "results.db")), str(inventory), str(hosts), fault,
                   time.monotonic() - started)
    trial = judge_sweep("director_kill_sweep", number, run)
    if missed:
        trial.why.append(f"{missed}; `sweep run` exited {proc.returncode}: {stderr.strip()[-500:]}")
    if resumed.returncode != 0 or "Traceback" in resumed.stderr:
        trial.why.append(f"sweep resume exited {resumed.returncode}: {resumed.stderr.strip()[-300:]}")
    if orphans:
        trial.why.append(f"the killed director left {orphans} running")
    trial.survived = not trial.why
    return trial


def director_kill_run(lab: Lab, tmp: Path, number: int) -> Trial:
    """`director run` killed -9 one second into its testing pass, its folder looked at, then the same run
    again as a user would."""
    board = lab.board()
    results = tmp / "results"
    argv = ("--inventory", write_inventory(tmp / "devices.toml", [board]),
            "--known-hosts", known_hosts(tmp / "known_hosts", [board]),
            "run", "--device", "board1", "--model", MODELS / "tiny_float_b1.onnx", "--ranges", "300,0.5",
            "--setting", f"min_duration={lab.min_duration_ms}", "--settle", "0", "--idle", "0.5",
            "--calibration", "0.2", "--results", results)
    director_ = make_director(tmp)
    started = time.monotonic()
    proc = director_.start(*argv)
    fault, why = Fault(), []
    try:
        folder = wait_for_run_pass(results, board, WATCHDOG_S)
        orphans = kill_9(proc, lambda: fault.mark(results, folder.name))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    if orphans:
        why.append(f"the killed director left {orphans} running")
    # Nobody cancels the detached pass of a killed `director run` (a sweep's resume does): it runs to its end.
    leftover = board.sshd.home / ".cache" / "edgepower" / "runs" / f"{folder.name}-run_1" / "result.json"
    while not leftover.exists() and time.time_ns() - (fault.at_ns or 0) < WATCHDOG_S * 1e9:
        time.sleep(0.1)
    pass_ran_on_s = (time.time_ns() - (fault.at_ns or 0)) / 1e9
    killed = read_json(folder / "run.json")
    if not fault.on_disk.get(str(folder / "samples.csv")):
        why.append("the killed run kept no samples")
    if killed is None:
        why.append("the killed run left no run.json")
    elif killed.get("status") != "running":
        why.append(f"the killed run's run.json says {killed.get('status')!r}")
    again = director_(*argv, timeout=WATCHDOG_S + WATCHDOG_MARGIN_S)
    recovery = (time.time_ns() - (fault.at_ns or 0)) / 1e9
    reruns = [f for f in results.iterdir() if f.is_dir() and f != folder]
    rerun = read_json(reruns[0] / "run.json") if len(reruns) == 1 else None
    if again.returncode not in (0, 3) or rerun is None or rerun.get("status") not in ("ok", "invalid"):
        why.append(f"the rerun exited {again.returncode}: {again.stderr.strip()[-300:]}")
    detail = {"killed_status": (killed or {}).get("status"), "killed_phase": (killed or {}).get("phase"),
              "rerun_status": (rerun or {}).get("status"), "board_pass_ran_on_s": round(pass_ran_on_s, 1),
              "samples_at_fault": fault.at_fault(),
              "wall_s": round(time.monotonic() - started, 1)}
    return Trial("director_kill_run", number, not why, fault.lost(results), recovery, why, detail)


def wait_for_run_pass(results: Path, board: SweepBoard, timeout_s: float) -> Path:
    """The folder of the one `director run` writing under results, once its testing pass is 1 s into LoadGen."""
    deadline = time.monotonic() + timeout_s
    runs = board.sshd.home / ".cache" / "edgepower" / "runs"
    while time.monotonic() < deadline:
        folders = [f for f in results.iterdir() if f.is_dir()] if results.is_dir() else []
        if folders:
            events = runs / f"{folders[0].name}-run_1" / "events.jsonl"
            if events.exists() and '"loadgen"' in events.read_text():
                time.sleep(1.0)
                return folders[0]
        time.sleep(0.05)
    raise RuntimeError(f"no testing pass began under {results} within {timeout_s:g} s")


def read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


SCENARIOS: Dict[str, Callable[[Lab, Path, int], Trial]] = {
    "ssh_drop": simple("ssh_drop", ssh_drop),
    "director_kill_run": director_kill_run,
    "director_kill_sweep": director_kill_sweep,
    "analyzer_unplug": analyzer_trial("analyzer_unplug", lambda server: server.vanish(1.5)),
    "analyzer_babble": analyzer_trial("analyzer_babble", babble),
    "board_reboot": simple("board_reboot", board_reboot, expect="rebooted"),
    "disk_full_director": disk_full_director,
    "disk_full_board": disk_full_board,
    "clock_step": simple("clock_step", clock_step, board="clockboard", expect="clock"),
    "cpu_hog": simple("cpu_hog", cpu_hog),
}


@dataclass(frozen=True)
class Row:
    """A scenario's line of the table."""

    scenario: str
    trials: int
    survived: int
    lost: int
    worst_recovery_s: Optional[float]

    @property
    def ok(self) -> bool:
        """Every trial survived and nothing was lost."""
        return self.survived == self.trials and self.lost == 0


def run_scenario(lab: Lab, name: str, trials: int, report: Callable[[Trial], None] = lambda trial: None) -> Row:
    """Run a scenario's trials, each in a fresh folder; its row."""
    done: List[Trial] = []
    for number in range(1, trials + 1):
        with tempfile.TemporaryDirectory(prefix=f"{name}-", dir=lab.root) as folder:
            try:
                trial = SCENARIOS[name](lab, Path(folder), number)
            except Exception as e:  # the bench's own trouble is a trial that did not survive, not the end
                trial = Trial(name, number, False, 0, None, [f"bench error: {type(e).__name__}: {e}"], {})
        report(trial)
        done.append(trial)
    recoveries = [t.recovery_s for t in done if t.recovery_s is not None]
    return Row(name, len(done), sum(t.survived for t in done), sum(t.lost for t in done),
               max(recoveries) if recoveries else None)


def table(rows: Sequence[Row]) -> str:
    """The plain-text table: scenario | trials | survived | data lost | worst recovery (s)."""
    head = ("scenario", "trials", "survived", "data lost", "worst recovery (s)")
    body = [(r.scenario, str(r.trials), str(r.survived), str(r.lost),
             "-" if r.worst_recovery_s is None else f"{r.worst_recovery_s:.1f}") for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [" | ".join(text.ljust(width) for text, width in zip(line, widths)) for line in [head, *body]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="run only this one (repeatable)")
    parser.add_argument("--min-duration-ms", type=int, default=2500, help="LoadGen min_duration of every pass")
    parser.add_argument("--backoff-s", type=float, default=1.0, help="wait before a retry (the runner's BACKOFF_S)")
    args = parser.parse_args()
    director.sweep.BACKOFF_S = (args.backoff_s,) * len(director.sweep.BACKOFF_S)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as folder:
        lab = Lab(Path(folder), args.min_duration_ms)
        try:
            for name in args.scenario or list(SCENARIOS):
                rows.append(run_scenario(lab, name, args.trials, lambda trial: emit(**trial.json())))
        finally:
            lab.close()
    print(table(rows), flush=True)
    sys.exit(0 if all(row.ok for row in rows) else 1)


if __name__ == "__main__":
    main()
