"""PTDaemon client against the PTDaemon simulator (real TCP on 127.0.0.1, simulated WT310E meter).

The Watts and Uncertainty reply shapes asserted here are the simulator's own (unverified against a
real PTDaemon 1.11.1, analyzers.md §11); the RR shape is verified on PTDaemon 1.10.0 (real
server.json); the other strings are the ones real PTD logs and power-dev show.
"""

from __future__ import annotations

import io
import json
import math
import re
import socket
import threading
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from power import spl
from power.analyzer import AUTO, AnalyzerConfig, open_analyzer
from power.analyzers.ptd_protocol import label_channels, parse_identify, parse_ranges, parse_summary
from power.analyzers.ptdaemon import PtdAnalyzer
from power.errors import AnalyzerIOError, AnalyzerProtocolError, CommandRejected, PowerError
from power.monitor import PowerMonitor
from power.ranging import choose_ranges
from power.sample import Status
from power.simulators.meter import ManualClock, Meter
from power.simulators.ptdaemon import PtdSimulator
from power.simulators.truth import Constant
from power.uncertainty import accuracy_for

S = 1_000_000_000
SESSION = "2026-01-01_00-00-00"
GO_REPLY = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
IDENTIFY = ("YokogawaWT310E,1000,1,0,0,0,0,0,1,version=1.11.1-5c1f0a3e-20240910,OS=Linux,"
            "mode=power,1,1,1,0,0,no_cal_date,YOKOGAWA;WT310E;C2PH13047V;F1.03")
ORIN = "mlperf-v3.0-orin-maxq/results/Orin_TRT_MaxQ/resnet50"


@pytest.fixture
def ptd_sim() -> Iterator[Tuple[PtdSimulator, ManualClock, io.StringIO, io.StringIO]]:
    """A PTDaemon simulator over a 10 W WT310E on a manual clock: (sim, clock, console, -l log)."""
    clock = ManualClock()
    meter = Meter("WT310E", Constant(power_w=10.0), clock, update_s=1.0, seed=7)
    console, measurements = io.StringIO(), io.StringIO()
    sim = PtdSimulator(meter, console=console, measurement_log=measurements).start()
    yield sim, clock, console, measurements
    sim.close()


def test_full_mlperf_ranging_then_testing_sequence(ptd_sim) -> None:
    sim, clock, console, measurements = ptd_sim
    ptd = PtdAnalyzer(sim.host, sim.port, stream="at_stop", read_back=False,
                      mark=f"{SESSION}_ranging")
    assert ptd.identify().model == "WT310E" and ptd.ptd_identity.version_number == "1.11.1"
    ranging = []
    ptd.set_ranges(AUTO, AUTO)
    ptd.start(ranging.append)
    clock.advance(20 * S)
    ptd.stop()
    assert len(ranging) == 20 and all(s.interval_ns == S for s in ranging)
    assert all(s.voltage_auto and s.current_auto for s in ranging)
    assert any(s.status is Status.NO_DATA for s in ranging)  # auto-range holes read -1
    choice = choose_ranges(ranging, ptd.model)
    assert (choice.voltage_range_v, choice.current_range_a) == (300.0, 0.1)
    in_force = ptd.set_ranges(choice.requested_voltage_v, choice.requested_current_a)
    assert (in_force.voltage_v, in_force.current_a, in_force.current_auto) == (300.0, 0.1, False)
    ptd.mark = f"{SESSION}_testing"
    testing = []
    ptd.start(testing.append)
    clock.advance(10 * S)
    watts_during = ptd.read_watts()
    uncertainty_during = ptd.read_uncertainty()
    ptd.stop()
    assert ptd.read_uncertainty() == uncertainty_during
    assert ptd.read_watts() == watts_during
    ptd.close()

    v_text, a_text = "%f" % choice.requested_voltage_v, "%f" % choice.requested_current_a
    assert ptd.messages == [
        ("Hello", "Hello, PTDaemon here!"),
        ("Identify", IDENTIFY),
        ("RR", "Ranges,0,20.000000,0,600.000000"),
        ("SR,V,Auto", "Range V changed"),
        ("SR,A,Auto", "Range A changed"),
        (f"Go,1000,0,{SESSION}_ranging", GO_REPLY),
        ("Stop", "Stopping untimed measurement"),
        ("RL,*,*", "Invalid number of parameters"),
        ("RL", "Last 20 samples"),
        (f"SR,V,{v_text}", "Range V changed"),
        (f"SR,A,{a_text}", "Range A changed"),
        (f"Go,1000,0,{SESSION}_testing", GO_REPLY),
        ("Watts", watts_during.raw),
        ("Uncertainty", uncertainty_during),
        ("Stop", "Stopping untimed measurement"),
        ("RL", "Last 10 samples"),
        ("Uncertainty", uncertainty_during),
        ("Watts", watts_during.raw),
        ("SR,V,600.000000", "Range V changed"),  # the initial ranges, restored
        ("SR,A,20.000000", "Range A changed"),
    ]
    assert re.fullmatch(r"Watts,\d+\.\d{6},\d+\.\d{6},\d+\.\d{6},10,\d+,\d+", watts_during.raw)
    assert abs(watts_during.average - 10.0) < 0.05 and watts_during.samples == 10
    assert re.fullmatch(r"Uncertainty,0\.2\d{5},0\.2\d{5},\d+,\d+", uncertainty_during)

    good = [s for s in testing if s.ok]
    assert len(testing) == 10 and good
    assert all((s.voltage_range_v, s.current_range_a) == (300.0, 0.1) for s in good)
    wt = accuracy_for("WT310E")
    assert good[0].uncertainty_w == wt.uncertainty_w(good[0].power_w, 300.0, 0.1)

    # spl.txt written from the client's samples equals PTDaemon's own -l rows for that mark.
    rows = [spl.format_record(spl.record_from_sample(s, f"{SESSION}_testing")) for s in testing]
    logged = [line for line in measurements.getvalue().splitlines() if line.endswith("_testing")]
    assert rows == logged

    log = console.getvalue().splitlines()
    assert all(re.match(r"\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d{3}: ", line) for line in log)
    text = [line[25:] for line in log]
    assert text[0] == "Uncertainty checking for YokogawaWT310E is activated"
    assert text.index(f"Go with mark '{SESSION}_ranging'") < text.index(
        f"Go with mark '{SESSION}_testing'")
    assert text.count("Completed test") == 2
    assert "Volt range set to 300.000000V" in text and "Amp range set to 0.100000A" in text
    assert "Ampere range set to Auto" in text
    assert "WARNING: Uncertainty unknown for the last measurement sample!" in text
    assert sim.console_lines == log


def test_uncertainty_above_one_percent_is_logged_per_sample(ptd_sim) -> None:
    sim, clock, console, _ = ptd_sim
    with PtdAnalyzer(sim.host, sim.port, stream="at_stop") as ptd:
        assert ptd.set_ranges(300.0, 1.0) == ptd.get_ranges()  # read back with RR
        ptd.start(lambda s: None)
        clock.advance(3 * S)
        ptd.stop()
    warnings = [l for l in console.getvalue().splitlines() if "WARNING: Uncertainty 1." in l]
    assert len(warnings) >= 2  # the first sample after the range change has no data
    assert all(re.search(r"WARNING: Uncertainty 1\.[56]\d%, which is above 1\.00% limit for the "
                         r"last sample!$", w) for w in warnings)


def test_error_replies_raise_and_unknowns_are_reported(ptd_sim) -> None:
    sim, clock, _, _ = ptd_sim
    with PtdAnalyzer(sim.host, sim.port, stream="at_stop") as ptd:
        with pytest.raises(CommandRejected, match=r"PTDaemon refused 'SR,A,25.000000': Error"):
            ptd.set_ranges(300.0, 25.0)
        with pytest.raises(PowerError, match="positive number"):
            ptd.set_ranges(-1.0, 1.0)
        assert ptd.command("SR,V,abc").startswith("Error")
        assert ptd.command("Stop") == "Error: no measurement to stop"
        assert ptd.command("Bogus") == "Unknown command"
        assert ptd.command("DC-RL") == "Unknown command"
        ptd.set_interval(0.3)
        with pytest.raises(CommandRejected, match="refused Go"):
            ptd.start(lambda s: None)
        ptd.set_interval(1.0)
        ptd.start(lambda s: None)
        with pytest.raises(PowerError, match="already started"):
            ptd.start(lambda s: None)
        assert ptd.command("Go,1000,0,x").startswith("Error")
        ptd.stop()
        ptd.stop()  # a second stop is harmless


def test_disconnect_and_silence_are_clear_errors(ptd_sim) -> None:
    sim, clock, _, _ = ptd_sim
    ptd = PtdAnalyzer(sim.host, sim.port, stream="at_stop", timeout_s=5.0)
    sim.drop_client()
    lost = r"closed the connection during 'RR'|connection lost|cannot send 'RR'"
    with pytest.raises(AnalyzerIOError, match=lost):
        ptd.get_ranges()
    with pytest.raises(AnalyzerIOError, match="connection is"):
        ptd.command("Hello")
    ptd.close()  # nothing to restore over a dead link; no exception
    sim.mute = True
    with pytest.raises(AnalyzerIOError, match=r"did not answer 'Hello' within 0.3 s"):
        PtdAnalyzer(sim.host, sim.port, timeout_s=0.3)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(AnalyzerIOError, match=f"cannot connect to PTDaemon at 127.0.0.1:{port}"):
        PtdAnalyzer("127.0.0.1", port, timeout_s=1.0)


def test_losing_ptdaemon_while_streaming_surfaces_at_stop(ptd_sim) -> None:
    sim, clock, _, _ = ptd_sim
    ptd = PtdAnalyzer(sim.host, sim.port, poll_s=0.05, timeout_s=5.0)
    got = []
    ptd.start(got.append)
    clock.advance(2 * S)
    sim.drop_client()
    with pytest.raises(AnalyzerIOError):
        ptd.stop()
    ptd.close()


def test_one_client_at_a_time_and_go_interval_in_the_reply(ptd_sim) -> None:
    sim, clock, _, _ = ptd_sim
    first = PtdAnalyzer(sim.host, sim.port, stream="at_stop", timeout_s=5.0)
    with socket.create_connection((sim.host, sim.port), timeout=0.3) as second:
        second.sendall(b"Hello\r\n")
        with pytest.raises(socket.timeout):
            second.recv(100)  # queued behind the first client
        first.set_interval(0.5)
        first.start(lambda s: None)
        assert first.messages[-1][1] == ("Starting untimed measurement, maximum 500000 samples "
                                         "at 500ms with 0 rampup samples")
        first.stop()
        first.close()
        second.settimeout(5.0)
        assert second.recv(100) == b"Hello, PTDaemon here!\r\n"


def test_something_else_on_the_port_is_not_ptdaemon() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(100)
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            conn.recv(100)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with pytest.raises(AnalyzerProtocolError, match=r"is not PTDaemon \(Hello -> 'SSH-2.0"):
        PtdAnalyzer("127.0.0.1", server.getsockname()[1], timeout_s=5.0)
    thread.join(5)
    server.close()


def test_streaming_into_a_power_monitor(ptd_sim, tmp_path: Path) -> None:
    sim, clock, _, _ = ptd_sim
    config = AnalyzerConfig("ptdaemon", sim.url, {"poll_s": 0.05, "mark": "stream",
                                                  "timeout_s": 5.0})
    ptd = open_analyzer(config)
    ptd.set_ranges(300.0, 0.1)
    go_ns = clock.now_ns()
    monitor = PowerMonitor(ptd, samples_csv=tmp_path / "samples.csv",
                           accuracy=accuracy_for("WT310E"), clock_ns=clock.now_ns)
    monitor.start()
    for k in range(1, 13):
        clock.advance(S)
        assert monitor.wait_for(go_ns + k * S, 10.0), f"sample {k} never arrived"
    monitor.begin_window("steady", go_ns + 2 * S + S // 2)
    m = monitor.end_window("steady", go_ns + 10 * S + S // 4, query_count=100)
    monitor.stop()
    ptd.close()
    truth = sim.meter.truth.energy_j(m.t0_ns, m.t1_ns)
    assert m.ok and m.covered_s == m.duration_s == 7.75
    assert abs(m.energy_j - truth) / truth < 0.002  # meter noise within 0.1 % rdg + 0.05 % rng
    assert m.uncertainty_relative == pytest.approx(0.0025, rel=0.01)
    polled = [cmd for cmd, reply in ptd.messages if cmd == "RL" and reply != "Last 0 samples"]
    assert len(polled) >= 2  # samples arrived by polling, not only at the end
    assert len(monitor.samples()) == 12
    assert [cmd for cmd, _ in ptd.messages[-3:]] == ["RL", "SR,V,600.000000", "SR,A,20.000000"]


def test_protocol_parsers_on_real_and_edge_replies(shared_fixtures: Path) -> None:
    server = json.loads((shared_fixtures / ORIN / "SingleStream/performance/power/server.json")
                        .read_text())
    replies = {m["cmd"]: m["reply"] for m in server["ptd_messages"]}
    ident = parse_identify(replies["Identify"])
    assert (ident.device, ident.version_number, ident.spec_compliant) == (
        "YokogawaWT330E", "1.10.0", True)
    assert ident.idn == "YOKOGAWA;WT333E;C2VL22012V;F1.04" and ident.mode == "power"
    ranges, restore_v, restore_a = parse_ranges(replies["RR"])  # 'Ranges,1,0.500000,1,300.000000'
    assert (ranges.voltage_v, ranges.current_a, ranges.voltage_auto) == (300.0, 0.5, True)
    assert (restore_v, restore_a) == ("Auto", "Auto")  # as the real session restored them
    fixed = parse_ranges("Ranges,0,1.000000,-1,-1.000000")
    assert math.isnan(fixed[0].voltage_v) and fixed[1:] == ("Auto", "1.000000")
    for bad in ("Ranges,0,1.0", "Error", "Ranges,a,b,c,d"):
        with pytest.raises(AnalyzerProtocolError, match="RR reply not understood"):
            parse_ranges(bad)
    with pytest.raises(AnalyzerProtocolError, match="Identify reply"):
        parse_identify("Hello")
    summary = parse_summary("Watts,583.590709,172.960000,713.140000,790,0,790")
    assert (summary.average, summary.samples, summary.errors) == (583.590709, 790, 0)
    with pytest.raises(AnalyzerProtocolError, match="Watts reply"):
        parse_summary("Watts,1,2")


def test_multichannel_rl_rows_get_channel_labels() -> None:
    raw = ("Time,11-13-2020 22:38:59.240,Watts,272.930000,Volts,-1.000000,Amps,-1.000000,"
           "PF,-1.000000,Watts,91.060000,Volts,120.950000,Amps,0.832100,PF,0.938900,"
           "Watts,181.870000,Volts,121.010000,Amps,1.540000,PF,0.976000")
    record = spl.parse_line(label_channels(raw))
    assert record.watts == 272.93 and [c.label for c in record.channels] == ["Ch1", "Ch2"]
    assert record.channels[1].amps == 1.54
    single = "Time,11-13-2020 22:38:59.240,Watts,1.0,Volts,2.0,Amps,3.0,PF,0.5"
    assert label_channels(single) == single


def test_bad_urls_are_refused() -> None:
    for url in ("serial:///dev/ttyUSB0", "tcp://", "/dev/ttyUSB0"):
        with pytest.raises(PowerError, match="tcp://host:port"):
            open_analyzer(AnalyzerConfig("ptdaemon", url))
