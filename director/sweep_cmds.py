"""`director sweep ...` and `director report`: plan, run, resume, watch and steer sweeps; write their reports."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from typing import IO, Any, Dict, Optional

from devices.inventory import load_inventory
from director.errors import EXIT_FAILED, EXIT_INVALID, BadInput
from director.store import Store, open_store
from director.sweep_status import clock, counts_line, device_line, format_status, rows_for_report, sweep_status
from director.sweepspec import SweepSpec, check_power_modes, format_plan, load_sweep_spec

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
    """Queue a sweep without running it (from any host that reaches the store); a bench host runs it."""
    spec = load_sweep_spec(_need(args.target, "submit SPEC: give a sweep spec file"), load_inventory(args.inventory))
    from director.sweep import queue_sweep

    store = store_for(args)
    sweep_id = queue_sweep(store, spec, args.results)
    print(f"sweep {sweep_id}: {len(spec.jobs)} jobs queued in {store.path}; run them on the bench host with "
          f"`director sweep resume {sweep_id}` (the boards' power modes are checked there)")
    return EXIT_OK


def _attach(args: argparse.Namespace, store: Store, sweep_id: str) -> int:
    """Run the sweep here with a live view; the exit code says how it ended."""
    from director.sweep import SweepLocked, SweepRunner

    sweep = store.sweep(sweep_id)
    os.makedirs(sweep.results, exist_ok=True)
    handler = logging.FileHandler(os.path.join(sweep.results, "sweep.log"), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(min(previous_level, logging.INFO))
    view = SweepView(store, sweep_id, sys.stderr)
    runner = SweepRunner(store, sweep_id, inventory=args.inventory, known_hosts=args.known_hosts, on_status=view)
    try:
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
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
    final = store.sweep(sweep_id)
    note = f" ({final.note})" if final.note else ""
    print(f"sweep {sweep_id} {final.state}{note}: {counts_line(counts)}; results in {final.results}")
    if final.state in ("stopped", "cancelled") or counts["pending"]:
        return EXIT_FAILED
    return EXIT_INVALID if counts["failed"] or counts["invalid"] else EXIT_OK


class SweepView:
    """The live view of an attached sweep: a table redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, store: Store, sweep_id: str, stream: IO[str]) -> None:
        self.store, self.sweep_id, self.stream = store, sweep_id, stream
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
                    print(f"{status.device}: {status.phase} {what}".rstrip(), file=self.stream, flush=True)
                return
            if changed or time.monotonic() - self._last_draw > 0.5:
                self._last_draw = time.monotonic()
                self._live.update(self._text(self._render()))

    def _render(self) -> str:
        status = sweep_status(self.store, self.sweep_id)
        lines = [f"sweep {self.sweep_id}: {counts_line(status.counts)}; eta {clock(status.eta_s)}"]
        for line in status.devices:
            live = self._latest.get(line.device)
            lines.append(device_line(line, live.live_w if live and live.key == line.key else None))
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
    sweep.add_argument("--db", help="results database URL (sqlite:///RESULTS/results.db)")
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
    report.add_argument("--db", help="results database URL (sqlite:///RESULTS/results.db)")
    report.set_defaults(func=cmd_report)
