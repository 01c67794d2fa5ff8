"""`director worker --bench NAME`: a bench host serving the sweeps of a shared store with the boards it owns.

Each bench host has its own devices.toml listing its boards and their analyzers, and runs one worker.
The worker takes the active sweeps oldest first and runs, on its boards, the jobs they may run: jobs
naming one of its boards, and jobs of a pool whose tag one of its boards carries; of those, the ones
routed to its bench or to any. It runs them as `director sweep resume` would (director.sweep.SweepRunner
with its boards), its run folders under its own results folder. A job a dead host held is taken over
once its lease runs out (director.store.Store.claim), so the other hosts finish it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

from devices.inventory import Inventory
from director.errors import BadInput, DirectorError
from director.store import LEASE_S, Store
from director.sweepread import Wrong, name

POLL_S = 5.0  # how often an idle worker looks for new work
STORE_RETRY_MAX_S = 60.0  # the longest wait before trying an unreachable store again


@dataclass(frozen=True)
class Board:
    """A board this host owns and the tags that put it in pools."""

    name: str
    tags: Tuple[str, ...]


def boards_of(inventory: Inventory, names: Sequence[str]) -> List[Board]:
    """The boards given by name, else every board devices.toml lists; BadInput when that is none."""
    devices = [inventory.get(name) for name in names] if names else inventory.listed()
    if not devices:
        raise BadInput(f"no boards to serve: list them in {inventory.path or 'devices.toml'} or give --device NAME")
    return [Board(device.name, tuple(device.tags)) for device in devices]


def check_bench(value: str) -> str:
    """The bench name, or BadInput when it is not one (the spec's `bench` keys follow the same rule)."""
    try:
        return name(value)
    except Wrong as e:
        raise BadInput(f"--bench: {e}") from None


def has_work(store: Store, sweep_id: str, boards: Sequence[Board], bench: str) -> bool:
    """Whether one of the boards has a job of the sweep it may run now or later (a pending job, or one another
    host holds and may yet lose)."""
    return any(store.next_wake_ns(sweep_id, board.name, bench, board.tags) is not None for board in boards)


class Worker:
    """Serves the store's active sweeps with this host's boards until stopped (or, until_idle, until none
    has work for them)."""

    def __init__(self, store: Store, bench: str, boards: Sequence[Board], results: str,
                 inventory: Optional[str] = None, known_hosts: Optional[str] = None, lease_s: float = LEASE_S,
                 on_sweep: Optional[Callable[[str], Callable[[Any], None]]] = None,
                 on_problem: Optional[Callable[[str], None]] = None) -> None:
        # on_sweep(sweep_id) gives the progress callback for one sweep's runner (closed after, if it has close());
        # on_problem(text) hears of a store the worker cannot reach.
        self.store = store
        self.bench = bench
        self.boards = list(boards)
        self.results = results
        self.inventory = inventory
        self.known_hosts = known_hosts
        self.lease_s = lease_s
        self.on_sweep = on_sweep or (lambda sweep_id: lambda status: None)
        self.on_problem = on_problem or (lambda text: None)
        self.attempts = 0  # attempts this worker started
        self._stop = threading.Event()
        self._runner: Any = None

    def serve(self, until_idle: bool = False, poll_s: float = POLL_S) -> None:
        """Run jobs until stop() (or, until_idle, until no active sweep has work for these boards). A store
        that cannot be reached (a database restart, the network) is tried again, less often each time."""
        failures = 0
        while not self._stop.is_set():
            try:
                worked = self._serve_once()
                failures = 0
            except DirectorError as e:
                failures += 1
                wait_s = min(STORE_RETRY_MAX_S, poll_s * 2 ** min(failures, 8))
                self.on_problem(f"{e}; trying again in {wait_s:g} s")
                self._stop.wait(wait_s)
                continue
            if until_idle and not worked:
                return
            self._stop.wait(0.0 if worked else poll_s)

    def _serve_once(self) -> bool:
        """One look at every active sweep, running what it has for these boards; whether any attempt ran."""
        worked = False
        for sweep in reversed(self.store.sweeps()):  # oldest first
            if self._stop.is_set():
                break
            if sweep.state == "active" and has_work(self.store, sweep.sweep_id, self.boards, self.bench):
                worked = self._run(sweep.sweep_id) or worked
        return worked

    def _run(self, sweep_id: str) -> bool:
        from director.sweep import SweepLocked, SweepRunner

        view = self.on_sweep(sweep_id)
        runner = SweepRunner(self.store, sweep_id, inventory=self.inventory, known_hosts=self.known_hosts,
                             on_status=view, boards=[b.name for b in self.boards], bench=self.bench,
                             results=os.path.join(self.results, sweep_id), lease_s=self.lease_s)
        self._runner = runner
        try:
            runner.run()
        except SweepLocked:
            return False  # another worker of this host runs it
        finally:
            self._runner = None
            getattr(view, "close", lambda: None)()
        mine = [a for a in self.store.attempts(sweep_id) if a["owner"] == runner.owner]
        self.attempts += len(mine)
        return bool(mine)

    @property
    def stopped(self) -> bool:
        """Whether stop() was called."""
        return self._stop.is_set()

    def stop(self, reason: str) -> None:
        """Stop now: the running jobs are cancelled and go back to the queue."""
        self._stop.set()
        runner = self._runner
        if runner is not None:
            runner.interrupt(reason)
