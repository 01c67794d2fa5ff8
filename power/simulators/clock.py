"""Clocks for the simulators: UTC nanoseconds, real or moved by hand."""

from __future__ import annotations

import threading
import time

try:  # Python >= 3.8
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore

NS_PER_S = 1_000_000_000


class Clock(Protocol):
    """A source of UTC instants in ns."""

    def now_ns(self) -> int:
        """The current UTC instant (ns)."""


class SystemClock:
    """The host's wall clock (time.time_ns)."""

    def now_ns(self) -> int:
        """The current UTC instant (ns)."""
        return time.time_ns()


class ManualClock:
    """A clock that moves only when told: for exact tests."""

    def __init__(self, start_ns: int = 1_700_000_000 * NS_PER_S) -> None:
        self._now_ns = int(start_ns)
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        """The current simulated instant (ns)."""
        with self._lock:
            return self._now_ns

    def advance(self, ns: int) -> int:
        """Move forward by ns; return the new instant."""
        with self._lock:
            self._now_ns += int(ns)
            return self._now_ns

    def set(self, ns: int) -> None:
        """Jump to instant ns (not backwards)."""
        with self._lock:
            if ns < self._now_ns:
                raise ValueError("ManualClock cannot go backwards")
            self._now_ns = int(ns)
