"""A SPEC PTDaemon simulator on TCP (127.0.0.1, one client at a time) backed by the WT300E Meter model.

Replies are the strings of ../shared/reference/analyzers.md §11 (and of the real v3.0 Orin PTD logs):
``Hello, PTDaemon here!``, ``Ranges,...``, ``Range V changed``, ``Starting untimed measurement, ...``,
``Stopping untimed measurement``, ``Error: no measurement to stop``, ``Last N samples`` + rows,
``Invalid number of parameters`` (RL,*,* on a single channel), ``Unknown command``. The console log
(what becomes ptd_logs.txt) uses the ``MM-DD-YYYY HH:MM:SS.mmm: `` prefix. Time comes from the
meter's injectable clock. The Watts/Uncertainty reply shapes and the text of Error replies are
not known from real captures (unverified) and are marked where they are made.

Simulator choice: each PTD sample is one meter update, so Go sets the meter's update interval
(Go intervals other than 100, 250, 500, 1000, 2000, 5000 ms are refused with an Error reply).
"""

from __future__ import annotations

import logging
import math
import socket
import threading
from dataclasses import dataclass
from typing import IO, List, Optional, Tuple

from power.analyzer import AUTO
from power.errors import PowerError
from power.ranges import round_up
from power.simulators.meter import UPDATE_CHOICES_S, Meter, Update
from power.spl import NOT_AVAILABLE, SplRecord, format_mlperf_time, format_record
from power.uncertainty import accuracy_for

log = logging.getLogger(__name__)

_SERIALS = {"WT310E": "C2PH13047V", "WT333E": "C2VL22012V"}


def _five_digits(value: float) -> float:
    # The meter reports 5 significant digits (NR3); PTDaemon prints what it read with %f.
    return float("%.4E" % value)


@dataclass
class _Stats:
    """Running statistics of one measurement (what Watts and 'Completed test' report)."""

    watts: List[float]
    uncertainties: List[float]
    samples: int = 0
    errors: int = 0
    unknown_uncertainty: int = 0


class PtdSimulator:
    """Serve a PTDaemon on 127.0.0.1:<port> (0 = pick one) over a simulated Meter."""

    def __init__(self, meter: Meter, port: int = 0, host: str = "127.0.0.1",
                 console: Optional[IO[str]] = None, measurement_log: Optional[IO[str]] = None,
                 device: Optional[str] = None, version: str = "1.11.1-5c1f0a3e-20240910",
                 os_name: str = "Linux", tick_s: float = 0.05) -> None:
        self.meter = meter
        self.device = device or f"Yokogawa{meter.model}"
        self.version, self.os_name = version, os_name
        self.console_lines: List[str] = []
        self._console, self._measurement_log = console, measurement_log
        self._accuracy = accuracy_for(meter.model)
        self._lock = threading.RLock()
        self._measuring = False
        self._mark = "notset"
        self._unread: List[SplRecord] = []
        self._stats = _Stats([], [])
        self._go_ns = 0
        self._closing = threading.Event()
        self._client: Optional[socket.socket] = None
        self.mute = False
        """When True, commands are read but never answered (to test client timeouts)."""
        self._tick_s = tick_s
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._server.bind((host, port))
        except OSError as e:
            self._server.close()
            raise PowerError(f"PTDaemon simulator cannot listen on {host}:{port}: {e}") from e
        self._server.listen(1)
        self.host, self.port = self._server.getsockname()[:2]
        self._threads: List[threading.Thread] = []
        self._say(f"Uncertainty checking for {self.device} is activated")
        self._say(f"Connected to {self.device} successfully")
        self._say(f"Establishing the listener on port {self.port}...")

    @property
    def url(self) -> str:
        """tcp://host:port of this simulator."""
        return f"tcp://{self.host}:{self.port}"

    def start(self) -> "PtdSimulator":
        """Start accepting clients and ticking the meter in background threads."""
        for target, name in ((self._serve, "ptd-sim-accept"), (self._tick, "ptd-sim-tick")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        """Stop serving; the port is released."""
        self._closing.set()
        self.drop_client()
        self._server.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> "PtdSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drop_client(self) -> None:
        """Cut the connected client off (as a crashed PTDaemon would)."""
        client = self._client
        if client is not None:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ----- console -----

    def _say(self, message: str) -> None:
        line = f"{format_mlperf_time(self.meter.clock.now_ns())}: {message}"
        with self._lock:
            self.console_lines.append(line)
            if self._console is not None:
                self._console.write(line + "\n")
                self._console.flush()

    # ----- serving -----

    def _serve(self) -> None:
        self._server.settimeout(0.1)  # so that close() is noticed while waiting in accept()
        while not self._closing.is_set():
            self._say("Waiting for a connection...")
            while True:
                try:
                    client, address = self._server.accept()
                    break
                except socket.timeout:
                    if self._closing.is_set():
                        return
                except OSError:
                    return
            client.settimeout(None)
            self._say(f"Accepted connection from {address[0]}:{address[1]}")
            self._client = client
            try:
                self._talk(client)
            finally:
                self._client = None
                client.close()
                self._say("Shutting connection down...")
                self._say("Connection is down.")

    def _talk(self, client: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                chunk = client.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                self._say("No data returned by socket read.")
                return
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                command = raw.decode("ascii", errors="replace").strip("\r")
                lines, after = self.handle(command)
                if self.mute:
                    continue
                try:
                    client.sendall("".join(line + "\r\n" for line in lines).encode("ascii"))
                except OSError:
                    return
                self._say(f"Response to client sent: {lines[0]}")
                for message in after:
                    self._say(message)

    def _tick(self) -> None:
        while not self._closing.wait(self._tick_s):
            self.pump()

    # ----- measurement -----

    def pump(self) -> None:
        """Collect the meter's completed updates (called by the ticker and before every reply)."""
        with self._lock:
            for update in self.meter.advance():
                if self._measuring and update.t_end_ns > self._go_ns:
                    self._record(update)

    def _record(self, update: Update) -> None:
        stats = self._stats
        stats.samples += 1
        bad = update.no_data or math.isnan(update.power_w)
        if bad:
            stats.errors += 1
            if update.overrange_i or update.overrange_v:
                self._say("ERROR: Current appears to be too high for set range")  # unverified
            for name in ("watts", "amps", "pf", "volts"):
                self._say(f"ERROR: Bad {name} reading nan from WT310")
            row = SplRecord(update.t_end_ns, NOT_AVAILABLE, NOT_AVAILABLE, NOT_AVAILABLE,
                            NOT_AVAILABLE, self._mark)
        else:
            row = SplRecord(update.t_end_ns, _five_digits(update.power_w),
                            _five_digits(update.voltage_v), _five_digits(update.current_a),
                            _five_digits(update.power_factor) if not math.isnan(update.power_factor)
                            else NOT_AVAILABLE, self._mark)
            stats.watts.append(row.watts)
        self._unread.append(row)
        if self._measurement_log is not None:
            self._measurement_log.write(format_record(row) + "\n")
            self._measurement_log.flush()
        if update.voltage_auto or update.current_auto or bad or row.watts == 0:
            stats.unknown_uncertainty += 1
            self._say("ERROR: Can't evaluate uncertainty of this sample!")
            self._say("WARNING: Uncertainty unknown for the last measurement sample!")
            return
        u = self._accuracy.uncertainty_w(row.watts, update.voltage_range_v,
                                         update.current_range_a) / abs(row.watts)
        stats.uncertainties.append(u)
        if u > 0.01:
            self._say(f"WARNING: Uncertainty {100 * u:.2f}%, which is above 1.00% limit for "
                      "the last sample!")

    # ----- commands -----

    def handle(self, command: str) -> Tuple[List[str], List[str]]:
        """Reply lines to one command, and console messages to log after the reply is sent."""
        self.pump()
        with self._lock:
            parts = command.split(",")
            name = parts[0].strip().lower()
            handler = {
                "hello": self._hello, "identify": self._identify, "rr": self._rr,
                "sr": self._sr, "go": self._go, "stop": self._stop, "rl": self._rl,
                "watts": self._summary, "volts": self._summary, "amps": self._summary,
                "pf": self._summary, "uncertainty": self._uncertainty,
            }.get(name)
            if handler is None:
                return ["Unknown command"], []
            return handler(parts)

    def _hello(self, parts: List[str]) -> Tuple[List[str], List[str]]:
        return ["Hello, PTDaemon here!"], []

    def _identify(self, parts: List[str]) -> Tuple[List[str], List[str]]:
        model = self.meter.model
        idn = f"YOKOGAWA;{model};{_SERIALS.get(model, 'C2XX00000V')};F1.03"
        return [f"{self.device},1000,1,0,0,0,0,0,1,version={self.version},OS={self.os_name},"
                f"mode=power,1,1,1,0,0,no_cal_date,{idn}"], []

    def _rr(self, parts: List[str]) -> Tuple[List[str], List[str]]:
        r = self.meter.ranges()
        return ["Ranges,%d,%f,%d,%f" % (r.current_auto, r.current_a, r.voltage_auto,
                                        r.voltage_v)], []

    def _sr(self, parts: List[str]) -> Tuple[List[str], List[str]]:
        if len(parts) != 3 or parts[1] not in ("V", "A"):
            return ["Invalid number of parameters"], []
        which, text = parts[1], parts[2].strip()
        table = self.meter.voltage_table if which == "V" else self.meter.current_table
        setter = self.meter.set_voltage_range if which == "V" else self.meter.set_current_range
        if text.lower() == "auto":
            setter(AUTO)
            label = "Volt range set to Auto" if which == "V" else "Ampere range set to Auto"
        else:
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not (value > 0) or value > table[-1] * (1 + 1e-12):
                return [f"Error: invalid range value {text!r}"], []  # text unverified
            chosen = round_up(value, table)
            setter(chosen)
            label = ("Volt range set to %fV" if which == "V" else "Amp range set to %fA") % chosen
        self._say(label)
        return [f"Range {which} changed"], []

    def _go(self, parts: List[str]) -> Tuple[List[str], List[str]]:
        if len(parts) not in (3, 4):
            return ["Invalid number of parameters"], []
        if self._measuring:
            return ["Error: measurement already running"], []  # text unverified
        try:
            interval_ms, rampup = int(parts[1]), int(parts[2])
        except ValueError:
            return ["Error: bad Go parameters"], []  # text unverified
        if not any(abs(interval_ms / 1000 - c) < 1e-9 for c in UPDATE_CHOICES_S):
            return [f"Error: sample interval {interval_ms}ms not supported by this simulator"], []
        self._mark = parts[3] if len(parts) == 4 and parts[3] else "notset"
        self.meter.set_update_interval(interval_ms / 1000)
        self._go_ns = self.meter.clock.now_ns()
        self._unread, self._stats = [], _Stats([], [])
        self._measuring = True
        self._say(f"Go with mark '{self._mark}'")
        return [f"Starting untimed measurement, maximum 500000 samples at {interval_ms}ms with "
                f"{rampup} rampup samples"], []

    def _stop(self, parts: List[str]) -> Tuple[List[str], List[str]]:
        if not self._measuring:
            return ["Error: no measurement to stop"], []
        self._measuring = False
        s = self._stats
        watts = s.watts or [0.0]
        summary = ("Avg watts %f, min watts %f, max watts %f, samples %d, errors %d, valid %d"
                   % (sum(watts) / len(watts), min(watts), max(watts), s.samples, s.errors,
                      len(s.watts)))
        return ["Stopping untimed measurement"], ["Completed test", summary]

    def _rl(self, parts: List[str]) -> Tuple[List[str], List[str]]:
        if len(parts) != 1:
            return ["Invalid number of parameters"], []
        rows, self._unread = self._unread, []
        return [f"Last {len(rows)} samples"] + [format_record(
            SplRecord(r.t_ns, r.watts, r.volts, r.amps, r.pf)) for r in rows], []

    def _summary(self, parts: List[str]) -> Tuple[List[str], List[str]]:
        # Shape 'Watts,<avg>,<min>,<max>,<samples>,<errors>,<valid>': unverified (analyzers.md §11).
        name = {"watts": "Watts", "volts": "Volts", "amps": "Amps", "pf": "PF"}[parts[0].lower()]
        s = self._stats
        values = s.watts if name == "Watts" else []
        if not values:
            return [f"{name},-1.000000,-1.000000,-1.000000,{s.samples},{s.errors},0"], []
        return ["%s,%f,%f,%f,%d,%d,%d" % (name, sum(values) / len(values), min(values),
                                          max(values), s.samples, s.errors, len(values))], []

    def _uncertainty(self, parts: List[str]) -> Tuple[List[str], List[str]]:
        # Shape 'Uncertainty,<avg %>,<max %>,<evaluated>,<unknown>': invented, unverified.
        s = self._stats
        u = s.uncertainties
        if not u:
            return [f"Uncertainty,-1.000000,-1.000000,0,{s.unknown_uncertainty}"], []
        return ["Uncertainty,%f,%f,%d,%d" % (100 * sum(u) / len(u), 100 * max(u), len(u),
                                             s.unknown_uncertainty)], []


def serve(meter: Meter, port: int = 8888, console: Optional[IO[str]] = None) -> PtdSimulator:
    """Start a PTDaemon simulator on 127.0.0.1:port over meter; close() it when done."""
    return PtdSimulator(meter, port=port, console=console).start()


def main(argv: Optional[List[str]] = None) -> int:
    """python -m power.simulators.ptdaemon [--port 8888] [--model WT310E] [--load 60] [--log F]."""
    import argparse
    import sys
    import time

    from power.simulators.meter import SystemClock
    from power.simulators.truth import Constant

    parser = argparse.ArgumentParser(description="PTDaemon simulator over a simulated meter")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--model", default="WT310E")
    parser.add_argument("--load", type=float, default=60.0, help="constant load (W)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", help="append PTDaemon's -l measurement rows to this file")
    args = parser.parse_args(argv)
    meter = Meter(args.model, Constant(power_w=args.load), SystemClock(), update_s=1.0,
                  seed=args.seed)
    rows = open(args.log, "a", encoding="ascii") if args.log else None
    try:
        with PtdSimulator(meter, port=args.port, console=sys.stdout, measurement_log=rows):
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        if rows is not None:
            rows.close()


__all__ = ["PtdSimulator", "main", "serve"]

if __name__ == "__main__":
    raise SystemExit(main())
