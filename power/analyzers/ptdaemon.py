"""SPEC PTDaemon TCP client behind the Analyzer interface; URL ``tcp://host:port`` (default port 8888).

Protocol facts: ../shared/reference/analyzers.md §11. One request line ending CR LF, one reply line
(``RL``: a ``Last N samples`` line then N rows). Strictly one outstanding command. The order is
MLPerf's: Hello, Identify, RR at connect; SR,V / SR,A; Go,<ms>,0,<mark>; Stop; RL,*,* (falling back
to RL on "Invalid number of parameters", DC-RL on "Unknown command"); the initial ranges are
restored at close. PTDaemon must run with TZ=UTC (as MLPerf runs it): its row stamps are taken as
UTC and as the end of each sample's interval (the Go interval).

Streaming (``stream`` option): "poll" (default) sends RL every ``poll_s`` while measuring and
delivers the unread rows PTDaemon returns (power-dev calls RL "show unread samples"); "at_stop"
reads every row once, right after Stop. Whether a real PTDaemon 1.11.1 answers RL during a
measurement is unverified: use "at_stop" if it does not.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import socket
import threading
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlparse

from power.analyzer import AUTO, Analyzer, AnalyzerConfig, Identity, RangeSetting, Ranges, SampleSink, register
from power.analyzers.ptd_protocol import (DEFAULT_PORT, HELLO_REPLY, LAST_N, WattsSummary, label_channels,
                                          parse_identify, parse_ranges, parse_summary)
from power.errors import AnalyzerIOError, AnalyzerProtocolError, CommandRejected, PowerError
from power.ranges import current_ranges, round_up, voltage_ranges
from power.sample import Sample
from power.spl import SplRecord, parse_line, sample_from_record
from power.uncertainty import PowerAccuracy, accuracy_for

log = logging.getLogger(__name__)


def _format_range(value: RangeSetting) -> str:
    if isinstance(value, str):
        if value.lower() != AUTO:
            raise PowerError(f"a range is a number or AUTO, not {value!r}")
        return "Auto"
    if not math.isfinite(value) or value <= 0:
        raise PowerError(f"a range must be a positive number, not {value!r}")
    return "%f" % value


class PtdAnalyzer(Analyzer):
    """A PTDaemon over TCP: connects, says Hello, identifies, remembers the initial ranges."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, timeout_s: float = 10.0,
                 mark: str = "notset", stream: str = "poll", poll_s: float = 1.0,
                 model: Optional[str] = None, restore_on_close: bool = True,
                 read_back: bool = True) -> None:
        if stream not in ("poll", "at_stop"):
            raise PowerError(f"stream must be 'poll' or 'at_stop', not {stream!r}")
        self.address = f"{host}:{port}"
        self.mark, self.stream, self.poll_s = mark, stream, poll_s
        self.restore_on_close, self.read_back = restore_on_close, read_back
        self.messages: List[Tuple[str, str]] = []
        self._timeout_s = timeout_s
        self._lock = threading.RLock()
        self._buffer = b""
        self._broken: Optional[str] = None
        self._interval_ms = 1000
        self._rl_command: Optional[str] = None
        self._measuring = False
        self._sink: Optional[SampleSink] = None
        self._poller: Optional[threading.Thread] = None
        self._stop_poll = threading.Event()
        self._poll_error: Optional[BaseException] = None
        try:
            self._sock: Optional[socket.socket] = socket.create_connection((host, port), timeout_s)
        except OSError as e:
            raise AnalyzerIOError(f"cannot connect to PTDaemon at {self.address}: {e}") from e
        try:
            hello = self.command("Hello")
            if hello != HELLO_REPLY:
                raise AnalyzerProtocolError(f"{self.address} is not PTDaemon (Hello -> {hello!r})")
            self.ptd_identity = parse_identify(self.command("Identify"))
            self.initial_ranges, self._init_v, self._init_a = parse_ranges(self.command("RR"))
        except PowerError:
            self._close_socket()
            raise
        self.ranges = self.initial_ranges
        self.model = model or self._model_from_identity()
        self.accuracy: Optional[PowerAccuracy] = None
        try:
            self.accuracy = accuracy_for(self.model)
        except PowerError:
            log.warning("no accuracy model for %s: samples carry no uncertainty", self.model)

    def _model_from_identity(self) -> str:
        parts = self.ptd_identity.idn.split(";")
        if len(parts) >= 2 and parts[1]:
            return parts[1]
        return self.ptd_identity.device.replace("Yokogawa", "")

    # ----- the wire -----

    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _fail(self, message: str, cause: Optional[BaseException] = None) -> AnalyzerIOError:
        self._broken = message
        self._close_socket()
        error = AnalyzerIOError(message)
        error.__cause__ = cause
        return error

    def _read_line(self, command: str) -> str:
        assert self._sock is not None
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout as e:
                raise self._fail(f"PTDaemon at {self.address} did not answer {command!r} "
                                 f"within {self._timeout_s:g} s", e) from e
            except OSError as e:
                raise self._fail(f"PTDaemon at {self.address} connection lost during {command!r}: "
                                 f"{e}", e) from e
            if not chunk:
                raise self._fail(f"PTDaemon at {self.address} closed the connection during "
                                 f"{command!r}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("ascii", errors="replace").rstrip("\r")

    def _send(self, command: str) -> None:
        if self._broken is not None:
            raise AnalyzerIOError(f"PTDaemon connection is down: {self._broken}")
        if self._sock is None:
            raise AnalyzerIOError(f"PTDaemon connection to {self.address} is closed")
        try:
            self._sock.sendall(command.encode("ascii") + b"\r\n")
        except OSError as e:
            raise self._fail(f"PTDaemon at {self.address}: cannot send {command!r}: {e}", e) from e

    def command(self, command: str) -> str:
        """Send one command and return its one-line reply (logged in self.messages)."""
        with self._lock:
            self._send(command)
            reply = self._read_line(command)
            self.messages.append((command, reply))
            log.debug("ptd %s -> %s", command, reply)
            return reply

    def _rows(self, command: str) -> Tuple[Optional[List[str]], str]:
        """Send an RL-style command: (rows, header), rows None if PTDaemon refused that form."""
        with self._lock:
            header = self.command(command)
            if "Invalid number of parameters" in header or "Unknown command" in header:
                return None, header
            match = LAST_N.match(header)
            if match is None:
                raise AnalyzerProtocolError(f"PTDaemon {command} reply not understood: {header!r}")
            return [self._read_line(command) for _ in range(int(match.group(1)))], header

    # ----- reads -----

    def read_rows(self) -> List[SplRecord]:
        """Read the unread rows: RL,*,*, falling back as power-dev does; the form that works is kept.

        "Invalid number of parameters" (single channel) -> RL; "Unknown command" (DC) -> DC-RL.
        """
        with self._lock:
            command = self._rl_command or "RL,*,*"
            rows, header = self._rows(command)
            if rows is None and self._rl_command is None:
                command = "DC-RL" if "Unknown command" in header else "RL"
                rows, header = self._rows(command)
            if rows is None:
                raise AnalyzerProtocolError(f"PTDaemon at {self.address} refused {command}: "
                                            f"{header!r}")
            self._rl_command = command
            return [parse_line(label_channels(r), f"PTDaemon {command}", n)
                    for n, r in enumerate(rows, start=1)]

    def read_samples(self) -> List[Sample]:
        """Read the unread rows as Samples stamped by PTDaemon, with the ranges in force."""
        ranges = self.ranges
        interval_ns = self._interval_ms * 1_000_000
        v_range = math.nan if ranges.voltage_auto else ranges.voltage_v
        a_range = math.nan if ranges.current_auto else ranges.current_a
        samples = []
        for row in self.read_rows():
            u = math.nan
            if self.accuracy is not None and row.power_available:
                u = self.accuracy.uncertainty_w(row.watts, v_range, a_range)
            sample = sample_from_record(row, interval_ns, v_range, a_range, u)
            samples.append(dataclasses.replace(sample, voltage_auto=ranges.voltage_auto,
                                               current_auto=ranges.current_auto))
        return samples

    def read_watts(self) -> WattsSummary:
        """The 'Watts' summary (avg/min/max/samples/errors) of the current or last measurement."""
        return parse_summary(self.command("Watts"), "Watts")

    def read_uncertainty(self) -> str:
        """The raw 'Uncertainty' reply (its format is unverified, so it is not parsed)."""
        return self.command("Uncertainty")

    # ----- Analyzer -----

    def identify(self) -> Identity:
        """The instrument behind PTDaemon, from the Identify reply's IDN field when present."""
        parts = self.ptd_identity.idn.split(";")
        if len(parts) >= 4:
            return Identity(parts[0], parts[1], parts[2], parts[3], self.ptd_identity.raw)
        return Identity("", self.ptd_identity.device, "", self.ptd_identity.version,
                        self.ptd_identity.raw)

    def get_ranges(self) -> Ranges:
        """Ask RR for the ranges in force."""
        self.ranges = parse_ranges(self.command("RR"))[0]
        return self.ranges

    def set_ranges(self, voltage_v: RangeSetting, current_a: RangeSetting) -> Ranges:
        """SR,V then SR,A (numbers as %f, or Auto); an 'Error' reply raises CommandRejected.

        With read_back (default) an RR follows; without it (MLPerf's exact command sequence) the
        ranges in force are worked out from the model's range table (NaN if it has none).
        """
        for which, value in (("V", voltage_v), ("A", current_a)):
            command = f"SR,{which},{_format_range(value)}"
            reply = self.command(command)
            if "Error" in reply:
                raise CommandRejected(f"PTDaemon refused {command!r}: {reply}")
            if reply != f"Range {which} changed":
                raise AnalyzerProtocolError(f"PTDaemon {command!r} reply not understood: {reply!r}")
        if self.read_back:
            return self.get_ranges()
        self.ranges = Ranges(self._in_force(voltage_v, "V"), self._in_force(current_a, "A"),
                             isinstance(voltage_v, str), isinstance(current_a, str))
        return self.ranges

    def _in_force(self, value: RangeSetting, which: str) -> float:
        if isinstance(value, str):
            return math.nan
        try:
            table = voltage_ranges(self.model) if which == "V" else current_ranges(self.model)
        except PowerError:
            return math.nan
        return round_up(float(value), table)

    def set_interval(self, interval_s: float) -> float:
        """Set the Go interval (whole ms) used by the next start."""
        interval_ms = int(round(interval_s * 1000))
        if interval_ms <= 0:
            raise PowerError(f"interval must be at least 1 ms, not {interval_s!r} s")
        self._interval_ms = interval_ms
        return interval_ms / 1000.0

    def start(self, sink: SampleSink) -> None:
        """Go,<interval_ms>,0,<mark>; then stream (poll RL) or wait for stop (at_stop)."""
        if self._measuring:
            raise PowerError("PTDaemon measurement already started")
        reply = self.command(f"Go,{self._interval_ms},0,{self.mark}")
        if not reply.startswith("Starting untimed measurement"):
            kind = CommandRejected if "Error" in reply else AnalyzerProtocolError
            raise kind(f"PTDaemon refused Go: {reply!r}")
        self._sink, self._measuring, self._poll_error = sink, True, None
        if self.stream == "poll":
            self._stop_poll.clear()
            self._poller = threading.Thread(target=self._poll, name="ptd-poll", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        while not self._stop_poll.wait(self.poll_s):
            try:
                self._deliver(self.read_samples())
            except Exception as e:  # noqa: BLE001 - thread boundary: kept and re-raised by stop()
                log.error("PTDaemon polling stopped: %s", e)
                self._poll_error = e
                return

    def _deliver(self, samples: List[Sample]) -> None:
        sink = self._sink
        if sink is not None:
            for sample in samples:
                sink(sample)

    def stop(self) -> None:
        """Stop, then read and deliver the remaining rows; re-raise a polling failure."""
        if not self._measuring:
            return
        self._measuring = False
        self._stop_poll.set()
        if self._poller is not None:
            self._poller.join()
            self._poller = None
        try:
            reply = self.command("Stop")
            if reply != "Stopping untimed measurement":
                log.warning("PTDaemon Stop -> %r", reply)
            self._deliver(self.read_samples())
        finally:
            self._sink = None
        if self._poll_error is not None:
            error, self._poll_error = self._poll_error, None
            if isinstance(error, PowerError):
                raise error
            raise PowerError(f"PTDaemon polling failed: {error}") from error

    def close(self) -> None:
        """Stop if measuring, restore the initial ranges (SR,V then SR,A), close the connection."""
        if self._sock is None:
            return
        first: Optional[PowerError] = None
        try:
            if self._measuring:
                try:
                    self.stop()
                except PowerError as e:
                    first = e
            if self.restore_on_close and self._broken is None:
                for which, text in (("V", self._init_v), ("A", self._init_a)):
                    reply = self.command(f"SR,{which},{text}")
                    if "Error" in reply and first is None:
                        first = CommandRejected(f"PTDaemon refused restoring SR,{which},{text}: "
                                                f"{reply}")
        finally:
            self._close_socket()
        if first is not None:
            raise first


def _parse_url(url: str) -> Tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme != "tcp" or not parsed.hostname:
        raise PowerError(f"PTDaemon URL must look like tcp://host:port, not {url!r}")
    return parsed.hostname, parsed.port or DEFAULT_PORT


@register("ptdaemon", "ptd")
def open_ptdaemon(config: AnalyzerConfig) -> PtdAnalyzer:
    """Open a PTDaemon from an AnalyzerConfig (url tcp://host:port; options as PtdAnalyzer's)."""
    host, port = _parse_url(config.url)
    options: Dict[str, object] = dict(config.options)
    return PtdAnalyzer(host, port, **options)  # type: ignore[arg-type]
