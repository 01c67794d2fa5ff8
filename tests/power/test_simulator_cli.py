"""`python -m power.simulators` standalone, and the sim:// pyserial URL scheme."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from typing import Iterator, List, Tuple

import pytest
import serial

from power.simulators import register_url_scheme


def launch(*args: str) -> Tuple[subprocess.Popen, List[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "power.simulators", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip()]
    if "--rfc2217" in args:
        lines.append(proc.stdout.readline().strip())
    return proc, lines


def finish(proc: subprocess.Popen, sig: int = signal.SIGINT) -> Tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    return proc.returncode, err


@pytest.fixture
def procs() -> Iterator[List[subprocess.Popen]]:
    started: List[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def ask(port: serial.SerialBase, text: str) -> bytes:
    port.write(text.encode() + b"\n")
    return port.readline()


def test_pty_banner_answers_and_ctrl_c_exits_cleanly(procs):
    proc, (banner,) = launch("wt310e", "--pty", "--load", "60W")
    procs.append(proc)
    match = re.fullmatch(r"WT310E simulator on (/dev/pts/\d+) \(9600 baud 8N1, update 0.1 s, load 60W\); "
                         r"Ctrl-C to stop", banner)
    assert match, banner
    with serial.Serial(match.group(1), 9600, timeout=2) as port:
        start = time.monotonic()
        assert ask(port, "*IDN?") == b"YOKOGAWA,WT310E,C2PH13047V,F1.03\r\n"
        assert time.monotonic() - start >= 0.035  # 6 + 34 bytes at 9600 baud take ~42 ms
    code, err = finish(proc)
    assert code == 0 and "Traceback" not in err


def test_tcp_and_sigterm(procs):
    proc, (banner,) = launch("wt333e", "--tcp", "0", "--no-noise", "--load", "100")
    procs.append(proc)
    url = re.search(r"(socket://127\.0\.0\.1:\d+)", banner).group(1)
    port = serial.serial_for_url(url, timeout=2)
    try:
        assert ask(port, "*IDN?") == b"YOKOGAWA,WT333E,C2SF14011V,F1.01EM\r\n"
        time.sleep(0.25)
        values = ask(port, ":NUM:NORM:ITEM1 P,3;:NUM:NORM:VAL? 1").decode()
        assert values == "100.00E+00\r\n"
    finally:
        port.close()
    code, err = finish(proc, signal.SIGTERM)
    assert code == 0 and err == ""


def test_rfc2217_server_over_the_pty(procs):
    proc, (banner, rfc_line) = launch("wt310e", "--pty", "--baud", "0", "--rfc2217", "0")
    procs.append(proc)
    url = re.fullmatch(r"RFC 2217 on (rfc2217://127\.0\.0\.1:\d+\?ign_set_control)", rfc_line).group(1)
    port = serial.serial_for_url(url, baudrate=9600, timeout=2)
    try:
        assert ask(port, "*IDN?") == b"YOKOGAWA,WT310E,C2PH13047V,F1.03\r\n"
    finally:
        port.close()
    assert finish(proc)[0] == 0


def test_wt210_legacy_mode_is_silent(procs):
    proc, (banner,) = launch("wt210", "--pty", "--baud", "0", "--legacy")
    procs.append(proc)
    path = re.search(r"on (/dev/pts/\d+)", banner).group(1)
    with serial.Serial(path, 9600, timeout=0.5) as port:
        assert ask(port, "*IDN?") == b""
    assert finish(proc)[0] == 0


def test_bad_arguments_give_one_line_and_exit_2():
    done = subprocess.run([sys.executable, "-m", "power.simulators", "wt310e", "--load", "lots"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr == "error: load must be watts like 60W, not 'lots'\n"
    done = subprocess.run([sys.executable, "-m", "power.simulators", "wt9"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and "invalid choice: 'wt9'" in done.stderr and "Traceback" not in done.stderr


def test_sim_url_scheme_opens_with_serial_for_url():
    register_url_scheme()
    port = serial.serial_for_url("sim://wt310e?seed=1&rate=0.1&load=60&noise=0", timeout=2)
    try:
        assert ask(port, "*IDN?") == b"YOKOGAWA,WT310E,C2PH13047V,F1.03\r\n"
        time.sleep(0.15)
        assert ask(port, ":NUM:NORM:VAL? 3") == b"60.000E+00\r\n"
        assert port.simulator.link.meter.interval_ns == 100_000_000
    finally:
        port.close()
    with pytest.raises(serial.SerialException, match="unknown option"):
        serial.serial_for_url("sim://wt310e?colour=red")


def test_cpu_coupled_load_reads_at_least_idle(procs):
    proc, (banner,) = launch("wt310e", "--tcp", "0", "--cpu-coupled", "--load", "5W", "--no-noise")
    procs.append(proc)
    assert "load CPU-coupled" in banner
    port = serial.serial_for_url(re.search(r"(socket://\S+)", banner).group(1), timeout=2)
    try:
        time.sleep(0.3)
        power_w = float(ask(port, ":NUM:NORM:VAL? 3"))
        assert 5.0 <= power_w <= 15.0
    finally:
        port.close()
    assert finish(proc)[0] == 0
