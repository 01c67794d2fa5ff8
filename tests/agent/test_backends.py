"""Backends on the real runtimes: tensor descriptions, batches, options, and load errors."""

from __future__ import annotations

import numpy as np
import pytest

from agent.backends import open_backend
from agent.datasets import quantize
from agent.errors import BadInput, ModelError


def _images(count: int, tiny_dataset) -> np.ndarray:
    return np.stack([np.load(tiny_dataset / f"{i:03d}.npy") for i in range(count)])


@pytest.mark.parametrize(
    "name, backend, batch, dynamic",
    [
        ("tiny_float.tflite", "tflite", 1, False),
        ("tiny_float_dyn.tflite", "tflite", None, True),
        ("tiny_int8.tflite", "tflite", 1, False),
        ("tiny_float.onnx", "onnx", None, True),
        ("tiny_float_b1.onnx", "onnx", 1, False),
        ("tiny_int8.onnx", "onnx", None, True),
    ],
)
def test_describes_inputs_and_outputs(models, tiny_expected, name, backend, batch, dynamic):
    model = open_backend(str(models / name), threads=1)
    expected = tiny_expected["models"][name]
    assert model.name == backend
    assert model.dynamic_batch is dynamic
    (spec,) = model.inputs
    assert spec.name == expected["input"]["name"]
    assert spec.shape == (batch, 8, 8, 3)
    assert spec.dtype == expected["input"]["dtype"]
    assert spec.scale == expected["input"].get("scale")
    assert spec.zero_point == expected["input"].get("zero_point")
    (out,) = model.outputs
    assert out.shape == (batch, 10)
    assert out.dtype == expected["output"]["dtype"]


@pytest.mark.parametrize("name", ["tiny_float.tflite", "tiny_int8.tflite", "tiny_float_b1.onnx", "tiny_int8.onnx"])
def test_sample_by_sample_gives_the_recorded_argmax(models, tiny_dataset, tiny_expected, name):
    model = open_backend(str(models / name), threads=1)
    spec = model.inputs[0]
    images = _images(32, tiny_dataset)
    argmax = []
    for image in images:
        x = image[np.newaxis]
        if spec.quantized:
            x = quantize(x, spec)
        argmax.append(int(model.run([x])[0].argmax()))
    assert argmax == tiny_expected["models"][name]["argmax"]


@pytest.mark.parametrize("name", ["tiny_float.onnx", "tiny_float_dyn.tflite"])
def test_dynamic_batch_runs_batches_of_any_size(models, tiny_dataset, tiny_expected, name):
    model = open_backend(str(models / name), threads=1)
    images = _images(32, tiny_dataset)
    first = model.run([images[:20]])[0]
    rest = model.run([images[20:]])[0]
    assert first.shape == (20, 10) and rest.shape == (12, 10)
    assert np.concatenate([first, rest]).argmax(axis=1).tolist() == tiny_expected["models"][name]["argmax"]


def test_fixed_batch_tflite_refuses_a_batch(models, tiny_dataset):
    model = open_backend(str(models / "tiny_float.tflite"))
    with pytest.raises(BadInput, match="fixed batch of 1; cannot run a batch of 4"):
        model.run([_images(4, tiny_dataset)])


def test_tflite_without_xnnpack_gives_the_same_answer(models, tiny_dataset):
    images = _images(1, tiny_dataset)
    with_xnnpack = open_backend(str(models / "tiny_float.tflite"), options={"xnnpack": True}).run([images])[0]
    plain = open_backend(str(models / "tiny_float.tflite"), options={"xnnpack": False}).run([images])[0]
    np.testing.assert_allclose(with_xnnpack, plain, atol=1e-6)


# ai-edge-litert's Delegate.__del__ trips over its own half-built object after a failed load.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_tflite_delegate_that_does_not_load(models, tmp_path):
    bogus = tmp_path / "libnpu_delegate.so"
    bogus.write_bytes(b"not a shared object")
    with pytest.raises(BadInput, match=f"cannot load TFLite delegate {bogus}"):
        open_backend(str(models / "tiny_float.tflite"), options={"delegate": str(bogus)})


def test_onnx_provider_options_pass_through(models):
    model = open_backend(
        str(models / "tiny_float.onnx"),
        threads=2,
        options={"providers": [{"name": "CPUExecutionProvider", "options": {"arena_extend_strategy": "kSameAsRequested"}}]},
    )
    assert model.describe()["providers"] == ["CPUExecutionProvider"]


def test_onnx_provider_not_available(models):
    with pytest.raises(BadInput, match="execution provider TensorrtExecutionProvider is not available here"):
        open_backend(str(models / "tiny_float.onnx"), options={"providers": ["TensorrtExecutionProvider"]})


def test_unknown_backend_option(models):
    with pytest.raises(BadInput, match="unknown onnx backend option"):
        open_backend(str(models / "tiny_float.onnx"), options={"xnnpack": False})


@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_corrupt_model(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x00garbage" * 40)
    with pytest.raises(ModelError, match=f"cannot load .* model {path}"):
        open_backend(str(path))


def test_missing_and_unknown_models(tmp_path):
    with pytest.raises(ModelError, match="model not found"):
        open_backend(str(tmp_path / "absent.onnx"))
    other = tmp_path / "model.pb"
    other.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"unknown model format '\.pb'.*expected \.tflite or \.onnx"):
        open_backend(str(other))
