"""Several bench hosts on one shared store: `director worker --bench NAME` on three simulated hosts.

Each "host" is a process tree with its own HOME, devices.toml (one board of kind local, measured by
its own simulated analyzer, tagged `sim`) and results folder. A sweep submitted to the store asks for
six jobs on any board tagged `sim`. One host is killed (SIGKILL, its whole process tree) while it
measures; once its lease runs out, another host takes its job over. Every job is done exactly once,
and the report is written from the store alone, on a host that holds none of the run folders. The
same test runs on PostgreSQL and on SQLite.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
import time
from pathlib import Path
from typing import Dict, List

import psutil
import pytest

from director.store import open_store
from director.sweep_status import format_status, sweep_status
from tests.director.commandline import Director, make_director, one_error
from tests.director.sweepboards import IDLE_W, LOAD_W, sweep_toml
from tests.pgserver import start_pg

HOSTS = ("bench-a", "bench-b", "bench-c")
JOBS = 6
LEASE_S = 4.0


def host_inventory(tmp: Path, host: str) -> Path:
    path = tmp / host / "devices.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""
[analyzers.wt]
model = "WT310E"
url = "sim:cpu"
options = {{ idle_w = {IDLE_W}, load_w = {LOAD_W} }}

[devices.{host}-board]
kind = "local"
analyzer = "wt"
tags = ["sim", "{host}"]
""")
    return path


def pool_spec(tmp: Path, name: str, tag: str = "sim", jobs: int = JOBS) -> Path:
    """A sweep of `jobs` jobs on the pool of boards tagged `tag`."""
    text = sweep_toml(name, ["sims"], repeats=jobs).replace("[devices.sims]\n", f'[devices.sims]\ntag = "{tag}"\n')
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


class Host:
    """One simulated bench host: a director with its own HOME, inventory and results; its worker process."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.name = name
        self.director: Director = make_director(tmp / name)
        self.inventory = host_inventory(tmp, name)
        self.results = tmp / name / "results"
        self.log = tmp / name / "worker.out"
        self.proc: subprocess.Popen = None  # type: ignore[assignment]

    def start_worker(self, url: str) -> None:
        argv = self.director.argv(["--inventory", self.inventory, "worker", "--bench", self.name, "--db", url,
                                   "--results", self.results, "--lease", LEASE_S, "--poll", 0.5, "--until-idle"])
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(argv, cwd=self.director.cwd, env=self.director.env(), stdout=out,
                                         stderr=subprocess.STDOUT, text=True)

    def kill_tree(self) -> None:
        """What a host that lost power looks like to the others: its worker and everything it started, gone."""
        parent = psutil.Process(self.proc.pid)
        for proc in parent.children(recursive=True) + [parent]:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def hosts(tmp_path):
    made = [Host(tmp_path, name) for name in HOSTS]
    yield made
    for host in made:
        if host.proc is not None and host.proc.poll() is None:
            host.kill_tree()


def wait_for(what: str, test, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_bench_hosts_serve_one_sweep_and_a_killed_hosts_job_is_done_once_by_another(hosts, store_url, tmp_path):
    first = hosts[0]
    submitted = first.director("--inventory", first.inventory, "sweep", "submit", pool_spec(tmp_path, "pool"),
                               "--store", store_url)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert f"{JOBS} jobs queued in " in submitted.stdout
    store = open_store(store_url)
    (sweep,) = store.sweeps()
    for host in hosts:
        host.start_worker(store_url)

    def victim_measuring():  # a job bench-a holds, in its testing pass
        return [j for j in store.jobs(sweep.sweep_id) if j.state == "running"
                and (j.lease_owner or "").startswith("bench-a@") and j.phase == "run_1"]

    (held,) = wait_for("bench-a measuring a job", victim_measuring)
    hosts[0].kill_tree()
    killed_at = time.monotonic()
    for host in hosts[1:]:
        host.proc.wait(timeout=240)
        assert host.proc.returncode == 0, host.output()
        assert " run; no active sweep has work for its boards" in host.output()
    jobs = store.jobs(sweep.sweep_id)
    attempts = store.attempts(sweep.sweep_id)
    assert store.counts(sweep.sweep_id)["done"] == JOBS
    assert store.sweep(sweep.sweep_id).state == "finished"
    done: Dict[str, List[dict]] = {}
    for attempt in attempts:
        if attempt["outcome"] == "done":
            done.setdefault(attempt["key"], []).append(attempt)
    assert sorted(done) == sorted(j.key for j in jobs) and all(len(v) == 1 for v in done.values())
    # The killed host's attempt is counted lost and named; a surviving host finished the job.
    (lost,) = [a for a in attempts if a["outcome"] == "lost"]
    assert lost["key"] == held.key and lost["board"] == "bench-a-board"
    assert lost["reason"].startswith(f"worker {held.lease_owner} stopped renewing its lease; taken over by bench-")
    (retry,) = done[held.key]
    assert retry["attempt"] == 2 and retry["board"] in ("bench-b-board", "bench-c-board")
    assert (retry["started_ns"] - lost["started_ns"]) / 1e9 >= LEASE_S
    assert time.monotonic() - killed_at < 200
    # One run row per job, the one of its done attempt, with its host and folder; the folder is on that host.
    runs = store.runs_of([j.run_id for j in jobs])
    assert sorted(r.run_id for r in runs) == sorted(a["run_id"] for v in done.values() for a in v)
    for job in jobs:
        board = done[job.key][0]["board"]
        assert job.board == board and job.folder.startswith(str(tmp_path / board.replace("-board", "") / "results"))
        assert (Path(job.folder) / "run.json").is_file()
    assert {r.summary["report"]["status"] for r in runs} == {"ok"}
    # bench-a served jobs too before it died; every host's board ran something.
    assert {a["board"] for a in attempts} == {f"{h}-board" for h in HOSTS}
    # status and report from a host that holds no run folder and knows none of the boards.
    elsewhere = make_director(tmp_path / "office")
    status = elsewhere("sweep", "status", "pool", "--store", store_url, "--json")
    shown = json.loads(status.stdout)
    assert shown["counts"]["done"] == JOBS, status.stderr
    assert sorted(place.split(" on ")[1].split("@")[0] for place in shown["places"]) == list(HOSTS)
    assert all(place.startswith(str(tmp_path / place.split(" on ")[1].split("@")[0] / "results" / sweep.sweep_id))
               for place in shown["places"])
    for host in hosts:  # the folders are out of reach: the report reads the store only
        host.results.rename(host.results.with_name("results.away"))
    out = tmp_path / "office" / "report"
    report = elsewhere("report", "pool", "--store", store_url, "--out", out)
    assert report.returncode == 0, report.stdout + report.stderr
    data = json.loads((out / "report.json").read_text())
    (case,) = data["cases"]
    assert case["figures"]["energy_per_query_mj"]["n"] == JOBS
    assert all(j["figures"]["energy_per_query_mj"] > 0 and j["host"] for j in data["jobs"])
    assert "is missing" in (out / "report.html").read_text()  # the trace is the one thing that needs the files
    store.close()


def test_a_frozen_host_that_wakes_after_losing_its_job_records_nothing(hosts, store_url, tmp_path):
    """bench-a is frozen (SIGSTOP, its whole tree) past its lease, then thawed: its attempt was taken over
    meanwhile, so when it wakes it learns so from its heartbeat, stops, and writes no run row and no state."""
    first = hosts[0]
    submitted = first.director("--inventory", first.inventory, "sweep", "submit", pool_spec(tmp_path, "frozen"),
                               "--store", store_url)
    assert submitted.returncode == 0, submitted.stderr
    store = open_store(store_url)
    (sweep,) = store.sweeps()
    for host in hosts:
        host.start_worker(store_url)

    def victim_measuring():
        return [j for j in store.jobs(sweep.sweep_id) if j.state == "running"
                and (j.lease_owner or "").startswith("bench-a@") and j.phase == "run_1"]

    (held,) = wait_for("bench-a measuring a job", victim_measuring)
    tree = [psutil.Process(first.proc.pid)] + psutil.Process(first.proc.pid).children(recursive=True)
    for proc in tree:
        proc.suspend()
    # Status, from the store: the job, the board running it and the worker holding its lease.
    status = sweep_status(store, sweep.sweep_id)
    (line,) = [line for line in status.devices if line.key == held.key]
    assert (line.device, line.board, line.owner) == ("sims", "bench-a-board", held.lease_owner)
    assert f"(attempt 1 on bench-a-board by {held.lease_owner}; " in format_status(status)
    wait_for("the job taken over", lambda: [a for a in store.attempts(sweep.sweep_id, held.key) if a["outcome"] == "lost"],
             timeout_s=60)
    for proc in tree:
        proc.resume()
    for host in hosts:
        host.proc.wait(timeout=240)
        assert host.proc.returncode == 0, host.output()
    (lost,) = [a for a in store.attempts(sweep.sweep_id) if a["outcome"] == "lost"]
    assert lost["owner"].startswith("bench-a@") and lost["run_id"]
    jobs = store.jobs(sweep.sweep_id)
    assert store.counts(sweep.sweep_id)["done"] == JOBS
    runs = store.runs_of([lost["run_id"]] + [j.run_id for j in jobs])
    assert lost["run_id"] not in {r.run_id for r in runs} and len(runs) == JOBS
    log = (first.results / "worker-bench-a.log").read_text()
    assert f"{held.key} attempt 1: " in log and "not recorded: another worker took the job over" in log
    store.close()


def test_a_worker_serves_only_its_bench_and_its_boards(hosts, tmp_path):
    """A sweep routed to bench-b (bench = "bench-b"): bench-a's worker, whose board carries the tag too,
    finds nothing to do; bench-b's runs every job. (Routing on both engines: test_store.py.)"""
    first, second = hosts[0], hosts[1]
    store_url = f"sqlite:///{tmp_path / 'routed.db'}"
    spec = pool_spec(tmp_path, "routed", jobs=2)
    spec.write_text(spec.read_text().replace('[sweep]\nname = "routed"', '[sweep]\nname = "routed"\nbench = "bench-b"'))
    submitted = first.director("--inventory", first.inventory, "sweep", "submit", spec, "--store", store_url)
    assert submitted.returncode == 0, submitted.stderr
    idle = first.director("--inventory", first.inventory, "worker", "--bench", "bench-a", "--store", store_url,
                          "--results", first.results, "--until-idle", timeout=60)
    assert idle.returncode == 0 and "worker bench-a: 0 attempts run" in idle.stdout, idle.stdout + idle.stderr
    served = second.director("--inventory", second.inventory, "worker", "--bench", "bench-b", "--store", store_url,
                             "--results", second.results, "--until-idle", timeout=240)
    assert served.returncode == 0 and "worker bench-b: 2 attempts run" in served.stdout, served.stderr
    store = open_store(store_url)
    (sweep,) = store.sweeps()
    assert {a["board"] for a in store.attempts(sweep.sweep_id)} == {"bench-b-board"}
    assert store.counts(sweep.sweep_id)["done"] == 2
    store.close()


def test_sigterm_puts_the_running_job_back_and_leaves_the_sweep_to_the_other_hosts(hosts, pg_server, tmp_path):
    host = hosts[0]
    store_url = pg_server.create_database()
    submitted = host.director("--inventory", host.inventory, "sweep", "submit", pool_spec(tmp_path, "term", jobs=2),
                              "--store", store_url)
    assert submitted.returncode == 0, submitted.stderr
    store = open_store(store_url)
    (sweep,) = store.sweeps()
    host.start_worker(store_url)
    (held,) = wait_for("a job measuring", lambda: [j for j in store.jobs(sweep.sweep_id) if j.phase == "run_1"
                                                   and j.state == "running"])
    host.proc.terminate()
    assert host.proc.wait(timeout=60) == 0, host.output()
    assert host.output().splitlines()[-1].startswith("worker bench-a: stopped after 1 attempt")
    assert store.sweep(sweep.sweep_id).state == "active"
    assert store.counts(sweep.sweep_id)["running"] == 0
    (attempt,) = store.attempts(sweep.sweep_id, held.key)
    assert attempt["outcome"] == "interrupted" and [j.state for j in store.jobs(sweep.sweep_id)
                                                    if j.key == held.key] == ["pending"]
    rest = hosts[1]
    again = rest.director("--inventory", rest.inventory, "worker", "--bench", rest.name, "--store", store_url,
                          "--results", rest.results, "--until-idle", timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    assert store.counts(sweep.sweep_id)["done"] == 2 and store.sweep(sweep.sweep_id).state == "finished"
    store.close()


def test_a_worker_waits_out_a_database_restart_and_goes_on(hosts, pg_server, tmp_path):
    """The store's PostgreSQL server goes down (immediate stop) under an idle worker and comes back: the
    worker says so, keeps trying, and runs the sweep submitted afterwards."""
    # pg_server (unused) skips this test, or fails it under CI, where PostgreSQL is missing.
    server = start_pg(max_connections=20)  # its own server: the shared one stays up for the other tests
    try:
        url = server.create_database()
        host = hosts[0]
        open_store(url).close()  # the tables exist before the worker first looks
        argv = host.director.argv(["--inventory", host.inventory, "worker", "--bench", host.name, "--store", url,
                                   "--results", host.results, "--poll", 0.2])
        with open(host.log, "w") as out:
            host.proc = subprocess.Popen(argv, cwd=host.director.cwd, env=host.director.env(), stdout=out,
                                         stderr=subprocess.STDOUT, text=True)
        wait_for("the worker serving", lambda: "worker bench-a: boards" in host.output(), timeout_s=30)
        server.down()
        wait_for("the outage noticed", lambda: "trying again in" in host.output(), timeout_s=30)
        server.up()
        submitted = host.director("--inventory", host.inventory, "sweep", "submit", pool_spec(tmp_path, "after", jobs=2),
                                  "--store", url)
        assert submitted.returncode == 0, submitted.stderr
        store = open_store(url)
        (sweep,) = store.sweeps()
        wait_for("both jobs done", lambda: store.counts(sweep.sweep_id)["done"] == 2, timeout_s=120)
        host.proc.terminate()
        assert host.proc.wait(timeout=60) == 0, host.output()
        lines = [line for line in host.output().splitlines() if "trying again in" in line]
        assert lines and all(line.startswith("worker bench-a: cannot read results database postgresql://edgepower@/")
                             for line in lines), lines
        store.close()
    finally:
        server.stop()


def test_one_host_runs_a_pool_on_all_its_tagged_boards(tmp_path):
    """`director sweep run` of a pool spec on one host: its tagged boards share the jobs; an untagged one idles."""
    inventory = host_inventory(tmp_path, "solo")
    inventory.write_text(inventory.read_text() + '\n[devices.second]\nkind = "local"\nanalyzer = "wt"\n'
                         'tags = ["sim"]\n\n[devices.untagged]\nkind = "local"\nanalyzer = "wt"\n')
    director = make_director(tmp_path / "solo")
    run = director("--inventory", inventory, "sweep", "run", pool_spec(tmp_path, "solo"), "--results",
                   tmp_path / "solo" / "results", timeout=240)
    assert run.returncode == 0 and f"finished: {JOBS} jobs: {JOBS} done" in run.stdout, run.stdout + run.stderr
    store = open_store(f"sqlite:///{tmp_path / 'solo' / 'results' / 'results.db'}")
    (sweep,) = store.sweeps()
    boards = Counter(a["board"] for a in store.attempts(sweep.sweep_id))
    assert set(boards) == {"solo-board", "second"} and sum(boards.values()) == JOBS
    store.close()
    unknown = director("--inventory", inventory, "sweep", "run", pool_spec(tmp_path, "none", tag="gpu"))
    spec = tmp_path / "none.toml"
    assert one_error(unknown, 2) == (f"{spec}:22: devices.sims.tag: no board in {inventory} carries the tag 'gpu' "
                                     '(expected tags = ["gpu", ...] on a board in devices.toml)')


def test_worker_bad_input_is_one_line(tmp_path):
    director = make_director(tmp_path)
    empty = tmp_path / "devices.toml"
    empty.write_text("")
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert one_error(director("--inventory", empty, "worker", "--bench", "a b", "--db", db), 2) == \
        "--bench: \"a b\" is not a name (expected letters, digits, '.', '_' or '-')"
    assert one_error(director("--inventory", empty, "worker", "--bench", "lab1", "--db", db), 2) == \
        f"no boards to serve: list them in {empty} or give --device NAME"
    assert one_error(director("--inventory", empty, "worker", "--bench", "lab1", "--db", db, "--device", "local",
                              "--lease", "1"), 2) == "--lease must be over 3 s and --poll over 0 s"
