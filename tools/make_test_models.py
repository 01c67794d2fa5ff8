"""Write the tiny test models and the tiny labelled dataset under tests/fixtures/, deterministically.

A dev-only tool: tensorflow is needed only to regenerate these files, never to run the tests.

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install 'tensorflow-cpu==2.21.*' onnx onnxruntime numpy
    /tmp/tfvenv/bin/python tools/make_test_models.py

The models are built in that interpreter. The dataset labels and expected.json are then computed by
running every model with the project's own runtimes (ai-edge-litert, onnxruntime) in another
interpreter, the repository's .venv by default (`--runtime-python PATH` to choose another);
`--check-only` redoes just that step and needs no tensorflow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "tests" / "fixtures" / "models"
DATASET = REPO / "tests" / "fixtures" / "datasets" / "tiny"

SEED = 20240601
HEIGHT, WIDTH, CHANNELS = 8, 8, 3
FILTERS = 8
CLASSES = 10
SAMPLES = 32
WRONG_LABELS = 8
CALIBRATION_SAMPLES = 64

FLOAT_MODELS = ("tiny_float.tflite", "tiny_float_dyn.tflite", "tiny_float.onnx", "tiny_float_b1.onnx")
INT8_MODELS = ("tiny_int8.tflite", "tiny_int8.onnx")
FLOAT_TOLERANCE = 1e-5


def make_weights() -> dict[str, np.ndarray]:
    """The network's weights: conv in HWIO order, dense as (in, out), all float32 from one seed."""
    rng = np.random.default_rng(SEED)
    return {
        "conv_w": (rng.normal(size=(3, 3, CHANNELS, FILTERS)) * 0.4).astype(np.float32),
        "conv_b": (rng.normal(size=FILTERS) * 0.1).astype(np.float32),
        "dense_w": (rng.normal(size=(FILTERS, CLASSES)) * 0.8).astype(np.float32),
        "dense_b": (rng.normal(size=CLASSES) * 0.1).astype(np.float32),
    }


def make_inputs(seed: int, count: int) -> np.ndarray:
    """Float32 images [count, 8, 8, 3]: noise around a per-image colour, so predictions vary by image."""
    rng = np.random.default_rng(seed)
    colour = rng.uniform(-1.5, 1.5, size=(count, 1, 1, CHANNELS))
    noise = rng.normal(scale=0.5, size=(count, HEIGHT, WIDTH, CHANNELS))
    return (colour + noise).astype(np.float32)


# --- TFLite, built with tensorflow --------------------------------------------------------------


def tflite_converter(weights: dict[str, np.ndarray], batch: int | None):
    """A converter for the network behind a signature with input "input" and output "probs".

    Conv2D(8, 3x3, same) + ReLU -> global average pooling -> Dense(10) -> softmax, written with tf.nn
    over constants: a Keras 3 model's variables would stay in the flatbuffer as resource variables.
    """
    import tensorflow as tf

    conv_w, conv_b, dense_w, dense_b = (tf.constant(weights[k]) for k in ("conv_w", "conv_b", "dense_w", "dense_b"))
    spec = tf.TensorSpec([batch, HEIGHT, WIDTH, CHANNELS], tf.float32, name="input")

    class Classifier(tf.Module):
        @tf.function(input_signature=[spec])
        def classify(self, x):
            features = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, conv_w, strides=1, padding="SAME"), conv_b))
            pooled = tf.reduce_mean(features, axis=[1, 2])
            return {"probs": tf.nn.softmax(tf.matmul(pooled, dense_w) + dense_b)}

    # Passing the module gives the flatbuffer a "serving_default" signature (input -> probs).
    classifier = Classifier()
    return tf.lite.TFLiteConverter.from_concrete_functions([classifier.classify.get_concrete_function()], classifier)


def tflite_float(weights: dict[str, np.ndarray], batch: int | None) -> bytes:
    """The float32 flatbuffer, with a fixed batch or (None) a dynamic one."""
    return tflite_converter(weights, batch).convert()


def tflite_int8(weights: dict[str, np.ndarray]) -> bytes:
    """The fully integer flatbuffer: int8 weights, activations, input and output; batch 1."""
    import tensorflow as tf

    converter = tflite_converter(weights, 1)
    calibration = make_inputs(SEED + 1, CALIBRATION_SAMPLES)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


# --- ONNX, built with onnx.helper ----------------------------------------------------------------


def onnx_float(weights: dict[str, np.ndarray], batch: int | str):
    """The same network as an ONNX graph taking NHWC like the TFLite one; batch fixed or symbolic."""
    from onnx import TensorProto, helper, numpy_helper

    initializers = [
        numpy_helper.from_array(weights["conv_w"].transpose(3, 2, 0, 1).copy(), "conv_w"),  # HWIO -> OIHW
        numpy_helper.from_array(weights["conv_b"], "conv_b"),
        numpy_helper.from_array(weights["dense_w"], "dense_w"),
        numpy_helper.from_array(weights["dense_b"], "dense_b"),
    ]
    nodes = [
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "conv_w", "conv_b"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"], axis=1),
        helper.make_node("Gemm", ["features", "dense_w", "dense_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, HEIGHT, WIDTH, CHANNELS])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, CLASSES])],
        initializers,
    )
    # Opset 13 / IR 8 so that the onnxruntime builds found on boards (1.10 and later) load it.
    model = helper.make_model(graph, producer_name="edgepower-tools", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    import onnx

    onnx.checker.check_model(model, full_check=True)
    return model


def onnx_int8(float_model) -> bytes:
    """The float model statically quantized to int8 (QDQ, per-tensor), float I/O, batch as given."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Calibration(CalibrationDataReader):
        """Seeded images, one batch of one at a time."""

        def __init__(self) -> None:
            self.images = iter(make_inputs(SEED + 2, CALIBRATION_SAMPLES))

        def get_next(self) -> dict[str, np.ndarray] | None:
            image = next(self.images, None)
            return None if image is None else {"input": image[None]}

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(float_model, source)
        quantize_static(
            source,
            target,
            Calibration(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
        return target.read_bytes()


def build_models() -> None:
    """Write the six model files."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    weights = make_weights()
    MODELS.mkdir(parents=True, exist_ok=True)
    (MODELS / "tiny_float.tflite").write_bytes(tflite_float(weights, 1))
    (MODELS / "tiny_float_dyn.tflite").write_bytes(tflite_float(weights, None))
    (MODELS / "tiny_int8.tflite").write_bytes(tflite_int8(weights))
    dynamic = onnx_float(weights, "N")
    (MODELS / "tiny_float.onnx").write_bytes(dynamic.SerializeToString())
    (MODELS / "tiny_float_b1.onnx").write_bytes(onnx_float(weights, 1).SerializeToString())
    (MODELS / "tiny_int8.onnx").write_bytes(onnx_int8(dynamic))


# --- running the models with the project's runtimes ----------------------------------------------


def tflite_io(path: Path) -> tuple[object, dict, dict]:
    """An allocated ai-edge-litert interpreter with its single input's and output's details."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter, interpreter.get_input_details()[0], interpreter.get_output_details()[0]


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float to int8 with the tensor's affine parameters."""
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def run_tflite(path: Path, images: np.ndarray) -> np.ndarray:
    """Float probabilities [n, 10]: one invoke per image, or one resized batch if the batch is dynamic."""
    interpreter, inp, out = tflite_io(path)
    if inp["shape_signature"][0] == -1:
        interpreter.resize_tensor_input(inp["index"], list(images.shape))
        interpreter.allocate_tensors()
        batches = [images]
    else:
        batches = [image[None] for image in images]
    results = []
    for batch in batches:
        if inp["dtype"] == np.int8:
            batch = quantize(batch, *inp["quantization"])
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        result = interpreter.get_tensor(out["index"])
        if out["dtype"] == np.int8:
            scale, zero_point = out["quantization"]
            result = (result.astype(np.float32) - zero_point) * scale
        results.append(result)
    return np.concatenate(results)


def run_onnx(path: Path, images: np.ndarray) -> np.ndarray:
    """Float probabilities [n, 10]: one batch if the batch is symbolic, else one run per image."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = session.get_inputs()[0].shape[0]
    batches = [images] if isinstance(batch, str) else [image[None] for image in images]
    return np.concatenate([session.run(["probs"], {"input": b})[0] for b in batches])


def run_model(name: str, images: np.ndarray) -> np.ndarray:
    """Run one fixture model on images [n, 8, 8, 3]."""
    path = MODELS / name
    return run_tflite(path, images) if name.endswith(".tflite") else run_onnx(path, images)


def io_spec(name: str) -> dict[str, dict]:
    """Names, shapes, dtypes and (for int8 tensors) quantization of a model's input and output."""
    if name.endswith(".onnx"):
        import onnxruntime as ort

        session = ort.InferenceSession(str(MODELS / name), providers=["CPUExecutionProvider"])
        dtypes = {"tensor(float)": "float32", "tensor(int8)": "int8"}
        describe = lambda t: {"name": t.name, "shape": list(t.shape), "dtype": dtypes[t.type]}  # noqa: E731
        return {"input": describe(session.get_inputs()[0]), "output": describe(session.get_outputs()[0])}
    _, inp, out = tflite_io(MODELS / name)

    def describe(detail: dict) -> dict:
        spec = {
            "name": detail["name"],
            "shape": [int(d) for d in detail["shape_signature"]],
            "dtype": np.dtype(detail["dtype"]).name,
        }
        if detail["dtype"] == np.int8:
            spec["scale"], spec["zero_point"] = float(detail["quantization"][0]), int(detail["quantization"][1])
        return spec

    return {"input": describe(inp), "output": describe(out)}


def choose_labels(predictions: np.ndarray) -> np.ndarray:
    """The float predictions with WRONG_LABELS of them changed to another class, at seeded places."""
    rng = np.random.default_rng(SEED + 3)
    labels = predictions.copy()
    for index in rng.choice(len(labels), size=WRONG_LABELS, replace=False):
        labels[index] = (labels[index] + rng.integers(1, CLASSES)) % CLASSES
    return labels


def check_float_agreement(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """Fail unless every float model gives the same probabilities within FLOAT_TOLERANCE; their arg-max."""
    reference = outputs[FLOAT_MODELS[0]]
    for name in FLOAT_MODELS[1:]:
        worst = float(np.max(np.abs(outputs[name] - reference)))
        print(f"  {name} vs {FLOAT_MODELS[0]}: max |diff| = {worst:.2e}")
        if worst > FLOAT_TOLERANCE:
            raise SystemExit(f"{name} differs from {FLOAT_MODELS[0]} by {worst} > {FLOAT_TOLERANCE}")
    top2 = np.sort(reference, axis=1)[:, -2:]
    print(f"  smallest top-1 margin: {float(np.min(top2[:, 1] - top2[:, 0])):.4f}")
    return reference.argmax(axis=1)


def write_dataset(images: np.ndarray, labels: np.ndarray) -> None:
    """One .npy per sample (no batch dimension) and labels.txt, one integer per line in file order."""
    DATASET.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        np.save(DATASET / f"{index:03d}.npy", image)
    (DATASET / "labels.txt").write_text("".join(f"{int(label)}\n" for label in labels))


def expected_entry(name: str, argmax: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 figures, per-sample arg-max and I/O spec of one model."""
    good = int(np.sum(argmax == labels))
    return {
        "good": good,
        "total": len(labels),
        "top1_percent": round(100.0 * good / len(labels), 3),
        "argmax": [int(a) for a in argmax],
        **io_spec(name),
    }


def dumps_compact(document: dict) -> str:
    """Indented JSON with lists of plain values (shapes, arg-max) kept on one line."""
    text = json.dumps(document, indent=2)
    one_line = lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]"  # noqa: E731
    return re.sub(r"\[([-\w\s,\"]+)\]", one_line, text) + "\n"


def check_and_label() -> None:
    """Run every model on the dataset, check they agree, write the dataset, labels and expected.json."""
    images = make_inputs(SEED + 4, SAMPLES)
    outputs = {name: run_model(name, images) for name in FLOAT_MODELS + INT8_MODELS}
    predictions = check_float_agreement(outputs)
    labels = choose_labels(predictions)
    write_dataset(images, labels)
    models = {}
    for name, probs in outputs.items():
        argmax = probs.argmax(axis=1)
        models[name] = expected_entry(name, argmax, labels)
        agree = int(np.sum(argmax == predictions))
        print(f"  {name}: top-1 {models[name]['good']}/{SAMPLES}, arg-max as float on {agree}/{SAMPLES}")
        if agree < SAMPLES * 3 // 4:
            raise SystemExit(f"{name} agrees with the float models on only {agree} of {SAMPLES} samples")
    print(f"  classes predicted by the float models: {sorted(set(int(p) for p in predictions))}")
    document = {"dataset": "tiny", "labels": "labels.txt", "samples": SAMPLES, "models": models}
    (DATASET / "expected.json").write_text(dumps_compact(document))


def default_runtime_python() -> str:
    """The repository's .venv interpreter if there is one, else this one."""
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def main() -> None:
    """Build the models (unless --check-only), then check and label them with the runtime interpreter."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-only", action="store_true", help="only run the models and write the dataset")
    parser.add_argument("--runtime-python", default=default_runtime_python(), help="interpreter with the runtimes")
    args = parser.parse_args()
    if args.check_only:
        check_and_label()
        return
    build_models()
    print(f"models written to {MODELS.relative_to(REPO)}; checking with {args.runtime_python}")
    subprocess.run([args.runtime_python, __file__, "--check-only"], check=True)  # noqa: S603 - argv list, no shell; this script again


if __name__ == "__main__":
    main()
