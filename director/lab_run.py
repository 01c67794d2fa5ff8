"""One measured run for a front end: the choices, presets, and a RunHandle that runs a Session in a thread.

The handle keeps what a screen shows while the session runs: the latest Progress, the samples so
far, the idle level and the measured windows once known, LoadGen's progress and the device's
telemetry. The agent writes telemetry (CPU load, per-core MHz, temperatures) and events to the
pass folder on the device as it runs; the handle reads the newest rows over a connection of its
own, once a second, only while a pass runs (the idle baseline is left undisturbed).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import posixpath
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from devices.errors import DeviceError
from devices.inventory import load_inventory
from director.errors import BadInput, Cancelled, DirectorError
from director.runspec import RunSpec
from director.session import Progress, Session
from director.ssh import transport_for
from director.transport import Transport
from power.errors import PowerError

log = logging.getLogger(__name__)

FAULTS = (DirectorError, DeviceError, PowerError)
BUNDLED_MODELS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "models"
MODEL_SUFFIXES = (".onnx", ".tflite")
SCENARIOS = ("SingleStream", "Offline")
PRESETS: Mapping[str, Mapping[str, Any]] = {
    "quick": {"profile": "quick"},
    "mlperf": {"profile": "mlperf"},
    "smoke": {"profile": "quick", "settings": {"min_duration": 1000}, "calibration_s": 0.2, "settle_s": 0.5,
              "idle_s": 1.0, "ranges": (300.0, 0.5), "clock_pings": 16},
}
"""RunSpec settings by name: quick (10 s passes), mlperf (the rules' 600 s), smoke (1 s passes, fixed ranges,
about 6 s in all: to see that a bench works; not conformant)."""
POLL_S = 1.0


@dataclass(frozen=True)
class RunChoices:
    """What a run can be made of: devices, analyzers (each device's own first), models (label, path), presets."""

    devices: Tuple[str, ...]
    analyzers: Tuple[str, ...]
    device_analyzers: Tuple[Tuple[str, Optional[str]], ...]
    models: Tuple[Tuple[str, str], ...]
    scenarios: Tuple[str, ...] = SCENARIOS
    presets: Tuple[str, ...] = tuple(PRESETS)
    error: str = ""

    def analyzer_for(self, device: str) -> str:
        """The device's own analyzer, else the built-in simulator."""
        return dict(self.device_analyzers).get(device) or "sim"


@dataclass(frozen=True)
class LoadgenProgress:
    """The pass on the device: its name, the agent's phase (loading, calibrating, loadgen), samples done, s."""

    pass_name: str
    phase: str
    completed_samples: Optional[int]
    elapsed_s: Optional[float]


@dataclass(frozen=True)
class Telemetry:
    """The device's newest telemetry: CPU load (%), mean and max core MHz, hottest zone (°C), from where."""

    t_ns: Optional[int]
    cpu_percent: Optional[float]
    cpu_mhz: Optional[float]
    cpu_max_mhz: Optional[float]
    temperature_c: Optional[float]
    source: str


@dataclass(frozen=True)
class RunView:
    """A run as a screen shows it now. Times are UTC ns; samples are (t_end_ns, W), NaN for a flagged one.

    state: starting, running, then ok, invalid, checks_failed, failed or cancelled. idle_w is the
    session's baseline once computed (an estimate from the idle window's samples before that);
    windows are the passes' measured windows (name, t0_ns, t1_ns) once known.
    """

    run_id: str
    folder: str
    state: str
    phase: str
    elapsed_s: float
    eta_s: Optional[float]
    live_w: Optional[float]
    detail: str
    samples: Tuple[Tuple[int, float], ...]
    idle_w: Optional[float]
    idle_window_ns: Optional[Tuple[int, int]]
    windows: Tuple[Tuple[str, int, int], ...]
    loadgen: Optional[LoadgenProgress]
    telemetry: Optional[Telemetry]
    error: str = ""

    @property
    def finished(self) -> bool:
        """True once the session has ended, however it ended."""
        return self.state not in ("starting", "running")


def model_choices(extra_dirs: Tuple[str, ...] = (".", "models")) -> Tuple[Tuple[str, str], ...]:
    """(label, absolute path) of the bundled demo models and the models in ./ and ./models."""
    found: Dict[str, str] = {}
    for folder in (str(BUNDLED_MODELS),) + extra_dirs:
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.abspath(os.path.join(folder, name))
            if name.endswith(MODEL_SUFFIXES) and os.path.isfile(path) and path not in found.values():
                label = name if name not in found else os.path.relpath(path)
                found[label] = path
    return tuple(found.items())


def run_choices(inventory: Optional[str] = None) -> RunChoices:
    """The devices, analyzers and models a run can use (the built-in local and sim included)."""
    models = model_choices()
    try:
        found = load_inventory(inventory)
    except FAULTS as e:
        return RunChoices(("local",), ("sim",), (("local", None),), models, error=str(e))
    devices = found.devices(include_ssh_aliases=False)
    pairs = tuple((d.name, d.analyzer.name if d.analyzer else None) for d in devices)
    return RunChoices(tuple(d.name for d in devices), tuple(sorted(found.analyzers)), pairs, models)


def run_spec(device: str, model: str, scenario: str, preset: str, analyzer: Optional[str] = None, *,
             results: str = "results", database: Optional[str] = None, inventory: Optional[str] = None,
             known_hosts: Optional[str] = None, **overrides: Any) -> RunSpec:
    """The RunSpec of a preset for one device, model and scenario; overrides change any RunSpec field."""
    if preset not in PRESETS:
        raise BadInput(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    fields = dict(PRESETS[preset], **overrides)
    return RunSpec(device=device, model=model, scenario=scenario, analyzer=analyzer, results=results,
                   database=database, inventory=inventory, known_hosts=known_hosts, label=f"lab {preset}", **fields)


class RunHandle:
    """A Session running in a thread of its own; view() is a snapshot that never blocks, cancel() stops it."""

    def __init__(self, spec: RunSpec, poll_s: float = POLL_S) -> None:
        self.spec = spec
        self.poll_s = poll_s
        self.session = Session(spec, on_progress=self._on_progress)
        self._lock = threading.Lock()
        self._progress: Optional[Progress] = None
        self._spans: List[List[Any]] = []  # [phase, t0_ns, t1_ns or None]
        self._state = "starting"
        self._error = ""
        self._loadgen: Optional[LoadgenProgress] = None
        self._telemetry: Optional[Telemetry] = None
        self._t0 = time.monotonic()
        self._ended: Optional[float] = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"run-{spec.device}", daemon=True)
        self._poller = threading.Thread(target=self._poll, name=f"telemetry-{spec.device}", daemon=True)

    @property
    def run_id(self) -> str:
        """The run's id (its folder's name)."""
        return self.session.run_id

    @property
    def folder(self) -> str:
        """The run's result folder."""
        return self.session.folder

    @property
    def done(self) -> bool:
        """True once the session has ended."""
        return self._done.is_set()

    @property
    def progress(self) -> Optional[Progress]:
        """The session's latest Progress (None before its first step)."""
        with self._lock:
            return self._progress

    def start(self) -> "RunHandle":
        """Start the session (and the telemetry reader); returns at once."""
        self._thread.start()
        self._poller.start()
        return self

    def cancel(self, reason: str = "cancelled from the lab") -> None:
        """Ask the session to stop at its next step; a running pass is cancelled on the device too."""
        self.session.cancel(reason)

    def wait(self, timeout_s: Optional[float] = None) -> bool:
        """Wait for the end; False on time-out."""
        return self._done.wait(timeout_s)

    def run_json(self) -> Optional[Dict[str, Any]]:
        """The run's run.json once written (None before, or when the run never started)."""
        try:
            with open(os.path.join(self.folder, "run.json"), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    # -- the session's thread ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            record = self.session.run()
            state, error = str(record.get("status", "failed")), ""
        except Cancelled as e:
            state, error = "cancelled", str(e)
        except FAULTS as e:
            state, error = "failed", f"{self.session.phase}: {e}"
        except Exception as e:  # a bug in a run must not take the screen down with it
            log.exception("run %s", self.run_id)
            state, error = "failed", f"internal error: {type(e).__name__}: {e}"
        with self._lock:
            self._state, self._error = state, error
            self._ended = time.monotonic()
            self._close_span(time.time_ns())
        self._done.set()

    def _on_progress(self, progress: Progress) -> None:
        now = time.time_ns()
        with self._lock:
            self._progress = progress
            self._state = "running"
            if not self._spans or self._spans[-1][0] != progress.phase:
                self._close_span(now)
                self._spans.append([progress.phase, now, None])

    def _close_span(self, now_ns: int) -> None:
        if self._spans and self._spans[-1][2] is None:
            self._spans[-1][2] = now_ns

    # -- the telemetry reader ---------------------------------------------------------------------
    def _poll(self) -> None:
        transport: Optional[Transport] = None
        root = ""
        try:
            ended = False
            while not ended:
                ended = self._done.wait(self.poll_s)  # one read more after the end: the pass's last events
                phase = self.session.phase
                if phase not in self.spec.passes:
                    continue
                try:
                    if transport is None:
                        device = load_inventory(self.spec.inventory).get(self.spec.device)
                        transport = transport_for(device, known_hosts=self.spec.known_hosts, connect_timeout_s=5.0)
                        root = transport.expand_home(device.workdir.rstrip("/") + "/runs")
                    folder = posixpath.join(root, f"{self.run_id}-{phase}")
                    loadgen = read_loadgen_progress(phase, transport.read_text(posixpath.join(folder, "events.jsonl")))
                    telemetry = read_telemetry(transport.read_text(posixpath.join(folder, "telemetry.csv")))
                except FAULTS + (csv.Error, ValueError) as e:  # telemetry is a view, never a reason to stop
                    log.info("%s: telemetry: %s", self.run_id, e)
                    continue
                with self._lock:
                    self._loadgen = loadgen or self._loadgen
                    self._telemetry = telemetry or self._telemetry
        finally:
            if transport is not None:
                try:
                    transport.close()
                except FAULTS:
                    pass

    # -- what a screen shows ----------------------------------------------------------------------
    def view(self) -> RunView:
        """A snapshot of the run now (cheap: no I/O)."""
        monitor = self.session.monitor
        samples = tuple((s.t_end_ns, s.power_w if s.ok else math.nan) for s in monitor.samples()) if monitor else ()
        with self._lock:
            progress, state, error = self._progress, self._state, self._error
            spans = [tuple(span) for span in self._spans]
            loadgen, telemetry = self._loadgen, self._telemetry
            elapsed = (self._ended or time.monotonic()) - self._t0
        record = _copy(self.session.record)
        idle_window = next(((t0, t1) for phase, t0, t1 in spans if phase == "idle" and t1 is not None), None)
        idle_w = (record.get("idle") or {}).get("average_w")
        if idle_w is None and idle_window is not None and not self.spec.idle_w:
            inside = [w for t, w in samples if idle_window[0] <= t <= idle_window[1] and not math.isnan(w)]
            idle_w = sum(inside) / len(inside) if inside else None
        windows = []
        for name, entry in (record.get("passes") or {}).items():
            window = (entry.get("figures") or {}).get("window_host_ns")
            if window:
                windows.append((name, int(window[0]), int(window[1])))
        if telemetry is None:
            telemetry = _facts_telemetry(record)
        live = progress.live_w if progress is not None else None
        if samples and (live is None or state not in ("starting", "running")):
            live = samples[-1][1]
        expected = self.spec.expected_s()
        return RunView(
            run_id=self.run_id, folder=self.folder, state=state, phase=progress.phase if progress else "starting",
            elapsed_s=elapsed, eta_s=max(0.0, expected - elapsed) if state in ("starting", "running") else 0.0,
            live_w=live, detail=progress.detail if progress else "", samples=samples, idle_w=idle_w,
            idle_window_ns=idle_window, windows=tuple(windows), loadgen=loadgen, telemetry=telemetry, error=error,
        )


def _copy(record: Mapping[str, Any]) -> Dict[str, Any]:
    """A shallow copy of the session's record, taken while its thread may be writing to it."""
    for _ in range(3):
        try:
            return dict(record)
        except RuntimeError:
            time.sleep(0.001)
    return {}


def _facts_telemetry(record: Mapping[str, Any]) -> Optional[Telemetry]:
    """The hottest zone the preflight read (no CPU figures: those come from a pass's telemetry)."""
    facts = (record.get("device") or {}).get("facts") or {}
    temps = [z.get("temp_c") for z in facts.get("thermal") or () if isinstance(z.get("temp_c"), (int, float))]
    temps = [t for t in temps if not math.isnan(t)]
    if not facts:
        return None
    return Telemetry(None, None, None, None, max(temps) if temps else None, "preflight")


def read_loadgen_progress(pass_name: str, text: Optional[str]) -> Optional[LoadgenProgress]:
    """The pass's state from its events.jsonl: the agent's last phase and LoadGen's last progress event."""
    if not text:
        return None
    phase, completed, elapsed = "started", None, None
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # the line being written
        kind = event.get("event")
        if kind == "phase":
            phase = str(event.get("phase"))
        elif kind == "progress":
            completed, elapsed = event.get("completed_samples"), event.get("elapsed_s")
        elif kind in ("finished", "failed"):
            phase = kind
    return LoadgenProgress(pass_name, phase, completed, elapsed)


def read_telemetry(text: Optional[str]) -> Optional[Telemetry]:
    """The newest complete row of a telemetry.csv: CPU %, mean and max core MHz, hottest zone (°C)."""
    if not text:
        return None
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        return None
    header = rows[0]
    row = next((r for r in reversed(rows[1:]) if len(r) == len(header)), None)
    if row is None:
        return None
    values = dict(zip(header, row))
    mhz = [_float(v) for k, v in values.items() if k.startswith("cpu") and k.endswith("_mhz")]
    mhz = [m for m in mhz if m is not None]
    temps = [_float(v) for k, v in values.items() if k.startswith("temp_")]
    temps = [t for t in temps if t is not None]
    t_ns = _float(values.get("t_ns", ""))
    return Telemetry(int(t_ns) if t_ns is not None else None, _float(values.get("cpu_percent", "")),
                     sum(mhz) / len(mhz) if mhz else None, max(mhz) if mhz else None,
                     max(temps) if temps else None, "telemetry.csv")


def _float(text: str) -> Optional[float]:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value
