"""Yokogawa WT310/WT310E/WT310EH/WT332E/WT333E (WT300 command set) and WT210 (488.2 mode) driver.

Opened by URL (any pyserial URL, sim://, or /dev/usbtmcN). Streams one Sample per instrument update with
`:STAT:FILT1 FALL` + `:COMM:WAIT 1;:NUM:NORM:VAL?;:STAT:EESR?` (analyzers.md §5), stamped by
update_grid.UpdateGrid from the arrival of each reply's first byte. Survives garbage, timeouts and a port
that vanishes: resync (drain, "\\n*CLS", *IDN?), reconnect with backoff, and Status.GAP samples for what
was missed (never filled in).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import threading
import time
from typing import Any, Deque, Dict, Iterator, List, Optional, Tuple

from power.analyzer import AUTO, Analyzer, AnalyzerConfig, Identity, Ranges, RangeSetting, SampleSink, register
from power.analyzers.transport import Transport, TransportTimeout, open_transport
from power.analyzers.yokogawa_replies import WT210, WT300, error_entry, in_table as _in, parse_reading, parse_value
from power.errors import AnalyzerIOError, AnalyzerProtocolError, InstrumentError, PowerError
from power.ranges import current_ranges, round_up, voltage_ranges
from power.sample import Sample, Status
from power.uncertainty import accuracy_for

log = logging.getLogger(__name__)

MODELS = ("WT310", "WT310E", "WT310EH", "WT332", "WT332E", "WT333", "WT333E", "WT210")
ELEMENTS = {"WT332": 2, "WT332E": 2, "WT333": 3, "WT333E": 3}
INTERVALS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
_NAN = math.nan


@register(*MODELS)
class YokogawaWT(Analyzer):
    """One Yokogawa meter. Options: baudrate (9600), bytesize, parity, stopbits, element (1),
    interval_s, crest_factor, timeout_s (2), latency_ns (0), reconnect (True), backoff_max_s (5)."""

    def __init__(self, config: AnalyzerConfig) -> None:
        self.config = config
        self.model = config.model.upper()
        if self.model not in MODELS:
            raise PowerError(f"the Yokogawa driver does not know model {config.model!r}")
        opts: Dict[str, Any] = dict(config.options)
        self._opts = opts
        self._element = int(opts.get("element", 1))
        elements = ELEMENTS.get(self.model, 1)
        if not 1 <= self._element <= elements:
            span = "1" if elements == 1 else f"1 to {elements}"
            raise PowerError(f"{self.model} has no element {self._element} (expected element {span})")
        self._timeout_s = float(opts.get("timeout_s", 2.0))
        self._latency_ns = int(opts.get("latency_ns", 0))
        self._reconnect = bool(opts.get("reconnect", True))
        self._backoff_max_s = float(opts.get("backoff_max_s", 5.0))
        self._dialect = WT210 if self.model == "WT210" else WT300
        self._lock = threading.RLock()
        self._waiting_lock = threading.Lock()
        self._waiting = 0
        self._transport: Optional[Transport] = None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._wanted_ranges: Optional[Tuple[RangeSetting, RangeSetting]] = None
        self._wanted_interval_s: Optional[float] = opts.get("interval_s")
        self._ranges = Ranges(_NAN, _NAN, False, False)
        self._interval_ns = 0
        self._crest = "3"
        self._recheck_ranges = False
        self._needs_resync = False
        self._errors_pending = False
        self._rtts_ns: Deque[int] = collections.deque(maxlen=16)
        self.identity: Optional[Identity] = None
        self.last_error: Optional[PowerError] = None
        self.stats = {"samples": 0, "gaps": 0, "resyncs": 0, "reconnects": 0, "instrument_errors": 0}
        self._connect()

    # ----- exchanges -----

    @property
    def url(self) -> str:
        """Where the meter is."""
        return self.config.url

    def _t(self) -> Transport:
        if self._transport is None:
            raise AnalyzerIOError(f"{self.model} at {self.url} is not connected")
        return self._transport

    def _query(self, text: str, timeout_s: Optional[float] = None) -> str:
        with self._lock:
            t = self._t()
            message = text.encode("ascii") + b"\n"
            t.write(message)
            written_ns = time.time_ns()
            try:
                line, first_ns = t.read_line(timeout_s or self._timeout_s)
            except TransportTimeout as e:
                self._needs_resync = True
                raise AnalyzerIOError(f"{self.model} at {self.url} did not answer {text!r}: {e}") from e
            # Round trip of an immediate answer beyond the bytes' own wire time: the link's latency.
            self._rtts_ns.append(first_ns - written_ns - (len(message) + 1) * t.byte_ns)
            return line

    @property
    def link_latency_ns(self) -> int:
        """Smallest recent round trip of an immediate reply beyond wire time (ns; 0 before any query)."""
        return max(min(self._rtts_ns), 0) if self._rtts_ns else 0

    def _command(self, text: str) -> None:
        """Send a command and read the error queue after it (yoko-tool does this after every command)."""
        reply = self._query(text + "\n:STAT:ERR?")
        code, message = error_entry(reply)
        if code:
            raise InstrumentError(code, f"{message} (after {text!r})")

    def drain_errors(self) -> List[InstrumentError]:
        """Read the error queue until empty; log each entry as a warning."""
        errors = []
        for _ in range(16):
            code, message = error_entry(self._query(":STAT:ERR?"))
            if not code:
                break
            errors.append(InstrumentError(code, message))
            self.stats["instrument_errors"] += 1
            log.warning("%s at %s reports error %d: %s", self.model, self.url, code, message)
        if errors:
            self.last_error = errors[-1]
        return errors

    # ----- connection -----

    def _connect(self) -> None:
        self._transport = open_transport(self.url, self._opts)
        try:
            self._resync(verify=False)
            self._identify()
            self._configure()
        except PowerError:
            self._transport.close()
            self._transport = None
            raise

    def _resync(self, verify: bool = True) -> None:
        """Drain stale bytes, "\\n*CLS" (the LF makes *CLS clear the output queue too), and check *IDN?."""
        t = self._t()
        quiet_s = max(0.03, 12 * t.byte_ns / 1e9)
        t.drain(quiet_s, 2.0)
        t.write(b"\n*CLS\n")
        t.drain(quiet_s, 1.0)
        self._needs_resync = False
        if verify:
            self.stats["resyncs"] += 1
            expected = self.identity.raw if self.identity is not None else None
            with self._lock:
                t.write(b"*IDN?\n")
                for _ in range(4):  # skip stale lines (a late reply) still on their way
                    try:
                        raw = t.read_line(self._timeout_s)[0]
                    except TransportTimeout as e:
                        raise AnalyzerIOError(f"{self.model} at {self.url} did not answer *IDN? "
                                              f"while resynchronising: {e}") from e
                    if expected is None or raw == expected:
                        return
                    log.debug("resync skipped a stale line %r", raw[:60])
            raise AnalyzerProtocolError(f"after resync {self.url} answered *IDN? with {raw[:60]!r}, "
                                        f"not {expected!r}")

    def _identify(self) -> Identity:
        try:
            raw = self._query("*IDN?")
        except AnalyzerIOError as e:
            hint = " (a WT210 must be in its 488.2 mode)" if self.model == "WT210" else ""
            raise AnalyzerIOError(f"{self.model} at {self.url} did not answer *IDN? within {self._timeout_s:g} s: "
                                  f"check the cable, port and baud rate{hint}") from e
        fields = [f.strip() for f in raw.split(",")]
        name = fields[1].upper() if len(fields) >= 4 else ""
        if name.startswith(("WT31", "WT33")):
            family = "WT300"
        elif "WT21" in name or name.startswith("7604") or (self.model == "WT210" and self._probe_wt210()):
            family = "WT210"  # a WT210's *IDN? may not say WT210: yoko-tool probes :CONF:LFILT?
        else:
            raise AnalyzerProtocolError(f"unexpected *IDN? reply from {self.url}: {raw[:80]!r} "
                                        f"(expected YOKOGAWA,{self.model},...)")
        if family != self._dialect.family:
            raise AnalyzerProtocolError(f"{self.url} is a {name or raw[:40]!r}, not a {self.model}")
        if family == "WT300" and name != self.model:
            log.warning("configured as %s but %s answers as %s; using %s range tables", self.model,
                        self.url, name, name)
            if name in MODELS:
                self.model = name
        self.identity = Identity(fields[0], fields[1], fields[2], ",".join(fields[3:]), raw)
        return self.identity

    def _probe_wt210(self) -> bool:
        try:
            return self._query(":CONF:LFILT?", 1.0).strip() in ("0", "1")
        except AnalyzerIOError:
            return False

    def _configure(self) -> None:
        d = self._dialect
        for text in d.setup:
            self._command(text.format(e=self._element))
        crest = self._opts.get("crest_factor")
        if crest is not None:
            self._command(f"{d.cfac} {crest}")
        self._crest = self._query(f"{d.cfac}?").strip().upper()
        if self._wanted_interval_s is not None:
            self._apply_interval(float(self._wanted_interval_s))
        self._interval_ns = round(float(self._query(f"{d.rates[0]}?")) * 1e9)
        if self._wanted_ranges is not None:
            self._apply_ranges(*self._wanted_ranges)
        self._ranges = self.get_ranges()

    # ----- Analyzer interface -----

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The port lock for a caller: the stream loop steps aside (waits) while a caller is waiting."""
        with self._waiting_lock:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    def identify(self) -> Identity:
        """The identity read at connection (*IDN? again to check the meter is there)."""
        with self._exclusive():
            return self._identify()

    def get_ranges(self) -> Ranges:
        """Read the ranges in force: `:INP:CURR:RANG?;AUTO?;:INP:VOLT:RANG?;AUTO?`."""
        d = self._dialect
        with self._exclusive():
            reply = self._query(f"{d.curr}:RANG?;AUTO?;{d.volt}:RANG?;AUTO?")
        parts = reply.split(";")
        try:
            current_a, current_auto, voltage_v, voltage_auto = parts
            ranges = Ranges(float(voltage_v), float(current_a), voltage_auto.strip() == "1",
                            current_auto.strip() == "1")
        except ValueError:
            raise AnalyzerProtocolError(f"{self.url} answered the range query with {reply[:60]!r}") from None
        self._ranges = ranges
        return ranges

    def set_ranges(self, voltage_v: RangeSetting, current_a: RangeSetting) -> Ranges:
        """Fixed ranges rounded up to the table (voltage V, current A) or AUTO; returns what is in force."""
        with self._exclusive():
            self._apply_ranges(voltage_v, current_a)
            self._wanted_ranges = (voltage_v, current_a)
            return self.get_ranges()

    def _apply_ranges(self, voltage_v: RangeSetting, current_a: RangeSetting) -> None:
        d = self._dialect
        units = []
        for value, table, node, unit in (
            (voltage_v, voltage_ranges(self.model, self._crest), d.volt, "V"),
            (current_a, current_ranges(self.model, self._crest), d.curr, "A"),
        ):
            if isinstance(value, str) and value.lower() == AUTO:
                units.append(f"{node}:AUTO ON")
                continue
            try:
                wanted = float(value)
            except (TypeError, ValueError):
                raise PowerError(f"range must be a number of {unit} or 'auto', not {value!r}") from None
            if not math.isfinite(wanted) or wanted <= 0:
                raise PowerError(f"range must be a positive number of {unit} or 'auto', not {value!r}")
            if wanted > table[-1]:
                log.warning("%g %s is above the %s's largest range; using %g %s", wanted, unit, self.model,
                            table[-1], unit)
            units.append(f"{node}:AUTO OFF;{node}:RANG {round_up(wanted, table):g}")
        self._command(";".join(units))

    def set_interval(self, interval_s: float) -> float:
        """Set the update interval, rounded up to 0.1, 0.25, 0.5, 1, 2 or 5 s; returns the one in force."""
        with self._exclusive():
            self._apply_interval(interval_s)
            self._wanted_interval_s = interval_s
            self._interval_ns = round(float(self._query(f"{self._dialect.rates[0]}?")) * 1e9)
            return self._interval_ns / 1e9

    def _apply_interval(self, interval_s: float) -> None:
        try:
            wanted = float(interval_s)
        except (TypeError, ValueError):
            raise PowerError(f"update interval must be seconds, not {interval_s!r}") from None
        if not math.isfinite(wanted) or wanted <= 0:
            raise PowerError(f"update interval must be positive seconds, not {interval_s!r}")
        choice = round_up(wanted, INTERVALS_S)
        rates = self._dialect.rates
        for k, node in enumerate(rates):
            try:
                self._command(f"{node} {choice:g}S")
                break
            except InstrumentError as e:
                # Both :RATE and :SAMP:RATE are seen against real WT300s (analyzers.md §4): try the other.
                if e.code != 113 or k == len(rates) - 1:
                    raise
        exchange_ns = (len(self._dialect.read) + 90) * self._t().byte_ns
        if exchange_ns > choice * 1e9:
            log.warning("at this baud rate one exchange takes ~%.0f ms, longer than the %g s update "
                        "interval: some updates will be skipped and recorded as gaps", exchange_ns / 1e6, choice)

    @property
    def interval_s(self) -> float:
        """The update interval in force (s)."""
        return self._interval_ns / 1e9

    def start(self, sink: SampleSink) -> None:
        """Stream Samples to sink from the driver's own thread."""
        if self._thread is not None and self._thread.is_alive():
            raise PowerError(f"{self.model} at {self.url} is already streaming")
        self._t()
        self._stop.clear()
        from power.analyzers.yokogawa_stream import stream

        self._thread = threading.Thread(target=stream, args=(self, sink), name=f"{self.model}-stream", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop streaming; returns once the thread has ended."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            if self._transport is not None:
                self._transport.cancel()
            thread.join(self._stream_timeout_s() + 5)
            if thread.is_alive():
                log.warning("%s stream thread did not stop in time", self.model)
            self._thread = None
            self._needs_resync = True  # a reply to the last wait may still be on its way

    def close(self) -> None:
        """Stop streaming and release the port."""
        self.stop()
        with self._exclusive():
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    # ----- used by the stream loop (yokogawa_stream.py) -----

    def _stream_timeout_s(self) -> float:
        byte_ns = self._transport.byte_ns if self._transport is not None else 0
        return max(2 * self._interval_ns / 1e9, 0.2) + (len(self._dialect.read) + 120) * byte_ns / 1e9

    def _make_sample(self, line: str, stamp_ns: int) -> Sample:
        """Parse one streaming reply into a Sample ending at stamp_ns."""
        r = parse_reading(self._dialect, line)
        if not (_in(r.range_v, voltage_ranges(self.model, self._crest))
                and _in(r.range_a, current_ranges(self.model, self._crest))):
            raise AnalyzerProtocolError(f"reply names ranges the {self.model} does not have: {line[:80]!r}")
        known = self._ranges
        if (not known.voltage_auto and r.range_v != known.voltage_v) or (
            not known.current_auto and r.range_a != known.current_a
        ):
            self._recheck_ranges = True  # e.g. the WT310E's mA-range protection switched to 1 A and auto
        unc = accuracy_for(self.model).uncertainty_w(r.power_w, r.range_v, r.range_a) if r.status is Status.OK else _NAN
        if r.status_byte & 4:  # EAV: the error queue has something
            self._errors_pending = True
        return Sample(stamp_ns, self._interval_ns, r.power_w, r.voltage_v, r.current_a, r.power_factor,
                      r.range_v, r.range_a, r.status, unc, known.voltage_auto, known.current_auto)


__all__ = ["YokogawaWT", "parse_value", "MODELS", "WT300", "WT210"]
