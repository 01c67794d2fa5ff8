"""Sweeps: dead time per job, and one director driving many boards and analyzers at once.

    ./task bench sweep [--boards 16] [--jobs 6] [--min-duration-ms 10000] [--part dead|scale|both]

dead:  one board (a real sshd on loopback with a fake Jetson tree, like the tests), --jobs jobs in
       two power modes, each with cool-down, idle baseline, a ranging and a testing pass. Dead time
       per job = its wall time - (cool-down + idle + per pass calibration + min_duration). Target
       (issue 5): <= 3 s.
scale: --boards boards, each with its own simulated WT310E on its own pty, one job each at once,
       all driven by this one director process. The boards' processes run at nice 19 so they do
       not steal the director's CPU the way separate boards never would. Prints the samples each
       analyzer should have delivered, those lost (driver gaps and holes; the meter's own no-data
       while it auto-ranges is not a loss), and the director's CPU (its own threads; the
       simulators' threads, which stand in for hardware, are counted apart). Target: 0 lost.

Every figure is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

import psutil

from devices.inventory import load_inventory
from director.store import open_store
from director.sweep import SweepRunner, queue_sweep
from director.sweepspec import load_sweep_spec
from power.samples_csv import read_samples_csv
from power.sample import Status
from tests.director.sweepboards import known_hosts, start_boards, sweep_toml, write_inventory


def emit(**fields: object) -> None:
    print(json.dumps({"bench": "sweep", **fields}), flush=True)


def run_sweep(tmp: Path, boards: list, toml: str) -> str:
    inventory = str(write_inventory(tmp / "devices.toml", boards))
    hosts = str(known_hosts(tmp / "known_hosts", boards))
    (tmp / "sweep.toml").write_text(toml)
    store = open_store(str(tmp / "results" / "results.db"))
    spec = load_sweep_spec(str(tmp / "sweep.toml"), load_inventory(inventory))
    sweep_id = queue_sweep(store, spec, str(tmp / "results"))
    SweepRunner(store, sweep_id, inventory=inventory, known_hosts=hosts).run()
    return sweep_id


def dead_time(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sweep-dead-") as folder:
        tmp = Path(folder)
        boards = start_boards(tmp, 1)
        try:
            toml = sweep_toml("dead", ["board1"], power_modes=("15W", "25W"), repeats=args.jobs // 2,
                              min_duration_ms=args.min_duration_ms)
            toml = toml.replace("ranges = [300.0, 0.5]\n", "").replace("[cooldown]\nseconds = 0",
                                                                       f"[cooldown]\nseconds = {args.cooldown_s}")
            toml = toml.replace("[idle]\nseconds = 0.5", f"[idle]\nseconds = {args.idle_s}")
            toml = toml.replace("calibration_s = 0.2", f"calibration_s = {args.calibration_s}")
            sweep_id = run_sweep(tmp, boards, toml)
            store = open_store(str(tmp / "results" / "results.db"))
            configured_s = args.cooldown_s + args.idle_s + 2 * (args.calibration_s + args.min_duration_ms / 1000)
            deads = []
            for attempt in store.attempts(sweep_id):
                wall_s = (attempt["ended_ns"] - attempt["started_ns"]) / 1e9
                run = json.loads((Path(attempt["folder"]) / "run.json").read_text())
                deads.append(wall_s - configured_s)
                emit(part="dead", job=attempt["key"], outcome=attempt["outcome"], status=run["status"],
                     configured_s=round(configured_s, 3), wall_s=round(wall_s, 3), dead_s=round(wall_s - configured_s, 3),
                     mode_change=(run.get("power_mode_change") or {}).get("from") != (run.get("power_mode_change") or {}).get("to"))
            deads.sort()
            emit(part="dead", jobs=len(deads), dead_s_median=round(deads[len(deads) // 2], 3),
                 dead_s_max=round(deads[-1], 3), target_s=3.0)
        finally:
            for board in boards:
                board.sshd.stop()


def thread_cpu_s(names: Dict[int, str]) -> Dict[str, float]:
    """CPU seconds of this process's threads, split into simulator threads and the rest."""
    split = {"simulators": 0.0, "director": 0.0}
    for thread in psutil.Process().threads():
        kind = "simulators" if names.get(thread.id, "").endswith("Server") else "director"
        split[kind] += thread.user_time + thread.system_time
    return split


def scale(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sweep-scale-") as folder:
        tmp = Path(folder)
        boards = start_boards(tmp, args.boards)
        try:
            for board in boards:  # a board is its own machine: it must not take the director's CPU
                psutil.Process(board.sshd.pid).nice(19)
            toml = sweep_toml("scale", [b.name for b in boards], min_duration_ms=args.min_duration_ms)
            names: Dict[int, str] = {}
            stop = threading.Event()

            def watch_names() -> None:  # thread names by native id, to tell simulator threads apart
                while not stop.wait(0.2):
                    for thread in threading.enumerate():
                        if thread.native_id:
                            names[thread.native_id] = thread.name

            watcher = threading.Thread(target=watch_names, daemon=True)
            watcher.start()
            before = resource.getrusage(resource.RUSAGE_SELF)
            split_before = thread_cpu_s(names)
            start = time.monotonic()
            sweep_id = run_sweep(tmp, boards, toml)
            wall_s = time.monotonic() - start
            after = resource.getrusage(resource.RUSAGE_SELF)
            split_after = thread_cpu_s(names)
            stop.set()
            store = open_store(str(tmp / "results" / "results.db"))
            expected = lost = no_data = 0
            states: List[str] = []
            for job in store.jobs(sweep_id):
                states.append(job.state)
                samples = read_samples_csv(Path(job.folder) / "samples.csv")
                interval_ns = samples[0].interval_ns
                span = samples[-1].t_end_ns - samples[0].t_end_ns
                expected += round(span / interval_ns) + 1
                lost += sum(1 for s in samples if s.status is Status.GAP)
                no_data += sum(1 for s in samples if s.status is Status.NO_DATA)
                lost += max(0, round(span / interval_ns) + 1 - len(samples))  # holes no gap sample covers
            cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            sims = split_after["simulators"] - split_before["simulators"]
            emit(part="scale", boards=args.boards, jobs_done=states.count("done"), jobs=len(states),
                 wall_s=round(wall_s, 1), samples_expected=expected, samples_lost=lost, meter_no_data=no_data,
                 process_cpu_pct_of_one_core=round(100 * cpu_s / wall_s, 1),
                 simulator_cpu_pct=round(100 * sims / wall_s, 1),
                 director_cpu_pct=round(100 * (cpu_s - sims) / wall_s, 1), cores=os.cpu_count())
        finally:
            for board in boards:
                board.sshd.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("dead", "scale", "both"), default="both")
    parser.add_argument("--boards", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=6, help="jobs of the dead-time part (even)")
    parser.add_argument("--min-duration-ms", type=int, default=10000)
    parser.add_argument("--calibration-s", type=float, default=1.0)
    parser.add_argument("--cooldown-s", type=float, default=2.0)
    parser.add_argument("--idle-s", type=float, default=3.0)
    args = parser.parse_args()
    if args.part in ("dead", "both"):
        dead_time(args)
    if args.part in ("scale", "both"):
        scale(args)


if __name__ == "__main__":
    main()
