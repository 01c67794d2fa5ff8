"""samples.csv: every field at full precision, flushed per row, appendable, bad rows named."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

from power.errors import FileFormatError
from power.sample import Sample, Status, gap
from power.samples_csv import COLUMNS, SamplesCsvWriter, read_samples_csv, write_samples_csv

T0 = 1_677_219_683_902_123_457


def _samples() -> list:
    return [
        Sample(T0, 1_000_000_000, 0.1 + 0.2, 206.83000000000001, 1 / 3, 0.2723, 300.0, 0.5,
               Status.OK, 0.0850000000000001, False, False),
        Sample(T0 + 10**9, 10**9, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan,
               Status.NO_DATA, math.nan, True, True),
        Sample(T0 + 2 * 10**9, 10**9, math.inf, 230.0, 1e-300, -0.0, 300.0, 0.5, Status.OVERRANGE),
        gap(T0 + 3 * 10**9, 10**9),
    ]


def _same(a: Sample, b: Sample) -> bool:
    for name in COLUMNS:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, float) and math.isnan(x):
            if not math.isnan(y):
                return False
        elif x != y or type(x) is not type(y) or repr(x) != repr(y):
            return False
    return True


def test_round_trip_is_repr_exact(tmp_path: Path) -> None:
    path = tmp_path / "samples.csv"
    write_samples_csv(path, _samples())
    back = read_samples_csv(path)
    assert len(back) == 4
    assert all(_same(a, b) for a, b in zip(_samples(), back))
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert "0.30000000000000004" in lines[1] and "0.3333333333333333" in lines[1]


def test_each_row_is_flushed_as_it_arrives_and_reopening_appends(tmp_path: Path) -> None:
    path = tmp_path / "samples.csv"
    writer = SamplesCsvWriter(path)
    writer.write(_samples()[0])
    assert len(read_samples_csv(path)) == 1  # readable while the writer is still open
    writer.close()
    with SamplesCsvWriter(path) as again:
        again.write(_samples()[1])
    assert len(read_samples_csv(path)) == 2
    assert path.read_text().count("t_end_ns") == 1


def test_writes_from_many_threads_are_whole_rows(tmp_path: Path) -> None:
    path = tmp_path / "samples.csv"
    sample = _samples()[0]
    with SamplesCsvWriter(path) as writer:
        threads = [threading.Thread(target=lambda: [writer.write(sample) for _ in range(200)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(read_samples_csv(path)) == 800


def test_bad_rows_and_headers_are_named(tmp_path: Path) -> None:
    path = tmp_path / "samples.csv"
    write_samples_csv(path, _samples()[:2])
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:2] + [text[2].replace(",no_data,", ",sleepy,")]) + "\n")
    with pytest.raises(FileFormatError, match=r"samples.csv:3: bad status value 'sleepy'"):
        read_samples_csv(path)
    path.write_text("\n".join(text[:2] + [text[2] + ",extra"]) + "\n")
    with pytest.raises(FileFormatError, match=r"samples.csv:3: 13 fields, expected 12"):
        read_samples_csv(path)
    path.write_text("when,what\n1,2\n")
    with pytest.raises(FileFormatError, match=r"samples.csv:1: bad header"):
        read_samples_csv(path)
    with pytest.raises(FileFormatError, match=r"samples.csv:1: existing header differs"):
        SamplesCsvWriter(path)
