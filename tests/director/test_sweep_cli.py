"""Steering a sweep from another terminal, as a lab engineer does: status, pause, resume, cancel, retry-failed.

The sweeps run on the built-in `local` device with a simulated analyzer, through the real `director`
command in subprocesses; the steering commands are separate processes reading the same database.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from director.store import open_store
from tests.director.commandline import Director, make_director, one_error
from tests.director.sweepboards import LOCAL_BENCH, sweep_toml


@pytest.fixture
def lab(tmp_path):
    """A director, an inventory and a results folder."""
    inventory = tmp_path / "devices.toml"
    inventory.write_text(LOCAL_BENCH)
    return make_director(tmp_path), inventory, tmp_path / "results"


@pytest.fixture
def background(lab) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start `director ...` in the background; whatever is still running at the end is killed."""
    director, _, _ = lab
    started: List[subprocess.Popen] = []

    def start(*args) -> subprocess.Popen:
        started.append(director.start(*args))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def spec(tmp: Path, name: str, repeats: int, min_duration_ms: int = 1500, models=("tiny_float_b1.onnx",)) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(sweep_toml(name, ["local"], models, repeats=repeats, min_duration_ms=min_duration_ms))
    return path


def wait_until(db: Path, query: str, test: Callable[[list], bool], timeout_s: float = 60.0) -> list:
    """Poll the sweep database (as another process would) until test(rows) holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    rows = conn.execute(query).fetchall()
                if test(rows):
                    return rows
            except sqlite3.Error:
                pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {query}")


def steer(director: Director, inventory: Path, results: Path, *args) -> subprocess.CompletedProcess:
    return director("--inventory", inventory, "sweep", *args, "--results", results)


def test_pause_holds_new_jobs_and_resume_from_another_terminal_goes_on(lab, background, tmp_path):
    director, inventory, results = lab
    runner = background("--inventory", inventory, "sweep", "run", spec(tmp_path, "pz", 3), "--results", results)
    db = results / "results.db"
    wait_until(db, "SELECT key FROM attempts WHERE outcome = 'running'", bool)
    paused = steer(director, inventory, results, "pause", "pz")
    assert paused.returncode == 0 and paused.stdout.startswith("sweep pz-") and " paused: " in paused.stdout
    # The running job finishes; no other starts while paused.
    wait_until(db, "SELECT COUNT(*) FROM jobs WHERE state = 'done'", lambda rows: rows[0][0] == 1)
    time.sleep(2.0)
    status = steer(director, inventory, results, "status", "pz", "--json")
    data = json.loads(status.stdout)
    assert data["state"] == "paused" and data["counts"]["done"] == 1 and data["counts"]["pending"] == 2
    assert data["counts"]["running"] == 0 and runner.poll() is None  # still attached, waiting
    text = steer(director, inventory, results, "status", "pz").stdout
    assert text.splitlines()[0].startswith("sweep pz-") and ": paused (paused by the user)" in text.splitlines()[0]
    assert "3 jobs: 1 done, 2 pending; eta " in text
    resumed = steer(director, inventory, results, "resume", "pz")
    assert resumed.returncode == 0 and "already being run by another director" in resumed.stderr
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, out + err
    assert out.strip().endswith(f"finished: 3 jobs: 3 done; results in {results.resolve()}/" +
                                out.split("sweep ", 1)[1].split()[0])
    store = open_store(str(db))
    (sweep,) = store.sweeps()
    assert [a["outcome"] for a in store.attempts(sweep.sweep_id)] == ["done"] * 3


def test_cancel_stops_the_running_job_and_cancels_the_rest(lab, background, tmp_path):
    director, inventory, results = lab
    runner = background("--inventory", inventory, "sweep", "run", spec(tmp_path, "cx", 3, 20000),
                            "--results", results)
    db = results / "results.db"
    wait_until(db, "SELECT key FROM attempts WHERE outcome = 'running' AND phase = 'run_1'", bool)
    cancelled = steer(director, inventory, results, "cancel", "cx")
    assert cancelled.returncode == 0 and "2 pending jobs cancelled" in cancelled.stdout
    out, err = runner.communicate(timeout=60)  # a 20 s pass, stopped at once
    assert runner.returncode == 1, out + err
    assert "cancelled (cancelled by the user): 3 jobs: 3 cancelled" in out
    store = open_store(str(db))
    (sweep,) = store.sweeps()
    (attempt,) = store.attempts(sweep.sweep_id)
    assert attempt["outcome"] == "cancelled" and attempt["reason"] == "sweep cancelled"
    run = json.loads((Path(attempt["folder"]) / "run.json").read_text())
    assert run["status"] == "cancelled" and (Path(attempt["folder"]) / "samples.csv").stat().st_size > 0


def test_retry_failed_puts_failed_jobs_back_and_resume_runs_them(lab, tmp_path):
    director, inventory, results = lab
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x01garbage" * 64)
    path = spec(tmp_path, "rf", 2)
    path.write_text(path.read_text() + f'\n[models.corrupt]\npath = "{corrupt}"\n')
    first = director("--inventory", inventory, "sweep", "run", path, "--results", results, timeout=180)
    assert first.returncode == 3, first.stdout + first.stderr
    assert "finished: 4 jobs: 2 done, 2 failed" in first.stdout
    status = steer(director, inventory, results, "status", "rf").stdout
    assert "failed: local/corrupt/auto/t-/SingleStream/-/r1 after 1 attempt(s): run_1 pass failed on the device: " \
           "cannot load ONNX model" in status
    assert "failed: local/corrupt/auto/t-/SingleStream/-/r2 after 0 attempt(s): same cause as " \
           "local/corrupt/auto/t-/SingleStream/-/r1: " in status
    retried = steer(director, inventory, results, "retry-failed", "rf")
    assert retried.returncode == 0 and ": 2 failed jobs back in the queue" in retried.stdout
    again = director("--inventory", inventory, "sweep", "resume", "rf", "--results", results, timeout=180)
    assert again.returncode == 3 and "finished: 4 jobs: 2 done, 2 failed" in again.stdout
    store = open_store(str(results / "results.db"))
    (sweep,) = store.sweeps()
    tries = [a for a in store.attempts(sweep.sweep_id) if "/corrupt/" in a["key"]]
    assert [a["outcome"] for a in tries] == ["permanent", "permanent"]  # once per cause, each time


def test_steering_a_sweep_that_does_not_exist_is_one_line(lab):
    director, inventory, results = lab
    results.mkdir()
    proc = steer(director, inventory, results, "status", "nope")
    assert one_error(proc, 2) == f"no sweep 'nope' in {results / 'results.db'}"
    proc = steer(director, inventory, results, "resume")
    assert one_error(proc, 2) == (f"no unfinished sweep in {results / 'results.db'}; "
                                  "give one: director sweep resume SWEEP")
    proc = director("--inventory", inventory, "sweep", "plan", results / "absent.toml")
    assert one_error(proc, 2) == f"sweep spec not found: {results / 'absent.toml'}"


def test_a_sweep_runs_on_a_postgresql_store_and_status_and_report_read_it_there(lab, pg_server, tmp_path):
    director, inventory, results = lab
    url = pg_server.create_database()
    submitted = director("--inventory", inventory, "sweep", "submit", spec(tmp_path, "pg", 2, 1000), "--results",
                         results, "--db", url)
    assert submitted.returncode == 0 and " 2 jobs queued in " in submitted.stdout, submitted.stdout + submitted.stderr
    queued = director("--inventory", inventory, "sweep", "status", "pg", "--db", url, "--json")
    assert json.loads(queued.stdout)["counts"]["pending"] == 2
    run = director("--inventory", inventory, "sweep", "resume", "pg", "--results", results, "--db", url, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "finished: 2 jobs: 2 done" in run.stdout and not (results / "results.db").exists()
    status = director("--inventory", inventory, "sweep", "status", "pg", "--db", url, "--json")
    assert json.loads(status.stdout)["counts"]["done"] == 2
    report = director("report", "pg", "--results", results, "--db", url)
    assert report.returncode == 0 and "2 done" in report.stdout, report.stdout + report.stderr
    store = open_store(url)
    (sweep,) = store.sweeps()
    jobs = store.jobs(sweep.sweep_id)
    assert [a["outcome"] for a in store.attempts(sweep.sweep_id)] == ["done", "done"]
    assert {store.get(j.run_id).status for j in jobs} == {"ok"} and all(j.lease_owner is None for j in jobs)
    recorded = json.loads((Path(jobs[0].folder) / "run.json").read_text())["spec"]["database"]
    assert recorded == url  # no password in this URL; one would read *** there
