"""A simulated instrument on a serial line: byte timing at the baud rate and one-shot faults."""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from typing import Any, Callable, Deque, Optional, Tuple

from power.errors import PowerError

log = logging.getLogger(__name__)

FAULTS = ("garbage", "stray_cr", "drop", "truncate", "late", "silent")
_CHUNK_NS = 2_000_000  # after the first byte, the UART output is released in 2 ms chunks


class Link:
    """A protocol object on a serial line: byte timing at baud (0 = instant) and one-shot faults."""

    def __init__(self, instrument: Any, baud: int = 9600, now_ns: Callable[[], int] = time.time_ns) -> None:
        self.instrument = instrument
        self.baud = baud
        self.byte_ns = round(10 * 1_000_000_000 / baud) if baud else 0
        self.now_ns = now_ns
        self.lock = threading.RLock()
        self._rx: Deque[Tuple[int, bytes]] = collections.deque()
        self._rx_free_ns = 0
        self._tx_start_ns: Optional[int] = None
        self._tx_sent = 0
        self._override = bytearray()
        self._faults: Deque[Tuple[str, float]] = collections.deque()
        self._silent_until_ns = 0
        self._rng = random.Random(7)  # noqa: S311 - reproducible simulated line noise, not cryptography
        self.bytes_in = self.bytes_out = 0

    @property
    def meter(self) -> Any:
        """The instrument's first measuring element."""
        return self.instrument.meter

    def inject(self, kind: str, value: float = 0.0) -> None:
        """Queue a one-shot fault for the next reply: garbage, stray_cr, drop, truncate, late (value = delay s),
        or silent (value = seconds of deafness, starting now)."""
        if kind not in FAULTS:
            raise PowerError(f"unknown fault {kind!r} (known: {', '.join(FAULTS)})")
        with self.lock:
            if kind == "silent":
                self._silent_until_ns = self.now_ns() + round(value * 1e9)
            else:
                self._faults.append((kind, value))

    def receive(self, data: bytes, now: int) -> None:
        """Bytes written by the controller at now; they reach the instrument after their byte time."""
        with self.lock:
            if now < self._silent_until_ns:
                return
            self.bytes_in += len(data)
            due = max(now, self._rx_free_ns) + len(data) * self.byte_ns
            self._rx_free_ns = due
            self._rx.append((due, data))

    def reset_line(self) -> None:
        """Forget bytes in flight (the port was closed)."""
        with self.lock:
            self._rx.clear()
            self._override.clear()
            self._tx_start_ns = None
            self.instrument.read()

    def service(self, now: int) -> bytes:
        """Deliver due input, follow the meter clock, return the output bytes due on the wire by now."""
        with self.lock:
            while self._rx and self._rx[0][0] <= now:
                self.instrument.write(self._rx.popleft()[1])
            self.instrument.tick()
            if now < self._silent_until_ns:
                self.instrument.read()
                return b""
            return self._transmit(now)

    def _pending(self) -> int:
        return len(self._override) or self.instrument.pending_output()

    def _transmit(self, now: int) -> bytes:
        if not self._pending():
            self._tx_start_ns = None
            return b""
        if self._tx_start_ns is None:
            self._tx_start_ns, self._tx_sent = now, 0
            if self._faults:
                self._start_fault(*self._faults.popleft())
        if now < self._tx_start_ns:
            return b""
        if self.byte_ns:
            n = min(self._pending(), (now - self._tx_start_ns) // self.byte_ns - self._tx_sent)
        else:
            n = self._pending()
        if n <= 0:
            return b""
        if self._override:
            data = bytes(self._override[:n])
            del self._override[:n]
        else:
            data = self.instrument.read(n)
        self._tx_sent += n
        self.bytes_out += len(data)
        if not self._pending():
            self._tx_start_ns = None
        return data

    def _start_fault(self, kind: str, value: float) -> None:
        reply = bytearray(self.instrument.read())
        log.info("simulator fault %s on a %d-byte reply", kind, len(reply))
        if kind == "garbage":
            reply[0:0] = bytes(self._rng.randrange(128, 256) for _ in range(5)) + b"#?"
        elif kind == "stray_cr":
            reply[min(3, len(reply)):min(3, len(reply))] = b"\r"
        elif kind == "drop":
            del reply[len(reply) // 2]
        elif kind == "truncate":
            del reply[max(1, len(reply) // 2):]
        elif kind == "late":
            self._tx_start_ns = (self._tx_start_ns or self.now_ns()) + round(value * 1e9)
        self._override = reply

    def next_deadline_ns(self, now: int) -> int:
        """When service() next has something to do."""
        with self.lock:
            deadline = self.instrument.next_event_ns()
            if self._rx:
                deadline = min(deadline, self._rx[0][0])
            if self._pending():
                if self._tx_start_ns is None or not self.byte_ns:
                    return now
                first = self._tx_start_ns + (self._tx_sent + 1) * self.byte_ns
                deadline = min(deadline, first if self._tx_sent == 0 else max(first, now + _CHUNK_NS))
            return deadline
