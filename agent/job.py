"""A job: everything one pass needs, read from job.json and checked field by field."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Mapping, Optional

from agent.errors import BadInput

SCENARIOS = ("SingleStream", "Offline")
MODES = ("performance", "accuracy")
PROFILES = ("mlperf", "quick")
DATASET_KINDS = ("synthetic", "npy")
POSTPROCESS = ("argmax", "raw")


@dataclass(frozen=True)
class DatasetSpec:
    """Where samples come from: 'synthetic' (count, seed) or 'npy' (path, optional labels)."""

    kind: str = "synthetic"
    count: int = 1024
    seed: int = 0
    path: Optional[str] = None
    labels: Optional[str] = None


@dataclass(frozen=True)
class Job:
    """One LoadGen pass. Paths are absolute once read (relative ones are taken from the job's folder).

    settings holds explicit user.conf values (LoadGen keys, their units: ms for times) that win
    over the profile and the calibration; telemetry_interval_s 0 turns telemetry off.
    """

    model: str
    scenario: str
    mode: str = "performance"
    backend: str = "auto"
    threads: Optional[int] = None
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    loadgen_model: str = "resnet50"
    profile: str = "mlperf"
    settings: Mapping[str, float] = field(default_factory=dict)
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    batch_size: int = 32
    postprocess: str = "argmax"
    label_offset: int = 0
    telemetry_interval_s: float = 1.0
    calibration_s: float = 1.0
    performance_sample_count: Optional[int] = None
    audit_config: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        """The job as JSON (what result.json records)."""
        return asdict(self)


def _fail(source: str, message: str) -> BadInput:
    return BadInput(f"{source}: {message}")


def _choice(source: str, name: str, value: Any, choices: tuple) -> str:
    if value not in choices:
        raise _fail(source, f"'{name}' must be one of {', '.join(choices)} (got {value!r})")
    return value


def _number(source: str, name: str, value: Any, kind: type, minimum: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise _fail(source, f"'{name}' must be {'an integer' if kind is int else 'a number'} (got {value!r})")
    if value < minimum:
        raise _fail(source, f"'{name}' must be at least {minimum} (got {value!r})")
    return kind(value)


def _path(base: str, value: Any, source: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(source, f"'{name}' must be a path (got {value!r})")
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _dataset(raw: Any, base: str, source: str) -> DatasetSpec:
    if raw is None:
        return DatasetSpec()
    if not isinstance(raw, dict):
        raise _fail(source, f"'dataset' must be an object (got {raw!r})")
    known = ("kind", "count", "seed", "path", "labels")
    unknown = set(raw) - set(known)
    if unknown:
        raise _fail(source, f"unknown dataset field(s): {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    kind = _choice(source, "dataset.kind", raw.get("kind", "synthetic"), DATASET_KINDS)
    count = _number(source, "dataset.count", raw.get("count", 1024), int, 1)
    seed = _number(source, "dataset.seed", raw.get("seed", 0), int, 0)
    path = labels = None
    if kind == "npy":
        if "path" not in raw:
            raise _fail(source, "an npy dataset needs 'dataset.path' (a folder of .npy samples)")
        path = _path(base, raw["path"], source, "dataset.path")
        if raw.get("labels") is not None:
            labels = _path(base, raw["labels"], source, "dataset.labels")
    return DatasetSpec(kind=kind, count=count, seed=seed, path=path, labels=labels)


def _settings(raw: Any, source: str) -> Dict[str, float]:
    from agent.userconf import KEYS

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(source, f"'settings' must be an object of LoadGen keys (got {raw!r})")
    out: Dict[str, float] = {}
    for key, value in raw.items():
        if key not in KEYS:
            raise _fail(source, f"unknown LoadGen setting {key!r} (known: {', '.join(sorted(KEYS))})")
        out[key] = _number(source, f"settings.{key}", value, float, 0)
    return out


def job_from_dict(raw: Any, base: str = ".", source: str = "job") -> Job:
    """Check a job object and build the Job; raises BadInput naming the field at fault."""
    if not isinstance(raw, dict):
        raise _fail(source, "a job must be a JSON object")
    known = list(Job.__dataclass_fields__)
    unknown = set(raw) - set(known)
    if unknown:
        raise _fail(source, f"unknown field(s): {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    for required in ("model", "scenario"):
        if required not in raw:
            raise _fail(source, f"missing field '{required}'")
    threads = raw.get("threads")
    options = raw.get("backend_options") or {}
    if not isinstance(options, dict):
        raise _fail(source, f"'backend_options' must be an object (got {options!r})")
    name = raw.get("loadgen_model", "resnet50")
    if not isinstance(name, str) or not name or any(c.isspace() or c == "." for c in name):
        raise _fail(source, f"'loadgen_model' must be a name without spaces or dots (got {name!r})")
    pcount = raw.get("performance_sample_count")
    audit = raw.get("audit_config")
    return Job(
        model=_path(base, raw["model"], source, "model"),
        scenario=_choice(source, "scenario", raw["scenario"], SCENARIOS),
        mode=_choice(source, "mode", raw.get("mode", "performance"), MODES),
        backend=_choice(source, "backend", raw.get("backend", "auto"), ("auto", "tflite", "onnx")),
        threads=None if threads is None else _number(source, "threads", threads, int, 1),
        backend_options=options,
        loadgen_model=name,
        profile=_choice(source, "profile", raw.get("profile", "mlperf"), PROFILES),
        settings=_settings(raw.get("settings"), source),
        dataset=_dataset(raw.get("dataset"), base, source),
        batch_size=_number(source, "batch_size", raw.get("batch_size", 32), int, 1),
        postprocess=_choice(source, "postprocess", raw.get("postprocess", "argmax"), POSTPROCESS),
        label_offset=_number(source, "label_offset", raw.get("label_offset", 0), int, -(2**31)),
        telemetry_interval_s=_number(source, "telemetry_interval_s", raw.get("telemetry_interval_s", 1.0), float, 0),
        calibration_s=_number(source, "calibration_s", raw.get("calibration_s", 1.0), float, 0),
        performance_sample_count=None if pcount is None else _number(source, "performance_sample_count", pcount, int, 1),
        audit_config=None if audit is None else _path(base, audit, source, "audit_config"),
    )


def read_job(path: str) -> Job:
    """Read and check a job.json file."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise BadInput(f"job file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"cannot read job file {path}: {e}") from None
    return job_from_dict(raw, base=os.path.dirname(os.path.abspath(path)), source=path)
