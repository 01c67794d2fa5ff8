"""samples.csv: every Sample field at full precision (repr-exact floats), appended and flushed per row."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import threading
from typing import IO, Any, Callable, Dict, List, Optional, Union

from power.errors import FileFormatError
from power.sample import Sample, Status

PathLike = Union[str, "os.PathLike[str]"]

COLUMNS = tuple(f.name for f in dataclasses.fields(Sample))
"""Header of samples.csv: the Sample fields, in declaration order."""

_REQUIRED = ("t_end_ns", "interval_ns", "power_w")


def _format(value: Any) -> str:
    if isinstance(value, Status):
        return value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same double; 'nan', 'inf'
    return str(value)


def format_row(sample: Sample) -> List[str]:
    """The samples.csv fields of one sample."""
    return [_format(getattr(sample, name)) for name in COLUMNS]


def _parse_bool(text: str) -> bool:
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError(f"{text!r} is not true/false")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isnan(value):
        return math.nan
    return value


_PARSERS: Dict[str, Callable[[str], Any]] = {
    "t_end_ns": int,
    "interval_ns": int,
    "status": Status,
    "voltage_auto": _parse_bool,
    "current_auto": _parse_bool,
}


def _parser(field: "dataclasses.Field[Any]") -> Callable[[str], Any]:
    if field.name in _PARSERS:
        return _PARSERS[field.name]
    annotation = str(field.type)
    if annotation in ("int",):
        return int
    if annotation in ("bool",):
        return _parse_bool
    return _parse_float


_FIELDS = {f.name: f for f in dataclasses.fields(Sample)}


def read_samples_csv(path: PathLike) -> List[Sample]:
    """Read samples.csv; a malformed row raises FileFormatError naming the file and line number."""
    name = os.fspath(path)
    try:
        with open(name, "r", encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as e:
        raise FileFormatError(f"{name}: cannot read ({e.strerror or e})") from e
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise FileFormatError(f"{name}:1: empty file, expected a header") from None
    unknown = [h for h in header if h not in _FIELDS]
    missing = [h for h in _REQUIRED if h not in header]
    if unknown or missing:
        raise FileFormatError(
            f"{name}:1: bad header (unknown columns {unknown}, missing {missing})"
        )
    parsers = [_parser(_FIELDS[h]) for h in header]
    samples: List[Sample] = []
    for row in reader:
        number = reader.line_num
        if not row:
            continue
        if len(row) != len(header):
            raise FileFormatError(f"{name}:{number}: {len(row)} fields, expected {len(header)}")
        values: Dict[str, Any] = {}
        for column, parse, text in zip(header, parsers, row):
            try:
                values[column] = parse(text)
            except ValueError:
                raise FileFormatError(f"{name}:{number}: bad {column} value {text!r}") from None
        try:
            samples.append(Sample(**_complete(values)))
        except TypeError as e:
            raise FileFormatError(f"{name}:{number}: {e}") from e
    return samples


def _complete(values: Dict[str, Any]) -> Dict[str, Any]:
    # Columns an older file lacks take NaN (measurements) so that nothing is invented as a number.
    for name, field in _FIELDS.items():
        if name not in values and field.default is dataclasses.MISSING:
            values[name] = math.nan
    return values


class SamplesCsvWriter:
    """Append samples to samples.csv, one flushed row each; thread-safe; writes the header once."""

    def __init__(self, path: PathLike, fsync: bool = False) -> None:
        self.path = os.fspath(path)
        self._fsync = fsync
        self._lock = threading.Lock()
        try:
            exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
            if exists:
                self._check_header()
            self._file: Optional[IO[str]] = open(self.path, "a", encoding="utf-8", newline="")
        except OSError as e:
            raise FileFormatError(f"{self.path}: cannot open for appending ({e.strerror or e})") from e
        self._writer = csv.writer(self._file, lineterminator="\n")
        if not exists:
            try:
                self._writer.writerow(COLUMNS)
                self._flush()
            except OSError as e:
                self._abandon()
                raise FileFormatError(f"{self.path}: cannot write ({e.strerror or e})") from e

    def _check_header(self) -> None:
        with open(self.path, "r", encoding="utf-8", newline="") as f:
            first = f.readline().rstrip("\r\n")
        if tuple(first.split(",")) != COLUMNS:
            raise FileFormatError(f"{self.path}:1: existing header differs from {','.join(COLUMNS)}")

    def _flush(self) -> None:
        assert self._file is not None
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def write(self, sample: Sample) -> None:
        """Append one sample and flush it to the OS (and to disk with fsync=True)."""
        with self._lock:
            if self._file is None:
                raise FileFormatError(f"{self.path}: writer is closed")
            try:
                self._writer.writerow(format_row(sample))
                self._flush()
            except (OSError, ValueError) as e:
                self._abandon()
                reason = getattr(e, "strerror", None) or e
                raise FileFormatError(f"{self.path}: write failed ({reason})") from e

    def _abandon(self) -> None:
        # After a failed write the buffer cannot be flushed either: drop the file quietly.
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> "SamplesCsvWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_samples_csv(path: PathLike, samples: List[Sample]) -> None:
    """Write (or append to) samples.csv with the given samples."""
    with SamplesCsvWriter(path) as writer:
        for sample in samples:
            writer.write(sample)
