"""Sweeps: dead time per job, and one director driving many boards and analyzers at once.

    ./task bench sweep [--boards 16] [--jobs 6] [--min-duration-ms 10000] [--part dead|scale|both]

dead:  one board (a real sshd on loopback with a fake Jetson tree, like the tests), --jobs jobs in
       two power modes, each with cool-down, idle baseline, a ranging and a testing pass. Dead time
       per job = its wall time - (cool-down + idle + per pass calibration + min_duration). Target
       (issue 5): <= 3 s.
scale: --boards boards, each with its own simulated WT310E on its own pty, one job each at once,
       all driven by this one director process. The boards' processes run at nice 19 and each meter
       simulator is a process of its own, so neither takes the director's CPU the way separate
       hardware never would. Prints the samples the analyzers should have delivered, those lost
       (driver gaps and holes; the meter's own no-data while it auto-ranges is not a loss), and the
       director's CPU. Target: 0 lost.

Every figure is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

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


def model_path(args: argparse.Namespace) -> Path:
    """--model, else the MobileNetV2-224 ONNX bench model (a realistic query rate; generated once)."""
    if args.model:
        return Path(args.model).resolve()
    from bench.models import ensure_models

    return ensure_models(["onnx_b1"])["onnx_b1"]


def dead_time(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sweep-dead-") as folder:
        tmp = Path(folder)
        boards = start_boards(tmp, 1)
        try:
            toml = sweep_toml("dead", ["board1"], (str(model_path(args)),), power_modes=("15W", "25W"),
                              repeats=args.jobs // 2, min_duration_ms=args.min_duration_ms)
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
                if attempt["outcome"] == "done":
                    deads.append(wall_s - configured_s)
                emit(part="dead", job=attempt["key"], outcome=attempt["outcome"], status=run["status"],
                     reason=attempt["reason"], loadgen=(run["passes"].get("run_1") or {}).get("agent", {}).get(
                         "validity_reasons"),
                     configured_s=round(configured_s, 3), wall_s=round(wall_s, 3), dead_s=round(wall_s - configured_s, 3),
                     mode_change=(run.get("power_mode_change") or {}).get("from") != (run.get("power_mode_change") or {}).get("to"))
            deads.sort()
            emit(part="dead", jobs=len(deads), dead_s_median=round(deads[len(deads) // 2], 3),
                 dead_s_max=round(deads[-1], 3), target_s=3.0)
        finally:
            for board in boards:
                board.sshd.stop()


def start_meters(tmp: Path, boards: list) -> List[subprocess.Popen]:
    """One simulated WT310E per board in its own process, as real meters are their own hardware."""
    meters = []
    for number, board in enumerate(boards):
        link = tmp / f"tty_{board.name}"
        meters.append(subprocess.Popen(  # noqa: S603 - argv list, no shell; our own simulator
            [sys.executable, "-m", "power.simulators", "wt310e", "--link", str(link), "--baud", "57600",
             "--rate", "0.1", "--load", "40W", "--seed", str(number)],
            # Own session, so own scheduling group under autogroup: separate hardware shares no CPU with the bench.
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    deadline = time.monotonic() + 30
    while not all((tmp / f"tty_{b.name}").exists() for b in boards):
        if time.monotonic() > deadline:
            raise RuntimeError("the simulated meters did not start")
        time.sleep(0.1)
    return meters


def scale(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sweep-scale-") as folder:
        tmp = Path(folder)
        boards = start_boards(tmp, args.boards)
        meters = start_meters(tmp, boards)
        try:
            for board in boards:  # a board is its own machine: it must not take the director's CPU
                psutil.Process(board.sshd.pid).nice(19)
            analyzers = [f'[analyzers.{b.name}_wt]\nmodel = "WT310E"\nurl = "{tmp / f"tty_{b.name}"}"\n'
                         f'baudrate = 57600\n' for b in boards]
            # A MobileNet-class model: the tiny test models answer 30 000 queries/s, and LoadGen's memory for
            # that many queries (about 1 GB per board) would measure this host's memory, not the director.
            toml = sweep_toml("scale", [b.name for b in boards], (str(model_path(args)),),
                              min_duration_ms=args.min_duration_ms)
            inventory = str(write_inventory(tmp / "devices.toml", boards, analyzers))
            hosts = str(known_hosts(tmp / "known_hosts", boards))
            (tmp / "sweep.toml").write_text(toml)
            store = open_store(str(tmp / "results" / "results.db"))
            spec = load_sweep_spec(str(tmp / "sweep.toml"), load_inventory(inventory))
            sweep_id = queue_sweep(store, spec, str(tmp / "results"))
            before = resource.getrusage(resource.RUSAGE_SELF)
            children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.monotonic()
            SweepRunner(store, sweep_id, inventory=inventory, known_hosts=hosts).run()
            wall_s = time.monotonic() - start
            after = resource.getrusage(resource.RUSAGE_SELF)
            children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            expected = lost = no_data = 0
            for attempt in store.attempts(sweep_id):
                samples = read_samples_csv(Path(attempt["folder"]) / "samples.csv")
                interval_ns = samples[0].interval_ns
                span = samples[-1].t_end_ns - samples[0].t_end_ns
                expected += round(span / interval_ns) + 1
                lost += sum(1 for s in samples if s.status is Status.GAP)
                lost += max(0, round(span / interval_ns) + 1 - len(samples))  # holes no gap sample covers
                no_data += sum(1 for s in samples if s.status is Status.NO_DATA)
                if attempt["outcome"] != "done":
                    emit(part="scale", job=attempt["key"], outcome=attempt["outcome"], reason=attempt["reason"])
            states = [job.state for job in store.jobs(sweep_id)]
            cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            # The analyzers' sampler processes, reaped as each session closes its analyzer.
            children_cpu_s = sum(getattr(children_after, f) - getattr(children_before, f) for f in ("ru_utime", "ru_stime"))
            emit(part="scale", boards=args.boards, jobs_done=states.count("done"), jobs=len(states),
                 attempts=len(store.attempts(sweep_id)), wall_s=round(wall_s, 1), samples_expected=expected,
                 samples_lost=lost, meter_no_data=no_data,
                 director_cpu_pct_of_one_core=round(100 * cpu_s / wall_s, 1),
                 samplers_cpu_pct_of_one_core=round(100 * children_cpu_s / wall_s, 1), cores=os.cpu_count())
        finally:
            for meter in meters:
                meter.terminate()
                meter.wait(10)
            for board in boards:
                board.sshd.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("dead", "scale", "both"), default="both")
    parser.add_argument("--boards", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=6, help="jobs of the dead-time part (even)")
    parser.add_argument("--model", help="model on the boards (default: MobileNetV2-224 ONNX, batch 1)")
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
