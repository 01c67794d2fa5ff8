"""ProcessAnalyzer: any analyzer's driver run in its own process (power.sampler), behind the Analyzer interface.

The driver reads the instrument against deadlines (a Yokogawa reply not read whole within 0.2 s is
given up, and the missed updates become gaps). Under one GIL with many sessions, paramiko and GC
pauses it misses them; in a child process it does not. Samples are stamped in the child (same host
clock); a parent that reads late only delays them, as the child queues and the pipe buffers.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Type

import power
import power.errors
from power.analyzer import Analyzer, AnalyzerConfig, Identity, RangeSetting, Ranges, SampleSink
from power.analyzers import transport
from power.errors import AnalyzerIOError, InstrumentError, PowerError
from power.sample import Sample, Status

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 60.0  # opening may include a simulator start and the driver's own retries
REQUEST_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 10.0


def _error_class(kind: str) -> Type[PowerError]:
    for module in (power.errors, transport):
        cls = getattr(module, kind, None)
        if isinstance(cls, type) and issubclass(cls, PowerError):
            return cls
    from power.simulators import bound

    cls = getattr(bound, kind, None)
    return cls if isinstance(cls, type) and issubclass(cls, PowerError) else PowerError


def error_from_json(data: Dict[str, Any]) -> PowerError:
    """The PowerError subclass the child reported, with the same message."""
    cls = _error_class(str(data.get("kind", "PowerError")))
    if issubclass(cls, InstrumentError):
        return cls(int(data.get("code", 0)), str(data.get("text", data.get("message", ""))))
    return cls(str(data.get("message", "")))


def sample_from_json(data: Dict[str, Any]) -> Sample:
    """A Sample from the child's JSON (power.sampler.sample_json)."""
    return Sample(int(data["t_end_ns"]), int(data["interval_ns"]), float(data["power_w"]), float(data["voltage_v"]),
                  float(data["current_a"]), float(data["power_factor"]), float(data["voltage_range_v"]),
                  float(data["current_range_a"]), Status(data["status"]), float(data["uncertainty_w"]),
                  bool(data["voltage_auto"]), bool(data["current_auto"]))


def _identity(data: Optional[Dict[str, Any]]) -> Optional[Identity]:
    return None if data is None else Identity(data["vendor"], data["model"], data["serial"], data["firmware"],
                                               data.get("raw", ""))


def _ranges(data: Dict[str, Any]) -> Ranges:
    return Ranges(float(data["voltage_v"]), float(data["current_a"]), bool(data["voltage_auto"]),
                  bool(data["current_auto"]))


class _Call:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: Dict[str, Any] = {}


class ProcessAnalyzer(Analyzer):
    """The driver for config, run in a `python -m power.sampler` child; `sim:` URLs start their simulator there."""

    def __init__(self, config: AnalyzerConfig, open_timeout_s: float = OPEN_TIMEOUT_S) -> None:
        self.config = config
        self.model = config.model
        self.identity: Optional[Identity] = None
        self.opened_config = config
        self.last_error: Optional[PowerError] = None
        self._interval_s: Optional[float] = None
        self._ids = itertools.count(1)
        self._calls: Dict[int, _Call] = {0: _Call()}
        self._calls_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._sink: Optional[SampleSink] = None
        self._exit_reason: Optional[str] = None
        self._closed = False
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(power.__file__)))
        env = dict(os.environ)
        # The child runs the very code this process imported (a worktree beside an editable install).
        env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        payload = json.dumps({"model": config.model, "url": config.url, "options": dict(config.options)})
        try:
            # A session of its own is also a scheduling group of its own where the kernel groups by session
            # (autogroup): the child's CPU share is then not split with the director and every other sampler.
            self._proc = subprocess.Popen([sys.executable, "-m", "power.sampler", payload], stdin=subprocess.PIPE,  # noqa: S603 - argv list, no shell; the config goes as one JSON argument
                                          stdout=subprocess.PIPE, env=env, start_new_session=True)
        except OSError as e:
            raise AnalyzerIOError(f"cannot start the sampler process for {config.model} at {config.url}: {e}") from e
        self.pid = self._proc.pid
        self._reader = threading.Thread(target=self._read, name=f"sampler-{config.model}-{self.pid}", daemon=True)
        self._reader.start()
        try:
            self._apply_info(self._wait(0, "open", open_timeout_s))
        except PowerError:
            self._end_child()
            raise

    # ----- the pipe -----

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                log.error("sampler %d wrote a line that is not JSON: %r", self.pid, raw[:80])
                continue
            if "sample" in message:
                self._deliver(message["sample"])
            elif "log" in message:
                entry = message["log"]
                logging.getLogger(str(entry.get("name", __name__))).log(
                    int(entry.get("level", logging.INFO)), "%s", entry.get("message", ""))
            else:
                with self._calls_lock:
                    call = self._calls.get(message.get("id"))
                if call is not None:
                    call.reply = message
                    call.done.set()
        code = self._proc.wait()
        self._exit_reason = f"the sampler process for {self.model} at {self.config.url} exited (code {code})"
        if not self._closed:
            self.last_error = AnalyzerIOError(self._exit_reason)
            log.error("%s", self._exit_reason)
        with self._calls_lock:
            for call in self._calls.values():
                call.done.set()

    def _deliver(self, data: Dict[str, Any]) -> None:
        sink = self._sink
        if sink is None:
            return
        try:
            sample = sample_from_json(data)
            sink(sample)
        except Exception:  # noqa: BLE001 - a failing sink must not stop the reader; report it loudly
            log.exception("analyzer sample sink raised; sample at %s dropped", data.get("t_end_ns"))

    def _request(self, op: str, timeout_s: float = REQUEST_TIMEOUT_S, **fields: Any) -> Any:
        request_id = next(self._ids)
        with self._calls_lock:
            self._calls[request_id] = _Call()
        line = json.dumps(dict(fields, id=request_id, op=op)) + "\n"
        try:
            with self._write_lock:
                if self._exit_reason is not None or self._proc.stdin is None or self._proc.stdin.closed:
                    raise AnalyzerIOError(self._exit_reason or f"{self.model} at {self.config.url} is closed")
                try:
                    self._proc.stdin.write(line.encode("utf-8"))
                    self._proc.stdin.flush()
                except (BrokenPipeError, OSError, ValueError) as e:
                    raise AnalyzerIOError(f"the sampler process for {self.model} at {self.config.url} is gone: "
                                          f"{e}") from e
            return self._wait(request_id, op, timeout_s)
        finally:
            with self._calls_lock:
                self._calls.pop(request_id, None)

    def _wait(self, request_id: int, op: str, timeout_s: float) -> Any:
        with self._calls_lock:
            call = self._calls[request_id]
        deadline = time.monotonic() + timeout_s
        while not call.done.wait(min(0.5, max(deadline - time.monotonic(), 0))):
            if self._exit_reason is not None:
                raise AnalyzerIOError(f"{self._exit_reason} during {op}")
            if time.monotonic() < deadline:
                continue
            raise AnalyzerIOError(f"the sampler process for {self.model} at {self.config.url} did not answer "
                                  f"{op} within {timeout_s:g} s")
        reply = call.reply
        if "ok" in reply:
            return reply["ok"]
        if "error" in reply:
            raise error_from_json(reply["error"])
        raise AnalyzerIOError(self._exit_reason or f"the sampler process for {self.model} ended during {op}")

    def _apply_info(self, info: Dict[str, Any]) -> None:
        self.identity = _identity(info.get("identity")) or self.identity
        self.model = str(info.get("model") or self.model)
        self._interval_s = info.get("interval_s")
        self._link_latency_ns = info.get("link_latency_ns")
        self._stats: Dict[str, int] = dict(info.get("stats") or {})
        error = info.get("last_error")
        if error is not None:
            self.last_error = error_from_json(error)
        opened = info.get("config") or {}
        if opened:
            self.opened_config = AnalyzerConfig(str(opened["model"]), str(opened["url"]), dict(opened.get("options") or {}))

    # ----- what the driver exposes besides the interface -----

    @property
    def url(self) -> str:
        """Where the instrument is (for a `sim:` URL, the simulator's pty in the child)."""
        return self.opened_config.url

    def refresh(self) -> Dict[str, Any]:
        """Ask the child for the driver's stats, last error, interval and identity; return them."""
        info = self._request("stats")
        self._apply_info(info)
        return info

    @property
    def stats(self) -> Dict[str, int]:
        """The driver's counters (samples, gaps, resyncs, reconnects, instrument_errors), asked of the child."""
        if self._exit_reason is None:
            self.refresh()
        return dict(self._stats)

    @property
    def interval_s(self) -> float:
        """The update interval in force (s), as of the last reply from the child."""
        return float(self._interval_s) if self._interval_s is not None else math.nan

    @property
    def link_latency_ns(self) -> int:
        """The driver's link latency (ns) as of the last reply from the child (0 when it has none)."""
        return int(self._link_latency_ns or 0)

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._proc.poll() is None

    # ----- Analyzer interface -----

    def identify(self) -> Identity:
        """Ask the instrument who it is (through the child)."""
        identity = _identity(self._request("identify"))
        if identity is None:
            raise PowerError(f"{self.model} at {self.url} gave no identity")
        self.identity = identity
        return identity

    def get_ranges(self) -> Ranges:
        """Read the ranges in force (through the child)."""
        return _ranges(self._request("get_ranges"))

    def set_ranges(self, voltage_v: RangeSetting, current_a: RangeSetting) -> Ranges:
        """Set fixed ranges or AUTO (through the child); return what is in force."""
        return _ranges(self._request("set_ranges", voltage_v=voltage_v, current_a=current_a))

    def set_interval(self, interval_s: float) -> float:
        """Set the update interval (s) (through the child); return the one in force."""
        self._interval_s = float(self._request("set_interval", interval_s=interval_s))
        return self._interval_s

    def start(self, sink: SampleSink) -> None:
        """Stream: sink receives each Sample from this proxy's reader thread, in the child's order."""
        self._sink = sink
        try:
            self._request("stream")
        except PowerError:
            self._sink = None
            raise

    def stop(self) -> None:
        """Stop streaming; when it returns, every sample the driver delivered has gone to the sink."""
        if self._sink is None:
            return
        try:
            if self._exit_reason is None:
                self._request("stop")
        finally:
            self._sink = None

    def close(self) -> None:
        """Stop streaming, close the driver in the child, and end the child (killed if it does not exit)."""
        if self._closed:
            return
        errors: List[PowerError] = []
        try:
            self.stop()
        except PowerError as e:
            errors.append(e)
        if self._exit_reason is None:
            try:
                self._request("close", timeout_s=CLOSE_TIMEOUT_S)
            except PowerError as e:
                errors.append(e)
        self._closed = True
        self._end_child()
        if errors:
            raise errors[0]

    def _end_child(self) -> None:
        self._closed = True
        with self._write_lock:
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("the sampler process %d did not exit; killing it", self.pid)
            self._proc.kill()
            self._proc.wait(5)
        self._reader.join(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
