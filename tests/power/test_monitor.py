"""PowerMonitor over a scripted Analyzer (the real interface, its own thread): streams, files, windows."""

from __future__ import annotations

import errno
import math
import threading
from pathlib import Path
from typing import List, Optional

import pytest

from power.analyzer import Analyzer, Identity, RangeSetting, Ranges, SampleSink
from power.checks import CheckStatus
from power.errors import AnalyzerNotFound, FileFormatError, PowerError
from power.monitor import MissingAnalyzer, PowerMonitor
from power.sample import Sample, Status
from power.samples_csv import SamplesCsvWriter, read_samples_csv
from power.spl import format_mlperf_time

S = 1_000_000_000
T = 1_700_000_000 * S


def sample(k: int, power_w: float) -> Sample:
    return Sample(T + k * S, S, power_w, 230.0, power_w / 230.0, 1.0, 300.0, 0.5, Status.OK,
                  0.001 * power_w + 0.075)


class ScriptedAnalyzer(Analyzer):
    """Delivers a list of Samples from its own thread; each waits for its gate if one is given."""

    def __init__(self, samples: List[Sample], gates: Optional[List[threading.Event]] = None) -> None:
        self.script = samples
        self.gates = gates
        self.thread: Optional[threading.Thread] = None
        self.stopped = threading.Event()

    def identify(self) -> Identity:
        return Identity("test", "scripted", "0", "1")

    def get_ranges(self) -> Ranges:
        return Ranges(300.0, 0.5, False, False)

    def set_ranges(self, voltage_v: RangeSetting, current_a: RangeSetting) -> Ranges:
        return self.get_ranges()

    def set_interval(self, interval_s: float) -> float:
        return 1.0

    def start(self, sink: SampleSink) -> None:
        def run() -> None:
            for k, s in enumerate(self.script):
                if self.gates is not None:
                    while not self.gates[k].wait(0.05):
                        if self.stopped.is_set():
                            return
                sink(s)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()

    def close(self) -> None:
        self.stop()


def test_streams_to_memory_and_samples_csv_flushed_per_sample(tmp_path: Path) -> None:
    script = [sample(k, 10.0 * k) for k in range(1, 6)]
    gates = [threading.Event() for _ in script]
    path = tmp_path / "samples.csv"
    monitor = PowerMonitor(ScriptedAnalyzer(script, gates), samples_csv=path)
    with pytest.raises(PowerError, match="no power sample received yet"):
        monitor.latest_w
    monitor.start()
    gates[0].set()
    assert monitor.wait_for(script[0].t_end_ns, 10.0)
    assert read_samples_csv(path) == [script[0]]  # on disk before the next one arrives
    assert monitor.latest_w == 10.0
    for gate in gates[1:]:
        gate.set()
    assert monitor.wait_for(script[-1].t_end_ns, 10.0)
    monitor.stop()
    assert monitor.samples() == script
    assert read_samples_csv(path) == script
    with pytest.raises(PowerError, match="already started"):
        monitor.start()
        monitor.start()


def test_named_windows_and_after_the_fact_windows() -> None:
    script = [sample(k, 10.0 * k) for k in range(1, 11)]
    monitor = PowerMonitor(ScriptedAnalyzer(script))
    monitor.start()
    assert monitor.wait_for(script[-1].t_end_ns, 10.0)
    monitor.begin_window("inference", T + 2 * S + S // 2)
    with pytest.raises(PowerError, match="already open"):
        monitor.begin_window("inference")
    m = monitor.end_window("inference", T + 4 * S + S // 2, query_count=10)
    # 30 W x 0.5 s + 40 W x 1 s + 50 W x 0.5 s
    assert (m.key, m.energy_j, m.average_w, m.duration_s) == ("inference", 80.0, 40.0, 2.0)
    assert m.energy_per_query_mj == 8000.0
    assert m.ok and all(c.status is CheckStatus.PASS for c in m.checks)
    with pytest.raises(PowerError, match="never begun"):
        monitor.end_window("inference")
    w = monitor.window(format_mlperf_time(T + 2 * S), format_mlperf_time(T + 4 * S))
    assert w.energy_j == 70.0
    monitor.stop()


def test_end_window_waits_for_the_sample_covering_its_end() -> None:
    script = [sample(k, 20.0) for k in range(1, 5)]
    gates = [threading.Event() for _ in script]
    monitor = PowerMonitor(ScriptedAnalyzer(script, gates))
    monitor.start()
    for gate in gates[:3]:
        gate.set()
    assert monitor.wait_for(script[2].t_end_ns, 10.0)
    monitor.begin_window("w", T)
    release = threading.Timer(0.3, gates[3].set)
    release.start()
    m = monitor.end_window("w", T + 4 * S, wait_s=10.0)  # the 4th sample is not there yet
    release.join()
    assert m.covered_s == 4.0 and m.energy_j == 80.0 and m.ok
    monitor.stop()
    late = monitor.window(T, T + 5 * S)  # stopped: no waiting, the uncovered end is marked
    assert late.outside_s == 1.0 and not late.ok


def test_missing_analyzer_raises_when_read_never_zero() -> None:
    missing = MissingAnalyzer("jetson01 has no analyzer bound")
    with pytest.raises(AnalyzerNotFound, match="jetson01 has no analyzer bound"):
        missing.identify()
    with pytest.raises(AnalyzerNotFound):
        missing.get_ranges()
    monitor = PowerMonitor(missing)
    with pytest.raises(AnalyzerNotFound, match="jetson01"):
        monitor.start()
    with pytest.raises(PowerError, match="no power sample"):
        monitor.latest_w
    assert not monitor.window(T, T + S).ok
    missing.close()  # closing nothing is fine


def test_flagged_latest_sample_reads_nan() -> None:
    monitor = PowerMonitor(MissingAnalyzer())
    nan = math.nan
    monitor.add(Sample(T, S, nan, nan, nan, nan, 300.0, 0.5, Status.OVERRANGE))
    assert math.isnan(monitor.latest_w)


def test_samples_csv_failure_keeps_memory_and_fails_the_window(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="no/such/dir"):
        PowerMonitor(ScriptedAnalyzer([]), samples_csv=tmp_path / "no/such/dir/s.csv").start()
    with pytest.raises(FileFormatError, match="/dev/full: cannot write"):
        SamplesCsvWriter("/dev/full")  # a full disk at the first row

    class DiskFillsUp(SamplesCsvWriter):
        """Our writer on a disk that fills up after the header and one row."""

        rows = 0

        def _flush(self) -> None:
            super()._flush()
            if self.rows > 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.rows += 1

    writer = DiskFillsUp(tmp_path / "samples.csv")
    script = [sample(k, 10.0) for k in range(1, 4)]
    monitor = PowerMonitor(ScriptedAnalyzer(script), samples_csv=writer)
    monitor.start()
    assert monitor.wait_for(script[-1].t_end_ns, 10.0)
    monitor.stop()
    assert len(monitor.samples()) == 3
    assert monitor.errors == [f"{writer.path}: write failed (No space left on device)"]
    assert len(read_samples_csv(writer.path)) == 1  # what reached the disk stays readable
    m = monitor.window(T, T + 3 * S)
    assert m.energy_j == 30.0
    assert m.checks[-1].name == "recording" and m.checks[-1].status is CheckStatus.FAIL


def test_concurrent_delivery_and_reading() -> None:
    script = [sample(k, 1.0) for k in range(1, 3001)]
    monitor = PowerMonitor(ScriptedAnalyzer(script))
    monitor.start()
    seen = 0
    while seen < len(script):
        snapshot = monitor.samples()
        assert snapshot == script[:len(snapshot)]
        seen = len(snapshot)
    monitor.stop()
    assert monitor.window(T, T + 3000 * S).energy_j == 3000.0
