"""MobileNet-class bench models for each runtime, generated on first use and cached in bench/out/models/.

    python -m bench.models [--paths-only]

prints one JSON line per model: its path, its size and how long one inference (batch 1) takes here.
The ONNX models need only the `onnx` package. The TFLite model needs tensorflow, run in a subprocess
by the interpreter named in EDGEPOWER_TF_PYTHON, else by a venv made once in bench/out/tfvenv
(`pip install tensorflow-cpu`, about 300 MB, x86-64 Linux wheels). Delete bench/out/models/ to regenerate.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np

log = logging.getLogger(__name__)

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
MODELS_DIR = OUT / "models"
TF_VENV = OUT / "tfvenv"
TF_REQUIREMENT = "tensorflow-cpu==2.21.*"
TF_CONVERTER = BENCH / "_tflite_mobilenet.py"

SEED = 20240601
IMAGE = 224
CLASSES = 1000
# MobileNetV2's inverted residual stages: (expansion, output channels, repeats, first stride).
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

FILES = {
    "tflite": "mobilenet_v2_224_b1.tflite",
    "onnx": "mobilenet_v2_224.onnx",
    "onnx_b1": "mobilenet_v2_224_b1.onnx",
}


class ModelBuildError(RuntimeError):
    """A bench model could not be generated."""


# --- ONNX, with onnx.helper ------------------------------------------------------------------------


class OnnxBuilder:
    """Accumulates nodes and seeded weights for a MobileNetV2-shaped graph (batch norm folded into biases)."""

    def __init__(self, seed: int) -> None:
        from onnx import numpy_helper

        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.initializers = [
            numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"),
            numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max"),
        ]
        self.count = 0

    def name(self, kind: str) -> str:
        """A fresh tensor name."""
        self.count += 1
        return f"{kind}_{self.count}"

    def weight(self, name: str, array: np.ndarray) -> str:
        """Add an initializer; its name."""
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attributes) -> str:
        """Add a node with one output; the output's name."""
        from onnx import helper

        output = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def conv(self, x: str, c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1, relu6: bool = True) -> str:
        """Conv (He-normal weights, small biases), optionally followed by ReLU6."""
        fan_in = c_in // groups * kernel * kernel
        w = self.rng.normal(scale=np.sqrt(2.0 / fan_in), size=(c_out, c_in // groups, kernel, kernel))
        b = self.rng.normal(scale=0.01, size=c_out)
        name = self.name("conv")
        pad = kernel // 2
        y = self.node(
            "Conv",
            [x, self.weight(f"{name}_w", w), self.weight(f"{name}_b", b)],
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[pad] * 4,
            group=groups,
        )
        return self.node("Clip", [y, "relu6_min", "relu6_max"]) if relu6 else y

    def inverted_residual(self, x: str, c_in: int, c_out: int, expansion: int, stride: int) -> str:
        """Expand (1x1) -> depthwise 3x3 -> linear project (1x1), plus the input when shapes allow."""
        hidden = c_in * expansion
        y = self.conv(x, c_in, hidden, 1, 1) if expansion != 1 else x
        y = self.conv(y, hidden, hidden, 3, stride, groups=hidden)
        y = self.conv(y, hidden, c_out, 1, 1, relu6=False)
        return self.node("Add", [x, y]) if stride == 1 and c_in == c_out else y

    def classifier(self, x: str, c_in: int) -> str:
        """Global average pooling -> fully connected -> softmax, output named "probs"."""
        from onnx import helper

        pooled = self.node("Flatten", [self.node("GlobalAveragePool", [x])], axis=1)
        w = self.rng.normal(scale=np.sqrt(1.0 / c_in), size=(c_in, CLASSES))
        logits = self.node("Gemm", [pooled, self.weight("fc_w", w), self.weight("fc_b", np.zeros(CLASSES))])
        self.nodes.append(helper.make_node("Softmax", [logits], ["probs"], name="probs", axis=-1))
        return "probs"


def mobilenet_onnx(batch: int | str, seed: int = SEED):
    """A MobileNetV2 (1.0, 224) ONNX model with seeded random weights; NHWC input like the TFLite one."""
    import onnx
    from onnx import TensorProto, helper

    builder = OnnxBuilder(seed)
    x = builder.node("Transpose", ["input"], perm=[0, 3, 1, 2])
    x, channels = builder.conv(x, 3, 32, 3, 2), 32
    for expansion, c_out, repeats, stride in STAGES:
        for index in range(repeats):
            x = builder.inverted_residual(x, channels, c_out, expansion, stride if index == 0 else 1)
            channels = c_out
    x = builder.conv(x, channels, 1280, 1, 1)
    probs = builder.classifier(x, 1280)
    graph = helper.make_graph(
        builder.nodes,
        "mobilenet_v2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, IMAGE, IMAGE, 3])],
        [helper.make_tensor_value_info(probs, TensorProto.FLOAT, [batch, CLASSES])],
        builder.initializers,
    )
    # Opset 13 / IR 8: loadable by the older onnxruntime builds found on boards.
    model = helper.make_model(graph, producer_name="edgepower-bench", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# --- TFLite, through a tensorflow interpreter ------------------------------------------------------


def has_tensorflow(python: str) -> bool:
    """Whether that interpreter can import tensorflow."""
    try:
        return subprocess.run([python, "-c", "import tensorflow"], capture_output=True).returncode == 0  # noqa: S603 - argv list, no shell; a fixed probe
    except OSError:
        return False


def run_logged(command: list[str], what: str) -> None:
    """Run a command, raising ModelBuildError with the tail of its output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True)  # noqa: S603 - argv lists built in this script, no shell
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ModelBuildError(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))


def tensorflow_python() -> str:
    """EDGEPOWER_TF_PYTHON if set, else the cached bench/out/tfvenv interpreter, created when missing."""
    chosen = os.environ.get("EDGEPOWER_TF_PYTHON")
    if chosen:
        if not has_tensorflow(chosen):
            raise ModelBuildError(f"EDGEPOWER_TF_PYTHON={chosen} cannot import tensorflow")
        return chosen
    python = TF_VENV / "bin" / "python"
    if python.exists() and has_tensorflow(str(python)):
        return str(python)
    log.info("creating %s with %s (a few minutes, once)", TF_VENV, TF_REQUIREMENT)
    run_logged([sys.executable, "-m", "venv", str(TF_VENV)], f"creating {TF_VENV}")
    run_logged([str(python), "-m", "pip", "install", "-q", TF_REQUIREMENT], f"pip install {TF_REQUIREMENT}")
    return str(python)


def write_tflite(path: Path, seed: int = SEED) -> None:
    """Convert MobileNetV2 to path in a tensorflow subprocess."""
    python = tensorflow_python()
    log.info("converting MobileNetV2 to %s with %s", path.name, python)
    partial = path.with_name(path.name + ".partial")
    run_logged([python, str(TF_CONVERTER), str(partial), str(seed)], "TFLite conversion")
    partial.replace(path)


# --- the cache -----------------------------------------------------------------------------------


def write_onnx(path: Path, batch: int | str) -> None:
    """Build and save one ONNX variant, whole or not at all."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(mobilenet_onnx(batch).SerializeToString())
    partial.replace(path)


def ensure_models(kinds: Iterable[str] = tuple(FILES), out_dir: Path = MODELS_DIR) -> dict[str, Path]:
    """Paths of the bench models ("tflite", "onnx" with a symbolic batch, "onnx_b1"), made if missing."""
    makers = {"tflite": write_tflite, "onnx": lambda p: write_onnx(p, "N"), "onnx_b1": lambda p: write_onnx(p, 1)}
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind in kinds:
        if kind not in FILES:
            raise ValueError(f"unknown bench model {kind!r}; known: {', '.join(FILES)}")
        paths[kind] = out_dir / FILES[kind]
        if not paths[kind].exists():
            makers[kind](paths[kind])
    return paths


# --- one inference, timed ------------------------------------------------------------------------


def time_runs(run, repeats: int) -> dict[str, int]:
    """First and median duration of run() in ns."""
    durations = []
    for _ in range(repeats + 1):
        start = time.perf_counter_ns()
        run()
        durations.append(time.perf_counter_ns() - start)
    return {"first_inference_ns": durations[0], "median_inference_ns": int(statistics.median(durations[1:]))}


def time_tflite(path: Path, repeats: int) -> dict[str, int]:
    """Time invoke() on a random image with ai-edge-litert."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.random.default_rng(0).random(detail["shape"], np.float32))
    return time_runs(interpreter.invoke, repeats)


def time_onnx(path: Path, repeats: int) -> dict[str, int]:
    """Time session.run() on a random image (batch 1) with onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).random((1, IMAGE, IMAGE, 3), np.float32)
    return time_runs(lambda: session.run(None, {"input": image}), repeats)


def main() -> None:
    """Make (or find) the bench models and print a JSON line per model."""
    parser = argparse.ArgumentParser(description="Generate and time the MobileNet-class bench models.")
    parser.add_argument("--paths-only", action="store_true", help="print the paths without timing them")
    parser.add_argument("--repeats", type=int, default=10, help="timed inferences after the first")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="bench.models: %(message)s")
    try:
        paths = ensure_models()
    except ModelBuildError as e:
        sys.exit(f"bench.models: {e}")
    for kind, path in paths.items():
        line: dict[str, object] = {"model": kind, "path": str(path), "size_bytes": path.stat().st_size}
        if not args.paths_only:
            line.update((time_tflite if kind == "tflite" else time_onnx)(path, args.repeats))
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
