"""What goes wrong in a lab at night, during a sweep: each is survived, retried or failed once, and nothing is lost.

Faults are injected from the runner's own status callback at a chosen phase of a chosen attempt, on
real sshd boards with real simulated analyzers: an SSH drop, an analyzer unplugged, a board that
reboots on its own, a corrupt model, a job that hangs past its watchdog; and `kill -9` of the
director itself, then `director sweep resume`; and, on a shared store, a job another host held.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

import director.session
import director.sweep
from devices.inventory import load_inventory
from director.store import open_store
from director.sweep import DeviceStatus, SweepRunner, queue_sweep
from director.sweepspec import load_sweep_spec
from power.simulators.load import ProcessLoad
from power.simulators.serve import Link, PtyServer, build
from tests.director.commandline import make_director, one_error
from tests.director.sweepboards import (IDLE_W, LOAD_W, LOCAL_BENCH, SweepBoard, known_hosts, sweep_toml, two_boards,
                                        write_inventory)


@pytest.fixture(scope="module")
def boards(tmp_path_factory) -> Iterator[List[SweepBoard]]:
    """Two boards for the module."""
    with two_boards(tmp_path_factory.mktemp("fault_boards")) as found:
        yield found


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(director.sweep, "BACKOFF_S", (0.2, 0.2, 0.2))
    monkeypatch.setattr(director.session, "REBOOT_POLL_S", 0.2)


class Bench:
    """A sweep spec, inventory and store in one folder, run in this process with a fault hook."""

    def __init__(self, tmp: Path, boards: List[SweepBoard], analyzers: List[str] = ()) -> None:
        self.tmp = tmp
        self.inventory = str(write_inventory(tmp / "devices.toml", boards, analyzers))
        self.known_hosts = str(known_hosts(tmp / "known_hosts", boards))
        self.store = open_store(str(tmp / "results" / "results.db"))

    def run(self, toml: str, hook: Optional[Callable[[DeviceStatus], None]] = None) -> str:
        path = self.tmp / "sweep.toml"
        path.write_text(toml)
        spec = load_sweep_spec(str(path), load_inventory(self.inventory))
        sweep_id = queue_sweep(self.store, spec, str(self.tmp / "results"))
        SweepRunner(self.store, sweep_id, inventory=self.inventory, known_hosts=self.known_hosts,
                    on_status=hook).run()
        return sweep_id

    def attempts(self, sweep_id: str) -> List[dict]:
        return self.store.attempts(sweep_id)


def once_at(phase: str, action: Callable[[DeviceStatus], None], attempt: int = 1,
            detail: str = "run_1: loadgen") -> Callable[[DeviceStatus], None]:
    """A status hook that runs action the first time any job's attempt `attempt` reaches phase and a
    progress detail holding `detail` (by default: the testing pass's LoadGen test has begun)."""
    fired = threading.Event()

    def hook(status: DeviceStatus) -> None:
        if status.phase == phase and status.attempt == attempt and detail in status.detail and not fired.is_set():
            fired.set()
            action(status)

    hook.fired = fired  # type: ignore[attr-defined]
    return hook


def test_an_ssh_drop_mid_pass_is_survived_without_a_retry(tmp_path, boards):
    board = boards[0]
    bench = Bench(tmp_path, boards)

    def cut(status: DeviceStatus) -> None:
        time.sleep(0.3)
        for proc in board.sshd.connection_processes():
            proc.kill()

    hook = once_at("run_1", cut)
    sweep_id = bench.run(sweep_toml("drop", ["board1"], min_duration_ms=2000), hook)
    assert hook.fired.is_set()
    (job,) = bench.store.jobs(sweep_id)
    assert job.state == "done" and job.attempts == 1, job.reason
    record = json.loads((Path(job.folder) / "run.json").read_text())
    assert record["status"] == "ok"


def test_an_analyzer_unplugged_mid_pass_is_retried_and_the_gap_is_kept(tmp_path, boards):
    board = boards[0]
    port = tmp_path / "ttyWT"
    meter = build("WT310E", load_w=IDLE_W, cpu_coupled=True, cpu_load_w=LOAD_W, update_s=0.1,
                  utilisation=ProcessLoad(str(board.sshd.home)))
    server = PtyServer(Link(meter, baud=57600), str(port)).start()
    try:
        analyzer = f'[analyzers.board1_wt]\nmodel = "WT310E"\nurl = "{port}"\nbaudrate = 57600\n'
        bench = Bench(tmp_path, boards, [analyzer])
        hook = once_at("run_1", lambda status: (time.sleep(0.3), server.vanish(1.5)))
        sweep_id = bench.run(sweep_toml("unplug", ["board1"], min_duration_ms=2500), hook)
    finally:
        server.stop()
    (job,) = bench.store.jobs(sweep_id)
    assert job.state == "done" and job.attempts == 2
    first, second = bench.attempts(sweep_id)
    assert first["outcome"] == "transient" and "checks failed" in first["reason"], first
    assert second["outcome"] == "done"
    # The first attempt's measurement, gap included, stays on disk beside the second's.
    kept = json.loads((Path(first["folder"]) / "run.json").read_text())
    assert kept["status"] == "checks_failed"
    assert any(c["status"] == "fail" and "gap" in c["reason"] for c in kept["checks"]), kept["checks"]
    assert first["folder"] != second["folder"] and (Path(first["folder"]) / "samples.csv").stat().st_size > 0


def test_a_board_that_reboots_on_its_own_is_noticed_and_the_job_retried(tmp_path, boards):
    board = boards[1]
    bench = Bench(tmp_path, boards)
    hook = once_at("run_1", lambda status: (time.sleep(0.3), board.reboot_behind_our_back()), attempt=1)
    toml = sweep_toml("reboot", ["board2"], repeats=2, min_duration_ms=2000)
    fired_on: List[str] = []

    def on_status(status: DeviceStatus) -> None:
        # The second job: the first one sets the boot_id the director remembers.
        if status.key and status.key.endswith("/r2"):
            if status.phase == "run_1" and "run_1: loadgen" in status.detail and not fired_on:
                fired_on.append(status.key)
                hook(status)

    sweep_id = bench.run(toml, on_status)
    jobs = {j.key: j for j in bench.store.jobs(sweep_id)}
    assert fired_on and all(j.state == "done" for j in jobs.values())
    attempts = bench.attempts(sweep_id)
    failed = [a for a in attempts if a["outcome"] == "transient"]
    assert len(failed) == 1 and failed[0]["key"] == fired_on[0]
    assert "the board rebooted: boot_id" in failed[0]["reason"], failed[0]["reason"]


def test_a_corrupt_model_fails_its_jobs_once_not_once_each(tmp_path, boards):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x01garbage" * 64)
    bench = Bench(tmp_path, boards)
    toml = sweep_toml("corrupt", ["board1"], ("tiny_float_b1.onnx",), ("SingleStream", "Offline"), repeats=2)
    toml += f'\n[models.corrupt]\npath = "{corrupt}"\n'
    sweep_id = bench.run(toml)
    jobs = bench.store.jobs(sweep_id)
    bad = [j for j in jobs if "/corrupt/" in j.key]
    good = [j for j in jobs if "/corrupt/" not in j.key]
    assert len(bad) == 4 and len(good) == 4
    assert all(j.state == "done" for j in good)
    assert all(j.state == "failed" for j in bad)
    tried = [j for j in bad if j.attempts]
    assert len(tried) == 1  # one attempt for the whole cause
    assert "cannot load ONNX model" in tried[0].reason
    for job in bad:
        if job is not tried[0]:
            assert job.attempts == 0 and job.reason.startswith(f"same cause as {tried[0].key}: ")


def test_a_job_past_its_watchdog_is_cancelled_on_the_board_and_retried(tmp_path, boards):
    board = boards[0]
    bench = Bench(tmp_path, boards)
    toml = sweep_toml("watchdog", ["board1"], min_duration_ms=60000, extra="job_timeout_s = 8\nmax_attempts = 2")
    started = time.monotonic()
    sweep_id = bench.run(toml)
    assert time.monotonic() - started < 40
    (job,) = bench.store.jobs(sweep_id)
    assert job.state == "failed" and job.attempts == 2
    assert job.reason == "watchdog: the job ran past 8 s (after 2 attempts)"
    time.sleep(0.5)
    assert [p for p in board.agent_processes() if "run" in p.cmdline()] == []  # no pass left on the board


def test_kill_9_of_the_director_then_resume_does_every_job_exactly_once(tmp_path, boards):
    inventory = write_inventory(tmp_path / "devices.toml", boards)
    hosts = known_hosts(tmp_path / "known_hosts", boards)
    spec = tmp_path / "sweep.toml"
    spec.write_text(sweep_toml("crash", ["board1", "board2"], repeats=2, min_duration_ms=4000))
    director_ = make_director(tmp_path)
    common = ("--inventory", inventory, "--known-hosts", hosts)
    results = tmp_path / "results"
    proc = director_.start(*common, "sweep", "run", spec, "--results", results)
    db = results / "results.db"
    victim = wait_for_testing_pass(db, after_done=1, timeout_s=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    store = open_store(str(db))
    (sweep,) = store.sweeps()
    interrupted = next(j for j in store.jobs(sweep.sweep_id) if j.key == victim)
    assert interrupted.state == "running"  # as the dead director left it
    resumed = director_(*common, "sweep", "resume", "--results", results, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    jobs = store.jobs(sweep.sweep_id)
    assert {j.state for j in jobs} == {"done"} and len(jobs) == 4
    attempts = store.attempts(sweep.sweep_id)
    done = Counter(a["key"] for a in attempts if a["outcome"] == "done")
    assert sorted(done.values()) == [1, 1, 1, 1]
    # Both boards were busy when the director died: each job it left running went back to the queue once.
    interrupted = [a for a in attempts if a["outcome"] == "interrupted"]
    assert 1 <= len(interrupted) <= 2 and len({a["key"] for a in interrupted}) == len(interrupted)
    (lost,) = [a for a in interrupted if a["key"] == victim]
    assert lost["folder"] and lost["reason"].startswith("the director stopped during this attempt")
    # What the killed attempt had measured is still on disk, and its retry measured anew elsewhere.
    assert (Path(lost["folder"]) / "samples.csv").stat().st_size > 0
    assert json.loads((Path(lost["folder"]) / "run.json").read_text())["status"] == "interrupted"
    retry = next(a for a in attempts if a["key"] == victim and a["outcome"] == "done")
    assert retry["folder"] != lost["folder"] and (Path(retry["folder"]) / "run.json").exists()
    assert "Traceback" not in resumed.stderr


def wait_for_testing_pass(db: Path, after_done: int, timeout_s: float) -> str:
    """The key of a job that began its testing pass after after_done jobs were done, once it is 1 s into
    it (read straight from SQLite, as another process would)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    ended = [r[0] for r in conn.execute("SELECT ended_ns FROM attempts WHERE outcome = 'done' "
                                                        "ORDER BY ended_ns")]
                    row = None
                    if len(ended) >= after_done:
                        row = conn.execute("SELECT key FROM attempts WHERE outcome = 'running' AND phase = 'run_1' "
                                           "AND started_ns > ?", (ended[after_done - 1],)).fetchone()
            except sqlite3.Error:
                row = None
            if row:
                time.sleep(1.0)  # inside the pass: samples on disk, the device mid-LoadGen
                return row[0]
        time.sleep(0.05)
    raise AssertionError("no job reached its testing pass in time")


def test_a_power_mode_the_board_lacks_is_refused_before_anything_runs(tmp_path, boards):
    inventory = write_inventory(tmp_path / "devices.toml", boards)
    hosts = known_hosts(tmp_path / "known_hosts", boards)
    spec = tmp_path / "sweep.toml"
    spec.write_text(sweep_toml("modes", ["board1"], power_modes=("15W", "3W")))
    line = next(i for i, text in enumerate(spec.read_text().splitlines(), 1) if text.startswith("power_modes"))
    results = tmp_path / "results"
    proc = make_director(tmp_path)("--inventory", inventory, "--known-hosts", hosts, "sweep", "run", spec,
                                   "--results", results)
    message = one_error(proc, 2)
    assert message == (f"{spec}:{line}: board1 has no power mode '3W' "
                       "(board modes: 15W, 25W, 7W, MAXN_SUPER)"), message
    assert not (results / "results.db").exists() or open_store(str(results / "results.db")).sweeps() == []



def test_an_analyzer_bound_to_two_boards_measures_one_job_at_a_time(tmp_path, boards):
    port = tmp_path / "ttyShared"
    meter = build("WT310E", load_w=IDLE_W, cpu_coupled=True, cpu_load_w=LOAD_W, update_s=0.1)
    server = PtyServer(Link(meter, baud=57600), str(port)).start()
    try:
        shared = f'[analyzers.shared]\nmodel = "WT310E"\nurl = "{port}"\nbaudrate = 57600\n'
        bench = Bench(tmp_path, boards, [shared, "[analyzers.board1_wt]\nmodel = \"WT310E\"\nurl = \"sim:cpu\"\n",
                                         "[analyzers.board2_wt]\nmodel = \"WT310E\"\nurl = \"sim:cpu\"\n"])
        inventory = Path(bench.inventory)
        inventory.write_text(inventory.read_text().replace('analyzer = "board1_wt"', 'analyzer = "shared"')
                             .replace('analyzer = "board2_wt"', 'analyzer = "shared"'))
        sweep_id = bench.run(sweep_toml("shared", ["board1", "board2"], repeats=2))
    finally:
        server.stop()
    assert {j.state for j in bench.store.jobs(sweep_id)} == {"done"}
    spans = sorted((a["started_ns"], a["ended_ns"], a["key"]) for a in bench.attempts(sweep_id))
    assert len(spans) == 4 and {key.split("/")[0] for _, _, key in spans} == {"board1", "board2"}
    # Each device's worker claimed its job at once, but the meter was read by one session at a time:
    # every run's samples lie outside every other run's.
    windows = []
    for job in bench.store.jobs(sweep_id):
        samples = Path(job.folder, "samples.csv").read_text().splitlines()[1:]
        windows.append((int(samples[0].split(",")[0]), int(samples[-1].split(",")[0])))
    windows.sort()
    assert all(earlier[1] < later[0] for earlier, later in zip(windows, windows[1:])), windows


def test_a_job_another_host_holds_is_taken_over_only_when_its_lease_runs_out(tmp_path):
    """On a shared store the runner leaves a live lease of another host alone, and takes the job over once it lapses."""
    inventory = tmp_path / "devices.toml"
    inventory.write_text(LOCAL_BENCH)
    (tmp_path / "sweep.toml").write_text(sweep_toml("shared", ["local"], repeats=2))
    store = open_store(str(tmp_path / "results" / "results.db"))
    spec = load_sweep_spec(str(tmp_path / "sweep.toml"), load_inventory(str(inventory)))
    sweep_id = queue_sweep(store, spec, str(tmp_path / "results"))
    held = store.claim(sweep_id, "local", "otherhost:4242", lease_s=3.0)
    (expires_ns,) = [j.lease_expires_ns for j in store.jobs(sweep_id) if j.key == held.key]
    assert SweepRunner(store, sweep_id, inventory=str(inventory)).run()["done"] == 2
    lost, done = store.attempts(sweep_id, held.key)
    assert (lost["owner"], lost["outcome"], done["outcome"], done["attempt"]) == ("otherhost:4242", "lost", "done", 2)
    assert done["owner"].startswith(f"{socket.gethostname()}:") and done["started_ns"] >= expires_ns
