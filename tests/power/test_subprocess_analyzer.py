"""ProcessAnalyzer: the real Yokogawa driver in a power.sampler child, against the simulator on a pty."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, List

import psutil
import pytest

from power.analyzer import AUTO, AnalyzerConfig, Ranges, open_analyzer
from power.analyzers.subprocess_analyzer import ProcessAnalyzer
from power.errors import AnalyzerIOError, AnalyzerNotFound, InstrumentError, PowerError
from power.sample import Sample, Status

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MS = 1_000_000


def config(url: str, model: str = "WT310E", **options: Any) -> AnalyzerConfig:
    options.setdefault("baudrate", 57600)
    options.setdefault("timeout_s", 0.5)
    return AnalyzerConfig(model, url, options)


def stream(analyzer: Any, seconds: float, sink: Callable[[Sample], None] = lambda s: None) -> List[Sample]:
    samples: List[Sample] = []
    lock = threading.Lock()

    def collect(sample: Sample) -> None:
        sink(sample)
        with lock:
            samples.append(sample)

    analyzer.start(collect)
    time.sleep(seconds)
    analyzer.stop()
    return samples


def assert_whole(samples: List[Sample], interval_ns: int = 100 * MS) -> None:
    """No gap sample, no hole: every update between the first and the last is there, once, in order."""
    assert samples and not [s for s in samples if s.status is Status.GAP]
    span = samples[-1].t_end_ns - samples[0].t_end_ns
    assert len(samples) == round(span / interval_ns) + 1
    steps = [b.t_end_ns - a.t_end_ns for a, b in zip(samples, samples[1:])]
    assert all(abs(step - interval_ns) <= 20 * MS for step in steps), steps


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_identify_ranges_and_a_stream_like_the_in_process_driver(sim_pty):
    child_pty, local_pty = sim_pty("WT310E"), sim_pty("WT310E")
    with ProcessAnalyzer(config(child_pty.path)) as a, open_analyzer(config(local_pty.path)) as local:
        assert a.pid != os.getpid() and a.running
        assert a.identity == local.identity and a.identify().raw == "YOKOGAWA,WT310E,C2PH13047V,F1.03"
        assert a.set_ranges(250, 0.3) == Ranges(300.0, 0.5, False, False)
        assert a.get_ranges() == local.set_ranges(250, 0.3)
        assert a.set_ranges(AUTO, AUTO).voltage_auto
        assert a.set_interval(0.1) == local.set_interval(0.1) == a.interval_s == 0.1
        ours, theirs = [], []
        threads = [threading.Thread(target=lambda: ours.extend(stream(a, 2.0))),
                   threading.Thread(target=lambda: theirs.extend(stream(local, 2.0)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert_whole(ours)
        assert_whole(theirs)
        assert abs(len(ours) - len(theirs)) <= 1 and len(ours) >= 15
        spacing = [b.t_end_ns - x.t_end_ns for x, b in zip(ours, ours[1:])]
        theirs_spacing = [b.t_end_ns - x.t_end_ns for x, b in zip(theirs, theirs[1:])]
        assert statistics.median(spacing) == pytest.approx(statistics.median(theirs_spacing), abs=2 * MS)
        assert all(s.interval_ns == 100 * MS and s.power_w == pytest.approx(60, rel=0.05) for s in ours if s.ok)
        assert a.stats["samples"] == len(ours) and a.stats["gaps"] == 0 and a.last_error is None
    assert not a.running


def test_errors_arrive_as_the_same_one_line_power_errors(tmp_path, sim_wt310e_pty):
    missing = config(str(tmp_path / "no-such-tty"))
    with pytest.raises(AnalyzerIOError) as local:
        open_analyzer(missing)
    with pytest.raises(AnalyzerIOError) as remote:
        ProcessAnalyzer(missing)
    assert str(remote.value) == str(local.value) and "\n" not in str(remote.value)
    with pytest.raises(AnalyzerNotFound, match="unknown analyzer model 'WT9999'"):
        ProcessAnalyzer(config(sim_wt310e_pty.path, model="WT9999"))
    with ProcessAnalyzer(config(sim_wt310e_pty.path)) as a:
        with pytest.raises(PowerError, match="update interval must be positive") as e:
            a.set_interval(0)
        assert type(e.value) is PowerError
        with pytest.raises(PowerError, match="range must be a number"):
            a.set_ranges("lots", AUTO)
        assert a.identify().model == "WT310E"  # still usable after errors


def test_an_instrument_error_keeps_its_code():
    from power.analyzers.subprocess_analyzer import error_from_json
    from power.sampler import error_json

    error = error_from_json(error_json(InstrumentError(113, "Undefined header")))
    assert isinstance(error, InstrumentError) and error.code == 113 and str(error) == "instrument error 113: Undefined header"


def test_sim_urls_run_the_simulator_in_the_child():
    with ProcessAnalyzer(AnalyzerConfig("WT310E", "sim:constant", {"idle_w": 7.5, "seed": 2})) as a:
        assert a.url.startswith("/dev/pts/") and a.opened_config.options["baudrate"] == 57600
        a.set_ranges(300, 0.5)
        samples = stream(a, 1.2)
    assert len(samples) >= 8 and all(s.power_w == pytest.approx(7.5, rel=0.05) for s in samples if s.ok)


def test_the_child_exits_when_closed_and_when_the_parent_is_killed(sim_wt310e_pty):
    a = ProcessAnalyzer(config(sim_wt310e_pty.path))
    pid = a.pid
    a.close()
    assert gone(pid)
    a.close()  # twice is fine
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from power.analyzer import AnalyzerConfig
        from power.analyzers.subprocess_analyzer import ProcessAnalyzer
        a = ProcessAnalyzer(AnalyzerConfig("WT310E", "sim:constant", {}))
        a.start(lambda s: None)
        print(a.pid, flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))
    try:
        child = int(parent.stdout.readline())
        assert not gone(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        deadline = time.monotonic() + 5
        while not gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(child), "the sampler outlived its parent"
    finally:
        parent.kill()
        parent.wait(5)


def _hog_gil(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


@pytest.mark.parametrize("hold", ["reader", "gil"])
def test_a_blocked_parent_loses_nothing(hold):
    """The parent reads nothing for 3 s (its reader held, or its GIL hogged): the child keeps sampling.

    The simulator runs in the child too (sim:), as a real meter is its own hardware: a simulator thread
    in this process would be starved by the same hogs."""
    blocked = threading.Event()

    def sink(sample: Sample) -> None:
        if hold == "reader" and not blocked.is_set():
            blocked.set()
            time.sleep(3.0)  # the reader thread delivers samples: nothing is read from the pipe meanwhile

    with ProcessAnalyzer(AnalyzerConfig("WT310E", "sim:constant", {"idle_w": 60.0})) as a:
        def during() -> None:
            if hold == "gil":
                time.sleep(0.5)
                hogs = [threading.Thread(target=_hog_gil, args=(3.0,)) for _ in range(8)]
                for t in hogs:
                    t.start()
                for t in hogs:
                    t.join()
        runner = threading.Thread(target=during)
        runner.start()
        samples = stream(a, 5.0, sink)
        runner.join()
        stats = a.stats
    assert_whole(samples)
    assert len(samples) >= 40
    assert stats["gaps"] == 0 and stats["resyncs"] == 0
