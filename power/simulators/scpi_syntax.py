"""The syntax on a Yokogawa meter's wire: headers and their short/long forms, message units, NR3 numbers,
numeric parsing with multipliers, and the error codes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

# Yokogawa lists the 488.2 errors under positive codes; this numbering and these texts are unverified
# (analyzers.md §8); the 8xx codes come from meter.py.
E_SYNTAX = (102, "Syntax error")
E_PARAM_NOT_ALLOWED = (108, "Parameter not allowed")
E_MISSING_PARAM = (109, "Missing parameter")
E_UNDEFINED_HEADER = (113, "Undefined header")
E_NUMERIC = (120, "Numeric data error")
E_CHAR_DATA = (141, "Invalid character data")
E_OUT_OF_RANGE = (222, "Data out of range")
E_QUEUE_OVERFLOW = (350, "Queue overflow")
E_QUERY_INTERRUPTED = (410, "Query INTERRUPTED")

FILTERS = ("RISE", "FALL", "BOTH", "NEVER")
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*$")
_MULTIPLIERS = {"": 1.0, "M": 1e-3, "U": 1e-6, "K": 1e3}


class ScpiError(Exception):
    """A protocol error with its error-queue code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code},{message}")
        self.code = code
        self.text = message


def fail(error: Tuple[int, str]) -> ScpiError:
    """An exception for one of the E_* pairs."""
    return ScpiError(*error)


def nr3(value: float, digits: int = 5) -> str:
    """Engineering NR3 with `digits` significant digits and 1-3 integer digits, e.g. 240.02E-03."""
    if value == 0 or not math.isfinite(value):
        return "0." + "0" * (digits - 1) + "E+00"
    rounded = float(f"{value:.{digits - 1}e}")  # round to the significant digits first
    exp3 = int(math.floor(math.log10(abs(rounded)) / 3.0)) * 3
    mant = rounded / 10.0 ** exp3
    int_digits = len(str(int(abs(round(mant, 6))))) if abs(mant) >= 1 else 1
    text = f"{mant:.{max(digits - int_digits, 0)}f}"
    return f"{text}E{exp3:+03d}"


def parse_number(text: str, unit: str = "") -> float:
    """A decimal with an optional multiplier and unit: 150V, 5E-3, 500MA (milliamps), 100MS, 1S."""
    match = _NUMBER.match(text)
    if not match:
        raise fail(E_NUMERIC)
    value, suffix = float(match.group(1)), match.group(2).upper()
    if unit and suffix.endswith(unit):
        suffix = suffix[: -len(unit)]
    if suffix not in _MULTIPLIERS:
        raise fail(E_NUMERIC)
    return value * _MULTIPLIERS[suffix]


def parse_bool(text: str) -> bool:
    """ON/OFF/1/0."""
    word = text.strip().upper()
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    raise fail(E_CHAR_DATA)


@dataclass(frozen=True)
class Node:
    short: str
    long: str
    optional: bool
    suffix: bool


def parse_pattern(pattern: str) -> Tuple[Node, ...]:
    nodes = []
    for part in re.findall(r"\[?:?[A-Za-z*]+#?\]?", pattern):
        optional = part.startswith("[")
        name = part.strip("[]:")
        suffix = name.endswith("#")
        name = name.rstrip("#")
        short = "".join(ch for ch in name if ch.isupper() or ch == "*") or name.upper()
        nodes.append(Node(short, name.upper(), optional, suffix))
    return tuple(nodes)


def suffix_of(given: str) -> int:
    digits = re.search(r"(\d+)$", given)
    return int(digits.group(1)) if digits else 1


def _node_ok(node: Node, given: str) -> bool:
    name = re.sub(r"\d+$", "", given) if node.suffix else given
    return name in (node.short, node.long)


def match_nodes(nodes: Tuple[Node, ...], given: Tuple[str, ...]) -> Optional[Tuple[Node, ...]]:
    """The nodes used to match given (optional nodes may be skipped), or None."""
    if not nodes:
        return () if not given else None
    node = nodes[0]
    if given and _node_ok(node, given[0]):
        rest = match_nodes(nodes[1:], given[1:])
        if rest is not None:
            return (node,) + rest
    if node.optional:
        return match_nodes(nodes[1:], given)
    return None


def split_units(text: str) -> List[str]:
    units, current, quoted = [], [], ""
    for ch in text:
        if quoted:
            quoted = "" if ch == quoted else quoted
        elif ch in "\"'":
            quoted = ch
        elif ch == ";":
            units.append("".join(current))
            current = []
            continue
        current.append(ch)
    units.append("".join(current))
    return units


def split_params(text: str) -> List[str]:
    return [p.strip() for p in text.split(",")]
