"""Runtime backends behind one interface: load a model, describe its tensors, run a batch."""

from __future__ import annotations

import abc
import importlib
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from agent.errors import MissingDependency, ModelError


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: name, shape (None for a dynamic dimension), numpy dtype name,
    and quantization parameters (real = scale × (q − zero_point)) when the tensor is quantized."""

    name: str
    shape: Tuple[Optional[int], ...]
    dtype: str
    scale: Optional[float] = None
    zero_point: Optional[int] = None

    @property
    def quantized(self) -> bool:
        """True when the tensor holds quantized integers."""
        return self.scale is not None and self.scale != 0.0

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready description."""
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }


class Backend(abc.ABC):
    """A loaded model on one runtime."""

    name = ""
    inputs: List[TensorSpec]
    outputs: List[TensorSpec]

    @property
    def dynamic_batch(self) -> bool:
        """True when every input's first dimension is dynamic, so batches of any size run."""
        return all(spec.shape and spec.shape[0] is None for spec in self.inputs)

    @abc.abstractmethod
    def run(self, batch: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Run one batch (one array per input, batch first); return one array per output."""

    @abc.abstractmethod
    def runtime_version(self) -> str:
        """The runtime's name and version, e.g. 'onnxruntime 1.19.2'."""

    def close(self) -> None:
        """Release the runtime's resources."""

    def describe(self) -> Dict[str, Any]:
        """Inputs, outputs and runtime as JSON."""
        return {
            "backend": self.name,
            "runtime": self.runtime_version(),
            "dynamic_batch": self.dynamic_batch,
            "inputs": [spec.to_json() for spec in self.inputs],
            "outputs": [spec.to_json() for spec in self.outputs],
        }


_BY_EXTENSION = {".tflite": "tflite", ".onnx": "onnx"}
_MODULES = {"tflite": "agent.backends.tflite", "onnx": "agent.backends.onnx"}


def backend_for_path(path: str) -> str:
    """The backend name for a model file, from its extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in _BY_EXTENSION:
        raise ModelError(
            f"unknown model format {ext or '(no extension)'!r} for {path} (expected .tflite or .onnx)"
        )
    return _BY_EXTENSION[ext]


def open_backend(
    path: str, backend: str = "auto", threads: Optional[int] = None, options: Optional[Mapping[str, Any]] = None
) -> Backend:
    """Load the model at path on the named backend ('auto' picks by file extension)."""
    if not os.path.isfile(path):
        raise ModelError(f"model not found: {path}")
    name = backend_for_path(path) if backend == "auto" else backend
    if name not in _MODULES:
        raise ModelError(f"unknown backend {name!r} (known: {', '.join(sorted(_MODULES))})")
    module = importlib.import_module(_MODULES[name])
    return module.load(path, threads=threads, options=dict(options or {}))


def installed_runtimes() -> Dict[str, Optional[str]]:
    """Each runtime module that can be imported here, with its version (None when absent)."""
    from agent.backends import onnx, tflite

    return {"tflite": tflite.available_version(), "onnx": onnx.available_version()}


def require(module_name: str, extra: str) -> Any:
    """Import a runtime module or raise MissingDependency naming the extra to install."""
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        raise MissingDependency(
            f"{module_name} is not installed ({e}); install it with: pip install 'edgepower[{extra}]'"
        ) from e


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (runtimes raise multi-line C++ errors)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
