"""TFLite backend: ai_edge_litert or tflite_runtime, XNNPACK by default, external delegates by path.

Options: xnnpack (bool, default True), delegate (path to an external delegate library),
delegate_options (dict of str → str passed to it).
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from agent.backends import Backend, TensorSpec, first_line
from agent.errors import BadInput, MissingDependency, ModelError

# ai-edge-litert is the maintained package (works under numpy 2); tflite-runtime 2.14 is what
# JetPack 5 boards on Python 3.8 have. Take whichever is installed, newest first.
_MODULES = (("ai_edge_litert.interpreter", "ai-edge-litert"), ("tflite_runtime.interpreter", "tflite-runtime"))


def _interpreter_module() -> Any:
    errors = []
    for name, _dist in _MODULES:
        try:
            return importlib.import_module(name)
        except ImportError as e:
            errors.append(f"{name}: {e}")
    raise MissingDependency(
        "no TFLite interpreter is installed (" + "; ".join(errors) + "); "
        "install it with: pip install 'edgepower[tflite]'"
    )


def available_version() -> Optional[str]:
    """'<distribution> <version>' of the interpreter that would be used, or None."""
    from importlib import util

    for name, dist in _MODULES:
        if util.find_spec(name.split(".")[0]) is not None:
            return f"{dist} {_dist_version(dist)}"
    return None


def _dist_version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _spec(detail: Dict[str, Any]) -> TensorSpec:
    signature = detail.get("shape_signature")
    if signature is None or len(signature) == 0:
        signature = detail["shape"]
    shape = tuple(None if int(d) < 0 else int(d) for d in signature)
    scale, zero_point = detail.get("quantization", (0.0, 0))
    quantized = float(scale) != 0.0
    return TensorSpec(
        name=detail["name"],
        shape=shape,
        dtype=np.dtype(detail["dtype"]).name,
        scale=float(scale) if quantized else None,
        zero_point=int(zero_point) if quantized else None,
    )


class TFLiteBackend(Backend):
    """A model on the TFLite interpreter."""

    name = "tflite"

    def __init__(self, path: str, threads: Optional[int], options: Dict[str, Any]) -> None:
        module = _interpreter_module()
        self._dist = next(d for n, d in _MODULES if module.__name__ == n)
        known = ("delegate", "delegate_options", "xnnpack")
        unknown = set(options) - set(known)
        if unknown:
            raise BadInput(f"unknown tflite backend option(s): {', '.join(sorted(unknown))} "
                           f"(known: {', '.join(known)})")
        kwargs: Dict[str, Any] = {"model_path": path, "num_threads": threads}
        if not options.get("xnnpack", True):
            kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        delegate_path = options.get("delegate")
        if delegate_path:
            delegate_options = {str(k): str(v) for k, v in dict(options.get("delegate_options") or {}).items()}
            try:
                kwargs["experimental_delegates"] = [module.load_delegate(delegate_path, delegate_options)]
            except (ValueError, OSError) as e:
                raise BadInput(f"cannot load TFLite delegate {delegate_path}: {e}") from e
        try:
            self._interp = module.Interpreter(**kwargs)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"cannot load TFLite model {path}: {first_line(e)}") from e
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self.inputs = [_spec(d) for d in self._in]
        self.outputs = [_spec(d) for d in self._out]
        self._batch = int(self._in[0]["shape"][0]) if len(self._in[0]["shape"]) else 1

    def run(self, batch: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Run one batch; a dynamic-batch model is resized when the batch size changes."""
        interp = self._interp
        size = batch[0].shape[0]
        if size != self._batch:
            self._resize(size)
        for detail, array in zip(self._in, batch):
            interp.set_tensor(detail["index"], array)
        interp.invoke()
        return [interp.get_tensor(detail["index"]) for detail in self._out]

    def _resize(self, size: int) -> None:
        if not self.dynamic_batch:
            raise BadInput(f"this TFLite model has a fixed batch of {self._batch}; cannot run a batch of {size}")
        for detail in self._in:
            self._interp.resize_tensor_input(detail["index"], [size] + list(detail["shape"][1:]))
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self._batch = size

    def runtime_version(self) -> str:
        """'<distribution> <version>' of the interpreter in use."""
        return f"{self._dist} {_dist_version(self._dist)}"

    def close(self) -> None:
        """Drop the interpreter."""
        self._interp = None


def load(path: str, threads: Optional[int] = None, options: Optional[Dict[str, Any]] = None) -> Backend:
    """Load a .tflite model."""
    return TFLiteBackend(path, threads, dict(options or {}))
