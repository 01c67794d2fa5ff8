"""The sweep spec: a TOML file describing an unattended sweep (devices x models x matrix x repeats), as jobs.

See docs/sweeps.md for the format. Everything is checked before anything runs; a mistake is one
BadInput line "FILE:LINE: what is wrong (expected ...)".
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from devices.errors import DeviceError
from devices.inventory import Inventory
from director.errors import BadInput
from director.runspec import MODEL_SUFFIXES
from director.sweepplan import format_plan, interleave, job_estimate_s, order_cases, sweep_estimate_s
from director.sweepread import (
    KeyPath, Reader, any_number, boolean, choice, dotted, integer, instant, listing, loadgen_model, locate, name,
    number, power_mode, ranges, show, text, tname,
)

__all__ = [
    "Cooldown", "IdlePolicy", "SweepJob", "SweepSpec", "check_power_modes", "format_plan", "job_estimate_s",
    "load_sweep_spec",
]

SCENARIOS = ("SingleStream", "Offline")
RUNTIMES = ("auto", "tflite", "onnx")
ORDERS = ("interleaved", "grouped")
IDLE_POLICIES = ("every_job", "once_per_mode")
TOP_KEYS = ("sweep", "matrix", "run", "cooldown", "idle", "devices", "models")
SWEEP_KEYS = ("name", "order", "repeats", "max_attempts", "job_timeout_s", "budget_h", "stop_after_failures",
              "stop_at", "results", "bench")
MATRIX_KEYS = ("scenarios", "power_modes", "runtimes", "threads")
COOLDOWN_KEYS = ("seconds", "max_temp_c", "timeout_s")
IDLE_KEYS = ("policy", "seconds")
DEVICE_KEYS = MATRIX_KEYS + ("run", "bench", "tag")
MODEL_KEYS = ("path",) + MATRIX_KEYS + ("run",)
MATRIX_CHECKS = {
    "scenarios": listing(choice("a scenario", SCENARIOS)),
    "power_modes": listing(power_mode),
    "runtimes": listing(choice("a runtime", RUNTIMES)),
    "threads": listing(integer(1)),
}
MATRIX_DEFAULTS: Mapping[str, List[Any]] = {
    "scenarios": ["SingleStream"], "power_modes": [None], "runtimes": ["auto"], "threads": [None],
}
RUN_CHECKS = {
    "profile": choice("a profile", ("quick", "mlperf")),
    "loadgen_model": loadgen_model,
    "mode": choice("a mode", ("performance", "accuracy")),
    "batch_size": integer(1),
    "calibration_s": number(),
    "telemetry_interval_s": number(),
    "ranging": boolean,
    "ranges": ranges,
    "current_floor_a": number(),
    "clock_pings": integer(1),
}
RUN_KEYS = tuple(RUN_CHECKS) + ("settings", "dataset")
_MATRIX_PLACE = "in [matrix], [devices.NAME] or [models.NAME]"
RUN_ELSEWHERE = {
    "device": "a [devices.NAME] table per device",
    "model": "a [models.NAME] table per model, with path = ...",
    "scenario": f"scenarios = [...] {_MATRIX_PLACE}",
    "runtime": f"runtimes = [...] {_MATRIX_PLACE}",
    "threads": f"threads = [...] {_MATRIX_PLACE}",
    "power_mode": f"power_modes = [...] {_MATRIX_PLACE}",
    "results": "results = ... in [sweep]",
    "settle_s": "seconds = ... in [cooldown]",
    "max_temp_c": "max_temp_c = ... in [cooldown]",
    "settle_timeout_s": "timeout_s = ... in [cooldown]",
    "idle_s": "seconds = ... in [idle]",
    "analyzer": "the device's analyzer in the inventory (devices.toml)",
    "database": "the sweep runner's results database, not a per-job setting",
    "label": "none: the sweep runner labels each job",
    "inventory": "--inventory on the command line",
    "known_hosts": "--known-hosts on the command line",
    "trust_host": "host keys trusted before the sweep (director devices check --trust-host)",
    "replace_host_key": "host keys fixed before the sweep, not during it",
}
DATASET_KEYS = ("kind", "count", "seed", "path", "labels")


@dataclass(frozen=True)
class SweepJob:
    """One measured session of a sweep; run holds its other RunSpec keyword arguments."""

    key: str
    device: str
    model_name: str
    model_path: str
    runtime: str
    threads: Optional[int]
    scenario: str
    power_mode: Optional[str]
    repeat: int
    run: Mapping[str, Any] = field(default_factory=dict)
    bench: Optional[str] = None  # only workers of this bench host run it (None: any)
    tag: Optional[str] = None  # device names a pool: any board carrying this tag runs it

    def to_json(self) -> Dict[str, Any]:
        """The job as JSON (ranges as a list)."""
        data = {k: v for k, v in asdict(self).items() if k != "run"}
        data["run"] = {k: (list(v) if k == "ranges" and v is not None else _copy(v)) for k, v in self.run.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepJob:
        """The job to_json() wrote."""
        run = {k: (tuple(v) if k == "ranges" and v is not None else _copy(v)) for k, v in data["run"].items()}
        fields = {k: data[k] for k in ("key", "device", "model_name", "model_path", "runtime", "threads",
                                       "scenario", "power_mode", "repeat")}
        return cls(run=run, bench=data.get("bench"), tag=data.get("tag"), **fields)


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


@dataclass(frozen=True)
class Cooldown:
    """Before each job: wait seconds, then (with max_temp_c) until the device is cooler, up to timeout_s."""

    seconds: float = 0.0
    max_temp_c: Optional[float] = None
    timeout_s: float = 600.0


@dataclass(frozen=True)
class IdlePolicy:
    """The idle baseline: seconds long, measured by every job or once per device x power mode."""

    policy: str = "every_job"
    seconds: float = 3.0


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: its jobs in run order and how to run them. Times in s, stop_at_ns in UTC ns.

    lines maps key paths of the file (("devices", "board1", "power_modes")) to their line, for where().
    """

    name: str
    path: str
    jobs: Tuple[SweepJob, ...]
    order: str
    cooldown: Cooldown
    idle: IdlePolicy
    max_attempts: int = 3
    job_timeout_s: Optional[float] = None
    budget_s: Optional[float] = None
    stop_after_failures: Optional[int] = None
    stop_at_ns: Optional[int] = None
    results: Optional[str] = None
    lines: Mapping[KeyPath, int] = field(default_factory=dict, compare=False, repr=False)
    _memo: Dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def where(self, *key_path: str) -> str:
        """"FILE:LINE" of a key (or of its nearest table), "FILE" if unknown."""
        return locate(self.path, self.lines, key_path)

    def estimate_s(self) -> float:
        """The whole sweep's estimated seconds: the slowest device's total (devices run in parallel)."""
        return sweep_estimate_s(self)

    def to_json(self) -> Dict[str, Any]:
        """Everything, JSON-able (the sweep database keeps it; a resumed sweep reads it back)."""
        return {
            "format": 1, "name": self.name, "path": self.path, "order": self.order,
            "jobs": [job.to_json() for job in self.jobs],
            "cooldown": asdict(self.cooldown), "idle": asdict(self.idle), "max_attempts": self.max_attempts,
            "job_timeout_s": self.job_timeout_s, "budget_s": self.budget_s,
            "stop_after_failures": self.stop_after_failures, "stop_at_ns": self.stop_at_ns,
            "results": self.results, "lines": [[list(path), line] for path, line in self.lines.items()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepSpec:
        """The spec to_json() wrote."""
        return cls(
            name=data["name"], path=data["path"], order=data["order"],
            jobs=tuple(SweepJob.from_json(job) for job in data["jobs"]),
            cooldown=Cooldown(**data["cooldown"]), idle=IdlePolicy(**data["idle"]),
            max_attempts=data["max_attempts"], job_timeout_s=data["job_timeout_s"], budget_s=data["budget_s"],
            stop_after_failures=data["stop_after_failures"], stop_at_ns=data["stop_at_ns"],
            results=data["results"], lines={tuple(path): line for path, line in data.get("lines", [])},
        )


@dataclass(frozen=True)
class _Entry:
    """A [devices.NAME] or [models.NAME] table: its matrix overrides (value, origin) and [run] overrides."""

    name: str
    matrix: Mapping[str, Tuple[List[Any], KeyPath]]
    run: Mapping[str, Any]
    path: str = ""
    bench: Optional[str] = None
    tag: Optional[str] = None


def load_sweep_spec(path: str, inventory: Inventory, shared: bool = False) -> SweepSpec:
    """Read and check a sweep spec; BadInput "FILE:LINE: ..." for the first mistake.

    shared: the jobs go to a store bench hosts share, whose own inventories know the boards, so device
    names and tags are not looked up in this host's inventory."""
    file = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(file):
        raise BadInput(f"sweep spec not found: {path}")
    try:
        with open(file, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{file}: cannot read the sweep spec: {e}") from None
    r = Reader(file, source)
    data = r.table(r.data, (), TOP_KEYS)
    folder = os.path.dirname(file)
    if "sweep" not in data:
        raise BadInput(f'{file}: no [sweep] table (expected [sweep] with name = "...")')
    sweep = r.table(data["sweep"], ("sweep",), SWEEP_KEYS)
    at = ("sweep",)
    if "name" not in sweep:
        raise r.fail(at, 'sweep.name is missing (expected name = "..." in [sweep])')
    results = r.get(sweep, at, "results", text)
    budget_h = r.get(sweep, at, "budget_h", number(strict=True))
    options: Dict[str, Any] = dict(
        name=r.get(sweep, at, "name", name), path=file,
        order=r.get(sweep, at, "order", choice("an order", ORDERS), "interleaved"),
        max_attempts=r.get(sweep, at, "max_attempts", integer(1), 3),
        job_timeout_s=r.get(sweep, at, "job_timeout_s", number(strict=True)),
        budget_s=budget_h * 3600.0 if budget_h is not None else None,
        stop_after_failures=r.get(sweep, at, "stop_after_failures", integer(1)),
        stop_at_ns=r.get(sweep, at, "stop_at", instant),
        results=os.path.abspath(os.path.join(folder, os.path.expanduser(results))) if results else None,
    )
    repeats = r.get(sweep, at, "repeats", integer(1), 1)
    matrix = _matrix(r, r.table(data.get("matrix", {}), ("matrix",), MATRIX_KEYS), ("matrix",))
    run = _run(r, data.get("run", {}), ("run",))
    cooldown_table = r.table(data.get("cooldown", {}), ("cooldown",), COOLDOWN_KEYS)
    cooldown = Cooldown(
        seconds=r.get(cooldown_table, ("cooldown",), "seconds", number(), 0.0),
        max_temp_c=r.get(cooldown_table, ("cooldown",), "max_temp_c", any_number),
        timeout_s=r.get(cooldown_table, ("cooldown",), "timeout_s", number(strict=True), 600.0),
    )
    idle_table = r.table(data.get("idle", {}), ("idle",), IDLE_KEYS)
    idle = IdlePolicy(
        policy=r.get(idle_table, ("idle",), "policy", choice("an idle policy", IDLE_POLICIES), "every_job"),
        seconds=r.get(idle_table, ("idle",), "seconds", number(strict=True), 3.0),
    )
    bench = r.get(sweep, at, "bench", name)
    devices = [_device(r, device, entry, inventory, bench, shared)
               for device, entry in _entries(r, data, "devices").items()]
    models = [_model(r, model, entry, folder) for model, entry in _entries(r, data, "models").items()]
    per_device = [_device_jobs(r, device, models, matrix, run, repeats, options["order"]) for device in devices]
    return SweepSpec(jobs=tuple(interleave(per_device)), cooldown=cooldown, idle=idle, lines=r.lines, **options)


def _entries(r: Reader, data: Mapping[str, Any], kind: str) -> Dict[str, Any]:
    example = "[devices.local]" if kind == "devices" else '[models.NAME] with path = "model.onnx"'
    if kind not in data:
        raise BadInput(f"{r.file}: no [{kind}] table (expected a [{kind}.NAME] table for each, e.g. {example})")
    value = data[kind]
    if not isinstance(value, dict):
        raise r.fail((kind,), f"{kind}: {show(value)} is {tname(value)} (expected a [{kind}.NAME] table for each)")
    if not value:
        raise r.fail((kind,), f"the product is empty: [{kind}] names none (expected a [{kind}.NAME] table for each)")
    return value


def _matrix(r: Reader, table: Mapping[str, Any], at: KeyPath) -> Dict[str, Tuple[List[Any], KeyPath]]:
    return {key: (r.get(table, at, key, MATRIX_CHECKS[key]), at + (key,)) for key in MATRIX_KEYS if key in table}


def _run(r: Reader, value: Any, at: KeyPath) -> Dict[str, Any]:
    table = r.table(value, at, RUN_KEYS, RUN_ELSEWHERE)
    run = {key: r.get(table, at, key, check) for key, check in RUN_CHECKS.items() if key in table}
    if "settings" in table:
        run["settings"] = r.settings(table["settings"], at + ("settings",))
    if "dataset" in table:
        where = at + ("dataset",)
        dataset = r.table(table["dataset"], where, DATASET_KEYS)
        kind = r.get(dataset, where, "kind", choice("a dataset kind", ("synthetic", "npy")), "synthetic")
        run["dataset"] = {"kind": kind, **{key: r.get(dataset, where, key, check) for key, check in (
            ("count", integer(1)), ("seed", integer(0)), ("path", text), ("labels", text)) if key in dataset}}
        if kind == "npy" and "path" not in dataset:
            raise r.fail(where, f'{dotted(where)}: kind "npy" needs path (expected a folder of .npy files on '
                                "the device)")
    return run


def _device(r: Reader, device: str, value: Any, inventory: Inventory, bench: Optional[str], shared: bool) -> _Entry:
    at = ("devices", device)
    table = r.table(value, at, DEVICE_KEYS)
    tag = r.get(table, at, "tag", name)
    if tag is not None and not shared and not any(tag in board.tags for board in inventory.listed()):
        raise r.fail(at + ("tag",), f"{dotted(at)}.tag: no board in {inventory.path or 'the inventory'} carries the "
                                    f"tag {tag!r} (expected tags = [\"{tag}\", ...] on a board in devices.toml)")
    if tag is None and not shared:
        try:
            inventory.get(device)
        except DeviceError as e:
            raise r.fail(at, str(e)) from None
    if "/" in device:
        raise r.fail(at, f"device {device!r}: a sweep's device names may not hold '/' (they are part of job keys)")
    return _Entry(device, _matrix(r, table, at), _run(r, table.get("run", {}), at + ("run",)),
                  bench=r.get(table, at, "bench", name, bench), tag=tag)


def _model(r: Reader, model: str, value: Any, folder: str) -> _Entry:
    at = ("models", model)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", model):
        raise r.fail(at, f"{dotted(at)}: {show(model)} is not a model name (expected letters, digits, '.', '_' "
                         "or '-')")
    table = r.table(value, at, MODEL_KEYS)
    if "path" not in table:
        raise r.fail(at, f'{dotted(at)}.path is missing (expected path = "model.onnx" or ".tflite")')
    given = r.get(table, at, "path", text)
    full = os.path.abspath(os.path.join(folder, os.path.expanduser(given)))
    if os.path.splitext(full)[1].lower() not in MODEL_SUFFIXES:
        raise r.fail(at + ("path",), f"{dotted(at)}.path: {show(given)} is not a model file (expected a .onnx or "
                                     ".tflite file)")
    if not os.path.isfile(full):
        raise r.fail(at + ("path",), f"{dotted(at)}.path: {full} does not exist (expected a model file on this "
                                     "host; a relative path starts at the spec's folder)")
    return _Entry(model, _matrix(r, table, at), _run(r, table.get("run", {}), at + ("run",)), full)


def _merge_run(*layers: Mapping[str, Any]) -> Dict[str, Any]:
    """Later layers win; settings merge key by key."""
    merged: Dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            merged[key] = {**merged.get(key, {}), **value} if key == "settings" else _copy(value)
    return merged


def _device_jobs(r: Reader, device: _Entry, models: Sequence[_Entry], matrix: Mapping[str, Any],
                 run: Mapping[str, Any], repeats: int, order: str) -> List[SweepJob]:
    cases: List[SweepJob] = []
    for model in models:
        axes: Dict[str, List[Any]] = {}
        for key in MATRIX_KEYS:
            for source in (model.matrix, device.matrix, matrix):
                if key in source:
                    axes[key] = source[key][0]
                    break
            else:
                axes[key] = MATRIX_DEFAULTS[key]
        native = MODEL_SUFFIXES[os.path.splitext(model.path)[1].lower()]
        for runtime in axes["runtimes"]:
            if runtime not in ("auto", native):
                origin = next(s["runtimes"][1] for s in (model.matrix, device.matrix, matrix) if "runtimes" in s)
                raise r.fail(origin, f'{dotted(origin)}: runtime "{runtime}" cannot load models.{model.name} '
                                     f'({os.path.basename(model.path)}) (expected "auto" or "{native}"; '
                                     f"runtimes = [...] in [models.{model.name}] overrides)")
        merged = _merge_run(run, device.run, model.run)
        cases.extend(
            SweepJob(key="", device=device.name, model_name=model.name, model_path=model.path, runtime=runtime,
                     threads=threads, scenario=scenario, power_mode=mode, repeat=0, run=merged, bench=device.bench,
                     tag=device.tag)
            for runtime in axes["runtimes"] for threads in axes["threads"] for scenario in axes["scenarios"]
            for mode in axes["power_modes"]
        )
    ordered = order_cases(cases, lambda job: job.power_mode, repeats, order)
    return [_numbered(job, repeat) for job, repeat in ordered]


def _numbered(job: SweepJob, repeat: int) -> SweepJob:
    threads = "-" if job.threads is None else str(job.threads)
    key = (f"{job.device}/{job.model_name}/{job.runtime}/t{threads}/{job.scenario}/{job.power_mode or '-'}"
           f"/r{repeat}")
    return SweepJob(key=key, device=job.device, model_name=job.model_name, model_path=job.model_path,
                    runtime=job.runtime, threads=job.threads, scenario=job.scenario, power_mode=job.power_mode,
                    repeat=repeat, run=_merge_run(job.run), bench=job.bench, tag=job.tag)


def check_power_modes(spec: SweepSpec, modes_by_device: Mapping[str, Sequence[str]]) -> None:
    """Raise BadInput "FILE:LINE: board1 has no power mode '3W' (board modes: ...)" for the first job asking
    a mode its board lacks (names compared in any case, as profiles do); devices not in the mapping pass."""
    for job in spec.jobs:
        if job.power_mode is None or job.device not in modes_by_device:
            continue
        modes = list(modes_by_device[job.device])
        if job.power_mode.lower() not in {mode.lower() for mode in modes}:
            candidates = (("models", job.model_name, "power_modes"), ("devices", job.device, "power_modes"),
                          ("matrix", "power_modes"))
            origin = next((c for c in candidates if c in spec.lines), candidates[-1])
            raise BadInput(f"{spec.where(*origin)}: {job.device} has no power mode '{job.power_mode}' "
                           f"(board modes: {', '.join(sorted(modes)) or 'none'})")
