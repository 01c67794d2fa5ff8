"""Reading a sweep spec's TOML: the line of every key, checked values, and one-line errors that name them."""

from __future__ import annotations

import json
import math
import re
import sys
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from agent.protocol import USER_CONF_KEYS
from director.errors import BadInput
from director.runspec import is_loadgen_model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older Pythons only
    import tomli as tomllib

KeyPath = Tuple[str, ...]

_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = _PART + r"(?:\s*\.\s*" + _PART + r")*"
_HEADER = re.compile(r"\s*\[\[?\s*(" + _DOTTED + r")\s*\]")
_KEY = re.compile(r"\s*(" + _DOTTED + r")\s*=")
_BARE = re.compile(r"[A-Za-z0-9_-]+\Z")
_TOML_POS = re.compile(r"\(at line (\d+), column \d+\)")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def split_key(dotted: str) -> KeyPath:
    """'devices."a.b".run' -> ('devices', 'a.b', 'run')."""
    parts: List[str] = []
    for match in re.finditer(_PART, dotted):
        part = match.group(0)
        if part[0] == '"':
            try:
                part = json.loads(part)
            except ValueError:
                part = part[1:-1]
        elif part[0] == "'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def dotted(key_path: Sequence[str]) -> str:
    """('devices', 'a.b', 'run') -> 'devices."a.b".run', as the key is written in TOML."""
    return ".".join(p if _BARE.match(p) else json.dumps(p) for p in key_path)


class _Values:
    """Follows values across lines: records the keys of inline tables, knows when an array or string is open."""

    def __init__(self, lines: Dict[KeyPath, int]) -> None:
        self.lines = lines
        self.stack: List[Tuple[str, KeyPath]] = []
        self.string: Optional[str] = None

    @property
    def open(self) -> bool:
        """True while a multi-line array or string continues on the next line."""
        return bool(self.stack) or self.string is not None

    def feed(self, text: str, i: int, path: KeyPath, number: int) -> None:
        """Scan TEXT from I; PATH is the key whose value starts there (unused while a value is open)."""
        current = self.stack[-1][1] if self.stack else path
        while i < len(text):
            if self.string:
                end = text.find(self.string, i)
                if end < 0:
                    return
                i, self.string = end + 3, None
                continue
            c = text[i]
            if c in "\"'":
                if text.startswith(c * 3, i):
                    self.string, i = c * 3, i + 3
                else:
                    i = _string_end(text, i)
                continue
            if c == "#":
                return
            i += 1
            if c in "{[":
                self.stack.append((c, current))
            elif c in "}]" and self.stack:
                self.stack.pop()
                current = self.stack[-1][1] if self.stack else path
            if c in "{," and self.stack and self.stack[-1][0] == "{":
                match = _KEY.match(text, i)
                if match:
                    current = self.stack[-1][1] + split_key(match.group(1))
                    _record(self.lines, current, number, len(self.stack[-1][1]) + 1)
                    i = match.end()
            elif c == "," and self.stack:
                current = self.stack[-1][1]


def _string_end(text: str, i: int) -> int:
    quote, j = text[i], i + 1
    while j < len(text):
        if text[j] == "\\" and quote == '"':
            j += 2
        elif text[j] == quote:
            return j + 1
        else:
            j += 1
    return len(text)


def _record(lines: Dict[KeyPath, int], path: KeyPath, number: int, start: int) -> None:
    for n in range(max(start, 1), len(path) + 1):
        lines.setdefault(path[:n], number)


def key_lines(text: str) -> Dict[KeyPath, int]:
    """The 1-based line of every table and key (dotted, inline tables too; best effort), first one wins."""
    lines: Dict[KeyPath, int] = {}
    values = _Values(lines)
    table: KeyPath = ()
    for number, line in enumerate(text.splitlines(), 1):
        if values.open:
            values.feed(line, 0, (), number)
            continue
        header = _HEADER.match(line)
        if header:
            table = split_key(header.group(1))
            _record(lines, table, number, 1)
            continue
        key = _KEY.match(line)
        if key:
            path = table + split_key(key.group(1))
            _record(lines, path, number, len(table) + 1)
            values.feed(line, key.end(), path, number)
    return lines


def locate(file: str, lines: Mapping[KeyPath, int], key_path: Sequence[str]) -> str:
    """"FILE:LINE" of KEY_PATH (or of the nearest enclosing table that has a line); "FILE" if none."""
    for n in range(len(key_path), 0, -1):
        line = lines.get(tuple(key_path[:n]))
        if line is not None:
            return f"{file}:{line}"
    return file


class Wrong(ValueError):
    """A value of the wrong type or out of range; the message follows 'KEY: '."""


class Empty(Wrong):
    """An empty list where the product needs at least one value."""


def show(value: Any) -> str:
    """A value as TOML would write it, near enough: "two", 3, true, [1, 2]."""
    return json.dumps(value, default=str)


def tname(value: Any) -> str:
    """'a string', 'an integer', ... for messages."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "a table", datetime: "a date-time"}
    return names.get(type(value), f"a {type(value).__name__}")


def integer(low: int) -> Callable[[Any], int]:
    """A checker: a whole number >= LOW."""
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Wrong(f"{show(value)} is {tname(value)} (expected a whole number >= {low})")
        if value < low:
            raise Wrong(f"{value} is too small (expected a whole number >= {low})")
        return value
    return check


def number(low: float = 0.0, strict: bool = False, unit: str = "") -> Callable[[Any], float]:
    """A checker: a finite number >= LOW (> LOW when strict); ints become floats."""
    what = f"a number {'>' if strict else '>='} {low:g}" + (f", in {unit}" if unit else "")

    def check(value: Any) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise Wrong(f"{show(value)} is {tname(value)} (expected {what})")
        if value < low or (strict and value == low):
            raise Wrong(f"{show(value)} is too small (expected {what})")
        return float(value)
    return check


def any_number(value: Any) -> float:
    """A checker: any finite number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise Wrong(f"{show(value)} is {tname(value)} (expected a number)")
    return float(value)


def text(value: Any) -> str:
    """A checker: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise Wrong(f"{show(value)} is {tname(value) if not isinstance(value, str) else 'empty'} "
                    "(expected a non-empty string)")
    return value


def loadgen_model(value: Any) -> str:
    """A checker: LoadGen's model name (user.conf keys are MODEL.SCENARIO.KEY: no dots or spaces)."""
    if not is_loadgen_model(text(value)):
        raise Wrong(f"{show(value)} is not a LoadGen model name (expected one without spaces or dots, such as "
                    '"resnet50")')
    return value


def boolean(value: Any) -> bool:
    """A checker: true or false."""
    if not isinstance(value, bool):
        raise Wrong(f"{show(value)} is {tname(value)} (expected true or false)")
    return value


def name(value: Any) -> str:
    """A checker: a name of letters, digits, '.', '_' and '-' (it becomes part of job keys and folders)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        raise Wrong(f"{show(value)} is not a name (expected letters, digits, '.', '_' or '-')")
    return value


def choice(noun: str, options: Sequence[str]) -> Callable[[Any], str]:
    """A checker: one of OPTIONS."""
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise Wrong(f"{show(value)} is not {noun} (expected one of: {', '.join(options)})")
        return value
    return check


def power_mode(value: Any) -> str:
    """A checker: a power mode name (no '/': it becomes part of job keys)."""
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise Wrong(f"{show(value)} is not a power mode name (expected a non-empty string without '/')")
    return value


def instant(value: Any) -> int:
    """A checker: a UTC instant, "2026-11-23T07:00:00Z" or a TOML offset date-time -> UTC ns."""
    expected = 'expected a UTC instant such as "2026-11-23T07:00:00Z", with Z or an offset'
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip()[:-1] + "+00:00" if value.strip().endswith(("Z", "z"))
                                            else value.strip())
        except ValueError:
            raise Wrong(f"{show(value)} is not a date-time ({expected})") from None
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise Wrong(f"{show(value)} has no time zone ({expected})" if isinstance(moment, datetime)
                    else f"{show(value)} is {tname(value)} ({expected})")
    return (moment - _EPOCH) // _MICROSECOND * 1000


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc) - _EPOCH


def ranges(value: Any) -> Tuple[float, float]:
    """A checker: [VOLTS, AMPS], both > 0 -> (V, A)."""
    if not isinstance(value, list) or len(value) != 2:
        raise Wrong(f"{show(value)} is not a pair (expected [VOLTS, AMPS] such as [300, 0.5])")
    volts, amps = (number(0.0, strict=True)(v) for v in value)
    return volts, amps


def listing(item: Callable[[Any], Any]) -> Callable[[Any], List[Any]]:
    """A checker: a non-empty array of ITEMs, each once."""
    def check(value: Any) -> List[Any]:
        if not isinstance(value, list):
            raise Wrong(f"{show(value)} is {tname(value)} (expected an array such as [{show(value)}])")
        if not value:
            raise Empty("is []")
        items = [item(v) for v in value]
        for i, v in enumerate(items):
            if v in items[:i]:
                raise Wrong(f"{show(value[i])} is listed twice (expected each value once)")
        return items
    return check


class Reader:
    """A parsed sweep spec file: its data, the line of each key, and errors that name them."""

    def __init__(self, file: str, source: str) -> None:
        self.file = file
        try:
            self.data: Dict[str, Any] = tomllib.loads(source)
        except tomllib.TOMLDecodeError as e:
            pos = _TOML_POS.search(str(e))
            where = f"{file}:{pos.group(1)}" if pos else file
            raise BadInput(f"{where}: not valid TOML: {e}") from None
        self.lines = key_lines(source)

    def where(self, *key_path: str) -> str:
        """"FILE:LINE" of a key (or of its table)."""
        return locate(self.file, self.lines, key_path)

    def fail(self, key_path: KeyPath, problem: str) -> BadInput:
        """A BadInput "FILE:LINE: PROBLEM" placed at KEY_PATH."""
        return BadInput(f"{self.where(*key_path)}: {problem}")

    def table(
        self, value: Any, key_path: KeyPath, keys: Sequence[str], elsewhere: Optional[Mapping[str, str]] = None
    ) -> Dict[str, Any]:
        """VALUE checked to be a table holding only KEYS (ELSEWHERE: keys that belong in another place)."""
        if not isinstance(value, dict):
            raise self.fail(key_path, f"{dotted(key_path)}: {show(value)} is {tname(value)} (expected a table)")
        for key in value:
            path = key_path + (key,)
            if elsewhere and key in elsewhere:
                raise self.fail(path, f"{dotted(path)} does not belong in [{dotted(key_path)}] "
                                      f"(expected {elsewhere[key]})")
            if key not in keys:
                raise self.fail(path, f"unknown key {dotted(path)} (expected one of: {', '.join(keys)})")
        return value

    def get(self, table: Mapping[str, Any], key_path: KeyPath, key: str, check: Callable[[Any], Any],
            default: Any = None) -> Any:
        """The checked value of TABLE[KEY], DEFAULT when absent."""
        if key not in table:
            return default
        path = key_path + (key,)
        try:
            return check(table[key])
        except Empty:
            problem = f"the product is empty: {dotted(path)} is [] (expected at least one value)"
            raise self.fail(path, problem) from None
        except Wrong as e:
            raise self.fail(path, f"{dotted(path)}: {e}") from None

    def settings(self, value: Any, key_path: KeyPath) -> Dict[str, float]:
        """A table of LoadGen user.conf settings -> numbers >= 0 (LoadGen's units)."""
        table = self.table(value, key_path, tuple(value) if isinstance(value, dict) else ())
        for key in table:
            if key not in USER_CONF_KEYS:
                raise self.fail(key_path + (key,), f"unknown LoadGen setting {dotted(key_path + (key,))} "
                                                   f"(expected one of: {', '.join(sorted(USER_CONF_KEYS))})")
        return {key: self.get(table, key_path, key, number(unit=USER_CONF_KEYS[key])) for key in table}
