"""spl.txt, the MLPerf power sample log: exact writer and reader, month-first UTC milliseconds.

One line per sample::

    Time,02-24-2023 06:21:23.902,Watts,6.320000,Volts,206.830000,Amps,0.112230,PF,0.272300,Mark,<mark>

Multichannel rows carry the sum first (V/A/PF = -1) then ``Ch<n>,Watts,..,Volts,..,Amps,..,PF,..``
groups; merged multi-analyzer rows carry the sum then ``Analyzer<n>,<that analyzer's whole row>``
groups. PTDaemon writes -1 for a value it could not read. Lines not starting with ``Time`` are
skipped, as the MLPerf checkers do. Times are UTC ns inside edgepower and converted here only.
"""

from __future__ import annotations

import calendar
import io
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from typing import IO, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from power.errors import FileFormatError
from power.sample import Sample, Status

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

NOT_AVAILABLE = -1.0
"""The value PTDaemon writes for a quantity it could not read (and for V/A/PF of a sum row)."""

_TIME_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")
_CHANNEL_RE = re.compile(r"^Ch\d+$")
_ANALYZER_RE = re.compile(r"^Analyzer\d+$")
_NS_PER_S = 1_000_000_000
_NS_PER_MS = 1_000_000


def parse_mlperf_time(text: str) -> int:
    """UTC ns of a month-first 'MM-DD-YYYY HH:MM:SS.mmm' string (LoadGen power_begin/end, spl.txt).

    Accepts 1 to 6 fraction digits, as the checkers' strptime('%f') does; raises ValueError otherwise.
    """
    match = _TIME_RE.match(text)
    if match is None:
        raise ValueError(f"not a month-first MLPerf time: {text!r}")
    month, day, year, hour, minute, second, fraction = match.groups()
    # timegm normalises some out-of-range fields silently and refuses others without the text; refuse them all here.
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31 and int(hour) < 24 and int(minute) < 60
            and int(second) < 60):
        raise ValueError(f"time field out of range: {text!r}")
    seconds = calendar.timegm(
        (int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0)
    )
    fraction_ns = int((fraction or "0").ljust(9, "0"))
    return seconds * _NS_PER_S + fraction_ns


def format_mlperf_time(t_ns: int) -> str:
    """'MM-DD-YYYY HH:MM:SS.mmm' (UTC) of t_ns, milliseconds truncated as LoadGen and PTDaemon print."""
    seconds, rest_ns = divmod(int(t_ns), _NS_PER_S)
    tm = _gmtime(seconds)
    return "%02d-%02d-%04d %02d:%02d:%02d.%03d" % (
        tm[1], tm[2], tm[0], tm[3], tm[4], tm[5], rest_ns // _NS_PER_MS,
    )


def _gmtime(seconds: int) -> Tuple[int, int, int, int, int, int]:
    tm = time.gmtime(seconds)
    return tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec


@dataclass(frozen=True)
class SplChannel:
    """One channel group of a multichannel row: label ('Ch1'), watts (W), volts (V), amps (A), pf (1)."""

    label: str
    watts: float
    volts: float
    amps: float
    pf: float


@dataclass(frozen=True)
class SplRecord:
    """One spl.txt row. t_ns is UTC ns (millisecond resolution); watts/volts/amps/pf as written.

    -1 means 'not available' (PTDaemon's convention); mark is None for PTDaemon RL rows, which
    have no Mark column. channels holds Ch<n> groups; analyzers holds the rows merged from several
    analyzers (each an SplRecord of its own).
    """

    t_ns: int
    watts: float
    volts: float
    amps: float
    pf: float
    mark: Optional[str] = None
    channels: Tuple[SplChannel, ...] = ()
    analyzers: Tuple[Tuple[str, "SplRecord"], ...] = ()

    @property
    def time_text(self) -> str:
        """The Time field as written."""
        return format_mlperf_time(self.t_ns)

    @property
    def power_available(self) -> bool:
        """True when watts is a reading (finite and not PTDaemon's -1 marker)."""
        return math.isfinite(self.watts) and self.watts != NOT_AVAILABLE


@dataclass(frozen=True)
class SplFile:
    """A whole spl.txt: its records, the newline it uses, and the 1-based numbers of skipped lines."""

    records: Tuple[SplRecord, ...]
    newline: str = "\n"
    skipped_lines: Tuple[int, ...] = ()


def _num(value: float) -> str:
    return "%f" % value


def format_record(record: SplRecord) -> str:
    """The row text of one record, without a newline."""
    parts = [
        "Time", record.time_text,
        "Watts", _num(record.watts),
        "Volts", _num(record.volts),
        "Amps", _num(record.amps),
        "PF", _num(record.pf),
    ]
    if record.mark is not None:
        parts += ["Mark", record.mark]
    for ch in record.channels:
        parts += [ch.label, "Watts", _num(ch.watts), "Volts", _num(ch.volts),
                  "Amps", _num(ch.amps), "PF", _num(ch.pf)]
    for label, sub in record.analyzers:
        parts += [label, format_record(sub)]
    return ",".join(parts)


class _LineError(ValueError):
    pass


def _expect(tokens: Sequence[str], index: int, word: str) -> None:
    if index >= len(tokens):
        raise _LineError(f"row ends where {word!r} was expected (field {index + 1})")
    if tokens[index] != word:
        raise _LineError(f"expected {word!r} at field {index + 1}, found {tokens[index]!r}")


def _float(tokens: Sequence[str], index: int, name: str) -> float:
    if index >= len(tokens):
        raise _LineError(f"row ends where the {name} value was expected (field {index + 1})")
    text = tokens[index]
    try:
        return float(text)
    except ValueError:
        raise _LineError(f"{name} value {text!r} at field {index + 1} is not a number") from None


def _parse_tokens(tokens: Sequence[str], start: int, nested: bool) -> Tuple[SplRecord, int]:
    """Parse one record from tokens[start:]; return it and the index after it."""
    i = start
    _expect(tokens, i, "Time")
    if i + 1 >= len(tokens):
        raise _LineError("row ends after 'Time'")
    try:
        t_ns = parse_mlperf_time(tokens[i + 1])
    except ValueError as e:
        raise _LineError(f"bad Time {tokens[i + 1]!r}: expected MM-DD-YYYY HH:MM:SS.mmm") from e
    values = []
    for offset, word in zip((2, 4, 6, 8), ("Watts", "Volts", "Amps", "PF")):
        _expect(tokens, i + offset, word)
        values.append(_float(tokens, i + offset + 1, word))
    i += 10
    mark: Optional[str] = None
    if i < len(tokens) and tokens[i] == "Mark":
        if i + 1 >= len(tokens):
            raise _LineError("row ends after 'Mark'")
        mark = tokens[i + 1]
        i += 2
    channels: List[SplChannel] = []
    while i < len(tokens) and _CHANNEL_RE.match(tokens[i]):
        label = tokens[i]
        ch_values = []
        for offset, word in zip((1, 3, 5, 7), ("Watts", "Volts", "Amps", "PF")):
            _expect(tokens, i + offset, word)
            ch_values.append(_float(tokens, i + offset + 1, f"{label} {word}"))
        channels.append(SplChannel(label, *ch_values))
        i += 9
    analyzers: List[Tuple[str, SplRecord]] = []
    if not nested:
        while i < len(tokens) and _ANALYZER_RE.match(tokens[i]):
            label = tokens[i]
            sub, i = _parse_tokens(tokens, i + 1, nested=True)
            analyzers.append((label, sub))
        if i != len(tokens):
            raise _LineError(f"unexpected field {tokens[i]!r} at field {i + 1}")
    record = SplRecord(t_ns, values[0], values[1], values[2], values[3], mark,
                       tuple(channels), tuple(analyzers))
    return record, i


def parse_line(line: str, path: str = "<spl>", line_number: int = 0) -> SplRecord:
    """Parse one row (with or without its newline); FileFormatError names path and line number."""
    text = line.rstrip("\r\n")
    try:
        record, _ = _parse_tokens(text.split(","), 0, nested=False)
    except _LineError as e:
        raise FileFormatError(f"{path}:{line_number}: {e}") from None
    return record


def parse_text(text: str, path: str = "<spl>") -> SplFile:
    """Parse the text of a whole spl.txt; lines not starting with 'Time' are skipped and listed."""
    records: List[SplRecord] = []
    skipped: List[int] = []
    first_end = text.find("\n")
    newline = "\r\n" if first_end > 0 and text[first_end - 1] == "\r" else "\n"
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if not line.startswith("Time"):
            if line.strip():
                log.warning("%s:%d: skipped a line not starting with 'Time'", path, number)
            skipped.append(number)
            continue
        records.append(parse_line(line, path, number))
    return SplFile(tuple(records), newline, tuple(skipped))


def read_spl_file(path: PathLike) -> SplFile:
    """Read an spl.txt with its newline style and skipped lines (for byte-exact rewriting)."""
    name = os.fspath(path)
    try:
        with open(name, "r", encoding="ascii", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise FileFormatError(f"{name}: not an ASCII spl.txt ({e})") from e
    except OSError as e:
        raise FileFormatError(f"{name}: cannot read ({e.strerror or e})") from e
    return parse_text(text, name)


def read_spl(path: PathLike) -> List[SplRecord]:
    """The records of an spl.txt, in file order."""
    return list(read_spl_file(path).records)


def iter_lines(records: Iterable[SplRecord], newline: str = "\n") -> Iterator[str]:
    """Each record as a line ending with newline (so the file never ends with a blank line)."""
    for record in records:
        yield format_record(record) + newline


def write_spl(path: PathLike, records: Iterable[SplRecord], newline: str = "\n") -> None:
    """Write a whole spl.txt (refuses to overwrite: MLPerf files are never edited after the fact)."""
    with SplWriter(path, newline=newline) as writer:
        for record in records:
            writer.write(record)


class SplWriter:
    """Append rows to a new spl.txt, flushing each one as it is written."""

    def __init__(self, path: PathLike, newline: str = "\n") -> None:
        self.path = os.fspath(path)
        self.newline = newline
        try:
            self._file: Optional[IO[str]] = open(self.path, "x", encoding="ascii", newline="")
        except FileExistsError as e:
            raise FileFormatError(f"{self.path}: already exists; spl.txt is never rewritten") from e
        except OSError as e:
            raise FileFormatError(f"{self.path}: cannot create ({e.strerror or e})") from e

    def write(self, record: SplRecord) -> None:
        """Write one row and flush it."""
        if self._file is None:
            raise FileFormatError(f"{self.path}: writer is closed")
        try:
            self._file.write(format_record(record) + self.newline)
            self._file.flush()
        except OSError as e:  # a full disk: the rows already flushed stay, the file is dropped
            file, self._file = self._file, None
            try:
                file.close()
            except OSError:
                pass  # the same unflushable buffer again
            raise FileFormatError(f"{self.path}: write failed ({e.strerror or e})") from e

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as e:
                raise FileFormatError(f"{self.path}: write failed ({e.strerror or e})") from e

    def __enter__(self) -> "SplWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_from_sample(sample: Sample, mark: Optional[str]) -> SplRecord:
    """The spl row PTDaemon would write for a sample: -1 for every value of a sample without data.

    t_ns is truncated to the millisecond, so that the record equals what reading the row back gives.
    """
    def value(x: float) -> float:
        return x if sample.ok and math.isfinite(x) else NOT_AVAILABLE

    t_ms_ns = sample.t_end_ns - sample.t_end_ns % _NS_PER_MS
    return SplRecord(t_ms_ns, value(sample.power_w), value(sample.voltage_v),
                     value(sample.current_a), value(sample.power_factor), mark)


def sample_from_record(
    record: SplRecord,
    interval_ns: int,
    voltage_range_v: float = math.nan,
    current_range_a: float = math.nan,
    uncertainty_w: float = math.nan,
) -> Sample:
    """A Sample for an spl row (stamp = the row's Time, taken as the end of its interval).

    A row whose Watts is -1 becomes a NO_DATA sample; -1 volts/amps/pf (sum rows) become NaN.
    """
    def value(x: float) -> float:
        return math.nan if x == NOT_AVAILABLE else x

    if not record.power_available:
        nan = math.nan
        return Sample(record.t_ns, interval_ns, nan, nan, nan, nan, voltage_range_v,
                      current_range_a, Status.NO_DATA)
    return Sample(record.t_ns, interval_ns, record.watts, value(record.volts), value(record.amps),
                  value(record.pf), voltage_range_v, current_range_a, Status.OK, uncertainty_w)


def merged_record(rows: Sequence[SplRecord], mark: Optional[str] = None) -> SplRecord:
    """The merged row power-dev writes for several analyzers' rows taken together.

    Time and Mark come from the first analyzer; Watts = sum of |W| over W != -1; V/A/PF = -1.
    """
    if not rows:
        raise ValueError("merged_record needs at least one row")
    total_w = math.fsum(abs(r.watts) for r in rows if r.watts != NOT_AVAILABLE)
    first = rows[0]
    return SplRecord(
        first.t_ns, total_w, NOT_AVAILABLE, NOT_AVAILABLE, NOT_AVAILABLE,
        first.mark if mark is None else mark, (),
        tuple((f"Analyzer{i + 1}", r) for i, r in enumerate(rows)),
    )
