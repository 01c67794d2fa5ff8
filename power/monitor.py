"""PowerMonitor: stream an Analyzer's Samples to memory and samples.csv, and measure named windows.

Zeus-style: ``begin_window(key)`` / ``end_window(key) -> EnergyMeasurement``, plus
``window(t0_ns, t1_ns)`` for windows known only after the fact (e.g. LoadGen's power_begin/end).
Samples are appended and flushed as they arrive from the driver's thread.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
from typing import Callable, Dict, List, Optional, Union

from power.analyzer import Analyzer, Identity, RangeSetting, Ranges, SampleSink
from power.checks import Check, CheckStatus
from power.energy import EnergyMeasurement, TimeLike, measure_window, to_ns
from power.errors import AnalyzerNotFound, PowerError
from power.sample import Sample
from power.samples_csv import SamplesCsvWriter
from power.uncertainty import PowerAccuracy

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


class MissingAnalyzer(Analyzer):
    """Stands in for an analyzer that is not there: every read raises, so no zero is ever invented."""

    def __init__(self, reason: str = "no power analyzer is configured") -> None:
        self.reason = reason

    def _fail(self) -> PowerError:
        return AnalyzerNotFound(self.reason)

    def identify(self) -> Identity:
        """Raise: there is no instrument to ask."""
        raise self._fail()

    def get_ranges(self) -> Ranges:
        """Raise: there is no instrument to ask."""
        raise self._fail()

    def set_ranges(self, voltage_v: RangeSetting, current_a: RangeSetting) -> Ranges:
        """Raise: there is no instrument to set."""
        raise self._fail()

    def set_interval(self, interval_s: float) -> float:
        """Raise: there is no instrument to set."""
        raise self._fail()

    def start(self, sink: SampleSink) -> None:
        """Raise: there is nothing to stream from."""
        raise self._fail()

    def stop(self) -> None:
        """Nothing to stop."""

    def close(self) -> None:
        """Nothing to release."""


class PowerMonitor:
    """Collects an analyzer's Samples (thread-safe) and measures energy over windows.

    samples_csv is a path (opened at start, appended to) or an open SamplesCsvWriter; the
    monitor closes it at stop.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        samples_csv: Union[PathLike, SamplesCsvWriter, None] = None,
        accuracy: Optional[PowerAccuracy] = None,
        clock_ns: Callable[[], int] = time.time_ns,
        uncertainty_limit: float = 0.01,
    ) -> None:
        self.analyzer = analyzer
        self.accuracy = accuracy
        self.uncertainty_limit = uncertainty_limit
        self._clock_ns = clock_ns
        self._csv: Optional[SamplesCsvWriter] = None
        self._csv_path: Optional[PathLike] = None
        if isinstance(samples_csv, SamplesCsvWriter):
            self._csv = samples_csv
        else:
            self._csv_path = samples_csv
        self._samples: List[Sample] = []
        self._cond = threading.Condition()
        self._windows: Dict[str, int] = {}
        self._errors: List[str] = []
        self._running = False

    # ----- streaming -----

    def start(self) -> None:
        """Open samples.csv (if any) and start the analyzer streaming into this monitor."""
        if self._running:
            raise PowerError("power monitor already started")
        if self._csv_path is not None and self._csv is None:
            self._csv = SamplesCsvWriter(self._csv_path)
        self.analyzer.start(self._on_sample)
        self._running = True

    def stop(self) -> None:
        """Stop the analyzer (delivering its last samples) and close samples.csv."""
        try:
            if self._running:
                self.analyzer.stop()
        finally:
            self._running = False
            if self._csv is not None:
                self._csv.close()
                self._csv = None
            with self._cond:
                self._cond.notify_all()

    def __enter__(self) -> "PowerMonitor":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_sample(self, sample: Sample) -> None:
        with self._cond:
            self._samples.append(sample)
            if self._csv is not None:
                try:
                    self._csv.write(sample)
                except PowerError as e:
                    # Keep measuring in memory; the failure is reported with every window.
                    self._errors.append(str(e))
                    log.error("samples.csv: %s; samples are kept in memory only", e)
                    self._csv = None
            self._cond.notify_all()

    def add(self, sample: Sample) -> None:
        """Feed one sample by hand (same path as the analyzer's)."""
        self._on_sample(sample)

    # ----- reading -----

    def samples(self) -> List[Sample]:
        """A snapshot of every sample received so far, in arrival order."""
        with self._cond:
            return list(self._samples)

    def latest(self) -> Optional[Sample]:
        """The most recent sample, or None before the first one."""
        with self._cond:
            return self._samples[-1] if self._samples else None

    @property
    def latest_w(self) -> float:
        """Power (W) of the most recent sample (NaN if it was flagged); raises before any sample."""
        sample = self.latest()
        if sample is None:
            raise PowerError("no power sample received yet")
        return sample.power_w if sample.ok else math.nan

    @property
    def errors(self) -> List[str]:
        """Problems met while recording (e.g. samples.csv write failures)."""
        with self._cond:
            return list(self._errors)

    def wait_for(self, t_ns: int, timeout_s: float) -> bool:
        """Wait until a sample ending at or after t_ns has arrived; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not (self._samples and self._samples[-1].t_end_ns >= t_ns):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._running:
                    return bool(self._samples) and self._samples[-1].t_end_ns >= t_ns
                self._cond.wait(min(remaining, 0.5))
            return True

    # ----- windows -----

    def begin_window(self, key: str, t_ns: Optional[int] = None) -> int:
        """Open a named window at t_ns (default now, UTC ns); return its start."""
        with self._cond:
            if key in self._windows:
                raise PowerError(f"window {key!r} is already open")
            start = self._clock_ns() if t_ns is None else int(t_ns)
            self._windows[key] = start
            return start

    def end_window(
        self,
        key: str,
        t_ns: Optional[int] = None,
        query_count: Optional[int] = None,
        wait_s: Optional[float] = None,
    ) -> EnergyMeasurement:
        """Close a named window at t_ns (default now) and measure it.

        Waits up to wait_s (default: two sample intervals + 1 s) for the sample covering the end.
        """
        with self._cond:
            if key not in self._windows:
                raise PowerError(f"window {key!r} was never begun")
            start = self._windows.pop(key)
        end = self._clock_ns() if t_ns is None else int(t_ns)
        return self.window(start, end, query_count=query_count, key=key, wait_s=wait_s)

    def window(
        self,
        t0: TimeLike,
        t1: TimeLike,
        query_count: Optional[int] = None,
        key: str = "",
        wait_s: Optional[float] = None,
    ) -> EnergyMeasurement:
        """Measure any window [t0, t1] (UTC ns or LoadGen time strings) over the samples so far."""
        t1_ns = to_ns(t1)
        if self._running:
            if wait_s is None:
                last = self.latest()
                interval_s = last.interval_ns / 1e9 if last is not None else 1.0
                wait_s = 2 * interval_s + 1.0
            if wait_s > 0:
                self.wait_for(t1_ns, wait_s)
        result = measure_window(self.samples(), t0, t1_ns, query_count=query_count, key=key,
                                accuracy=self.accuracy, uncertainty_limit=self.uncertainty_limit)
        errors = self.errors
        if errors:
            extra = Check("recording", CheckStatus.FAIL, "; ".join(errors))
            result = dataclasses.replace(result, checks=result.checks + (extra,))
        return result
