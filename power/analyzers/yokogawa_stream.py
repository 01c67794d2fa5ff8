"""The Yokogawa driver's streaming loop: one Sample per update, gaps for what was missed, recovery.

Timestamp choice: each reply's first byte is stamped on arrival (the transport records it), minus one byte
time (that byte's own flight) and the configured instrument latency. For a wait that really waited this is
the end of the update, independent of how long the rest of the reply takes on the wire (a nine-item reply
needs ~100 ms at 9600 baud). UpdateGrid then removes host jitter and handles replies that came at once
because the update had already completed (see update_grid.py).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Deque, Optional, Tuple

from power.analyzers.transport import TransportTimeout
from power.errors import AnalyzerIOError, AnalyzerProtocolError, PowerError
from power.analyzer import SampleSink
from power.analyzers.update_grid import IMMEDIATE, SYNC, WAITED, Placement, UpdateGrid
from power.sample import Sample, gap

if TYPE_CHECKING:  # pragma: no cover
    from power.analyzers.yokogawa import YokogawaWT

log = logging.getLogger(__name__)

_WAITED_MARGIN_NS = 2_000_000
_MAX_SOFT_FAILURES = 3
_PHASE_REFRESH = 100  # exchanges without a waited reply before a sync one is forced


def stream(meter: "YokogawaWT", sink: SampleSink) -> None:
    """Run until meter._stop is set."""
    loop = _Loop(meter, sink)
    try:
        loop.run()
    except Exception as e:  # noqa: BLE001 - a bug must not vanish with the thread: record it, say so
        meter.last_error = PowerError(f"{meter.model} stream stopped by an internal error: {e!r}")
        log.exception("%s stream stopped", meter.model)
    finally:
        loop.finish()


class _Loop:
    def __init__(self, meter: "YokogawaWT", sink: SampleSink) -> None:
        self.m = meter
        self.sink = sink
        self.grid = UpdateGrid(meter._interval_ns or 1_000_000_000)
        self.last_end_ns: Optional[int] = None
        self.soft_failures = 0
        self.since_waited = 0
        self.pending: Deque[Tuple[Placement, Sample]] = collections.deque()
        self.message = (meter._dialect.read + "\n").encode("ascii")
        self.sync_message = (":STAT:EESR?;" + meter._dialect.read + "\n").encode("ascii")
        meter._errors_pending = False

    def emit(self, sample: Sample) -> None:
        try:
            self.sink(sample)
        except Exception:  # noqa: BLE001 - a failing sink must not kill the stream; report it loudly
            log.exception("analyzer sample sink raised; sample at %d dropped", sample.t_end_ns)

    def emit_gaps(self, until_ns: int) -> None:
        """Gap samples tiling [last_end, until_ns) on the update interval (the last one may be shorter)."""
        if self.last_end_ns is None:
            return
        interval = self.grid.interval_ns
        hole = until_ns - self.last_end_ns
        if hole < interval // 2:
            return
        t = self.last_end_ns
        while until_ns - t > interval // 2:
            end = t + interval if until_ns - t >= interval + interval // 2 else until_ns
            self.emit(gap(end, end - t))
            self.m.stats["gaps"] += 1
            t = end
        self.last_end_ns = t

    def run(self) -> None:
        m = self.m
        while not m._stop.is_set():
            try:
                self.exchange()
                self.soft_failures = 0
            except (TransportTimeout, AnalyzerProtocolError) as e:
                if m._stop.is_set():
                    break
                self.soft_failures += 1
                m.last_error = e
                log.warning("%s stream: %s; resynchronising", m.model, e)
                if self.soft_failures >= _MAX_SOFT_FAILURES:
                    self.reconnect(e)
                else:
                    m._needs_resync = True
            except AnalyzerIOError as e:
                if m._stop.is_set():
                    break
                m.last_error = e
                self.reconnect(e)
            except PowerError as e:  # an instrument error during a recheck: report, keep streaming
                m.last_error = e
                log.warning("%s stream: %s", m.model, e)

    def exchange(self) -> None:
        m = self.m
        while m._waiting and not m._stop.is_set():
            time.sleep(0.0005)  # a caller (set_ranges, get_ranges...) goes first
        with m._lock:
            t = m._t()
            if m._needs_resync:
                m._resync()
            if m._errors_pending:
                m._errors_pending = False
                m.drain_errors()
            if m._recheck_ranges:
                m._recheck_ranges = False
                ranges = m.get_ranges()
                log.warning("%s ranges changed by the instrument: %g V (auto %s), %g A (auto %s)", m.model,
                            ranges.voltage_v, ranges.voltage_auto, ranges.current_a, ranges.current_auto)
            if self.grid.interval_ns != m._interval_ns:
                self.flush()
                self.grid.reset(m._interval_ns)
            # Clearing the event register in the same message guarantees that the wait really waits: used
            # to fix the grid (at the start, after a reconnect, and now and then when every reply came at
            # once because each exchange outlasts an update).
            sync = self.grid.wants_sync or self.since_waited >= _PHASE_REFRESH
            message = self.sync_message if sync else self.message
            t.write(message)
            written_ns = time.time_ns()
            line, first_ns = t.read_line(m._stream_timeout_s())
        if sync:
            _, separator, line = line.partition(";")
            if not separator:
                raise AnalyzerProtocolError(f"unexpected reply shape from {m.url}: {line[:80]!r}")
        raw_ns = first_ns - t.byte_ns - m._latency_ns
        # Otherwise the meter really waited if the reply came later than an immediate answer would have.
        immediate_ns = written_ns + len(message) * t.byte_ns + m.link_latency_ns + m._latency_ns
        kind = SYNC if sync else WAITED if raw_ns - immediate_ns > _WAITED_MARGIN_NS else IMMEDIATE
        self.since_waited = 0 if kind is not IMMEDIATE else self.since_waited + 1
        placement = self.grid.observe(raw_ns, kind)
        self.pending.append((placement, m._make_sample(line, placement.raw_ns)))
        # Deliver a few updates late (about half a second): the phase is sharper by then.
        lookahead = max(1, min(5, round(500_000_000 / max(self.grid.interval_ns, 1))))
        while len(self.pending) > lookahead:
            self.release()

    def release(self) -> None:
        """Stamp the oldest pending reading with the grid as now known and deliver it."""
        placement, sample = self.pending.popleft()
        stamp_ns = self.grid.stamp(placement)
        interval = self.grid.interval_ns
        if self.last_end_ns is not None and stamp_ns - self.last_end_ns < interval // 2:
            # Each reply is a fresh update, so this stamp is wrong: keep order, re-check the grid.
            stamp_ns = max(placement.raw_ns, self.last_end_ns + interval)
            self.grid.ask_sync()
        self.deliver(dataclasses.replace(sample, t_end_ns=stamp_ns))

    def flush(self) -> None:
        """Deliver every pending reading (before the grid is reset, and at the end)."""
        while self.pending:
            self.release()

    def deliver(self, sample: Sample) -> None:
        self.emit_gaps(sample.t_start_ns)
        self.emit(sample)
        self.m.stats["samples"] += 1
        self.last_end_ns = sample.t_end_ns

    def reconnect(self, error: PowerError) -> None:
        """Close, then reopen with backoff until it works or stop() is called."""
        m = self.m
        if not m._reconnect:
            log.error("%s at %s lost: %s (reconnect disabled)", m.model, m.url, error)
            m._stop.set()
            return
        log.warning("%s at %s lost (%s); reconnecting", m.model, m.url, error)
        self.flush()
        with m._lock:
            if m._transport is not None:
                m._transport.close()
                m._transport = None
        backoff_s = 0.2
        attempts = 0
        while not m._stop.wait(backoff_s):
            try:
                with m._lock:
                    m._connect()
            except PowerError as e:
                attempts += 1
                m.last_error = e
                level = logging.WARNING if attempts == 1 or attempts % 10 == 0 else logging.DEBUG
                log.log(level, "reconnect %d to %s failed: %s", attempts, m.url, e)
                backoff_s = min(backoff_s * 2, m._backoff_max_s)
                continue
            m.stats["reconnects"] += 1
            log.warning("%s at %s is back", m.model, m.url)
            self.grid.reset(m._interval_ns)
            self.soft_failures = 0
            return

    def finish(self) -> None:
        """Deliver what is pending; on stop during an outage, the hole so far is recorded as gaps."""
        m = self.m
        self.flush()
        if m._transport is None and self.last_end_ns is not None:
            self.emit_gaps(time.time_ns())
