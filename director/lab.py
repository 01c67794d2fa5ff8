"""The lab's Python API for a front end (the TUI): devices, one run, sweeps and results, as frozen values.

`Lab` is the one object a front end holds: where the inventory, known_hosts, results and database
are, the run and the sweeps it started, and a method per thing a screen does. Methods may block
(SSH, an analyzer, the database): call them from a worker thread. None raises for what goes wrong in
a lab (an unreachable device, a missing analyzer, a bad spec): the error comes back as a field.

Power modes: a mode that needs a reboot is set as a run sets it (the board is rebooted, its new
boot_id and the mode are checked), so `set_power_mode` may take minutes on such a board.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Set, Tuple

from devices.errors import DeviceError
from devices.inventory import load_inventory
from director import lab_devices, lab_results, lab_run, lab_sweeps
from director.errors import DirectorError
from director.lab_devices import DeviceCheck, DeviceListing, DeviceRow, IdlePower, PowerModeResult, PowerModes
from director.lab_results import (SORT_KEYS, CheckLine, ReportResult, ResultDetail, ResultListing, ResultRow,
                                  filter_rows, sort_rows)
from director.lab_run import PRESETS, LoadgenProgress, RunChoices, RunHandle, RunView, Telemetry
from director.lab_sweeps import JobLine, SweepAction, SweepDetail, SweepHandle, SweepLine, SweepListing
from director.power_setup import SIM_URL_PREFIX
from director.store import Store
from director.store_engine import store_target
from director.sweep_status import DeviceLine, holder
from power.errors import PowerError

__all__ = [
    "CheckLine", "DeviceCheck", "DeviceLine", "DeviceListing", "DeviceRow", "IdlePower", "JobLine", "Lab",
    "LoadgenProgress", "PRESETS", "PowerModeResult", "PowerModes", "ReportResult", "ResultDetail", "ResultListing",
    "ResultRow", "RunChoices", "RunHandle", "RunStart", "RunView", "SORT_KEYS", "SweepAction", "SweepDetail",
    "SweepLine", "SweepListing", "Telemetry", "filter_rows", "holder", "log_to_file", "sort_rows",
]

FAULTS = (DirectorError, DeviceError, PowerError)


@dataclass(frozen=True)
class RunStart:
    """A run that started (its handle) or why it did not (error)."""

    handle: Optional[RunHandle]
    error: str = ""


class Lab:
    """The lab seen from one front end: its places, the run and sweeps it started, and what a screen can do.

    run_overrides change RunSpec fields of every run started here (tests shorten runs with them). A database
    URL the store cannot open is refused here (BadInput), before a front end starts.
    """

    def __init__(self, results: str = "results", database: Optional[str] = None, inventory: Optional[str] = None,
                 known_hosts: Optional[str] = None, run_overrides: Optional[Mapping[str, Any]] = None) -> None:
        if database:
            store_target(database)
        self.results = results
        self.database = database
        self.inventory = inventory
        self.known_hosts = known_hosts
        self.run_overrides = dict(run_overrides or {})
        self.run: Optional[RunHandle] = None
        self.sweep_handles: Dict[str, SweepHandle] = {}
        self.store_error = ""
        self._store: Optional[Store] = None
        self._lock = threading.RLock()

    # -- the database -----------------------------------------------------------------------------
    def store(self, create: bool = False) -> Optional[Store]:
        """The results database, opened once (None while the default one does not exist and create is False)."""
        with self._lock:
            if self._store is None:
                self._store = lab_results.open_results_store(self.results, self.database, create=create)
            return self._store

    # -- devices ----------------------------------------------------------------------------------
    def devices(self) -> DeviceListing:
        """The inventory's devices, not probed (instant)."""
        return lab_devices.list_devices(self.inventory)

    def probe_devices(self) -> DeviceListing:
        """Every device probed in parallel: reachable or why not, power mode, temperature."""
        return lab_devices.probe_devices(self.inventory, self.known_hosts)

    def probe_device(self, name: str) -> DeviceRow:
        """One device probed."""
        return lab_devices.probe_device(name, self.inventory, self.known_hosts)

    def check_device(self, name: str) -> DeviceCheck:
        """What `director devices check NAME` reports."""
        return lab_devices.check_device(name, self.inventory, self.known_hosts)

    def power_modes(self, name: str) -> PowerModes:
        """The board's power modes and the one in force."""
        return lab_devices.power_modes(name, self.inventory, self.known_hosts)

    def set_power_mode(self, name: str, mode: str, on_step: Optional[Callable[[str], None]] = None) -> PowerModeResult:
        """Set and verify a power mode (a reboot when the mode needs one); refused while this lab measures NAME."""
        if name in self.busy_devices():
            return PowerModeResult(name, mode, False, f"{name} is measuring now; its mode changes after that")
        return lab_devices.set_power_mode(name, mode, self.inventory, self.known_hosts, on_step=on_step)

    def idle_power(self, analyzers: Iterable[str], seconds: float = 2.0) -> Tuple[IdlePower, ...]:
        """Read each analyzer for a few seconds (in parallel); one that this lab is measuring with is left alone."""
        busy = self.busy_analyzers()
        names = list(dict.fromkeys(analyzers))
        readings = {r.analyzer: r for r in lab_devices.idle_powers([n for n in names if n not in busy], self.inventory,
                                                                   seconds)}
        return tuple(readings.get(n) or IdlePower(n, None, (), f"analyzer {n} is measuring a run now") for n in names)

    # -- what is in use ---------------------------------------------------------------------------
    def busy_devices(self) -> Set[str]:
        """Devices a run or sweep of this lab is measuring now."""
        busy: Set[str] = set()
        if self.run is not None and not self.run.done:
            busy.add(self.run.spec.device)
        for handle in list(self.sweep_handles.values()):
            if not handle.done:
                busy.update(device for device, status in handle.latest().items() if status.key)
        return busy

    def busy_analyzers(self) -> Set[str]:
        """Analyzers (real ones: each simulator is private to its run) that this lab's run or sweeps hold now."""
        try:
            found = load_inventory(self.inventory)
        except FAULTS:
            return set()
        busy: Set[str] = set()
        if self.run is not None and not self.run.done:
            name = self.run.spec.analyzer or getattr(found.get(self.run.spec.device).analyzer, "name", None)
            if name:
                busy.add(name)
        for device in self.busy_devices():
            binding = found.get(device).analyzer
            if binding is not None:
                busy.add(binding.name)
        return {n for n in busy if n in found.analyzers and not found.analyzers[n].url.startswith(SIM_URL_PREFIX)}

    # -- one run ----------------------------------------------------------------------------------
    def run_choices(self) -> RunChoices:
        """Devices, analyzers, models, scenarios and presets for the run form."""
        return lab_run.run_choices(self.inventory)

    def start_run(self, device: str, model: str, scenario: str, preset: str, analyzer: Optional[str] = None,
                  **overrides: Any) -> RunStart:
        """Start a measured session in a thread; refused while this lab's previous run still runs."""
        with self._lock:
            if self.run is not None and not self.run.done:
                return RunStart(None, f"run {self.run.run_id} is still running; cancel it first")
            if analyzer and analyzer in self.busy_analyzers():
                return RunStart(None, f"analyzer {analyzer} is measuring a sweep job now")
            try:
                spec = lab_run.run_spec(device, model, scenario, preset, analyzer, results=self.results,
                                        database=self.database, inventory=self.inventory, known_hosts=self.known_hosts,
                                        **dict(self.run_overrides, **overrides))
                self.run = RunHandle(spec).start()
            except (FAULTS + (TypeError,)) as e:
                return RunStart(None, str(e))
            return RunStart(self.run)

    def cancel_run(self) -> bool:
        """Cancel this lab's running run; False when none runs."""
        if self.run is None or self.run.done:
            return False
        self.run.cancel()
        return True

    def run_result(self, folder: str) -> ResultDetail:
        """A finished run's folder as a detail view (figures, checks, trace, paths)."""
        return lab_results.detail_of_folder(self._store_or_none(), folder)

    # -- sweeps -----------------------------------------------------------------------------------
    def sweeps(self) -> SweepListing:
        """Every sweep with its counts."""
        store = self._store_or_none()
        if store is None and self.store_error:
            return SweepListing((), self.store_error)
        return lab_sweeps.list_sweeps(store)

    def sweep(self, ref: str) -> SweepDetail:
        """One sweep's status, devices and jobs (live W for a sweep this lab runs)."""
        store = self._store_or_none()
        sweep_id = ref
        if store is not None:
            try:
                sweep_id = store.sweep(ref).sweep_id
            except DirectorError:
                pass
        return lab_sweeps.sweep_detail(store, ref, self.sweep_handles.get(sweep_id))

    def queue_sweep(self, spec_path: str) -> SweepAction:
        """Check a spec and queue its jobs without running them."""
        store = self._store_or_create()
        if isinstance(store, SweepAction):
            return store
        return lab_sweeps.queue_from_spec(store, spec_path, self.results, self.inventory, self.known_hosts)

    def start_sweep(self, spec_path: str) -> SweepAction:
        """Check a spec, queue its jobs and run them here, one worker per device, in a thread."""
        queued = self.queue_sweep(spec_path)
        return self._run_sweep(queued.sweep_id) if queued.ok else queued

    def resume_sweep(self, ref: str) -> SweepAction:
        """Make a paused sweep active and, unless a runner here already works on it, run it here."""
        store = self._store_or_create()
        if isinstance(store, SweepAction):
            return store
        resumed = lab_sweeps.resume_sweep(store, ref)
        if not resumed.ok:
            return resumed
        handle = self.sweep_handles.get(resumed.sweep_id)
        if handle is not None and not handle.done:
            return resumed
        return self._run_sweep(resumed.sweep_id)

    def pause_sweep(self, ref: str) -> SweepAction:
        """Running jobs finish; no new job starts."""
        return self._steer(lab_sweeps.pause_sweep, ref)

    def cancel_sweep(self, ref: str) -> SweepAction:
        """Pending jobs cancelled; running jobs stopped, on the board too."""
        return self._steer(lab_sweeps.cancel_sweep, ref)

    def retry_failed(self, ref: str) -> SweepAction:
        """Failed jobs back in the queue (resume runs them)."""
        return self._steer(lab_sweeps.retry_failed, ref)

    def _steer(self, action: Callable[[Store, str], SweepAction], ref: str) -> SweepAction:
        store = self._store_or_none()
        if store is None:
            return SweepAction(ref, False, "no results database yet")
        return action(store, ref)

    def _run_sweep(self, sweep_id: str) -> SweepAction:
        store = self._store_or_create()
        if isinstance(store, SweepAction):
            return store
        handle = SweepHandle(store, sweep_id, self.inventory, self.known_hosts).start()
        self.sweep_handles[sweep_id] = handle
        return SweepAction(sweep_id, True, f"sweep {sweep_id} running here")

    # -- results ----------------------------------------------------------------------------------
    def results_list(self, limit: int = 1000) -> ResultListing:
        """The newest stored runs."""
        store = self._store_or_none()
        if store is None and self.store_error:
            return ResultListing((), self.database or self.results, self.store_error)
        return lab_results.list_results(store, limit)

    def result(self, run_id: str) -> ResultDetail:
        """One stored run with its figures, checks, power trace and paths."""
        return lab_results.result_detail(self._store_or_none(), run_id)

    def write_report(self, sweep_ref: str) -> ReportResult:
        """Write a sweep's report (CSV, JSON, HTML)."""
        return lab_results.write_sweep_report(self._store_or_none(), sweep_ref)

    # -- the end ----------------------------------------------------------------------------------
    def close(self, wait_s: float = 30.0) -> None:
        """Stop what this lab runs (a run is cancelled, sweeps go back to their queue) and close the database."""
        if self.run is not None and not self.run.done:
            self.run.cancel("the lab UI was closed")
            self.run.wait(wait_s)
        for handle in list(self.sweep_handles.values()):
            if not handle.done:
                handle.interrupt("the lab UI was closed")
                handle.wait(wait_s)
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _store_or_none(self) -> Optional[Store]:
        try:
            self.store_error = ""
            return self.store()
        except DirectorError as e:
            self.store_error = str(e)
            return None

    def _store_or_create(self) -> Any:
        try:
            store = self.store(create=True)
        except DirectorError as e:
            return SweepAction("", False, str(e))
        assert store is not None
        return store


def log_to_file(path: str, verbose: bool = False) -> str:
    """Send this process's log to PATH instead of the terminal (a full-screen UI owns the terminal); the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    return path
