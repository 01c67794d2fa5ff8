"""The sampler child: one analyzer's driver in its own process, spoken to in JSON lines on stdin/stdout.

Run as ``python -m power.sampler '<AnalyzerConfig as JSON>'`` (power.analyzers.subprocess_analyzer does).
A director holds many sessions under one GIL; a driver thread there can be held off long enough to
miss an instrument update. Here nothing else competes with it. The first line out is the reply to
opening (id 0); then each request {"id", "op", ...} gets {"id", "ok": ...} or {"id", "error": {"kind",
"message"}}, each Sample is one {"sample": {...}} line as soon as the driver delivers it, and each log
record one {"log": {...}} line. Output goes through a queue and a writer thread, so a parent that reads
late only delays delivery: the driver never waits on the pipe. Exits when stdin closes.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from power.analyzer import Analyzer, AnalyzerConfig, Identity, Ranges, open_analyzer
from power.errors import InstrumentError, PowerError
from power.sample import Sample
from power.simulators.bound import is_sim_url, start_simulator

log = logging.getLogger(__name__)

SAMPLE_FIELDS = ("t_end_ns", "interval_ns", "power_w", "voltage_v", "current_a", "power_factor", "voltage_range_v",
                 "current_range_a", "status", "uncertainty_w", "voltage_auto", "current_auto")
_PARENT_CHECK_S = 1.0


def sample_json(sample: Sample) -> Dict[str, Any]:
    """Every field of a Sample as JSON values (status by its value; NaN stays NaN)."""
    data = {name: getattr(sample, name) for name in SAMPLE_FIELDS}
    data["status"] = sample.status.value
    return data


def error_json(error: BaseException) -> Dict[str, Any]:
    """A PowerError as {"kind", "message"} (plus code and text for an InstrumentError); anything else as a PowerError."""
    if not isinstance(error, PowerError):
        return {"kind": "PowerError", "message": f"sampler internal error: {error!r}"}
    data: Dict[str, Any] = {"kind": type(error).__name__, "message": str(error)}
    if isinstance(error, InstrumentError):
        data.update(code=error.code, text=error.text)
    return data


def identity_json(identity: Optional[Identity]) -> Optional[Dict[str, str]]:
    """An Identity as JSON (None stays None)."""
    if identity is None:
        return None
    return {"vendor": identity.vendor, "model": identity.model, "serial": identity.serial,
            "firmware": identity.firmware, "raw": identity.raw}


def ranges_json(ranges: Ranges) -> Dict[str, Any]:
    """Ranges as JSON."""
    return {"voltage_v": ranges.voltage_v, "current_a": ranges.current_a, "voltage_auto": ranges.voltage_auto,
            "current_auto": ranges.current_auto}


class _Out:
    """Everything the child writes, in order, from one writer thread (the driver's sink only enqueues)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._queue: "queue.SimpleQueue[Optional[Any]]" = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sampler-out", daemon=True)
        self._thread.start()

    def put(self, item: Any) -> None:
        """Queue a message (a dict) or a Sample."""
        self._queue.put(item)

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        self._queue.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while True:  # whatever piled up goes out in one write
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = items[-1] is None
            lines = [json.dumps({"sample": sample_json(i)} if isinstance(i, Sample) else i) + "\n"
                     for i in items if i is not None]
            try:
                self._stream.write("".join(lines).encode("utf-8"))
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                os._exit(0)  # the parent is gone: nobody to measure for
            if done:
                return


class _LogToParent(logging.Handler):
    """Sends log records to the parent, which logs them under the same logger name."""

    def __init__(self, out: _Out) -> None:
        super().__init__(logging.DEBUG)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.out.put({"log": {"name": record.name, "level": record.levelno, "message": record.getMessage()}})
        except Exception:  # noqa: BLE001 - logging must never break sampling
            self.handleError(record)


class Sampler:
    """Opens one analyzer (starting a `sim:` simulator first) and answers the parent's requests."""

    def __init__(self, config: AnalyzerConfig, out: _Out) -> None:
        self.out = out
        self.server: Any = None
        self.config = config
        if is_sim_url(config.url):
            self.server, self.config = start_simulator(config)
        try:
            self.analyzer: Analyzer = open_analyzer(self.config)
        except BaseException:
            self.stop_simulator()
            raise
        self.ops: Dict[str, Callable[[Dict[str, Any]], Any]] = {
            "identify": lambda r: identity_json(self.analyzer.identify()),
            "get_ranges": lambda r: ranges_json(self.analyzer.get_ranges()),
            "set_ranges": lambda r: ranges_json(self.analyzer.set_ranges(r["voltage_v"], r["current_a"])),
            "set_interval": lambda r: self.analyzer.set_interval(r["interval_s"]),
            "stream": lambda r: self.analyzer.start(self.out.put),
            "stop": lambda r: self.analyzer.stop(),
            "stats": lambda r: self.info(),
            "close": lambda r: self.close(),
        }

    def info(self) -> Dict[str, Any]:
        """What the driver exposes besides the interface: stats, last error, interval, identity, the opened config."""
        a: Any = self.analyzer
        last_error = getattr(a, "last_error", None)
        return {
            "stats": dict(getattr(a, "stats", {}) or {}),
            "last_error": error_json(last_error) if last_error is not None else None,
            "interval_s": getattr(a, "interval_s", None),
            "link_latency_ns": getattr(a, "link_latency_ns", None),
            "identity": identity_json(getattr(a, "identity", None)),
            "model": getattr(a, "model", self.config.model),
            "config": {"model": self.config.model, "url": self.config.url, "options": dict(self.config.options)},
            "pid": os.getpid(),
        }

    def handle(self, request: Dict[str, Any]) -> Tuple[bool, Any]:
        """Run one request: (ok, the result or the error as JSON)."""
        op = self.ops.get(str(request.get("op")))
        if op is None:
            return False, {"kind": "PowerError", "message": f"sampler: unknown op {request.get('op')!r}"}
        try:
            return True, op(request)
        except Exception as e:  # noqa: BLE001 - every failure goes back to the parent as one line
            return False, error_json(e)

    def close(self) -> None:
        """Stop streaming, release the port, stop the simulator."""
        try:
            self.analyzer.close()
        finally:
            self.stop_simulator()

    def stop_simulator(self) -> None:
        """Stop the simulator this child started, if any."""
        if self.server is not None:
            self.server.stop()
            self.server = None


def _watch_parent(parent_pid: int) -> None:
    # Stdin closing is the signal; this covers a parent whose pipe was inherited by someone else.
    while True:
        time.sleep(_PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            os._exit(0)


def main(argv: Optional[list] = None) -> int:
    """Open the analyzer given as JSON in argv[1], then serve requests until stdin closes."""
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the director's to handle; it closes us
    out = _Out(sys.stdout.buffer)
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    root = logging.getLogger()
    root.handlers[:] = [_LogToParent(out)]
    root.setLevel(int(os.environ.get("EDGEPOWER_SAMPLER_LOG_LEVEL", logging.INFO)))
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="sampler-parent", daemon=True).start()
    try:
        raw = json.loads(argv[0])
        config = AnalyzerConfig(model=str(raw["model"]), url=str(raw["url"]), options=dict(raw.get("options") or {}))
        sampler = Sampler(config, out)
    except Exception as e:  # noqa: BLE001 - reported to the parent as the reply to opening
        out.put({"id": 0, "error": error_json(e) if isinstance(e, PowerError) else
                 {"kind": "PowerError", "message": f"sampler: bad start: {e!r}"}})
        out.close()
        return 1
    out.put({"id": 0, "ok": sampler.info()})
    try:
        for line in sys.stdin.buffer:
            try:
                request = json.loads(line)
            except ValueError:
                log.error("sampler: not a JSON request: %r", line[:80])
                continue
            ok, result = sampler.handle(request)
            out.put({"id": request.get("id"), "ok" if ok else "error": result})
            if request.get("op") == "close":
                break
    finally:
        try:
            sampler.close()
        except Exception as e:  # noqa: BLE001 - closing twice or on a broken port: say so, exit anyway
            log.warning("sampler: closing: %s", e)
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
