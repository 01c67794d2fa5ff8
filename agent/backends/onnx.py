"""ONNX Runtime backend: intra-op threads and an ordered list of execution providers.

Options: providers — a list, in order of preference, of provider names
("CUDAExecutionProvider") or {"name": ..., "options": {...}} objects whose options are passed
through to the provider (e.g. TensorRT's trt_fp16_enable). Default: CPU only.
session_config — ONNX Runtime session config entries passed through as strings, e.g.
{"session.intra_op.allow_spinning": "0"}.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from agent.backends import Backend, TensorSpec, first_line, require
from agent.errors import BadInput, ModelError

_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(uint16)": "uint16",
    "tensor(int32)": "int32",
    "tensor(uint32)": "uint32",
    "tensor(int64)": "int64",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}


def available_version() -> Optional[str]:
    """'onnxruntime <version>' when it can be imported here, else None."""
    from importlib import metadata, util

    if util.find_spec("onnxruntime") is None:
        return None
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            return f"onnxruntime {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "onnxruntime unknown"


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or []))
    dtype = _DTYPES.get(arg.type)
    if dtype is None:
        raise ModelError(f"ONNX tensor {arg.name!r} has an unsupported type {arg.type}")
    return TensorSpec(name=arg.name, shape=shape, dtype=dtype)


def _providers(options: Dict[str, Any], available: List[str]) -> Tuple[List[str], List[Dict[str, Any]]]:
    names: List[str] = []
    provider_options: List[Dict[str, Any]] = []
    for item in options.get("providers") or ["CPUExecutionProvider"]:
        if isinstance(item, str):
            name, opts = item, {}
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            name, opts = item["name"], dict(item.get("options") or {})
        else:
            raise BadInput(f"onnx providers: each item must be a name or {{'name', 'options'}}, not {item!r}")
        if name not in available:
            raise BadInput(
                f"ONNX Runtime execution provider {name} is not available here (available: {', '.join(available)})"
            )
        names.append(name)
        provider_options.append({str(k): str(v) for k, v in opts.items()})
    return names, provider_options


class OnnxBackend(Backend):
    """A model in an ONNX Runtime inference session."""

    name = "onnx"

    def __init__(self, path: str, threads: Optional[int], options: Dict[str, Any]) -> None:
        ort = require("onnxruntime", "onnx")
        known = ("providers", "session_config")
        unknown = set(options) - set(known)
        if unknown:
            raise BadInput(f"unknown onnx backend option(s): {', '.join(sorted(unknown))} "
                           f"(known: {', '.join(known)})")
        self._ort = ort
        session_options = ort.SessionOptions()
        if threads:
            session_options.intra_op_num_threads = int(threads)
        session_options.log_severity_level = 3  # errors only; warnings would flood stderr
        config = options.get("session_config") or {}
        if not isinstance(config, dict):
            raise BadInput(f"onnx session_config must be an object of strings, not {config!r}")
        for key, value in config.items():
            try:
                session_options.add_session_config_entry(str(key), str(value))
            except Exception as e:  # onnxruntime's own error class for a bad entry
                raise BadInput(f"onnx session_config {key}={value}: {e}") from e
        providers, provider_options = _providers(options, ort.get_available_providers())
        try:
            self._session = ort.InferenceSession(
                path, sess_options=session_options, providers=providers, provider_options=provider_options
            )
        except Exception as e:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...)
            raise ModelError(f"cannot load ONNX model {path}: {first_line(e)}") from e
        self.providers = self._session.get_providers()
        self.inputs = [_spec(arg) for arg in self._session.get_inputs()]
        self.outputs = [_spec(arg) for arg in self._session.get_outputs()]
        self._input_names = [spec.name for spec in self.inputs]
        self._output_names = [spec.name for spec in self.outputs]

    def run(self, batch: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Run one batch."""
        return self._session.run(self._output_names, dict(zip(self._input_names, batch)))

    def runtime_version(self) -> str:
        """'onnxruntime <version>'."""
        return f"onnxruntime {self._ort.__version__}"

    def describe(self) -> Dict[str, Any]:
        """Inputs, outputs, runtime and the providers in use."""
        description = super().describe()
        description["providers"] = list(self.providers)
        return description

    def close(self) -> None:
        """Drop the session."""
        self._session = None


def load(path: str, threads: Optional[int] = None, options: Optional[Dict[str, Any]] = None) -> Backend:
    """Load a .onnx model."""
    return OnnxBackend(path, threads, dict(options or {}))
