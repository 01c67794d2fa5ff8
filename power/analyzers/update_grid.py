"""Place readings on a free-running instrument's update grid to stamp each with the end of its update.

Why a grid: a reply to `:COMM:WAIT 1;:NUM:NORM:VAL?` starts as soon as the update completes when the wait
really waited; its first byte then marks the end of the update (plus host scheduling jitter, always >= 0).
When the command reached the meter only after the update had completed (the previous exchange ran long,
e.g. a nine-item reply at 9600 baud takes ~100 ms), the reply comes at once and its arrival says nothing
about the update's end. Updates are evenly spaced, so the grid phase is the minimum over recent waited
replies of (arrival - k x interval), which removes the jitter; a waited reply is stamped on its grid point,
any other reply on the last grid point before its arrival (the update the meter had last completed).
Stamps are computed when a reading is delivered, a few updates after it arrived, so that later replies
have already sharpened the phase.

Three kinds of reply: "sync" (the event register was cleared in the same message, so the wait certainly
waited), "waited" (it came later than an immediate answer would have: probably waited) and "immediate".
Only sync replies may move the grid; a probably-waited reply that does not sit just after a grid point is
treated as immediate, and a few of those in a row ask for a sync exchange (`wants_sync`).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Deque, Optional

SYNC, WAITED, IMMEDIATE = "sync", "waited", "immediate"
_MISFITS_BEFORE_SYNC = 3


class UpdateGrid:
    """Tracks the update grid from reply arrivals and stamps readings with grid instants (UTC ns)."""

    def __init__(self, interval_ns: int, window: int = 32, fit_ns: int = 3_000_000, early_ns: int = 1_000_000) -> None:
        self.window = window
        self.fit_ns = fit_ns  # a waited reply arrives at most this long after its grid point...
        self.early_ns = early_ns  # ...and at most this long before it (the phase is a running minimum)
        self.reset(interval_ns)

    def reset(self, interval_ns: Optional[int] = None) -> None:
        """Forget the phase (after a reconnect or a change of update interval)."""
        if interval_ns is not None:
            self.interval_ns = int(interval_ns)
        self._anchor: Optional[int] = None
        self._offsets: Deque[int] = collections.deque(maxlen=self.window)
        self._late_syncs = 0
        self._misfits = 0
        self._version = getattr(self, "_version", 0) + 1

    @property
    def phase_known(self) -> bool:
        """True once a sync reply has fixed the grid."""
        return self._anchor is not None

    @property
    def wants_sync(self) -> bool:
        """True when the caller should make its next exchange a sync one."""
        return self._anchor is None or self._misfits >= _MISFITS_BEFORE_SYNC

    def _phase(self) -> int:
        assert self._anchor is not None
        return self._anchor + min(self._offsets)

    def _anchor_at(self, raw_ns: int) -> None:
        self._anchor, self._late_syncs, self._misfits = raw_ns, 0, 0
        self._version += 1
        self._offsets.clear()
        self._offsets.append(0)

    def point_before(self, raw_ns: int) -> int:
        """The last grid instant at or before raw_ns; needs phase_known."""
        phase = self._phase()
        return phase + (raw_ns - phase) // self.interval_ns * self.interval_ns

    def observe(self, raw_ns: int, kind: str) -> Placement:
        """Record a reply's arrival (its first byte, corrected) and what kind it was; may move the grid."""
        interval = self.interval_ns
        if self._anchor is None:
            if kind == SYNC:
                self._anchor_at(raw_ns)
                return Placement(raw_ns, 0, self._version)
            return Placement(raw_ns, None, self._version)
        if kind == IMMEDIATE:
            return Placement(raw_ns, None, self._version)
        phase = self._phase()
        k = round((raw_ns - phase) / interval)
        off = raw_ns - (phase + k * interval)
        if off <= self.fit_ns and (kind == SYNC or off >= -self.early_ns):
            self._offsets.append(raw_ns - k * interval - self._anchor)
            self._late_syncs = self._misfits = 0
            return Placement(raw_ns, round((raw_ns - self._anchor) / interval), self._version)
        if kind == SYNC:
            # Certainly waited yet late: scheduling, or the meter restarted its clock. Three in a row: start
            # over from this reply.
            self._late_syncs += 1
            if self._late_syncs >= 3:
                self._anchor_at(raw_ns)
                return Placement(raw_ns, 0, self._version)
        else:
            self._misfits += 1
        return Placement(raw_ns, None, self._version)

    def stamp(self, placement: Placement) -> int:
        """The end of the placed reading's update, with the phase as now known (later is better)."""
        if placement.version != self._version or self._anchor is None:
            return placement.raw_ns  # the grid was reset since: the arrival is all we have
        if placement.k is not None:
            return self._phase() + placement.k * self.interval_ns
        return self.point_before(placement.raw_ns)

    def ask_sync(self) -> None:
        """Make the next exchange a sync one (the caller found the grid inconsistent)."""
        self._misfits = _MISFITS_BEFORE_SYNC


@dataclass(frozen=True)
class Placement:
    """A reading's arrival raw_ns, its grid index k from the anchor (None unless it fits the grid as a waited
    reply), and the grid version it was placed in."""

    raw_ns: int
    k: Optional[int]
    version: int
