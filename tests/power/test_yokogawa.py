"""The real Yokogawa driver against the simulator over a pty, TCP, RFC 2217, sim:// and a USB-TMC fake.

Relies on unverified facts modelled by the simulator (analyzers.md §7, §10, §16): INF / NAN as the WT310E's
ASCII overrange / no-data texts, the WT210 answering :CONF:LFILT? when its *IDN? does not name it.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from typing import Any, Callable, Iterator, List, Tuple

import pytest

from power.analyzer import AUTO, AnalyzerConfig, Ranges, open_analyzer
from power.analyzers.transport import UsbTmcTransport
from power.analyzers.yokogawa import YokogawaWT, parse_value
from power.errors import AnalyzerIOError, AnalyzerNotFound, AnalyzerProtocolError, PowerError
from power.sample import Sample, Status

MS = 1_000_000
STAMP_TOLERANCE_NS = 20 * MS  # loose: a shared 2-core machine; test_timestamps_* and the bench measure precision


def open_wt(url: str, model: str = "WT310E", **options: Any) -> YokogawaWT:
    options.setdefault("baudrate", 57600)
    options.setdefault("timeout_s", 0.5)
    return open_analyzer(AnalyzerConfig(model, url, options))  # type: ignore[return-value]


def stream(analyzer: YokogawaWT, seconds: float, during: Callable[[], None] = lambda: None) -> List[Sample]:
    samples: List[Sample] = []
    lock = threading.Lock()

    def sink(sample: Sample) -> None:
        with lock:
            samples.append(sample)

    analyzer.start(sink)
    during()
    time.sleep(seconds)
    analyzer.stop()
    return samples


def match_updates(samples: List[Sample], meter: Any) -> List[Tuple[Sample, Any]]:
    """Pair every non-gap sample with the meter's own update; assert none was skipped in between."""
    readings = [s for s in samples if s.status is not Status.GAP]
    assert readings, "no readings at all"
    first, last = readings[0].t_end_ns, readings[-1].t_end_ns
    updates = [u for u in meter.history if first - STAMP_TOLERANCE_NS <= u.t_end_ns <= last + STAMP_TOLERANCE_NS]
    assert len(readings) == len(updates), "one sample per update, none lost"
    for sample, update in zip(readings, updates):
        assert abs(sample.t_end_ns - update.t_end_ns) <= STAMP_TOLERANCE_NS
        assert sample.interval_ns == update.interval_ns
    return list(zip(readings, updates))


def assert_contiguous(samples: List[Sample]) -> None:
    """Samples (gaps included) tile time: each starts where the previous ended."""
    for a, b in zip(samples, samples[1:]):
        assert abs(b.t_start_ns - a.t_end_ns) <= STAMP_TOLERANCE_NS, (a, b)


def check_values(pairs: List[Tuple[Sample, Any]], ranges: Tuple[float, float]) -> None:
    for sample, update in pairs:
        if update.no_data:
            assert sample.status is Status.NO_DATA and math.isnan(sample.power_w)
            continue
        assert sample.status is Status.OK
        assert sample.power_w == pytest.approx(update.power_w, rel=1e-4)
        assert sample.voltage_v == pytest.approx(update.voltage_v, rel=1e-4)
        assert (sample.voltage_range_v, sample.current_range_a) == ranges
        assert sample.uncertainty_w == pytest.approx(0.001 * abs(sample.power_w) + 0.0005 * ranges[0] * ranges[1])


@pytest.fixture(params=["pty", "tcp", "rfc2217", "ser2net", "sim"])
def wt310e_url(request, sim_wt310e_pty, sim_wt310e_tcp, rfc2217_wt310e) -> Iterator[Tuple[str, Callable]]:
    """(url, meter getter) of a WT310E simulator reached five ways."""
    if request.param == "pty":
        yield sim_wt310e_pty.path, lambda a: sim_wt310e_pty.link.meter
    elif request.param == "tcp":
        yield sim_wt310e_tcp.url, lambda a: sim_wt310e_tcp.link.meter
    elif request.param == "rfc2217":
        yield rfc2217_wt310e.url, lambda a: rfc2217_wt310e.pty.link.meter
    elif request.param == "ser2net":
        served = request.getfixturevalue("ser2net_wt310e")
        yield served.url, lambda a: served.pty.link.meter
    else:
        yield "sim://wt310e?seed=1&rate=0.1&load=60", lambda a: a._transport._port.simulator.link.meter


def test_identify_ranges_interval_and_stream_every_update(wt310e_url):
    url, meter_of = wt310e_url
    with open_wt(url) as a:
        assert a.identity.raw == "YOKOGAWA,WT310E,C2PH13047V,F1.03"
        assert (a.identity.vendor, a.identity.model, a.identity.serial) == ("YOKOGAWA", "WT310E", "C2PH13047V")
        assert a.set_ranges(250, 0.3) == Ranges(300.0, 0.5, False, False)  # rounded up to the table
        assert a.set_interval(0.1) == 0.1
        samples = stream(a, 1.5)
        pairs = match_updates(samples, meter_of(a))
        assert len(pairs) >= 10 and not [s for s in samples if s.status is Status.GAP]
        check_values(pairs, (300.0, 0.5))
        assert a.stats["resyncs"] == 0 and a.stats["reconnects"] == 0


def test_timestamps_are_the_update_ends(sim_wt310e_pty):
    with open_wt(sim_wt310e_pty.path) as a:
        pairs = match_updates(stream(a, 2.0), sim_wt310e_pty.link.meter)
    errors_ms = [(s.t_end_ns - u.t_end_ns) / MS for s, u in pairs]
    assert statistics.median(errors_ms) <= 2.0  # the driver corrects the reply's transfer time


def test_slow_line_reads_every_update_at_9600_baud(sim_pty):
    server = sim_pty("WT310E", baud=9600, rate=0.25)
    with open_wt(server.path, baudrate=9600) as a:
        ranges = a.set_ranges(AUTO, AUTO)  # auto ranging may already have moved down from 600 V / 20 A
        assert ranges.voltage_auto and ranges.current_auto and ranges.voltage_v in (300.0, 600.0)
        samples = stream(a, 2.0)
    match_updates(samples, server.link.meter)


def test_too_fast_for_the_line_records_skipped_updates_as_gaps(sim_pty):
    server = sim_pty("WT310E", baud=9600, rate=0.1)  # ~120 ms per exchange, 100 ms per update
    with open_wt(server.path, baudrate=9600) as a:
        samples = stream(a, 2.0)
    gaps = [s for s in samples if s.status is Status.GAP]
    assert gaps and all(math.isnan(g.power_w) for g in gaps)
    assert_contiguous(samples)
    span = [u for u in server.link.meter.history if samples[0].t_start_ns < u.t_end_ns <= samples[-1].t_end_ns + MS]
    assert len(samples) == len(span)  # readings plus gaps account for every update


def test_wt210_in_4882_mode(sim_wt210_pty):
    with open_wt(sim_wt210_pty.path, "WT210", baudrate=9600) as a:
        assert a.identity.model == "WT210"
        assert a.set_ranges(250, 2) == Ranges(300.0, 2.0, False, False)
        assert a.interval_s == 0.25
        pairs = match_updates(stream(a, 1.6), sim_wt210_pty.link.meter)
    for sample, update in pairs:
        if not update.no_data:
            assert sample.power_w == pytest.approx(update.power_w, rel=1e-3)  # 4 digits on a WT210
            assert (sample.voltage_range_v, sample.current_range_a) == (300.0, 2.0)


def test_wt210_whose_idn_does_not_say_so_is_probed(sim_pty):
    server = sim_pty("WT210", baud=0, idn="YOKOGAWA,WT200,91K000002,F1.00")
    with open_wt(server.path, "WT210") as a:
        assert a.identity.model == "WT200" and a.get_ranges().voltage_v == 600.0


def test_wt210_not_in_4882_mode_is_a_clear_error(sim_pty):
    server = sim_pty("WT210", baud=9600, mode_4882=False)
    with pytest.raises(AnalyzerIOError, match=r"did not answer \*IDN\?.*488\.2 mode"):
        open_wt(server.path, "WT210", baudrate=9600)


def test_silent_instrument_is_a_clear_error(silent_pty):
    start = time.monotonic()
    with pytest.raises(AnalyzerIOError, match=r"WT310E at .* did not answer \*IDN\? within 0.5 s"):
        open_wt(silent_pty)
    assert time.monotonic() - start < 5


def test_unexpected_identity_is_refused(sim_wt310e_pty, sim_pty):
    with pytest.raises(AnalyzerProtocolError, match="not a WT210"):
        open_wt(sim_wt310e_pty.path, "WT210")
    other = sim_pty("WT310E", baud=0, idn="ACME,PSU9000,1,1.0")
    with pytest.raises(AnalyzerProtocolError, match=r"unexpected \*IDN\? reply .*'ACME,PSU9000,1,1.0'"):
        open_wt(other.path)
    with open_wt(sim_wt310e_pty.path, "WT310") as a:  # same family: accepted, the meter's own model is used
        assert a.model == "WT310E"


def test_bad_input_is_one_clear_error(sim_wt310e_pty, tmp_path):
    with open_wt(sim_wt310e_pty.path) as a:
        with pytest.raises(PowerError, match="range must be a number of V or 'auto', not 'abc'"):
            a.set_ranges("abc", 1)
        with pytest.raises(PowerError, match="positive number of A"):
            a.set_ranges(300, -1)
        with pytest.raises(PowerError, match="update interval must be positive"):
            a.set_interval(0)
        assert a.set_interval(0.3) == 0.5
    with pytest.raises(AnalyzerNotFound):
        open_analyzer(AnalyzerConfig("WT9999", sim_wt310e_pty.path))
    with pytest.raises(PowerError, match="no element 2"):
        open_wt(sim_wt310e_pty.path, element=2)
    with pytest.raises(AnalyzerIOError, match="cannot open analyzer port"):
        open_wt(str(tmp_path / "no-such-tty"))


def test_transport_timeout_is_at_least_twice_the_interval(sim_pty):
    server = sim_pty("WT310E", baud=0, rate=1.0)
    with open_wt(server.path) as a:
        for interval_s in (0.1, 0.25, 0.5, 2.0, 5.0, 1.0):
            assert a.set_interval(interval_s) == interval_s
            assert a._stream_timeout_s() >= 2 * interval_s
        samples = stream(a, 2.3)
    match_updates(samples, server.link.meter)
    assert len(samples) >= 2 and a.stats["resyncs"] == 0 and a.last_error is None


def test_overrange_and_milliamp_protection_are_flagged_never_numbers(sim_wt310e_pty):
    with open_wt(sim_wt310e_pty.path) as a:
        a.set_ranges(300, 0.005)
        samples = stream(a, 1.5)
        assert a.get_ranges().current_auto
    over = [s for s in samples if s.status is Status.OVERRANGE]
    assert over and all(math.isnan(s.power_w) and math.isnan(s.uncertainty_w) for s in over)
    assert over[0].current_range_a == 0.005
    later = [s for s in samples if s.t_end_ns > over[-1].t_end_ns and s.ok]
    assert later and later[-1].current_range_a in (0.5, 1.0) and later[-1].current_auto


def test_usbtmc_device_one_read_per_reply(sim_pty):
    server = sim_pty("WT310E", baud=0, symlink="usbtmc0", terminator=b"\n")
    with open_wt(server.path) as a:
        assert isinstance(a._transport, UsbTmcTransport)
        assert a.identity.model == "WT310E"
        match_updates(stream(a, 1.0), server.link.meter)


def test_stop_means_no_more_samples_and_streaming_restarts(sim_wt310e_pty):
    with open_wt(sim_wt310e_pty.path) as a:
        samples = stream(a, 0.5)
        count = len(samples)
        time.sleep(0.3)
        assert len(samples) == count
        again = stream(a, 0.6)
        assert len(again) >= 4 and all(s.status is not Status.GAP for s in again)


@pytest.mark.parametrize("fault", ["garbage", "truncate", "drop", "late"])
def test_corrupted_reply_costs_a_gap_then_resync(sim_wt310e_pty, fault):
    with open_wt(sim_wt310e_pty.path) as a:
        a.set_ranges(300, 0.5)
        samples = stream(a, 2.0, lambda: (time.sleep(0.5), sim_wt310e_pty.link.inject(fault, 0.6)))
        assert a.stats["resyncs"] >= 1
    gaps = [s for s in samples if s.status is Status.GAP]
    assert gaps, "the lost update is recorded as a gap"
    assert_contiguous(samples)
    assert all(abs(s.power_w - 60.0) < 0.5 for s in samples if s.ok)  # nothing corrupted got through
    assert samples[-1].ok and samples[-1].t_end_ns > gaps[-1].t_end_ns


def test_stray_cr_is_harmless(sim_wt310e_pty):
    with open_wt(sim_wt310e_pty.path) as a:
        samples = stream(a, 1.2, lambda: (time.sleep(0.4), sim_wt310e_pty.link.inject("stray_cr")))
        assert a.stats["resyncs"] == 0
    match_updates(samples, sim_wt310e_pty.link.meter)


@pytest.mark.parametrize("outage", ["vanish", "silent"])
def test_outage_gives_gaps_then_recovery(sim_wt310e_pty, outage):
    server = sim_wt310e_pty

    def fault() -> None:
        time.sleep(0.5)
        server.vanish(1.0) if outage == "vanish" else server.link.inject("silent", 1.0)

    with open_wt(server.path, backoff_max_s=0.4) as a:
        samples = stream(a, 3.5, fault)
        assert a.stats["reconnects"] == 1
    gaps = [s for s in samples if s.status is Status.GAP]
    assert len(gaps) >= 8 and all(math.isnan(g.power_w) for g in gaps)
    assert_contiguous(samples)
    after = [s for s in samples if s.t_end_ns > gaps[-1].t_end_ns]
    assert len(after) >= 5 and all(s.status is not Status.GAP for s in after)
    # Every meter update of the span is either a reading or inside a gap: nothing invented.
    readings = {s.t_end_ns for s in samples if s.status is not Status.GAP}
    assert len(readings) == len(samples) - len(gaps)


def test_parse_value_maps_every_special_to_nan_with_its_flag():
    assert parse_value(" 230.06E+00") == (230.06, None)
    for text, status in (("NAN", Status.NO_DATA), ("+NAN", Status.NO_DATA), ("INF", Status.OVERRANGE),
                         ("-INF", Status.OVERRANGE), ("9.9E+37", Status.OVERRANGE), ("9.91E+37", Status.NO_DATA),
                         ("-9.9E+37", Status.OVERRANGE)):
        value, flag = parse_value(text)
        assert math.isnan(value) and flag is status, text
    with pytest.raises(AnalyzerProtocolError, match="not a number"):
        parse_value("23O.0")


def test_ranges_can_change_while_streaming(sim_wt310e_pty):
    with open_wt(sim_wt310e_pty.path) as a:
        a.set_ranges(300, 1.0)
        changed: List[float] = []

        def change() -> None:
            time.sleep(0.5)
            start = time.monotonic()
            assert a.set_ranges(300, 0.5) == Ranges(300.0, 0.5, False, False)
            changed.append(time.monotonic() - start)

        samples = stream(a, 1.2, lambda: threading.Thread(target=change).start())
    assert changed and changed[0] < 0.5  # the stream loop steps aside for the caller
    ranges = [s.current_range_a for s in samples if s.ok]
    assert ranges[0] == 1.0 and ranges[-1] == 0.5
    match_updates(samples, sim_wt310e_pty.link.meter)
