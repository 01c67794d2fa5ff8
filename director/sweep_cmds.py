"""`director sweep ...` and `director report`: plan, run, resume, watch and steer sweeps; write their reports."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import IO, Any, Dict, Iterator, Optional

from devices.inventory import load_inventory
from director.errors import EXIT_FAILED, EXIT_INVALID, BadInput
from director.store import LEASE_S, Store, open_store
from director.sweep_status import (clock, counts_line, device_line, format_status, rows_for_report, sweep_status,
                                   with_live)
from director.sweepspec import SweepSpec, check_power_modes, format_plan, load_sweep_spec
from director.worker import POLL_S

EXIT_OK = 0
EXIT_INTERRUPTED = 130


def store_for(args: argparse.Namespace) -> Store:
    """The store named by --db, else RESULTS/results.db."""
    return open_store(args.db or os.path.join(args.results, "results.db"))


def cmd_sweep(args: argparse.Namespace) -> int:
    """Dispatch `director sweep ACTION`."""
    action = args.action
    if action == "plan":
        spec = load_sweep_spec(_need(args.target, "plan SPEC: give a sweep spec file"), load_inventory(args.inventory))
        print(format_plan(spec))
        return EXIT_OK
    if action == "run":
        return _run(args)
    if action == "submit":
        return _submit(args)
    store = store_for(args)
    if action == "list":
        for sweep in store.sweeps():
            print(f"{sweep.sweep_id:<40} {sweep.state:<9} {counts_line(store.counts(sweep.sweep_id))}")
        return EXIT_OK
    if action == "resume":
        ref = args.target or _newest_unfinished(store)
        sweep = store.sweep(ref)
        if sweep.state == "cancelled":
            raise BadInput(f"sweep {sweep.sweep_id} was cancelled; `director sweep retry-failed` does not apply to it")
        if sweep.state == "paused":
            store.set_sweep_state(sweep.sweep_id, "active")
        return _attach(args, store, sweep.sweep_id)
    sweep = store.sweep(_need(args.target, f"{action} SWEEP: give a sweep id or name"))
    if action == "status":
        status = sweep_status(store, sweep.sweep_id)
        if args.json:
            json.dump(status.to_json(), sys.stdout, indent=2, sort_keys=True)
            sys.stdout.write("\n")
        else:
            print(format_status(status))
        return EXIT_OK
    if action == "pause":
        store.set_sweep_state(sweep.sweep_id, "paused", "paused by the user")
        print(f"sweep {sweep.sweep_id} paused: running jobs finish, no new job starts; `director sweep resume` goes on")
        return EXIT_OK
    if action == "cancel":
        store.set_sweep_state(sweep.sweep_id, "cancelled", "cancelled by the user")
        cancelled = store.cancel_pending(sweep.sweep_id)
        print(f"sweep {sweep.sweep_id} cancelled: {cancelled} pending jobs cancelled, running jobs stop")
        return EXIT_OK
    if action == "retry-failed":
        spec = SweepSpec.from_json(sweep.spec)
        count = store.retry_failed(sweep.sweep_id, spec.max_attempts)
        if sweep.state in ("stopped", "finished"):
            store.set_sweep_state(sweep.sweep_id, "active")
        print(f"sweep {sweep.sweep_id}: {count} failed jobs back in the queue; `director sweep resume` runs them")
        return EXIT_OK
    raise BadInput(f"unknown sweep action {action!r}")


def cmd_report(args: argparse.Namespace) -> int:
    """`director report SWEEP`: report.csv, report.json and report.html of a sweep."""
    from director.report import write_report

    store = store_for(args)
    sweep = store.sweep(args.sweep)
    out = args.out or os.path.join(sweep.results, "report")
    paths = write_report(f"sweep {sweep.sweep_id}", rows_for_report(store, sweep.sweep_id), out)
    print(f"{counts_line(store.counts(sweep.sweep_id))}; report in {paths['html']} (also {paths['csv']}, {paths['json']})")
    return EXIT_OK


def _need(value: Optional[str], message: str) -> str:
    if not value:
        raise BadInput(message)
    return value


def _newest_unfinished(store: Store) -> str:
    for sweep in store.sweeps():
        if sweep.state not in ("finished", "cancelled"):
            return sweep.sweep_id
    raise BadInput(f"no unfinished sweep in {store.path}; give one: director sweep resume SWEEP")


def _run(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory)
    spec = load_sweep_spec(_need(args.target, "run SPEC: give a sweep spec file"), inventory)
    from director.lab_sweeps import board_modes

    check_power_modes(spec, board_modes(spec, args.inventory, args.known_hosts))
    from director.sweep import queue_sweep

    store = store_for(args)
    sweep_id = queue_sweep(store, spec, args.results)
    print(f"sweep {sweep_id}: {len(spec.jobs)} jobs; results in {store.sweep(sweep_id).results}", file=sys.stderr)
    return _attach(args, store, sweep_id)


def _submit(args: argparse.Namespace) -> int:
    """Queue a sweep without running it (from any host that reaches the store); bench hosts run it."""
    inventory = load_inventory(args.inventory)
    spec = load_sweep_spec(_need(args.target, "submit SPEC: give a sweep spec file"), inventory, shared=True)
    from director.sweep import queue_sweep

    for device in sorted({job.device for job in spec.jobs if job.tag is None} - set(inventory.names())):
        print(f"director: note: {device} is not in this host's inventory; a bench host whose devices.toml has it "
              "runs its jobs", file=sys.stderr)
    store = store_for(args)
    sweep_id = queue_sweep(store, spec, args.results)
    print(f"sweep {sweep_id}: {len(spec.jobs)} jobs queued in {store.path}; bench hosts run them with "
          f"`director worker --bench NAME --store URL` (or this host with `director sweep resume {sweep_id}`)")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    """`director worker --bench NAME`: serve the store's sweeps with this host's boards."""
    from director.worker import Worker, boards_of, check_bench

    bench = check_bench(args.bench)
    boards = boards_of(load_inventory(args.inventory), args.device or ())
    if args.lease <= 3 or args.poll <= 0:
        raise BadInput("--lease must be over 3 s and --poll over 0 s")
    store = store_for(args)
    results = os.path.abspath(args.results)
    os.makedirs(results, exist_ok=True)
    names = ", ".join(b.name + (f" (tags {', '.join(b.tags)})" if b.tags else "") for b in boards)
    print(f"worker {bench}: boards {names}; store {store.path}; results in {results}", file=sys.stderr, flush=True)
    worker = Worker(store, bench, boards, results, inventory=args.inventory, known_hosts=args.known_hosts,
                    lease_s=args.lease, on_sweep=lambda sweep_id: SweepView(store, sweep_id, sys.stderr, f"{sweep_id} "),
                    on_problem=lambda text: print(f"worker {bench}: {text}", file=sys.stderr, flush=True))
    signal.signal(signal.SIGTERM, lambda number, frame: worker.stop("the worker was stopped (SIGTERM)"))
    with _logged(os.path.join(results, f"worker-{bench}.log")):
        try:
            worker.serve(until_idle=args.until_idle, poll_s=args.poll)
        except KeyboardInterrupt:
            print(f"director: worker {bench} interrupted after {_attempts(worker.attempts)}; its running jobs went "
                  "back to the queue", file=sys.stderr)
            return EXIT_INTERRUPTED
    ran = f"{_attempts(worker.attempts)} run"
    if worker.stopped:
        print(f"worker {bench}: stopped after {ran}; its running jobs went back to the queue")
    else:
        print(f"worker {bench}: {ran}; no active sweep has work for its boards")
    return EXIT_OK


def _attempts(count: int) -> str:
    return f"{count} attempt{'' if count == 1 else 's'}"


@contextlib.contextmanager
def _logged(path: str) -> Iterator[None]:
    """The runner's log (INFO and up) also goes to PATH while inside."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    previous_level = root.level
    # The console keeps the level it had (--verbose or not); only the file gets INFO.
    console = {h: h.level for h in root.handlers}
    for other in console:
        other.setLevel(max(other.level, previous_level))
    root.addHandler(handler)
    root.setLevel(min(previous_level, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        for other, level in console.items():
            other.setLevel(level)
        handler.close()


def _attach(args: argparse.Namespace, store: Store, sweep_id: str) -> int:
    """Run the sweep here with a live view; the exit code says how it ended."""
    from director.sweep import SweepLocked, SweepRunner

    sweep = store.sweep(sweep_id)
    os.makedirs(sweep.results, exist_ok=True)
    view = SweepView(store, sweep_id, sys.stderr)
    runner = SweepRunner(store, sweep_id, inventory=args.inventory, known_hosts=args.known_hosts, on_status=view)
    try:
        with _logged(os.path.join(sweep.results, "sweep.log")):
            counts = runner.run()
    except SweepLocked as e:
        print(f"director: {e}; it goes on there (`director sweep status {sweep_id}`)", file=sys.stderr)
        return EXIT_OK
    except KeyboardInterrupt:
        view.close()
        print(f"director: interrupted; `director sweep resume {sweep_id}` goes on from here", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        view.close()
    final = store.sweep(sweep_id)
    note = f" ({final.note})" if final.note else ""
    print(f"sweep {sweep_id} {final.state}{note}: {counts_line(counts)}; results in {final.results}")
    if final.state in ("stopped", "cancelled") or counts["pending"]:
        return EXIT_FAILED
    return EXIT_INVALID if counts["failed"] or counts["invalid"] else EXIT_OK


class SweepView:
    """The live view of an attached sweep: a table redrawn in place on a terminal, plain lines (each after
    prefix) otherwise."""

    def __init__(self, store: Store, sweep_id: str, stream: IO[str], prefix: str = "") -> None:
        self.store, self.sweep_id, self.stream, self.prefix = store, sweep_id, stream, prefix
        self._latest: Dict[str, Any] = {}  # device -> director.sweep.DeviceStatus
        self._lock = threading.Lock()
        self._live: Any = None
        self._last_draw = 0.0
        if stream.isatty():
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            self._text = Text
            self._live = Live(Text(f"sweep {sweep_id}"), console=Console(file=stream), refresh_per_second=2)
            self._live.start()

    def __call__(self, status: Any) -> None:
        with self._lock:
            before = self._latest.get(status.device)
            self._latest[status.device] = status
            changed = before is None or (before.key, before.phase) != (status.key, status.phase)
            if self._live is None:
                if changed:
                    what = f"{status.key} attempt {status.attempt}" if status.key else status.detail
                    print(f"{self.prefix}{status.device}: {status.phase} {what}".rstrip(), file=self.stream, flush=True)
                return
            if changed or time.monotonic() - self._last_draw > 0.5:
                self._last_draw = time.monotonic()
                self._live.update(self._text(self._render()))

    def _render(self) -> str:
        status = sweep_status(self.store, self.sweep_id)
        lines = [f"sweep {self.sweep_id}: {counts_line(status.counts)}; eta {clock(status.eta_s)}"]
        lines += [device_line(line) for line in with_live(status.devices, self._latest)]
        return "\n".join(lines)

    def close(self) -> None:
        """Stop redrawing."""
        if self._live is not None:
            self._live.stop()
            self._live = None


def add_parsers(sub: Any) -> None:
    """The `sweep` and `report` subcommands."""
    sweep = sub.add_parser(
        "sweep", help="unattended sweeps: devices × models × scenarios × power modes × repeats",
        description="Plan, run and steer sweeps (see docs/sweeps.md for the spec file). "
        "`plan SPEC` shows the jobs and an estimate; `run SPEC` checks the boards' power modes, queues the jobs "
        "in the results database and runs them with a live view (Ctrl-C stops; `resume` goes on); `submit SPEC` only "
        "queues them (with --db, in a store other hosts share); `resume [SWEEP]` "
        "continues a sweep after a crash, a reboot or a pause; `status SWEEP` shows counts, ETA and each "
        "device's job; `pause`, `cancel`, `retry-failed` steer it from another terminal; `list` shows sweeps. "
        "Exit codes of run/resume: 0 every job done, 1 stopped with jobs left, 2 bad input, 3 some jobs failed "
        "or invalid, 130 interrupted.",
    )
    sweep.add_argument("action", choices=("plan", "run", "submit", "resume", "status", "pause", "cancel", "retry-failed",
                                          "list"))
    sweep.add_argument("target", nargs="?", help="the spec file (plan, run, submit) or the sweep id or name (the others)")
    sweep.add_argument("--results", default="results", help="results folder: RESULTS/<sweep id>/ (./results)")
    sweep.add_argument("--db", "--store", dest="db", help="results database URL: sqlite:///PATH (default "
                       "RESULTS/results.db) or postgresql://... (a store bench hosts share)")
    sweep.add_argument("--json", action="store_true", help="status as JSON")
    sweep.set_defaults(func=cmd_sweep)
    report = sub.add_parser(
        "report", help="a sweep's report: CSV, JSON and one self-contained HTML file with plots",
        description="Write report.csv, report.json and report.html (plots embedded) for a sweep: per case the "
        "median, spread and trimmed mean of its repeats with the number of runs behind each figure.",
    )
    report.add_argument("sweep", help="the sweep id, a unique prefix of it, or its name (the newest)")
    report.add_argument("--out", help="folder for the report files (RESULTS/<sweep id>/report)")
    report.add_argument("--results", default="results", help="results folder (./results)")
    report.add_argument("--db", "--store", dest="db", help="results database URL (sqlite:///RESULTS/results.db)")
    report.set_defaults(func=cmd_report)
    worker = sub.add_parser(
        "worker", help="a bench host: run the jobs of a shared store's sweeps on this host's boards",
        description="Serve the active sweeps of a store (oldest first) with the boards in this host's devices.toml "
        "(or those given by --device): the jobs naming one of them, and the jobs of a pool ([devices.NAME] with "
        "tag = ...) whose tag one of them carries; of those, the ones routed to this bench (bench = ... in the "
        "spec) or to any. Run folders go under RESULTS/<sweep id>/ on this host; their figures and checks go to "
        "the store, so `director report` works from any host. A job whose worker dies is taken over by another "
        "worker once its lease runs out (--lease). Ctrl-C or SIGTERM puts the running jobs back in the queue. "
        "See docs/sweeps.md, 'Several bench hosts'.",
    )
    worker.add_argument("--bench", required=True, help="this bench host's name (letters, digits, '.', '_', '-')")
    worker.add_argument("--device", action="append", help="serve only this board (repeat for more; default: every "
                        "board in devices.toml)")
    worker.add_argument("--db", "--store", dest="db", help="the shared store's URL (postgresql://...; default "
                        "sqlite:///RESULTS/results.db)")
    worker.add_argument("--results", default="results", help="this host's results folder (./results)")
    worker.add_argument("--lease", type=float, default=LEASE_S, help=f"seconds a job stays this worker's without a "
                        f"heartbeat before another may take it over ({LEASE_S:g}; renewed every third of it)")
    worker.add_argument("--poll", type=float, default=POLL_S, help=f"seconds between looks for new work when idle "
                        f"({POLL_S:g})")
    worker.add_argument("--until-idle", action="store_true", help="exit once no active sweep has work for these "
                        "boards (default: keep serving)")
    worker.set_defaults(func=cmd_worker)
