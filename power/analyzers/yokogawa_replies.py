"""Command strings and reply parsing of the Yokogawa meters (WT300 command set and WT210 488.2 mode).

Facts: analyzers.md §4, §5, §7 and §10. Overrange and no-data texts follow §7's driver rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

from power.errors import AnalyzerProtocolError
from power.sample import Status

_NAN = math.nan


@dataclass(frozen=True)
class Dialect:
    """The command strings of one command set."""

    family: str
    volt: str  # range and auto commands hang below these
    curr: str
    cfac: str
    rates: Tuple[str, ...]
    setup: Tuple[str, ...]
    read: str
    values: int  # numbers in the first reply unit


_WT210_ITEMS_OFF = "VA VAR DEGR VHZ AHZ WH WHP WHM AH AHP AHM VPK APK TIME MATH".split()
WT300 = Dialect(
    "WT300", ":INP:VOLT", ":INP:CURR", ":INP:CFAC", (":RATE", ":SAMP:RATE"),
    (":COMM:REM ON", ":COMM:HEAD OFF;:COMM:VERB OFF;:STAT:QMES ON", ":NUM:FORM ASCII;:NUM:NORM:NUM 6",
     ":NUM:NORM:ITEM1 U,{e};ITEM2 I,{e};ITEM3 P,{e};ITEM4 LAMBDA,{e};ITEM5 URANGE,{e};ITEM6 IRANGE,{e}",
     ":STAT:FILT1 FALL"),
    ":COMM:WAIT 1;:NUM:NORM:VAL?;:STAT:EESR?;*STB?", 6,
)
WT210 = Dialect(
    "WT210", ":CONF:VOLT", ":CONF:CURR", ":CONF:CFAC", (":SAMP:RATE",),
    (":COMM:HEAD OFF;:STAT:QMES ON",
     ":MEAS:ITEM:V ON;A ON;W ON;PF ON;" + ";".join(f"{n} OFF" for n in _WT210_ITEMS_OFF),
     ":STAT:FILT1 FALL"),
    ":COMM:WAIT 1;:MEAS:VAL?;:CONF:VOLT:RANG?;:CONF:CURR:RANG?;:STAT:EESR?;*STB?", 4,
)


def parse_value(text: str) -> Tuple[float, Optional[Status]]:
    """One numeric item: (value, None), or (NaN, OVERRANGE | NO_DATA) for INF/NAN/9.9E+37/9.91E+37."""
    word = text.strip().upper()
    if word in ("NAN", "+NAN", "-NAN"):
        return _NAN, Status.NO_DATA
    if word in ("INF", "+INF", "-INF"):
        return _NAN, Status.OVERRANGE
    try:
        value = float(word)
    except ValueError:
        raise AnalyzerProtocolError(f"not a number in the reply: {text.strip()[:30]!r}") from None
    if math.isnan(value) or abs(value) >= 9.905e37:
        return _NAN, Status.NO_DATA
    if math.isinf(value) or abs(value) >= 9.9e37:
        return _NAN, Status.OVERRANGE
    return value, None


@dataclass(frozen=True)
class Reading:
    """One parsed streaming reply: values (NaN where flagged), ranges, status and the status byte."""

    voltage_v: float
    current_a: float
    power_w: float
    power_factor: float
    range_v: float
    range_a: float
    status: Status
    status_byte: int


def parse_reading(d: Dialect, line: str) -> Reading:
    """Parse `values;eesr;stb` (WT300) or `values;vrange;irange;eesr;stb` (WT210); checks its consistency."""
    parts = line.split(";")
    if len(parts) != (3 if d.family == "WT300" else 5):
        raise AnalyzerProtocolError(f"unexpected reply shape: {line[:80]!r}")
    fields = parts[0].split(",")
    if len(fields) != d.values:
        raise AnalyzerProtocolError(f"expected {d.values} values, got {line[:80]!r}")
    parsed = [parse_value(f) for f in fields]
    if d.family == "WT300":
        (u, fu), (i, fi), (p, fp), (pf, _), (vr, _), (ir, _) = parsed
    else:
        (u, fu), (i, fi), (p, fp), (pf, _) = parsed
        vr, ir = parse_value(parts[1])[0], parse_value(parts[2])[0]
    try:
        stb = int(parts[-1])
    except ValueError:
        raise AnalyzerProtocolError(f"bad status byte in {line[:80]!r}") from None
    check_consistent(u, i, p, pf, vr, ir, 1e-3 if d.family == "WT300" else 5e-3, line)
    flags = {fu, fi, fp} - {None}
    status = Status.NO_DATA if Status.NO_DATA in flags else Status.OVERRANGE if flags else Status.OK
    return Reading(u, i, p, pf, vr, ir, status, stb)


def in_table(value: float, table: Tuple[float, ...]) -> bool:
    return any(abs(value - r) <= 1e-6 * r for r in table)


def check_consistent(u: float, i: float, p: float, pf: float, vr: float, ir: float, rel: float, line: str) -> None:
    """A serial line has no checksum: a dropped or changed digit still parses. The meter computes
    λ = P / (U·I), so U·I·λ must give P back to the printed precision, and the ranges must be real ranges."""
    if not (vr > 0 and ir > 0):
        raise AnalyzerProtocolError(f"implausible ranges in reply: {line[:80]!r}")
    if all(math.isfinite(x) for x in (u, i, p, pf)) and u > 0 and i > 0:
        if abs(u * i * pf - p) > rel * abs(p) + 1e-4 * vr * ir or abs(pf) > 1.001:
            raise AnalyzerProtocolError(f"inconsistent reading (U·I·λ != P; corrupted line?): {line[:80]!r}")


def error_entry(reply: str) -> Tuple[int, str]:
    """Parse `0,"No error"` or `0` (QMES OFF)."""
    code_text, _, message = reply.partition(",")
    try:
        return int(code_text.strip()), message.strip().strip('"')
    except ValueError:
        raise AnalyzerProtocolError(f"expected an error-queue entry, got {reply[:60]!r}") from None
