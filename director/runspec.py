"""What one `director run` asks for: the device, the analyzer, the model and job, and the session's phases."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from agent.protocol import USER_CONF_KEYS
from director.errors import BadInput

MODEL_SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}
"""The runtime that loads each model format (the agent picks its backend by the same suffixes)."""


@dataclass(frozen=True)
class RunSpec:
    """Inputs of one measured session. Durations in s; ranges (V, A) fix the testing ranges.

    ranging=False or explicit ranges skip the ranging pass; such a run is marked as not
    MLPerf-conformant (so is the `quick` profile). settle_s waits before the idle baseline and,
    with max_temp_c, also until the device is cooler than that. idle_w, when given, is an idle
    baseline measured before (by the run idle_from) and reused instead of measuring one.
    """

    device: str
    model: str
    scenario: str = "SingleStream"
    analyzer: Optional[str] = None
    mode: str = "performance"
    runtime: str = "auto"
    threads: Optional[int] = None
    profile: str = "quick"
    loadgen_model: str = "resnet50"
    settings: Mapping[str, float] = field(default_factory=dict)
    dataset: Mapping[str, Any] = field(default_factory=lambda: {"kind": "synthetic", "count": 1024, "seed": 0})
    batch_size: int = 32
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    calibration_s: float = 1.0
    telemetry_interval_s: float = 0.5
    ranging: bool = True
    ranges: Optional[Tuple[float, float]] = None
    current_floor_a: float = 0.0
    settle_s: float = 2.0
    max_temp_c: Optional[float] = None
    settle_timeout_s: float = 600.0
    idle_s: float = 3.0
    power_mode: Optional[str] = None
    clock_pings: int = 40
    clock_warn_ms: float = 5.0
    clock_fail_ms: float = 50.0
    results: str = "results"
    database: Optional[str] = None
    add_row: bool = True  # False: whoever started the session writes the database row (a sweep, on finishing its job)
    label: str = ""
    inventory: Optional[str] = None
    trust_host: bool = False
    replace_host_key: bool = False
    known_hosts: Optional[str] = None
    reboot_timeout_s: float = 300.0
    idle_w: Optional[float] = None
    idle_from: str = ""

    @property
    def conformant(self) -> bool:
        """Whether the session follows the MLPerf power flow: ranging then testing, rule durations."""
        if self.mode == "accuracy":
            return True  # accuracy mode runs the whole dataset, with no power figure, whatever the durations
        return self.ranging and self.ranges is None and self.profile == "mlperf" and not self.settings_shorten

    @property
    def settings_shorten(self) -> bool:
        """True when explicit settings cut durations or query counts below the rules."""
        return any(key in self.settings for key in ("min_duration", "min_query_count", "max_duration", "max_query_count"))

    def why_not_conformant(self) -> str:
        """Why the session is not MLPerf-conformant, for its check (empty reasons when it is)."""
        reasons = []
        if not self.ranging:
            reasons.append("no ranging pass (--no-ranging)")
        if self.ranges is not None:
            reasons.append(f"ranges given by hand ({self.ranges[0]:g} V, {self.ranges[1]:g} A)")
        if self.profile != "mlperf":
            reasons.append(f"profile {self.profile} (MLPerf needs 600 s runs)")
        if self.settings_shorten:
            reasons.append("settings change durations or query counts")
        return "not MLPerf-conformant: " + "; ".join(reasons)

    @property
    def passes(self) -> Tuple[str, ...]:
        """The LoadGen passes of the session, in order (MLPerf's folder names); accuracy mode has one."""
        if self.mode == "accuracy":
            return ("run_1",)
        return ("ranging", "run_1") if self.ranging and self.ranges is None else ("run_1",)

    def job(self, model_path: str, dataset: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """The agent job for one pass, with the model at its path on the device."""
        return {
            "model": model_path,
            "scenario": self.scenario,
            "mode": self.mode,
            "backend": self.runtime,
            "threads": self.threads,
            "backend_options": dict(self.backend_options),
            "loadgen_model": self.loadgen_model,
            "profile": self.profile,
            "settings": dict(self.settings),
            "dataset": dict(dataset if dataset is not None else self.dataset),
            "batch_size": self.batch_size,
            "calibration_s": self.calibration_s,
            "telemetry_interval_s": self.telemetry_interval_s,
        }

    def expected_pass_s(self) -> float:
        """A rough length of one pass, for the ETA: calibration + min_duration + start-up."""
        default_ms = 600_000 if self.profile == "mlperf" else 10_000
        return self.calibration_s + float(self.settings.get("min_duration", default_ms)) / 1000 + 3.0

    def expected_s(self) -> float:
        """A rough length of the whole session, for the ETA."""
        idle_s = 0.0 if self.idle_w is not None else self.idle_s
        return self.settle_s + idle_s + len(self.passes) * self.expected_pass_s() + 5.0


def parse_ranges(text: str) -> Tuple[float, float]:
    """'300,0.5' -> (300.0 V, 0.5 A)."""
    try:
        volts, amps = (float(part) for part in text.split(","))
    except ValueError:
        raise BadInput(f"--ranges wants VOLTS,AMPS such as 300,0.5 (got {text!r})") from None
    if not (0 < volts < math.inf and 0 < amps < math.inf):
        raise BadInput(f"--ranges must be positive numbers (got {text!r})")
    return volts, amps


def parse_setting(text: str) -> Tuple[str, float]:
    """'min_duration=2000' -> ('min_duration', 2000.0); LoadGen settings are numbers >= 0."""
    key, sep, value = text.partition("=")
    try:
        number = float(value)
        if not sep or not key.strip() or not math.isfinite(number) or number < 0:
            raise ValueError
    except ValueError:
        raise BadInput(
            f"--setting wants KEY=NUMBER, a LoadGen key and a number >= 0, such as min_duration=60000 (got {text!r})"
        ) from None
    if key.strip() not in USER_CONF_KEYS:
        raise BadInput(f"--setting {key.strip()!r} is not a LoadGen setting (known: {', '.join(sorted(USER_CONF_KEYS))})")
    return key.strip(), number


def check_model(path: str, runtime: str = "auto") -> None:
    """Refuse, before anything starts, a model the device could not load: missing, of another format, or
    not for the runtime asked for (the device itself finds a corrupt one)."""
    if not os.path.isfile(path):
        raise BadInput(f"model not found: {path}")
    suffix = os.path.splitext(path)[1].lower()
    native = MODEL_SUFFIXES.get(suffix)
    if native is None:
        raise BadInput(f"unknown model format {suffix or '(no extension)'!r} for {path} (expected .tflite or .onnx)")
    if runtime not in ("auto", native):
        raise BadInput(f"runtime {runtime!r} cannot load {path} (expected runtime auto or {native} for a {suffix} "
                       "model)")


def is_loadgen_model(name: str) -> bool:
    """Whether NAME can be LoadGen's model name: user.conf keys are MODEL.SCENARIO.KEY, so no dots or spaces
    (the agent refuses the same)."""
    return bool(name) and not any(c.isspace() or c == "." for c in name)


def check_loadgen_model(name: str) -> None:
    """Refuse a LoadGen model name the agent would refuse, before anything starts."""
    if not is_loadgen_model(name):
        raise BadInput(f"LoadGen model {name!r} is not a name without spaces or dots (expected one from "
                       "mlperf.conf such as resnet50)")
