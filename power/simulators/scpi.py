"""An IEEE 488.2 message engine as Yokogawa meters implement it: headers, compound units, queues, status.

Protocol-free of any one model: wt300.py and wt210.py register their command tables on it. Facts:
analyzers.md §3, §5, §8 and §15. Bytes in through write(), out through read(); tick() follows the meter.
"""

from __future__ import annotations

import collections
import logging
import re
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Optional, Sequence, Tuple

from power.simulators.meter import Meter, MeterError, Update
from power.simulators.scpi_syntax import (
    E_MISSING_PARAM,
    E_OUT_OF_RANGE,
    E_PARAM_NOT_ALLOWED,
    E_QUERY_INTERRUPTED,
    E_QUEUE_OVERFLOW,
    E_SYNTAX,
    E_UNDEFINED_HEADER,
    E_CHAR_DATA,
    ScpiError,
    fail,
    parse_bool,
    parse_number,
)
from power.simulators.scpi_syntax import Node, match_nodes, parse_pattern, split_params, split_units, suffix_of

log = logging.getLogger(__name__)


@dataclass
class Unit:
    """One program message unit as a handler sees it."""

    query: bool
    params: List[str]
    suffixes: List[int]
    header: str  # the reply header for HEAD ON, e.g. ":INPUT:VOLTAGE:RANGE"


class Bare(str):
    """A query reply that never gets a header, even with :COMM:HEAD ON (numeric data)."""


Handler = Callable[[Unit], Optional[str]]


@dataclass
class _Command:
    nodes: Tuple[Node, ...]
    setter: Optional[Handler]
    getter: Optional[Handler]


class _Hold(Exception):
    def __init__(self, mask: int) -> None:
        super().__init__(mask)
        self.mask = mask


class Scpi488:
    """The engine: register commands with on(); feed bytes; read replies; tick() at every meter update."""

    def __init__(
        self,
        meters: Sequence[Meter],
        idn: str,
        terminator: bytes = b"\r\n",
        error_queue_size: int = 8,
    ) -> None:
        self.meters = list(meters)
        self.meter = self.meters[0]
        self.idn = idn
        self.terminator = terminator
        self._commands: List[_Command] = []
        self._cache: Dict[Tuple[str, ...], Tuple[_Command, List[int], Tuple[Node, ...]]] = {}
        self._in = bytearray()
        self._out = bytearray()
        self._messages: Deque[str] = collections.deque()
        self._held: Optional[Tuple[List[str], int, int]] = None
        self._parts: List[str] = []
        self.errors: Deque[Tuple[int, str]] = collections.deque()
        self.error_queue_size = error_queue_size
        self.head = False
        self.verb = False
        self.qmes = False
        self.esr = self.ese = self.sre = 0
        self.eesr = self.eese = self.cond = 0
        self.filters = ["NEVER"] * 16
        self.on("*CLS", setter=self._cls)
        self.on("*IDN", getter=lambda u: self.idn)
        self.on("*ESR", getter=self._esr_q)
        self.on("*ESE", setter=lambda u: self._set_reg("ese", u), getter=lambda u: str(self.ese))
        self.on("*SRE", setter=lambda u: self._set_reg("sre", u), getter=lambda u: str(self.sre))
        self.on("*STB", getter=lambda u: str(self._stb()))
        self.on("*OPC", setter=lambda u: None, getter=lambda u: "1")
        self.on("*WAI", setter=lambda u: None)
        self.on("*TST", getter=lambda u: "0")
        self.on(":STATus:ERRor", getter=self._err_q)
        self.on(":STATus:QMESsage", setter=lambda u: setattr(self, "qmes", parse_bool(self._one(u))),
                getter=lambda u: "1" if self.qmes else "0")
        self.on(":STATus:EESR", getter=self._eesr_q)
        self.on(":STATus:EESE", setter=lambda u: self._set_reg("eese", u), getter=lambda u: str(self.eese))
        self.on(":STATus:CONDition", getter=lambda u: str(self.cond))
        self.on(":STATus:FILTer#", setter=self._filter_set, getter=self._filter_q)
        self.on(":COMMunicate:HEADer", setter=lambda u: setattr(self, "head", parse_bool(self._one(u))),
                getter=lambda u: "1" if self.head else "0")
        self.on(":COMMunicate:VERBose", setter=lambda u: setattr(self, "verb", parse_bool(self._one(u))),
                getter=lambda u: "1" if self.verb else "0")
        self.on(":COMMunicate:WAIT", setter=self._wait)

    # ----- registration and helpers for command tables -----

    def on(self, pattern: str, setter: Optional[Handler] = None, getter: Optional[Handler] = None) -> None:
        """Register a command: long form with capitals marking the short form, '#' a numeric suffix,
        '[...]' an optional node; setter for the command form, getter for the query form."""
        self._commands.append(_Command(parse_pattern(pattern), setter, getter))

    @staticmethod
    def _one(unit: Unit) -> str:
        if not unit.params or not unit.params[0].strip():
            raise fail(E_MISSING_PARAM)
        if len(unit.params) > 1:
            raise fail(E_PARAM_NOT_ALLOWED)
        return unit.params[0].strip()

    def one(self, unit: Unit) -> str:
        """The single parameter of a unit (109/108 otherwise)."""
        return self._one(unit)

    def word(self, text: str, choices: Sequence[str]) -> str:
        """Match character data against choices by short form (capitals) or long form."""
        given = text.strip().upper()
        for choice in choices:
            short = "".join(ch for ch in choice if ch.isupper() or ch.isdigit()) or choice
            if given in (short.upper(), choice.upper()):
                return choice.upper()
        raise fail(E_CHAR_DATA)

    def choice_reply(self, long_word: str, short_len: int = 4) -> str:
        """Character data in reply: short form (VERB OFF) or long (VERB ON), e.g. ASC / ASCII."""
        return long_word if self.verb else long_word[:short_len]

    # ----- bytes in and out -----

    def write(self, data: bytes) -> None:
        """Receive bytes from the controller; complete messages (LF-terminated, CR stripped) are executed."""
        self.tick()
        self._in += data
        while True:
            end = self._in.find(b"\n")
            if end < 0:
                break
            raw = bytes(self._in[:end]).rstrip(b"\r")
            del self._in[: end + 1]
            self._messages.append(raw.decode("latin-1"))
        self._run_messages()

    def read(self, max_bytes: Optional[int] = None) -> bytes:
        """Take up to max_bytes of pending output (all by default)."""
        n = len(self._out) if max_bytes is None else min(max_bytes, len(self._out))
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def pending_output(self) -> int:
        """Bytes of reply not yet taken by the transport."""
        return len(self._out)

    def feed(self, data: bytes) -> bytes:
        """write(data), then tick(), then everything read() has: for tests without a transport."""
        self.write(data)
        self.tick()
        return self.read()

    @property
    def holding(self) -> bool:
        """True while :COMM:WAIT holds the message stream."""
        return self._held is not None

    def tick(self) -> None:
        """Complete the meter's due updates, update the status registers, release a pending wait."""
        done = [m.advance() for m in self.meters]
        for k, update in enumerate(done[0]):
            others = [d[k] for d in done[1:] if k < len(d)]
            self._on_update(update, others)
            if self._held is not None and self.eesr & self._held[2]:
                units, start, _ = self._held
                self._held = None
                self._run_units(units, start)
                self._run_messages()

    # ----- execution -----

    def _run_messages(self) -> None:
        while self._messages:
            if self._held is not None:
                head = self._messages[0].strip().upper()
                if head and head not in ("*CLS",):
                    return  # input waits behind :COMM:WAIT
                # Simulator choice: a lone LF or *CLS (the "\n*CLS" resync) abandons the wait
                # (what the real meter does here is unverified).
                self._held, self._parts = None, []
            text = self._messages.popleft()
            if self._out:
                self._out.clear()
                self.push_error(E_QUERY_INTERRUPTED)
            if text.strip():
                self._parts = []
                self._run_units(split_units(text), 0)

    def _run_units(self, units: List[str], start: int) -> None:
        path: Tuple[str, ...] = ()
        for k in range(start, len(units)):
            text = units[k].strip()
            try:
                path = self._execute(text, path)
            except _Hold as hold:
                self._held = (units, k + 1, hold.mask)
                return
            except ScpiError as e:
                self.push_error((e.code, e.text))
                if e.code < 200:
                    break  # a parse error drops the rest of the message
            except MeterError as e:
                self.push_error((e.code, e.text))
        if self._parts:
            self._out += (";".join(self._parts)).encode("latin-1") + self.terminator
            self._parts = []

    def _execute(self, text: str, path: Tuple[str, ...]) -> Tuple[str, ...]:
        if not text:
            raise fail(E_SYNTAX)
        match = re.match(r"^(:?[A-Za-z*][A-Za-z0-9:*]*)(\?)?(?:\s+(.*))?$", text, re.S)
        if not match:
            raise fail(E_SYNTAX)
        header, query, rest = match.group(1), bool(match.group(2)), match.group(3)
        if header.startswith("*"):
            given: Tuple[str, ...] = (header.upper(),)
            new_path = path
        else:
            parts = tuple(p.upper() for p in header.lstrip(":").split(":"))
            given = parts if header.startswith(":") else path + parts
            new_path = given[:-1]
        command, suffixes, nodes = self._lookup(given)
        handler = command.getter if query else command.setter
        if handler is None:
            raise fail(E_UNDEFINED_HEADER)
        params = split_params(rest) if rest is not None and rest.strip() else []
        names = []
        for node, given_node in zip(nodes, given):
            name = node.long if self.verb else node.short
            names.append(name + str(suffix_of(given_node)) if node.suffix else name)
        reply_header = ":" + ":".join(names)
        reply = handler(Unit(query, params, suffixes, reply_header))
        if query:
            if reply is None:
                raise fail(E_UNDEFINED_HEADER)
            if self.head and not header.startswith("*") and not isinstance(reply, Bare):
                reply = f"{reply_header} {reply}"
            self._parts.append(reply)
        return new_path

    def _lookup(self, given: Tuple[str, ...]) -> Tuple[_Command, List[int], Tuple[Node, ...]]:
        hit = self._cache.get(given)
        if hit is None:
            for command in self._commands:
                used = match_nodes(command.nodes, given)
                if used is not None:
                    hit = (command, [suffix_of(g) for n, g in zip(used, given) if n.suffix], used)
                    break
            else:
                raise fail(E_UNDEFINED_HEADER)
            self._cache[given] = hit
        return hit[0], list(hit[1]), hit[2]

    # ----- errors and status -----

    def push_error(self, error: Tuple[int, str]) -> None:
        """Queue an error (the last slot becomes 350 when full) and set the event bit."""
        code = error[0]
        log.debug("simulated meter error %s", error)
        if len(self.errors) >= self.error_queue_size:
            self.errors[-1] = E_QUEUE_OVERFLOW
        else:
            self.errors.append(error)
        bit = {1: 5, 2: 4, 3: 3, 4: 2}.get(code // 100, 4)  # CME, EXE, DDE, QYE; 8xx = EXE
        self.esr |= 1 << bit

    def _err_q(self, unit: Unit) -> str:
        code, text = self.errors.popleft() if self.errors else (0, "No error")
        return f'{code},"{text}"' if self.qmes else str(code)

    def _esr_q(self, unit: Unit) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _eesr_q(self, unit: Unit) -> str:
        value, self.eesr = self.eesr, 0
        return str(value)

    def _stb(self) -> int:
        stb = (4 if self.errors else 0) | (8 if self.eesr & self.eese else 0)
        stb |= (16 if self._out else 0) | (32 if self.esr & self.ese else 0)
        return stb | (64 if stb & self.sre else 0)

    def _set_reg(self, name: str, unit: Unit) -> None:
        value = parse_number(self._one(unit))
        if not 0 <= value <= 65535:
            raise fail(E_OUT_OF_RANGE)
        setattr(self, name, int(value))

    def _cls(self, unit: Unit) -> None:
        self.esr = self.eesr = 0
        self.errors.clear()

    def _filter_set(self, unit: Unit) -> None:
        n = unit.suffixes[0] if unit.suffixes else 1
        if not 1 <= n <= 16:
            raise fail(E_OUT_OF_RANGE)
        self.filters[n - 1] = self.word(self._one(unit), ("RISE", "FALL", "BOTH", "NEVer"))

    def _filter_q(self, unit: Unit) -> str:
        n = unit.suffixes[0] if unit.suffixes else 1
        if not 1 <= n <= 16:
            raise fail(E_OUT_OF_RANGE)
        return self.choice_reply(self.filters[n - 1], 4)

    def _wait(self, unit: Unit) -> None:
        # :COMM:WAIT returns at once when a masked bit is already set in the EESR, else holds the message
        # stream until one is set (level, not edge: §15 says "next matching edge"; which one the real
        # meter does is unverified). Drivers that read :STAT:EESR? (read = clear) after each value read
        # see the same behaviour either way.
        mask = int(parse_number(self._one(unit)))
        if not 0 <= mask <= 65535:
            raise fail(E_OUT_OF_RANGE)
        if mask and not self.eesr & mask:
            raise _Hold(mask)

    def condition(self, update: Update, others: Sequence[Update]) -> int:
        """Condition register after an update (UPD low: computing done); bits 6-14 per element."""
        cond = 0
        if self.meter.integration.state == "START":
            cond |= 2
        # Simplification: OVRn = any overrange, POVn = voltage, POAn = current overrange of element n.
        for k, u in enumerate([update, *others][:3]):
            cond |= (1 << (6 + 3 * k)) if (u.overrange_v or u.overrange_i) else 0
            cond |= (1 << (7 + 3 * k)) if u.overrange_v else 0
            cond |= (1 << (8 + 3 * k)) if u.overrange_i else 0
        return cond

    def _on_update(self, update: Update, others: Sequence[Update]) -> None:
        new = self.condition(update, others)
        rise, fall = new & ~self.cond, self.cond & ~new
        # UPD (bit 0) rises when computing starts and falls when it ends: both edges at each update.
        rise |= 1
        fall |= 1
        for bit, mode in enumerate(self.filters):
            if mode == "NEVER":
                continue
            if (mode in ("RISE", "BOTH") and rise >> bit & 1) or (mode in ("FALL", "BOTH") and fall >> bit & 1):
                self.eesr |= 1 << bit
        self.cond = new
        self.on_update(update, others)

    def on_update(self, update: Update, others: Sequence[Update]) -> None:
        """Hook for models (hold, recording)."""
