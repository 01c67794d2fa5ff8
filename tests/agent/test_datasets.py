"""Datasets for the QSL: deterministic synthetic samples, npy folders, labels, and shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from agent.backends import TensorSpec
from agent.datasets import NpyDataset, SyntheticDataset, read_labels
from agent.errors import BadInput, ModelError
from agent.job import DatasetSpec
from agent.sut import Harness

FLOAT_IN = TensorSpec("input", (None, 8, 8, 3), "float32")
INT8_IN = TensorSpec("input", (1, 8, 8, 3), "int8", scale=0.025, zero_point=6)


def test_synthetic_is_deterministic_per_seed_and_index():
    a = SyntheticDataset([FLOAT_IN], count=10, seed=7)
    b = SyntheticDataset([FLOAT_IN], count=10, seed=7)
    np.testing.assert_array_equal(a.load(3)[0], b.load(3)[0])
    assert not np.array_equal(a.load(3)[0], a.load(4)[0])
    assert not np.array_equal(a.load(3)[0], SyntheticDataset([FLOAT_IN], 10, seed=8).load(3)[0])
    sample = a.load(0)[0]
    assert sample.shape == (1, 8, 8, 3) and sample.dtype == np.float32
    assert sample.min() >= -1.0 and sample.max() < 1.0


def test_synthetic_quantizes_for_an_int8_input():
    sample = SyntheticDataset([INT8_IN], count=1, seed=0).load(0)[0]
    assert sample.dtype == np.int8
    # [-1, 1) / 0.025 + 6 spans about -34 .. 46
    assert -35 <= sample.min() < -25 and 35 < sample.max() <= 46


def test_npy_reads_files_in_name_order_with_labels(tiny_dataset):
    dataset = NpyDataset([FLOAT_IN], str(tiny_dataset), labels=None)
    assert dataset.count == 32 and dataset.has_labels
    assert dataset.label(0) == int((tiny_dataset / "labels.txt").read_text().split()[0])
    np.testing.assert_array_equal(dataset.load(5)[0][0], np.load(tiny_dataset / "005.npy"))


def test_npy_quantizes_real_samples_for_int8_models(tiny_dataset):
    dataset = NpyDataset([INT8_IN], str(tiny_dataset), labels=None)
    raw = np.load(tiny_dataset / "000.npy")
    expected = np.clip(np.round(raw / 0.025) + 6, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(dataset.load(0)[0][0], expected)


def test_only_requested_samples_are_held(tiny_dataset):
    dataset = NpyDataset([FLOAT_IN], str(tiny_dataset), labels=None)
    harness = Harness(None, _NoBackend(), dataset, "Offline", 8, "argmax")
    harness.load_samples([3, 9, 30])
    assert sorted(harness.samples) == [3, 9, 30]
    harness.unload_samples([9])
    assert sorted(harness.samples) == [3, 30]


class _NoBackend:
    dynamic_batch = True


def test_npy_shape_mismatch_names_the_file(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ModelError, match=r"npy sample a\.npy has shape \(4, 4, 3\) but model input 'input' expects \(8, 8, 3\)"):
        NpyDataset([FLOAT_IN], str(tmp_path), labels=None)


def test_npy_dtype_mismatch(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((8, 8, 3), np.int32))
    with pytest.raises(ModelError, match="is int32 but model input 'input' is float32"):
        NpyDataset([FLOAT_IN], str(tmp_path), labels=None)


def test_npy_needs_files_and_one_input(tmp_path):
    with pytest.raises(BadInput, match="holds no .npy files"):
        NpyDataset([FLOAT_IN], str(tmp_path), labels=None)
    with pytest.raises(BadInput, match="npy dataset folder not found"):
        NpyDataset([FLOAT_IN], str(tmp_path / "absent"), labels=None)
    with pytest.raises(ModelError, match="single-input models; this model has 2 inputs"):
        NpyDataset([FLOAT_IN, FLOAT_IN], str(tmp_path), labels=None)


def test_label_files(tmp_path):
    (tmp_path / "plain.txt").write_text("3\n1\n\n2\n")
    assert read_labels(str(tmp_path / "plain.txt")) == [3, 1, 2]
    (tmp_path / "named.txt").write_text("b.npy 5\na.npy 4\n")
    assert read_labels(str(tmp_path / "named.txt"), ["/x/a.npy", "/x/b.npy"]) == [4, 5]
    with pytest.raises(BadInput, match="no label for c.npy"):
        read_labels(str(tmp_path / "named.txt"), ["a.npy", "c.npy"])
    (tmp_path / "bad.txt").write_text("1\ncat\n")
    with pytest.raises(BadInput, match=r"bad.txt:2: expected '<label>' or '<file> <label>'"):
        read_labels(str(tmp_path / "bad.txt"))
    with pytest.raises(BadInput, match="3 labels for 2 samples"):
        read_labels(str(tmp_path / "plain.txt"), ["a.npy", "b.npy"])


def test_dataset_spec_defaults():
    assert DatasetSpec() == DatasetSpec(kind="synthetic", count=1024, seed=0, path=None, labels=None)
