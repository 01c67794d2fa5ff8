"""A tiny reader of LoadGen's detail log (':::MLLOG {json}' lines) for the keys power needs."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Union

from power.errors import FileFormatError
from power.spl import parse_mlperf_time

PathLike = Union[str, "os.PathLike[str]"]

_PREFIX = ":::MLLOG "
# Builds before the JSON log format printed 'POWER_BEGIN: <date>'; power-dev matches the key
# case-insensitively and takes the dd-dd-dddd dd:dd:dd.ddd date that follows.
_LEGACY = re.compile(r"(power_begin|power_end)\W+(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}\.\d+)", re.I)


@dataclass(frozen=True)
class PowerWindow:
    """LoadGen's power window: the raw strings, their UTC ns, and result_query_count if logged."""

    power_begin: str
    power_end: str
    begin_ns: int
    end_ns: int
    query_count: Optional[int]

    @property
    def duration_s(self) -> float:
        """power_end - power_begin in seconds."""
        return (self.end_ns - self.begin_ns) / 1e9


def first_values(lines: Iterable[str], keys: Iterable[str], source: str = "<log>") -> Dict[str, Any]:
    """The value of the first occurrence of each key (what the MLPerf checker reads)."""
    wanted = set(keys)
    found: Dict[str, Any] = {}
    for number, line in enumerate(lines, start=1):
        if not wanted - set(found):
            break
        start = line.find(_PREFIX)
        if start < 0:
            legacy = _LEGACY.search(line)
            if legacy:
                key = legacy.group(1).lower()
                if key in wanted and key not in found:
                    found[key] = legacy.group(2)
            continue
        try:
            entry = json.loads(line[start + len(_PREFIX):])
        except ValueError as e:
            raise FileFormatError(f"{source}:{number}: bad :::MLLOG JSON ({e})") from e
        if not isinstance(entry, dict) or "key" not in entry:
            raise FileFormatError(f"{source}:{number}: :::MLLOG entry without a key")
        key = entry["key"]
        if key in wanted and key not in found:
            found[key] = entry.get("value")
    return found


def read_power_window(path: PathLike) -> PowerWindow:
    """power_begin, power_end and result_query_count from an mlperf_log_detail.txt."""
    name = os.fspath(path)
    try:
        with open(name, "r", encoding="utf-8", errors="replace") as f:
            values = first_values(f, ("power_begin", "power_end", "result_query_count"), name)
    except OSError as e:
        raise FileFormatError(f"{name}: cannot read ({e.strerror or e})") from e
    for key in ("power_begin", "power_end"):
        if not isinstance(values.get(key), str):
            raise FileFormatError(f"{name}: no {key} entry (was the run in performance mode?)")
    try:
        begin_ns = parse_mlperf_time(values["power_begin"])
        end_ns = parse_mlperf_time(values["power_end"])
    except ValueError as e:
        raise FileFormatError(f"{name}: {e}") from e
    count = values.get("result_query_count")
    if count is not None and not isinstance(count, int):
        raise FileFormatError(f"{name}: result_query_count is not an integer: {count!r}")
    return PowerWindow(values["power_begin"], values["power_end"], begin_ns, end_ns, count)
