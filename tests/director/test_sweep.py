"""A whole sweep end to end: 2 boards × 2 models × 2 scenarios × 2 power modes × 2 repeats, then its report.

The boards are real sshd instances on loopback with fake Jetson trees (7W needs a reboot), each with
its own simulated WT310E on a pty; the director is the real command, run as a user runs it.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Iterator, List

import pytest

from director.store import open_store
from tests.director.commandline import make_director
from tests.director.sweepboards import SweepBoard, known_hosts, sweep_toml, two_boards, write_inventory

MODELS = ("tiny_float_b1.onnx", "tiny_int8.tflite")


@pytest.fixture(scope="module")
def boards(tmp_path_factory) -> Iterator[List[SweepBoard]]:
    """Two boards for the module."""
    with two_boards(tmp_path_factory.mktemp("sweep_boards")) as found:
        yield found


@pytest.fixture(scope="module")
def full_sweep(boards, tmp_path_factory):
    """The 32-job sweep run once through `director sweep run`, then `director report`."""
    tmp = tmp_path_factory.mktemp("full_sweep")
    inventory = write_inventory(tmp / "devices.toml", boards)
    hosts = known_hosts(tmp / "known_hosts", boards)
    spec = tmp / "sweep.toml"
    spec.write_text(sweep_toml("full", ["board1", "board2"], MODELS, ("SingleStream", "Offline"), ("15W", "7W"),
                               repeats=2))
    director = make_director(tmp)
    common = ("--inventory", inventory, "--known-hosts", hosts)
    plan = director(*common, "sweep", "plan", spec)
    run = director(*common, "sweep", "run", spec, "--results", tmp / "results", timeout=900)
    report = director(*common, "report", "full", "--results", tmp / "results")
    return tmp, plan, run, report


def test_the_plan_lists_every_job_before_anything_runs(full_sweep):
    _, plan, _, _ = full_sweep
    assert plan.returncode == 0, plan.stderr
    assert "32 jobs" in plan.stdout
    assert plan.stdout.count("board1/") == 16 and plan.stdout.count("board2/") == 16


def test_every_job_is_done_exactly_once(full_sweep, boards):
    tmp, _, run, _ = full_sweep
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    store = open_store(str(tmp / "results" / "results.db"))
    (sweep,) = store.sweeps()
    assert sweep.state == "finished" and run.stdout.startswith(f"sweep {sweep.sweep_id} finished: 32 jobs: 32 done")
    jobs = store.jobs(sweep.sweep_id)
    assert len(jobs) == 32 and {j.state for j in jobs} == {"done"}
    done = Counter(a["key"] for a in store.attempts(sweep.sweep_id) if a["outcome"] == "done")
    assert set(done.values()) == {1} and len(done) == 32
    # Every job's run is on disk and in the database, measured in the mode, scenario and model it asked for.
    for job in jobs:
        record = json.loads((Path(job.folder) / "run.json").read_text())
        assert record["status"] == "ok", (job.key, record.get("reason"), record["checks"])
        assert record["power_mode"] == job.job["power_mode"] and record["scenario"] == job.job["scenario"]
        assert record["device"]["name"] == job.device
        assert Path(record["model"]["path"]).name in MODELS and job.job["model_path"] == record["model"]["path"]
        assert store.get(job.run_id).status == "ok"
    # The reboot-needing mode was set with a reboot and verified; the board ended in the mode of its last job.
    for board in boards:
        calls = board.fake.calls()
        assert calls.count("nvpmodel -m 3") >= 2 and any(c.startswith("reboot") for c in calls)


def test_interleaved_order_spreads_repeats_and_groups_modes(full_sweep):
    tmp, _, _, _ = full_sweep
    store = open_store(str(tmp / "results" / "results.db"))
    (sweep,) = store.sweeps()
    # The order the runner took the jobs in: their first attempts (a retry comes back later, after its back-off).
    attempts = [a for a in store.attempts(sweep.sweep_id) if a["key"].startswith("board1/") and a["attempt"] == 1]
    order = [a["key"] for a in sorted(attempts, key=lambda a: a["started_ns"])]
    repeats = [key.rsplit("/", 1)[1] for key in order]
    assert repeats == ["r1"] * 8 + ["r2"] * 8  # every case once before any case twice
    modes = [key.split("/")[5] for key in order]
    assert modes[:8] in (["15W"] * 4 + ["7W"] * 4, ["7W"] * 4 + ["15W"] * 4)


def test_the_report_shows_every_case_with_its_repeats(full_sweep):
    tmp, _, _, report = full_sweep
    assert report.returncode == 0, report.stderr
    folder = tmp / "results"
    (html,) = folder.glob("full-*/report/report.html")
    assert report.stdout.strip().endswith(f"report in {html} (also {html.parent / 'report.csv'}, "
                                          f"{html.parent / 'report.json'})")
    data = json.loads((html.parent / "report.json").read_text())
    assert len(data["jobs"]) == 32 and {j["state"] for j in data["jobs"]} == {"done"}
    cases = data["cases"]
    assert len(cases) == 16
    for case in cases:  # every case: its 2 repeats behind each figure
        performance = case["figures"][case["performance_figure"]]
        assert performance["n"] == 2 and case["jobs"] == {"done": 2}
    # A figure is the median of its runs' own figures, from their run.json files.
    case = next(c for c in cases if c["scenario"] == "SingleStream")
    store = open_store(str(folder / "results.db"))
    per_query = sorted(store.get(run_id).get("energy_per_query_mj") for run_id in case["runs"])
    assert case["figures"]["energy_per_query_mj"]["median"] == pytest.approx(sum(per_query) / 2, rel=1e-12)
    with open(html.parent / "report.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {row["case"] for row in rows} == {c["case"] for c in cases}
    assert {row["n"] for row in rows} == {"2"}
    text = html.read_text()
    for board in ("board1", "board2"):
        assert board in text
    for mode in ("15W", "7W"):
        assert mode in text
    assert text.count("data:image/png;base64,") >= 5
