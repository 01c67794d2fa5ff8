"""Clock offset between host and device over the agent channel: many pings, the shortest round trips kept.

For each ping the host reads its UTC clock before sending (t_send) and after the reply (t_recv); the
device's reading t_dev lies somewhere in between, so offset_i = t_dev - (t_send + t_recv) / 2 is off by
at most half that round trip. The pings with the smallest round trips (least queueing) are kept and
their median taken; the error bound is half the smallest round trip plus the spread of the kept
offsets. device_time - offset = host_time.

The official MLPerf power flow only requires the two clocks to agree within 400 ms (CRITICAL_DIFFERENCE_TIME_MS
in power-dev's time_sync.py, round trip included); our default thresholds are far tighter.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from typing import List, Optional, Protocol, Tuple

from power.checks import Check, CheckStatus

log = logging.getLogger(__name__)

DEFAULT_PINGS = 60
KEEP_FRACTION = 0.2
WARN_BOUND_NS = 5_000_000
FAIL_BOUND_NS = 50_000_000
OFFICIAL_LIMIT_NS = 400_000_000  # power-dev's CRITICAL_DIFFERENCE_TIME_MS


class TimeSource(Protocol):
    """Anything answering `time()` with the device's (UTC ns, monotonic ns): the AgentClient."""

    def time(self, timeout_s: float = 5.0) -> Tuple[int, int]:
        ...


@dataclass(frozen=True)
class ClockSync:
    """One offset measurement. offset_ns = device UTC - host UTC; bound_ns: |error| at most this.

    rtt_min_ns / rtt_median_ns: round trips seen (monotonic); pings: how many; t_ns: host UTC at
    the middle of the measurement; kept: pings used for the median; spread_ns: their max-min offset.
    """

    offset_ns: int
    bound_ns: int
    rtt_min_ns: int
    rtt_median_ns: int
    pings: int
    t_ns: int
    kept: int = 0
    spread_ns: int = 0

    def to_host_ns(self, device_t_ns: int) -> int:
        """A device UTC instant on the host's clock."""
        return device_t_ns - self.offset_ns

    def to_json(self) -> dict:
        """The fields as run.json records them."""
        return {
            "offset_ns": self.offset_ns, "bound_ns": self.bound_ns, "rtt_min_ns": self.rtt_min_ns,
            "rtt_median_ns": self.rtt_median_ns, "pings": self.pings, "kept": self.kept,
            "spread_ns": self.spread_ns, "t_ns": self.t_ns,
        }


@dataclass(frozen=True)
class Ping:
    """One exchange: host UTC at send and receive, the device's UTC reading, the round trip (monotonic)."""

    t_send_ns: int
    t_recv_ns: int
    t_device_ns: int
    rtt_ns: int

    @property
    def offset_ns(self) -> float:
        """Device minus the host's midpoint (in differences: epoch ns do not fit a float exactly)."""
        return (self.t_device_ns - self.t_send_ns) - (self.t_recv_ns - self.t_send_ns) / 2


def ping(source: TimeSource, timeout_s: float = 5.0) -> Ping:
    """One time request, timed on both the host's UTC and monotonic clocks."""
    mono0 = time.monotonic_ns()
    t0 = time.time_ns()
    t_device, _mono_device = source.time(timeout_s=timeout_s)
    t1 = time.time_ns()
    mono1 = time.monotonic_ns()
    return Ping(t0, t1, t_device, mono1 - mono0)


def estimate(pings: List[Ping], keep_fraction: float = KEEP_FRACTION) -> ClockSync:
    """The offset from a set of pings: median over the shortest round trips, bound from the shortest."""
    if not pings:
        raise ValueError("no pings to estimate a clock offset from")
    by_rtt = sorted(pings, key=lambda p: p.rtt_ns)
    kept = by_rtt[: max(1, int(round(len(by_rtt) * keep_fraction)))]
    offsets = [p.offset_ns for p in kept]
    offset = statistics.median(offsets)
    spread = max(offsets) - min(offsets)
    # Half the shortest round trip bounds each kept ping; the median of several can sit anywhere in their spread.
    # UTC and monotonic round trips differ only if the host clock was stepped; take the larger.
    rtt_min = max(by_rtt[0].rtt_ns, by_rtt[0].t_recv_ns - by_rtt[0].t_send_ns)
    bound = rtt_min / 2 + spread
    middle = pings[len(pings) // 2]
    return ClockSync(
        offset_ns=int(round(offset)),
        bound_ns=int(round(bound)),
        rtt_min_ns=int(by_rtt[0].rtt_ns),
        rtt_median_ns=int(statistics.median(p.rtt_ns for p in pings)),
        pings=len(pings),
        t_ns=(middle.t_send_ns + middle.t_recv_ns) // 2,
        kept=len(kept),
        spread_ns=int(round(spread)),
    )


def measure(source: TimeSource, pings: int = DEFAULT_PINGS, keep_fraction: float = KEEP_FRACTION, warmup: int = 3) -> ClockSync:
    """Ping the device `pings` times over the agent channel (after a few warm-up pings) and estimate."""
    if pings < 1:
        raise ValueError("pings must be at least 1")
    for _ in range(warmup):  # first requests pay for page faults and lazy set-up on both ends
        ping(source)
    result = estimate([ping(source) for _ in range(pings)], keep_fraction)
    log.info(
        "clock offset %+.3f ms ± %.3f ms (rtt min %.3f ms, median %.3f ms, %d pings)",
        result.offset_ns / 1e6, result.bound_ns / 1e6, result.rtt_min_ns / 1e6, result.rtt_median_ns / 1e6, pings,
    )
    return result


def drift(before: ClockSync, after: ClockSync) -> float:
    """How fast the offset moved between two measurements, in ns per second (= ppb)."""
    elapsed_s = (after.t_ns - before.t_ns) / 1e9
    if elapsed_s <= 0:
        raise ValueError("the second clock measurement must come after the first")
    return (after.offset_ns - before.offset_ns) / elapsed_s


def offset_at(before: ClockSync, after: Optional[ClockSync], host_t_ns: int) -> int:
    """The offset at a host instant, interpolated linearly between two measurements (or the one there is)."""
    if after is None or after.t_ns == before.t_ns:
        return before.offset_ns
    fraction = (host_t_ns - before.t_ns) / (after.t_ns - before.t_ns)
    return int(round(before.offset_ns + fraction * (after.offset_ns - before.offset_ns)))


def check(
    before: ClockSync,
    after: Optional[ClockSync] = None,
    warn_ns: int = WARN_BOUND_NS,
    fail_ns: int = FAIL_BOUND_NS,
    name: str = "clock_sync",
) -> Check:
    """pass/warn/fail on the worst error bound (and, with two measurements, the change in offset).

    Defaults: warn above 5 ms, fail above 50 ms. The official flow tolerates 400 ms.
    """
    worst = before.bound_ns
    parts = [f"offset {before.offset_ns / 1e6:+.3f} ms ± {before.bound_ns / 1e6:.3f} ms"]
    if after is not None:
        moved = abs(after.offset_ns - before.offset_ns)
        worst = max(worst, after.bound_ns, moved)
        parts.append(f"after {after.offset_ns / 1e6:+.3f} ms ± {after.bound_ns / 1e6:.3f} ms (moved {moved / 1e6:.3f} ms)")
    official = "within" if worst <= OFFICIAL_LIMIT_NS else "beyond"
    text = "; ".join(parts) + f"; {official} the official 400 ms"
    if worst > fail_ns:
        return Check(name, CheckStatus.FAIL, f"clock uncertainty {worst / 1e6:.3f} ms > {fail_ns / 1e6:g} ms: {text}")
    if worst > warn_ns:
        return Check(name, CheckStatus.WARN, f"clock uncertainty {worst / 1e6:.3f} ms > {warn_ns / 1e6:g} ms: {text}")
    return Check(name, CheckStatus.PASS, text)
