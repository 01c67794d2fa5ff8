"""Sample sources for LoadGen's QSL: seeded synthetic inputs, or a folder of preprocessed .npy files.

A sample is a list with one array per model input, each with a leading batch dimension of 1 and
the input's dtype, so a batch-1 model runs it as is. Only the samples LoadGen asks to load are
read; nothing is cached here.
"""

from __future__ import annotations

import abc
import glob
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from agent.backends import TensorSpec
from agent.errors import BadInput, ModelError
from agent.job import DatasetSpec

Sample = List[np.ndarray]


class Dataset(abc.ABC):
    """Samples by index, and their labels where known."""

    count: int

    @abc.abstractmethod
    def load(self, index: int) -> Sample:
        """Read (or make) one sample."""

    def label(self, index: int) -> Optional[int]:
        """The sample's class label, or None when the dataset has no labels."""
        return None

    @property
    def has_labels(self) -> bool:
        """True when every sample has a label."""
        return False


def _sample_shape(spec: TensorSpec) -> Tuple[int, ...]:
    # Dynamic dimensions become 1: the batch dimension, and any other the model leaves open.
    return (1,) + tuple(1 if d is None else d for d in spec.shape[1:]) if spec.shape else ()


def quantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Real values to the tensor's quantized integers (q = round(x / scale) + zero_point, clipped)."""
    info = np.iinfo(np.dtype(spec.dtype))
    q = np.round(values / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


class SyntheticDataset(Dataset):
    """Deterministic inputs matching the model's signature: sample i depends only on (seed, i).

    Each input draws one stream of values once; sample i is the window of that stream starting at
    i, a view. So a pass loads LoadGen's 1024 samples of an image model in about a millisecond and
    holds one sample's worth of memory instead of 1024 (600 MB for a 224x224 float input).
    """

    def __init__(self, inputs: Sequence[TensorSpec], count: int, seed: int) -> None:
        self.inputs = list(inputs)
        self.count = count
        self.seed = seed
        self._streams: Dict[int, np.ndarray] = {}

    def load(self, index: int) -> Sample:
        """Sample `index` (uniform in [-1, 1) for real inputs, quantized where the input is)."""
        sample = []
        for number, spec in enumerate(self.inputs):
            shape = _sample_shape(spec)
            size = int(np.prod(shape, dtype=np.int64))
            stream = self._stream(number, spec, size)
            sample.append(stream[index % self.count:index % self.count + size].reshape(shape))
        return sample

    def _stream(self, number: int, spec: TensorSpec, size: int) -> np.ndarray:
        if number not in self._streams:
            rng = np.random.default_rng([self.seed, number])
            length = size + max(self.count, 1)
            dtype = np.dtype(spec.dtype)
            if spec.quantized:
                stream = quantize(_uniform(rng, (length,), np.dtype(np.float32)), spec)
            elif dtype.kind == "f":
                stream = _uniform(rng, (length,), dtype)
            elif dtype.kind == "b":
                stream = rng.random(length) < 0.5
            elif dtype.kind in "iu":
                stream = rng.integers(0, min(100, np.iinfo(dtype).max), length, dtype=dtype)
            else:
                raise ModelError(f"cannot make synthetic data for input {spec.name!r} of dtype {spec.dtype}")
            self._streams[number] = stream
        return self._streams[number]


def _uniform(rng: np.random.Generator, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Uniform in [-1, 1), drawn in the input's own precision: a pass loads its 1024 samples before
    LoadGen's first query, and float64 draws would double that wait for an image model."""
    if dtype in (np.float32, np.float64):
        array = rng.random(shape, dtype=dtype)
        array *= 2
        array -= 1
        return array
    return rng.uniform(-1.0, 1.0, shape).astype(dtype)


class NpyDataset(Dataset):
    """A folder of .npy files (sorted by name), one sample each, for a single-input model.

    Each file holds the sample with or without its batch dimension of 1. Real-valued samples
    are quantized for a quantized input. labels: one integer per line in file order, or
    `<file name> <label>` lines; by default `labels.txt` in the folder when present.
    """

    def __init__(self, inputs: Sequence[TensorSpec], folder: str, labels: Optional[str]) -> None:
        if not os.path.isdir(folder):
            raise BadInput(f"npy dataset folder not found: {folder}")
        if len(inputs) != 1:
            raise ModelError(f"npy datasets feed single-input models; this model has {len(inputs)} inputs")
        self.spec = inputs[0]
        self.files = sorted(glob.glob(os.path.join(folder, "*.npy")))
        if not self.files:
            raise BadInput(f"npy dataset folder {folder} holds no .npy files")
        self.count = len(self.files)
        default_labels = os.path.join(folder, "labels.txt")
        if labels is None and os.path.isfile(default_labels):
            labels = default_labels
        self._labels = read_labels(labels, self.files) if labels else None
        self.load(0)  # fail now, not in the middle of a LoadGen run, when samples do not fit the model

    def load(self, index: int) -> Sample:
        """Read sample `index` and fit it to the model input."""
        path = self.files[index]
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise BadInput(f"cannot read npy sample {path}: {_npy_problem(path, e)}") from e
        return [self._fit(array, path)]

    def _fit(self, array: np.ndarray, path: str) -> np.ndarray:
        spec = self.spec
        if len(spec.shape) == array.ndim + 1:
            array = array[np.newaxis]
        expected = _sample_shape(spec)
        fits = array.ndim == len(spec.shape) and all(
            d is None or d == a for d, a in zip((1,) + spec.shape[1:], array.shape)
        )
        if not fits:
            raise ModelError(
                f"npy sample {os.path.basename(path)} has shape {array.shape[1:]} but model input "
                f"{spec.name!r} expects {tuple(expected[1:])}"
            )
        if spec.quantized and array.dtype.kind == "f":
            return quantize(array, spec)
        if array.dtype != np.dtype(spec.dtype):
            if np.dtype(spec.dtype).kind != array.dtype.kind:
                raise ModelError(
                    f"npy sample {os.path.basename(path)} is {array.dtype} but model input "
                    f"{spec.name!r} is {spec.dtype}"
                )
            array = array.astype(spec.dtype)
        return np.ascontiguousarray(array)

    def label(self, index: int) -> Optional[int]:
        """The label of sample `index`."""
        return None if self._labels is None else self._labels[index]

    @property
    def has_labels(self) -> bool:
        """True when a labels file was found."""
        return self._labels is not None


def _npy_problem(path: str, error: Exception) -> str:
    """What is wrong with a file np.load refused: numpy takes any file without its header for a pickle."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError:
        return str(error)
    if magic != b"\x93NUMPY":
        return "not a .npy file (expected numpy's \\x93NUMPY header, as np.save writes)"
    return str(error)


def read_labels(path: str, files: Optional[List[str]] = None) -> List[int]:
    """Labels in sample order: one integer per line, or `<file name> <label>` lines matched to
    the files' names (in the file's own order when no files are given)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.split() for line in f if line.strip()]
    except OSError as e:
        raise BadInput(f"cannot read labels file {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise BadInput(f"cannot read labels file {path}: not text ({e})") from e
    by_name: Dict[str, int] = {}
    plain: List[int] = []
    for number, parts in enumerate(lines, 1):
        try:
            if len(parts) == 1:
                plain.append(int(parts[0]))
            elif len(parts) == 2:
                by_name[parts[0]] = int(parts[1])
            else:
                raise ValueError
        except ValueError:
            raise BadInput(f"{path}:{number}: expected '<label>' or '<file> <label>'") from None
    if by_name and files is None:
        return list(by_name.values())
    if by_name:
        names = [os.path.basename(f) for f in files]
        missing = [n for n in names if n not in by_name]
        if missing:
            raise BadInput(f"{path}: no label for {missing[0]} ({len(missing)} missing)")
        return [by_name[n] for n in names]
    if files is not None and len(plain) != len(files):
        raise BadInput(f"{path}: {len(plain)} labels for {len(files)} samples")
    return plain


def open_dataset(spec: DatasetSpec, inputs: Sequence[TensorSpec]) -> Dataset:
    """The dataset a job asks for, fitted to the model's inputs."""
    if spec.kind == "synthetic":
        return SyntheticDataset(inputs, spec.count, spec.seed)
    return NpyDataset(inputs, spec.path or "", spec.labels)
